"""Bad input raises a ValueError naming the argument and the expected versus actual shape."""

from __future__ import annotations

import re

import pytest
import torch

from app.memory import MemorySpec, MemoryState, run_memory

from .problems import random_problem

SPEC = MemorySpec.preset("titans", dim_key=4, dim_value=5, chunk_size=3)


def test_mismatched_key_width():
    q, k, v, gates, state = random_problem(SPEC, batch=2, heads=2, length=6)
    with pytest.raises(
        ValueError, match=re.escape("k: expected shape (B, H, T, dim_key=4); got (2, 2, 6, 3)")
    ):
        run_memory(SPEC, q[..., :3], k[..., :3], v, gates, state)


def test_mismatched_query_shape():
    q, k, v, gates, state = random_problem(SPEC, batch=2, heads=2, length=6)
    with pytest.raises(
        ValueError,
        match=re.escape("q: expected shape (B, H, T, dim_key) = (2, 2, 6, 4) like k; got (2, 2, 5, 4)"),
    ):
        run_memory(SPEC, q[:, :, :5], k, v, gates, state)


def test_mismatched_value_shape():
    q, k, v, gates, state = random_problem(SPEC, batch=2, heads=2, length=6)
    with pytest.raises(
        ValueError, match=re.escape("v: expected shape (B, H, T, dim_value) = (2, 2, 6, 5); got (2, 2, 6, 4)")
    ):
        run_memory(SPEC, q, k, v[..., :4], gates, state)


def test_state_for_another_batch():
    q, k, v, gates, _ = random_problem(SPEC, batch=2, heads=2, length=6)
    _, _, _, _, other = random_problem(SPEC, batch=3, heads=2, length=6)
    with pytest.raises(
        ValueError,
        match=re.escape("state.weights[0]: expected shape (B, H, out, in) = (2, 2, 8, 4); got (3, 2, 8, 4)"),
    ):
        run_memory(SPEC, q, k, v, gates, other)


def test_missing_gate():
    q, k, v, gates, state = random_problem(SPEC, length=6)
    del gates["eta"]
    with pytest.raises(ValueError, match="gates: missing 'eta'; this spec reads theta, eta, alpha"):
        run_memory(SPEC, q, k, v, gates, state)


def test_gate_with_wrong_shape():
    q, k, v, gates, state = random_problem(SPEC, batch=2, heads=2, length=6)
    gates["alpha"] = gates["alpha"][:, :1]
    with pytest.raises(
        ValueError, match=re.escape("gates['alpha']: expected shape (B, H, T) = (2, 2, 6); got (2, 1, 6)")
    ):
        run_memory(SPEC, q, k, v, gates, state)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_gate(bad):
    q, k, v, gates, state = random_problem(SPEC, length=6)
    gates["theta"][0, 0, 3] = bad
    with pytest.raises(ValueError, match=re.escape("gates['theta']: contains NaN or Inf")):
        run_memory(SPEC, q, k, v, gates, state)


@pytest.mark.parametrize("chunk_size", [0, -2])
def test_chunk_size_below_one(chunk_size):
    with pytest.raises(
        ValueError, match=f"MemorySpec.chunk_size: expected an integer >= 1; got {chunk_size}"
    ):
        MemorySpec.preset("titans", dim_key=4, dim_value=4, chunk_size=chunk_size)


def test_unknown_choices_and_presets():
    with pytest.raises(
        ValueError, match="MemorySpec.retention: expected one of none, decay, lq, simplex; got 'l1'"
    ):
        MemorySpec(dim_key=2, dim_value=2, retention="l1")
    with pytest.raises(ValueError, match="unknown preset 'mamba'"):
        MemorySpec.preset("mamba", dim_key=2, dim_value=2)
    with pytest.raises(ValueError, match="depth: an mlp memory needs depth >= 2"):
        MemorySpec.preset("titans", dim_key=2, dim_value=2, depth=1)
    with pytest.raises(ValueError, match="residual: x \\+ f\\(x\\) needs dim_key == dim_value"):
        MemorySpec.preset("moneta", dim_key=2, dim_value=3, residual=True)


def test_initial_state_with_wrong_weight_shape():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "weights[1]: expected shape (H, out, in) or (B, H, out, in) = (2, 3, 5, 8); got (2, 3, 4, 8)"
        ),
    ):
        MemoryState.initial(SPEC, [torch.zeros(3, 8, 4), torch.zeros(3, 4, 8)], batch=2)


def test_unknown_mode():
    q, k, v, gates, state = random_problem(SPEC, length=6)
    with pytest.raises(ValueError, match="mode: expected one of chunked, reference; got 'fast'"):
        run_memory(SPEC, q, k, v, gates, state, mode="fast")
