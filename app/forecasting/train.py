"""Training a forecaster: the datamodule and module of an experiment config, and `train`, the one
fit path (app.training.fit) with the forecasting test (the standard protocol on the test part).

    config = load_config(ExperimentConfig, "configs/experiments/demo.yaml", ["trainer.max_epochs=3"])
    result = train(config)          # an MLflow run; result.checkpoint, result.run_id, result.rows

`train(config, track=False)` skips MLflow (for notebooks and benchmarks).
"""

from __future__ import annotations

from typing import Any

from app import tracking
from app.training import Task, TrainResult, fit
from pipelines.datamodules import ForecastDataModule
from pipelines.streams import StreamSeries
from pipelines.streams.timeindex import fixed_step_us

from .config import ExperimentConfig, stream_config
from .module import ForecastMeta, ForecastModule, load_module
from .plots import plot_test_window
from .protocols import standard_protocol


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
        **model.head_fields(),
        "n_targets": n_targets,
        "covariates": len(series.covariates) if model.use_covariates else 0,
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
    """The untrained module of `config` for the datamodule's series."""
    data = datamodule.data
    assert data is not None
    kind, net = net_config(config, data.series)
    meta = ForecastMeta(
        stream=data.config,
        channels=data.series.channels,
        targets=data.series.targets,
        covariates=data.series.covariates,
        freq=data.series.freq,
        scaler=data.stats.to_dict(),
        source=str(config.data.source),
        season=config.evaluation.season or default_season(data.series.freq),
        name=config.name,
        horizons=config.evaluation.horizons,
        online_step=config.evaluation.online_step,
        experiment=config.tracking.experiment,
        threads=config.trainer.threads,
    )
    optim = config.optim.model_dump(mode="json")
    return ForecastModule(kind, net, optim, meta.model_dump(mode="json"), loss=config.model.loss)


def chosen_horizons(requested: list[int], horizon: int) -> list[int]:
    """The requested horizons the model can forecast (all of them: <= its horizon), else its horizon."""
    chosen = sorted({h for h in requested if h <= horizon} | ({horizon} if not requested else set()))
    return chosen or [horizon]


def _build(config: ExperimentConfig) -> tuple[ForecastModule, ForecastDataModule]:
    datamodule = build_datamodule(config)
    return build_module(config, datamodule), datamodule


def _test(config: ExperimentConfig, module: ForecastModule, datamodule: ForecastDataModule) -> list[dict]:
    data = datamodule.data
    test_start, test_end = data.bounds.test
    horizons = chosen_horizons(config.evaluation.horizons, module.horizon)
    return standard_protocol({config.name: module.net}, data.scaled, test_start, test_end, horizons)


def _log(config: ExperimentConfig, result: TrainResult) -> None:
    """A tracked run also records a plot of the last test window and (log_model) a pyfunc model."""
    data = result.datamodule.data
    plot = plot_test_window(result.module, data.series, data.scaled, data.bounds.test, result.output_dir)
    tracking.log_artifact(plot, "plots")
    if config.tracking.log_model:
        from .pyfunc import input_example, log_pyfunc  # imports mlflow.pyfunc (seconds): tracked runs only

        example = input_example(data.series, result.module.lookback)
        log_pyfunc(result.checkpoint, result.module.horizon, example=example)


def _frame(datamodule: ForecastDataModule):
    return datamodule.data.series.frame


FORECAST = Task(build=_build, load=lambda path: load_module(str(path)), test=_test, log=_log, frame=_frame)


def train(config: ExperimentConfig, *, track: bool = True, **options: Any) -> TrainResult:
    """Fit the configured model and test it (standard protocol on the test part); with `track`, all
    in one MLflow run (see app.training.fit; `options` go to it: nested, parent_run_id, tags,
    callbacks), plus a plot and a pyfunc model."""
    return fit(FORECAST, config, track=track, **options)
