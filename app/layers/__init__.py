"""Building blocks the Titans / MIRAS models stack: attention, persistent memory, conv, norms, MLPs.

    from app.layers import SlidingWindowAttention, PersistentMemory, RMSNorm, SwiGLU, ShortCausalConv

Imports only torch. Stateful modules stream: `forward(x, state=None) -> (y, state)`, and feeding a
sequence in pieces, split anywhere, equals feeding it whole.
"""

from app.memory.conv import ConvState, ShortCausalConv  # lives beside the memory, which uses it

from .attention import AttentionState, CausalAttention, SlidingWindowAttention
from .mlp import SwiGLU
from .norms import RMSNorm
from .persistent import PersistentMemory
from .rotary import apply_rotary

__all__ = [
    "AttentionState",
    "CausalAttention",
    "ConvState",
    "PersistentMemory",
    "RMSNorm",
    "ShortCausalConv",
    "SlidingWindowAttention",
    "SwiGLU",
    "apply_rotary",
]
