"""Shared fixtures: a small real slice of the bundled series, a tiny config, one MLflow store."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import torch

from app.forecasting import ExperimentConfig
from app.training import load_config

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "vic_elec_sample.csv"
DEMO = ROOT / "configs" / "experiments" / "demo.yaml"


def make_memory_diverge(memory) -> None:
    """Put a NeuralMemory where it blows up on a long stream: the papers' plain update rule (the stable
    default does not diverge here), initial weights at 10x their scale and every write gate near its
    maximum (a regime the outer loop can reach)."""
    memory.spec = memory.spec.plain()
    memory.momentum_bounded_step = False
    with torch.no_grad():
        for weight in memory.initial_weights:
            weight.mul_(10.0)
        memory.to_gates.bias.fill_(8.0)


# A tiny Titans model that trains in seconds: one epoch of a few batches.
TINY = [
    "model.backbone={d_model: 16, n_layers: 1, memory: {chunk_size: 4}}",
    "model.lookback=96",
    "model.horizon=48",
    "model.patch_len=16",
    "data.history=64",
    "data.stride=4",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.progress_bar=false",
    "evaluation.horizons=[24, 48]",
]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread per test (tiny models on a busy 2-core machine; see tests/models/conftest.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def slice_csv(tmp_path_factory) -> Path:
    """The first four weeks of the bundled Victorian demand sample (1,344 half-hours)."""
    path = tmp_path_factory.mktemp("data") / "vic_elec_4w.csv"
    pl.read_csv(SAMPLE).head(4 * 7 * 48).write_csv(path)
    return path


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory) -> str:
    """One sqlite store for the session (creating its tables takes several seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def tiny_config(source: Path, output_dir: Path, uri: str | None = None, *extra: str) -> ExperimentConfig:
    overrides = [*TINY, f"data.source={source}", f"output_dir={output_dir}", *extra]
    if uri:
        overrides.append(f"tracking.uri={uri}")
    return load_config(ExperimentConfig, DEMO, overrides)


@pytest.fixture(scope="session")
def trained(slice_csv, tracking_uri, tmp_path_factory):
    """A tiny model trained once, tracked in the session store."""
    from app.forecasting import train

    out = tmp_path_factory.mktemp("runs")
    return train(tiny_config(slice_csv, out, tracking_uri))
