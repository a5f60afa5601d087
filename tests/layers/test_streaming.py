"""Streaming: every stateful layer fed in pieces, split anywhere, equals one pass (float64); states detach,
move, and round-trip through torch.save / torch.load."""

from __future__ import annotations

from functools import cache

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from app.layers import AttentionState, CausalAttention, ConvState, ShortCausalConv, SlidingWindowAttention

D_MODEL = 8


@cache
def attention(kind: str, window: int, rotary: bool) -> torch.nn.Module:
    torch.manual_seed(window)
    if kind == "causal":
        return CausalAttention(D_MODEL, 2, rotary=rotary).double()
    return SlidingWindowAttention(D_MODEL, 2, window, rotary=rotary).double()


@cache
def conv(kernel: int, activation: bool) -> ShortCausalConv:
    torch.manual_seed(kernel)
    return ShortCausalConv(D_MODEL, kernel, activation=activation).double()


@st.composite
def split_sequences(draw, max_length: int = 40):
    """A float64 sequence (2, T, D_MODEL) and sorted cut points, empty pieces allowed."""
    length = draw(st.integers(1, max_length))
    cuts = sorted(draw(st.lists(st.integers(0, length), max_size=6)))
    seed = draw(st.integers(0, 2**16))
    x = torch.randn(2, length, D_MODEL, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x, [0, *cuts, length]


def run_in_pieces(module, x, bounds, **kwargs):
    outputs, state = [], None
    for start, stop in zip(bounds, bounds[1:], strict=False):
        y, state = module(x[:, start:stop], state, **kwargs)
        outputs.append(y)
    return torch.cat(outputs, dim=1), state


@settings(max_examples=40, deadline=None)
@given(
    data=split_sequences(),
    kind=st.sampled_from(["sliding", "causal"]),
    window=st.integers(1, 12),
    rotary=st.booleans(),
    n_prefix=st.integers(0, 3),
)
def test_attention_streaming_equals_one_pass(data, kind, window, rotary, n_prefix):
    x, bounds = data
    module = attention(kind, window, rotary)
    prefix = torch.randn(
        1, n_prefix, D_MODEL, generator=torch.Generator().manual_seed(7), dtype=torch.float64
    )
    y_whole, state_whole = module(x, prefix=prefix)
    y_pieces, state = run_in_pieces(module, x, bounds, prefix=prefix)
    torch.testing.assert_close(y_pieces, y_whole, rtol=1e-10, atol=1e-10)
    assert state.position == state_whole.position == x.shape[1]
    torch.testing.assert_close(state.keys, state_whole.keys, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(state.values, state_whole.values, rtol=1e-10, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(data=split_sequences(), kernel=st.integers(1, 6), activation=st.booleans())
def test_conv_streaming_equals_one_pass(data, kernel, activation):
    x, bounds = data
    module = conv(kernel, activation)
    y_whole, state_whole = module(x)
    y_pieces, state = run_in_pieces(module, x, bounds)
    torch.testing.assert_close(y_pieces, y_whole, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(state.tail, state_whole.tail, rtol=0, atol=0)


def test_sliding_window_one_token_at_a_time_keeps_a_bounded_state():
    module = attention("sliding", 5, True)
    x = torch.randn(1, 50, D_MODEL, dtype=torch.float64)
    y_whole, _ = module(x)
    y_steps, state = run_in_pieces(module, x, list(range(51)))
    torch.testing.assert_close(y_steps, y_whole, rtol=1e-10, atol=1e-10)
    assert state.keys.shape == (1, 2, 4, D_MODEL // 2) and state.position == 50
    # The state owns just its window - 1 tokens, not the storage of the concatenation it was cut from.
    assert state.keys.untyped_storage().nbytes() == state.keys.numel() * state.keys.element_size()


def test_causal_state_grows_with_the_stream():
    module = attention("causal", 1, True)
    _, state = module(torch.randn(1, 9, D_MODEL, dtype=torch.float64))
    _, state = module(torch.randn(1, 4, D_MODEL, dtype=torch.float64), state)
    assert state.keys.shape[2] == 13 and state.position == 13


def test_states_detach_and_move():
    module = SlidingWindowAttention(D_MODEL, 2, 4)
    _, state = module(torch.randn(2, 6, D_MODEL))
    assert state.keys.requires_grad and not state.detach().keys.requires_grad
    moved = state.to(torch.float64)
    assert moved.keys.dtype == moved.values.dtype == torch.float64 and moved.position == 6
    conv_module = ShortCausalConv(D_MODEL, 3)
    _, conv_state = conv_module(torch.randn(2, 6, D_MODEL, requires_grad=True))
    assert conv_state.tail.requires_grad and not conv_state.detach().tail.requires_grad
    assert conv_state.to(torch.float64).tail.dtype == torch.float64


def test_states_round_trip_through_torch_save(tmp_path):
    attention_module = attention("sliding", 4, True)
    conv_module = conv(3, True)
    x = torch.randn(2, 11, D_MODEL, dtype=torch.float64)
    _, attention_state = attention_module(x[:, :6])
    _, conv_state = conv_module(x[:, :6])
    torch.save({"attention": attention_state, "conv": conv_state}, tmp_path / "states.pt")
    loaded = torch.load(tmp_path / "states.pt")  # weights_only=True, the default
    assert isinstance(loaded["attention"], AttentionState) and isinstance(loaded["conv"], ConvState)
    assert loaded["attention"].position == 6
    expected, _ = attention_module(x[:, 6:], attention_state)
    resumed, _ = attention_module(x[:, 6:], loaded["attention"])
    torch.testing.assert_close(resumed, expected, rtol=0, atol=0)
    expected, _ = conv_module(x[:, 6:], conv_state)
    resumed, _ = conv_module(x[:, 6:], loaded["conv"])
    torch.testing.assert_close(resumed, expected, rtol=0, atol=0)
