"""Token steps (token_step.py): inference one token at a time equals one call, in float64, for every
preset, read mode and update rule, and is taken only where no outer gradient is wanted."""

from __future__ import annotations

import pytest
import torch

from app.memory import MemorySpec, NeuralMemory, run_memory

from .problems import ALL_PRESETS, RULES, random_problem
from .test_streaming import assert_states_equal, run_in_pieces


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("read", ["token", "chunk"])
@pytest.mark.parametrize("preset", ALL_PRESETS)
def test_token_by_token_equals_one_call(preset, read, rule):
    spec = MemorySpec.preset(preset, dim_key=3, dim_value=4, chunk_size=4, read=read, **RULES[rule])
    q, k, v, gates, state = random_problem(spec, length=14)
    y_whole, state_whole = run_memory(spec, q, k, v, gates, state, mode="reference")
    with torch.no_grad():
        y_steps, state_steps = run_in_pieces(spec, q, k, v, gates, state, list(range(1, 14)), "chunked")
    torch.testing.assert_close(y_steps, y_whole, rtol=1e-10, atol=1e-12)
    assert_states_equal(state_steps, state_whole, 1e-10)
    # 14 = 3 chunks + 2 pending tokens, whose writes so far the state carries.
    assert state_steps.pending["k"].shape[2] == 2 and state_steps.running is not None


@pytest.mark.parametrize("preset", ["titans", "memora", "moneta"])
def test_token_steps_continue_a_chunked_call(preset):
    """A long call leaves tokens pending without `running`; the next token steps write them first."""
    spec = MemorySpec.preset(preset, dim_key=3, dim_value=4, chunk_size=5)
    q, k, v, gates, state = random_problem(spec, length=17)
    y_whole, state_whole = run_memory(spec, q, k, v, gates, state)
    with torch.no_grad():
        y_pieces, state_pieces = run_in_pieces(spec, q, k, v, gates, state, [8, 9, 10, 12], "chunked")
    torch.testing.assert_close(y_pieces, y_whole, rtol=1e-10, atol=1e-12)
    assert_states_equal(state_pieces, state_whole, 1e-10)


def test_a_short_call_that_needs_gradients_is_chunked():
    spec = MemorySpec.preset("titans", dim_key=3, dim_value=4, chunk_size=4)
    q, k, v, gates, state = random_problem(spec, length=3)
    v.requires_grad_(True)
    y, new_state = run_memory(spec, q, k, v, gates, state)
    assert new_state.running is None
    y.sum().backward()
    assert v.grad is not None and bool(v.grad.abs().sum() > 0)


@pytest.mark.parametrize("learns", [True, False])
def test_module_decoding_equals_one_pass(learns):
    torch.manual_seed(0)
    spec = MemorySpec.preset("titans", dim_key=8, dim_value=8, chunk_size=4)
    memory = NeuralMemory(16, spec, heads=2).double()
    memory.learns = learns
    x = torch.randn(2, 11, 16, dtype=torch.float64)
    with torch.inference_mode():
        y_whole, state_whole = memory(x)
        outputs, state = [], None
        for t in range(11):
            y, state = memory(x[:, t : t + 1], state)
            outputs.append(y)
    torch.testing.assert_close(torch.cat(outputs, dim=1), y_whole, rtol=1e-10, atol=1e-12)
    # The pending keys and values are the convolution's, one token at a time or conv1d: rounding apart.
    for a, b in zip(state.memory.weights, state_whole.memory.weights, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    for name, pending in state_whole.memory.pending.items():
        torch.testing.assert_close(state.memory.pending[name], pending, rtol=1e-12, atol=1e-14)


def test_state_with_running_writes_round_trips_through_torch_save(tmp_path):
    spec = MemorySpec.preset("titans", dim_key=3, dim_value=3, chunk_size=4)
    q, k, v, gates, state = random_problem(spec, length=4)
    first = (q[:, :, :2], k[:, :, :2], v[:, :, :2], {n: g[:, :, :2] for n, g in gates.items()})
    rest = (q[:, :, 2:], k[:, :, 2:], v[:, :, 2:], {n: g[:, :, 2:] for n, g in gates.items()})
    _, state = run_memory(spec, *first, state)
    assert state.running is not None
    torch.save(state, tmp_path / "state.pt")
    loaded = torch.load(tmp_path / "state.pt")  # weights_only: RunningChunk is registered safe
    y_loaded, y_kept = run_memory(spec, *rest, loaded)[0], run_memory(spec, *rest, state)[0]
    torch.testing.assert_close(y_loaded, y_kept, rtol=0, atol=0)
