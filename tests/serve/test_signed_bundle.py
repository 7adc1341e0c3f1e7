"""The service with serve.forecast.trusted_keys (issue 16): an unsigned bundle stops the
service at start in one line; a signed one passes and every forecast step gets the keys
(absolute paths, read back by Hydra), so the step checks the signature again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from sowcast.bundle.signature import generate_keypair, load_private_key, sign_folder  # noqa: E402
from sowcast.cli.main import compose, main  # noqa: E402
from sowcast.serve.jobs import step_command  # noqa: E402
from sowcast.serve.service import bundle_sha256  # noqa: E402
from sowcast.serve.settings import ServeSettings  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bundle"))
from test_reader import make_bundle  # noqa: E402


def test_trusted_keys_reach_the_forecast_step_and_the_start_check(tmp_path, monkeypatch, capfd):
    bundle = make_bundle(tmp_path / "bundle")
    key, pub, fingerprint = generate_keypair(tmp_path / "agency")
    monkeypatch.chdir(tmp_path)
    args = ["serve", "progress=false", f"serve.root={tmp_path / 'root'}", f"serve.bundle={bundle}",
            "serve.locations=null", "serve.forecast.trusted_keys=[agency.pub]"]
    capfd.readouterr()
    assert main(args) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [f"sowcast: error: bundle {bundle}: unsigned (no manifest.sig) but trusted_keys is set: "
                   "only bundles signed by a trusted key are accepted"]

    sign_folder(bundle, load_private_key(key))
    settings = ServeSettings.from_config({"root": str(tmp_path / "root"), "bundle": str(bundle), "locations": None,
                                          "forecast": {"members": 2, "trusted_keys": ["agency.pub"]}})
    assert settings.forecast["trusted_keys"] == [str(pub)]
    assert bundle_sha256(settings.bundle, settings.forecast["trusted_keys"]) == bundle_sha256(bundle)
    command = step_command("forecast", settings, {"init": "x.zarr", "init_time": None}, tmp_path / "run")
    assert list(compose(command[4:]).forecast.trusted_keys) == [str(pub)]

    capfd.readouterr()
    assert main([*args[:-1], "serve.forecast.trusted_keys=[agency.key]"]) == 2
    assert "is a private key; give its .pub" in capfd.readouterr().err
