"""The full chain in the real server: forecast -> products -> bulletin -> published, and the
bulletin's files served (HTML, PDF, PNG maps, SMS in French in the locations), and its skill
statement at /api/skill."""

from __future__ import annotations

import json

import pytest
from serve_helpers import ISSUE_DATE, base_overrides, start_server

from sowcast.cli.main import COMMANDS


@pytest.mark.slow
@pytest.mark.skipif("bulletin" not in COMMANDS, reason="'sowcast bulletin' is not registered in cli/main.py yet")
def test_full_chain_publishes_the_bulletin(chain, tmp_path):
    root = tmp_path / "root"
    srv = start_server(tmp_path / "serve.log", base_overrides(root, chain, chain="[forecast,products,bulletin]"))
    try:
        status, _h, body = srv.request("POST", "/api/runs", {"init_time": ISSUE_DATE})
        assert status == 202
        job = srv.wait_job(json.loads(body)["id"], timeout=400)
        assert job["status"] == "succeeded", job
        b = srv.get_json("/api/bulletins/latest")
        assert b["issue_date"] == ISSUE_DATE and b["languages"] == ["en", "fr"]
        assert {"html_en", "pdf_en", "html_fr", "pdf_fr", "sms_csv", "bulletin_json"} <= set(b["files"])
        checks = {"html_fr": ("text/html", b"<"), "pdf_en": ("application/pdf", b"%PDF"),
                  "sms_csv": ("text/csv", b"location,language,message")}
        for key, (ctype, start) in checks.items():
            status, headers, data = srv.request("GET", b["files"][key])
            assert status == 200 and headers["content-type"].startswith(ctype) and data.lstrip().startswith(start)
        assert b["maps"]
        for url in b["maps"]:
            status, headers, data = srv.request("GET", url)
            assert status == 200 and headers["content-type"] == "image/png" and data.startswith(b"\x89PNG")
        locations = srv.get_json("/api/locations")["locations"]
        assert len(locations) == 11 and all(loc["advice_text"].get("fr") for loc in locations)
        # the bundle came with no held-out scorecard: the service says the skill is unknown, in the
        # bulletin's own words, and gives no score
        skill = srv.get_json("/api/skill")
        assert skill["issue_date"] == ISSUE_DATE and skill["assessed"] is False and "rain_terciles" not in skill
        assert skill["statement"]["en"] == ["The skill of these forecasts has not yet been assessed against "
                                            "observations: use them with care."]
        assert skill["statement"]["fr"] and skill["statement"]["fr"] != skill["statement"]["en"]
    finally:
        assert srv.stop() == 0
