"""Chronological train / validation / test splits, as row ranges on the regular time axis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from pipelines.streams.config import SplitConfig


@dataclass(frozen=True)
class SplitBounds:
    """Half-open row ranges [start, end) of each part; test ends where the used series ends."""

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]

    def __getitem__(self, name: str) -> tuple[int, int]:
        if name not in ("train", "val", "test"):
            raise KeyError(name)
        return getattr(self, name)


def ratio_bounds(n: int, ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> SplitBounds:
    """Split n rows by fractions. As in the common long-horizon code: train = int(n * r0),
    test = int(n * r2), validation = the rest, so the three always cover all n rows."""
    n_train = int(n * ratios[0])
    n_test = int(n * ratios[2])
    n_val = n - n_train - n_test
    return SplitBounds((0, n_train), (n_train, n_train + n_val), (n_train + n_val, n))


def month_bounds(
    timestamps: pl.Series, months: tuple[int, int, int] = (12, 4, 4), month_days: int = 30
) -> SplitBounds:
    """The ETT protocol: train / val / test are consecutive spans of months of `month_days` days
    (12/4/4 by default) from the first timestamp; rows past the test span are left out.

    Raises ValueError if the series does not reach into the test span.
    """
    t = timestamps.dt.cast_time_unit("us").to_physical().to_numpy()
    month = int(timedelta(days=month_days) / timedelta(microseconds=1))
    edges = t[0] + np.cumsum(np.asarray(months, dtype=np.int64)) * month
    a, b, c = (int(np.searchsorted(t, e, side="left")) for e in edges)
    if b >= len(t):
        span = (t[-1] - t[0]) / month
        raise ValueError(
            f"series spans {span:.1f} months of {month_days} days; the month split {months} needs more than "
            f"{months[0] + months[1]} months"
        )
    return SplitBounds((0, a), (a, b), (b, c))


def split_bounds(timestamps: pl.Series, config: SplitConfig) -> SplitBounds:
    """Bounds for the configured split kind."""
    if config.kind == "months":
        return month_bounds(timestamps, config.months, config.month_days)
    return ratio_bounds(timestamps.len(), config.ratios)
