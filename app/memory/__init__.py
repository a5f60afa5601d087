"""The associative-memory engine: Titans' neural memory and the MIRAS design space.

    from app.memory import MemorySpec, MemoryState, run_memory

Imports only torch. See DESIGN.md, "The memory engine", for the math contract.

`MemorySpec` and `PRESETS` (app/memory/spec.py) import without torch, so the configs that check
against them (app.models.config) do too; the engine's names are loaded on first use.
"""

from __future__ import annotations

from app.lazy import lazy_exports

from .spec import PRESETS, MemorySpec

_EXPORTS = {
    "functional": ("applied_weights", "memory_forward"),
    "module": ("NeuralMemory", "NeuralMemoryState"),
    "run": ("MemoryDiverged", "run_memory"),
    "state": ("MemoryState", "StreamState", "map_state"),
}
__getattr__, __dir__, _lazy = lazy_exports(__name__, globals(), _EXPORTS)
__all__ = ["PRESETS", "MemorySpec", *_lazy]
