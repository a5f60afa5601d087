"""Short causal depthwise 1D convolution with a streaming state (Titans' q / k / v convolutions)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .state import StreamState


@dataclass
class ConvState(StreamState):
    """The last (kernel - 1) inputs, (B, kernel - 1, channels); zeros at the start of a stream."""

    tail: Tensor


# Lets `torch.load(..., weights_only=True)` (the default) read saved states back.
torch.serialization.add_safe_globals([ConvState])


class ShortCausalConv(nn.Module):
    """x (B, T, channels) -> y (B, T, channels): y_t = bias + sum_j weight[:, 0, j] * x_{t - kernel + 1 + j}.

    Depthwise (one filter per channel) and causal: inputs before the stream's start are zeros. With
    `activation`, SiLU follows the convolution. Parameters are `weight` (channels, 1, kernel) and
    `bias` (channels), with the shapes, names and initialisation of `nn.Conv1d(channels, channels,
    kernel, groups=channels)`.
    """

    def __init__(self, channels: int, kernel: int, activation: bool = True, bias: bool = True):
        super().__init__()
        if channels < 1:
            raise ValueError(f"ShortCausalConv.channels: expected >= 1; got {channels}")
        if kernel < 1:
            raise ValueError(f"ShortCausalConv.kernel: expected >= 1; got {kernel}")
        self.channels, self.kernel, self.activation = channels, kernel, activation
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel))
        self.bias = nn.Parameter(torch.empty(channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Conv1d's initialisation (fan_in = kernel for a depthwise filter)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.kernel)
            nn.init.uniform_(self.bias, -bound, bound)

    def initial_state(self, batch: int) -> ConvState:
        """Zero history."""
        return ConvState(self.weight.new_zeros(batch, self.kernel - 1, self.channels))

    def forward(self, x: Tensor, state: ConvState | None = None) -> tuple[Tensor, ConvState]:
        if x.dim() != 3 or x.shape[2] != self.channels:
            raise ValueError(
                f"ShortCausalConv: x: expected shape (B, T, channels={self.channels}); got {tuple(x.shape)}"
            )
        if state is None:
            state = self.initial_state(x.shape[0])
        expected = (x.shape[0], self.kernel - 1, self.channels)
        if tuple(state.tail.shape) != expected:
            raise ValueError(
                f"ShortCausalConv: state.tail: expected shape (B, kernel - 1, channels) = {expected}; "
                f"got {tuple(state.tail.shape)}"
            )
        if x.shape[1] == 0:
            return x.new_zeros(x.shape), state
        history = torch.cat([state.tail, x], dim=1)
        # clone: a slice would keep the whole input alive in the state.
        tail = history[:, history.shape[1] - (self.kernel - 1) :].clone()
        if x.shape[1] < self.kernel:
            # A few tokens (a decoding step): the taps as products. conv1d's set-up costs more than
            # the product (one token of 96 channels, 1 thread: conv1d alone 47 us, this call 27 us).
            y = (history.unfold(1, self.kernel, 1) * self.weight[:, 0]).sum(-1)  # (B, T, channels)
            y = y if self.bias is None else y + self.bias
        else:
            y = F.conv1d(history.transpose(1, 2), self.weight, self.bias, groups=self.channels)
            y = y.transpose(1, 2)
        return (F.silu(y) if self.activation else y), ConvState(tail)
