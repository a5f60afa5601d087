"""Token steps: the memory one token at a time, for inference that reads a token and then acts on it
(sampling a genome, a daemon's next record).

The chunked path takes every gradient of a chunk at the chunk's starting weights, so a call of one
token in the middle of a chunk re-runs the whole unfinished chunk: its p pending tokens' forward,
errors and writes, O(p) work for one token. Here the state instead carries `RunningChunk`, the raw
weights and momentum after the pending tokens' writes, and a token costs one forward and one
rank-one write per layer at the chunk's starting weights, then its read. That is the reference's
recurrence (reference.py) with the inner gradient in closed form (the chunked path's `inner_errors`),
so the outputs and state equal both other paths' (tests/memory/test_token_step.py).

Only for inference: a token step forms every layer's weights per token, so under autograd it would
keep O(|W|) per token where the chunked path's hand-written backward keeps O(chunk x width) per
chunk; `run_memory` takes it only when autograd is off (or nothing requires grad) and the call is
shorter than a chunk.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .functional import (
    applied_weights,
    inner_errors,
    keep_factor,
    memory_forward,
    mlp_forward,
    renormalised,
    scaled_errors,
    step_scales,
)
from .spec import MemorySpec
from .state import MemoryState, RunningChunk


def takes_token_steps(spec: MemorySpec, tensors: tuple[Tensor, ...], length: int) -> bool:
    """Whether `run_memory` serves this call by token steps: shorter than a chunk, and no outer
    gradient is wanted."""
    if length >= spec.chunk_size:
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def run_token_steps(
    spec: MemorySpec, q: Tensor, k: Tensor, v: Tensor, gates: dict[str, Tensor], state: MemoryState
) -> tuple[Tensor, MemoryState]:
    """Read and write `k.shape[2]` tokens one at a time from `state`; the same outputs and state as
    `run_memory`'s chunked path, whatever the split."""
    running = state.running if state.pending is not None else None
    if state.pending is not None and running is None:
        # A chunked call left these tokens pending: write them once, without their reads.
        running = _fresh(spec, state.weights, state.momentum)
        for t in range(state.pending["k"].shape[2]):
            running = _write(spec, running, _token(state.pending, t))
    weights, momentum, pending = state.weights, state.momentum, state.pending
    outputs = []
    for t in range(k.shape[2]):
        token = _token({"k": k, "v": v, **gates}, t)
        if running is None:
            running = _fresh(spec, weights, momentum)
        running = _write(spec, running, token)
        read_at = applied_weights(spec, running.raw) if spec.read == "token" else running.start
        outputs.append(memory_forward(spec, read_at, q[:, :, t : t + 1]))
        pending = token if pending is None else {n: torch.cat([pending[n], token[n]], dim=2) for n in pending}
        if pending["k"].shape[2] == spec.chunk_size:  # the chunk is complete: its boundary
            weights, momentum = renormalised(spec, running.raw, weights), running.velocity
            pending, running = None, None
    new_state = MemoryState(weights, momentum, state.position + k.shape[2], pending, running)
    return torch.cat(outputs, dim=2), new_state


def _fresh(spec: MemorySpec, weights: list[Tensor], momentum: list[Tensor] | None) -> RunningChunk:
    """A chunk with nothing written yet, starting from the boundary state `weights`, `momentum`."""
    return RunningChunk(list(weights), momentum, applied_weights(spec, weights))


def _token(sequence: dict[str, Tensor], t: int) -> dict[str, Tensor]:
    """Token t of a (B, H, T, ...) dict, its token axis kept: (B, H, 1, d) keys and values, (B, H, 1)
    gates."""
    return {name: tensor[:, :, t : t + 1] for name, tensor in sequence.items()}


def _write(spec: MemorySpec, running: RunningChunk, token: dict[str, Tensor]) -> RunningChunk:
    """One token's write: its gradient e_l x_l^T at the chunk's starting weights, normalised, through
    momentum and retention onto the raw weights after the chunk's earlier tokens."""
    inputs, pre = mlp_forward(spec, running.start, token["k"])
    errors = inner_errors(spec, running.start, pre, token["k"], token["v"], token.get("delta"))
    # -theta folded into the errors: the step -theta e_l x_l^T is one product per layer.
    lr = -token["theta"].unsqueeze(-1)
    errors = [lr * e for e in scaled_errors(errors, step_scales(spec, inputs))]
    updates = [e.transpose(-1, -2) @ x for e, x in zip(errors, inputs, strict=True)]  # (B, H, out, in)
    velocity = running.velocity
    if velocity is not None:  # S = eta S - theta g
        eta = token["eta"].unsqueeze(-1)
        velocity = [torch.addcmul(u, eta, s) for s, u in zip(velocity, updates, strict=True)]
        updates = velocity
    keep = keep_factor(spec, token)
    if keep is None:
        raw = [r + u for r, u in zip(running.raw, updates, strict=True)]
    else:  # R = (1 - alpha) R + update
        raw = [torch.addcmul(u, keep.unsqueeze(-1), r) for r, u in zip(running.raw, updates, strict=True)]
    return RunningChunk(raw, velocity, running.start)
