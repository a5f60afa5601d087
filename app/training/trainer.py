"""A Lightning `Trainer` with the house defaults, for any LightningModule.

    trainer = build_trainer(TrainerConfig(max_epochs=10), output_dir="runs/x", monitor="val_loss",
                            run_id=mlflow_run_id)
    trainer.fit(module, datamodule)
    trainer.checkpoint_callback.best_model_path

Callbacks: ModelCheckpoint (best by `monitor`, plus last), EarlyStopping on `monitor`, Lightning's
progress bar, and `MlflowEpochMetrics` (per-epoch metrics into an MLflow run
by id, from global rank zero only, so it works under DDP). Gradient clipping by norm. Precision
"auto" is bf16 mixed where the accelerator supports it (a CUDA device with bf16) and 32-bit otherwise.
DDP is Lightning's own strategy; on CPU it uses the gloo backend, and processes are spawned so that
the caller (the CLI, a test) is not re-executed per rank. `TrainerConfig` lives with the other config
sections in app/experiments/shared.py (they import without torch).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.strategies import DDPStrategy

from app import console, tracking
from app.experiments.shared import TrainerConfig


def resolve_precision(precision: str, accelerator: str = "auto") -> str:
    """ "auto" -> "bf16-mixed" on a CUDA device with bf16 support, else "32-true"; others unchanged."""
    if precision != "auto":
        return precision
    cuda = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if cuda and torch.cuda.is_bf16_supported() else "32-true"


class MlflowEpochMetrics(Callback):
    """Logs the epoch's metrics (train, validation, learning rate) into MLflow run `run_id`, step =
    epoch, with no Lightning logger needed. Only global rank zero logs; the client talks to the
    store by run id, so spawned DDP processes need no active run."""

    def __init__(self, run_id: str, tracking_uri: str):
        self.run_id = run_id
        self.tracking_uri = tracking_uri

    def _log(self, trainer: L.Trainer, prefixes: tuple[str, ...]) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        metrics = {
            name.removesuffix("_epoch"): float(value)
            for name, value in trainer.callback_metrics.items()
            if name.startswith(prefixes) and not name.endswith("_step") and value.numel() == 1
        }
        if prefixes[0] == "train":
            metrics["lr"] = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
        tracking.log_metrics(metrics, step=trainer.current_epoch, run_id=self.run_id, uri=self.tracking_uri)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, ("train",))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, ("val",))


def build_trainer(
    config: TrainerConfig,
    *,
    output_dir: str | Path,
    monitor: str = "val_loss",
    mode: Literal["min", "max"] = "min",
    run_id: str | None = None,
    tracking_uri: str | None = None,
    callbacks: list[Callback] | None = None,
    **overrides: Any,
) -> L.Trainer:
    """The Trainer for `config`: checkpoints under output_dir/checkpoints (best.ckpt and last.ckpt),
    early stopping, progress bar, clipping, precision, DDP; `overrides` go to `L.Trainer` as is."""
    checkpoint = ModelCheckpoint(
        dirpath=Path(output_dir) / "checkpoints",
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        save_last=True,
        enable_version_counter=False,
    )
    console.use_threads(config.threads)  # the command's --threads, else this
    all_callbacks: list[Callback] = [checkpoint]
    if config.patience:
        # checked after each validation only: a step budget can end an epoch before it validates
        stopping = EarlyStopping(
            monitor=monitor, mode=mode, patience=config.patience, check_on_train_epoch_end=False
        )
        all_callbacks.append(stopping)
    if run_id is not None and tracking_uri is not None:
        all_callbacks.append(MlflowEpochMetrics(run_id, tracking_uri))
    all_callbacks += callbacks or []
    strategy: Any = config.strategy
    if config.strategy == "ddp":
        cpu = config.accelerator == "cpu" or not torch.cuda.is_available()
        strategy = DDPStrategy(process_group_backend="gloo" if cpu else "nccl", start_method="spawn")
    kwargs: dict[str, Any] = dict(
        default_root_dir=str(output_dir),
        max_epochs=config.max_epochs,
        max_steps=config.max_steps,
        gradient_clip_val=config.gradient_clip_val,
        gradient_clip_algorithm="norm",
        precision=resolve_precision(config.precision, config.accelerator),
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=strategy,
        callbacks=all_callbacks,
        enable_progress_bar=config.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=config.log_every_n_steps,
        logger=False,
        deterministic=config.deterministic,
    )
    if config.limit_train_batches is not None:
        kwargs["limit_train_batches"] = config.limit_train_batches
    if config.limit_val_batches is not None:
        kwargs["limit_val_batches"] = config.limit_val_batches
    kwargs.update(overrides)
    return L.Trainer(**kwargs)


def fit_to_checkpoint(
    config: TrainerConfig,
    module: L.LightningModule,
    datamodule: L.LightningDataModule,
    *,
    output_root: str | Path,
    name: str,
    run_id: str | None = None,
    tracking_uri: str | None = None,
    monitor: str = "val_loss",
    mode: Literal["min", "max"] = "min",
    callbacks: list[Callback] | None = None,
) -> tuple[Path, Path]:
    """Fit with `build_trainer` under output_root/name/<run id or time stamp>; returns the best
    checkpoint (the last when nothing was monitored) and that folder. A copy of the checkpoint goes to
    output_root/name/latest.ckpt, a stable path to the newest model of the experiment. `callbacks`
    join the house ones (e.g. a tuning trial's pruning callback)."""
    output_dir = Path(output_root) / name / (run_id or time.strftime("%Y%m%d-%H%M%S"))
    trainer = build_trainer(
        config,
        output_dir=output_dir,
        monitor=monitor,
        mode=mode,
        run_id=run_id,
        tracking_uri=tracking_uri,
        callbacks=callbacks,
    )
    trainer.fit(module, datamodule=datamodule)
    callback = trainer.checkpoint_callback
    best = Path(callback.best_model_path or callback.last_model_path)
    shutil.copyfile(best, output_dir.parent / "latest.ckpt")
    return best, output_dir
