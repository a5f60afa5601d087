"""`inspect_series`: what a sensor-stream file holds, before any cleaning (for `memcast data inspect`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from pipelines.streams.config import StreamConfig
from pipelines.streams.readers import Source, read_table
from pipelines.streams.timeindex import fixed_step_us, infer_freq


def _gap_count(ts: pl.Series, freq: str | None) -> int:
    """Missing timestamps between the first and last one on the grid of `freq`."""
    uniq = ts.drop_nulls().unique().sort()
    if freq is None or uniq.len() < 2:
        return 0
    dtype = uniq.dtype
    tz_aware = isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    step = fixed_step_us(freq, tz_aware=tz_aware)
    if step is not None:
        diffs = np.diff(uniq.dt.cast_time_unit("us").to_physical().to_numpy())
        return int(np.sum(np.maximum(diffs // step - 1, 0)))
    grid = pl.datetime_range(uniq[0], uniq[-1], freq, eager=True, time_unit="us")
    return max(int(grid.len()) - int(uniq.len()), 0)


def inspect_series(source: Source, config: StreamConfig | None = None) -> dict[str, Any]:
    """Summarise a CSV / Parquet / JSON-lines file or a polars frame without changing it.

    Returns a JSON-ready dict: source, format, layout, timestamp column, time zone, channels, rows,
    series (ids, long layout), start, end, span, inferred frequency, gaps (missing timestamps on that
    grid, summed over series), duplicates (rows repeating an earlier timestamp), out_of_order (rows
    earlier than the row before them) and nulls (null or NaN cells per channel).
    Unreadable input raises `InputError`, as everywhere in the pipeline.
    """
    config = config or StreamConfig()
    table = read_table(source, config)
    frame, ts = table.frame, table.timestamp
    idc = table.id_column
    groups = [frame] if idc is None else frame.partition_by(idc, maintain_order=True)

    freqs: list[str] = []
    gaps = duplicates = out_of_order = 0
    for part in groups:
        t = part[ts]
        diffs = t.cast(pl.Int64).diff().drop_nulls()
        out_of_order += int((diffs < 0).sum())
        duplicates += int(t.len() - t.n_unique())
        f = infer_freq(t)
        if f is not None:
            freqs.append(f)
    freq = max(set(freqs), key=freqs.count) if freqs else None
    for part in groups:
        gaps += _gap_count(part[ts], freq)

    t_all = frame[ts]
    start, end = t_all.min(), t_all.max()
    dtype = t_all.dtype
    nulls = {c: int(frame[c].null_count() + frame[c].is_nan().sum()) for c in table.values}
    info: dict[str, Any] = {
        "source": table.source,
        "format": table.fmt or "frame",
        "layout": table.layout,
        "timestamp": ts,
        "timezone": dtype.time_zone if isinstance(dtype, pl.Datetime) else None,
        "channels": list(table.values),
        "targets": list(table.targets),
        "covariates": list(table.covariates),
        "rows": frame.height,
        "series": len(groups),
        "start": str(start),
        "end": str(end),
        "span": str(end - start) if start is not None and end is not None else None,  # type: ignore[operator]
        "freq": freq,
        "gaps": gaps,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "nulls": nulls,
    }
    if idc is not None:
        info["ids"] = [str(i) for i in frame[idc].unique(maintain_order=True).to_list()]
    return info


def format_inspection(info: dict[str, Any]) -> list[str]:
    """`inspect_series` output as aligned, human-readable lines."""
    chans = info["channels"]
    order = f"{info['out_of_order']:,} rows out of order" if info["out_of_order"] else "sorted"
    lines = [
        f"source      {info['source']} ({info['format']}, {info['layout']} layout)",
        f"rows        {info['rows']:,}"
        + (f" in {info['series']} series" if info["layout"] == "long" else ""),
        f"channels    {len(chans)}: {', '.join(chans)}",
        f"timestamp   column {info['timestamp']!r}"
        + (f", time zone {info['timezone']}" if info["timezone"] else ""),
        f"time span   {info['start']} .. {info['end']} ({info['span']})",
        f"frequency   {info['freq'] or 'unknown (fewer than two timestamps)'}",
        f"gaps        {info['gaps']:,} missing timestamps",
        f"duplicates  {info['duplicates']:,} repeated timestamps",
        f"order       {order}",
        "nulls       " + ", ".join(f"{c}: {n:,}" for c, n in info["nulls"].items()),
    ]
    if info.get("ids"):
        ids = info["ids"]
        lines.insert(
            3, f"ids         {', '.join(ids[:10])}" + (f" (+{len(ids) - 10} more)" if len(ids) > 10 else "")
        )
    return lines
