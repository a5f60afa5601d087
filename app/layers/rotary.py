"""Rotary position embedding (RoPE) at absolute positions, so streamed pieces rotate like one pass."""

from __future__ import annotations

import torch
from torch import Tensor


def apply_rotary(x: Tensor, start: int, base: float = 10000.0) -> Tensor:
    """Rotates x (..., T, d) with d even: token t sits at absolute position start + t.

    The "rotate half" form (GPT-NeoX / Llama): channel pair (i, i + d/2) is turned by the angle
    position * base^(-2i / d). Scores between rotated queries and keys then depend on positions only
    through their difference.
    """
    length, dim = x.shape[-2], x.shape[-1]
    if dim % 2:
        raise ValueError(f"apply_rotary: x: expected an even last dimension; got {dim}")
    half = dim // 2
    # Angles in float64 whatever x is: bf16 (or even float32) positions lose whole units long before
    # 64k tokens, and an angle must be the same number whichever call computes it.
    exponent = torch.arange(half, dtype=torch.float64, device=x.device) / half
    positions = torch.arange(start, start + length, dtype=torch.float64, device=x.device)
    angles = torch.outer(positions, base**-exponent)
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    cos, sin = angles.cos().to(compute), angles.sin().to(compute)
    first, second = x.to(compute).split(half, dim=-1)
    rotated = torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)
    return rotated.to(x.dtype)
