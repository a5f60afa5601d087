"""Sensor streams: CSV / Parquet / JSON lines via polars -> regular series -> scaled windows and patches.

Batch path: `load_series` -> `build_forecast_data` (or `pipelines.datamodules.ForecastDataModule`).
Serving path: `OnlinePatcher` + `OnlineScaler`, which share the fill / scale / patch functions with
the batch path so both see identical data. `inspect_series` summarises a file.
"""

from pipelines.streams.calendar import calendar_features
from pipelines.streams.config import SplitConfig, StreamConfig
from pipelines.streams.filling import fill_missing
from pipelines.streams.inspect import format_inspection, inspect_series
from pipelines.streams.online import OnlinePatcher, OnlineScaler, Patch
from pipelines.streams.patches import count_patches, extract_patches
from pipelines.streams.pipeline import ForecastData, StreamSeries, build_forecast_data, load_series
from pipelines.streams.readers import RawTable, read_table
from pipelines.streams.scaling import ScalerStats, Welford, fit_scaler, scale, unscale
from pipelines.streams.splits import SplitBounds, month_bounds, ratio_bounds, split_bounds
from pipelines.streams.timeindex import Grid, infer_freq, regular_grid, regularize
from pipelines.streams.victorian import load_vic_elec, vic_elec_holidays, vic_elec_path
from pipelines.streams.windows import WindowDataset, count_windows

__all__ = [
    "ForecastData",
    "Grid",
    "OnlinePatcher",
    "OnlineScaler",
    "Patch",
    "RawTable",
    "ScalerStats",
    "SplitBounds",
    "SplitConfig",
    "StreamConfig",
    "StreamSeries",
    "Welford",
    "WindowDataset",
    "build_forecast_data",
    "calendar_features",
    "count_patches",
    "count_windows",
    "extract_patches",
    "fill_missing",
    "fit_scaler",
    "format_inspection",
    "infer_freq",
    "inspect_series",
    "load_series",
    "load_vic_elec",
    "month_bounds",
    "ratio_bounds",
    "read_table",
    "regular_grid",
    "regularize",
    "scale",
    "split_bounds",
    "unscale",
    "vic_elec_holidays",
    "vic_elec_path",
]
