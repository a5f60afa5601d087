"""Switch the neural memory's test-time writes off (and on again), for ablations.

    set_memory_updates(model, False)     # every NeuralMemory in model stops learning in its forward
    with memory_updates(model, False):   # the same, undone on exit
        ...

With updates off, every memory keeps the weights it has (W_0 in a fresh stream, or whatever an earlier
stream state holds) and only reads them: y_t = M_W(q_t). One exception, by the engine's chunk rule:
a state created while learning may carry a partial chunk whose writes are pending (their gates were
computed then); those still land when that chunk completes. Switch at a chunk boundary to avoid it.
Nothing else changes: projections, convolutions, attention and their stream states run as usual, the
memory's state still counts positions and carries its partial chunk, so streaming in pieces still
equals one pass.

How: the engine takes its per-token gates from `NeuralMemory.to_gates`. A forward hook on that
projection sets the pre-activations of theta (inner learning rate), eta (momentum) and alpha
(forget) to -inf, so theta = theta_max * sigmoid(-inf) = 0, eta = 0 and alpha = 0 exactly. For every
MIRAS preset the write is then the identity: momentum S_t = 0 * S_{t-1} - 0 * g_t = 0, and the raw
state R_t = (1 - 0) R_{t-1} + 0 (decay, lq and simplex retention all scale R by 1 - alpha). The
Huber threshold delta is left alone (it only matters through theta). The hook is removable, so the
same model can be evaluated both ways; parameters, state dicts and checkpoints are untouched.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from app.memory import NeuralMemory

FROZEN_GATES = ("theta", "eta", "alpha")
"""The gates set to zero when the memory's writes are off."""

_HOOKS: weakref.WeakKeyDictionary[NeuralMemory, torch.utils.hooks.RemovableHandle] = (
    weakref.WeakKeyDictionary()
)


def _frozen_gates_hook(memory: NeuralMemory):
    heads = memory.heads
    columns = [
        index * heads + head
        for index, name in enumerate(memory.gate_names)
        if name in FROZEN_GATES
        for head in range(heads)
    ]

    def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
        # Gate index i, head h sits at column i * heads + h (NeuralMemory.gates views (.., gates, heads)).
        mask = torch.zeros(output.shape[-1], dtype=torch.bool, device=output.device)
        mask[columns] = True
        return output.masked_fill(mask, float("-inf"))

    return hook


def neural_memories(module: nn.Module) -> list[NeuralMemory]:
    """Every NeuralMemory inside `module` (itself included)."""
    return [m for m in module.modules() if isinstance(m, NeuralMemory)]


def set_memory_updates(module: nn.Module, enabled: bool) -> int:
    """Turn the test-time writes of every memory in `module` on or off; returns how many memories."""
    memories = neural_memories(module)
    for memory in memories:
        handle = _HOOKS.pop(memory, None)
        if handle is not None:
            handle.remove()
        if not enabled:
            _HOOKS[memory] = memory.to_gates.register_forward_hook(_frozen_gates_hook(memory))
    return len(memories)


def memory_updates_enabled(module: nn.Module) -> bool:
    """False when any memory in `module` has its writes off (True for a model without memory)."""
    return not any(memory in _HOOKS for memory in neural_memories(module))


@contextmanager
def memory_updates(module: nn.Module, enabled: bool) -> Iterator[nn.Module]:
    """Within the block, the memories of `module` write (enabled) or only read; restored on exit."""
    before = {memory: memory in _HOOKS for memory in neural_memories(module)}
    set_memory_updates(module, enabled)
    try:
        yield module
    finally:
        for memory, was_frozen in before.items():
            set_memory_updates(memory, not was_frozen)
