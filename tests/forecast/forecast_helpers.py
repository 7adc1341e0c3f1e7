"""Helpers of the forecast tests: small canonical stores and torch-free bundles.

The bundles here are real bundle folders (manifest.json with checksums, static.nc,
statistics.nc, model.onnx) that :func:`sowcast.bundle.reader.load_bundle` verifies, with a
small ONNX graph built by ``onnx.helper`` instead of an exported network:

* ``dynamics``: ``x' = m + 0.8 (x_T - m) + 0.3 (x_T - x_{T-1}) + 0.1 s tanh((x_T - m) / s)
  + 1e-3 s mean_F(forcings at the target time) + 0.05 s mean_S(static)`` per channel
  (``m``, ``s``: the channel's mean and std): stable, nonlinear, uses every input;
* ``probe``: channel ``c`` of the output is forcing ``PROBE[c]`` = (time index, forcing
  index) of the ``forcings`` input, so a test reads back exactly what the engine fed.

With ``noise=(M, K)`` either model is stochastic: a fourth input ``noise [batch, M, K]``
(manifest ``model.noise``) adds ``0.05 s sqrt(M K) mean(noise)`` to every channel (a
standard normal shift per member, the same over the grid), so members differ by the noise.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.errors import SowcastError

N_INPUT_STEPS = 2
NOISE = (12, 3)  # (nodes, channels) of the hand-made stochastic bundles (forecast_data["stochastic"])
# Probe model: output channel c <- forcings[:, t, f] with (t, f) = PROBE[c] (t = 2: target time).
PROBE = [(2, 0), (0, 3), (1, 1), (2, 4)]


def _const(name: str, array: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(array), name)


def build_onnx_model(path: Path, kind: str, mean: np.ndarray, std: np.ndarray, n_input_steps: int = N_INPUT_STEPS,
                     n_forcings: int = 5, noise: tuple[int, int] | None = None) -> Path:
    """Write the ``dynamics`` or ``probe`` model (module doc) with the bundle contract's I/O
    (and the ``noise`` input of a stochastic model when ``noise`` is ``(M, K)``)."""
    import onnx
    from onnx import TensorProto, helper

    c = len(mean)
    t = n_input_steps
    inputs = [
        helper.make_tensor_value_info("inputs", TensorProto.FLOAT, ["batch", t, c, "lat", "lon"]),
        helper.make_tensor_value_info("forcings", TensorProto.FLOAT, ["batch", t + 1, n_forcings, "lat", "lon"]),
        helper.make_tensor_value_info("static", TensorProto.FLOAT, ["batch", "n_static", "lat", "lon"]),
    ]
    output = helper.make_tensor_value_info("next_state", TensorProto.FLOAT, ["batch", c, "lat", "lon"])
    m = mean.astype(np.float32).reshape(1, c, 1, 1)
    s = std.astype(np.float32).reshape(1, c, 1, 1)
    init = [_const("i_last", np.int64(t - 1)), _const("i_prev", np.int64(max(t - 2, 0))),
            _const("i_target", np.int64(t)), _const("m", m), _const("s", s),
            _const("k08", np.float32(0.8)), _const("k03", np.float32(0.3)), _const("k01s", 0.1 * s),
            _const("kf", 1e-3 * s), _const("ks", 0.05 * s), _const("zero", np.float32(0.0))]
    if kind == "dynamics":
        nodes = [
            helper.make_node("Gather", ["inputs", "i_last"], ["x1"], axis=1),
            helper.make_node("Gather", ["inputs", "i_prev"], ["x0"], axis=1),
            helper.make_node("Sub", ["x1", "m"], ["a1"]),
            helper.make_node("Mul", ["a1", "k08"], ["relax"]),
            helper.make_node("Sub", ["x1", "x0"], ["d"]),
            helper.make_node("Mul", ["d", "k03"], ["mom"]),
            helper.make_node("Div", ["a1", "s"], ["z"]),
            helper.make_node("Tanh", ["z"], ["tz"]),
            helper.make_node("Mul", ["tz", "k01s"], ["nl"]),
            helper.make_node("Gather", ["forcings", "i_target"], ["ft"], axis=1),
            helper.make_node("ReduceMean", ["ft"], ["fm"], axes=[1], keepdims=1),
            helper.make_node("Mul", ["fm", "kf"], ["fterm"]),
            helper.make_node("ReduceMean", ["static"], ["sm"], axes=[1], keepdims=1),
            helper.make_node("Mul", ["sm", "ks"], ["sterm"]),
            helper.make_node("Sum", ["m", "relax", "mom", "nl", "fterm", "sterm"], ["next_state"]),
        ]
    elif kind == "probe":
        init += [_const("flat_shape", np.array([0, (t + 1) * n_forcings, -1], np.int64)),
                 _const("probe_idx", np.array([ti * n_forcings + fi for ti, fi in PROBE[:c]], np.int64))]
        nodes = [
            helper.make_node("Reshape", ["forcings", "flat_shape"], ["flat"]),
            helper.make_node("Gather", ["flat", "probe_idx"], ["picked_flat"], axis=1),
            helper.make_node("Gather", ["inputs", "i_last"], ["x1"], axis=1),
            helper.make_node("Shape", ["x1"], ["state_shape"]),
            helper.make_node("Reshape", ["picked_flat", "state_shape"], ["picked"]),
            helper.make_node("Mul", ["x1", "zero"], ["x0"]),
            helper.make_node("ReduceMean", ["static"], ["sm"], axes=[1], keepdims=1),
            helper.make_node("Mul", ["sm", "zero"], ["s0"]),
            helper.make_node("Sum", ["picked", "x0", "s0"], ["next_state"]),
        ]
    else:
        raise ValueError(kind)
    if noise is not None:
        n_mesh, k = noise
        inputs.append(helper.make_tensor_value_info("noise", TensorProto.FLOAT, ["batch", n_mesh, k]))
        init += [_const("kn", 0.05 * float(np.sqrt(n_mesh * k)) * s),
                 _const("noise_to_state", np.array([-1, 1, 1, 1], np.int64))]
        last = nodes.pop()  # the Sum, now with the noise term
        nodes += [helper.make_node("ReduceMean", ["noise"], ["nmean"], axes=[1, 2], keepdims=1),
                  helper.make_node("Reshape", ["nmean", "noise_to_state"], ["nz"]),
                  helper.make_node("Mul", ["nz", "kn"], ["nterm"]),
                  helper.make_node("Sum", [*last.input, "nterm"], ["next_state"])]
    graph = helper.make_graph(nodes, f"sowcast_test_{kind}", inputs, [output], initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="sowcast-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def write_bundle(folder: Path, store: Path, kind: str = "dynamics", statistics_override: dict | None = None,
                 n_input_steps: int = N_INPUT_STEPS, noise: tuple[int, int] | None = None,
                 provenance: dict | None = None) -> Path:
    """A verified bundle folder for the channels, grid and statistics of ``store`` (a
    stochastic model with ``noise=(M, K)``, see the module doc; ``provenance`` as an export
    records it, else none)."""
    from sowcast.bundle.checksums import file_entry
    from sowcast.bundle.manifest import FORMAT, channel_info, manifest_bytes, noise_entry
    from sowcast.data.schema import time_step_iso
    from sowcast.data.windows import WindowSource

    src = WindowSource(store, n_input_steps=n_input_steps)
    folder.mkdir(parents=True)
    stats = {k: np.asarray(v, np.float32) for k, v in src.statistics.items()}
    stats.update(statistics_override or {})
    build_onnx_model(folder / "model.onnx", kind, stats["mean"], stats["std"], n_input_steps, noise=noise)
    xr.Dataset({k: ("channel", v) for k, v in stats.items()},
               coords={"channel": src.channels}).to_netcdf(folder / "statistics.nc")
    xr.Dataset({n: (("lat", "lon"), src._static[i]) for i, n in enumerate(src.static_names)},
               coords={"lat": src.grid.lat, "lon": src.grid.lon}).to_netcdf(folder / "static.nc")
    files = {"model.onnx": file_entry(folder / "model.onnx", "model"),
             "statistics.nc": file_entry(folder / "statistics.nc", "statistics"),
             "static.nc": file_entry(folder / "static.nc", "static")}
    manifest = {
        "format": FORMAT, "created": "2026-01-01T00:00:00Z", "sowcast_version": "test",
        "model": {"file": "model.onnx", "data_file": None, "variants": [],
                  "noise": None if noise is None else noise_entry(*noise)},
        "channels": [channel_info(c) for c in src.channels],
        "forcing_names": list(src.forcing_names), "static_names": list(src.static_names),
        "n_input_steps": n_input_steps, "time_step": time_step_iso(src.time_step),
        "grid": {"lat": src.grid.lat.tolist(), "lon": src.grid.lon.tolist(), "kind": "global"},
        "precipitation_accumulation": "period_beginning", "files": files,
    }
    if provenance is not None:
        manifest["provenance"] = provenance
    (folder / "manifest.json").write_bytes(manifest_bytes(manifest))
    return folder


def make_store(path: Path, n_times: int = 12, grid=(8, 16), seed: int = 0, levels=(500, 850), **kw) -> Path:
    from sowcast.data.testing import make_canonical_store

    return make_canonical_store(path, n_times=n_times, grid=grid, levels=levels, seed=seed, **kw)


def options(bundle, init, output, **kw):
    """ForecastOptions from a config dict (as the command gets it)."""
    from sowcast.forecast.engine import ForecastOptions

    cfg = {"bundle": str(bundle) if isinstance(bundle, (str, Path)) else bundle, "init": str(init), "output": str(output), "lead": "6D", "members": 4,
           "threads": 1, "checkpoint_every": 2}
    cfg.update(kw)
    return ForecastOptions.from_config(cfg)


def reference_noise(seed: int, start, member: int, step: int, shape: tuple[int, int],
                    scale: float = 1.0) -> np.ndarray:
    """The noise the edge must feed (sowcast.forecast.model_noise's formula, written out here):
    ``scale * default_rng([seed, start as YYYYMMDDhhmm, member, step, 0x6E6F6973])``."""
    key = int(pd.Timestamp(start).strftime("%Y%m%d%H%M"))
    draw = np.random.default_rng([seed, key, member, step, 0x6E6F6973]).standard_normal(shape, dtype=np.float32)
    return draw * np.float32(scale)


def run_reference(bundle, ic_times: np.ndarray, n_steps: int, members_window: np.ndarray, threads: int = 1,
                  noise_seed: int = 0, noise_scale: float = 1.0, noise_memory_days: float = 0.0) -> np.ndarray:
    """Manual rollout with plain onnxruntime calls: ``[M, n_steps, C, H, W]`` (torch-free);
    a stochastic bundle gets :func:`reference_noise` (``noise_seed``, start ``ic_times[-1]``,
    ``noise_scale``), its mesh rows red with ``noise_memory_days`` (the rows before
    ``graph.n_mesh`` of a grid-noise model, else all: ``z_k = phi z_k-1 + sqrt(1 - phi^2) e_k``,
    ``phi = exp(-step / memory)``)."""
    import onnxruntime as ort

    from sowcast.data.forcings import compute_forcings

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(bundle.model_path()), so, providers=["CPUExecutionProvider"])
    window = members_window.copy()
    times = list(ic_times)
    m = window.shape[0]
    static = np.broadcast_to(bundle.static, (m, *bundle.static.shape)).astype(np.float32)
    nonneg = np.asarray(bundle.statistics["min"]) >= 0
    model = bundle.manifest["model"]
    rows = model["graph"]["n_mesh"] if (model.get("hyperparameters") or {}).get("grid_noise") else None
    phi = np.exp(-(pd.Timedelta(bundle.time_step) / pd.Timedelta("1D")) / noise_memory_days) if noise_memory_days else 0.0
    out, red = [], []
    for _ in range(n_steps):
        target = times[-1] + np.timedelta64(pd.Timedelta(bundle.time_step).value, "ns")
        f = compute_forcings(np.array(times + [target]), bundle.grid.lat, bundle.grid.lon, bundle.time_step)
        forcings = np.stack([f[n] for n in bundle.forcing_names], axis=1)
        forcings = np.broadcast_to(forcings, (m, *forcings.shape)).astype(np.float32)
        feeds = {"inputs": window, "forcings": forcings, "static": static}
        if bundle.noise is not None:
            shape = (bundle.noise["nodes"], bundle.noise["channels"])
            white = [reference_noise(noise_seed, ic_times[-1], g, len(out) + 1, shape) for g in range(m)]
            red = white if not out or not noise_memory_days else [
                np.float32(phi) * z + np.float32(np.sqrt(1 - phi ** 2)) * e for z, e in zip(red, white)]
            noise = np.stack(white)
            noise[:, :rows] = np.stack(red)[:, :rows]
            feeds["noise"] = noise * np.float32(noise_scale)
        (nxt,) = sess.run(["next_state"], feeds)
        nxt[:, nonneg] = np.maximum(nxt[:, nonneg], 0)
        out.append(nxt)
        window = np.concatenate([window[:, 1:], nxt[:, None]], axis=1)
        times = times[1:] + [target]
    return np.stack(out, axis=1)


def era5_like_netcdf(store, path, extra_var=True):
    """The store as ERA5 would give it: short names, descending lat, 0..360 lon, Pa levels,
    precipitation in metres labelled at the end of its period (one time more)."""
    with xr.open_zarr(store, consolidated=False, chunks=None) as ds:
        ds = ds.load()
    step = pd.Timedelta("1D")
    times = pd.DatetimeIndex(ds["time"].values)
    new_times = times.append(pd.DatetimeIndex([times[-1] + step]))
    t2m = np.concatenate([ds["2m_temperature"].values, ds["2m_temperature"].values[-1:] + 1.0])
    tp = np.concatenate([ds["total_precipitation"].values[:1], ds["total_precipitation"].values]) / 1000.0
    t = np.concatenate([ds["temperature"].values, ds["temperature"].values[-1:]])
    lon360 = np.mod(ds["lon"].values, 360.0)
    raw = xr.Dataset(
        {"t2m": (("time", "latitude", "longitude"), t2m, {"units": "K"}),
         "tp": (("time", "latitude", "longitude"), tp, {"units": "m"}),
         "t": (("time", "pressure_level", "latitude", "longitude"), t, {"units": "K"})},
        coords={"time": new_times, "latitude": ("latitude", ds["lat"].values, {"units": "degrees_north"}),
                "longitude": ("longitude", lon360, {"units": "degrees_east"}),
                "pressure_level": ("pressure_level", ds["level"].values * 100.0, {"units": "Pa"})},
    )
    if extra_var:
        raw["u10"] = raw["t2m"].copy(data=np.zeros_like(t2m)).assign_attrs(units="m s-1")
    raw = raw.sortby("latitude", ascending=False).sortby("longitude")
    raw.to_netcdf(path)
    return path, times


def one_line_error(fn, *needles: str) -> str:
    """Call ``fn``; it must raise a one-line SowcastError containing every needle."""
    with pytest.raises(SowcastError) as exc:
        fn()
    msg = str(exc.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, msg
    return msg


@contextlib.contextmanager
def power_cut_after_writing(lead_index: int):
    """Within: the forecast writes lead ``lead_index`` (0-based) and then dies ("power cut")."""
    from sowcast.forecast.output_writer import ZarrStepWriter

    original = ZarrStepWriter.write_step

    def cut(self, index, state):
        original(self, index, state)
        if index == lead_index:
            raise RuntimeError("power cut")

    ZarrStepWriter.write_step = cut
    try:
        yield
    finally:
        ZarrStepWriter.write_step = original
