"""Every bad input to the forecasting commands: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import polars as pl
import pytest

from .conftest import DEMO
from .test_end_to_end import run_cli


def assert_one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    # memcast's notes (what it read, once) may come first; the error is one line
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]


@pytest.mark.parametrize("command", ["train", "forecast", "evaluate"])
def test_missing_file(command, tmp_path, tracking_uri, trained):
    missing = str(tmp_path / "missing.csv")
    args = {
        "train": ["train", str(tmp_path / "missing.yaml")],
        "forecast": ["forecast", "--model", str(trained.checkpoint), "--input", missing, "--output", "x.csv"],
        "evaluate": ["evaluate", "--model", str(trained.checkpoint), "--data", missing],
    }[command]
    assert_one_line_error(run_cli(*args, uri=tracking_uri), "missing.")


def test_missing_checkpoint(tmp_path, tracking_uri, slice_csv):
    result = run_cli(
        "forecast",
        "--model",
        str(tmp_path / "gone.ckpt"),
        "--input",
        str(slice_csv),
        "--output",
        str(tmp_path / "f.csv"),
        uri=tracking_uri,
    )
    assert_one_line_error(result, "gone.ckpt: no such checkpoint file")


def test_config_with_an_unknown_field(tmp_path, tracking_uri):
    config = tmp_path / "bad.yaml"
    config.write_text(DEMO.read_text().replace("  patch_len: 8", "  patch_len: 8\n  patch_size: 8"))
    result = run_cli("train", str(config), uri=tracking_uri)
    assert_one_line_error(result, "bad.yaml: model.patch_size: unknown field")
    result = run_cli("train", str(DEMO), "--set", "trainer.epochs=3", uri=tracking_uri)
    assert_one_line_error(result, "trainer.epochs: unknown field")


def test_horizon_longer_than_the_model_supports(trained, slice_csv, tmp_path, tracking_uri):
    result = run_cli(
        "forecast",
        "--model",
        str(trained.checkpoint),
        "--input",
        str(slice_csv),
        "--horizon",
        "49",
        "--output",
        str(tmp_path / "f.csv"),
        uri=tracking_uri,
    )
    assert_one_line_error(result, "--horizon 49: this model forecasts 1 to 48 steps")


def test_input_with_too_little_history(trained, slice_csv, tmp_path, tracking_uri):
    short = tmp_path / "short.csv"
    pl.read_csv(slice_csv).head(50).write_csv(short)
    result = run_cli(
        "forecast",
        "--model",
        str(trained.checkpoint),
        "--input",
        str(short),
        "--output",
        str(tmp_path / "f.csv"),
        uri=tracking_uri,
    )
    expected = "short.csv: too little history: 50 rows; the model needs at least lookback=96"
    assert_one_line_error(result, expected)


def test_unreachable_tracking_server_fails_before_training(tmp_path):
    result = run_cli("train", str(DEMO), "--set", "trainer.max_epochs=1", uri="http://127.0.0.1:9")
    assert_one_line_error(result, "tracking server http://127.0.0.1:9 is unreachable")
