"""The API of the real server (a subprocess on 127.0.0.1) over a root where the tiny chain's
products (and a small bulletin folder) are published: every endpoint, the OpenAPI document,
and the refusals, each with its 4xx and never a 500."""

from __future__ import annotations

import csv
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from serve_helpers import base_overrides, start_server

from sowcast.bundle.reader import load_bundle
from sowcast.serve.api import ROUTES
from sowcast.serve.openapi import document
from sowcast.serve.publish import publish
from sowcast.serve.security import SECURITY_HEADERS

JOB = "000007"
TOKEN = "test-token-0123456789abcdef"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def make_bulletin(folder: Path, issue_date: str) -> None:
    """A small bulletin folder in the layout of 'sowcast bulletin' (see cli/bulletin_command.py)."""
    (folder / "maps").mkdir(parents=True)
    for lang in ("en", "fr"):
        (folder / f"bulletin_{lang}.html").write_text(f"<html><body>{lang}</body></html>")
        (folder / f"bulletin_{lang}.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
        (folder / "maps" / f"onset_week2_{lang}.png").write_bytes(PNG)
    with open(folder / "sms.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["location", "language", "message", "characters", "encoding"])
        w.writerow(["Tamale", "en", "Tamale 27/04: plant now. -NMA", 29, "GSM-7"])
        w.writerow(["Tamale", "fr", "Tamale 27/04: semez maintenant. -NMA", 36, "GSM-7"])
    (folder / "bulletin.json").write_text(json.dumps({"issue_date": issue_date, "languages": ["en", "fr"]}))


def prepare_root(root: Path, chain: dict, job_id: str = JOB) -> None:
    run = root / "runs" / job_id
    shutil.copytree(chain["products"], run / "products")
    make_bulletin(run / "bulletin", "2001-04-27")
    (root / "published").mkdir(parents=True, exist_ok=True)
    publish(root, job_id, run, keep=5)


@pytest.fixture(scope="module")
def server(chain, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    prepare_root(tmp / "root", chain)
    inbox = tmp / "inbox"
    inbox.mkdir()
    (inbox / "notes.txt").write_text("not initial conditions")
    (tmp / "outside.nc").write_bytes(b"x")
    os.symlink(tmp / "outside.nc", inbox / "escape.nc")
    os.symlink(tmp / "outside.nc", tmp / "root" / "published" / JOB / "products" / "escape.csv")
    srv = start_server(tmp / "serve.log", base_overrides(tmp / "root", chain, inbox=inbox, max_body_bytes=1024))
    yield srv
    assert srv.stop() == 0
    log = srv.log()
    assert " 500 " not in log and "Traceback" not in log, log


@pytest.fixture(scope="module")
def token_server(chain, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api_token")
    prepare_root(tmp / "root", chain)
    # the token from the environment (conf/serve/default.yaml reads SOWCAST_TOKEN)
    srv = start_server(tmp / "serve.log", base_overrides(tmp / "root", chain), token=TOKEN,
                       env={"SOWCAST_TOKEN": TOKEN})
    yield srv
    assert srv.stop() == 0


def test_skill_is_404_where_the_bulletin_states_none(server):
    """This run's bulletin.json has no ``skill`` (an older bulletin): no statement is made up."""
    status, _h, body = server.request("GET", "/api/skill")
    assert status == 404 and "states the forecasts' skill" in json.loads(body)["error"]


def test_healthz_and_security_headers(server):
    status, headers, body = server.request("GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    for key, value in SECURITY_HEADERS.items():
        assert headers[key.lower()] == value
    assert headers["content-security-policy"] == ("default-src 'self'; img-src 'self' data:; style-src 'self' "
                                                  "'unsafe-inline'; script-src 'self' 'unsafe-inline'")
    assert headers["x-content-type-options"] == "nosniff"


def test_status(server, chain):
    s = server.get_json("/api/status")
    assert set(s) == {"version", "bundle_sha256", "queue_length", "current_job", "latest_run", "issue_date",
                      "started", "uptime_s"}
    assert s["bundle_sha256"] == load_bundle(chain["bundle"]).sha256
    assert (s["latest_run"], s["issue_date"], s["queue_length"], s["current_job"]) == (JOB, "2001-04-27", 0, None)
    assert s["started"].endswith("Z") and s["uptime_s"] >= 0


def test_runs_empty_and_unknown(server):
    assert server.get_json("/api/runs") == {"runs": []}
    assert server.get_json("/api/runs?limit=5") == {"runs": []}
    for path in ("/api/runs/000001", "/api/runs/abc", "/api/runs/..%2f"):
        status, _h, body = server.request("GET", path)
        assert status in (400, 404) and "error" in json.loads(body)


def test_locations(server, chain):
    data = server.get_json("/api/locations")
    assert data["issue_date"] == "2001-04-27"
    with open(chain["products"] / "locations.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [loc["name"] for loc in data["locations"]] == [r["location"] for r in rows]
    keys = {"name", "lat", "lon", "advice", "advice_probability", "advice_text", "onset_by_week", "false_start_risk",
            "dry_spell_risk", "planting_window"}
    for loc, row in zip(data["locations"], rows, strict=True):
        assert set(loc) == keys
        assert loc["advice"] == row["advice"] and loc["advice_text"]["en"] == row["advice_text"]
        assert loc["onset_by_week"] == [pytest.approx(float(row[f"onset_by_week{k}"])) for k in range(1, 7)]
        assert loc["planting_window"] in (None, [row["planting_window_start"], row["planting_window_end"]])
    tamale = data["locations"][0]
    assert tamale["advice_text"]["fr"] == "Tamale 27/04: semez maintenant. -NMA"   # from bulletin/sms.csv


def test_location_detail_case_and_encoding(server, chain):
    one = server.get_json("/api/locations/%42obo-dioulasso")          # %42 = "B", any case
    assert one["name"] == "Bobo-Dioulasso" and one["issue_date"] == "2001-04-27"
    terciles = one["weekly_rain_terciles"]
    assert {"week1", "week2", "weeks3-4", "weeks5-6"} <= set(terciles)
    for probs in terciles.values():
        assert set(probs) == {"below", "near", "above"} and sum(probs.values()) == pytest.approx(1, abs=1e-3)
    dry = one["weekly_rain_dry_season"]                                # the products' dry-season mask, by period
    assert set(dry) == set(terciles) and all(isinstance(v, bool) for v in dry.values())
    assert one["members"] == json.loads((chain["products"] / "products.json").read_text())["members"]
    listed = next(loc for loc in server.get_json("/api/locations")["locations"] if loc["name"] == "Bobo-Dioulasso")
    assert {k: v for k, v in one.items() if k not in ("weekly_rain_terciles", "issue_date",
                                                       "weekly_rain_dry_season", "members")} == listed
    status, _h, body = server.request("GET", "/api/locations/Atlantis")
    assert status == 404 and "Atlantis" in json.loads(body)["error"]


def test_bulletin_and_files(server):
    b = server.get_json("/api/bulletins/latest")
    assert b["issue_date"] == "2001-04-27" and b["languages"] == ["en", "fr"]
    assert b["files"]["html_en"] == "/files/latest/bulletin/bulletin_en.html"
    assert b["files"]["pdf_fr"] == "/files/latest/bulletin/bulletin_fr.pdf"
    assert b["files"]["sms_csv"] == "/files/latest/bulletin/sms.csv"
    assert b["maps"] == ["/files/latest/bulletin/maps/onset_week2_en.png", "/files/latest/bulletin/maps/onset_week2_fr.png"]
    types = {"html_en": "text/html", "pdf_en": "application/pdf", "sms_csv": "text/csv"}
    for key, ctype in types.items():
        status, headers, body = server.request("GET", b["files"][key])
        assert status == 200 and headers["content-type"].startswith(ctype) and int(headers["content-length"]) == len(body)
    status, headers, body = server.request("GET", b["maps"][0])
    assert status == 200 and headers["content-type"] == "image/png" and body == PNG
    status, headers, body = server.request("HEAD", b["maps"][0])
    assert status == 200 and body == b"" and int(headers["content-length"]) == len(PNG)
    status, headers, body = server.request("GET", "/files/latest/products/locations.csv")
    assert status == 200 and body.startswith(b"location,lat,lon")


def test_dashboard_page(server):
    status, headers, body = server.request("GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html") and b"<html" in body.lower()
    assert server.request("GET", "/static/no-such-file.js")[0] == 404


def test_openapi_lists_every_route_and_only_those(server):
    doc = server.get_json("/openapi.json")
    assert doc["openapi"] == "3.1.0" and doc == json.loads(json.dumps(document(doc["info"]["version"])))
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert documented == {(r.method, r.template) for r in ROUTES}
    for path, ops in doc["paths"].items():   # every $ref resolves
        for ref in _refs(ops):
            assert ref.split("/")[-1] in doc["components"]["schemas"], (path, ref)


def _refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("method, path, body, headers, expect", [
    ("GET", "/files/latest/../../etc/passwd", None, {}, 400),
    ("GET", "/files/latest/%2e%2e/%2e%2e/etc/passwd", None, {}, 400),
    ("GET", "/files/latest/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", None, {}, 400),
    ("GET", "/files/latest//etc/passwd", None, {}, 400),
    ("GET", "/files/latest/%2fetc%2fpasswd", None, {}, 400),
    ("GET", "/files/latest/products/escape.csv", None, {}, 404),            # a link out of the folder
    ("GET", "/files/latest/products/no-such.csv", None, {}, 404),
    ("GET", "/static/../api/status", None, {}, 400),
    ("GET", "/nowhere", None, {}, 404),
    ("GET", "/api/locations/Atlantis", None, {}, 404),
    ("DELETE", "/api/runs", None, {}, 405),
    ("PUT", "/api/status", b"{}", JSON, 405),
    ("POST", "/healthz", b"{}", JSON, 405),
    ("POST", "/api/runs", b"{not json", JSON, 400),
    ("POST", "/api/runs", b"[1, 2]", JSON, 400),
    ("POST", "/api/runs", b"\xff\xfe", JSON, 400),
    ("POST", "/api/runs", b'{"init_time": "2001-04-27", "members": 3}', JSON, 400),
    ("POST", "/api/runs", b'{"init_time": "27/04/2001"}', JSON, 400),
    ("POST", "/api/runs", b'{"init_time": "2001-02-30"}', JSON, 400),
    ("POST", "/api/runs", b'{"init": "../../etc/passwd"}', JSON, 400),
    ("POST", "/api/runs", b'{"init": "/etc/passwd"}', JSON, 400),
    ("POST", "/api/runs", b'{"init": "escape.nc"}', JSON, 400),               # links out of the inbox
    ("POST", "/api/runs", b'{"init": "notes.txt"}', JSON, 400),
    ("POST", "/api/runs", b'{"init": 3}', JSON, 400),
    ("POST", "/api/runs", b'{"init": "missing.nc"}', JSON, 404),
    ("POST", "/api/runs", b"x" * 5000, JSON, 413),
    ("POST", "/api/runs", b"{}", {"Content-Type": "text/plain"}, 415),
    ("GET", "/api/runs?limit=0", None, {}, 400),
    ("GET", "/api/runs?limit=many", None, {}, 400),
    ("GET", "/api/status", None, {"Host": "evil.example"}, 400),
])
def test_refusals_are_4xx_json(server, method, path, body, headers, expect):
    status, resp_headers, resp = server.request(method, path, body, headers)
    assert status == expect, resp
    assert resp_headers["content-type"] == "application/json"
    message = json.loads(resp)["error"]
    assert message and "\n" not in message and "Traceback" not in message
    if expect == 405:
        assert "GET" in resp_headers["allow"] or "POST" in resp_headers["allow"]


def test_chunked_body_is_refused(server):
    status, _h, body = server.request("POST", "/api/runs", None, {**JSON, "Transfer-Encoding": "chunked"})
    assert status == 411 and "Content-Length" in json.loads(body)["error"]


def test_refusals_queued_nothing_and_each_request_logged(server):
    """Its own requests (not the other tests': under pytest-xdist they may run on another
    worker, with another server): each is logged with its status, and a refusal queues nothing."""
    assert server.request("GET", "/healthz")[0] == 200
    assert server.request("POST", "/api/runs", b"x" * 4096, JSON)[0] == 413
    assert server.request("DELETE", "/api/runs")[0] == 405
    assert server.get_json("/api/runs") == {"runs": []}
    wanted = ("GET /healthz 200 ", "POST /api/runs 413 ", "DELETE /api/runs 405 ")
    deadline = time.monotonic() + 10  # a handler thread writes its line after its response
    while not all(w in server.log() for w in wanted) and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log()
    assert all(w in log for w in wanted), log


def test_token(token_server):
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
        status, resp_headers, body = token_server.request("GET", "/api/status", headers=headers, token=False)
        assert status == 401 and resp_headers["www-authenticate"].startswith("Bearer") and "error" in json.loads(body)
    status, _h, _b = token_server.request("POST", "/api/runs", b"{}", JSON, token=False)
    assert status == 401
    assert token_server.request("GET", "/healthz", token=False)[0] == 200
    assert token_server.request("GET", "/api/status")[0] == 200
    assert token_server.request("GET", "/api/locations/Tamale")[0] == 200


def test_readers_never_see_a_mix_while_latest_flips(chain, tmp_path):
    """Two published runs that differ (issue date and advice text) and latest flipping between
    them all the time: each answer comes wholly from one of them."""
    root = tmp_path / "root"
    prepare_root(root, chain, "000001")
    run_b = root / "runs" / "000002"
    shutil.copytree(chain["products"], run_b / "products")
    meta = json.loads((run_b / "products" / "products.json").read_text())
    (run_b / "products" / "products.json").write_text(json.dumps({**meta, "issue_date": "2001-05-04"}))
    text = (run_b / "products" / "locations.csv").read_text()
    (run_b / "products" / "locations.csv").write_text(text.replace(",Plant now:", ",B Plant now:"))
    srv = start_server(tmp_path / "serve.log", base_overrides(root, chain))
    stop = threading.Event()

    def flip():
        n = 2
        while not stop.is_set():
            src = run_b if n % 2 == 0 else root / "runs" / "000001"
            publish(root, f"{n:06d}", src, keep=1000)
            n += 1

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        seen = set()
        for i in range(400):
            if i >= 20 and seen == {True, False}:
                break
            data = srv.get_json("/api/locations")
            b = data["issue_date"] == "2001-05-04"
            seen.add(b)
            assert all(loc["advice_text"]["en"].startswith("B ") == b for loc in data["locations"]
                       if "Plant now" in loc["advice_text"]["en"])
    finally:
        stop.set()
        flipper.join()
        assert srv.stop() == 0
    assert seen == {True, False}


def test_an_unexpected_failure_is_a_bare_500_and_the_service_goes_on(chain, tmp_path):
    root = tmp_path / "root"
    prepare_root(root, chain)
    broken = root / "published" / JOB / "products" / "locations.csv"
    broken.unlink()
    broken.write_bytes(b"location,lat\n\xff\xfe\n")   # not UTF-8: an unforeseen failure inside the handler
    srv = start_server(tmp_path / "serve.log", base_overrides(root, chain))
    try:
        status, headers, body = srv.request("GET", "/api/locations")
        assert status == 500 and headers["content-type"] == "application/json"
        assert json.loads(body) == {"error": "internal error; the service log has the details"}
        assert srv.get_json("/healthz") == {"status": "ok"}
    finally:
        assert srv.stop() == 0
    log = srv.log()
    assert "internal error on GET /api/locations" in log and "Traceback" in log and "GET /api/locations 500 " in log


def test_api_products_and_advice_csv_give_one_advice_wording(chain, tmp_path):
    """The API, the products' locations.csv and the bulletin's advice.csv say the same
    sentence for a location: same capitalisation, "62%" in English, "62 %" (no-break) in French."""
    import re

    from omegaconf import OmegaConf

    from sowcast.cli import bulletin_command

    root = tmp_path / "root"
    run = root / "runs" / JOB
    shutil.copytree(chain["products"], run / "products")
    bulletin_command.run(OmegaConf.create({"bulletin": {
        "products": str(run / "products"), "scorecard": None, "languages": ["en", "fr"],
        "agency": {"name": "GMet", "signature": "GMet"}, "catalogue_dir": None, "output": str(run / "bulletin"),
        "formats": ["sms"], "map_weeks": [2], "rain_periods": ["week1"], "dpi": 60},
        "overwrite": False, "progress": False}))
    (root / "published").mkdir(parents=True)
    publish(root, JOB, run, keep=5)
    with open(run / "products" / "locations.csv", newline="", encoding="utf-8") as f:
        products = {row["location"]: row["advice_text"] for row in csv.DictReader(f)}
    with open(run / "bulletin" / "advice.csv", newline="", encoding="utf-8") as f:
        advice = {(row["location"], row["language"]): row["advice"] for row in csv.DictReader(f)}
    srv = start_server(tmp_path / "serve.log", base_overrides(root, chain))
    try:
        api = {loc["name"]: loc["advice_text"] for loc in srv.get_json("/api/locations")["locations"]}
    finally:
        assert srv.stop() == 0
    name = next(n for n, text in products.items() if re.search(r"\d%", text))   # one with a percentage
    assert api[name]["en"] == products[name] == advice[(name, "en")]
    assert api[name]["fr"] == advice[(name, "fr")]
    assert re.search(r"\d% chance", products[name]) and products[name][0].isupper() and " %" not in products[name]
    assert re.search("\\d[\u00a0\u202f]% de", advice[(name, "fr")]), advice[(name, "fr")]
    assert all(products[n] == advice[(n, "en")] for n in products)
