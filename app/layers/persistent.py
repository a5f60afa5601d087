"""Persistent memory: N_p learned, input-independent tokens (Titans), fixed at inference."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PersistentMemory(nn.Module):
    """N_p learned tokens of width d_model, the same for every input.

    They are parameters: the outer loop (training) learns them, and nothing in forward changes them,
    so at inference they are fixed task knowledge. MAG / MAC attend over [persistent || x]: pass
    `memory(batch)` (or `memory(1)`, which attention broadcasts) as the attention's `prefix`, or
    prepend them to a sequence with `prepend`.
    """

    def __init__(self, n_tokens: int, d_model: int, init_std: float = 0.02):
        super().__init__()
        if n_tokens < 0:
            raise ValueError(f"PersistentMemory.n_tokens: expected >= 0; got {n_tokens}")
        if d_model < 1:
            raise ValueError(f"PersistentMemory.d_model: expected >= 1; got {d_model}")
        if init_std < 0:
            raise ValueError(f"PersistentMemory.init_std: expected >= 0; got {init_std}")
        self.n_tokens, self.d_model = n_tokens, d_model
        self.tokens = nn.Parameter(torch.randn(n_tokens, d_model) * init_std)

    def forward(self, batch: int) -> Tensor:
        """The tokens expanded (a view, no copy) to (batch, n_tokens, d_model)."""
        if batch < 1:
            raise ValueError(f"PersistentMemory: batch: expected >= 1; got {batch}")
        return self.tokens.unsqueeze(0).expand(batch, -1, -1)

    def prepend(self, x: Tensor) -> Tensor:
        """[persistent || x]: x (B, T, d_model) -> (B, n_tokens + T, d_model)."""
        if x.dim() != 3 or x.shape[2] != self.d_model:
            raise ValueError(
                f"PersistentMemory: x: expected shape (B, T, d_model={self.d_model}); got {tuple(x.shape)}"
            )
        return torch.cat([self(x.shape[0]).to(x.dtype), x], dim=1)
