"""Category and event probabilities: terciles, RPS, Brier score, reliability and ROC.

Tercile probabilities live on the dimension ``category`` = ``below``, ``near``, ``above``
(in that order). A tercile boundary value belongs to the middle category: ``x < lower`` is
below, ``x > upper`` is above and ``lower <= x <= upper`` is near, for forecast members and
observations alike. (With many dry days the lower tercile of rain can be 0 mm; a dry day is
then "near", never "below".) Events are 0/1 (or booleans) and probabilities lie in [0, 1].

Scores with ``dims=None`` are returned per point; otherwise averaged over ``dims`` with
:func:`sowcast.verify.weights.weighted_mean` (area weighted if ``lat`` is among them, NaN
points skipped). A forecast/observation pair counts only where both are finite. Sources:
Wilks, Statistical Methods in the Atmospheric Sciences (3rd ed. 2011, sections 8.4-8.5);
Ferro 2014 QJRMS (fair scores); Weigel et al. 2007 MWR (RPSS for small ensembles).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.verify.weights import (
    Dims,
    aligned,
    as_dims,
    as_float,
    paired,
    weighted_mean,
)

CATEGORIES = ("below", "near", "above")


# ---------------------------------------------------------------- terciles
def _classify(x: xr.DataArray, lower, upper) -> tuple[xr.DataArray, ...]:
    """Booleans (below, near, above) and where ``x`` and both boundaries are finite."""
    x, lower, upper = aligned(*(as_float(v) for v in (x, lower, upper)))
    if bool((lower > upper).any()):
        raise SowcastError("the lower tercile boundary exceeds the upper one somewhere")
    valid = np.isfinite(x) & np.isfinite(lower) & np.isfinite(upper)
    below, above = x < lower, x > upper
    return below, ~below & ~above, above, valid


def _on_category(parts: Sequence[xr.DataArray]) -> xr.DataArray:
    out = xr.concat(parts, dim=pd.Index(list(CATEGORIES), name="category"), coords="minimal")
    return out.transpose(..., "category")


def tercile_probabilities(ensemble: xr.DataArray, lower, upper, member_dim: str = "member",
                          skipna: bool = False) -> xr.DataArray:
    """Fractions of members below ``lower``, between (boundaries included) and above ``upper``.

    Returns the ensemble's dims without ``member_dim``, plus ``category``. A point with any
    missing member is NaN; ``skipna=True`` counts the finite members instead.
    """
    if member_dim not in ensemble.dims:
        raise SowcastError(f"the ensemble has no dimension {member_dim!r} (it has {list(ensemble.dims)})")
    *categories, valid = _classify(ensemble, lower, upper)
    if skipna:
        count = valid.sum(member_dim)
        parts = [(c & valid).sum(member_dim) / count.where(count > 0) for c in categories]
    else:
        ok = valid.all(member_dim)
        parts = [c.mean(member_dim).where(ok) for c in categories]
    return _on_category(parts)


def observed_category(truth: xr.DataArray, lower, upper) -> xr.DataArray:
    """The observed tercile as one-hot floats on ``category`` (NaN where truth is missing)."""
    *categories, valid = _classify(truth, lower, upper)
    return _on_category([c.astype(float).where(valid) for c in categories])


# ---------------------------------------------------------------- RPS
def _ordered(p: xr.DataArray, category_dim: str) -> xr.DataArray:
    if category_dim not in p.dims:
        raise SowcastError(f"expected a {category_dim!r} dimension, got {list(p.dims)}")
    if category_dim in p.coords and set(p[category_dim].values.tolist()) == set(CATEGORIES):
        p = p.sel({category_dim: list(CATEGORIES)})
    return p


def _cumulative_pairs(prob, obs, category_dim):
    prob, obs = aligned(as_float(_ordered(prob, category_dim)), as_float(_ordered(obs, category_dim)))
    total = prob.sum(category_dim, skipna=False)
    if bool((abs(total - 1) > 1e-6).any()):
        raise SowcastError("category probabilities must add up to 1 at every point")
    # The last cumulative value is 1 for both, so the sum runs over the first K - 1.
    last = {category_dim: slice(None, -1)}
    return prob.cumsum(category_dim).isel(last), obs.cumsum(category_dim).isel(last)


def rps(prob: xr.DataArray, obs_onehot: xr.DataArray, dims: Dims = None,
        category_dim: str = "category") -> xr.DataArray:
    """Ranked probability score ``RPS = sum_{k<K} (P_k - O_k)^2`` (Wilks 2011 eq. 8.52).

    ``P_k``, ``O_k`` are cumulative forecast and observed probabilities over the ordered
    categories; not divided by ``K - 1``. 0 for a perfect forecast; equal odds score 5/9
    when the outcome is an outer tercile and 2/9 when it is the middle one.
    """
    cp, co = _cumulative_pairs(prob, obs_onehot, category_dim)
    score = ((cp - co) ** 2).sum(category_dim, skipna=False)
    return score if dims is None else weighted_mean(score, dims)


def _check_members(n_members) -> xr.DataArray:
    n = as_float(n_members)
    if bool((n < 2).any()) or not bool(np.isfinite(n).all()):
        raise SowcastError("fair scores need an ensemble of at least 2 members")
    return n


def fair_rps(prob: xr.DataArray, obs_onehot: xr.DataArray, n_members, dims: Dims = None,
             category_dim: str = "category") -> xr.DataArray:
    """Fair RPS of an ``M``-member ensemble (Ferro 2014 QJRMS; Ferro et al. 2008)::

        fair RPS = sum_{k<K} [ (P_k - O_k)^2 - P_k (1 - P_k) / (M - 1) ]

    ``prob`` are member fractions (:func:`tercile_probabilities`), ``P_k`` their cumulative
    sums; the subtracted term removes the expected penalty of sampling only ``M`` members.
    ``n_members`` is ``M`` (a number, or an array of them); ``M < 2`` is an error.
    """
    m = _check_members(n_members)
    cp, co = _cumulative_pairs(prob, obs_onehot, category_dim)
    score = ((cp - co) ** 2 - cp * (1 - cp) / (m - 1)).sum(category_dim, skipna=False)
    return score if dims is None else weighted_mean(score, dims)


# ---------------------------------------------------------------- skill scores
def skill_score(score: xr.DataArray, reference_score: xr.DataArray, dims: Dims = None,
                correction: float = 0.0) -> xr.DataArray:
    """``1 - mean(score) / (mean(reference) + correction)`` for scores with perfect value 0.

    Means over ``dims`` (all if None) on the points where both scores are finite. 1 is
    perfect, 0 no better than the reference, negative worse; NaN if the reference is perfect.
    """
    s, r = paired(score, reference_score)
    ref = weighted_mean(r, as_dims(s, dims)) + correction
    return 1 - weighted_mean(s, as_dims(s, dims)) / ref.where(ref != 0)


def weigel_correction(n_members: int, n_categories: int = 3) -> float:
    """Weigel et al. (2007 MWR) term ``D = (K^2 - 1) / (6 K M)`` for equiprobable categories.

    ``D = (1/M) sum_{k<K} P_k (1 - P_k)`` with climatological ``P_k = k/K`` is the extra RPS of
    an ``M``-member climatological ensemble; ``rpss(plain RPS, climatology RPS, correction=D)``
    is the debiased RPSS_D (e.g. 4/(9M) for terciles). With :func:`fair_rps` it is not needed.
    """
    if n_members < 1 or n_categories < 2:
        raise SowcastError("the Weigel correction needs at least 1 member and 2 categories")
    return (n_categories**2 - 1) / (6 * n_categories * n_members)


def rpss(score: xr.DataArray, reference_score: xr.DataArray, dims: Dims = None,
         correction: float = 0.0) -> xr.DataArray:
    """Ranked probability skill score ``1 - mean(RPS) / mean(RPS_ref)`` (Wilks 2011 eq. 8.53);
    ``correction``: :func:`weigel_correction` for RPSS_D."""
    return skill_score(score, reference_score, dims, correction)


def brier_skill_score(score: xr.DataArray, reference_score: xr.DataArray,
                      dims: Dims = None) -> xr.DataArray:
    """Brier skill score ``1 - mean(BS) / mean(BS_ref)`` (Wilks 2011 eq. 8.37): 1 if perfect."""
    return skill_score(score, reference_score, dims)


# ---------------------------------------------------------------- Brier score
def _prob_event(prob, event) -> tuple[xr.DataArray, xr.DataArray]:
    p, o = paired(prob, event)
    if bool(((p < 0) | (p > 1)).any()):
        raise SowcastError("probabilities must lie within [0, 1]")
    if bool(((o != 0) & (o != 1) & o.notnull()).any()):
        raise SowcastError("events must be 0 or 1 (or booleans)")
    return p, o


def brier_score(prob: xr.DataArray, event: xr.DataArray, dims: Dims = None) -> xr.DataArray:
    """Brier score ``BS = mean((p - o)^2)`` with ``o`` = 1 if the event happened, else 0
    (Brier 1950; Wilks 2011 eq. 8.36)."""
    p, o = _prob_event(prob, event)
    score = (p - o) ** 2
    return score if dims is None else weighted_mean(score, dims)


def fair_brier_score(prob: xr.DataArray, event: xr.DataArray, n_members,
                     dims: Dims = None) -> xr.DataArray:
    """Fair Brier score ``(p - o)^2 - p (1 - p) / (M - 1)`` of an ``M``-member ensemble whose
    fraction ``p = i/M`` of members forecast the event (Ferro 2014 QJRMS); needs ``M >= 2``."""
    m = _check_members(n_members)
    p, o = _prob_event(prob, event)
    score = (p - o) ** 2 - p * (1 - p) / (m - 1)
    return score if dims is None else weighted_mean(score, dims)


# ---------------------------------------------------------------- reliability
def reliability_table(prob: xr.DataArray, event: xr.DataArray, bins: int | Sequence[float] = 10,
                      dims: Dims = None) -> xr.Dataset:
    """Reliability table (Wilks 2011 section 8.4.4) on a ``bin`` dimension.

    Bins are ``[e_b, e_{b+1})`` of equal width on [0, 1] (``bins`` of them) or the given
    edges; the last bin includes 1. Per bin: ``count`` (number of forecasts, unweighted),
    ``forecast_probability`` (their mean probability) and ``observed_frequency`` (the
    fraction of them with the event); NaN for an empty bin. Pooled over ``dims`` (all if None).
    """
    edges = np.arange(bins + 1) / bins if isinstance(bins, int) else np.asarray(bins, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise SowcastError("reliability bins: give a number of bins or increasing bin edges")
    p, o = _prob_event(prob, event)
    p, o = xr.broadcast(p, o)
    dims = as_dims(p, dims)
    valid = p.notnull() & (p >= edges[0]) & (p <= edges[-1])
    nbin = edges.size - 1
    index = xr.apply_ufunc(
        lambda v: np.clip(np.searchsorted(edges, v, side="right") - 1, 0, nbin - 1), p.fillna(0))
    counts, mean_p, freq = [], [], []
    for b in range(nbin):
        inside = valid & (index == b)
        n = inside.sum(dims)
        counts.append(n)
        mean_p.append(p.where(inside).sum(dims) / n.where(n > 0))
        freq.append(o.where(inside).sum(dims) / n.where(n > 0))
    coords = {"bin_lower": ("bin", edges[:-1]), "bin_upper": ("bin", edges[1:]),
              "bin_center": ("bin", (edges[:-1] + edges[1:]) / 2)}

    def stack(parts):
        return xr.concat(parts, dim="bin", coords="minimal").transpose(..., "bin")

    return xr.Dataset({"count": stack(counts), "forecast_probability": stack(mean_p),
                       "observed_frequency": stack(freq)}).assign_coords(coords)


# ---------------------------------------------------------------- ROC
def _area_under(false_alarm: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """Trapezoid area under (F, H) points given by ascending thresholds, closed by (1,1), (0,0)."""
    shape = false_alarm.shape[:-1]
    x = np.concatenate([np.ones(shape + (1,)), false_alarm, np.zeros(shape + (1,))], axis=-1)
    y = np.concatenate([np.ones(shape + (1,)), hit, np.zeros(shape + (1,))], axis=-1)
    return np.sum((x[..., :-1] - x[..., 1:]) * (y[..., :-1] + y[..., 1:]) / 2, axis=-1)


def roc(prob: xr.DataArray, event: xr.DataArray, thresholds: Sequence[float] | None = None,
        dims: Dims = None) -> xr.Dataset:
    """Relative operating characteristic (Mason & Graham 2002 QJRMS; Fawcett 2006).

    The event is forecast where ``prob >= threshold``. For each threshold, the hit rate
    ``H = hits / events`` and the false-alarm rate ``F = false alarms / non-events`` (on a
    ``threshold`` dimension), and ``roc_area``: the trapezoid area under the points (F, H)
    joined to (0, 0) and (1, 1). 1 is perfect, 0.5 no discrimination (a constant forecast).
    ``thresholds`` default to the distinct forecast probabilities (the exact empirical curve;
    an ensemble's fractions take at most M + 1 values). Pooled over ``dims`` (all if None).

    Where there are no events (or no non-events), H (or F) is 0/0: the rates and the area
    are NaN there, since discrimination cannot be measured without both outcomes.
    """
    p, o = _prob_event(prob, event)
    p, o = xr.broadcast(p, o)
    dims = as_dims(p, dims)
    if thresholds is None:
        thresholds = p.values[np.isfinite(p.values)]
    thresholds = np.unique(np.asarray(thresholds, dtype=float))
    if thresholds.size == 0:
        raise SowcastError("ROC: no thresholds (no finite forecast probabilities to take them from)")
    kept = [d for d in p.dims if d not in dims]
    flat_p = p.transpose(*kept, *dims).values.reshape(-1, int(np.prod([p.sizes[d] for d in dims])))
    flat_o = o.transpose(*kept, *dims).values.reshape(flat_p.shape)
    n_events, n_non_events = ((flat_o == v).sum(-1) for v in (1, 0))
    hits, false_alarms = (_counts_at_or_above(flat_p, flat_o == v, thresholds) for v in (1, 0))
    shape = [p.sizes[d] for d in kept]
    coords = {k: c for k, c in p.coords.items() if set(c.dims) <= set(kept)}

    def rate(count: np.ndarray, total: np.ndarray) -> xr.DataArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(total[:, None] > 0, count / total[:, None], np.nan)
        return xr.DataArray(value.reshape(*shape, len(thresholds)), dims=(*kept, "threshold"), coords=coords)

    def total(n: np.ndarray) -> xr.DataArray:
        return xr.DataArray(n.reshape(shape), dims=kept, coords=coords)

    hit_rate = rate(hits, n_events).assign_coords(threshold=thresholds)
    false_alarm_rate = rate(false_alarms, n_non_events).assign_coords(threshold=thresholds)
    area = xr.apply_ufunc(_area_under, false_alarm_rate, hit_rate,
                          input_core_dims=[["threshold"], ["threshold"]])
    return xr.Dataset({"hit_rate": hit_rate, "false_alarm_rate": false_alarm_rate, "roc_area": area,
                       "n_events": total(n_events), "n_non_events": total(n_non_events)})


def _counts_at_or_above(p: np.ndarray, outcome: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``[rows, T]``: per row, how many columns with ``outcome`` have ``p >= thresholds[j]``
    (NaN p never): each p counted once in the bin of the thresholds it reaches, then summed
    from the top threshold down."""
    rows, n = p.shape[0], len(thresholds)
    reached = np.searchsorted(thresholds, np.where(np.isnan(p), -np.inf, p), side="right")   # 0..n
    which = np.flatnonzero(outcome.ravel())
    bins = np.bincount(np.repeat(np.arange(rows), p.shape[1])[which] * (n + 1) + reached.ravel()[which],
                       minlength=rows * (n + 1)).reshape(rows, n + 1)
    return np.cumsum(bins[:, ::-1], axis=1)[:, ::-1][:, 1:]
