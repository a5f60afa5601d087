"""Forecasting with a trained model: load it (checkpoint or MLflow run), read a new series with its
pipeline settings, forecast the steps after the end, write the frame.

    model = load_model(result.checkpoint)        # or load_model(run_id)
    frame = forecast(model, "data/samples/vic_elec_sample.csv", horizon=48)   # unique_id, ds, yhat
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from app import console, tracking
from app.training import resolve_checkpoint
from pipelines.datasets import DATASETS
from pipelines.errors import InputError
from pipelines.streams import StreamSeries, load_series, scale
from pipelines.streams.timestamps import render_times

from .module import ForecastModule, load_module
from .protocols import check_finite, diverged_as


class ForecastError(ValueError):
    """A request the model cannot serve (horizon too long, too little history, wrong channels)."""


def load_model(reference: str | Path, tracking_uri: str | None = None) -> ForecastModule:
    """A trained model from a checkpoint file or an MLflow run id (its logged checkpoint)."""
    return load_module(str(resolve_checkpoint(reference, tracking_uri)))


def read_series(model: ForecastModule, source: Any) -> tuple[StreamSeries, np.ndarray]:
    """The series of `source` read with the model's pipeline settings, and scaled with the model's
    (training) scaler; its channels must be the model's."""
    meta = model.meta
    if isinstance(source, str | Path) and not Path(source).exists() and str(source) not in DATASETS:
        raise InputError("no such file", path=str(source))
    series = load_series(source, meta.stream)
    if series.channels != meta.channels:
        raise InputError(
            f"channels {series.channels} differ from the model's {meta.channels}", path=series.source
        )
    return series, scale(series.values, meta.stats).astype(np.float32)


def _future_times(last: Any, freq: str, steps: int) -> pl.Series:
    times, current = [], pl.Series("ds", [last])
    for _ in range(steps):
        current = current.dt.offset_by(freq)
        times.append(current[0])
    return pl.Series("ds", times, dtype=current.dtype)


def forecast(
    model: ForecastModule, source: Any, horizon: int | None = None, *, as_written: bool = False
) -> pl.DataFrame:
    """The next `horizon` steps after the end of `source` (a path, a named series or a DataFrame),
    in original units, long format: unique_id (target name), ds, yhat. The model reads the whole
    series (test-time memorisation, if the model has it on). ds is a datetime column, or with
    `as_written` the timestamps as the source wrote them (its text format, epoch unit, dates)."""
    horizon = model.horizon if horizon is None else int(horizon)
    if horizon < 1 or horizon > model.horizon:
        raise ForecastError(f"--horizon {horizon}: this model forecasts 1 to {model.horizon} steps")
    series, scaled = read_series(model, source)
    if len(series) < model.lookback:
        raise InputError(
            f"too little history: {len(series)} rows; the model needs at least lookback={model.lookback}",
            path=series.source,
        )
    where = f"while reading {series.source}"
    with torch.no_grad(), diverged_as(where):
        yhat = check_finite(model.net(torch.as_tensor(scaled[None])), where)[0, :horizon].numpy()  # (h, k)
    stats = model.meta.stats
    k = len(series.targets)
    original = yhat * stats.scale[:k] + stats.center[:k]
    times = _future_times(series.timestamps[-1], series.freq, horizon)
    times = render_times(times, series.time_format) if as_written else times
    return pl.concat(
        pl.DataFrame({"unique_id": [name] * horizon, "ds": times, "yhat": original[:, i].astype(np.float64)})
        for i, name in enumerate(series.targets)
    )


def write_frame(frame: pl.DataFrame, path: str | Path) -> Path:
    """CSV, or Parquet for a .parquet / .pq path."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InputError("the output folder does not exist", path=path)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
    return path


def forecast_tracked(
    reference: str, source: str | Path, output: str | Path, horizon: int | None, tracking_uri: str | None
) -> pl.DataFrame:
    """`memcast forecast`: forecast `source` with the model of `reference`, write the frame to
    `output`, and record both in an MLflow run ("forecast") in the model's experiment."""
    uri = tracking.checked_uri(tracking_uri)
    model = load_model(reference, uri)
    console.use_threads(model.meta.threads)  # --threads, else the config it was trained with
    frame = forecast(model, source, horizon, as_written=True)
    with tracking.start_run(uri, model.meta.experiment, "forecast"):
        tracking.log_params({"model": reference, "input": str(source), "horizon": len(frame)})
        write_frame(frame, output)
        tracking.log_artifact(output, "forecast")
    return frame
