"""Optuna studies over any task's experiment config (`memcast tune`): search spaces in YAML
(configs/tuning/), Optuna storages (sqlite by default, journal files, RDB servers), pruning with
Optuna's Lightning callback, one nested MLflow run per trial under the study's parent run, workers.

    from app.tuning import TuneOptions, tune
    result = tune(TuneOptions(config=Path("configs/experiments/demo.yaml"), trials=6, study="demo"))
"""

from .space import Param, Space, SpaceError, check_space, load_space
from .storage import make_storage, resolve_storage
from .study import USER_ERRORS, TuneError, TuneOptions, TuneResult, tune

__all__ = [
    "USER_ERRORS",
    "Param",
    "Space",
    "SpaceError",
    "TuneError",
    "TuneOptions",
    "TuneResult",
    "check_space",
    "load_space",
    "make_storage",
    "resolve_storage",
    "tune",
]
