"""The forecasting plots: the last test window, and the prequential walk over the test part."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from app.tracking.plots import plot_forecasts
from pipelines.streams import unscale

from .module import ForecastModule


def plot_test_window(model: ForecastModule, series, scaled, test, folder: Path) -> Path:
    """The last test window: its lookback and actuals, and the forecast, in original units."""
    start = test[1] - model.horizon
    stats = model.meta.stats
    with torch.no_grad():
        yhat = model.net(torch.as_tensor(scaled[None, :start]))[0, :, 0].numpy()
    begin = max(0, start - 2 * model.lookback)
    actual = unscale(scaled[begin : test[1]], stats)[:, 0]
    times = series.timestamps[begin : test[1]].to_list()
    future = times[start - begin :]
    target = series.targets[0]
    return plot_forecasts(
        folder / "forecast_vs_actual.png",
        f"{target}: last test window, forecast vs actual",
        (times, actual),
        {model.meta.name: (future, yhat * stats.scale[0] + stats.center[0])},
        ylabel=target,
        split_at=times[start - begin],
    )


def plot_online(model: ForecastModule, series, forecasts, starts, folder: Path) -> Path:
    """The prequential walk over the test part: actuals, adapting and frozen forecasts (target 0)."""
    stats = model.meta.stats
    times = series.timestamps.to_list()
    step = starts[1] - starts[0] if len(starts) > 1 else model.horizon
    span = min(step, model.horizon)
    lines = {}
    for name, yhat in forecasts.items():
        rows = [s + i for s in starts for i in range(span)]
        values = np.concatenate([yhat[j, :span, 0] for j in range(len(starts))])
        lines[name] = ([times[r] for r in rows], values * stats.scale[0] + stats.center[0])
    begin, end = starts[0] - model.lookback, starts[-1] + span
    actual = series.values[begin:end, 0]
    target = series.targets[0]
    return plot_forecasts(
        folder / "online_forecast_vs_actual.png",
        f"{target}: prequential test walk (memory adapting vs frozen)",
        (times[begin:end], actual),
        lines,
        ylabel=target,
        split_at=times[starts[0]],
    )
