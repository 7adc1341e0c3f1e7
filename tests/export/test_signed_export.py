"""A signed bundle end to end (issue 16), each step the real command line: ``sowcast export
keygen``, ``sowcast export ... export.sign_key=`` on a tiny trained run, then ``sowcast
forecast`` with ``forecast.trusted_keys``: the signed archive runs and the forecast records
the signer's key; another key's signature or no signature is one line and no output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import xarray as xr

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")
pytest.importorskip("cryptography")

from sowcast.bundle import load_bundle  # noqa: E402
from sowcast.bundle.signature import load_trusted_keys  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_onnx_export import tiny_run  # noqa: E402


@pytest.mark.slow
def test_signed_export_runs_a_forecast_only_with_its_key(tmp_path, sowcast_cli):
    store, checkpoint = tiny_run(tmp_path / "run", steps=2)
    for name in ("hpc", "stranger"):
        r = sowcast_cli("export", "keygen", f"export.sign_key={tmp_path / name}.key")
        assert r.returncode == 0 and "fingerprint" in r.stdout, r.stderr
    out = tmp_path / "bundles" / "tiny"
    r = sowcast_cli("export", "model=tiny", f"train.run_dir={checkpoint.parent.parent}", f"export.output={out}",
                    "export.parity_real_windows=2", f"export.sign_key={tmp_path / 'hpc.key'}", "progress=false",
                    cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    fingerprint = next(iter(load_trusted_keys([tmp_path / "hpc.pub"])))
    assert f"signed with key {fingerprint}" in r.stdout
    archive = out.with_name("tiny.tar.gz")
    assert (out / "manifest.sig").is_file() and load_bundle(archive).signed_by == fingerprint

    def forecast(output: str, *keys: str, bundle: Path = archive):
        return sowcast_cli("forecast", f"forecast.bundle={bundle}", f"forecast.init={store}",
                           f"forecast.output={tmp_path / output}", "forecast.lead=2D", "forecast.members=2",
                           "forecast.threads=1", f"forecast.trusted_keys=[{','.join(keys)}]", "progress=false",
                           cwd=tmp_path)

    r = forecast("fc.zarr", str(tmp_path / "stranger.pub"), str(tmp_path / "hpc.pub"))
    assert r.returncode == 0, r.stderr
    with xr.open_zarr(tmp_path / "fc.zarr", consolidated=False) as ds:
        assert ds.attrs["bundle_signed_by"] == f"ed25519 key sha256 {fingerprint}"
        assert ds.sizes["member"] == 2 and ds.sizes["lead_time"] == 2

    r = forecast("refused.zarr", str(tmp_path / "stranger.pub"))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"sowcast: error: bundle {archive}: signed by an unknown key {fingerprint} (not one of trusted_keys)"]
    assert not (tmp_path / "refused.zarr").exists()

    (out / "manifest.sig").unlink()  # the folder, unsigned: accepted without trusted keys only
    r = forecast("unsigned.zarr", str(tmp_path / "hpc.pub"), bundle=out)
    assert r.returncode == 2 and f"bundle {out}: unsigned (no manifest.sig)" in r.stderr
    assert load_bundle(out).signed_by is None
