"""A tiny model of every preset learns a copy task: predict the token two positions back (T = 64)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from app.models import Backbone, BackboneConfig

from .helpers import ALL_PRESETS

VOCAB, LENGTH, BATCH, LAG = 8, 64, 4, 2
# The memory blocks see the previous tokens directly through the memory's short q / k / v convolution
# and learn the copy in a few dozen steps. MAC passes it through segment attention, and the
# attention-only baseline must find the offset from rotary positions, which takes longer.
STEPS = {"titans-mac": 80, "swa": 150}
DEFAULT_STEPS = 40


class TinyLanguageModel(nn.Module):
    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, config.d_model)
        self.backbone = Backbone(config)
        self.head = nn.Linear(config.d_model, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(self.embed(tokens))[0])


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_tiny_model_learns_to_copy(name):
    torch.manual_seed(0)
    model = TinyLanguageModel(BackboneConfig.preset(name, d_model=16, n_layers=1))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(STEPS.get(name, DEFAULT_STEPS)):
        tokens = torch.randint(0, VOCAB, (BATCH, LENGTH), generator=generator)
        logits = model(tokens)[:, LAG:]
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), tokens[:, :-LAG].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert first > 0.8 * math.log(VOCAB)  # it starts near chance...
    assert last < 0.25 * math.log(VOCAB), (first, last)  # ...and ends copying most tokens
