"""What every task shares: `TaskModule`, the one `fit` path, the optimiser and schedule, the trainer,
the divergence guard, checkpoints and config loading. The tasks are app.forecasting and app.genomics.
"""

from .checkpoints import hyper_parameters, resolve_checkpoint
from .config import (
    BackboneSection,
    ConfigError,
    Experiment,
    TrackingSection,
    apply_overrides,
    load_config,
    read_yaml,
)
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
