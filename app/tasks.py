"""The tasks memcast runs, chosen by an experiment config's `task` field or by what a checkpoint
holds; the CLI (and tuning) reach the task packages through here. The configs and
`load_experiment` are app.experiments' (they import without torch), re-exported here."""

from __future__ import annotations

from typing import Any

from app import tracking
from app.experiments import CONFIGS, TASKS, Config, load_experiment
from app.forecasting import ExperimentConfig
from app.forecasting import train as train_forecaster
from app.genomics import is_genome_checkpoint, train_genome
from app.training import TrainResult, resolve_checkpoint

__all__ = ["CONFIGS", "TASKS", "Config", "is_genome_model", "load_experiment", "train"]


def train(config: Config, **options: Any) -> TrainResult:
    """Train `config`'s task as an MLflow run; `options` go to app.training.fit (track, nested,
    parent_run_id, tags, callbacks)."""
    if isinstance(config, ExperimentConfig):
        return train_forecaster(config, **options)
    return train_genome(config, **options)


def is_genome_model(reference: str, tracking_uri: str | None = None) -> bool:
    """Whether `reference` (a checkpoint file or an MLflow run id) holds a genome model; the
    tracking store is checked first, as every command does."""
    uri = tracking.checked_uri(tracking_uri)
    return is_genome_checkpoint(resolve_checkpoint(reference, uri))
