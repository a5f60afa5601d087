"""The oracle: a per-token loop written straight from the equations (DESIGN.md, "reference").

Slow and obviously right. The gradient of every token is taken by autograd, at the applied weights
of the state at the start of the token's chunk.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .functional import (
    applied_weights,
    attentional_loss,
    keep_factor,
    memory_forward,
    mlp_forward,
    renormalised,
    step_scales,
)
from .spec import MemorySpec


def run_reference(
    spec: MemorySpec,
    weights: list[Tensor],
    momentum: list[Tensor] | None,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    gates: dict[str, Tensor],
) -> tuple[Tensor, list[Tensor], list[Tensor] | None]:
    """Outputs for a non-empty sequence starting on a chunk boundary, and the state at its last boundary."""
    length = k.shape[2]
    keep = keep_factor(spec, gates)
    delta = gates.get("delta")
    raw, velocity = list(weights), None if momentum is None else list(momentum)
    boundary_raw, boundary_velocity = raw, velocity
    # Outer-loop gradients need the inner gradients' own graph.
    tracked = (q, k, v, *gates.values(), *weights, *(momentum or []))
    create_graph = torch.is_grad_enabled() and any(t.requires_grad for t in tracked)
    outputs = []
    for start in range(0, length, spec.chunk_size):
        raw_start, chunk_start = raw, applied_weights(spec, raw)
        for t in range(start, min(start + spec.chunk_size, length)):
            with torch.enable_grad():
                probes = [torch.zeros_like(w, requires_grad=True) for w in chunk_start]
                prediction = memory_forward(
                    spec, [w + p for w, p in zip(chunk_start, probes, strict=True)], k[:, :, t]
                )
                loss = attentional_loss(
                    spec, prediction, v[:, :, t], None if delta is None else delta[:, :, t]
                )
                grads = torch.autograd.grad(loss.sum(), probes, create_graph=create_graph)
            if spec.step_norm != "none":  # the normalised step: layer l's gradient / (1 + ||x_l||^2)
                scales = step_scales(spec, mlp_forward(spec, chunk_start, k[:, :, t])[0])
                grads = [g * s[..., None, None] for g, s in zip(grads, scales, strict=True)]
            lr = gates["theta"][:, :, t, None, None]
            if velocity is not None:
                eta = gates["eta"][:, :, t, None, None]
                velocity = [eta * s - lr * g for s, g in zip(velocity, grads, strict=True)]
                updates = velocity
            else:
                updates = [-lr * g for g in grads]
            kept = raw if keep is None else [keep[:, :, t, None, None] * r for r in raw]
            raw = [r + u for r, u in zip(kept, updates, strict=True)]
            read_at = applied_weights(spec, raw) if spec.read == "token" else chunk_start
            outputs.append(memory_forward(spec, read_at, q[:, :, t]))
        if min(start + spec.chunk_size, length) - start == spec.chunk_size:
            raw = renormalised(spec, raw, raw_start)
            boundary_raw, boundary_velocity = raw, velocity
    return torch.stack(outputs, dim=2), boundary_raw, boundary_velocity
