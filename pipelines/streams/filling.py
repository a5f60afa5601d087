"""Filling missing values: the one implementation shared by the batch pipeline and the online patcher.

Both paths call `fill_missing` with the same relative positions, so a gap filled while serving gets
bit-for-bit the value it gets in training (see `online.OnlinePatcher`).
"""

from __future__ import annotations

import numpy as np

from pipelines.streams.config import FillMethod

FILL_METHODS: tuple[FillMethod, ...] = ("forward", "linear", "zero")


def fill_missing(values: np.ndarray, method: FillMethod) -> np.ndarray:
    """Return a float64 copy of `values` (shape (T,) or (T, C)) with NaN cells filled per column.

    - `forward`: the last observed value; cells before the first observation take the first one.
    - `linear`: v0 + (v1 - v0) * ((i - i0) / (i1 - i0)) between the observations at rows i0 < i < i1;
      the edges take the nearest observation (forward at the end, backward at the start).
    - `zero`: 0.
    A column with no observation at all stays NaN (callers reject such channels before this point).
    """
    if method not in FILL_METHODS:
        raise ValueError(f"unknown fill method {method!r}; expected one of {FILL_METHODS}")
    arr = np.array(values, dtype=np.float64, copy=True)
    flat = arr.ndim == 1
    if flat:
        arr = arr[:, None]
    missing = np.isnan(arr)
    if not missing.any():
        return arr[:, 0] if flat else arr
    if method == "zero":
        arr[missing] = 0.0
        return arr[:, 0] if flat else arr

    # Work column by column on the missing cells only: gaps are usually a small fraction of the rows.
    for c in np.flatnonzero(missing.any(axis=0)):
        col = arr[:, c]
        gap = np.flatnonzero(missing[:, c])
        obs = np.flatnonzero(~missing[:, c])
        if obs.size == 0:
            continue
        after = np.searchsorted(obs, gap)  # position in `obs` of the next observation
        has_prev, has_next = after > 0, after < obs.size
        i0 = obs[np.maximum(after - 1, 0)]  # previous observation (clipped where there is none)
        i1 = obs[np.minimum(after, obs.size - 1)]  # next observation (clipped where there is none)
        prev_val, next_val = col[i0], col[i1]
        # Edges: no previous observation -> the next one; no next -> the previous one.
        filled = np.where(has_prev, prev_val, next_val)
        if method == "linear":
            inner = has_prev & has_next
            i = gap[inner].astype(np.float64)
            a, b = i0[inner].astype(np.float64), i1[inner].astype(np.float64)
            # Written as in the docstring, term by term: the online path evaluates the same expression on
            # a segment re-indexed from i0 = 0, and (i - i0) / (i1 - i0) only involves exact integers in
            # float64 either way, so both paths round identically.
            filled[inner] = prev_val[inner] + (next_val[inner] - prev_val[inner]) * ((i - a) / (b - a))
        col[gap] = filled
    return arr[:, 0] if flat else arr
