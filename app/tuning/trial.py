"""One trial: the space's values into the experiment config, one training run (a nested MLflow run
under the study's parent run) with Optuna's Lightning pruning callback, scored by the best value of
the space's metric over the epochs. `Job` is everything a worker process needs to run trials."""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from optuna_integration import PyTorchLightningPruningCallback

from app import tasks

from .space import Space, load_space, overrides


@dataclass(frozen=True)
class Job:
    """A study's work, as every worker process gets it (picklable). overrides: the user's `--set`
    on the experiment config. pruner: `--pruner`, replacing the space's. share: at most this many
    trials in this process; target: the study's trial count (complete or pruned), for all workers."""

    config: Path
    space: Path
    overrides: list[str]
    study: str
    storage: str
    tracking_uri: str
    parent_run_id: str
    target: int
    pruner: str | None = None
    output_dir: str = "runs"
    prefix: str = ""
    shares: list[int] = field(default_factory=lambda: [1])

    def load_space(self) -> Space:
        space = load_space(self.space)
        if self.pruner is not None and self.pruner != space.pruner.type:
            space = space.model_copy(update={"pruner": type(space.pruner)(type=self.pruner)})
        return space

    def experiment(self, extra: list[str] | None = None) -> tasks.Config:
        return tasks.load_experiment(self.config, [*self.overrides, *(extra or [])])


class TrialCallback(PyTorchLightningPruningCallback):
    """Optuna's Lightning pruning callback (it reports `monitor` each validation and raises
    TrialPruned when the pruner says so), which also keeps the best value seen and the MLflow run
    that trains the trial."""

    def __init__(self, trial: optuna.Trial, monitor: str, direction: str):
        super().__init__(trial, monitor)
        self.better = min if direction == "minimize" else max
        self.best: float | None = None
        self.epochs = 0
        self.run_id: str | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        import mlflow

        super().on_fit_start(trainer, pl_module)
        active = mlflow.active_run()
        self.run_id = active.info.run_id if active is not None else None

    def on_validation_end(self, trainer, pl_module) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if not trainer.sanity_checking:
            self.epochs += 1
        if not trainer.sanity_checking and value is not None and math.isfinite(float(value)):
            self.best = float(value) if self.best is None else self.better(self.best, float(value))
        super().on_validation_end(trainer, pl_module)


def run_trial(job: Job, space: Space, trial: optuna.Trial) -> float:
    """The objective: train the trial's config; its value is the best `space.metric` seen."""
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    values = space.suggest(trial)
    name = job.experiment().name
    placement = [
        f"name={name}-trial-{trial.number}",
        f"output_dir={job.output_dir}",
        f"tracking.uri={job.tracking_uri}",
        "trainer.progress_bar=false",
    ]
    config = job.experiment(overrides(values) + placement)
    watch = TrialCallback(trial, space.metric, space.direction)
    tags = {"optuna.study": job.study, "optuna.trial": str(trial.number)}
    try:
        result = tasks.train(config, parent_run_id=job.parent_run_id, tags=tags, callbacks=[watch])
    except optuna.TrialPruned:
        if watch.run_id is not None:
            mark_pruned(watch.run_id, job.tracking_uri, watch.epochs)
        raise
    trial.set_user_attr("mlflow_run_id", result.run_id)
    trial.set_user_attr("checkpoint", str(result.checkpoint))
    if watch.best is None:
        raise ValueError(f"{job.space}: metric: {space.metric!r} was never logged at validation")
    return watch.best


def mark_pruned(run_id: str, uri: str, epochs: int) -> None:
    """The trial's MLflow run, ended FAILED by the pruning exception, becomes KILLED and says why."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    client.set_tag(run_id, "optuna.state", "PRUNED")
    client.set_tag(run_id, "optuna.pruned_after_epochs", str(epochs))
    client.set_terminated(run_id, status="KILLED")


def progress(echo: Callable[[str], None], prefix: str = "") -> Callable[[optuna.Study, Any], None]:
    """An Optuna callback: one line per finished trial, with its value, the best so far, the time."""

    def line(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        state = trial.state.name.lower()
        if trial.state == TrialState.PRUNED and trial.intermediate_values:
            step = max(trial.intermediate_values)
            what = f"after {step + 1} epoch(s) ({trial.intermediate_values[step]:.4f})"
        elif trial.value is not None:
            what = f"value {trial.value:.4f}"
        else:
            what = " ".join(str(trial.system_attrs.get("fail_reason", "no value")).split())[:160]
        try:
            best = f"best {study.best_value:.4f} (trial {study.best_trial.number})"
        except ValueError:  # no completed trial yet
            best = "best -"
        echo(f"{prefix}trial {trial.number} {state}: {what}; {best}; {seconds:.1f} s")

    return line
