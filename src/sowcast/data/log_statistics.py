"""Statistics of log-space channels: ``y = log(1 + max(x, 0) / k)`` over a window source's span.

A model that predicts a channel in log space (:mod:`sowcast.model.normalization`,
``log_offsets``) normalises it with the statistics of ``y``, not of ``x``: its ``mean`` and
``std`` over every time and valid point of the training range, and ``diff_mean`` /
``diff_std`` of its one-step changes ``y_{t+1} - y_t``, as the store's ``statistics`` group
gives them for ``x`` (:mod:`sowcast.data.statistics`). Computed in float64 sums over blocks
of a year of states, so a long training range costs one pass and little memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BLOCK = 366  # times read per block


def log_space_statistics(source, log_offsets: Sequence[float]) -> dict[str, np.ndarray]:
    """``source.statistics`` with each channel ``c`` whose ``log_offsets[c] = k > 0``
    replaced by the statistics of ``log(1 + max(x, 0) / k)`` over the source's span."""
    offsets = np.asarray(log_offsets, np.float64)
    stats = {key: np.asarray(v, np.float64).copy() for key, v in source.statistics.items()}
    channels = np.flatnonzero(offsets > 0)
    if channels.size == 0:
        return {key: v.astype(np.float32) for key, v in stats.items()}
    lo = source._first - source.n_input_steps + 1
    hi = source._first + source._count + source.n_target_steps   # exclusive
    valid = getattr(source, "valid", None)
    sums = np.zeros((channels.size, 6))   # n, sum y, sum y^2, n diff, sum d, sum d^2
    previous = None
    for t0 in range(lo, hi, BLOCK):
        block = source._read_states(t0, min(t0 + BLOCK, hi))[:, channels].astype(np.float64)
        y = np.log1p(np.maximum(block, 0.0) / offsets[channels][None, :, None, None])
        if previous is not None:
            y = np.concatenate([previous, y])
        for i, c in enumerate(channels):
            keep = np.ones(y.shape[2:], bool) if valid is None else np.asarray(valid[c], bool)
            field = y[:, i][:, keep]
            new = field if previous is None else field[1:]
            d = np.diff(field, axis=0)
            sums[i] += [new.size, new.sum(), np.square(new).sum(), d.size, d.sum(), np.square(d).sum()]
        previous = y[-1:]
    for i, c in enumerate(channels):
        n, s1, s2, nd, d1, d2 = sums[i]
        stats["mean"][c] = s1 / n
        stats["std"][c] = np.sqrt(max(s2 / n - (s1 / n) ** 2, 0.0))
        if "diff_mean" in stats:
            stats["diff_mean"][c] = d1 / nd
            stats["diff_std"][c] = np.sqrt(max(d2 / nd - (d1 / nd) ** 2, 0.0))
    return {key: v.astype(np.float32) for key, v in stats.items()}
