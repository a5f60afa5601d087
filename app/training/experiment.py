"""Train, forecast and evaluate from Python; the CLI commands are thin wrappers over these.

    from app.training import ExperimentConfig, load_config, train, load_model, forecast, evaluate

    config = load_config(ExperimentConfig, "configs/experiments/demo.yaml", ["trainer.max_epochs=3"])
    result = train(config)                       # an MLflow run; result.checkpoint, result.run_id
    model = load_model(result.checkpoint)        # or load_model(run_id)
    frame = forecast(model, "data/samples/vic_elec_sample.csv", horizon=48)   # unique_id, ds, yhat
    report = evaluate(model, "data/samples/vic_elec_sample.csv", online=True)
    print(format_table(report.rows))

`train(config, track=False)` skips MLflow (for notebooks and benchmarks). Bad input raises
`pipelines.errors.InputError` or `ForecastError`, each one line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import polars as pl

from pipelines.datamodules import ForecastDataModule
from pipelines.errors import InputError
from pipelines.streams import (
    ScalerStats,
    SplitConfig,
    StreamConfig,
    StreamSeries,
    load_series,
    scale,
    unscale,
)
from pipelines.streams.splits import split_bounds
from pipelines.streams.timeindex import fixed_step_us

from .config import ExperimentConfig
from .evaluation import (
    MemoryDiverged,
    check_finite,
    diverged_as,
    fit_dlinear,
    online_protocol,
    seasonal_naive,
    standard_protocol,
)
from .module import ForecastModule, load_module
from .trainer import fit_to_checkpoint


class ForecastError(ValueError):
    """A request the model cannot serve (horizon too long, too little history, wrong channels)."""


# ---------------------------------------------------------------------------------------- building


def stream_config(config: ExperimentConfig) -> StreamConfig:
    """The pipeline settings: each training window gives lookback + history rows to the model."""
    data, model = config.data, config.model
    history = data.history if model.kind == "forecaster" else 0
    return StreamConfig(
        layout=data.layout,
        timestamp=data.timestamp,
        targets=data.targets,
        covariates=data.covariates,
        freq=data.freq,
        fill=data.fill,
        scaler=data.scaler,
        split=SplitConfig(**data.split),
        calendar=[],
        lookback=model.lookback + history,
        horizon=model.horizon,
        stride=data.stride,
    )


def build_datamodule(config: ExperimentConfig) -> ForecastDataModule:
    """The DataModule, set up (read, split, train-only scaler, windows)."""
    data = config.data
    module = ForecastDataModule(
        data.source,
        stream_config(config),
        batch_size=data.batch_size,
        eval_batch_size=data.eval_batch_size,
        num_workers=data.num_workers,
        seed=config.seed,
    )
    module.setup()
    return module


def net_config(config: ExperimentConfig, series: StreamSeries) -> tuple[str, dict[str, Any]]:
    """(kind, config dict) of the net for this series (its target and covariate counts)."""
    model = config.model
    n_targets = series.n_targets
    if model.kind == "dlinear":
        return "dlinear", {"lookback": model.lookback, "horizon": model.horizon, "n_targets": n_targets}
    return "forecaster", {
        "backbone": model.backbone_config().model_dump(),
        "lookback": model.lookback,
        "horizon": model.horizon,
        "patch_len": model.patch_len,
        "patch_stride": model.patch_stride,
        "n_targets": n_targets,
        "covariates": len(series.covariates) if model.use_covariates else 0,
        "revin": model.revin,
        "memorize_history": model.memorize_history,
        "memorize_chunk": model.memorize_chunk,
        "dropout": model.dropout,
        "linear_skip": model.linear_skip,
    }


def default_season(freq: str) -> int | None:
    """Rows per day for a fixed frequency that divides a day (48 for 30m), else None."""
    try:
        step = fixed_step_us(freq)
    except ValueError:
        return None
    day = 86_400_000_000
    return day // step if step and step < day and day % step == 0 else None


def build_module(config: ExperimentConfig, datamodule: ForecastDataModule) -> ForecastModule:
    data = datamodule.data
    assert data is not None
    kind, net = net_config(config, data.series)
    meta = {
        "stream": data.config.model_dump(mode="json"),
        "channels": data.series.channels,
        "targets": data.series.targets,
        "covariates": data.series.covariates,
        "freq": data.series.freq,
        "scaler": data.stats.to_dict(),
        "source": str(config.data.source),
        "season": config.evaluation.season or default_season(data.series.freq),
        "name": config.name,
        "horizons": config.evaluation.horizons,
        "online_step": config.evaluation.online_step,
        "experiment": config.tracking.experiment,
    }
    return ForecastModule(kind, net, config.optim.model_dump(mode="json"), meta, loss=config.model.loss)


# ---------------------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """The trained module (best checkpoint), its data, the checkpoint file (a copy is at
    <output_dir>/<name>/latest.ckpt), the run folder, the MLflow run id, and the test rows."""

    module: ForecastModule
    datamodule: ForecastDataModule
    checkpoint: Path
    output_dir: Path
    run_id: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def train(config: ExperimentConfig, *, track: bool = True, nested: bool = False) -> TrainResult:
    """Fit the configured model; test it (standard protocol) on the test part; with `track`, all in
    one MLflow run (params, resolved config, per-epoch metrics, checkpoint, plot, pyfunc model).

    The tracking store is checked before the data is read or anything is trained."""
    from app import tracking

    started = time.perf_counter()
    uri = tracking.resolve_tracking_uri(config.tracking.uri)
    if track and not nested:
        tracking.check_tracking(uri)
    L.seed_everything(config.seed, verbose=False)
    datamodule = build_datamodule(config)
    module = build_module(config, datamodule)
    if not track:
        return _fit(config, module, datamodule, None, None, started)
    with tracking.start_run(uri, config.tracking.experiment, f"train {config.name}", nested=nested) as run:
        tracking.log_config(config.model_dump(mode="json"))
        result = _fit(config, module, datamodule, run.info.run_id, uri, started)
        _log_training(config, result)
        return result


def _fit(config, module, datamodule, run_id, uri, started) -> TrainResult:
    best, output_dir = fit_to_checkpoint(
        config.trainer,
        module,
        datamodule,
        output_root=config.output_dir,
        name=config.name,
        run_id=run_id,
        tracking_uri=uri,
    )
    module = load_module(str(best))
    data = datamodule.data
    test_start, test_end = data.bounds.test
    horizons = _horizons(config.evaluation.horizons, module.horizon)
    rows = standard_protocol({config.name: module.net}, data.scaled, test_start, test_end, horizons)
    return TrainResult(module, datamodule, best, output_dir, run_id, rows, time.perf_counter() - started)


def _log_training(config: ExperimentConfig, result: TrainResult) -> None:
    import mlflow

    from app.tracking.pyfunc import log_pyfunc

    for row in result.rows:
        h = row["horizon"]
        mlflow.log_metrics({f"test_mse_h{h}": row["mse"], f"test_mae_h{h}": row["mae"]})
    mlflow.log_metric("train_seconds", result.seconds)
    mlflow.log_artifact(str(result.checkpoint), "checkpoints")
    data = result.datamodule.data
    plot = _plot_test_window(result.module, data.series, data.scaled, data.bounds.test, result.output_dir)
    mlflow.log_artifact(str(plot), "plots")
    if config.tracking.log_model:
        log_pyfunc(result.checkpoint, result.module.horizon)


def _horizons(requested: list[int], horizon: int) -> list[int]:
    chosen = sorted({h for h in requested if h <= horizon} | ({horizon} if not requested else set()))
    return chosen or [horizon]


# ---------------------------------------------------------------------------------------- models and data


def load_model(reference: str | Path, tracking_uri: str | None = None) -> ForecastModule:
    """A trained model from a checkpoint file or an MLflow run id (its logged checkpoint)."""
    return load_module(str(resolve_checkpoint(reference, tracking_uri)))


def resolve_checkpoint(reference: str | Path, tracking_uri: str | None = None) -> Path:
    """The checkpoint file of `reference`: a checkpoint path, or an MLflow run id (its logged
    checkpoint, best.ckpt when there)."""
    path = Path(reference)
    if path.suffix == ".ckpt" or path.exists():
        if not path.is_file():
            raise InputError("no such checkpoint file", path=path)
        return path
    from app.tracking import run_artifact

    try:
        folder = run_artifact(str(reference), "checkpoints", tracking_uri)
    except Exception as error:  # MLflow raises several types for an unknown run
        first = " ".join(str(error).split())[:200]
        raise InputError(
            f"not a checkpoint file nor a run with a logged checkpoint ({first})", path=str(reference)
        ) from None
    checkpoints = sorted(folder.glob("*.ckpt"))
    if not checkpoints:
        raise InputError("the run logged no checkpoint", path=str(reference))
    best = [c for c in checkpoints if c.stem == "best"]
    return (best or checkpoints)[0]


def read_series(model: ForecastModule, source: Any) -> tuple[StreamSeries, np.ndarray]:
    """The series of `source` read with the model's pipeline settings, and scaled with the model's
    (training) scaler; its channels must be the model's."""
    meta = model.meta
    stream = StreamConfig(**{**meta["stream"], "split": SplitConfig(**meta["stream"]["split"])})
    if isinstance(source, str | Path) and not Path(source).exists() and str(source) not in _named():
        raise InputError("no such file", path=str(source))
    series = load_series(source, stream)
    if series.channels != list(meta["channels"]):
        raise InputError(
            f"channels {series.channels} differ from the model's {list(meta['channels'])}", path=series.source
        )
    stats = ScalerStats.from_dict(meta["scaler"])
    return series, scale(series.values, stats).astype(np.float32)


def _named() -> set[str]:
    from pipelines.datasets import DATASETS

    return set(DATASETS)


def _future_times(last: Any, freq: str, steps: int) -> pl.Series:
    times, current = [], pl.Series("ds", [last])
    for _ in range(steps):
        current = current.dt.offset_by(freq)
        times.append(current[0])
    return pl.Series("ds", times, dtype=current.dtype)


# ---------------------------------------------------------------------------------------- forecasting


def forecast(model: ForecastModule, source: Any, horizon: int | None = None) -> pl.DataFrame:
    """The next `horizon` steps after the end of `source` (a path, a named series or a DataFrame),
    in original units, long format: unique_id (target name), ds, yhat. The model reads the whole
    series (test-time memorisation, if the model has it on)."""
    import torch

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
    stats = ScalerStats.from_dict(model.meta["scaler"])
    k = len(series.targets)
    original = yhat * stats.scale[:k] + stats.center[:k]
    times = _future_times(series.timestamps[-1], series.freq, horizon)
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


# ---------------------------------------------------------------------------------------- evaluation


@dataclass
class EvaluationReport:
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
    also the prequential protocol, adapting vs frozen (see app/training/evaluation.py)."""
    series, scaled = read_series(model, source)
    bounds = split_bounds(series.timestamps, SplitConfig(**model.meta["stream"]["split"]))
    test_start, test_end = bounds.test
    bad = [h for h in horizons or [] if not 1 <= h <= model.horizon]
    if bad:
        raise ForecastError(f"--horizons {bad}: this model forecasts 1 to {model.horizon} steps")
    horizons = _horizons(horizons or model.meta.get("horizons") or [], model.horizon)
    step = step or model.meta.get("online_step")
    nets: dict[str, Any] = {model.meta.get("name", "model"): model.net}
    if baselines:
        k = len(series.targets)
        season = season or model.meta.get("season")
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
            report.plot = _plot_online(model, series, forecasts, starts, Path(plot_dir))
    elif plot_dir is not None:
        report.plot = _plot_test_window(model, series, scaled, (test_start, test_end), Path(plot_dir))
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


def _plot_test_window(model, series, scaled, test, folder: Path) -> Path:
    """The last test window: its lookback and actuals, and the forecast, in original units."""
    import torch

    from app.tracking.plots import plot_forecasts

    start = test[1] - model.horizon
    stats = ScalerStats.from_dict(model.meta["scaler"])
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
        {model.meta.get("name", "model"): (future, yhat * stats.scale[0] + stats.center[0])},
        ylabel=target,
        split_at=times[start - begin],
    )


def _plot_online(model, series, forecasts, starts, folder: Path) -> Path:
    """The prequential walk over the test part: actuals, adapting and frozen forecasts (target 0)."""
    from app.tracking.plots import plot_forecasts

    stats = ScalerStats.from_dict(model.meta["scaler"])
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
