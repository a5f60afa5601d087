"""Training, forecasting and evaluation: LightningModule, optimiser and schedule, trainer, protocols.

    from app.training import ExperimentConfig, load_config, train, load_model, forecast, evaluate

The generic pieces (`OptimConfig` / `configure_optimizers`, `TrainerConfig` / `build_trainer`,
`load_config`) serve any LightningModule; `ForecastModule` and the protocols are for forecasting;
`app.training.genomics` trains, evaluates, samples and classifies genomes. `load_experiment` reads a
config of any task (its `task` field: forecast, genome-lm, genome-classify).
"""

from .config import TASKS, ConfigError, ExperimentConfig, apply_overrides, load_config, load_experiment
from .evaluation import (
    MemoryDiverged,
    fit_dlinear,
    forecast_windows,
    online_protocol,
    seasonal_naive,
    standard_protocol,
)
from .experiment import (
    EvaluationReport,
    ForecastError,
    TrainResult,
    build_datamodule,
    build_module,
    evaluate,
    forecast,
    format_table,
    load_model,
    train,
    write_frame,
)
from .genome_config import GenomeClassifyConfig, GenomeLMConfig
from .module import ForecastModule, build_net, load_module
from .optim import OptimConfig, configure_optimizers, warmup_cosine
from .trainer import MlflowEpochMetrics, TrainerConfig, build_trainer, resolve_precision

__all__ = [
    "TASKS",
    "ConfigError",
    "GenomeClassifyConfig",
    "GenomeLMConfig",
    "EvaluationReport",
    "ExperimentConfig",
    "ForecastError",
    "ForecastModule",
    "MemoryDiverged",
    "MlflowEpochMetrics",
    "OptimConfig",
    "TrainResult",
    "TrainerConfig",
    "apply_overrides",
    "build_datamodule",
    "build_module",
    "build_net",
    "build_trainer",
    "configure_optimizers",
    "evaluate",
    "fit_dlinear",
    "forecast",
    "forecast_windows",
    "format_table",
    "load_config",
    "load_experiment",
    "load_model",
    "load_module",
    "online_protocol",
    "resolve_precision",
    "seasonal_naive",
    "standard_protocol",
    "train",
    "warmup_cosine",
    "write_frame",
]
