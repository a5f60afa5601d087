"""Outer-loop gradients: autograd through `chunked` agrees with autograd through `reference`."""

from __future__ import annotations

import pytest
import torch

from app.memory import MemorySpec, MemoryState, run_memory

from .problems import ALL_PRESETS, RULES, random_problem, relative_error


def leaves(spec, batch, heads, length, seed):
    q, k, v, gates, state = random_problem(spec, batch=batch, heads=heads, length=length, seed=seed)
    gates = {name: gates[name] for name in spec.gates_used()}
    weights = [w[0].clone() for w in state.weights]  # (H, out, in): the learned initial memory
    inputs = [q, k, v, *gates.values(), *weights]
    for tensor in inputs:
        tensor.requires_grad_(True)
    return inputs, list(gates), len(weights)


def forward(spec, mode, inputs, gate_names, n_weights, batch):
    q, k, v = inputs[:3]
    gates = dict(zip(gate_names, inputs[3 : 3 + len(gate_names)], strict=True))
    weights = inputs[3 + len(gate_names) :]
    state = MemoryState.initial(spec, list(weights), batch)
    y, final = run_memory(spec, q, k, v, gates, state, mode=mode)
    return y, final


@pytest.mark.parametrize("preset", ALL_PRESETS)
@pytest.mark.parametrize("read", ["token", "chunk"])
@pytest.mark.parametrize("rule", RULES)
def test_outer_gradients_match_reference(preset, read, rule):
    spec = MemorySpec.preset(preset, dim_key=3, dim_value=4, chunk_size=3, read=read, **RULES[rule])
    inputs, names, n_weights = leaves(spec, batch=2, heads=2, length=11, seed=3)
    gen = torch.Generator().manual_seed(9)
    grads = {}
    for mode in ("reference", "chunked"):
        y, final = forward(spec, mode, inputs, names, n_weights, 2)
        # Weight the outputs and the final memory at random so every path of the graph counts.
        loss = (y * torch.randn(y.shape, generator=gen, dtype=y.dtype)).sum()
        loss = loss + sum(
            (w * torch.randn(w.shape, generator=gen, dtype=w.dtype)).sum() for w in final.weights
        )
        grads[mode] = torch.autograd.grad(loss, inputs)
        gen.manual_seed(9)
    for g_chunk, g_ref in zip(grads["chunked"], grads["reference"], strict=True):
        assert g_ref.abs().max() > 0
        assert relative_error(g_chunk, g_ref) < 1e-9


@pytest.mark.parametrize("preset", ALL_PRESETS)
@pytest.mark.parametrize("rule", ["nlms", "stable"])
def test_chunked_passes_gradcheck(preset, rule):
    spec = MemorySpec.preset(
        preset, dim_key=2, dim_value=2, expansion=1, chunk_size=2, algorithm="momentum", **RULES[rule]
    )
    inputs, names, n_weights = leaves(spec, batch=1, heads=1, length=5, seed=11)

    def fn(*tensors):
        y, final = forward(spec, "chunked", list(tensors), names, n_weights, 1)
        return y, *final.weights

    assert torch.autograd.gradcheck(fn, tuple(inputs), eps=1e-6, atol=1e-6, rtol=1e-5)
