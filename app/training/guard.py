"""Skipping a training step whose memory diverged, instead of stopping the whole run.

The memory's inner loop can diverge on a batch under weights the outer loop has reached: its state
hits NaN / Inf, so `run_memory` refuses the gates with `MemoryDiverged`, or the loss comes out
non-finite (the training steps turn that into the same error with `finite_loss`, before they log).
One such batch used to end training. `skip_diverged_step` runs a training step's forward; on that failure it
returns None, which makes Lightning (automatic optimisation) skip the backward and the optimiser
step for the batch, and it counts the skip in the epoch metric `train_skipped_steps`. The weights
stay as they were before the batch (AdamW leaves parameters without a gradient untouched).

Lightning does not support a skipped step under multi-process strategies (the other processes
would wait in the gradient all-reduce), so there the error is raised as before.
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
