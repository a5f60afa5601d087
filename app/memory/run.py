"""`run_memory`: the engine's one entry point. Validates, streams (carries the partial chunk) and
dispatches to the `reference` or `chunked` path."""

from __future__ import annotations

import torch
from torch import Tensor

from .chunked import run_chunked
from .reference import run_reference
from .spec import MemorySpec
from .state import MemoryState
from .token_step import run_token_steps, takes_token_steps

MODES = {"chunked": run_chunked, "reference": run_reference}


class MemoryDiverged(ValueError):
    """The memory's state reached NaN / Inf (its gates, computed from a layer input downstream of it,
    are not finite): the inner loop diverged. Callers that can go on (skip a training batch, report a
    protocol variant) catch this type."""


def _shape_error(name: str, expected: str, actual: tuple[int, ...]) -> ValueError:
    return ValueError(f"run_memory: {name}: expected shape {expected}; got {actual}")


def validate_inputs(
    spec: MemorySpec, q: Tensor, k: Tensor, v: Tensor, gates: dict[str, Tensor], state: MemoryState, mode: str
) -> None:
    """Raise a ValueError naming the argument and the expected versus actual shape or value."""
    if mode not in MODES:
        raise ValueError(f"run_memory: mode: expected one of {', '.join(MODES)}; got {mode!r}")
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if not isinstance(tensor, Tensor):
            raise ValueError(f"run_memory: {name}: expected a tensor; got {type(tensor).__name__}")
    if k.dim() != 4 or k.shape[-1] != spec.dim_key:
        raise _shape_error("k", f"(B, H, T, dim_key={spec.dim_key})", tuple(k.shape))
    batch, heads, length, _ = k.shape
    if tuple(q.shape) != tuple(k.shape):
        raise _shape_error("q", f"(B, H, T, dim_key) = {tuple(k.shape)} like k", tuple(q.shape))
    expected_v = (batch, heads, length, spec.dim_value)
    if tuple(v.shape) != expected_v:
        raise _shape_error("v", f"(B, H, T, dim_value) = {expected_v}", tuple(v.shape))
    if not isinstance(gates, dict):
        raise ValueError(
            f"run_memory: gates: expected a dict of (B, H, T) tensors; got {type(gates).__name__}"
        )
    for name in spec.gates_used():
        if name not in gates:
            raise ValueError(
                f"run_memory: gates: missing {name!r}; this spec reads {', '.join(spec.gates_used())}"
            )
        gate = gates[name]
        if not isinstance(gate, Tensor) or tuple(gate.shape) != (batch, heads, length):
            actual = tuple(gate.shape) if isinstance(gate, Tensor) else type(gate).__name__
            raise ValueError(
                f"run_memory: gates[{name!r}]: expected shape (B, H, T) = {(batch, heads, length)}; "
                f"got {actual}"
            )
    # One check of every gate (its cost counts on a one-token call); the name only on failure.
    used = spec.gates_used()
    if used and not bool(torch.isfinite(torch.stack([gates[name] for name in used])).all()):
        name = next(n for n in used if not bool(torch.isfinite(gates[n]).all()))
        raise MemoryDiverged(f"run_memory: gates[{name!r}]: contains NaN or Inf")
    if not isinstance(state, MemoryState):
        raise ValueError(f"run_memory: state: expected a MemoryState; got {type(state).__name__}")
    shapes = spec.weight_shapes()
    if len(state.weights) != len(shapes):
        raise ValueError(
            f"run_memory: state.weights: expected {len(shapes)} matrices; got {len(state.weights)}"
        )
    for index, (weight, (out_dim, in_dim)) in enumerate(zip(state.weights, shapes, strict=True)):
        expected = (batch, heads, out_dim, in_dim)
        if tuple(weight.shape) != expected:
            raise _shape_error(
                f"state.weights[{index}]", f"(B, H, out, in) = {expected}", tuple(weight.shape)
            )
    if spec.algorithm == "momentum":
        if state.momentum is None or len(state.momentum) != len(shapes):
            raise ValueError("run_memory: state.momentum: the momentum algorithm needs one matrix per layer")
        for index, (m, w) in enumerate(zip(state.momentum, state.weights, strict=True)):
            if m.shape != w.shape:
                raise _shape_error(f"state.momentum[{index}]", str(tuple(w.shape)), tuple(m.shape))
    for name, tensor in (("q", q), ("v", v), ("state.weights[0]", state.weights[0])):
        if tensor.dtype != k.dtype:
            raise ValueError(f"run_memory: {name}: expected dtype {k.dtype} like k; got {tensor.dtype}")


def run_memory(
    spec: MemorySpec,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    gates: dict[str, Tensor],
    state: MemoryState,
    mode: str = "chunked",
) -> tuple[Tensor, MemoryState]:
    """Read and write the memory over a sequence piece; returns y (B, H, T, dim_value) and the new state.

    Calling it on consecutive pieces with the returned state gives the same outputs and final state
    as one call on the whole sequence, for any split points: chunk boundaries are counted from the
    start of the stream, and the tokens of an unfinished chunk are carried in `state.pending`.
    A call shorter than a chunk, without autograd, takes token steps (token_step.py): the same
    result, without re-running the unfinished chunk.
    """
    validate_inputs(spec, q, k, v, gates, state, mode)
    if k.shape[2] == 0:
        return v.new_zeros(v.shape), state
    gates = {name: gates[name] for name in spec.gates_used()}
    if mode == "chunked" and takes_token_steps(spec, (q, k, v, *gates.values(), *state.weights), k.shape[2]):
        return run_token_steps(spec, q, k, v, gates, state)
    carried = 0
    if state.pending is not None:
        # Rejoin the unfinished chunk: its tokens' writes are computed with the new ones. Their
        # outputs were returned by the previous call, so their queries are placeholders.
        carried = state.pending["k"].shape[2]
        k = torch.cat([state.pending["k"], k], dim=2)
        v = torch.cat([state.pending["v"], v], dim=2)
        q = torch.cat([q.new_zeros(q.shape[:2] + (carried, q.shape[-1])), q], dim=2)
        gates = {name: torch.cat([state.pending[name], g], dim=2) for name, g in gates.items()}
    y, weights, momentum = MODES[mode](spec, state.weights, state.momentum, q, k, v, gates)
    total = k.shape[2]
    unfinished = total % spec.chunk_size
    pending = None
    if unfinished:
        tail = slice(total - unfinished, total)
        pending = {
            "k": k[:, :, tail],
            "v": v[:, :, tail],
            **{name: g[:, :, tail] for name, g in gates.items()},
        }
    new_state = MemoryState(
        weights=weights, momentum=momentum, position=state.position + total - carried, pending=pending
    )
    return y[:, :, carried:], new_state
