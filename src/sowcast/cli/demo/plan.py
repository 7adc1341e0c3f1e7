"""The demo's calendar: which years train the model and which are held out, from the
synthetic period (``data.synth.start`` .. ``data.synth.end``) and the ``demo:`` block.

    training years    start .. end - held_out_years   (statistics, training)
    climatology       the last climatology_years training years  (hindcasts -> climatology.nc)
    held-out years    the last held_out_years years     (validation, the forecast, reforecasts)
    forecast          forecast_day of the first held-out year
    reforecasts       the first reforecast_years held-out years  (scored by 'sowcast verify')

So the forecast, the validation and the scorecard are on years the model never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from omegaconf import DictConfig

from sowcast.config_values import whole
from sowcast.errors import SowcastError


@dataclass(frozen=True)
class Plan:
    start: pd.Timestamp
    end: pd.Timestamp
    train_years: tuple[int, int]
    climatology_years: tuple[int, int]
    held_out_years: tuple[int, int]
    reforecast_years: tuple[int, int]
    forecast_init: pd.Timestamp

    @property
    def train_range(self) -> list[str]:
        return [f"{self.start:%Y-%m-%d}", f"{self.train_years[1]}-12-31"]

    @property
    def validation_range(self) -> list[str]:
        return [f"{self.held_out_years[0]}-01-01", f"{self.end:%Y-%m-%d}"]


def _count(cfg: DictConfig, key: str, low: int) -> int:
    return whole(cfg.demo[key], f"demo.{key}", low)


def make_plan(cfg: DictConfig) -> Plan:
    """The years of the demo (module doc), or a one-line error when the period is too short."""
    try:
        start, end = pd.Timestamp(str(cfg.data.synth.start)), pd.Timestamp(str(cfg.data.synth.end))
    except ValueError as exc:
        raise SowcastError(f"data.synth.start/end must be dates: {exc}") from None
    held = _count(cfg, "held_out_years", 1)
    n_clim = _count(cfg, "climatology_years", 1)
    n_ref = _count(cfg, "reforecast_years", 1)
    last_train = end.year - held
    if last_train < start.year or pd.Timestamp(f"{last_train}-12-31") - start < pd.Timedelta(days=364):
        raise SowcastError(f"the synthetic period {start:%Y-%m-%d} .. {end:%Y-%m-%d} leaves no full training year "
                           f"before the {held} held-out year(s) (demo.held_out_years)")
    first_held = last_train + 1
    if n_ref > held:
        raise SowcastError(f"demo.reforecast_years={n_ref} is more than the {held} held-out year(s)")
    try:
        init = pd.Timestamp(f"{first_held}-{cfg.demo.forecast_day}")
    except ValueError:
        raise SowcastError(f"demo.forecast_day must be MM-DD, not {cfg.demo.forecast_day!r}") from None
    if not start <= init <= end:
        raise SowcastError(f"the forecast date {init:%Y-%m-%d} lies outside the synthetic period")
    clim_first = max(start.year, last_train - n_clim + 1)
    return Plan(start=start, end=end, train_years=(start.year, last_train),
                climatology_years=(clim_first, last_train), held_out_years=(first_held, end.year),
                reforecast_years=(first_held, first_held + n_ref - 1), forecast_init=init)
