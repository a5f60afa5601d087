"""Linear attention, DeltaNet and Gated DeltaNet equal their short hand-written recurrences."""

from __future__ import annotations

import pytest
import torch

from app.memory import MemorySpec, run_memory

from .problems import random_problem, relative_error


def hand_written(name: str, w0: torch.Tensor, q, k, v, gates) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token recurrences exactly as the papers write them; y_t = W_t q_t."""
    w = w0.clone()
    outputs = []
    for t in range(k.shape[2]):
        k_t, v_t, q_t = k[:, :, t, :, None], v[:, :, t, :, None], q[:, :, t, :, None]
        theta = gates["theta"][:, :, t, None, None]
        if name == "linear_attention":
            w = w + theta * v_t @ k_t.transpose(-1, -2)
        elif name == "deltanet":
            w = w - theta * (w @ k_t - v_t) @ k_t.transpose(-1, -2)
        else:
            keep = 1 - gates["alpha"][:, :, t, None, None]
            w = keep * w - theta * (w @ k_t - v_t) @ k_t.transpose(-1, -2)
        outputs.append((w @ q_t).squeeze(-1))
    return torch.stack(outputs, dim=2), w


@pytest.mark.parametrize("name", ["linear_attention", "deltanet", "gated_deltanet"])
@pytest.mark.parametrize("mode", ["chunked", "reference"])
@pytest.mark.parametrize("shape", [(1, 1, 9, 3, 3), (2, 3, 20, 4, 6), (3, 2, 33, 7, 2)])
def test_special_case_matches_hand_written(name, mode, shape):
    batch, heads, length, dim_key, dim_value = shape
    spec = MemorySpec.preset(name, dim_key=dim_key, dim_value=dim_value, chunk_size=1, read="token")
    q, k, v, gates, state = random_problem(spec, batch=batch, heads=heads, length=length, seed=length)
    y, final = run_memory(spec, q, k, v, gates, state, mode=mode)
    y_hand, w_hand = hand_written(name, state.weights[0], q, k, v, gates)
    assert relative_error(y, y_hand) < 1e-12
    assert relative_error(final.weights[0], w_hand) < 1e-12


def test_special_cases_differ_from_each_other():
    # Guard against a hand-written check that would pass for any recurrence.
    spec = MemorySpec.preset("deltanet", dim_key=3, dim_value=3, chunk_size=1)
    q, k, v, gates, state = random_problem(spec, length=12)
    y_delta, _ = run_memory(spec, q, k, v, gates, state)
    y_linear, _ = hand_written("linear_attention", state.weights[0], q, k, v, gates)
    y_gated, _ = hand_written("gated_deltanet", state.weights[0], q, k, v, gates)
    assert relative_error(y_delta, y_linear) > 1e-3
    assert relative_error(y_delta, y_gated) > 1e-3
