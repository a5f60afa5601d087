"""`memcast demo`: train a small Titans forecaster on the bundled data, evaluate it against the
baselines (standard and prequential protocols), write a forecast and plots, all in MLflow runs.

One parent run ("demo") holds nested runs: train, evaluate, forecast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .config import ExperimentConfig
from .experiment import evaluate, forecast, format_table, train, write_frame


@dataclass
class DemoResult:
    text: str
    run_id: str
    checkpoint: Path
    forecast_path: Path
    plots: list[Path]
    seconds: float


def run_demo(config: ExperimentConfig, echo=print) -> DemoResult:
    import mlflow

    from app import tracking

    started = time.perf_counter()
    uri = tracking.checked_uri(config.tracking.uri)
    out = Path(config.output_dir) / config.name
    out.mkdir(parents=True, exist_ok=True)
    with tracking.start_run(uri, config.tracking.experiment, "demo") as parent:
        mlflow.log_dict(config.model_dump(mode="json"), "config.yaml")
        echo(f"[1/3] training a {config.model.preset} forecaster on {config.data.source} ...")
        result = train(config, nested=True)
        echo(f"      trained in {result.seconds:.0f} s; checkpoint {result.checkpoint}")

        echo("[2/3] evaluating against seasonal naive and DLinear (standard and prequential protocols) ...")
        with tracking.start_run(uri, config.tracking.experiment, "evaluate", nested=True):
            mlflow.log_params({"model": str(result.checkpoint), "data": config.data.source, "online": True})
            standard = evaluate(result.module, config.data.source, online=False, plot_dir=out)
            online = evaluate(result.module, config.data.source, online=True, baselines=False, plot_dir=out)
            _log_rows(standard.rows, "test")
            _log_rows(online.online_rows, "online")
            for report in (standard, online):
                mlflow.log_artifact(str(report.plot), "plots")

        echo("[3/3] forecasting the day after the data ...")
        forecast_path = out / "forecast.csv"
        with tracking.start_run(uri, config.tracking.experiment, "forecast", nested=True):
            frame = forecast(result.module, config.data.source)
            write_frame(frame, forecast_path)
            mlflow.log_params(
                {
                    "model": str(result.checkpoint),
                    "input": config.data.source,
                    "horizon": result.module.horizon,
                }
            )
            mlflow.log_artifact(str(forecast_path), "forecast")
        mlflow.log_metric("demo_seconds", time.perf_counter() - started)
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


def _log_rows(rows, prefix: str) -> None:
    import mlflow

    for row in rows:
        if "diverged" in row:  # no score to log; the printed table and its note say why
            continue
        name = str(row["model"]).replace(" ", "_")
        h = row["horizon"]
        mlflow.log_metrics({f"{prefix}_{name}_mse_h{h}": row["mse"], f"{prefix}_{name}_mae_h{h}": row["mae"]})
