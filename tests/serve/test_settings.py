"""``serve.forecast`` is ``forecast.*`` restricted to the keys the service passes on: its
defaults, docs and bounds are ForecastOptions' own (written once, in sowcast/forecast/options.py),
and a value the forecast refuses is refused at the service's start in one line naming the key."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from sowcast.cli.main import main
from sowcast.errors import SowcastError
from sowcast.forecast.options import ForecastOptions
from sowcast.options import as_plain, defaults, describe
from sowcast.serve.settings import FORECAST_KEYS, ForecastStep, ServeSettings


def test_the_forecast_step_is_forecast_options_restricted_to_its_keys():
    step = {f.name: f for f in dataclasses.fields(ForecastStep)}
    full = {f.name: f for f in dataclasses.fields(ForecastOptions)}
    assert tuple(step) == FORECAST_KEYS
    assert {k: as_plain(v) for k, v in defaults(ForecastStep).items()} == \
        {k: as_plain(defaults(ForecastOptions)[k]) for k in FORECAST_KEYS}
    assert as_plain(ServeSettings().forecast) == {"members": 16, "lead": "46D", "threads": 2, "checkpoint_every": 5,
                                                  "trusted_keys": []}
    hints, full_hints = typing.get_type_hints(ForecastStep), typing.get_type_hints(ForecastOptions)
    for k in FORECAST_KEYS:
        assert step[k].metadata == full[k].metadata and hints[k] == full_hints[k], k
    help_text = describe(ServeSettings, "serve", ("forecast",))
    assert "checkpoint_every: 5" in help_text and "<whole number >= 1>" in help_text


@pytest.mark.parametrize("forecast, message", [
    ({"checkpoint_every": 0}, "serve.forecast.checkpoint_every must be"),
    ({"members": 0}, "serve.forecast.members must be"),
    ({"lead": "soon"}, "serve.forecast.lead 'soon' is not a duration"),
    ({"lead": "-2D"}, "serve.forecast.lead must be positive"),
    ({"batch": 2}, "unknown option serve.forecast.batch"),
])
def test_a_value_the_forecast_refuses_is_refused_naming_the_key(tmp_path, forecast, message):
    with pytest.raises(SowcastError, match=f"^{message}") as caught:
        ServeSettings.from_config({"bundle": str(tmp_path), "locations": None, "forecast": forecast})
    assert "\n" not in str(caught.value)


def test_the_given_keys_alone_are_passed_on(tmp_path):
    settings = ServeSettings.from_config({"bundle": str(tmp_path), "locations": None,
                                          "forecast": {"members": "8", "checkpoint_every": 1, "trusted_keys": None}})
    assert settings.forecast == {"members": 8, "checkpoint_every": 1, "trusted_keys": []}


def test_the_command_stops_at_start_in_one_line(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    capfd.readouterr()
    assert main(["serve", "progress=false", f"serve.root={tmp_path / 'root'}", f"serve.bundle={tmp_path}",
                 "serve.locations=null", "serve.forecast.checkpoint_every=0"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sowcast: error: serve.forecast.checkpoint_every must be")
    assert not (tmp_path / "root").exists()
