"""Small synthetic sensor streams for the streams tests, written in any supported format."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

START = datetime(2021, 3, 1)


def wide_frame(
    n: int = 200,
    channels: int = 3,
    *,
    step: timedelta = timedelta(hours=1),
    start: datetime = START,
    seed: int = 0,
    drop_rows: tuple[int, ...] = (),
    nan_cells: tuple[tuple[int, int], ...] = (),
) -> pl.DataFrame:
    """A wide frame (timestamp + ch0.. random walks) on a regular grid, minus `drop_rows` (gaps),
    with NaN at the (row, channel) `nan_cells`."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, channels)).cumsum(axis=0)
    for r, c in nan_cells:
        values[r, c] = np.nan
    ts = [start + i * step for i in range(n)]
    frame = pl.DataFrame({"timestamp": ts, **{f"ch{c}": values[:, c] for c in range(channels)}})
    if drop_rows:
        frame = frame.filter(~pl.int_range(n).is_in(list(drop_rows)))
    return frame


def write(frame: pl.DataFrame, path: Path, time_format: str | None = "%Y-%m-%d %H:%M:%S") -> Path:
    """Write `frame` as CSV / Parquet / JSON lines by the suffix of `path`; CSV timestamps as text."""
    if path.suffix == ".parquet":
        frame.write_parquet(path)
    elif path.suffix in (".jsonl", ".ndjson"):
        out = frame
        if time_format is not None:
            out = frame.with_columns(pl.col(frame.columns[0]).dt.to_string(time_format))
        out.write_ndjson(path)
    else:
        out = frame
        if time_format is not None and isinstance(frame.schema[frame.columns[0]], pl.Datetime):
            out = frame.with_columns(pl.col(frame.columns[0]).dt.to_string(time_format))
        out.write_csv(path)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write raw file content (for hand-made bad inputs)."""
    path.write_text(text)
    return path
