"""The ``data.ingest:`` config as IngestOptions: the YAML's defaults are the class's, values are
coerced as the command line gives them, a bad value is one line naming ``data.ingest.<key>``
and writes nothing, ``sowcast data ingest --help`` describes the schema, and ``run(options)``
writes the store the old mapping entry writes."""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from omegaconf import OmegaConf

from sowcast.cli.main import main
from sowcast.data.ingest import IngestResult, ingest, run
from sowcast.data.ingest_options import IngestOptions
from sowcast.data.regrid import METHODS
from sowcast.errors import SowcastError
from sowcast.options import default_mismatches

CONF = Path(__file__).resolve().parents[2] / "src" / "sowcast" / "conf"


def _field(path: Path) -> Path:
    times = pd.date_range("2020-01-01", periods=8, freq="6h")
    data = 290.0 + np.arange(8 * 3 * 4, dtype=float).reshape(8, 3, 4) * 0.01
    xr.Dataset({"t2m": (("time", "latitude", "longitude"), data, {"units": "K"})},
               coords={"time": times, "latitude": [0.0, 1.0, 2.0], "longitude": [10.0, 11.0, 12.0, 13.0]}
               ).to_netcdf(path)
    return path


def test_yaml_defaults_equal_the_options_class():
    """Every key but ``sources``, which has no default (the preset names them), and
    ``accumulation``, which the demo's YAML leaves out (its stamps would change)."""
    section = OmegaConf.to_container(OmegaConf.load(CONF / "data" / "demo.yaml"), resolve=False)["ingest"]
    mismatches = default_mismatches(IngestOptions, section, "data.ingest")
    assert mismatches.pop("data.ingest.sources")[0] == section["sources"]
    assert mismatches == {"data.ingest.accumulation": ("(absent)", "auto")}


def test_regrid_methods_are_the_regridders():
    assert typing.get_args(typing.get_type_hints(IngestOptions)["regrid_method"]) == METHODS


def test_values_are_coerced_as_the_command_line_gives_them():
    o = IngestOptions.from_config({"sources": "a.nc", "variables": "2m_temperature", "time_step": "6h",
                                   "level": 850, "resample": "INSTANT", "time_range": ["2020", None],
                                   "statistics_period": [1991, 2000], "chunks": {"time": "4"}})
    assert o.sources == ("a.nc",) and o.variables == ("2m_temperature",) and o.time_step == pd.Timedelta("6h")
    assert o.level == [850.0] and o.resample == "instant" and o.time_range == ["2020", None]
    assert o.statistics_period == ("1991", "2000") and o.chunks == {"time": 4} and o.time_chunk == 4
    empty = IngestOptions.from_config({"sources": ["a.nc"], "variables": [], "level": [], "time_range": [],
                                       "time_step": None, "stations": ""})
    assert empty.variables is None and empty.level is None and empty.time_range is None
    assert empty.time_step is None and empty.stations is None and empty.target_grid is None
    grid = IngestOptions.from_config({"sources": ["a.nc"], "grid": {"global": True, "resolution": 30}}).target_grid
    assert grid.shape == (7, 12)


@pytest.mark.parametrize("values, message", [
    ({"sources": []}, "data.ingest.sources is empty: give files, globs, folders or URLs"),
    ({"sources": None}, "data.ingest.sources must be set, not null"),
    ({"varaibles": ["2m_temperature"]}, "unknown ingest option(s) data.ingest.varaibles; known: sources,"),
    ({"resample": "first"}, "data.ingest.resample must be mean or instant, not 'first'"),
    ({"time_step": "often"}, "data.ingest.time_step 'often' is not a duration such as 1D or 6h"),
    ({"time_step": "-6h"}, "data.ingest.time_step must be positive, not '-6h'"),
    ({"variables": ["t2m"]}, "data.ingest.variables names 't2m', not canonical variable(s); known:"),
    ({"chunks": {"tmie": 8}}, "data.ingest.chunks must map dims (time, member, level, lat, lon, station)"),
    ({"chunks": {"time": 0}}, "data.ingest.chunks.time must be at least 1, not 0"),
    ({"level": ["abc"]}, "data.ingest.level[0] must be a number, not 'abc'"),
    ({"statistics_period": ["1991"]}, "data.ingest.statistics_period must be a list of 2 values"),
    ({"regrid_method": "cubic"}, "data.ingest.regrid_method must be one of conservative, linear, nearest"),
    ({"accumulation": "ending"}, "data.ingest.accumulation must be one of auto, period_beginning, period_ending"),
    ({"grid": {"lat_min": 0}}, "data.ingest.grid lacks 'lat_max'"),
])
def test_a_bad_value_is_one_line_naming_the_key(values, message):
    with pytest.raises(SowcastError) as info:
        IngestOptions.from_config({"sources": ["a.nc"], **values})
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    with pytest.raises(SowcastError, match="^data.ingest.sources is not set$"):
        IngestOptions.from_config({"variables": ["2m_temperature"]})


def test_run_writes_the_store_the_mapping_entry_writes(tmp_path):
    source = _field(tmp_path / "t.nc")
    options = IngestOptions.from_config({"sources": [str(source)], "time_step": "12h"})
    result = run(options, tmp_path / "typed.zarr", progress=False)
    assert result == IngestResult(store=tmp_path / "typed.zarr", sources=1, points=False)
    path = ingest({"sources": [str(source)], "time_step": "12h"}, tmp_path / "mapping.zarr", progress=False)
    typed, mapping = (xr.open_zarr(p, consolidated=False) for p in (result.store, path))
    assert typed.sizes["time"] == 4 and typed["2m_temperature"].dtype == np.float32
    xr.testing.assert_identical(typed.drop_attrs(deep=False), mapping.drop_attrs(deep=False))


def test_cli_bad_option_is_one_line_and_writes_nothing(tmp_path, capfd):
    source, store = _field(tmp_path / "t.nc"), tmp_path / "store.zarr"
    assert main(["data", "ingest", f"data.ingest.sources=[{source}]", f"data.store={store}", "progress=false",
                 "data.ingest.time_step=often"]) == 2
    assert capfd.readouterr().err.strip().splitlines() == [
        "sowcast: error: data.ingest.time_step 'often' is not a duration such as 1D or 6h"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.nc"]


def test_help_describes_the_schema(capsys):
    assert main(["data", "ingest", "data.ingest.time_step=1D", "--help"]) == 0
    out = capsys.readouterr().out
    assert "\ndata.ingest:\n  sources: (required) " in out and "\n  chunks: {time: 8} " in out
    changed = out.split("set otherwise in this config")[1]
    assert "  data.ingest.sources: [data/demo/raw/*.nc]" in changed
    assert "  data.ingest.time_step: 1 days" in changed
    assert "data.store: data/demo/demo.zarr" in out and "\ncluster:\n" in out
    assert "\nloader:" not in out and "n_input_steps" not in out   # the schema, not the data YAML
