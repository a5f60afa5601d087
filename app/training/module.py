"""`TaskModule`: the LightningModule every task trains with. It holds the shared step (the
divergence guard, the logging) and the optimiser; a task supplies only its loss (`task_loss`)."""

from __future__ import annotations

from typing import Any

import lightning as L
from torch import Tensor

from .guard import finite_loss, skip_diverged_step
from .optim import OptimConfig, configure_optimizers


class TaskModule(L.LightningModule):
    """Logs `{stage}_loss` (per step while training, and per epoch) and each of the task's metrics
    as `{stage}_{name}` per epoch. A training batch whose memory diverges is skipped (see guard.py)."""

    def __init__(self, optim: dict[str, Any] | None = None):
        super().__init__()
        self.optim = OptimConfig(**(optim or {}))

    def task_loss(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, dict[str, Tensor], int]:
        """(loss, metrics by name, batch size) of `batch` at `stage` ("train", "val" or "test")."""
        raise NotImplementedError

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        loss, metrics, size = self.task_loss(batch, stage)
        if stage == "train":
            loss = finite_loss(loss)  # before logging, so a skipped batch leaves no NaN in the metrics
        epoch = dict(on_epoch=True, sync_dist=True, batch_size=size)
        self.log(f"{stage}_loss", loss, prog_bar=True, on_step=stage == "train", **epoch)
        for name, value in metrics.items():
            self.log(f"{stage}_{name}", value, on_step=False, **epoch)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor | None:
        return skip_diverged_step(self, lambda: self._step(batch, "train"))

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "test")

    def configure_optimizers(self) -> dict[str, Any]:
        return configure_optimizers(self, self.optim)
