"""RMSNorm with a learned scale."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2 over the last dim) + eps) * scale, scale learned (initialised to ones).

    Low-precision inputs (bf16, fp16) are normalised in float32 and cast back before the scale, as
    in Llama: the mean of squares overflows or loses the small terms otherwise.
    """

    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        if d < 1:
            raise ValueError(f"RMSNorm.d: expected >= 1; got {d}")
        if eps <= 0:
            raise ValueError(f"RMSNorm.eps: expected > 0; got {eps}")
        self.d, self.eps = d, eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.d,):
            raise ValueError(f"RMSNorm: x: expected last dimension d={self.d}; got shape {tuple(x.shape)}")
        compute = torch.float64 if x.dtype == torch.float64 else torch.float32
        wide = x.to(compute)
        normed = wide * torch.rsqrt(wide.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return normed.to(x.dtype) * self.weight
