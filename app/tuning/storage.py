"""Where studies live, and the Optuna pieces a study is made of (storage, pruner, sampler).

Storage: `sqlite:///optuna.db` in the working directory by default (beside MLflow's mlflow.db),
$OPTUNA_STORAGE, or `--storage`: any Optuna RDB URL (sqlite, postgresql, mysql: workers on other
machines join a study through a shared server), or `journal:PATH`, Optuna's journal file storage
(optuna.storages.journal), safe for many processes on one machine or a shared file system.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.tracking import resolve_uri

if TYPE_CHECKING:
    import optuna

    from .space import Pruner

DEFAULT_STORAGE_FILE = "optuna.db"
JOURNAL = "journal:"
HEARTBEAT_SECONDS = 10
"""RDB storages record a heartbeat per running trial; one silent for 3 heartbeats (its process was
killed) is marked failed and re-queued with its params (Optuna's RetryHeartbeatStaleTrialCallback)."""


def resolve_storage(configured: str | None = None) -> str:
    """`--storage`, else $OPTUNA_STORAGE, else sqlite:///optuna.db in the working directory."""
    return resolve_uri(configured, "OPTUNA_STORAGE", DEFAULT_STORAGE_FILE)


def shown(url: str) -> str:
    """The URL without a password (for logs and MLflow params)."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def make_storage(url: str) -> optuna.storages.BaseStorage:
    """The Optuna storage of `url` (see the module doc); a sqlite folder must exist."""
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend

    if url.startswith(JOURNAL):
        path = Path(url.removeprefix(JOURNAL))
        if not path.parent.is_dir():
            raise ValueError(f"--storage {url}: folder {path.parent} does not exist")
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        folder = Path(url.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise ValueError(f"--storage {url}: folder {folder} does not exist")
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    try:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=3 * HEARTBEAT_SECONDS,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
        )
    except Exception as error:  # SQLAlchemy and drivers raise many types for a bad URL
        first = " ".join(str(error).split())[:200]
        raise ValueError(f"--storage {shown(url)}: cannot open: {first}") from None


def make_pruner(pruner: Pruner, max_epochs: int) -> optuna.pruners.BasePruner:
    """The space's pruner; Hyperband's largest budget is the trainer's max_epochs (its steps are
    epochs, as the Lightning pruning callback reports them)."""
    import optuna

    options = pruner.options()
    if pruner.type == "median":
        return optuna.pruners.MedianPruner(**options)
    if pruner.type == "hyperband":
        return optuna.pruners.HyperbandPruner(**{"max_resource": max_epochs, **options})
    if pruner.type == "threshold":
        return optuna.pruners.ThresholdPruner(**options)
    return optuna.pruners.NopPruner()


def make_sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def open_study(
    name: str, url: str, direction: str, *, pruner: Any = None, sampler: Any = None, create: bool = True
) -> optuna.Study:
    """The study `name` in `url`: created when missing (with `create`), else resumed."""
    import optuna

    storage = make_storage(url)
    if create:
        return optuna.create_study(
            study_name=name,
            storage=storage,
            direction=direction,
            pruner=pruner,
            sampler=sampler,
            load_if_exists=True,
        )
    return optuna.load_study(study_name=name, storage=storage, pruner=pruner, sampler=sampler)
