"""PersistentMemory, RMSNorm and SwiGLU against their formulas; dtypes and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from app.layers import PersistentMemory, RMSNorm, SlidingWindowAttention, SwiGLU


def test_persistent_tokens_are_input_independent_parameters_expanded_to_the_batch():
    torch.manual_seed(0)
    memory = PersistentMemory(3, 8)
    tokens = memory(4)
    assert tokens.shape == (4, 3, 8)
    for row in tokens:
        torch.testing.assert_close(row, memory.tokens, rtol=0, atol=0)
    assert [name for name, _ in memory.named_parameters()] == ["tokens"]
    x = torch.randn(2, 5, 8)
    joined = memory.prepend(x)
    assert joined.shape == (2, 8, 8)
    torch.testing.assert_close(joined[:, 3:], x, rtol=0, atol=0)
    torch.testing.assert_close(joined[:, :3], memory(2), rtol=0, atol=0)
    assert PersistentMemory(0, 8)(2).shape == (2, 0, 8)


def test_persistent_tokens_are_fixed_at_inference_and_learned_in_training():
    torch.manual_seed(0)
    memory = PersistentMemory(2, 8, init_std=1.0)
    attention = SlidingWindowAttention(8, 2, 3)
    before = memory.tokens.detach().clone()
    with torch.no_grad():
        state = None
        for _ in range(3):
            _, state = attention(torch.randn(1, 4, 8), state, prefix=memory(1))
    torch.testing.assert_close(memory.tokens, before, rtol=0, atol=0)
    y, _ = attention(torch.randn(2, 4, 8), prefix=memory(2))
    y.sum().backward()
    assert memory.tokens.grad is not None and memory.tokens.grad.abs().sum() > 0


def test_rmsnorm_formula_and_learned_scale():
    torch.manual_seed(0)
    norm = RMSNorm(6, eps=1e-5).double()
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 6))
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight
    torch.testing.assert_close(norm(x), expected, rtol=1e-12, atol=1e-12)
    norm(x).sum().backward()
    assert norm.weight.grad.abs().sum() > 0


def test_rmsnorm_low_precision_does_not_overflow():
    norm = RMSNorm(4)
    x = torch.full((2, 4), 300.0)  # 300^2 is 9e4: over fp16's range, fine in float32
    assert norm.half()(x.half()).dtype == torch.float16
    torch.testing.assert_close(norm(x.half()).float(), torch.ones(2, 4), rtol=0, atol=1e-3)
    y16 = norm.bfloat16()(x.bfloat16())
    assert y16.dtype == torch.bfloat16 and torch.isfinite(y16).all()


def test_swiglu_formula_gradients_and_dtypes():
    torch.manual_seed(0)
    mlp = SwiGLU(6, 10).double()
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    gate, up = mlp.to_hidden.weight[:10], mlp.to_hidden.weight[10:]
    expected = (F.silu(x @ gate.T) * (x @ up.T)) @ mlp.to_out.weight.T
    torch.testing.assert_close(mlp(x), expected, rtol=1e-12, atol=1e-12)
    mlp(x).pow(2).sum().backward()
    for name, parameter in mlp.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    y16 = mlp.bfloat16()(x.bfloat16())
    assert y16.dtype == torch.bfloat16
    torch.testing.assert_close(y16.double(), expected.detach(), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("bias", [True, False])
def test_swiglu_bias_option(bias):
    mlp = SwiGLU(4, 3, bias=bias)
    assert (mlp.to_hidden.bias is not None) == bias and (mlp.to_out.bias is not None) == bias
