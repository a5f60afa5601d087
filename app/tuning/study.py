"""`memcast tune`: an Optuna study over an experiment config, run by one or more worker processes
on one storage (Optuna's own distributed mode: every worker, on this machine or another, opens the
same study by name and asks the storage for its next trial).

    result = tune(TuneOptions(config=Path("configs/experiments/demo.yaml"), trials=6, study="demo"))
    result.best_value, result.best_config        # the YAML `memcast train` takes as it is
"""

from __future__ import annotations

import logging
import multiprocessing
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from app import tasks, tracking
from app.forecasting import ForecastError
from app.memory import MemoryDiverged
from app.training import ConfigError
from pipelines.errors import InputError

from . import report
from .space import SpaceError, check_space
from .storage import make_pruner, make_sampler, open_study, resolve_storage, shown
from .trial import Job, progress, run_trial

SPACES = Path(__file__).resolve().parents[2] / "configs" / "tuning"
"""The shipped search spaces, one per task (`<task>.yaml`): the default of `--space`."""

TRIAL_ERRORS = (ConfigError, ForecastError, InputError, MemoryDiverged)
"""What fails one trial (its combination of values does not build or train), not the study."""


class TuneError(ValueError):
    """A study that cannot run or finish; one line."""


@dataclass
class TuneOptions:
    """What `memcast tune` takes. space: None -> configs/tuning/<task>.yaml. trials: the count of
    finished (complete or pruned) trials the study should hold (None: the space's). study: None ->
    a new study named after the experiment and the time; an existing name resumes it. output: the
    best config YAML (None: <output_dir>/tune/<study>/best.yaml)."""

    config: Path
    space: Path | None = None
    overrides: list[str] = field(default_factory=list)
    trials: int | None = None
    study: str | None = None
    storage: str | None = None
    workers: int = 1
    pruner: str | None = None
    register: str | None = None
    output: Path | None = None
    tracking_uri: str | None = None


@dataclass
class TuneResult:
    study: str
    storage: str
    parent_run_id: str
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    best_config: Path
    counts: dict[str, int]
    registered: str | None = None
    seconds: float = 0.0


def default_space(config: tasks.Config) -> Path:
    return SPACES / f"{config.task}.yaml"


def prepare(options: TuneOptions) -> Job:
    """Check everything before any trial: the config, the space against it, the tracking store, the
    storage; create or resume the study and its parent MLflow run. The job every worker runs."""
    base = tasks.load_experiment(options.config, options.overrides)
    space_path = options.space or default_space(base)
    draft = Job(options.config, space_path, list(options.overrides), "", "", "", "", 0, options.pruner)
    space = draft.load_space()
    check_space(space, space_path, draft.experiment)
    uri = tracking.checked_uri(options.tracking_uri or base.tracking.uri)
    storage = resolve_storage(options.storage)
    name = options.study or f"{base.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        study = open_study(name, storage, space.direction)
    except ValueError as error:
        raise TuneError(" ".join(str(error).split())[:300]) from None
    if study.direction.name.lower() != space.direction:
        direction = study.direction.name.lower()
        raise TuneError(f"study {name!r} exists and is to {direction}; {space_path} says {space.direction}")
    params = {
        "config": options.config,
        "space": space_path,
        "metric": space.metric,
        "storage": shown(storage),
    }
    parent = report.parent_run(study, uri, base.tracking.experiment, params)
    target = options.trials or space.trials
    remaining = max(0, target - report.finished(study))
    workers = max(1, min(options.workers, remaining or 1))
    shares = [remaining // workers + (i < remaining % workers) for i in range(workers)]
    return replace(
        draft,
        study=name,
        storage=storage,
        tracking_uri=uri,
        parent_run_id=parent,
        target=target,
        output_dir=f"{base.output_dir}/tune/{name}",
        shares=shares,
    )


def run_worker(job: Job, index: int = 0, echo: Callable[[str], None] | None = None) -> None:
    """One worker: open the study and run trials until this worker's share is done or the study
    holds `job.target` finished trials (Optuna's MaxTrialsCallback). Each worker samples with its
    own seed (from the experiment's seed, the worker's index and the trials the study already
    holds), so parallel workers, and a resumed study, do not draw the values drawn before."""
    echo = echo or (lambda line: print(line, flush=True))
    quiet()
    space = job.load_space()
    base = job.experiment()
    pruner = make_pruner(space.pruner, base.trainer.max_epochs)
    study = open_study(job.study, job.storage, space.direction, pruner=pruner, create=False)
    seed = base.seed + index + 1000 * len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(space.sampler, seed)
    prefix = f"[worker {index}] " if len(job.shares) > 1 else ""
    study.optimize(
        lambda trial: run_trial(job, space, trial),
        n_trials=job.shares[index],
        catch=TRIAL_ERRORS,
        callbacks=[MaxTrialsCallback(job.target, states=FINISHED), progress(echo, prefix)],
    )


FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def quiet() -> None:
    """The trial lines stand for Optuna's and Lightning's own per-trial logs (warnings still show)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def run_workers(job: Job, echo: Callable[[str], None]) -> None:
    """The job's workers: in this process for one, else one spawned process each (fresh
    interpreters: nothing of this process's torch or MLflow state is shared)."""
    if len(job.shares) == 1:
        run_worker(job, 0, echo)
        return
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=run_worker, args=(job, i)) for i in range(len(job.shares))]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        for process in processes:
            process.terminate()
        raise
    failed = [i for i, process in enumerate(processes) if process.exitcode != 0]
    if failed:
        raise TuneError(f"worker(s) {', '.join(map(str, failed))} stopped with an error (see above)")


def tune(options: TuneOptions, echo: Callable[[str], None] = print) -> TuneResult:
    """Prepare, run the workers, then record the study: the best config YAML, the parent run's best
    value, params and plots, and (options.register) the best model in the registry."""
    started = time.perf_counter()
    quiet()
    job = prepare(options)
    study = open_study(job.study, job.storage, job.load_space().direction, create=False)
    done = sum(job.shares)
    echo(
        f"study {job.study} ({shown(job.storage)}): {report.finished(study)} of {job.target} trials "
        f"finished before; running {done} on {len(job.shares)} worker(s)"
    )
    if done:
        run_workers(job, echo)
    study = open_study(job.study, job.storage, job.load_space().direction, create=False)
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise TuneError(f"study {job.study}: no trial completed ({report.counts(study)}); no best config")
    best = study.best_trial
    path = options.output or Path(job.output_dir) / "best.yaml"
    report.write_best_config(options.config, options.overrides, best, path, job.study)
    report.log_study(study, job.parent_run_id, job.tracking_uri, path, job.load_space().metric)
    registered = None
    if options.register:
        try:
            registered = report.register_best(study, job.tracking_uri, options.register)
        except ValueError as error:
            raise TuneError(str(error)) from None
    return TuneResult(
        study=job.study,
        storage=job.storage,
        parent_run_id=job.parent_run_id,
        best_trial=best.number,
        best_value=float(best.value),
        best_params=dict(best.params),
        best_config=path,
        counts=report.counts(study),
        registered=registered,
        seconds=time.perf_counter() - started,
    )


USER_ERRORS = (SpaceError, TuneError, *TRIAL_ERRORS, tracking.TrackingError)
