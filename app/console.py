"""What a `memcast` command shows besides its results, and the CPU threads it may use.

    quiet(verbose=False)     # before the heavy libraries are imported (the CLI calls it first)
    request_threads(2)       # --threads: polars' and BLAS's pools (read when they start), and torch's
    use_threads(meta.threads)  # after loading a model: --threads, else the model's config, for torch

Quiet (the default): no Lightning banner or tips, no MLflow INFO lines or artifact progress bars, and
no DeprecationWarning / FutureWarning raised inside a dependency; memcast's own notes (the `app` and
`pipelines` loggers, INFO) and every other warning (about the user's data or model) still show, as one
line each. Verbose: everything, as the libraries print it.

Settings that a library reads when it is imported (MLflow's logging level, polars' thread pool) are
environment variables here, so this module imports none of those libraries.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

# Loggers of the libraries whose INFO lines are not the user's business by default. Lightning sets
# "lightning.pytorch" / "lightning.fabric" to INFO when it is imported, so its banner and tips (all
# rank_zero_info) are quieted at the rank_zero loggers, which it leaves alone.
DEPENDENCY_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch",
    "lightning.fabric",
    "pytorch_lightning",
    "mlflow",
    "alembic",
)
# memcast's own loggers: what it announces (a cache written, the channels used) goes here.
OWN_LOGGERS = ("app", "pipelines")
# Warnings raised inside these packages are theirs, not about the user's data.
DEPENDENCY_MODULES = (
    r"(lightning|lightning_fabric|pytorch_lightning|lightning_utilities|torch|mlflow|pydantic|"
)
DEPENDENCY_MODULES += (
    r"alembic|sqlalchemy|google|pkg_resources|setuptools|matplotlib|polars|pyfaidx|optuna)(\.|$)"
)
NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


class _Notes(logging.Handler):
    """memcast's notes as "note: ..." lines on the current sys.stderr (looked up at each note, so a
    test runner's swapped streams see them too)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"note: {record.getMessage()}\n")


def _one_line(message, category, filename, lineno, line=None) -> str:  # noqa: ARG001 (warnings' signature)
    """memcast's warnings as "warning: ..."; one raised elsewhere also names where."""
    ours = any(f"{os.sep}{package}{os.sep}" in filename for package in OWN_LOGGERS)
    return f"warning: {message}\n" if ours else f"warning: {message} ({filename}:{lineno})\n"


def _show(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one line, unless MLflow raised it: its warnings are advice to memcast's
    code (type hints, an input example) and some are raised under MLflow's own filters, which
    filterwarnings cannot reach."""
    if f"{os.sep}mlflow{os.sep}" in filename:
        return
    (file or sys.stderr).write(_one_line(message, category, filename, lineno, line))


_quieted = False


def quiet(verbose: bool = False) -> None:
    """Set up what the command prints besides its results (see the module docstring)."""
    for name in OWN_LOGGERS:
        own = logging.getLogger(name)
        own.setLevel(logging.INFO)
        if not any(isinstance(h, _Notes) for h in own.handlers):
            own.addHandler(_Notes())
            own.propagate = False
    if verbose:
        for name in DEPENDENCY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET if "rank_zero" in name else logging.INFO)
        return
    # MLflow's WARNING lines are advice to memcast's code (log models from code, add an input
    # example); a store the user cannot use is memcast's own one-line error.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in DEPENDENCY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR if name == "mlflow" else logging.WARNING)
    global _quieted
    if _quieted:  # the filters below are added once per process (a test runs many commands)
        return
    _quieted = True
    for category in NOISE:
        warnings.filterwarnings("ignore", category=category, module=DEPENDENCY_MODULES)
    # Lightning's advice about the run's setup (data loader workers, the number of batches) is
    # rank_zero_warn from inside Lightning: a PossibleUserWarning, which memcast's settings decide.
    warnings.filterwarnings("ignore", message=r".*(does not have many workers|num_workers)")
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval")
    warnings.formatwarning = _one_line
    warnings.showwarning = _show


_requested: int | None = None


def use_cache_dir(cache_dir: str | os.PathLike | None) -> None:
    """--cache-dir: every derived genome file goes there (`pipelines.genomes.cache` reads it as
    $MEMCAST_CACHE, which it also honours when set by the user)."""
    if cache_dir is not None:
        os.environ["MEMCAST_CACHE"] = str(cache_dir)


def request_threads(threads: int | None) -> None:
    """The command's --threads: it wins over the model's config. Sets the thread counts that polars
    and the BLAS libraries read when they start (so call it before they are imported); torch's are
    set by `use_threads`."""
    global _requested
    _requested = threads
    if threads is not None:
        for name in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[name] = str(threads)


def use_threads(configured: int | None) -> int | None:
    """Run torch on the requested --threads, else on `configured` (a config's or a model's
    `trainer.threads`), else leave its default; returns the count set, if any."""
    threads = _requested if _requested is not None else configured
    if threads is None:
        return None
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass  # fixed once inter-op parallel work has run in this process (a test, a notebook)
    return threads
