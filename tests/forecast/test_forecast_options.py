"""The forecast and hindcast options (sowcast.forecast.options, hindcast_options): one schema
each, defaults equal to the YAML, one-line errors naming the key, the recorded config as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sowcast.cli.main import main
from sowcast.errors import SowcastError
from sowcast.forecast.engine import ForecastOptions
from sowcast.forecast.hindcast import HindcastOptions
from sowcast.options import default_mismatches

CONF = Path(__file__).resolve().parents[2] / "src" / "sowcast" / "conf"
FORECAST = {"bundle": "b", "init": "i", "output": "fc.zarr"}
HINDCAST = {"bundle": "b", "store": "s", "output": "hc"}


def _yaml(group: str) -> dict:
    """The group's YAML as written."""
    return OmegaConf.to_container(OmegaConf.load(CONF / group / "default.yaml"), resolve=False)


@pytest.mark.parametrize("cls, group", [(ForecastOptions, "forecast"), (HindcastOptions, "hindcast")])
def test_yaml_defaults_equal_the_options_class(cls, group):
    assert default_mismatches(cls, _yaml(group), group) == {}
    assert _yaml(group)["perturbation"]["variable_scale"] == {"total_precipitation": 8.0}  # the tuned rain


def test_rain_is_perturbed_at_its_tuned_scale_by_the_command_and_by_a_library_call(capfd):
    """One default: the shipped conf as composed and a library call without variable_scale
    perturb rain at 8.0 x diff_std and the rest at 0.5; a model without rain runs on that
    default without a warning; a name the user sets that the model lacks is still warned of."""
    from sowcast.config_tree import compose
    from sowcast.forecast.ensemble import Perturbation

    cfg = OmegaConf.to_container(compose([]), resolve=True)
    shipped = ForecastOptions.from_config({**cfg["forecast"], **FORECAST}).perturbation
    hindcast = HindcastOptions.from_config({**cfg["hindcast"], **HINDCAST}).perturbation
    library = ForecastOptions.from_config(FORECAST).perturbation
    assert shipped == hindcast == library == Perturbation()
    scales = library.channel_scales(["2m_temperature", "total_precipitation", "geopotential"], 3)
    assert scales.tolist() == [0.5, 8.0, 0.5]
    capfd.readouterr()
    assert library.channel_scales(["2m_temperature", "geopotential"], 2).tolist() == [0.5, 0.5]
    assert capfd.readouterr().err == ""
    misspelt = Perturbation.from_config({"variable_scale": {"total_precip": 4.0}})
    assert misspelt.channel_scales(["2m_temperature"], 1).tolist() == [0.5]
    assert "variable_scale names total_precip, which the model does not have" in capfd.readouterr().err
    none = Perturbation.from_config({"scale": 0, "variable_scale": {}})
    assert not none.active() and Perturbation.from_config({"scale": 0}).active()  # rain keeps its default


def test_recorded_config_keeps_its_shape():
    """as_config feeds the forecast's fingerprint and provenance: the same keys and values as
    before the schema (lead as ISO 8601, lagged as {n, spacing}, variable_scale sorted)."""
    o = ForecastOptions.from_config({**FORECAST, "init_time": "2020-05-15", "lead": "240h", "batch": "all",
                                     "lagged": {"n": 2, "spacing": 3}, "spinning": "yes",
                                     "perturbation": {"scale": 0, "variable_scale": {"b": 1, "a": 2}}})
    assert o.as_config() == {
        "bundle": "b", "init": "i", "output": "fc.zarr", "init_time": "2020-05-15", "lead": "P10D",
        "members": 16, "perturbation": {"scale": 0.0, "length_scale": 3.0, "seed": 0,
                                        "variable_scale": {"a": 2.0, "b": 1.0}},
        "noise_seed": 0, "noise_scale": 1.3, "noise_memory_days": 1.0, "lagged": {"n": 2, "spacing": 3}, "threads": 2, "inter_op_threads": 1, "spinning": True,
        "parallel": "members", "batch": None, "checkpoint_every": 5, "precision": "fp32"}
    assert list(o.as_config()["perturbation"]["variable_scale"]) == ["a", "b"]
    h = HindcastOptions.from_config({**HINDCAST, "years": 2001, "lead": "10D", "variables": "2m_temperature"})
    assert h.years == (2001, 2001) and h.variables == ("2m_temperature",) and h.lead_time.days == 10
    assert h.as_config("sha", (2001, 2001))["lead"] == "P10D"
    # the noise scale identifies a stochastic model's hindcasts; at 1 the fingerprint is as before the option
    assert h.as_config("sha", (2001, 2001), stochastic=True)["noise_scale"] == 1.3
    plain = HindcastOptions.from_config({**HINDCAST, "noise_scale": 1})
    assert "noise_scale" not in plain.as_config("sha", (2001, 2001), stochastic=True)
    assert "noise_scale" not in h.as_config("sha", (2001, 2001))
    # so does the noise memory; white noise (0) keeps the fingerprint of hindcasts from before the option
    assert h.as_config("sha", (2001, 2001), stochastic=True)["noise_memory_days"] == 1.0
    white = HindcastOptions.from_config({**HINDCAST, "noise_memory_days": 0})
    assert "noise_memory_days" not in white.as_config("sha", (2001, 2001), stochastic=True)
    assert "noise_memory_days" not in h.as_config("sha", (2001, 2001))


@pytest.mark.parametrize("change, message", [
    ({"bundle": None}, "forecast.bundle is not set: give the bundle folder or .tar.gz archive"),
    ({"init": "null"}, "forecast.init is not set: give a canonical store or a netCDF/GRIB analysis file"),
    ({"output": None}, "forecast.output is not set: give a .zarr or .nc path"),
    ({"output": "fc.grib"}, "forecast.output fc.grib must end in .zarr or .nc"),
    ({"lead": "soon"}, "forecast.lead 'soon' is not a duration such as 46D or 240h"),
    ({"lead": "-2D"}, "forecast.lead must be positive, not '-2D'"),
    ({"batch": 0}, "forecast.batch must be at least 1, not 0"),
    ({"lagged": {"n": 1, "every": 2}}, "unknown option forecast.lagged.every; known: n, spacing"),
    ({"lagged": {"spacing": 0}}, "forecast.lagged.spacing must be at least 1, not 0"),
    ({"spinning": "fast"}, "forecast.spinning must be true or false (or yes/no, on/off, 1/0), not 'fast'"),
    ({"perturbation": {"length_scale": -1}}, "forecast.perturbation.length_scale must be at least 0, not -1"),
    ({"trusted_keys": {"a": 1}}, "forecast.trusted_keys must be a list of public key files (.pub), not {'a': 1}"),
    ({"noise_scale": 0}, "forecast.noise_scale must be > 0 (1: the noise the model was trained with), not 0"),
    ({"noise_scale": "wide"}, "forecast.noise_scale must be a number, not 'wide'"),
    ({"noise_memory_days": -1}, "forecast.noise_memory_days must be a finite number of days >= 0 (0: white noise), "
                                "not -1"),
    ({"noise_memory_days": "inf"}, "forecast.noise_memory_days must be a number, not 'inf'"),
])
def test_bad_forecast_options_are_one_line_errors_naming_the_key(change, message):
    with pytest.raises(SowcastError) as exc:
        ForecastOptions.from_config({**FORECAST, **change})
    assert str(exc.value) == message


@pytest.mark.parametrize("change, message", [
    ({"store": None}, "hindcast.store is not set: give the canonical store of analyses"),
    ({"years": [2001, "x"]}, "hindcast.years must be a whole number, not 'x'"),
    ({"years": [1, 2, 3]}, "hindcast.years must be [first, last] years, not [1, 2, 3]"),
    ({"last": "02-29"}, "hindcast.last must be a day of the year as MM-DD, not '02-29'"),
    ({"lead": "0D"}, "hindcast.lead must be positive, not '0D'"),
    ({"shard": "2/2"}, "hindcast.shard 2/2: i must be 0..1 (shards are counted from 0)"),
    ({"shard": "0/2", "merge": "yes"}, "hindcast.merge=true gathers all the shards: leave hindcast.shard unset for it"),
    ({"perturbation": {"scale": -1}}, "hindcast.perturbation.scale must be >= 0, not -1"),
    ({"climatology": {"window_days": -1}}, "hindcast.climatology.window_days must be at least 0, not -1"),
    ({"climatology": {"build": "perhaps"}},
     "hindcast.climatology.build must be true or false (or yes/no, on/off, 1/0), not 'perhaps'"),
    ({"climatology": {"window": 15}}, "unknown option hindcast.climatology.window; known: build, window_days, "
                                      "add_to_bundle"),
    ({"parallel": "fast"}, "hindcast.parallel must be one of members, intra_op, not 'fast'"),
])
def test_bad_hindcast_options_are_one_line_errors_naming_the_key(change, message):
    with pytest.raises(SowcastError) as exc:
        HindcastOptions.from_config({**HINDCAST, **change})
    assert str(exc.value) == message


def test_hindcast_command_refuses_a_bad_climatology_key_before_writing(capsys, tmp_path):
    out = tmp_path / "hc"
    assert main(["hindcast", f"hindcast.output={out}", "+hindcast.climatology.window=3", "progress=false"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sowcast: error: unknown option hindcast.climatology.window; known: build,")
    assert not out.exists() and not list(tmp_path.iterdir())
