"""Evaluating a forecaster on a series: the standard protocol against the baselines, and the
prequential protocol (adapting vs frozen memory; see protocols.py), with plots and an MLflow run.

    report = evaluate(model, "data/samples/vic_elec_sample.csv", online=True)
    print(format_table(report.rows))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import console, tracking
from app.memory import MemoryDiverged
from pipelines.errors import InputError
from pipelines.streams.splits import split_bounds

from .module import ForecastModule
from .plots import plot_online, plot_test_window
from .predict import ForecastError, load_model, read_series
from .protocols import fit_dlinear, online_protocol, seasonal_naive, standard_protocol
from .train import chosen_horizons


@dataclass
class EvaluationReport:
    """Rows of the standard protocol and (online) of the prequential one, and the plot."""

    rows: list[dict[str, Any]]
    online_rows: list[dict[str, Any]] = field(default_factory=list)
    plot: Path | None = None


def evaluate(
    model: ForecastModule,
    source: Any,
    *,
    online: bool = False,
    horizons: list[int] | None = None,
    step: int | None = None,
    season: int | None = None,
    baselines: bool = True,
    plot_dir: str | Path | None = None,
) -> EvaluationReport:
    """The standard protocol on the test part of `source` (the model's split and scaler): MSE / MAE
    per horizon for the model, seasonal naive and DLinear (fitted on the train part); with `online`,
    also the prequential protocol, adapting vs frozen."""
    series, scaled = read_series(model, source)
    bounds = split_bounds(series.timestamps, model.meta.stream.split)
    test_start, test_end = bounds.test
    bad = [h for h in horizons or [] if not 1 <= h <= model.horizon]
    if bad:
        raise ForecastError(f"--horizons {bad}: this model forecasts 1 to {model.horizon} steps")
    horizons = chosen_horizons(horizons or model.meta.horizons, model.horizon)
    step = step or model.meta.online_step
    nets: dict[str, Any] = {model.meta.name: model.net}
    if baselines:
        k = len(series.targets)
        season = season or model.meta.season
        nets["seasonal-naive"] = seasonal_naive(model.lookback, model.horizon, k, season)
        nets["dlinear"] = fit_dlinear(scaled, bounds.train[1], model.lookback, model.horizon, k)
    try:
        rows = standard_protocol(nets, scaled, test_start, test_end, horizons)
    except MemoryDiverged:
        raise
    except ValueError as error:
        raise InputError(str(error), path=series.source) from None
    report = EvaluationReport(rows)
    if online:
        if model.hparams.net_kind != "forecaster":
            raise ForecastError("--online: only a memory forecaster adapts at test time")
        online_rows, forecasts, starts = online_protocol(
            model.net, scaled, test_start, test_end, step=step, horizons=horizons
        )
        report.online_rows = online_rows
        if plot_dir is not None:
            report.plot = plot_online(model, series, forecasts, starts, Path(plot_dir))
    elif plot_dir is not None:
        report.plot = plot_test_window(model, series, scaled, (test_start, test_end), Path(plot_dir))
    return report


def log_report(model: ForecastModule, report: EvaluationReport) -> None:
    """The report's rows (test: the model in the active run, each baseline nested; online: each
    variant nested) and its plot, into the active run."""
    tracking.log_rows(report.rows, "test", model=model.meta.name)
    tracking.log_rows(report.online_rows, "online")
    if report.plot is not None:
        tracking.log_artifact(report.plot, "plots")


def evaluate_tracked(
    reference: str,
    source: str,
    *,
    online: bool,
    horizons: list[int] | None,
    step: int | None,
    plot_dir: Path,
    tracking_uri: str | None,
) -> EvaluationReport:
    """`memcast evaluate` for a forecaster: `evaluate`, recorded in an MLflow run ("evaluate")."""
    uri = tracking.checked_uri(tracking_uri)
    model = load_model(reference, uri)
    console.use_threads(model.meta.threads)  # --threads, else the config it was trained with
    report = evaluate(model, source, online=online, horizons=horizons, step=step, plot_dir=plot_dir)
    with tracking.start_run(uri, model.meta.experiment, "evaluate"):
        tracking.log_params({"model": reference, "data": source, "online": online})
        log_report(model, report)
    return report


def format_table(rows: list[dict[str, Any]], title: str = "") -> str:
    """A plain-text table: model, horizon, MSE, MAE, windows; a diverged row says so, with its message
    below the table."""
    lines = [title] if title else []
    lines.append(f"{'model':<22}{'horizon':>8}{'MSE':>10}{'MAE':>10}{'windows':>9}")
    for row in rows:
        scores = f"{'diverged':>20}" if "diverged" in row else f"{row['mse']:>10.4f}{row['mae']:>10.4f}"
        lines.append(f"{row['model']:<22}{row['horizon']:>8}{scores}{row['windows']:>9}")
    notes = {row["model"]: row["diverged"] for row in rows if "diverged" in row}
    lines += [f"{name}: {message}" for name, message in notes.items()]
    return "\n".join(lines)
