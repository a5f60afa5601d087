"""Switch the neural memory's test-time writes off (and on again), for ablations.

    set_memory_updates(model, False)     # every NeuralMemory in model stops learning in its forward
    with memory_updates(model, False):   # the same, undone on exit
        ...

Each `NeuralMemory` has a plain boolean attribute `learns`; these helpers set it on every memory
inside a model. What `learns = False` means is written once, in `NeuralMemory`'s docstring
(app/memory/module.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from app.memory import NeuralMemory


def neural_memories(module: nn.Module) -> list[NeuralMemory]:
    """Every NeuralMemory inside `module` (itself included)."""
    return [m for m in module.modules() if isinstance(m, NeuralMemory)]


def set_memory_updates(module: nn.Module, enabled: bool) -> int:
    """Turn the test-time writes of every memory in `module` on or off; returns how many memories."""
    memories = neural_memories(module)
    for memory in memories:
        memory.learns = bool(enabled)
    return len(memories)


def memory_updates_enabled(module: nn.Module) -> bool:
    """False when any memory in `module` has its writes off (True for a model without memory)."""
    return all(memory.learns for memory in neural_memories(module))


@contextmanager
def memory_updates(module: nn.Module, enabled: bool) -> Iterator[nn.Module]:
    """Within the block, the memories of `module` write (enabled) or only read; restored on exit."""
    before = {memory: memory.learns for memory in neural_memories(module)}
    set_memory_updates(module, enabled)
    try:
        yield module
    finally:
        for memory, learns in before.items():
            memory.learns = learns
