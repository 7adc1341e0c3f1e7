"""The products warn when a stochastic forecast's model noise scale or memory differs from that of the
hindcasts behind its model climatology (sowcast.products.stage)."""

from __future__ import annotations

import xarray as xr

from sowcast.products.stage import _check_noise_scale

STOCHASTIC = {"model_noise": "stochastic model: standard normal noise ..."}


def _clim(**attrs) -> xr.Dataset:
    return xr.Dataset(attrs=attrs)


def test_a_forecast_wider_than_its_climatology_is_named(capfd):
    _check_noise_scale({**STOCHASTIC, "noise_scale": 1.3}, _clim())       # a climatology from before: x 1
    err = capfd.readouterr().err
    assert "warning: the forecast's model noise is x 1.3 but the climatology's hindcasts had x 1" in err
    assert "hindcast.noise_scale=1.3" in err and err.count("\n") == 1


def test_a_forecast_of_other_noise_memory_is_named(capfd):
    _check_noise_scale({**STOCHASTIC, "noise_memory_days": 3.0}, _clim())  # a climatology of white noise
    err = capfd.readouterr().err
    assert "noise is 3 days' memory but the climatology's hindcasts had 0 days' memory" in err
    assert "hindcast.noise_memory_days=3" in err and err.count("\n") == 1


def test_matching_or_deterministic_forecasts_say_nothing(capfd):
    _check_noise_scale({**STOCHASTIC, "noise_scale": 1.3}, _clim(hindcast_noise_scale=1.3))
    _check_noise_scale(dict(STOCHASTIC), _clim())                          # both from before the option
    _check_noise_scale({}, _clim(hindcast_noise_scale=1.3))                # a deterministic forecast
    _check_noise_scale({**STOCHASTIC, "noise_memory_days": 3.0}, _clim(hindcast_noise_memory_days=3.0))
    _check_noise_scale({**STOCHASTIC, "noise_scale": 1.3}, None)           # no climatology: its own warning
    assert capfd.readouterr().err == ""
