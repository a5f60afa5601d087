"""ShortCausalConv against a per-step loop (float64), causality, nn.Conv1d compatibility, dtypes and
gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from app.layers import ShortCausalConv

from .naive import naive_conv


@pytest.mark.parametrize("kernel", [1, 2, 4, 7])
@pytest.mark.parametrize("activation", [True, False])
def test_conv_equals_per_step_loop(kernel, activation):
    torch.manual_seed(0)
    conv = ShortCausalConv(6, kernel, activation=activation).double()
    x = torch.randn(2, 11, 6, dtype=torch.float64)
    y, state = conv(x)
    torch.testing.assert_close(y, naive_conv(conv, x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state.tail, x[:, 11 - (kernel - 1) :], rtol=0, atol=0)


def test_shorter_input_than_kernel_keeps_zero_history():
    torch.manual_seed(0)
    conv = ShortCausalConv(3, 5, activation=False).double()
    x = torch.randn(1, 2, 3, dtype=torch.float64)
    y, state = conv(x)
    torch.testing.assert_close(y, naive_conv(conv, x), rtol=1e-12, atol=1e-12)
    assert state.tail.shape == (1, 4, 3) and torch.equal(state.tail[:, :2], torch.zeros(1, 2, 3).double())


def test_causal_exactly():
    conv = ShortCausalConv(4, 3).double()
    x = torch.randn(2, 15, 4, dtype=torch.float64)
    changed = x.clone()
    changed[:, 9:] = torch.randn(2, 6, 4, dtype=torch.float64)
    y, _ = conv(x)
    y_changed, _ = conv(changed)
    torch.testing.assert_close(y[:, :9], y_changed[:, :9], rtol=0, atol=0)
    assert not torch.allclose(y[:, 9:], y_changed[:, 9:])


def test_equals_torch_depthwise_conv1d():
    """Same parameter names, shapes and (same seed) initial values as nn.Conv1d(c, c, k, groups=c), and
    the same outputs as that conv with left zero padding, then SiLU."""
    torch.manual_seed(3)
    reference = torch.nn.Conv1d(5, 5, 4, groups=5)
    torch.manual_seed(3)
    conv = ShortCausalConv(5, 4)
    assert conv.state_dict().keys() == reference.state_dict().keys()
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(conv.state_dict()[name], value, rtol=0, atol=0)
    x = torch.randn(2, 9, 5)
    inline = F.silu(reference(F.pad(x, (0, 0, 3, 0)).transpose(1, 2)).transpose(1, 2))
    torch.testing.assert_close(conv(x)[0], inline, rtol=1e-6, atol=1e-6)


def test_gradients_and_low_precision():
    conv = ShortCausalConv(4, 3)
    x = torch.randn(2, 7, 4, requires_grad=True)
    _, state = conv(x[:, :5])
    y, _ = conv(x[:, 5:], state)
    y.sum().backward()
    assert conv.weight.grad.abs().sum() > 0 and conv.bias.grad.abs().sum() > 0
    assert x.grad[:, 3:5].abs().sum() > 0  # through the state
    y16, state16 = conv.bfloat16()(x.detach().bfloat16())
    assert y16.dtype == state16.tail.dtype == torch.bfloat16
    torch.testing.assert_close(y16.float(), conv.float()(x.detach())[0], rtol=0.05, atol=0.05)


def test_no_bias():
    conv = ShortCausalConv(4, 2, activation=False, bias=False).double()
    assert conv.bias is None
    x = torch.randn(1, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(conv(x)[0], naive_conv(conv, x), rtol=1e-12, atol=1e-12)
