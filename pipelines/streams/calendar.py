"""Known-future covariates: calendar features computed from the timestamps alone.

They are known for the horizon too, so windows carry them for both the lookback and the target span.
Local time is used for time-zone-aware axes (hour 8 in Melbourne is 8, not 21 UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import polars as pl

from pipelines.streams.config import CalendarEncoding, CalendarFeature

# Each feature as an integer code from polars, the number of codes, the divisor turning a code into
# the feature's value (hour = minute of day / 60) and the period of the value.
_FEATURES: dict[str, tuple[pl.Expr, int, float, float]] = {
    "minute": (pl.col("t").dt.minute(), 60, 1.0, 60.0),
    "hour": (pl.col("t").dt.hour().cast(pl.Int32) * 60 + pl.col("t").dt.minute(), 1440, 60.0, 24.0),
    "dayofweek": (pl.col("t").dt.weekday() - 1, 7, 1.0, 7.0),  # Monday = 0
    "dayofmonth": (pl.col("t").dt.day() - 1, 31, 1.0, 31.0),
    "dayofyear": (pl.col("t").dt.ordinal_day() - 1, 366, 1.0, 366.0),
    "month": (pl.col("t").dt.month() - 1, 12, 1.0, 12.0),
}


def calendar_features(
    timestamps: pl.Series,
    features: Sequence[CalendarFeature] = ("hour", "dayofweek", "dayofyear", "month"),
    encoding: CalendarEncoding = "sincos",
    holidays: Sequence[date] = (),
    dtype: np.dtype | type = np.float64,
) -> tuple[np.ndarray, list[str]]:
    """Calendar features for each timestamp: a (T, K) array of `dtype` and the K column names.

    `sincos` gives <f>_sin, <f>_cos = sin/cos(2 pi value / period): cyclic, so 23:30 sits next to 00:00.
    `scaled` gives value / (largest value) - 0.5, in [-0.5, 0.5]. `holiday` is 1.0 on the given local
    dates, else 0.0 (whatever the encoding). Values: minute 0-59, hour 0-23.983 (minutes included),
    day of week 0-6 (Monday 0), day of month 0-30, day of year 0-365, month 0-11.
    """
    if encoding not in ("sincos", "scaled"):
        raise ValueError(f"unknown calendar encoding {encoding!r}; expected 'sincos' or 'scaled'")
    unknown = [f for f in features if f not in _FEATURES and f != "holiday"]
    if unknown:
        raise ValueError(f"unknown calendar features {unknown}; expected some of {[*_FEATURES, 'holiday']}")
    frame = pl.DataFrame({"t": timestamps})
    width = sum(1 if f == "holiday" or encoding == "scaled" else 2 for f in features)
    out = np.empty((timestamps.len(), width), dtype=dtype)
    names: list[str] = []
    columns = _Columns(out)
    for feat in features:
        if feat == "holiday":
            days = pl.Series(list(holidays), dtype=pl.Date)
            hit = frame.select(pl.col("t").dt.date().is_in(days.implode())).to_series().to_numpy()
            columns.append(hit)
            names.append("holiday")
            continue
        code_expr, n_codes, divisor, period = _FEATURES[feat]
        codes = frame.select(code_expr.cast(pl.Int32)).to_series().to_numpy()
        # A table over all possible codes, then one gather: the trigonometry runs on n_codes values
        # instead of every row (1440 instead of millions for the hour).
        value = np.arange(n_codes, dtype=np.float64) / divisor
        if encoding == "sincos":
            angle = value * (2.0 * np.pi / period)
            columns.append(np.sin(angle)[codes])
            columns.append(np.cos(angle)[codes])
            names += [f"{feat}_sin", f"{feat}_cos"]
        else:
            columns.append((value / value[-1] - 0.5)[codes])
            names.append(feat)
    return out, names


class _Columns:
    """Writes columns into a preallocated (T, K) array, left to right (no stacking copy)."""

    def __init__(self, out: np.ndarray):
        self.out, self.k = out, 0

    def append(self, column: np.ndarray) -> None:
        self.out[:, self.k] = column
        self.k += 1
