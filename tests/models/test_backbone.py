"""Backbones of every preset: parameters untouched by inference, gradients everywhere, dtypes, states."""

from __future__ import annotations

import io

import pytest
import torch

from app.models import Backbone, BackboneState, BlockState, MACBlock, MAGBlock, MemoryBlock, SWABlock

from .helpers import ALL_PRESETS, D_MODEL, random_input, run_in_pieces, tiny_config, tiny_model


def test_presets_build_the_blocks_they_name():
    expected = {
        "titans-lmm": (MemoryBlock, False),
        "titans-mac": (MACBlock, True),
        "titans-mag": (MAGBlock, True),
        "titans-mal": (MemoryBlock, True),
        "moneta": (MemoryBlock, True),  # hybrid in the tiny configs
        "yaad": (MemoryBlock, False),
        "memora": (MemoryBlock, False),
        "swa": (SWABlock, True),
    }
    for name, (kind, attends) in expected.items():
        block = tiny_model(name).blocks[0]
        assert type(block) is kind, name
        assert (getattr(block, "attention", None) is not None) == attends, name
        assert (block.persistent is not None) == attends, name


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_inference_leaves_every_parameter_and_the_persistent_tokens_unchanged(name):
    torch.manual_seed(0)
    net = Backbone(tiny_config(name))
    before = {key: value.clone() for key, value in net.state_dict().items()}
    x = random_input(17, torch.float32, seed=5)
    _, state = net(x)  # with autograd on: the memory learns inside forward, the parameters must not
    with torch.no_grad():
        run_in_pieces(net, x, [0, 3, 11, 17], state)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0, msg=key)
    tokens = [key for key in before if key.endswith("persistent.tokens")]
    assert len(tokens) == (0 if name in ("titans-lmm", "yaad", "memora") else 2)  # 2 layers


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    net = Backbone(tiny_config(name))
    x = random_input(20, torch.float32, seed=6)
    projection = random_input(20, torch.float32, seed=7)  # the final RMSNorm makes sum(y^2) nearly constant
    _, state = net(x[:, :9])
    y, _ = net(x[:, 9:], state)  # through a carried (not detached) state, as truncated BPTT would
    (y * projection[:, 9:]).sum().backward()
    for key, parameter in net.named_parameters():
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0), key
        assert bool(torch.isfinite(parameter.grad).all()), key


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_float64_and_bfloat16_forward(name):
    x = random_input(20, torch.float64, seed=8)
    with torch.no_grad():
        y64, _ = tiny_model(name, torch.float64)(x)
        y16, state = tiny_model(name, torch.bfloat16)(x.bfloat16())
        y_next, _ = tiny_model(name, torch.bfloat16)(x[:, :5].bfloat16(), state)
    assert y64.dtype == torch.float64 and y16.dtype == y_next.dtype == torch.bfloat16
    assert bool(torch.isfinite(y16).all()) and bool(torch.isfinite(y_next).all())
    # The same weights in bf16 stay close to float64, up to bf16's precision over two layers.
    assert float((y16.double() - y64).abs().max()) < 0.25


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_state_save_load_detach_and_move(name):
    net = tiny_model(name)
    x = random_input(23, seed=9)
    with torch.no_grad():
        _, state = net(x[:, :13])  # mid-segment, mid-chunk and past the window
        expected, _ = net(x[:, 13:], state)
    assert isinstance(state, BackboneState) and all(isinstance(layer, BlockState) for layer in state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer)  # weights_only=True, the default: the state classes are allow-listed
    with torch.no_grad():
        for candidate in (loaded, state.detach(), state.to("cpu")):
            torch.testing.assert_close(net(x[:, 13:], candidate)[0], expected, rtol=0, atol=0)
        rounded = state.to(torch.float32).to(torch.float64)  # casts reach every tensor
        torch.testing.assert_close(net(x[:, 13:], rounded)[0], expected, rtol=1e-5, atol=1e-5)
    assert all(t.dtype == torch.float32 for t in _tensors(state.to(torch.float32)))
    # detach cuts every tensor from the graph the forward built.
    _, live = Backbone(tiny_config(name)).double()(x[:, :13])
    assert any(t.requires_grad for t in _tensors(live))
    tensors = list(_tensors(live.detach()))
    assert tensors and not any(t.requires_grad for t in tensors)


def _tensors(value):
    """Every tensor inside a (nested) state."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif hasattr(value, "__dataclass_fields__"):
        for field in value.__dataclass_fields__:
            yield from _tensors(getattr(value, field))


def test_empty_input_returns_empty_output_and_the_same_state():
    net = tiny_model("titans-mac")
    _, state = net(random_input(4))
    y, same = net(random_input(0), state)
    assert y.shape == (2, 0, D_MODEL) and same.position == 4


def test_bad_inputs_name_the_argument():
    net = tiny_model("titans-mag")
    with pytest.raises(ValueError, match=r"Backbone: x: expected shape \(B, T, d_model=16\)"):
        net(torch.randn(2, 5, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="Backbone: state: expected a BackboneState with 2 layer states"):
        net(random_input(3), BackboneState([]))
    with pytest.raises(ValueError, match="Backbone: config"):
        Backbone({"block": "swa"})


def test_mac_writing_its_input_streams_is_causal_and_gets_every_gradient():
    torch.manual_seed(0)
    net = Backbone(tiny_config("titans-mac", mac_write="input")).double()
    assert net.blocks[0].norm_write is None
    x = random_input(20, seed=10)
    with torch.no_grad():
        y, _ = net(x)
        y_pieces, _ = run_in_pieces(net, x, [0, 1, 7, 13, 20])
        changed = x.clone()
        changed[:, 9:] = 0.0
        y_changed, _ = net(changed)
    torch.testing.assert_close(y_pieces, y, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(y_changed[:, :9], y[:, :9], rtol=0, atol=0)
    (net(x)[0] * random_input(20, seed=11)).sum().backward()
    for key, parameter in net.named_parameters():
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0), key
