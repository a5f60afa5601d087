"""The forecasting task: config, module, train, predict, the evaluation protocols, evaluate, demo.

    from app.forecasting import ExperimentConfig, evaluate, forecast, format_table, load_model, train
    from app.training import load_config

    config = load_config(ExperimentConfig, "configs/experiments/demo.yaml", ["trainer.max_epochs=3"])
    result = train(config)                       # an MLflow run; result.checkpoint, result.run_id
    model = load_model(result.checkpoint)        # or load_model(run_id)
    frame = forecast(model, "data/samples/vic_elec_sample.csv", horizon=48)   # unique_id, ds, yhat
    report = evaluate(model, "data/samples/vic_elec_sample.csv", online=True)
    print(format_table(report.rows))

Bad input raises `pipelines.errors.InputError` or `ForecastError`, each one line.
"""

from .config import DataSection, EvaluationSection, ExperimentConfig, ModelSection, stream_config
from .evaluate import EvaluationReport, evaluate, evaluate_tracked, format_table, log_report
from .module import ForecastMeta, ForecastModule, build_net, load_module, masked_loss
from .predict import ForecastError, forecast, forecast_tracked, load_model, read_series, write_frame
from .protocols import (
    fit_dlinear,
    forecast_windows,
    online_protocol,
    seasonal_naive,
    standard_protocol,
    window_starts,
)
from .train import FORECAST, build_datamodule, build_module, train

__all__ = [
    "FORECAST",
    "DataSection",
    "EvaluationReport",
    "EvaluationSection",
    "ExperimentConfig",
    "ForecastError",
    "ForecastMeta",
    "ForecastModule",
    "ModelSection",
    "build_datamodule",
    "build_module",
    "build_net",
    "evaluate",
    "evaluate_tracked",
    "fit_dlinear",
    "forecast",
    "forecast_tracked",
    "forecast_windows",
    "format_table",
    "load_model",
    "load_module",
    "log_report",
    "masked_loss",
    "online_protocol",
    "read_series",
    "seasonal_naive",
    "standard_protocol",
    "stream_config",
    "train",
    "window_starts",
    "write_frame",
]
