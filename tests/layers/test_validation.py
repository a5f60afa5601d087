"""Bad configurations fail at construction, and bad inputs at call time, with messages naming the field."""

from __future__ import annotations

import pytest
import torch

from app.layers import (
    AttentionState,
    CausalAttention,
    PersistentMemory,
    RMSNorm,
    ShortCausalConv,
    SlidingWindowAttention,
    SwiGLU,
    apply_rotary,
)


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: SlidingWindowAttention(30, 4, 8),
            r"SlidingWindowAttention\.d_model: 30 is not divisible by heads=4",
        ),
        (lambda: CausalAttention(30, 4), r"CausalAttention\.d_model: 30 is not divisible by heads=4"),
        (lambda: CausalAttention(0, 1), r"CausalAttention\.d_model: expected >= 1; got 0"),
        (lambda: SlidingWindowAttention(16, 0, 4), r"SlidingWindowAttention\.heads: expected >= 1; got 0"),
        (
            lambda: SlidingWindowAttention(16, 2, 0),
            r"SlidingWindowAttention\.window: expected an integer >= 1; got 0",
        ),
        (lambda: SlidingWindowAttention(16, 2, 2.5), r"SlidingWindowAttention\.window: .* got 2\.5"),
        (
            lambda: SlidingWindowAttention(12, 4, 4),
            r"SlidingWindowAttention\.rotary: needs an even head dim.* = 3",
        ),
        (lambda: CausalAttention(8, 2, rotary_base=0.0), r"CausalAttention\.rotary_base: expected > 0"),
        (lambda: PersistentMemory(-1, 8), r"PersistentMemory\.n_tokens: expected >= 0; got -1"),
        (lambda: PersistentMemory(2, 0), r"PersistentMemory\.d_model: expected >= 1; got 0"),
        (lambda: ShortCausalConv(4, 0), r"ShortCausalConv\.kernel: expected >= 1; got 0"),
        (lambda: ShortCausalConv(0, 3), r"ShortCausalConv\.channels: expected >= 1; got 0"),
        (lambda: RMSNorm(0), r"RMSNorm\.d: expected >= 1; got 0"),
        (lambda: RMSNorm(4, eps=0.0), r"RMSNorm\.eps: expected > 0; got 0\.0"),
        (lambda: SwiGLU(4, 0), r"SwiGLU\.hidden: expected >= 1; got 0"),
        (lambda: SwiGLU(0, 4), r"SwiGLU\.d_model: expected >= 1; got 0"),
    ],
)
def test_bad_configs_fail_at_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_odd_head_dimension_is_fine_without_rotary():
    y, _ = SlidingWindowAttention(12, 4, 4, rotary=False)(torch.randn(1, 5, 12))
    assert y.shape == (1, 5, 12)


def test_bad_inputs_name_the_argument():
    attention = SlidingWindowAttention(8, 2, 4)
    with pytest.raises(ValueError, match=r"SlidingWindowAttention: x: expected shape \(B, T, d_model=8\)"):
        attention(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match=r"SlidingWindowAttention: prefix: expected shape \(B=2 or 1, N_p"):
        attention(torch.randn(2, 5, 8), prefix=torch.randn(3, 2, 8))
    _, state = attention(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match=r"SlidingWindowAttention: state\.keys: expected shape"):
        attention(torch.randn(3, 5, 8), state)  # batch 3 against a state of batch 2
    broken = AttentionState(state.keys[:, :, :1], state.values, state.position)
    with pytest.raises(ValueError, match=r"state\.keys: .* at position 5"):
        attention(torch.randn(2, 5, 8), broken)
    with pytest.raises(ValueError, match=r"ShortCausalConv: x: expected shape \(B, T, channels=4\)"):
        ShortCausalConv(4, 2)(torch.randn(1, 3, 5))
    with pytest.raises(ValueError, match=r"ShortCausalConv: state\.tail: expected shape"):
        ShortCausalConv(4, 3)(torch.randn(1, 3, 4), ShortCausalConv(4, 2)(torch.randn(1, 3, 4))[1])
    with pytest.raises(ValueError, match=r"RMSNorm: x: expected last dimension d=4"):
        RMSNorm(4)(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"SwiGLU: x: expected last dimension d_model=4"):
        SwiGLU(4, 8)(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"PersistentMemory: batch: expected >= 1; got 0"):
        PersistentMemory(2, 4)(0)
    with pytest.raises(ValueError, match=r"apply_rotary: x: expected an even last dimension; got 3"):
        apply_rotary(torch.randn(2, 3), 0)
