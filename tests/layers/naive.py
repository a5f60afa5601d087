"""Slow, obviously right references for the layers: full T x T attention and a per-step convolution."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from app.layers import CausalAttention, ShortCausalConv, SlidingWindowAttention


def naive_rotary(x: Tensor, start: int, base: float) -> Tensor:
    """Rotary as complex multiplication: channel pair (i, i + d/2) is z_i, turned by e^(i p base^(-2i/d))."""
    half = x.shape[-1] // 2
    z = torch.complex(x[..., :half], x[..., half:])
    positions = torch.arange(start, start + x.shape[-2], dtype=torch.float64)
    frequencies = torch.tensor([base ** (-2 * i / x.shape[-1]) for i in range(half)], dtype=torch.float64)
    turned = z * torch.polar(
        torch.ones((), dtype=torch.float64), positions[:, None] * frequencies[None, :]
    ).to(z.dtype)
    return torch.cat([turned.real, turned.imag], dim=-1)


def naive_attention(
    module: CausalAttention | SlidingWindowAttention, x: Tensor, prefix: Tensor | None = None
) -> Tensor:
    """The module's output for x (B, T, d_model) from position 0, as explicit masked T x (N_p + T) scores."""
    batch, length, d_model = x.shape
    heads, d_head = module.heads, module.d_head
    window = getattr(module, "window", None)
    if prefix is None:
        prefix = x.new_zeros(1, 0, d_model)
    prefix = prefix.expand(batch, -1, -1)
    n_prefix = prefix.shape[1]

    def project(linear: torch.nn.Linear, inputs: Tensor) -> Tensor:
        out = inputs @ linear.weight.T + (0 if linear.bias is None else linear.bias)
        return out.view(batch, -1, heads, d_head).transpose(1, 2)  # (B, H, T, d_head)

    q, k, v = project(module.to_q, x), project(module.to_k, x), project(module.to_v, x)
    if module.rotary:
        q, k = naive_rotary(q, 0, module.rotary_base), naive_rotary(k, 0, module.rotary_base)
    keys = torch.cat([project(module.to_k, prefix), k], dim=2)
    values = torch.cat([project(module.to_v, prefix), v], dim=2)
    allowed = torch.zeros(length, n_prefix + length, dtype=torch.bool)
    for t in range(length):
        allowed[t, :n_prefix] = True
        first = 0 if window is None else max(0, t - window + 1)
        allowed[t, n_prefix + first : n_prefix + t + 1] = True
    scores = (q @ keys.transpose(-1, -2)) / math.sqrt(d_head)
    scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    weights = weights / weights.sum(dim=-1, keepdim=True)
    y = (weights @ values).transpose(1, 2).reshape(batch, length, d_model)
    return y @ module.to_out.weight.T + (0 if module.to_out.bias is None else module.to_out.bias)


def naive_conv(conv: ShortCausalConv, x: Tensor) -> Tensor:
    """y_t = bias + sum_j weight[:, 0, j] * x_{t - kernel + 1 + j}, zeros before the start, per step."""
    outputs = []
    for t in range(x.shape[1]):
        total = torch.zeros_like(x[:, 0]) + (0 if conv.bias is None else conv.bias)
        for j in range(conv.kernel):
            source = t - conv.kernel + 1 + j
            if source >= 0:
                total = total + conv.weight[:, 0, j] * x[:, source]
        outputs.append(torch.nn.functional.silu(total) if conv.activation else total)
    return torch.stack(outputs, dim=1)
