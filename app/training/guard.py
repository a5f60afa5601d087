"""Skipping a training step whose memory diverged, instead of stopping the whole run.

A batch on which the memory's state reaches NaN / Inf (`MemoryDiverged` from the engine, or a
non-finite loss turned into it by `finite_loss`) gets no backward and no optimiser step; the skip is
counted in the epoch metric `train_skipped_steps` and the weights stay as they were. Lightning
cannot skip a step under multi-process strategies (the other processes would wait in the gradient
all-reduce), so there the error is raised.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from app.memory import MemoryDiverged


def finite_loss(loss: Tensor) -> Tensor:
    """`loss`, or `MemoryDiverged`, which `skip_diverged_step` skips. Training steps call it before
    they log, so a skipped batch leaves no NaN in the epoch's metrics."""
    if not bool(torch.isfinite(loss)):
        raise MemoryDiverged(f"training loss: {loss.item()} is not finite (NaN or Inf)")
    return loss


def skip_diverged_step(module: L.LightningModule, forward: Callable[[], Tensor]) -> Tensor | None:
    """`forward()` (the step's loss), or None when the memory diverged on this batch (see the module
    doc); raises as before when more than one process trains."""
    try:
        return forward()
    except MemoryDiverged as error:
        if module.trainer.world_size > 1:
            raise
        rank_zero_warn(f"step {module.global_step}: the memory diverged ({error}); skipping this batch")
        module.log("train_skipped_steps", 1.0, on_step=False, on_epoch=True, reduce_fx="sum", batch_size=1)
        return None
