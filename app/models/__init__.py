"""Titans (LMM, MAC, MAG, MAL) and MIRAS (Moneta, Yaad, Memora) blocks and backbones.

    from app.models import Backbone, BackboneConfig
    net = Backbone(BackboneConfig.preset("titans-mac", d_model=64, n_layers=2))
    y, state = net(x)               # x: (B, T, d_model) -> y: (B, T, d_model)
    y2, state = net(x_next, state)  # continues the same sequence

Imports torch, pydantic and yaml only (never pipelines, Lightning, MLflow or Optuna). The configs
(app/models/config.py) import without torch, so that a command checks a config before it imports
torch; the other names are loaded on first use.
"""

from __future__ import annotations

from app.lazy import lazy_exports

from .config import PRESETS, BackboneConfig, MemoryConfig

_EXPORTS = {
    "ablation": ("memory_updates", "memory_updates_enabled", "set_memory_updates"),
    "backbone": ("Backbone", "BackboneState"),
    "baselines": ("DLinear", "SeasonalNaive"),
    "blocks": ("Block", "BlockState", "MACBlock", "MAGBlock", "MemoryBlock", "SWABlock", "build_block"),
    "forecaster": ("Forecaster", "ForecasterConfig", "RevIN"),
    "markov": ("MarkovModel", "MarkovSelection", "Prior", "select_order"),
    "metrics": ("BitsPerBase", "base_nats", "bits_per_base"),
    "nucleotide": ("NucleotideLM", "SequenceClassifier", "StreamScore"),
}
__getattr__, __dir__, _lazy = lazy_exports(__name__, globals(), _EXPORTS)
__all__ = ["PRESETS", "BackboneConfig", "MemoryConfig", *_lazy]
