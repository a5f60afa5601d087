"""The time axis: ordering, duplicate timestamps, frequency inference, resampling and explicit gaps.

Everything here works on a `RawTable` frame (timestamp, value columns, source row index) and ends
with a regular grid: one row per step of the frequency, an `observed` column saying which rows the
source had, and nulls where values are missing (filling is `filling.fill_missing`'s job).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from pipelines.errors import InputError
from pipelines.streams.config import DuplicatePolicy
from pipelines.streams.readers import ROW, RawTable

OBSERVED = "observed"

_US_PER_UNIT = {
    "ns": 0.001,
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}
_PART = re.compile(r"(\d+)(ns|us|ms|mo|s|m|h|d|w|q|y)")


def freq_parts(freq: str) -> list[tuple[int, str]]:
    """'1h30m' -> [(1, 'h'), (30, 'm')]."""
    parts = [(int(n), unit) for n, unit in _PART.findall(freq)]
    if not parts or "".join(f"{n}{u}" for n, u in parts) != freq:
        raise ValueError(f"not a polars duration: {freq!r}")
    return parts


def fixed_step_us(freq: str, *, tz_aware: bool = False) -> int | None:
    """The step of `freq` in microseconds, or None for calendar steps.

    Months, quarters and years are calendar steps; so are days and weeks on a time-zone-aware axis,
    where polars means local calendar days (23 or 25 hours across a DST change).
    """
    total = 0.0
    for n, unit in freq_parts(freq):
        if unit in ("mo", "q", "y") or (tz_aware and unit in ("d", "w")):
            return None
        total += n * _US_PER_UNIT[unit]
    if total < 1 or total != int(total):
        raise ValueError(f"freq {freq!r} is not a whole number of microseconds")
    return int(total)


def format_step(us: int) -> str:
    """A microsecond step as the shortest polars duration: 1_800_000_000 -> '30m'."""
    for unit in ("d", "h", "m", "s", "ms"):
        size = _US_PER_UNIT[unit]
        if us % size == 0:
            return f"{us // size}{unit}"
    return f"{us}us"


def _micros(ts: pl.Series) -> np.ndarray:
    return ts.dt.cast_time_unit("us").to_physical().to_numpy()


def infer_freq(ts: pl.Series) -> str | None:
    """The most common positive difference between timestamps, as a polars duration ('30m', '1d').

    Month-, quarter- and year-start series (same day of month, steps of 28-31 / 89-92 / 365-366 days)
    come back as '1mo', '1q', '1y'. None when there are fewer than two distinct timestamps.
    """
    t = ts.drop_nulls()
    if not t.is_sorted():
        t = t.sort()
    diffs = t.dt.cast_time_unit("us").to_physical().diff().drop_nulls()
    diffs = diffs.filter(diffs > 0)
    if diffs.len() == 0:
        return None
    # The most common step; ties go to the smallest, so the answer does not depend on hash order.
    counts = diffs.value_counts(sort=False, name="n")
    top = counts.filter(pl.col("n") == pl.col("n").max())
    step = int(top[diffs.name].min())
    day = _US_PER_UNIT["d"]
    days = step / day
    if 28 <= days <= 366 and step % day == 0:
        dates = ts.drop_nulls().dt.date()
        if dates.dt.day().n_unique() == 1:
            if 28 <= days <= 31:
                return "1mo"
            if 89 <= days <= 92:
                return "1q"
            if 365 <= days <= 366:
                return "1y"
    return format_step(step)


def sort_rows(
    frame: pl.DataFrame, ts: str, *, id_column: str | None = None, source: str = ""
) -> pl.DataFrame:
    """Sort by time (stable, so 'first' / 'last' keep their file meaning); warn if it was needed.

    For the long layout, order is checked within each series, since ids usually come one after another.
    """
    if id_column is None:
        if frame[ts].is_sorted():
            return frame
        order = frame[ts].cast(pl.Int64).diff()
        first = int((order < 0).arg_max())  # type: ignore[arg-type]
    else:
        order = frame.select(pl.col(ts).cast(pl.Int64).diff().over(id_column)).to_series()
        if not (order < 0).any():
            return frame.sort(ts, maintain_order=True)
        first = int((order < 0).arg_max())  # type: ignore[arg-type]
    row = int(frame[ROW][first])
    warnings.warn(
        f"{source}: timestamps out of order (first at row {row + 1}: {frame[ts][first]} after "
        f"{frame[ts][first - 1]}); rows were sorted by time",
        UserWarning,
        stacklevel=3,
    )
    return frame.sort(ts, maintain_order=True)


def resolve_duplicates(table: RawTable, frame: pl.DataFrame, policy: DuplicatePolicy) -> pl.DataFrame:
    """Apply the duplicate-timestamp policy to a time-sorted frame.

    'error' raises an InputError naming the timestamp and both source rows; 'mean' averages each
    channel over the duplicates (nulls ignored), 'first' / 'last' keep one record in file order.
    """
    ts = table.timestamp
    keys = [ts] if table.id_column is None else [table.id_column, ts]
    if table.id_column is None and not (frame[ts].cast(pl.Int64).diff() == 0).any():
        return frame  # sorted by time, so equal timestamps are neighbours: a cheap exact check
    dup = frame.select(pl.struct(keys).is_duplicated()).to_series()
    if not dup.any():
        return frame
    if policy == "error":
        hits = frame.filter(dup)
        first_key = hits.row(0, named=True)
        same = hits.filter(pl.all_horizontal(pl.col(k) == first_key[k] for k in keys))
        rows = sorted(int(r) for r in same[ROW].to_list())
        what = f"duplicate timestamp {first_key[ts]}"
        if table.id_column is not None:
            what += f" for {table.id_column} {first_key[table.id_column]!r}"
        where = table.where(rows[1])
        raise InputError(
            f"{what} (also at row {rows[0] + 1}); set duplicates to 'mean', 'first' or 'last' to aggregate",
            path=table.path or table.source,
            where=where,
        )
    agg = {"mean": pl.mean, "first": pl.first, "last": pl.last}[policy]
    return (
        frame.group_by(keys, maintain_order=True)
        .agg(pl.col(ROW).first(), *(agg(c) for c in table.values))
        .select(frame.columns)
    )


def pivot_long(
    table: RawTable, frame: pl.DataFrame, ids: list[str] | None = None
) -> tuple[pl.DataFrame, list[str], list[str]]:
    """Long (`unique_id, ds, y`, covariates) -> wide: one target channel per id, '<id>:<cov>' covariates.

    Returns the wide frame (timestamp, channels, `ROW` = first source row at that time) and the target
    and covariate channel names. Times missing for some id become nulls there.
    """
    ts, idc = table.timestamp, table.id_column
    assert idc is not None
    present = frame[idc].unique(maintain_order=True).to_list()
    if ids is not None:
        unknown = [i for i in ids if i not in present]
        if unknown:
            raise InputError(
                f"ids {unknown} not found in column {idc!r}; ids are {present[:20]}",
                path=table.path or table.source,
            )
        frame = frame.filter(pl.col(idc).is_in(ids))
        present = list(ids)
    target_col = table.targets[0]
    index = frame.group_by(ts, maintain_order=True).agg(pl.col(ROW).min()).sort(ts)
    targets = [str(i) for i in present]
    covariates: list[str] = []
    parts = [index]
    for col in table.values:
        wide = frame.pivot(on=idc, index=ts, values=col)
        names = {str(i): (str(i) if col == target_col else f"{i}:{col}") for i in present}
        wide = wide.rename({k: v for k, v in names.items() if k in wide.columns})
        if col != target_col:
            covariates += [names[str(i)] for i in present]
        parts.append(wide)
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part, on=ts, how="left", maintain_order="left")
    return out.select(ts, ROW, *targets, *covariates), targets, covariates


@dataclass
class Grid:
    """A series on a regular time axis: timestamps (T,), values (T, C) float64 with NaN where
    missing, and `observed` (T,) True where the source had a row."""

    timestamps: pl.Series
    values: np.ndarray
    observed: np.ndarray


def regular_grid(
    frame: pl.DataFrame, ts: str, channels: list[str], freq: str, *, resample: bool = False, source: str = ""
) -> Grid:
    """Put a time-sorted, duplicate-free frame (`ts` and Float64 `channels`) on the grid of `freq`.

    Timestamps off the grid anchored at the first one are averaged into `freq` buckets (the grid then
    starts at the first timestamp truncated to `freq`); with `resample=True` that is expected,
    otherwise it also warns. Missing grid times become rows of NaN with `observed` False.
    """
    frame = frame.select(ts, *channels)
    if frame.height == 0:
        return Grid(frame[ts], np.zeros((0, len(channels))), np.zeros(0, dtype=bool))
    dtype = frame[ts].dtype
    tz_aware = isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    step = fixed_step_us(freq, tz_aware=tz_aware)
    off_grid = _count_off_grid(frame[ts], freq, step)
    if off_grid:
        if not resample:
            warnings.warn(
                f"{source}: {off_grid} timestamps are not on the {freq} grid; values were averaged into "
                f"{freq} buckets (set freq to choose the grid)",
                UserWarning,
                stacklevel=3,
            )
        frame = (
            frame.with_columns(pl.col(ts).dt.truncate(freq), pl.col(channels).fill_nan(None))
            .group_by(ts, maintain_order=True)
            .agg(*(pl.col(c).mean() for c in channels))
        )
    if step is not None:
        return _fill_grid_fixed(frame, ts, channels, step)
    return _fill_grid_calendar(frame, ts, channels, freq)


def regularize(
    frame: pl.DataFrame, ts: str, channels: list[str], freq: str, *, resample: bool = False, source: str = ""
) -> pl.DataFrame:
    """`regular_grid` as a DataFrame: `ts`, the channels (null where missing) and `observed`."""
    grid = regular_grid(frame, ts, channels, freq, resample=resample, source=source)
    cols = [grid.timestamps.alias(ts)]
    cols += [pl.Series(c, grid.values[:, i]).fill_nan(None) for i, c in enumerate(channels)]
    return pl.DataFrame([*cols, pl.Series(OBSERVED, grid.observed)])


def _count_off_grid(ts: pl.Series, freq: str, step: int | None) -> int:
    if step is not None:
        t = _micros(ts)
        return int(np.count_nonzero((t - t[0]) % step))
    grid = pl.datetime_range(ts[0], ts[-1], freq, eager=True, time_unit="us")
    return int((~ts.is_in(grid.implode())).sum()) if ts.len() else 0


def _values(frame: pl.DataFrame, channels: list[str]) -> np.ndarray:
    # Nulls come out as NaN; one (T, C) float64 copy in C order.
    return np.ascontiguousarray(frame.select(channels).to_numpy(), dtype=np.float64)


def _fill_grid_fixed(frame: pl.DataFrame, ts: str, channels: list[str], step: int) -> Grid:
    t = _micros(frame[ts])
    pos = (t - t[0]) // step
    n = int(pos[-1]) + 1
    values = _values(frame, channels)
    if n == frame.height:  # already regular: the common case costs one pass
        return Grid(frame[ts], values, np.ones(n, dtype=bool))
    dtype = frame[ts].dtype
    grid = pl.Series(ts, t[0] + np.arange(n, dtype=np.int64) * step).cast(pl.Datetime("us"))
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        grid = grid.dt.replace_time_zone("UTC").dt.convert_time_zone(dtype.time_zone)
    observed = np.zeros(n, dtype=bool)
    observed[pos] = True
    full = np.full((n, len(channels)), np.nan)
    full[pos] = values
    return Grid(grid, full, observed)


def _fill_grid_calendar(frame: pl.DataFrame, ts: str, channels: list[str], freq: str) -> Grid:
    grid = pl.datetime_range(frame[ts][0], frame[ts][-1], freq, eager=True, time_unit="us").alias(ts)
    out = grid.to_frame().join(
        frame.with_columns(pl.lit(True).alias(OBSERVED)), on=ts, how="left", maintain_order="left"
    )
    return Grid(out[ts], _values(out, channels), out[OBSERVED].fill_null(False).to_numpy())


def step_timedelta(freq: str) -> timedelta | None:
    """`freq` as a timedelta when it is a fixed step (not months / quarters / years)."""
    step = fixed_step_us(freq)
    return None if step is None else timedelta(microseconds=step)
