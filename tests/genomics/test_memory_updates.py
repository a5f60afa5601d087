"""Test-time memory updates switched off: the memory only reads its weights, exactly, for every
MIRAS preset; switching back restores the learning memory; streaming still equals one pass."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from app.memory import MemorySpec, NeuralMemory, applied_weights, memory_forward
from app.models import Backbone, NucleotideLM, memory_updates, memory_updates_enabled, set_memory_updates

from .helpers import tiny_config

MEMORY_PRESETS = ("titans", "moneta", "yaad", "memora", "gated_deltanet")


def memory(preset: str) -> NeuralMemory:
    torch.manual_seed(0)
    residual = preset in ("moneta", "yaad", "memora")
    spec = MemorySpec.preset(preset, dim_key=8, dim_value=8, chunk_size=4, residual=residual)
    return NeuralMemory(16, spec, heads=2).double()


def frozen_read(module: NeuralMemory, x: torch.Tensor) -> torch.Tensor:
    """By hand: the projections and convolution as usual, then M_W0(q) with the initial weights."""
    mixed, _ = module.conv(module.to_qkv(x))
    q = mixed[..., : module.qkv_widths[0]].view(*x.shape[:2], module.heads, -1).transpose(1, 2)
    q = torch.nn.functional.normalize(q, dim=-1)
    weights = [w.unsqueeze(0).expand(x.shape[0], *w.shape) for w in module.initial_weights]
    y = memory_forward(module.spec, applied_weights(module.spec, weights), q)
    return module.to_out(y.transpose(1, 2).reshape(*x.shape[:2], -1))


@pytest.mark.parametrize("preset", MEMORY_PRESETS)
def test_memory_without_updates_only_reads_its_weights(preset):
    module = memory(preset)
    x = torch.randn(2, 19, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    learning, learnt_state = module(x)
    assert set_memory_updates(module, False) == 1 and not memory_updates_enabled(module)
    frozen, state = module(x)
    torch.testing.assert_close(frozen, frozen_read(module, x), rtol=0, atol=1e-12)
    initial = module.initial_state(2).memory
    for before, after in zip(initial.weights, state.memory.weights, strict=True):
        assert torch.equal(before, after)
    if state.memory.momentum is not None:
        assert all(bool((m == 0).all()) for m in state.memory.momentum)
    assert not torch.allclose(frozen, learning)  # the writes did matter
    # a state that has learnt keeps its weights; from mid-chunk too (18 = 4 chunks + 2 pending tokens,
    # whose writes are dropped rather than landing when their chunk completes)
    for learnt_length in (16, 18):
        set_memory_updates(module, True)
        _, learnt_state = module(x[:, :learnt_length])
        set_memory_updates(module, False)
        _, carried = module(x, learnt_state)
        for before, after in zip(learnt_state.memory.weights, carried.memory.weights, strict=True):
            assert torch.equal(before, after)
        if carried.memory.momentum is not None:  # momentum does not survive a write with eta = 0
            assert all(bool((m == 0).all()) for m in carried.memory.momentum)
    set_memory_updates(module, True)
    assert memory_updates_enabled(module)
    torch.testing.assert_close(module(x)[0], learning, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["titans-lmm", "titans-mac", "titans-mag", "titans-mal", "moneta", "memora"])
def test_backbones_stream_without_updates(name):
    torch.manual_seed(0)
    net = Backbone(tiny_config(name)).double()
    x = torch.randn(1, 23, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    learning, _ = net(x)
    with memory_updates(net, False):
        assert not memory_updates_enabled(net)
        whole, state = net(x)
        first, mid = net(x[:, :9])
        second, _ = net(x[:, 9:], mid)
        torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=1e-10, atol=1e-12)
        for layer in state:
            assert layer.memory.memory.position == 23
    assert memory_updates_enabled(net)
    assert not torch.allclose(whole, learning)
    torch.testing.assert_close(net(x)[0], learning, rtol=0, atol=0)


def test_model_switch_property():
    torch.manual_seed(0)
    model = NucleotideLM(tiny_config("titans-lmm"))
    assert model.memory_updates
    model.memory_updates = False
    assert not model.memory_updates and not memory_updates_enabled(model.backbone)
    model.memory_updates = True
    assert model.memory_updates
    # the switch is a plain attribute: the state dict is unchanged, copies keep it
    keys = set(model.state_dict())
    model.memory_updates = False
    assert set(model.state_dict()) == keys
    assert not copy.deepcopy(model).memory_updates
    assert not pickle.loads(pickle.dumps(model)).memory_updates
    assert model.memory_updates is False
