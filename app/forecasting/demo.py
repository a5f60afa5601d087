"""`memcast demo`: train a small Titans forecaster on the bundled data, evaluate it against the
baselines (standard and prequential protocols), write a forecast and plots, all in MLflow runs.

One parent run ("demo") holds nested runs: train, evaluate, forecast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from app import tracking

from .config import ExperimentConfig
from .evaluate import EvaluationReport, evaluate, format_table, log_report
from .predict import forecast, write_frame
from .train import train

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "configs" / "experiments" / "demo.yaml"


@dataclass
class DemoResult:
    text: str
    run_id: str
    checkpoint: Path
    forecast_path: Path
    plots: list[Path]
    seconds: float


def with_bundled_data(config: ExperimentConfig) -> ExperimentConfig:
    """`config` with a relative data source that does not exist here read from the repository (the
    bundled data, wherever the command runs from)."""
    source = Path(config.data.source)
    if not source.is_absolute() and not source.exists() and (ROOT / source).exists():
        config.data.source = str(ROOT / source)
    return config


def run_demo(config: ExperimentConfig, echo=print) -> DemoResult:
    """Train, evaluate and forecast as the module doc says, echoing progress and the results."""
    started = time.perf_counter()
    uri = tracking.checked_uri(config.tracking.uri)
    out = Path(config.output_dir) / config.name
    out.mkdir(parents=True, exist_ok=True)
    with tracking.start_run(uri, config.tracking.experiment, "demo") as parent:
        tracking.log_dict(config.model_dump(mode="json"), "config.yaml")
        echo(f"[1/3] training a {config.model.preset} forecaster on {config.data.source} ...")
        result = train(config, nested=True)
        echo(f"      trained in {result.seconds:.0f} s; checkpoint {result.checkpoint}")

        echo("[2/3] evaluating against seasonal naive and DLinear (standard and prequential protocols) ...")
        with tracking.start_run(uri, config.tracking.experiment, "evaluate", nested=True):
            tracking.log_params({"model": str(result.checkpoint), "data": config.data.source, "online": True})
            standard = evaluate(result.module, config.data.source, online=False, plot_dir=out)
            online = evaluate(result.module, config.data.source, online=True, baselines=False, plot_dir=out)
            log_report(result.module, standard)
            log_report(result.module, EvaluationReport([], online.online_rows, online.plot))

        echo("[3/3] forecasting the day after the data ...")
        forecast_path = out / "forecast.csv"
        with tracking.start_run(uri, config.tracking.experiment, "forecast", nested=True):
            frame = forecast(result.module, config.data.source)
            write_frame(frame, forecast_path)
            tracking.log_params(
                {
                    "model": str(result.checkpoint),
                    "input": config.data.source,
                    "horizon": result.module.horizon,
                }
            )
            tracking.log_artifact(forecast_path, "forecast")
        tracking.log_metrics({"demo_seconds": time.perf_counter() - started})
        run_id = parent.info.run_id

    seconds = time.perf_counter() - started
    plots = [p for p in (standard.plot, online.plot) if p is not None]
    text = "\n".join(
        [
            "",
            format_table(standard.rows, "Standard protocol (test part, MSE / MAE on scaled values):"),
            "",
            format_table(
                online.online_rows,
                "Prequential protocol (forecast, reveal, the memory reads it). frozen: the memory\n"
                "reads only each lookback window; frozen-at-test-start: it read the series up to the\n"
                "test part, then stops:",
            ),
            "",
            f"forecast:   {forecast_path} ({len(frame)} rows: unique_id, ds, yhat)",
            f"plots:      {', '.join(str(p) for p in plots)}",
            f"checkpoint: {result.checkpoint}",
            f"MLflow:     run {run_id} in experiment '{config.tracking.experiment}' at {uri}",
            f"            browse with: .venv/bin/mlflow ui --backend-store-uri {uri}",
            f"done in {seconds:.0f} s",
        ]
    )
    echo(text)
    return DemoResult(text, run_id, result.checkpoint, forecast_path, plots, seconds)
