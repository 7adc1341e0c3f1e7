"""How uncertain is a percentage counted from a few ensemble members?

A chance such as "62 % of the members have the rains started by week 1" is a binomial
proportion from ``n`` members. Its sampling range is the Wilson score interval (Wilson 1927,
JASA 22(158); recommended over the textbook normal interval for small n by Brown, Cai and
DasGupta 2001, Statistical Science 16(2)):

    centre = (p + z^2 / 2n) / (1 + z^2 / n)
    half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)

with z = 1.645 (a 90 % interval). From 8 members a 62 % chance lies between about 34 % and
84 %; from 32 between about 48 % and 75 %. Where the interval holds the threshold the advice
turns on (:func:`decision_threshold`), another run of the same forecast may well give the
other advice (``benchmarks/advice_flip.py`` measures how often it does).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sowcast.products.planting import PlantingThresholds

Z90 = 1.6448536269514722  # standard normal quantile 0.95: a two-sided 90 % interval


def wilson_interval(p: float, n: int, z: float = Z90) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``p`` observed in ``n`` trials; (nan, nan)
    when ``p`` is missing or ``n`` < 1."""
    try:
        p, n = float(p), int(n)
    except (TypeError, ValueError):
        return math.nan, math.nan
    if math.isnan(p) or n < 1:
        return math.nan, math.nan
    p = min(max(p, 0.0), 1.0)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def decision_threshold(code: str, week: int, thresholds: PlantingThresholds) -> float | None:
    """The probability at which the advice ``code`` (``sowcast.products.planting``) would
    change, in terms of the probability it states; None where it states none that members
    decide (no data, or an onset already seen in the observations)."""
    if code in ("plant_now", "buy_seed_now", "wait"):
        return None if code == "plant_now" and int(week) == 0 else float(thresholds.onset_probability)
    if code == "wait_false_start_risk":
        return float(thresholds.false_start_max)
    if code in ("wait_dry_spell_risk", "season_started_dry_spell_risk"):
        return float(thresholds.dry_spell_max)
    if code == "no_onset_expected":       # "no onset" while 1 - p < no_onset_max
        return 1.0 - float(thresholds.no_onset_max)
    return None
