"""Empirical quantile mapping: ``x -> F_obs^-1(F_model(x))`` per location and period.

Panofsky & Brier (1968); for its use and limits in bias correction see Maraun (2013, J.
Climate). Both CDFs are the climatology's stored quantiles ``q_model[i]``, ``q_obs[i]`` at the
levels ``p[i]`` and are piecewise linear between them:

* inside ``[q_model[0], q_model[-1]]``: ``F_model(x)`` interpolates linearly between the
  ``(q_model[i], p[i])``; where several model quantiles are equal (dry-period rain: many
  zero quantiles) ``x`` on that value gets the middle of their levels. Then ``F_obs^-1``
  interpolates ``q_obs`` linearly in ``p``. So ``q_model[i] -> q_obs[i]`` exactly (distinct
  model quantiles) and the map is non-decreasing.
* outside, ``"additive"`` (temperature): a constant shift, ``y = q_obs[end] + (x - q_model[end])``
  (Boe et al. 2007 "constant correction").
* outside, ``"multiplicative"`` (rain): a constant ratio, ``y = x * q_obs[end] / q_model[end]``;
  where ``q_model[end]`` is 0 the shift is used instead, and above the top quantile the ratio
  is capped at ``max_ratio`` (a guard against a near-zero model quantile, not from the
  literature). Rain is clipped at 0: it is never negative.

Where any stored quantile or the value is NaN the result is NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from sowcast.data.schema import CANONICAL_VARIABLES
from sowcast.errors import SowcastError

EXTRAPOLATIONS = ("additive", "multiplicative")


def _extrapolation(name: object) -> str:
    var = CANONICAL_VARIABLES.get(str(name))
    return "multiplicative" if var is not None and var.kind == "accumulation" else "additive"


def quantile_map_numpy(x: np.ndarray, q_model: np.ndarray, q_obs: np.ndarray, levels: np.ndarray,
                       extrapolation: str = "additive", max_ratio: float = 5.0) -> np.ndarray:
    """The map on arrays: ``x`` shape ``S``; quantiles shape ``S + (Q,)``; ``levels`` ``(Q,)``."""
    x = np.asarray(x, np.float64)
    p = np.asarray(levels, np.float64)
    qm = np.asarray(q_model, np.float64)
    qo = np.asarray(q_obs, np.float64)
    valid = np.isfinite(x) & np.isfinite(qm).all(-1) & np.isfinite(qo).all(-1)
    qm = np.maximum.accumulate(np.where(np.isfinite(qm), qm, 0.0), axis=-1)  # guard rounding noise
    qo = np.maximum.accumulate(np.where(np.isfinite(qo), qo, 0.0), axis=-1)
    xs = np.where(np.isfinite(x), x, 0.0)[..., None]
    n_q = p.size
    n_lt = (qm < xs).sum(-1)    # quantiles strictly below x
    n_le = (qm <= xs).sum(-1)   # quantiles at or below x

    # F_model(x): on a (run of) quantile(s) equal to x: the middle of their levels; between two
    # quantiles: linear; outside the range: clipped here, extrapolated below.
    k = np.clip(n_lt, 1, n_q - 1)
    q_lo = np.take_along_axis(qm, (k - 1)[..., None], -1)[..., 0]
    q_hi = np.take_along_axis(qm, k[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip((xs[..., 0] - q_lo) / (q_hi - q_lo), 0.0, 1.0)
    prob = np.where(np.isfinite(t), p[k - 1] + t * (p[k] - p[k - 1]), p[k - 1])
    on_q = n_le > n_lt
    prob = np.where(on_q, 0.5 * (p[np.clip(n_lt, 0, n_q - 1)] + p[np.clip(n_le - 1, 0, n_q - 1)]), prob)

    # F_obs^-1(prob): linear in p between the stored levels.
    j = np.clip(np.searchsorted(p, prob, side="right"), 1, n_q - 1)
    o_lo = np.take_along_axis(qo, (j - 1)[..., None], -1)[..., 0]
    o_hi = np.take_along_axis(qo, j[..., None], -1)[..., 0]
    s = np.clip((prob - p[j - 1]) / (p[j] - p[j - 1]), 0.0, 1.0)
    y = o_lo + s * (o_hi - o_lo)

    xv = xs[..., 0]
    below, above = n_le == 0, n_lt == n_q
    m0, mn, o0, on = qm[..., 0], qm[..., -1], qo[..., 0], qo[..., -1]
    if extrapolation == "additive":
        y = np.where(below, o0 + (xv - m0), y)
        y = np.where(above, on + (xv - mn), y)
    elif extrapolation == "multiplicative":
        with np.errstate(invalid="ignore", divide="ignore"):
            r0 = np.where(m0 > 0, o0 / m0, np.nan)
            rn = np.where(mn > 0, np.minimum(on / mn, max_ratio), np.nan)
        y = np.where(below, np.where(np.isfinite(r0), xv * r0, o0 + (xv - m0)), y)
        y = np.where(above, np.where(np.isfinite(rn), on + rn * (xv - mn), on + (xv - mn)), y)
        y = np.maximum(y, 0.0)
    else:
        raise SowcastError(f"extrapolation must be one of {', '.join(EXTRAPOLATIONS)}, not {extrapolation!r}")
    return np.where(valid, y, np.nan)


def quantile_map(values: xr.DataArray, model_quantiles: xr.DataArray, observed_quantiles: xr.DataArray,
                 levels: Sequence[float] | None = None, *, extrapolation: str | None = None,
                 quantile_dim: str = "quantile", max_ratio: float = 5.0) -> xr.DataArray:
    """Map ``values`` (any dims, e.g. member, period, lat, lon) through the quantiles (module doc).

    The quantile arrays share dims with ``values`` plus ``quantile_dim``; ``levels`` default
    to that coordinate. ``extrapolation`` defaults from the variable's schema kind:
    ``multiplicative`` for accumulations (rain, then never negative), else ``additive``.
    Dims of ``values`` that the quantiles lack (members) are mapped one slice at a time.
    """
    for q in (model_quantiles, observed_quantiles):
        if quantile_dim not in q.dims:
            raise SowcastError(f"the quantiles have no {quantile_dim!r} dimension")
    if levels is None:
        levels = model_quantiles[quantile_dim].values
    p = np.asarray(levels, np.float64)
    if p.ndim != 1 or p.size < 2 or p.size != model_quantiles.sizes[quantile_dim] \
            or p.size != observed_quantiles.sizes[quantile_dim] or (np.diff(p) <= 0).any():
        raise SowcastError("quantile levels must be increasing, at least 2, one per stored quantile")
    kind = extrapolation or _extrapolation(values.name)
    if kind not in EXTRAPOLATIONS:
        raise SowcastError(f"extrapolation must be one of {', '.join(EXTRAPOLATIONS)}, not {kind!r}")
    qm, qo = xr.align(model_quantiles, observed_quantiles, join="exact")
    space = [d for d in qm.dims if d != quantile_dim]
    missing = [d for d in space if d not in values.dims]
    if missing:
        raise SowcastError(f"the values lack the quantiles' dims {missing}")
    extra = [d for d in values.dims if d not in space]
    v = values.transpose(*extra, *space)
    qm_np = np.asarray(qm.transpose(*space, quantile_dim).values)
    qo_np = np.asarray(qo.transpose(*space, quantile_dim).values)
    x = np.asarray(v.values)
    lead = x.shape[:len(extra)]
    flat = x.reshape(-1, *x.shape[len(extra):]) if extra else x[None]
    out = np.empty(flat.shape, np.float64)
    for i in range(flat.shape[0]):
        out[i] = quantile_map_numpy(flat[i], qm_np, qo_np, p, kind, max_ratio)
    out = out.reshape(*lead, *x.shape[len(extra):]) if extra else out[0]
    if _extrapolation(values.name) == "multiplicative":  # an accumulation is never negative
        out = np.maximum(out, 0.0)
    result = v.copy(data=out.astype(values.dtype if values.dtype.kind == "f" else np.float64))
    result.attrs = dict(values.attrs)
    result.attrs["comment"] = (f"quantile mapped to the observed climatology ({kind} beyond the stored "
                               "quantiles)")
    return result.transpose(*values.dims)
