"""Experiment configs (YAML under configs/experiments/) for every task, and their loading:
`load_experiment` reads a config, applies the `--set` overrides and validates it into the class its
`task` field names; a bad field is a one-line `ConfigError` that names it.

    config = load_experiment("configs/experiments/demo.yaml", ["trainer.max_epochs=2"])

Imports pydantic and yaml only (through app.models.config and app.memory.spec, never torch,
Lightning or MLflow), so a command checks its config before it imports them. The task packages
re-export their configs (app.forecasting, app.genomics); app.training the shared sections.
"""

from __future__ import annotations

from pathlib import Path

from .forecast import DataSection, EvaluationSection, ExperimentConfig, ModelSection
from .genome import GenomeClassifyConfig, GenomeConfig, GenomeLMConfig
from .shared import (
    BackboneSection,
    ConfigError,
    Experiment,
    OptimConfig,
    TrackingSection,
    TrainerConfig,
    apply_overrides,
    load_config,
    read_yaml,
)

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


__all__ = [
    "CONFIGS",
    "TASKS",
    "BackboneSection",
    "Config",
    "ConfigError",
    "DataSection",
    "EvaluationSection",
    "Experiment",
    "ExperimentConfig",
    "GenomeClassifyConfig",
    "GenomeConfig",
    "GenomeLMConfig",
    "ModelSection",
    "OptimConfig",
    "TrackingSection",
    "TrainerConfig",
    "apply_overrides",
    "load_config",
    "load_experiment",
    "read_yaml",
]
