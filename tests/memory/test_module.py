"""`NeuralMemory`: streaming, causality, gradients and learning, in float64 where exactness is asserted."""

from __future__ import annotations

import pytest
import torch

from app.memory import MemorySpec, NeuralMemory

PRESETS = ("titans", "moneta", "yaad", "memora", "gated_deltanet")


def make_memory(preset: str, chunk_size: int = 4, **overrides) -> NeuralMemory:
    torch.manual_seed(0)
    spec = MemorySpec.preset(preset, dim_key=8, dim_value=8, chunk_size=chunk_size, **overrides)
    return NeuralMemory(16, spec, heads=2).double()


@pytest.mark.parametrize("preset", PRESETS)
def test_streaming_equals_one_pass(preset):
    memory = make_memory(preset)
    x = torch.randn(2, 23, 16, dtype=torch.float64)
    y_whole, state_whole = memory(x)
    outputs, state = [], None
    for start, stop in ((0, 1), (1, 7), (7, 18), (18, 23)):  # splits inside chunks and the conv window
        y, state = memory(x[:, start:stop], state)
        outputs.append(y)
    torch.testing.assert_close(torch.cat(outputs, dim=1), y_whole, rtol=1e-10, atol=1e-12)
    for a, b in zip(state.memory.weights, state_whole.memory.weights, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(state.conv.tail, state_whole.conv.tail, rtol=0, atol=0)


@pytest.mark.parametrize("preset", PRESETS)
def test_causal(preset):
    memory = make_memory(preset)
    x = torch.randn(1, 20, 16, dtype=torch.float64)
    changed = x.clone()
    changed[:, 11:] = torch.randn(1, 9, 16, dtype=torch.float64)
    y, _ = memory(x)
    y_changed, _ = memory(changed)
    torch.testing.assert_close(y[:, :11], y_changed[:, :11], rtol=0, atol=0)
    assert not torch.allclose(y[:, 11:], y_changed[:, 11:])


@pytest.mark.parametrize("preset", PRESETS)
def test_gradients_reach_every_parameter(preset):
    memory = make_memory(preset).float()
    y, _ = memory(torch.randn(2, 13, 16))
    y.pow(2).mean().backward()
    for name, parameter in memory.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_reference_mode_matches_chunked_module():
    memory = make_memory("titans", chunk_size=3)
    x = torch.randn(1, 10, 16, dtype=torch.float64)
    y_chunked, _ = memory(x)
    memory.mode = "reference"
    y_reference, _ = memory(x)
    torch.testing.assert_close(y_chunked, y_reference, rtol=1e-9, atol=1e-12)


def test_memory_recalls_pairs_seen_earlier_in_the_stream():
    """Test-time memorisation: with the outer weights fixed, the memory recalls what it was shown."""
    torch.manual_seed(1)
    spec = MemorySpec.preset("titans", dim_key=16, dim_value=16, chunk_size=1)
    memory = NeuralMemory(16, spec, heads=1, conv_kernel=1).double()
    keys = torch.nn.functional.normalize(torch.randn(1, 6, 16, dtype=torch.float64), dim=-1)
    with torch.no_grad():
        # Identity projections make the write key/value explicit; the memory must learn k -> v itself.
        memory.to_qkv.weight.copy_(torch.cat([torch.eye(16)] * 3).double())
        memory.conv.weight.fill_(1.0)
        memory.conv.bias.zero_()
    _, state = memory(keys.repeat(1, 20, 1))  # show the pairs 20 times
    _, fresh = memory(torch.zeros(1, 1, 16, dtype=torch.float64))
    untrained, _ = memory(keys, fresh)
    trained, _ = memory(keys, state)
    target = memory.to_out(torch.nn.functional.silu(keys))  # v = silu(k) after conv and activation
    assert (trained - target).norm() < 0.5 * (untrained - target).norm()


def test_bad_input_shape():
    memory = make_memory("titans")
    with pytest.raises(
        ValueError, match=r"NeuralMemory: x: expected shape \(B, T, d_model\); got \(23, 16\)"
    ):
        memory(torch.randn(23, 16, dtype=torch.float64))


@pytest.mark.parametrize("preset", ["titans", "moneta", "yaad", "memora"])
def test_a_hard_write_gate_closes_exactly(preset):
    # With the theta gate's pre-activation below -3 for every token, hardsigmoid is exactly 0: a
    # stream leaves the memory's weights as they were, up to the renormalisation's rounding (it
    # undoes the forget gate's shrink), where sigmoid's small steps change them.
    torch.manual_seed(0)
    x = torch.randn(2, 40, 16, dtype=torch.float64)
    finals = {}
    for form in ("hard", "sigmoid"):
        module = NeuralMemory(16, MemorySpec.preset(preset, dim_key=8, dim_value=8, chunk_size=4), heads=2,
                              write_gate=form).double()  # fmt: skip
        index = module.gate_names.index("theta")
        with torch.no_grad():
            module.to_gates.weight[index * 2 : (index + 1) * 2] = 0.0
            module.to_gates.bias[index * 2 : (index + 1) * 2] = -4.0
        _, state = module(x)
        initial = module.initial_state(2).memory.weights
        finals[form] = max(
            (w - w0).abs().max().item() for w, w0 in zip(state.memory.weights, initial, strict=True)
        )
    assert finals["hard"] < 1e-12
    assert finals["sigmoid"] > 1e-4


def test_unknown_write_gate():
    with pytest.raises(
        ValueError, match="NeuralMemory.write_gate: expected one of sigmoid, hard; got 'step'"
    ):
        NeuralMemory(16, MemorySpec.preset("titans", dim_key=8, dim_value=8), heads=1, write_gate="step")


@pytest.mark.parametrize("preset", ["titans", "yaad", "moneta", "memora"])
def test_default_write_gate_is_the_papers_sigmoid(preset):
    memory = NeuralMemory(16, MemorySpec.preset(preset, dim_key=8, dim_value=8), heads=1)
    assert memory.write_gate == "sigmoid"
