"""Tiny studies on the bundled sample: the forecasting tests' tiny model, two epochs (the pruner
reads each), real Optuna storages and a real MLflow sqlite store in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.forecasting.conftest import DEMO, SAMPLE, TINY, one_thread  # noqa: F401 (a fixture)

TRIAL = [*TINY, f"data.source={SAMPLE}", "trainer.max_epochs=2", "tracking.log_model=false"]


def write_space(folder: Path, params: dict, **fields) -> Path:
    """A search space YAML in `folder` (median pruner from the first trial on unless told)."""
    space = {
        "pruner": {"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
        **fields,
        "params": params,
    }
    path = folder / "space.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


LR = {"optim.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}}


def make_store(folder: Path) -> dict[str, str]:
    """An Optuna sqlite storage, an MLflow sqlite store and an output folder, all in `folder`."""
    return {
        "storage": f"sqlite:///{folder / 'optuna.db'}",
        "tracking_uri": f"sqlite:///{folder / 'mlflow.db'}",
        "output_dir": str(folder / "runs"),
    }


@pytest.fixture
def store(tmp_path) -> dict[str, str]:
    return make_store(tmp_path)
