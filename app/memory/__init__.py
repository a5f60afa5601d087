"""The associative-memory engine: Titans' neural memory and the MIRAS design space.

    from app.memory import MemorySpec, MemoryState, run_memory

Imports only torch. See DESIGN.md, "The memory engine", for the math contract.
"""

from .functional import applied_weights, memory_forward
from .module import NeuralMemory, NeuralMemoryState
from .run import MemoryDiverged, run_memory
from .spec import PRESETS, MemorySpec
from .state import MemoryState, StreamState, map_state

__all__ = [
    "PRESETS",
    "MemoryDiverged",
    "MemorySpec",
    "MemoryState",
    "NeuralMemory",
    "NeuralMemoryState",
    "StreamState",
    "applied_weights",
    "map_state",
    "memory_forward",
    "run_memory",
]
