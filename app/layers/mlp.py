"""SwiGLU feed-forward (Llama / MIRAS blocks)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class SwiGLU(nn.Module):
    """y = W_down (silu(W_gate x) * (W_up x)), hidden units per branch, applied per token."""

    def __init__(self, d_model: int, hidden: int, bias: bool = False):
        super().__init__()
        if d_model < 1:
            raise ValueError(f"SwiGLU.d_model: expected >= 1; got {d_model}")
        if hidden < 1:
            raise ValueError(f"SwiGLU.hidden: expected >= 1; got {hidden}")
        self.d_model, self.hidden = d_model, hidden
        # Gate and up projections in one matrix: one matmul instead of two.
        self.to_hidden = nn.Linear(d_model, 2 * hidden, bias=bias)
        self.to_out = nn.Linear(hidden, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.d_model,):
            raise ValueError(
                f"SwiGLU: x: expected last dimension d_model={self.d_model}; got shape {tuple(x.shape)}"
            )
        gate, up = self.to_hidden(x).chunk(2, dim=-1)
        return self.to_out(F.silu(gate) * up)
