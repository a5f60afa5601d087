"""Tiny nucleotide models for the tests."""

from __future__ import annotations

from app.models import PRESETS, BackboneConfig

D_MODEL = 16


def tiny_config(name: str, **overrides) -> BackboneConfig:
    """One or two narrow layers with small windows, chunks and segments, so short inputs cross them."""
    fields: dict = dict(d_model=D_MODEL, n_layers=2, window=5, segment=6)
    block = PRESETS[name][0]
    if block not in ("mac", "swa"):
        fields["memory"] = {"chunk_size": 4}
    if name == "moneta":
        fields["hybrid"] = True
    if name == "moneta" or block in ("mac", "mag", "mal", "swa"):
        fields["persistent"] = 2
    return BackboneConfig.preset(name, **{**fields, **overrides})
