"""What every task shares: `TaskModule`, the one `fit` path, the optimiser and schedule, the trainer,
the divergence guard, checkpoints and config loading. The tasks are app.forecasting and app.genomics.
The config sections and their loading are app.experiments.shared's (they import without torch, so a
command checks a config before it imports torch and Lightning), re-exported here.
"""

from app.experiments.shared import (
    BackboneSection,
    ConfigError,
    Experiment,
    TrackingSection,
    apply_overrides,
    load_config,
    read_yaml,
)

from .checkpoints import hyper_parameters, resolve_checkpoint
from .fit import Task, TrainResult, fit
from .guard import finite_loss, skip_diverged_step
from .module import TaskModule
from .optim import OptimConfig, configure_optimizers, warmup_cosine
from .trainer import MlflowEpochMetrics, TrainerConfig, build_trainer, fit_to_checkpoint, resolve_precision

__all__ = [
    "BackboneSection",
    "ConfigError",
    "Experiment",
    "MlflowEpochMetrics",
    "OptimConfig",
    "Task",
    "TaskModule",
    "TrackingSection",
    "TrainResult",
    "TrainerConfig",
    "apply_overrides",
    "build_trainer",
    "configure_optimizers",
    "finite_loss",
    "fit",
    "fit_to_checkpoint",
    "hyper_parameters",
    "load_config",
    "read_yaml",
    "resolve_checkpoint",
    "resolve_precision",
    "skip_diverged_step",
    "warmup_cosine",
]
