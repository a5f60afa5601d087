"""The batch path end to end: source -> regular, filled series -> splits -> train-only scaler -> windows.

series = load_series("demand.csv", config)        # StreamSeries: arrays on a regular time axis
data = build_forecast_data(series, config)         # ForecastData: scaler stats + three WindowDatasets
item = data.train[0]                               # dict of numpy views: x, y, masks, calendar, patches
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from pipelines import notes
from pipelines.errors import InputError
from pipelines.streams.calendar import calendar_features
from pipelines.streams.config import StreamConfig
from pipelines.streams.filling import fill_missing
from pipelines.streams.readers import ROW, RawTable, Source, read_table
from pipelines.streams.scaling import ScalerStats, fit_scaler, scale
from pipelines.streams.splits import SplitBounds, split_bounds
from pipelines.streams.timeindex import (
    OBSERVED,
    infer_freq,
    pivot_long,
    regular_grid,
    resolve_duplicates,
    sort_rows,
)
from pipelines.streams.windows import WindowDataset, count_windows

SplitName = Literal["train", "val", "test"]


@dataclass
class StreamSeries:
    """A series on a regular time axis, in original units, gaps filled.

    `values` (T, C) float64 is filled per the config; `mask` (T, C) is True where the value was
    observed in the source; `observed` (T,) is True where the source had a row at that time.
    Channels are ordered targets first, then observed covariates.
    """

    timestamps: pl.Series
    values: np.ndarray
    mask: np.ndarray
    observed: np.ndarray
    channels: list[str]
    targets: list[str]
    covariates: list[str]
    freq: str
    source: str
    layout: Literal["wide", "long"]
    fill: str = "forward"
    time_format: str | None = None  # how the source wrote its timestamps (`render_times` writes so)

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def frame(self) -> pl.DataFrame:
        """The series as a wide polars DataFrame: timestamp, one column per channel, `observed`."""
        cols = [self.timestamps]
        cols += [pl.Series(name, self.values[:, i]) for i, name in enumerate(self.channels)]
        cols.append(pl.Series(OBSERVED, self.observed))
        return pl.DataFrame(cols)


def _check_channels_have_values(table: RawTable, frame: pl.DataFrame, channels: list[str]) -> None:
    for c in channels:
        col = frame[c]
        if col.null_count() + col.is_nan().sum() == frame.height:
            raise InputError(
                f"channel {c!r} has no values (all null or NaN)",
                path=table.path or table.source,
                where=f"column {c!r}",
            )


def load_series(source: Source, config: StreamConfig | None = None) -> StreamSeries:
    """Read, order, deduplicate, resample and gap-fill a source into a `StreamSeries`.

    Out-of-order rows are sorted (with a warning); duplicate timestamps follow `config.duplicates`;
    the frequency is `config.freq` or inferred; missing times become rows filled by `config.fill`.
    """
    config = config or StreamConfig()
    table = read_table(source, config)
    ts = table.timestamp
    where_file = table.path or table.source
    frame = sort_rows(table.frame, ts, id_column=table.id_column, source=str(where_file))
    frame = resolve_duplicates(table, frame, config.duplicates)
    if table.layout == "long":
        frame, targets, covariates = pivot_long(table, frame, config.channels)
    else:
        targets, covariates = table.targets, table.covariates
    channels = targets + covariates
    _check_channels_have_values(table, frame, channels)
    # Only for a file the user named, not a frame memcast passes itself (an MLflow input example).
    if table.path is not None:
        notes.announce(
            "pipelines.streams",
            f"{where_file}: targets {', '.join(targets)}; covariates {', '.join(covariates) or 'none'}",
        )

    freq = config.freq or infer_freq(frame[ts])
    if freq is None:
        raise InputError(
            "need at least two distinct timestamps to infer the frequency (or set freq)", path=where_file
        )
    grid = regular_grid(
        frame.drop(ROW), ts, channels, freq, resample=config.freq is not None, source=str(where_file)
    )
    values = grid.values
    mask = ~np.isnan(values)
    if not mask.all():
        values = fill_missing(values, config.fill)
    return StreamSeries(
        timestamps=grid.timestamps,
        values=values,
        mask=mask,
        observed=grid.observed,
        channels=channels,
        targets=targets,
        covariates=covariates,
        freq=freq,
        source=str(where_file),
        layout=table.layout,
        fill=config.fill,
        time_format=table.time_format,
    )


@dataclass
class ForecastData:
    """Everything a forecasting run needs from the batch path.

    `scaled` (T, C) is the one contiguous array the three datasets slice; `stats` were fitted on the
    training rows only; `time_features` (T, K) are the known-future calendar covariates.
    """

    series: StreamSeries
    config: StreamConfig
    bounds: SplitBounds
    stats: ScalerStats
    scaled: np.ndarray
    time_features: np.ndarray | None
    time_feature_names: list[str]
    datasets: dict[str, WindowDataset] = field(default_factory=dict)

    @property
    def train(self) -> WindowDataset:
        return self.datasets["train"]

    @property
    def val(self) -> WindowDataset:
        return self.datasets["val"]

    @property
    def test(self) -> WindowDataset:
        return self.datasets["test"]


def build_forecast_data(source: Source | StreamSeries, config: StreamConfig | None = None) -> ForecastData:
    """Split chronologically, fit the scaler on train only, scale once, and index windows per split.

    Validation / test windows take their lookback from the preceding rows (history), but their
    targets stay inside their own part, so no target crosses a split boundary.
    """
    config = config or StreamConfig()
    series = source if isinstance(source, StreamSeries) else load_series(source, config)
    try:
        bounds = split_bounds(series.timestamps, config.split)
    except ValueError as err:
        raise InputError(str(err), path=series.source) from None
    t0, t1 = bounds.train
    try:
        stats = fit_scaler(series.values[t0:t1], series.mask[t0:t1], config.scaler, tuple(series.channels))
    except ValueError as err:
        raise InputError(str(err), path=series.source) from None
    dtype = np.dtype(config.dtype)
    scaled = np.ascontiguousarray(scale(series.values, stats), dtype=dtype)
    times, names = (None, [])
    if config.calendar:
        times, names = calendar_features(
            series.timestamps, config.calendar, config.calendar_encoding, config.holidays, dtype=dtype
        )
    n_train = count_windows(*bounds.train, config.lookback, config.horizon, config.stride)
    if n_train == 0:
        raise InputError(
            f"series too short: the training part has {t1 - t0} rows, lookback + horizon needs "
            f"{config.lookback + config.horizon}",
            path=series.source,
        )
    data = ForecastData(series, config, bounds, stats, scaled, times, names)
    for name in ("train", "val", "test"):
        start, end = bounds[name]
        data.datasets[name] = WindowDataset(
            scaled,
            lookback=config.lookback,
            horizon=config.horizon,
            stride=config.stride,
            start=start,
            end=end,
            n_targets=series.n_targets,
            mask=series.mask,
            time_features=times,
            patch_len=config.patch_len,
            patch_stride=config.effective_patch_stride,
            channel_mode=config.channel_mode,
        )
    return data
