"""`Backbone`: n_layers blocks and a final RMSNorm, streaming with the list of block states."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from app.layers import RMSNorm
from app.memory.state import StreamState

from .blocks import BlockState, build_block
from .config import BackboneConfig


@dataclass
class BackboneState(StreamState):
    """One `BlockState` per layer, bottom first. Indexes and iterates like the list it holds."""

    layers: list[BlockState]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> BlockState:
        return self.layers[index]

    def __iter__(self) -> Iterator[BlockState]:
        return iter(self.layers)

    @property
    def position(self) -> int:
        """Tokens the stream has seen."""
        return self.layers[0].position if self.layers else 0


# Lets `torch.load(..., weights_only=True)` (the default) read saved states back.
torch.serialization.add_safe_globals([BackboneState])


class Backbone(nn.Module):
    """x (B, T, d_model) -> y (B, T, d_model): `config.n_layers` blocks of `config.block`, then RMSNorm.

        net = Backbone(BackboneConfig.preset("titans-mac", d_model=64, n_layers=2))
        y, state = net(x)
        y2, state = net(x_next, state)  # continues the stream as if x || x_next came at once

    No embedding or output head: callers map their tokens or patches to d_model and back.
    """

    def __init__(self, config: BackboneConfig):
        super().__init__()
        if not isinstance(config, BackboneConfig):
            raise ValueError(f"Backbone: config: expected a BackboneConfig; got {type(config).__name__}")
        self.config = config
        self.blocks = nn.ModuleList(build_block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)

    def initial_state(self, batch: int) -> BackboneState:
        """The state of a stream that has seen nothing."""
        return BackboneState([block.initial_state(batch) for block in self.blocks])

    def forward(self, x: Tensor, state: BackboneState | None = None) -> tuple[Tensor, BackboneState]:
        """x (B, T, d_model) -> y (B, T, d_model) and the state after x."""
        d_model = self.config.d_model
        if x.dim() != 3 or x.shape[2] != d_model:
            raise ValueError(f"Backbone: x: expected shape (B, T, d_model={d_model}); got {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x.shape[0])
        if not isinstance(state, BackboneState) or len(state) != len(self.blocks):
            raise ValueError(
                f"Backbone: state: expected a BackboneState with {len(self.blocks)} layer states; got "
                f"{len(state) if isinstance(state, BackboneState) else type(state).__name__}"
            )
        layers = []
        for block, layer_state in zip(self.blocks, state, strict=True):
            x, layer_state = block(x, layer_state)
            layers.append(layer_state)
        return self.norm(x), BackboneState(layers)
