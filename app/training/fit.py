"""The one fit path of every task: check the tracking store, seed, build, fit to the best
checkpoint, test, and (tracked) record it all in one MLflow run."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L

from app import tracking
from app.experiments.shared import Experiment

from .module import TaskModule
from .trainer import fit_to_checkpoint


@dataclass
class TrainResult:
    """The trained module (best checkpoint, eval mode), its data, the checkpoint file (a copy is at
    <output_dir>/<name>/latest.ckpt), the run folder, the MLflow run id, and the test rows."""

    module: Any
    datamodule: Any
    checkpoint: Path
    output_dir: Path
    run_id: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Task:
    """What a task gives the fit path. build: (module, datamodule) of a config, the datamodule set
    up. load: the module of a checkpoint file. test: result rows of the trained module (see
    `app.tracking.log_rows`). log: what else a tracked run records (plots, a servable model).
    frame: the data set as a polars frame, for the run's MLflow input (None: the source alone)."""

    build: Callable[[Any], tuple[TaskModule, L.LightningDataModule]]
    load: Callable[[Path], TaskModule]
    test: Callable[[Any, TaskModule, L.LightningDataModule], list[dict[str, Any]]]
    log: Callable[[Any, TrainResult], None] | None = None
    frame: Callable[[L.LightningDataModule], Any] | None = None


def fit(
    task: Task,
    config: Experiment,
    *,
    track: bool = True,
    nested: bool = False,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    callbacks: list[L.Callback] | None = None,
) -> TrainResult:
    """Fit `config` with `task`; test it; with `track`, all in one MLflow run (params, resolved
    config, the data set as an input, per-epoch metrics, test rows, train_seconds, checkpoint, and
    the task's `log`), tagged with the config's `run_tags` and `tags`; a child of the active run
    (`nested`) or of `parent_run_id`. `callbacks` join the trainer's. The tracking store is checked
    before the data is read or anything is trained."""
    started = time.perf_counter()
    uri = tracking.resolve_tracking_uri(config.tracking.uri)
    if track and not nested:
        tracking.check_tracking(uri)
    L.seed_everything(config.seed, verbose=False)
    module, datamodule = task.build(config)
    run_name = f"train {config.name}"
    run_tags = {**config.run_tags(), **(tags or {})}
    parent = dict(nested=nested, parent_run_id=parent_run_id)
    with (
        tracking.start_run(uri, config.tracking.experiment, run_name, tags=run_tags, **parent)
        if track
        else contextlib.nullcontext()
    ) as run:
        run_id = run.info.run_id if run is not None else None
        if track:
            tracking.log_config(config.model_dump(mode="json"))
            if "dataset" in run_tags:
                frame = task.frame(datamodule) if task.frame is not None else None
                tracking.log_input(run_tags["dataset"], frame=frame)
        best, output_dir = fit_to_checkpoint(
            config.trainer,
            module,
            datamodule,
            output_root=config.output_dir,
            name=config.name,
            run_id=run_id,
            tracking_uri=uri if track else None,
            callbacks=callbacks,
        )
        trained = task.load(best)
        rows = task.test(config, trained, datamodule)
        result = TrainResult(
            trained, datamodule, best, output_dir, run_id, rows, time.perf_counter() - started
        )
        if track:
            tracking.log_rows(rows, "test", model=config.name)
            tracking.log_metrics({"train_seconds": result.seconds})
            tracking.log_artifact(best, "checkpoints")
            if task.log is not None:
                task.log(config, result)
    return result
