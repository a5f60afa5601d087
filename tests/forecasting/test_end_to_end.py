"""Train -> checkpoint -> forecast from the file -> evaluate, on a real slice, with a real sqlite
MLflow store; the pyfunc model loads and predicts; the CLI commands run as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import mlflow
import numpy as np
import polars as pl

from app.forecasting import evaluate, forecast, load_model

from .conftest import ROOT


def run_cli(*args: str, uri: str):
    """The command in this process (typer's runner: the real command, no interpreter start-up)."""
    from typer.testing import CliRunner

    from app.cli import app

    return CliRunner().invoke(app, list(args), env={"MLFLOW_TRACKING_URI": uri})


def run_cli_process(*args: str, uri: str) -> subprocess.CompletedProcess:
    """The command as a user runs it, in a fresh interpreter."""
    env = {"MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )


def test_training_is_one_tracked_run(trained, tracking_uri):
    client = mlflow.MlflowClient(tracking_uri)
    run = client.get_run(trained.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.preset"] == "titans-lmm"
    assert run.data.params["trainer.max_epochs"] == "1"
    expected = {"train_loss", "val_loss", "val_mae", "lr", "test_mse_h48", "test_mae_h24"}
    assert expected <= set(run.data.metrics)
    assert [m.step for m in client.get_metric_history(trained.run_id, "val_loss")] == [0]
    artifacts = {a.path for a in client.list_artifacts(trained.run_id)}
    assert {"config.yaml", "checkpoints", "plots"} <= artifacts
    assert [a.path for a in client.list_artifacts(trained.run_id, "plots")][0].endswith(".png")
    assert trained.checkpoint.is_file()


def test_checkpoint_forecasts_and_evaluates(trained, slice_csv, tmp_path):
    model = load_model(trained.checkpoint)
    frame = forecast(model, slice_csv, horizon=12)
    assert frame.columns == ["unique_id", "ds", "yhat"] and frame.height == 12
    assert frame["unique_id"].unique().to_list() == ["demand"]
    last = pl.read_csv(slice_csv, try_parse_dates=True)["timestamp"][-1]
    assert (frame["ds"][0] - last).total_seconds() == 1800
    assert frame["yhat"].is_finite().all()
    report = evaluate(model, slice_csv, online=True, plot_dir=tmp_path)
    models = {row["model"] for row in report.rows}
    assert models == {"demo", "seasonal-naive", "dlinear"}
    assert {row["horizon"] for row in report.rows} == {24, 48}
    assert {row["model"] for row in report.online_rows} == {"adapting", "frozen", "frozen-at-test-start"}
    assert all(np.isfinite(row["mse"]) and row["mse"] > 0 for row in report.rows + report.online_rows)
    assert report.plot.is_file() and report.plot.read_bytes()[:4] == b"\x89PNG"


def test_pyfunc_model_loads_and_predicts(trained, slice_csv, tracking_uri):
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(f"runs:/{trained.run_id}/model")
    frame = pl.read_csv(slice_csv).to_pandas()
    out = model.predict(frame, params={"horizon": 6})
    assert list(out.columns) == ["unique_id", "ds", "yhat"] and len(out) == 6
    direct = forecast(load_model(trained.checkpoint), slice_csv, horizon=6)
    np.testing.assert_allclose(out["yhat"].to_numpy(), direct["yhat"].to_numpy(), rtol=1e-5)


def test_cli_forecast_and_evaluate_by_run_id(trained, slice_csv, tracking_uri, tmp_path):
    output = tmp_path / "forecast.parquet"
    result = run_cli_process(
        "forecast",
        "--model",
        trained.run_id,
        "--input",
        str(slice_csv),
        "--horizon",
        "24",
        "--output",
        str(output),
        uri=tracking_uri,
    )
    assert result.returncode == 0, result.stderr
    frame = pl.read_parquet(output)
    assert frame.columns == ["unique_id", "ds", "yhat"] and frame.height == 24

    result = run_cli(
        "evaluate",
        "--model",
        str(trained.checkpoint),
        "--data",
        str(slice_csv),
        "--online",
        "--plot-dir",
        str(tmp_path),
        uri=tracking_uri,
    )
    assert result.exit_code == 0, result.output
    for name in ("seasonal-naive", "dlinear", "adapting", "frozen"):
        assert name in result.stdout
    runs = mlflow.MlflowClient(tracking_uri).search_runs(
        [mlflow.MlflowClient(tracking_uri).get_experiment_by_name("memcast-demo").experiment_id]
    )
    names = {run.info.run_name for run in runs}
    assert {"forecast", "evaluate"} <= names


def test_cli_train_runs_from_a_config(slice_csv, tracking_uri, tmp_path):
    from .conftest import TINY

    items = [*TINY, f"data.source={slice_csv}", f"output_dir={tmp_path}"]
    sets = [arg for item in items for arg in ("--set", item)]
    result = run_cli("train", str(ROOT / "configs/experiments/demo.yaml"), *sets, uri=tracking_uri)
    assert result.exit_code == 0, result.output
    assert "checkpoint:" in result.stdout and "MLflow run:" in result.stdout
