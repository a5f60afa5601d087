"""Tiny configs with small windows, chunks and segments, so short sequences cross all of them."""

from __future__ import annotations

from functools import cache

import torch

from app.models import PRESETS, Backbone, BackboneConfig

ALL_PRESETS = tuple(PRESETS)
D_MODEL = 16
WINDOW, SEGMENT, CHUNK = 5, 6, 4
HYBRID = ("moneta",)


def tiny_config(name: str, **overrides) -> BackboneConfig:
    """Two layers of width 16: window 5, MAC segment 6, memory chunk 4, 2 persistent tokens.

    Moneta is made hybrid, so one MIRAS preset also covers the memory + attention form.
    """
    fields: dict = dict(d_model=D_MODEL, n_layers=2, window=WINDOW, segment=SEGMENT)
    block = PRESETS[name][0]
    if block not in ("mac", "swa"):  # MAC's chunk is its segment; swa has no memory
        fields["memory"] = {"chunk_size": CHUNK}
    if name in HYBRID:
        fields["hybrid"] = True
    if name in HYBRID or block in ("mac", "mag", "mal", "swa"):
        fields["persistent"] = 2
    return BackboneConfig.preset(name, **{**fields, **overrides})


@cache
def tiny_model(name: str, dtype: torch.dtype = torch.float64) -> Backbone:
    """A seeded tiny backbone (cached: tests that use it must not change its parameters)."""
    torch.manual_seed(0)
    return Backbone(tiny_config(name)).to(dtype)


def random_input(
    length: int, dtype: torch.dtype = torch.float64, seed: int = 0, batch: int = 2
) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, length, D_MODEL, generator=generator, dtype=torch.float64).to(dtype)


def run_in_pieces(module, x: torch.Tensor, bounds: list[int], state=None):
    """Feed x[:, bounds[i]:bounds[i + 1]] one piece after another; the outputs joined and the last state."""
    outputs = []
    for start, stop in zip(bounds, bounds[1:], strict=False):
        y, state = module(x[:, start:stop], state)
        outputs.append(y)
    return torch.cat(outputs, dim=1), state
