"""Random memory problems for the engine's tests: float64 by default, gates in their natural ranges."""

from __future__ import annotations

import torch

from app.memory import MemorySpec, MemoryState
from app.memory.spec import PLAIN_RULE

ALL_PRESETS = ("titans", "moneta", "yaad", "memora", "linear_attention", "deltanet", "gated_deltanet")
# The update rules every path must agree on: the default (normalised step and renormalisation), the
# papers' plain rule, and each part of the default alone.
RULES: dict[str, dict[str, object]] = {
    "stable": {},
    "plain": PLAIN_RULE,
    "nlms": dict(renorm=False),
    "renorm": dict(step_norm="none"),
}


def random_problem(spec: MemorySpec, batch=2, heads=2, length=11, seed=0, dtype=torch.float64):
    """q, k, v, gates and an initial state drawn at random for `spec`."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)

    def rand(*shape):
        return torch.rand(*shape, generator=gen, dtype=dtype)

    shape = (batch, heads, length)
    q = torch.nn.functional.normalize(randn(*shape, spec.dim_key), dim=-1)
    k = torch.nn.functional.normalize(randn(*shape, spec.dim_key), dim=-1)
    v = randn(*shape, spec.dim_value)
    gates = {
        "theta": 0.02 + 0.2 * rand(*shape),
        "eta": 0.9 * rand(*shape),
        "alpha": 0.3 * rand(*shape),
        "delta": 0.2 + 2.0 * rand(*shape),
    }
    weights = [randn(heads, out_dim, in_dim) / in_dim**0.5 for out_dim, in_dim in spec.weight_shapes()]
    momentum = None
    if spec.algorithm == "momentum":
        momentum = [0.1 * randn(batch, heads, out_dim, in_dim) for out_dim, in_dim in spec.weight_shapes()]
    state = MemoryState.initial(spec, weights, batch, momentum=momentum)
    return q, k, v, gates, state


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).norm() / expected.norm().clamp_min(1e-300)).item()
