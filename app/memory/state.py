"""`MemoryState`: everything needed to continue a memory from where a call stopped."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .spec import MemorySpec


def map_state(state: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """Apply `fn` to every tensor of a (nested) state: dataclasses, lists, tuples, dicts, tensors."""
    if isinstance(state, Tensor):
        return fn(state)
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        changes = {f.name: map_state(getattr(state, f.name), fn) for f in dataclasses.fields(state)}
        return dataclasses.replace(state, **changes)
    if isinstance(state, list | tuple):
        return type(state)(map_state(item, fn) for item in state)
    if isinstance(state, dict):
        return {key: map_state(value, fn) for key, value in state.items()}
    return state


class StreamState:
    """`detach` and `to` for the stream-state dataclasses (memory, convolution, attention, block,
    backbone), through `map_state`."""

    def detach(self):
        """The same state cut from the autograd graph (for truncated backpropagation and serving)."""
        return map_state(self, lambda t: t.detach())

    def to(self, *args, **kwargs):
        """Moved or cast like `Tensor.to`."""
        return map_state(self, lambda t: t.to(*args, **kwargs))


@dataclass
class RunningChunk(StreamState):
    """The unfinished chunk as token steps carry it (token_step.py): `raw` and `velocity`, the raw
    weights and momentum after the pending tokens' writes, and `start`, the applied weights at the
    chunk's start, where its gradients are taken."""

    raw: list[Tensor]
    velocity: list[Tensor] | None
    start: list[Tensor]


@dataclass
class MemoryState(StreamState):
    """The memory between calls.

    weights: the raw state R of each layer, (B, H, out, in), at the last chunk boundary. For `none`
        and `decay` retention it is the applied weight W; for `lq` it is Moneta's accumulator A; for
        `simplex` it holds Memora's logits (see `applied_weights`).
    momentum: S of each layer, same shapes, for the momentum algorithm; otherwise None.
    position: how many tokens this memory has seen.
    pending: keys, values and gates of the tokens after the last chunk boundary (fewer than
        chunk_size). Their outputs were already returned; their write happens once their chunk is
        complete, because every gradient of a chunk is taken at the chunk's starting state.
    running: after token steps, their writes so far (`RunningChunk`), so the next token step need
        not redo them; None otherwise. It is derived from `pending` and may be dropped.
    """

    weights: list[Tensor]
    momentum: list[Tensor] | None = None
    position: int = 0
    pending: dict[str, Tensor] | None = field(default=None)
    running: RunningChunk | None = None

    @classmethod
    def initial(
        cls,
        spec: MemorySpec,
        weights: list[Tensor],
        batch: int,
        momentum: list[Tensor] | None = None,
    ) -> MemoryState:
        """A fresh memory. Each weight is (H, out, in), shared across the batch, or (B, H, out, in)."""
        shapes = spec.weight_shapes()
        if len(weights) != len(shapes):
            raise ValueError(
                f"MemoryState.initial: weights: expected {len(shapes)} matrices; got {len(weights)}"
            )
        expanded = []
        heads = None
        for index, (weight, (out_dim, in_dim)) in enumerate(zip(weights, shapes, strict=True)):
            if weight.dim() == 3:
                weight = weight.unsqueeze(0).expand(batch, *weight.shape)
            heads = weight.shape[1] if heads is None else heads
            expected = (batch, heads, out_dim, in_dim)
            if weight.dim() != 4 or tuple(weight.shape) != expected:
                raise ValueError(
                    f"MemoryState.initial: weights[{index}]: expected shape (H, out, in) or "
                    f"(B, H, out, in) = {expected}; got {tuple(weight.shape)}"
                )
            expanded.append(weight)
        if spec.algorithm == "momentum" and momentum is None:
            momentum = [torch.zeros_like(w) for w in expanded]
        if spec.algorithm != "momentum":
            momentum = None
        return cls(weights=expanded, momentum=momentum)

    @property
    def batch(self) -> int:
        return self.weights[0].shape[0]

    @property
    def heads(self) -> int:
        return self.weights[0].shape[1]


# Lets `torch.load(..., weights_only=True)` (the default) read saved states back.
torch.serialization.add_safe_globals([MemoryState, RunningChunk])
