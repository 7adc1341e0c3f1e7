"""Export of a stochastic model (``model.noise_channels=4``): the noise is the ONNX graph's
fourth input with a dynamic batch, onnxruntime matches torch when both get the same noise
(batch 1 and 3, random and real windows), the output follows the noise, the manifest records
it (and refuses an entry that disagrees with the model), the variants take it too."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

from sowcast.bundle import load_bundle
from sowcast.bundle.manifest import manifest_bytes
from sowcast.data.windows import WindowSource
from sowcast.errors import SowcastError
from sowcast.export import onnx_export as ox
from sowcast.export import parity as P

TOLERANCE = 1e-4  # max |onnx - torch| / channel std
K = 4             # tests/stochastic_run.py


@pytest.fixture(scope="module")
def exported(stochastic_bundle, tmp_path_factory):
    torch.set_num_threads(2)
    loaded = ox.load_model(stochastic_bundle["checkpoint"])
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    ox.export_onnx(loaded.model, path)
    return loaded, path


def _batches(loaded, store, seed=1):
    payload = loaded.payload
    stats = {k: np.asarray(v, np.float32) for k, v in payload["statistics"].items()}
    source = WindowSource(store, n_input_steps=2, n_target_steps=1, static=payload["static"],
                          time_range=payload["config"]["train"]["validation_range"])
    shape = loaded.model.noise_shape(1)[1:]
    real = P.add_noise(P.real_batch(source, 3), shape, seed)
    random = P.random_batch(2, stats, source.grid.lat, source.grid.lon, source.time_step, 3, payload["forcings"],
                            static=real["static"][0], seed=seed)
    return stats, source, P.add_noise(random, shape, seed), real


def test_noise_is_the_fourth_input_with_a_dynamic_batch(exported):
    loaded, path = exported
    m = loaded.model
    assert m.stochastic and m.noise_channels == K
    info = ox.check_onnx(path, m)
    assert [i["name"] for i in info["inputs"]] == ["inputs", "forcings", "static", "noise"]
    assert info["inputs"][3] == {"name": "noise", "shape": ["batch", m.n_mesh, K], "dtype": "float32"}
    assert not [op for op in info["ops"] if "scatter" in op.lower()]
    ox.check_onnx(path)  # without a model: either set of inputs passes
    deterministic = ox.load_model(loaded.payload).model
    deterministic.noise_channels = 0  # the same model read as deterministic: the noise input is refused
    with pytest.raises(SowcastError, match=r"model\.onnx: inputs \['inputs', 'forcings', 'static', 'noise'\]"):
        ox.check_onnx(path, deterministic)


def test_onnxruntime_matches_torch_with_the_same_noise(stochastic_bundle, exported):
    loaded, path = exported
    stats, source, random, real = _batches(loaded, stochastic_bundle["store"])
    channels = loaded.payload["channels"]
    session = P.ort_session(path, threads=2)
    for name, batch in (("random", random), ("real", real)):
        assert batch["noise"].shape == (3, loaded.model.n_mesh, K) and batch["noise"].dtype == np.float32
        for n in (1, 3):
            part = P.take(batch, slice(0, n))
            d = P.difference(P.run_ort(session, part), P.run_torch(loaded.model, part), stats, channels)
            assert d.finite and d.max_normalised < TOLERANCE, (name, n, d)
    report, _ = P.check_parity(loaded.model, session, random, real, stats, channels, source.grid.lat, TOLERANCE)
    assert report.ok and report.noise and "random with noise" in report.summary()
    assert report.as_manifest()["noise"].startswith("the same standard normal draw")
    # The draw is fixed by the seed (both sides and every variant get it), and another seed differs.
    again = P.add_noise(P.take(random, slice(0, 3)), loaded.model.noise_shape(1)[1:], 1)
    np.testing.assert_array_equal(again["noise"], random["noise"])
    assert not np.array_equal(P.add_noise(random, loaded.model.noise_shape(1)[1:], 2)["noise"], random["noise"])


def test_the_output_follows_the_noise(stochastic_bundle, exported):
    """Same inputs, same noise: the same state; another noise: another state everywhere."""
    loaded, path = exported
    _, _, random, _ = _batches(loaded, stochastic_bundle["store"])
    one = P.take(random, [0, 0, 0])
    one["noise"] = one["noise"].copy()
    one["noise"][1] = random["noise"][1]
    one["noise"][2] = random["noise"][0]
    out = P.run_ort(P.ort_session(path, threads=1), one)
    np.testing.assert_array_equal(out[2], out[0])
    assert (out[1] != out[0]).mean() > 0.99


def test_bundle_records_the_noise_and_its_variants_take_it(stochastic_bundle):
    b = load_bundle(stochastic_bundle["archive"])
    m = b.manifest
    n_mesh = m["model"]["graph"]["n_mesh"]
    assert b.stochastic and b.noise == m["model"]["noise"] == {
        "input": "noise", "nodes": n_mesh, "channels": K, "distribution": "standard_normal"}
    assert m["model"]["hyperparameters"]["noise_channels"] == K
    assert m["model"]["inputs"][3] == {"name": "noise", "shape": ["batch", n_mesh, K], "dtype": "float32"}
    assert m["parity"]["passed"] and m["parity"]["noise"]
    assert any("random with noise" in line for line in stochastic_bundle["lines"])
    x = P.add_noise(P.random_batch(b.n_input_steps, b.statistics, b.grid.lat, b.grid.lon, b.time_step, 2,
                                   b.forcing_names, static=b.static), (n_mesh, K))
    fp32 = P.run_ort(b.open_session(threads=1), x)
    for precision in b.precisions[1:]:  # the kept variants: the same noise input
        session = b.open_session(precision, threads=1)
        assert [i.name for i in session.get_inputs()] == ["inputs", "forcings", "static", "noise"]
        out = P.run_ort(session, x)
        assert out.shape == fp32.shape and np.isfinite(out).all()
    with pytest.raises(Exception, match="noise"):  # onnxruntime: the noise input is required
        b.open_session(threads=1).run(["next_state"], {k: x[k] for k in ("inputs", "forcings", "static")})


@pytest.mark.parametrize("change, message", [
    (lambda m: m["model"].update(noise=None), r"model\.noise \(null: a deterministic model\) disagrees with "
                                              r"model\.hyperparameters\.noise_channels 4$"),
    (lambda m: (m["model"].update(noise=None), m["model"]["hyperparameters"].update(noise_channels=0)),
     r"model\.inputs \[.*'noise'\] are not \['inputs', 'forcings', 'static'\] \(a deterministic model"),
    (lambda m: m["model"]["inputs"][3].update(shape=["batch", 642, 5]), r"model\.inputs gives noise the shape"),
    (lambda m: m["model"]["noise"].update(channels=3), r"model\.noise \(3 channels\) disagrees with model\.hyperparameters"),
    (lambda m: m["model"]["noise"].update(nodes=641), r"model\.noise\.nodes 641 is not model\.graph\.n_mesh"),
    (lambda m: m["model"]["noise"].update(distribution="uniform"), r"model\.noise\.distribution 'uniform' is not 'standard_normal'"),
    (lambda m: m["model"]["noise"].update(seed=3), r"model\.noise has unknown key\(s\) seed and lacks none"),
    (lambda m: m["model"]["noise"].pop("input"), r"model\.noise has unknown key\(s\) none and lacks input; it needs exactly input, "
                                                 r"nodes, channels, distribution$"),
])
def test_a_noise_entry_that_disagrees_with_the_model_is_refused(stochastic_bundle, tmp_path, change, message):
    folder = shutil.copytree(stochastic_bundle["bundle"], tmp_path / "bundle")
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_bytes(manifest_bytes(manifest))
    with pytest.raises(SowcastError, match=r"^manifest\.json: " + message) as info:
        load_bundle(folder)
    assert "\n" not in str(info.value)
