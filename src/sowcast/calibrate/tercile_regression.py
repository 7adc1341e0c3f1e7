"""Tercile probabilities by extended logistic regression on the ensemble-mean anomaly.

Extended logistic regression (ELR; Wilks 2009, Meteorol. Appl. 16:361-368), in its
proportional-odds form (one intercept per threshold, one slope; McCullagh 1980), as IRI and
WASS2S calibrate sub-seasonal terciles::

    P(Y <= k | z) = s(theta_k + beta z),  k = 1 (below), 2 (below or near),  s(x) = 1/(1+e^-x)
    P(below) = s(theta_1 + beta z)
    P(near)  = s(theta_2 + beta z) - s(theta_1 + beta z)
    P(above) = 1 - s(theta_2 + beta z)

``z`` is the standardised ensemble-mean anomaly against the model climatology at the same
lead and start day, ``Y`` the observed tercile category against the observed climatology.
With ``beta = 0`` the probabilities are the climatological frequencies of the categories.

Fitting, as Wilks (2009): the two cumulative events "Y <= k" are stacked as binary
observations with ``k`` as a predictor, and the likelihood is maximised by Newton-Raphson
with a weak Gaussian prior (``ridge``: pseudo-observations pulling towards ``theta =
logit(1/3), logit(2/3)`` and ``beta = 0``), so a point where one category never happened gets
finite parameters. ``z`` is binned (:data:`Z_EDGES`, 0.1 wide in [-4, 4]) so that a fit takes
counts ``(..., bin, category)``: counts add over neighbouring grid points and years, which
makes spatial pooling and leave-one-year-out refits sums and differences of one array.
"""

from __future__ import annotations

import numpy as np

Z_LIMIT = 4.0
Z_STEP = 0.1
Z_CENTRES = np.round(np.arange(-Z_LIMIT, Z_LIMIT + Z_STEP / 2, Z_STEP), 10)
N_BINS = Z_CENTRES.size
CLIMATOLOGY_THETA = (float(np.log(0.5)), float(np.log(2.0)))  # logit(1/3), logit(2/3)
N_PARAMS = 3  # theta_1, theta_2, beta


def z_bin(z: np.ndarray) -> np.ndarray:
    """Bin index of ``z`` (clipped to +-Z_LIMIT); -1 where ``z`` is not finite."""
    z = np.asarray(z, np.float64)
    idx = np.rint((np.clip(np.where(np.isfinite(z), z, 0.0), -Z_LIMIT, Z_LIMIT) + Z_LIMIT) / Z_STEP)
    return np.where(np.isfinite(z), idx, -1).astype(np.int64)


def bin_counts(z: np.ndarray, category: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Counts ``shape + (N_BINS, 3)`` from ``z`` and ``category`` (0 below, 1 near, 2 above,
    -1 missing) of shape ``(samples,) + shape``; a sample counts where both are known."""
    z_idx = z_bin(z)
    cat = np.asarray(category, np.int64)
    ok = (z_idx >= 0) & (cat >= 0)
    n_cells = int(np.prod(shape)) if shape else 1
    cell = np.broadcast_to(np.arange(n_cells).reshape(shape), z_idx.shape)
    flat = (cell * N_BINS + z_idx) * 3 + cat
    counts = np.bincount(flat[ok].ravel(), minlength=n_cells * N_BINS * 3)
    return counts.reshape(*shape, N_BINS, 3).astype(np.float64)


def fit(counts: np.ndarray, ridge: float = 1.0, iterations: int = 25) -> np.ndarray:
    """Parameters ``(..., 3)`` = theta_1, theta_2, beta from counts ``(..., N_BINS, 3)``.

    ``ridge``: the prior's weight in pseudo-observations (module doc). Vectorised over the
    leading dims; a fixed number of Newton steps (the log-likelihood is concave, and 25 steps
    from the climatological start reach 1e-10 on the tests' cases).
    """
    counts = np.asarray(counts, np.float64)
    lead = counts.shape[:-2]
    # the stacked events: k = 1: below vs the rest; k = 2: below or near vs above
    events = np.stack([counts[..., 0], counts[..., 0] + counts[..., 1]], axis=-2)      # (..., 2, B)
    totals = counts.sum(-1)[..., None, :].repeat(2, axis=-2)                           # (..., 2, B)
    prior = np.array([*CLIMATOLOGY_THETA, 0.0])
    params = np.broadcast_to(prior, (*lead, N_PARAMS)).copy()
    z = Z_CENTRES
    for _ in range(iterations):
        eta = params[..., :2, None] + params[..., 2, None, None] * z                  # (..., 2, B)
        p = 1.0 / (1.0 + np.exp(-eta))
        resid = events - totals * p
        w = totals * p * (1.0 - p)
        grad = np.empty((*lead, N_PARAMS))
        grad[..., 0], grad[..., 1] = resid[..., 0, :].sum(-1), resid[..., 1, :].sum(-1)
        grad[..., 2] = (resid * z).sum((-1, -2))
        hess = np.zeros((*lead, N_PARAMS, N_PARAMS))
        hess[..., 0, 0], hess[..., 1, 1] = w[..., 0, :].sum(-1), w[..., 1, :].sum(-1)
        hess[..., 0, 2] = hess[..., 2, 0] = (w[..., 0, :] * z).sum(-1)
        hess[..., 1, 2] = hess[..., 2, 1] = (w[..., 1, :] * z).sum(-1)
        hess[..., 2, 2] = (w * z * z).sum((-1, -2))
        grad -= ridge * (params - prior)
        hess += ridge * np.eye(N_PARAMS)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        params = params + np.clip(step, -2.0, 2.0)
    # parallel curves: theta_1 <= theta_2 keeps P(near) >= 0
    params[..., 1] = np.maximum(params[..., 1], params[..., 0])
    return params


def probabilities(params: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``(..., 3)`` probabilities below, near, above for ``z`` (``params`` broadcast against
    ``z``); NaN where ``z`` or a parameter is NaN. ``z`` is clipped to +-Z_LIMIT as in the fit."""
    params = np.asarray(params, np.float64)
    z = np.clip(np.asarray(z, np.float64), -Z_LIMIT, Z_LIMIT)
    c1 = 1.0 / (1.0 + np.exp(-(params[..., 0] + params[..., 2] * z)))
    c2 = 1.0 / (1.0 + np.exp(-(params[..., 1] + params[..., 2] * z)))
    return np.stack([c1, np.maximum(c2 - c1, 0.0), 1.0 - c2], axis=-1)


def bounded(p: np.ndarray, floor: float) -> np.ndarray:
    """Probabilities kept in ``[floor, 1 - 2 floor]``: ``floor + (1 - 3 floor) p`` (sums stay 1).

    Hindcasts of a few years cannot support a certainty beyond that; the shrink is linear so
    the ranking of categories and of forecasts is unchanged."""
    if not 0.0 <= floor < 1.0 / 3.0:
        raise ValueError(f"the probability floor must lie in [0, 1/3), not {floor}")
    return floor + (1.0 - 3.0 * floor) * np.asarray(p, np.float64)


def rps(p: np.ndarray, category: np.ndarray) -> np.ndarray:
    """Ranked probability score of 3-category ``p (..., 3)`` for the observed ``category``
    (0, 1, 2; -1 gives NaN): the sum over the two cumulative thresholds of squared errors
    (Epstein 1969; not divided by K - 1, as :func:`sowcast.verify.categorical.rps`)."""
    cat = np.asarray(category)
    cum = np.cumsum(np.asarray(p, np.float64), axis=-1)[..., :2]
    obs = np.stack([cat <= 0, cat <= 1], axis=-1).astype(np.float64)
    out = ((cum - obs) ** 2).sum(-1)
    return np.where(cat >= 0, out, np.nan)
