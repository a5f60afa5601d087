"""The associative-memory engine: Titans' neural memory and the MIRAS design space.

    from app.memory import MemorySpec, MemoryState, run_memory

Imports only torch. See DESIGN.md, "The memory engine", for the math contract.

`MemorySpec` and `PRESETS` (app/memory/spec.py) import without torch, so the configs that check
against them (app.models.config) do too; the engine's names are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .spec import PRESETS, MemorySpec

_EXPORTS = {
    "functional": ("applied_weights", "memory_forward"),
    "module": ("NeuralMemory", "NeuralMemoryState"),
    "run": ("MemoryDiverged", "run_memory"),
    "state": ("MemoryState", "StreamState", "map_state"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = ["PRESETS", "MemorySpec", *_WHERE]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'app.memory' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"app.memory.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
