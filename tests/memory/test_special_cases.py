"""Linear attention, DeltaNet and Gated DeltaNet equal their short hand-written recurrences."""

from __future__ import annotations

import pytest
import torch

from app.memory import MemorySpec, MemoryState, run_memory

from .problems import RULES, random_problem, relative_error


def hand_written(
    name: str, w0: torch.Tensor, q, k, v, gates, step_norm: str = "none", renorm: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token recurrences exactly as the papers write them; y_t = W_t q_t.

    step_norm="nlms": the normalised step, theta / (1 + ||k_t||^2). renorm: after each token's write
    every row of W is rescaled to its norm before the write (y_t reads the write before that)."""
    w = w0.clone()
    outputs = []
    for t in range(k.shape[2]):
        k_t, v_t, q_t = k[:, :, t, :, None], v[:, :, t, :, None], q[:, :, t, :, None]
        theta = gates["theta"][:, :, t, None, None]
        before = w
        if step_norm == "nlms":
            theta = theta / (1 + (k_t**2).sum(dim=(-2, -1), keepdim=True))
        if name == "linear_attention":
            w = w + theta * v_t @ k_t.transpose(-1, -2)
        elif name == "deltanet":
            w = w - theta * (w @ k_t - v_t) @ k_t.transpose(-1, -2)
        else:
            keep = 1 - gates["alpha"][:, :, t, None, None]
            w = keep * w - theta * (w @ k_t - v_t) @ k_t.transpose(-1, -2)
        outputs.append((w @ q_t).squeeze(-1))
        if renorm:
            w = w * before.norm(dim=-1, keepdim=True) / w.norm(dim=-1, keepdim=True)
    return torch.stack(outputs, dim=2), w


@pytest.mark.parametrize("name", ["linear_attention", "deltanet", "gated_deltanet"])
@pytest.mark.parametrize("mode", ["chunked", "reference"])
@pytest.mark.parametrize("shape", [(1, 1, 9, 3, 3), (2, 3, 20, 4, 6), (3, 2, 33, 7, 2)])
@pytest.mark.parametrize("rule", RULES)
def test_special_case_matches_hand_written(name, mode, shape, rule):
    batch, heads, length, dim_key, dim_value = shape
    spec = MemorySpec.preset(
        name, dim_key=dim_key, dim_value=dim_value, chunk_size=1, read="token", **RULES[rule]
    )
    q, k, v, gates, state = random_problem(spec, batch=batch, heads=heads, length=length, seed=length)
    # Keys of random scale: the normalised step must divide by their own norms, not assume unit keys.
    k = k * torch.linspace(0.3, 3.0, length, dtype=k.dtype)[:, None]
    y, final = run_memory(spec, q, k, v, gates, state, mode=mode)
    y_hand, w_hand = hand_written(
        name, state.weights[0], q, k, v, gates, step_norm=spec.step_norm, renorm=spec.renorm
    )
    assert relative_error(y, y_hand) < 1e-12
    assert relative_error(final.weights[0], w_hand) < 1e-12


def test_special_cases_differ_from_each_other():
    # Guard against a hand-written check that would pass for any recurrence.
    spec = MemorySpec.preset("deltanet", dim_key=3, dim_value=3, chunk_size=1).plain()
    q, k, v, gates, state = random_problem(spec, length=12)
    y_delta, _ = run_memory(spec, q, k, v, gates, state)
    for rule in (dict(step_norm="nlms"), dict(renorm=True)):
        y_stable, _ = run_memory(spec.replace(**rule), q, k, v, gates, state)
        assert relative_error(y_delta, y_stable) > 1e-3
    y_linear, _ = hand_written("linear_attention", state.weights[0], q, k, v, gates)
    y_gated, _ = hand_written("gated_deltanet", state.weights[0], q, k, v, gates)
    assert relative_error(y_delta, y_linear) > 1e-3
    assert relative_error(y_delta, y_gated) > 1e-3


@pytest.mark.parametrize("name", ["linear_attention", "deltanet", "gated_deltanet"])
def test_a_zero_memory_still_learns_under_the_default_rule(name):
    # Linear attention and DeltaNet start from W_0 = 0: the renormalisation must not hold a zero row
    # at zero, and the paths must still agree from there.
    spec = MemorySpec.preset(name, dim_key=3, dim_value=3, chunk_size=2)
    assert spec.renorm
    q, k, v, gates, state = random_problem(spec, batch=2, heads=2, length=12)
    zero = MemoryState.initial(spec, [torch.zeros_like(state.weights[0][0])], batch=2)
    y_ref, final_ref = run_memory(spec, q, k, v, gates, zero, mode="reference")
    y, final = run_memory(spec, q, k, v, gates, zero, mode="chunked")
    assert final.weights[0].norm(dim=-1).min() > 1e-3
    assert relative_error(y, y_ref) < 1e-12
    assert relative_error(final.weights[0], final_ref.weights[0]) < 1e-12
