"""The manifest of a new bundle (:class:`sowcast.bundle.manifest.Manifest`), from what the export
read, made and measured: model and graph, channels, grid, software, provenance of the
checkpoint, parity. The files' checksums are added last (:func:`bundle_writer.write_manifest`).

Torch-free: it takes the loaded model as an object and asks it for numbers.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from sowcast.bundle.manifest import (
    MODEL_DATA_FILE,
    MODEL_FILE,
    Channel,
    DroppedVariant,
    GraphEntry,
    GridEntry,
    Manifest,
    ModelEntry,
    NoiseInput,
    TensorSpec,
    Variant,
)

SOFTWARE = ("sowcast", "torch", "onnx", "onnxscript", "onnxruntime", "numpy", "xarray", "pandas", "netCDF4")
MODEL_UNITS = "physical in and out (normalisation inside the model)"


def software_versions() -> dict[str, str | None]:
    """Python's version and each of :data:`SOFTWARE`'s installed version (None: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def sowcast_version() -> str:
    import sowcast

    return str(getattr(sowcast, "__version__", "unknown"))


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second (``2026-03-01T06:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def validation_metrics(run_dir: Any, step: int) -> dict[str, Any] | None:
    """The validation rows of ``metrics.csv`` at ``step``: ``{metric: value | {lead: {channel: value}}}``."""
    if not run_dir:
        return None
    try:
        from sowcast.train.metrics_log import read_metrics

        rows = [r for r in read_metrics(Path(str(run_dir)) / "metrics.csv")
                if r.get("split") == "val" and str(r.get("step")) == str(step)]
    except Exception:  # noqa: BLE001 - provenance is best effort
        return None
    out: dict[str, Any] = {}
    for r in rows:
        try:
            value = float(r["value"])
        except (TypeError, ValueError):
            continue
        if not r.get("lead") and not r.get("channel"):
            out[r["metric"]] = value
        else:
            out.setdefault(r["metric"], {}).setdefault(str(r.get("lead") or ""), {})[r.get("channel") or ""] = value
    return out or None


def provenance(payload: Mapping[str, Any], store_path: Path | None) -> dict[str, Any]:
    """Which training run, checkpoint, data and validation scores the model comes from."""
    from sowcast.export.onnx_export import config_digest

    config = payload.get("config") or {}
    train_cfg = config.get("train") or {}
    return {
        "checkpoint": str(Path(str(payload.get("path", ""))).resolve()) if payload.get("path") else None,
        "step": payload.get("step"), "epoch": payload.get("epoch"),
        "run_dir": train_cfg.get("run_dir"),
        "data_store": str(store_path.resolve()) if store_path is not None else (config.get("data") or {}).get("store"),
        "train_range": train_cfg.get("train_range"),
        "validation_range": train_cfg.get("validation_range"),
        "val_loss": payload.get("val_loss"), "best_val_loss": payload.get("best_val_loss"),
        "validation": validation_metrics(train_cfg.get("run_dir"), payload.get("step")),
        "model_name": (config.get("model") or {}).get("name"),
        "param_digest": (payload.get("param_digests") or [None])[0],
        "config_digest": config_digest(config),
        "world_size": payload.get("world_size"),
    }


def graph_entry(loaded: Any, kind: str) -> GraphEntry:
    """``model.graph`` of the loaded model (:class:`sowcast.export.onnx_export.LoadedModel`)."""
    from sowcast.graph.build import normalize_settings

    config = loaded.payload.get("config") or {}
    return GraphEntry(kind=kind, n_grid=int(loaded.graph.n_grid), n_mesh=int(loaded.graph.n_mesh),
                      mesh_level=int((config.get("model") or {}).get("mesh_level")),
                      settings=normalize_settings({k: v for k, v in (config.get("graph") or {}).items()}),
                      cache_key=loaded.graph_key, digest=loaded.graph_digest)


def model_entry(loaded: Any, onnx_info: Mapping[str, Any], external: bool, noise_shape: tuple[int, int] | None,
                kind: str, timing: Mapping[str, Any], variants: Sequence[Variant],
                dropped: Sequence[DroppedVariant]) -> ModelEntry:
    """``model``: the ONNX file as :func:`onnx_export.check_onnx` read it (``onnx_info``),
    weights beside it when ``external``, the noise input of a stochastic model, the graph."""
    return ModelEntry(
        file=MODEL_FILE, data_file=MODEL_DATA_FILE if external else None,
        inputs=tuple(TensorSpec.from_json(v, f"model.inputs[{i}]") for i, v in enumerate(onnx_info["inputs"])),
        outputs=tuple(TensorSpec.from_json(v, f"model.outputs[{i}]") for i, v in enumerate(onnx_info["outputs"])),
        noise=NoiseInput(nodes=int(noise_shape[0]), channels=int(noise_shape[1])) if noise_shape is not None else None,
        units=MODEL_UNITS, opset=onnx_info["opset"], n_parameters=int(loaded.model.count_parameters()),
        hyperparameters=loaded.model.hyperparameters(), graph=graph_entry(loaded, kind),
        ms_per_batch=dict(timing), variants=tuple(variants), dropped_variants=tuple(dropped))


def bundle_manifest(model: ModelEntry, channels: Sequence[str], forcing_names: Sequence[str],
                    static_names: Sequence[str], n_input_steps: int, time_step: str, lat: Sequence[float],
                    lon: Sequence[float], kind: str, precipitation_accumulation: str,
                    provenance_record: Mapping[str, Any], parity: Mapping[str, Any]) -> Manifest:
    """The manifest of a new bundle, without ``files`` (:meth:`Manifest.with_files` adds them)."""
    return Manifest(
        created=utc_now(), sowcast_version=sowcast_version(), software=software_versions(), model=model,
        channels=tuple(Channel.of(c) for c in channels), forcing_names=tuple(forcing_names),
        static_names=tuple(static_names), n_input_steps=n_input_steps, time_step=time_step,
        grid=GridEntry(tuple(float(x) for x in lat), tuple(float(x) for x in lon), kind),
        precipitation_accumulation=precipitation_accumulation, provenance=dict(provenance_record),
        parity=dict(parity))
