"""Streaming: pieces split anywhere give the outputs and final state of one call."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from app.memory import MemorySpec, MemoryState, run_memory

from .problems import ALL_PRESETS, RULES, random_problem


def run_in_pieces(spec, q, k, v, gates, state, cuts, mode):
    outputs = []
    bounds = [0, *cuts, k.shape[2]]
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        piece = slice(start, stop)
        y, state = run_memory(
            spec,
            q[:, :, piece],
            k[:, :, piece],
            v[:, :, piece],
            {n: g[:, :, piece] for n, g in gates.items()},
            state,
            mode=mode,
        )
        outputs.append(y)
    return torch.cat(outputs, dim=2), state


def assert_states_equal(a: MemoryState, b: MemoryState, tol: float) -> None:
    assert a.position == b.position
    for x, y in zip(a.weights, b.weights, strict=True):
        torch.testing.assert_close(x, y, rtol=tol, atol=tol)
    assert (a.momentum is None) == (b.momentum is None)
    for x, y in zip(a.momentum or [], b.momentum or [], strict=True):
        torch.testing.assert_close(x, y, rtol=tol, atol=tol)
    assert (a.pending is None) == (b.pending is None)
    if a.pending is not None:
        assert a.pending.keys() == b.pending.keys()
        for name in a.pending:
            torch.testing.assert_close(a.pending[name], b.pending[name], rtol=0, atol=0)


@settings(max_examples=40, deadline=None)
@given(
    preset=st.sampled_from(ALL_PRESETS),
    chunk_size=st.sampled_from([1, 3, 5, 16]),
    read=st.sampled_from(["token", "chunk"]),
    length=st.integers(1, 45),
    rule=st.sampled_from(list(RULES)),
    data=st.data(),
)
def test_streaming_equals_one_call(preset, chunk_size, read, length, rule, data):
    spec = MemorySpec.preset(preset, dim_key=3, dim_value=4, chunk_size=chunk_size, read=read, **RULES[rule])
    q, k, v, gates, state = random_problem(spec, length=length, seed=length)
    cuts = sorted(data.draw(st.lists(st.integers(0, length), max_size=6), label="cuts"))
    y_whole, state_whole = run_memory(spec, q, k, v, gates, state)
    y_pieces, state_pieces = run_in_pieces(spec, q, k, v, gates, state, cuts, "chunked")
    torch.testing.assert_close(y_pieces, y_whole, rtol=1e-10, atol=1e-12)
    assert_states_equal(state_pieces, state_whole, 1e-10)


@pytest.mark.parametrize("mode", ["reference", "chunked"])
def test_token_by_token_streaming_equals_one_call(mode):
    spec = MemorySpec.preset("titans", dim_key=4, dim_value=4, chunk_size=4)
    q, k, v, gates, state = random_problem(spec, length=13)
    y_whole, state_whole = run_memory(spec, q, k, v, gates, state, mode=mode)
    y_pieces, state_pieces = run_in_pieces(spec, q, k, v, gates, state, list(range(1, 13)), mode)
    torch.testing.assert_close(y_pieces, y_whole, rtol=1e-10, atol=1e-12)
    assert_states_equal(state_pieces, state_whole, 1e-10)
    # 13 = 3 chunks of 4 + 1 pending token, whose write waits for its chunk.
    assert state_whole.position == 13 and state_whole.pending["k"].shape[2] == 1


def test_state_round_trips_through_torch_save(tmp_path):
    spec = MemorySpec.preset("yaad", dim_key=3, dim_value=3, chunk_size=4)
    q, k, v, gates, state = random_problem(spec, length=10)
    _, state = run_memory(
        spec, q[:, :, :6], k[:, :, :6], v[:, :, :6], {n: g[:, :, :6] for n, g in gates.items()}, state
    )
    torch.save(state, tmp_path / "state.pt")
    loaded = torch.load(tmp_path / "state.pt")  # weights_only: states are registered safe
    rest = slice(6, 10)
    args = (q[:, :, rest], k[:, :, rest], v[:, :, rest], {n: g[:, :, rest] for n, g in gates.items()})
    y_a, _ = run_memory(spec, *args, state)
    y_b, _ = run_memory(spec, *args, loaded)
    torch.testing.assert_close(y_a, y_b, rtol=0, atol=0)
