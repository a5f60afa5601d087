"""The tasks memcast runs, chosen by an experiment config's `task` field or by what a checkpoint
holds; the CLI (and tuning, later) reach the task packages through here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app import tracking
from app.forecasting import ExperimentConfig
from app.forecasting import train as train_forecaster
from app.genomics import GenomeClassifyConfig, GenomeLMConfig, is_genome_checkpoint, train_genome
from app.training import ConfigError, TrainResult, load_config, read_yaml, resolve_checkpoint

CONFIGS: dict[str, type[ExperimentConfig | GenomeLMConfig | GenomeClassifyConfig]] = {
    "forecast": ExperimentConfig,
    "genome-lm": GenomeLMConfig,
    "genome-classify": GenomeClassifyConfig,
}
TASKS = tuple(CONFIGS)
"""The experiment kinds `memcast train` runs, named by a config's `task` field (default forecast)."""

Config = ExperimentConfig | GenomeLMConfig | GenomeClassifyConfig


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> Config:
    """The experiment config of `path`, of the class its `task` names (after the overrides)."""
    path = Path(path)
    task = read_yaml(path, overrides).get("task", "forecast")
    if task not in CONFIGS:
        raise ConfigError(f"{path}: task: unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return load_config(CONFIGS[task], path, overrides)


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
