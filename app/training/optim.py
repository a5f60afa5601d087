"""AdamW with a linear warm-up and a cosine decay, for any LightningModule.

    class MyModule(L.LightningModule):
        def configure_optimizers(self):
            return configure_optimizers(self, self.optim)     # an OptimConfig

`warmup_cosine` is the schedule alone (torch.optim.lr_scheduler: LinearLR then CosineAnnealingLR),
stepped once per optimiser step. `OptimConfig` lives with the other config sections in
app/experiments/shared.py (they import without torch).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR

from app.experiments.shared import OptimConfig


def param_groups(module: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Matrices decay; vectors and scalars (biases, norms, gates' offsets) do not."""
    decay, keep = [], []
    for param in module.parameters():
        if param.requires_grad:
            (decay if param.dim() >= 2 else keep).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if keep:
        groups.append({"params": keep, "weight_decay": 0.0})
    return groups


def warmup_steps(warmup: int | float, total_steps: int) -> int:
    """An int is a step count; a float below 1 is a fraction of `total_steps`."""
    if isinstance(warmup, float) and warmup < 1:
        return int(round(warmup * total_steps))
    return int(warmup)


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup: int,
    *,
    warmup_start: float = 0.01,
    min_lr_ratio: float = 0.05,
) -> LRScheduler:
    """lr rises linearly from warmup_start x lr to lr over `warmup` steps, then follows a cosine down
    to min_lr_ratio x lr at `total_steps` (and stays there)."""
    total_steps = max(1, int(total_steps))
    warmup = min(max(0, int(warmup)), total_steps - 1)
    base = optimizer.param_groups[0]["lr"]
    cosine = CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup), eta_min=base * min_lr_ratio)
    if warmup == 0:
        return cosine
    ramp = LinearLR(optimizer, start_factor=warmup_start, end_factor=1.0, total_iters=warmup)
    return SequentialLR(optimizer, [ramp, cosine], milestones=[warmup])


def configure_optimizers(module: Any, config: OptimConfig) -> dict[str, Any]:
    """What `LightningModule.configure_optimizers` returns: AdamW and the per-step schedule, sized by
    the trainer's `estimated_stepping_batches`."""
    optimizer = torch.optim.AdamW(param_groups(module, config.weight_decay), lr=config.lr, betas=config.betas)
    total = int(module.trainer.estimated_stepping_batches)
    schedule = warmup_cosine(
        optimizer,
        total,
        warmup_steps(config.warmup, total),
        warmup_start=config.warmup_start,
        min_lr_ratio=config.min_lr_ratio,
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
