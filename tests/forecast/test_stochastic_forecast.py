"""Forecasts from stochastic bundles: the engine feeds the noise the documented formula gives
(equal to onnxruntime by hand, for a hand-made model and a real exported one), the same seed
gives the same forecast and another seed other members, members differ without initial
perturbations, batching and the ensemble size do not change a member, lagged starts are the
earlier forecasts, a different seed is another forecast for the fingerprint, bad values
are one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from forecast_helpers import NOISE, one_line_error, options, power_cut_after_writing, reference_noise, run_reference

from sowcast.bundle.reader import load_bundle
from sowcast.forecast.engine import run_forecast
from sowcast.forecast.ensemble import (
    Perturbation,
    PerturbationGenerator,
    nonnegative_channels,
    start_ensemble,
)
from sowcast.forecast.initial_conditions import read_initial_conditions
from sowcast.forecast import model_noise
from sowcast.forecast.model_noise import ModelNoise, bundle_noise, noise_correlation, start_key, step_keys
from sowcast.forecast.rollout_state import load_state, partial_dir
from sowcast.forecast.session import StepModel

NO_PERTURBATION = {"scale": 0.0, "variable_scale": {}}  # rain too (its default is 4.0)


def _values(path) -> dict[str, np.ndarray]:
    with xr.open_dataset(path, engine="zarr", consolidated=False, chunks=None) as ds:
        return {name: ds[name].values for name in ds.data_vars}


def _same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# -- the noise itself --------------------------------------------------------------------------
def test_noise_is_stateless_standard_normal_and_apart_from_the_perturbations():
    noise = ModelNoise(nodes=50, channels=4, seed=3)
    assert start_key("2024-05-01T06:30") == 202405010630 and start_key("1961-01-01") == 196101010000
    one = noise.draw(200005010000, 2, 7)
    assert one.shape == (50, 4) and one.dtype == np.float32
    np.testing.assert_array_equal(one, noise.draw(200005010000, 2, 7))   # nothing carried between draws
    np.testing.assert_array_equal(one, reference_noise(3, "2000-05-01", 2, 7, (50, 4)))  # the documented formula
    keys = step_keys([200005010000] * 3 + [200005020000], [0, 1, 2, 0], 7)
    batch = noise.batch(keys)
    for row, key in zip(batch, keys):
        np.testing.assert_array_equal(row, noise.draw(*key))
    draws = [batch[0], batch[1], batch[3], noise.draw(200005010000, 0, 8), ModelNoise(50, 4, 4).draw(200005010000, 0, 7)]
    for i in range(len(draws)):            # another member, start, step or seed: another draw
        for j in range(i):
            assert not np.array_equal(draws[i], draws[j]), (i, j)
    perturbation = np.random.default_rng([3, 0]).standard_normal(200)  # the initial perturbation stream of member 0
    assert not np.isin(batch[0].ravel(), perturbation.astype(np.float32)).any()
    many = noise.batch(step_keys(np.full(400, 200005010000), np.arange(400), 1))
    assert abs(many.mean()) < 0.01 and abs(many.std() - 1) < 0.01
    wide = ModelNoise(nodes=50, channels=4, seed=3, scale=1.3)           # forecast.noise_scale: the same draw, wider
    np.testing.assert_array_equal(wide.draw(200005010000, 2, 7), one * np.float32(1.3))
    np.testing.assert_array_equal(wide.draw(200005010000, 2, 7), reference_noise(3, "2000-05-01", 2, 7, (50, 4), 1.3))


def test_red_noise_is_the_documented_autoregression_whatever_the_order_of_calls(monkeypatch):
    """noise_memory_days: the first ``red_rows`` rows (the mesh's) are z_1 = e_1,
    z_k = phi z_(k-1) + sqrt(1 - phi^2) e_k with the white draws e_k, the others e_k, bit for
    bit, whether a member's steps come in order, out of order, repeated, or after its kept
    state was evicted; standard normal at every step, lag-1 correlation phi."""
    assert noise_correlation(0, "1D") == 0.0
    assert noise_correlation(2.0, "1D") == pytest.approx(math.exp(-0.5))
    assert noise_correlation(2.0, pd.Timedelta("6h")) == pytest.approx(math.exp(-0.125))
    phi = noise_correlation(2.0, "1D")
    white = [reference_noise(3, "2000-05-01", 2, k, (50, 4)) for k in range(1, 7)]
    z, want = white[0][:20], [white[0]]
    for e in white[1:]:   # the module doc's formula, written out
        z = np.float32(phi) * z + np.float32(math.sqrt(1 - phi ** 2)) * e[:20]
        want.append(np.concatenate([z, e[20:]]))
    key = start_key("2000-05-01")

    def red(**kw):
        return ModelNoise(50, 4, 3, scale=1.3, correlation=phi, red_rows=20, **kw)

    in_order = [red().draw(key, 2, k) for k in range(1, 7)]
    kept = red()
    in_turn = [kept.draw(key, 2, k) for k in range(1, 7)]
    shuffled = red()
    out_of_order = {k: shuffled.draw(key, 2, k) for k in (6, 3, 3, 4, 1, 5, 2)}
    monkeypatch.setattr(model_noise, "_STATE_BYTES", 1)   # keeps one member: the others are replayed
    tiny = red()
    evicted = [[tiny.draw(key, m, k) for m in (2, 0)][0] for k in range(1, 7)]
    for k in range(6):
        expected = want[k] * np.float32(1.3)
        for got in (in_order[k], in_turn[k], out_of_order[k + 1], evicted[k]):
            np.testing.assert_array_equal(got, expected)
    in_turn[2][:] = 0   # a caller writing into its draw changes nothing kept
    np.testing.assert_array_equal(kept.draw(key, 2, 3), want[2] * np.float32(1.3))
    np.testing.assert_array_equal(ModelNoise(50, 4, 3, correlation=0.0).draw(key, 2, 5), white[4])  # 0: white
    every_row = ModelNoise(50, 4, 3, correlation=phi)     # red_rows None: every row red
    z = np.stack([every_row.batch(step_keys(np.full(400, key), np.arange(400), k)) for k in (1, 2, 5)])
    assert np.all(np.abs(z.mean(axis=(1, 2, 3))) < 0.01) and np.all(np.abs(z.std(axis=(1, 2, 3)) - 1) < 0.01)
    assert np.corrcoef(z[0].ravel(), z[1].ravel())[0, 1] == pytest.approx(phi, abs=0.01)
    assert np.corrcoef(z[1, :-1].ravel(), z[1, 1:].ravel())[0, 1] == pytest.approx(0, abs=0.01)  # members apart


def test_red_noise_rows_are_the_mesh_rows_of_the_manifest():
    manifest = {"model": {"noise": {"input": "noise", "nodes": 30, "channels": 3, "distribution": "standard_normal"},
                          "hyperparameters": {"noise_channels": 3, "grid_noise": True},
                          "graph": {"n_mesh": 12, "n_grid": 18}}}
    assert bundle_noise(manifest, (30, 3), 0, correlation=0.5).red_rows == 12
    assert bundle_noise(manifest, (30, 3), 0).red_rows is None                     # white: no rows to say
    no_grid = {"model": {**manifest["model"], "hyperparameters": {"noise_channels": 3}, "graph": {"n_mesh": 30}}}
    assert bundle_noise(no_grid, (30, 3), 0, correlation=0.5).red_rows is None     # every row is the mesh's
    unknown = {"model": {**manifest["model"], "graph": None}}
    one_line_error(lambda: bundle_noise(unknown, (30, 3), 0, correlation=0.5), "grid noise", "model.graph.n_mesh",
                   "noise_memory_days to 0")


# -- the engine ----------------------------------------------------------------------------------
def test_engine_feeds_the_documented_noise(forecast_data, stochastic_bundle, tmp_path):
    """The engine's output (batches of 2) equals a rollout by hand with plain onnxruntime
    and noise drawn by the formula of model_noise.py (white draws, the mesh rows red), for
    the hand-made stochastic model and for a real exported one (from its .tar.gz)."""
    for bundle_path, store in ((forecast_data["stochastic"], forecast_data["store"]),
                               (stochastic_bundle["archive"], stochastic_bundle["store"])):
        bundle = load_bundle(bundle_path)
        assert bundle.stochastic
        out = tmp_path / f"{bundle.sha256[:8]}.zarr"
        run_forecast(options(bundle_path, store, out, members=3, lead="5D", batch=2, noise_seed=7, noise_scale=1.3,
                             noise_memory_days=1.5))
        ic = read_initial_conditions(store, bundle)
        stats = {k: np.asarray(v) for k, v in bundle.statistics.items()}
        gen = PerturbationGenerator(bundle.grid, stats["diff_std"], Perturbation(),
                                    [c["variable"] for c in bundle.channel_info])
        members = start_ensemble(ic.states, 0, 3, gen, nonnegative_channels(stats, len(bundle.channels)))
        want = run_reference(bundle, ic.times, 5, members, threads=1, noise_seed=7, noise_scale=1.3,
                             noise_memory_days=1.5)                                          # [M, L, C, H, W]
        with xr.open_dataset(out, engine="zarr", consolidated=False, chunks=None) as ds:
            assert ds.attrs["noise_seed"] == 7 and "standard normal noise" in ds.attrs["model_noise"]
            assert ds.attrs["noise_scale"] == 1.3 and "x noise_scale 1.3" in ds.attrs["model_noise"]
            for c, spec in enumerate(bundle.channel_info):
                da = ds[spec["variable"]]
                got = (da.sel(level=spec["level"]) if spec["level"] is not None else da).values
                np.testing.assert_allclose(got, want[:, :, c], rtol=1e-6, atol=1e-5, err_msg=spec["name"])
                if bundle_path == forecast_data["stochastic"]:  # element-wise model: no batch round-off
                    np.testing.assert_array_equal(got, want[:, :, c], err_msg=spec["name"])


def test_the_seed_makes_the_forecast_and_members_differ_by_the_noise(forecast_data, tmp_path):
    bundle, store = forecast_data["stochastic"], forecast_data["store"]
    kw = {"members": 3, "lead": "4D", "perturbation": NO_PERTURBATION}
    run_forecast(options(bundle, store, tmp_path / "a.zarr", **kw))
    run_forecast(options(bundle, store, tmp_path / "b.zarr", **kw))
    run_forecast(options(bundle, store, tmp_path / "c.zarr", noise_seed=1, **kw))
    a, b, c = _values(tmp_path / "a.zarr"), _values(tmp_path / "b.zarr"), _values(tmp_path / "c.zarr")
    _same(a, b)
    t = a["2m_temperature"]
    assert not np.array_equal(t, c["2m_temperature"])
    # No initial perturbation: the members start alike and part at the first step, by the noise.
    for m in range(1, 3):
        assert (t[m, 0] != t[0, 0]).all()
    with xr.open_dataset(tmp_path / "a.zarr", engine="zarr", consolidated=False) as ds:
        assert ds.attrs["perturbation"].startswith("none (perturbation.scale 0)")


@pytest.mark.parametrize("which", ["hand-made", "exported"])
def test_batching_and_ensemble_size_do_not_change_a_member(forecast_data, stochastic_bundle, tmp_path, which):
    bundle, store = ((forecast_data["stochastic"], forecast_data["store"]) if which == "hand-made"
                     else (stochastic_bundle["bundle"], stochastic_bundle["store"]))
    run_forecast(options(bundle, store, tmp_path / "m4.zarr", members=4, lead="4D", batch=None))
    run_forecast(options(bundle, store, tmp_path / "m4b1.zarr", members=4, lead="4D", batch=1))
    run_forecast(options(bundle, store, tmp_path / "m2.zarr", members=2, lead="4D", batch=None))
    whole, one, two = _values(tmp_path / "m4.zarr"), _values(tmp_path / "m4b1.zarr"), _values(tmp_path / "m2.zarr")
    for name in whole:
        # The same noise per member whatever the batch; onnxruntime may round differently by batch size.
        np.testing.assert_allclose(one[name], whole[name], rtol=1e-6, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(two[name], whole[name][:2], rtol=1e-6, atol=1e-5, err_msg=name)
        if which == "hand-made":
            np.testing.assert_array_equal(one[name], whole[name], err_msg=name)
            np.testing.assert_array_equal(two[name], whole[name][:2], err_msg=name)
        spread = whole[name].std(axis=0)
        assert (spread > 0).mean() > (0.5 if name == "total_precipitation" else 0.99), name


def test_lagged_members_are_the_earlier_forecasts(forecast_data, tmp_path):
    """Noise is keyed on a member's own start, number and steps: a lagged start's members are
    the forecast from that start (no initial perturbations), run two steps longer."""
    bundle, store = forecast_data["stochastic"], forecast_data["store"]
    run_forecast(options(bundle, store, tmp_path / "lagged.zarr", members=2, lead="3D",
                         lagged={"n": 1, "spacing": 2}, perturbation=NO_PERTURBATION))
    with xr.open_dataset(tmp_path / "lagged.zarr", engine="zarr", consolidated=False, chunks=None) as ds:
        init = pd.Timestamp(ds["init_time"].values)
        lagged = {n: ds[n].values[2:] for n in ds.data_vars}
        latest = {n: ds[n].values[:2] for n in ds.data_vars}
    run_forecast(options(bundle, store, tmp_path / "early.zarr", members=2, lead="5D",
                         init_time=str(init - pd.Timedelta("2D")), perturbation=NO_PERTURBATION))
    early = _values(tmp_path / "early.zarr")
    for name in lagged:
        np.testing.assert_array_equal(lagged[name], early[name][:, 2:], err_msg=name)
        assert not np.array_equal(lagged[name], latest[name])


def test_resume_after_a_power_cut_equals_uninterrupted_and_another_seed_starts_again(forecast_data, tmp_path):
    bundle, store = forecast_data["stochastic"], forecast_data["store"]
    kw = {"members": 3, "lead": "8D", "checkpoint_every": 3}
    run_forecast(options(bundle, store, tmp_path / "whole.zarr", **kw))
    run_forecast(options(bundle, store, tmp_path / "whole1.zarr", noise_seed=1, **kw))
    out = tmp_path / "fc.zarr"
    for _ in range(2):
        with power_cut_after_writing(4), pytest.raises(RuntimeError, match="power cut"):   # lead 5; state at step 3
            run_forecast(options(bundle, store, out, **kw))
        assert load_state(partial_dir(out)).step == 3
    messages = []
    result = run_forecast(options(bundle, store, out, **kw), log=messages.append)
    assert result.status == "resumed" and result.steps_run == 5
    _same(_values(out), _values(tmp_path / "whole.zarr"))

    # A partial from seed 0 is not resumed with seed 1; a finished one is another forecast.
    other = tmp_path / "other.zarr"
    with power_cut_after_writing(4), pytest.raises(RuntimeError, match="power cut"):
        run_forecast(options(bundle, store, other, **kw))
    messages = []
    result = run_forecast(options(bundle, store, other, noise_seed=1, **kw), log=messages.append)
    assert result.status == "computed" and any("discarding" in m for m in messages)
    _same(_values(other), _values(tmp_path / "whole1.zarr"))
    one_line_error(lambda: run_forecast(options(bundle, store, out, noise_seed=1, **kw)), "exists already", "overwrite")
    assert run_forecast(options(bundle, store, out, **kw)).status == "up to date"


def test_red_noise_resumes_and_batches_bit_for_bit_and_is_another_forecast(forecast_data, tmp_path):
    bundle, store = forecast_data["stochastic"], forecast_data["store"]
    kw = {"members": 3, "lead": "8D", "checkpoint_every": 3, "noise_memory_days": 2.0}
    run_forecast(options(bundle, store, tmp_path / "whole.zarr", **kw))
    run_forecast(options(bundle, store, tmp_path / "one_by_one.zarr", batch=1, **kw))
    run_forecast(options(bundle, store, tmp_path / "white.zarr", **{**kw, "noise_memory_days": 0.0}))
    out = tmp_path / "fc.zarr"
    with power_cut_after_writing(4), pytest.raises(RuntimeError, match="power cut"):   # state at step 3
        run_forecast(options(bundle, store, out, **kw))
    assert run_forecast(options(bundle, store, out, **kw)).status == "resumed"
    whole = _values(tmp_path / "whole.zarr")
    _same(_values(out), whole)
    _same(_values(tmp_path / "one_by_one.zarr"), whole)
    white = _values(tmp_path / "white.zarr")
    t = "2m_temperature"
    np.testing.assert_array_equal(whole[t][:, 0], white[t][:, 0])   # step 1: z_1 = e_1
    assert not np.array_equal(whole[t][:, 1:], white[t][:, 1:])
    one_line_error(lambda: run_forecast(options(bundle, store, out, **{**kw, "noise_memory_days": 1.0})),
                   "exists already", "overwrite")                   # another forecast, not "up to date"
    with xr.open_dataset(out, engine="zarr", consolidated=False) as ds:
        assert ds.attrs["noise_memory_days"] == 2.0
        assert f"mesh rows red in time: z_k = {math.exp(-0.5):.4f} z_k-1" in ds.attrs["model_noise"]
    one_line_error(lambda: options(bundle, store, tmp_path / "x.zarr", noise_memory_days=-1),
                   "forecast.noise_memory_days must be a finite number of days >= 0")


def test_a_deterministic_bundle_ignores_the_noise_seed(forecast_data, tmp_path):
    bundle, store = forecast_data["bundle"], forecast_data["store"]
    out = tmp_path / "fc.zarr"
    run_forecast(options(bundle, store, out, members=2, lead="2D"))
    assert run_forecast(options(bundle, store, out, members=2, lead="2D", noise_seed=5)).status == "up to date"
    with xr.open_dataset(out, engine="zarr", consolidated=False) as ds:
        assert "model_noise" not in ds.attrs and "noise_seed" not in ds.attrs


@pytest.mark.parametrize("value, needles", [
    (-1, ("forecast.noise_seed must be at least 0, not -1",)),
    ("x", ("forecast.noise_seed must be a whole number, not 'x'",)),
    (1.5, ("forecast.noise_seed must be a whole number",)),
])
def test_bad_noise_seed_is_a_one_line_error(forecast_data, tmp_path, value, needles):
    one_line_error(lambda: options(forecast_data["stochastic"], forecast_data["store"], tmp_path / "fc.zarr",
                                   noise_seed=value), *needles)


def test_the_model_and_its_manifest_must_agree_on_the_noise(forecast_data):
    stochastic = StepModel(forecast_data["stochastic"] / "model.onnx", threads=1)
    deterministic = StepModel(forecast_data["bundle"] / "model.onnx", threads=1)
    assert stochastic.noise_shape == NOISE and deterministic.noise_shape is None
    x = [np.zeros((2, *s), np.float32) for s in ((2, 4, 8, 16), (3, 5, 8, 16), (2, 8, 16))]
    one_line_error(lambda: stochastic(*x), "model.onnx is stochastic", "noise of shape [2, 12, 3], not None")
    one_line_error(lambda: stochastic(*x, np.zeros((2, 12, 4), np.float32)), "noise of shape [2, 12, 3], not [2, 12, 4]")
    one_line_error(lambda: deterministic(*x, np.zeros((2, *NOISE), np.float32)), "deterministic: it takes no noise")
    assert stochastic(*x, np.zeros((2, *NOISE), np.float32)).shape == (2, 4, 8, 16)
    manifest = load_bundle(forecast_data["stochastic"]).manifest
    assert bundle_noise(manifest, NOISE, 9) == ModelNoise(12, 3, 9)
    assert bundle_noise({"model": {}}, None, 9) is None
    one_line_error(lambda: bundle_noise(manifest, None, 0, "model_int8.onnx"),
                   "model_int8.onnx takes no noise but the manifest's model.noise says [12, 3]")
    one_line_error(lambda: bundle_noise({"model": {}}, NOISE, 0), "takes noise [12, 3]", "says none")
