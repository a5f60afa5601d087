"""Titans (LMM, MAC, MAG, MAL) and MIRAS (Moneta, Yaad, Memora) blocks and backbones.

    from app.models import Backbone, BackboneConfig
    net = Backbone(BackboneConfig.preset("titans-mac", d_model=64, n_layers=2))
    y, state = net(x)               # x: (B, T, d_model) -> y: (B, T, d_model)
    y2, state = net(x_next, state)  # continues the same sequence

Imports torch, pydantic and yaml only (never pipelines, Lightning, MLflow or Optuna).
"""

from .ablation import memory_updates, memory_updates_enabled, set_memory_updates
from .backbone import Backbone, BackboneState
from .baselines import DLinear, SeasonalNaive
from .blocks import Block, BlockState, MACBlock, MAGBlock, MemoryBlock, SWABlock, build_block
from .config import PRESETS, BackboneConfig, MemoryConfig
from .forecaster import Forecaster, ForecasterConfig, RevIN
from .markov import MarkovModel, MarkovSelection, Prior, select_order
from .metrics import BitsPerBase, base_nats, bits_per_base
from .nucleotide import NucleotideLM, SequenceClassifier, StreamScore

__all__ = [
    "PRESETS",
    "Backbone",
    "BackboneConfig",
    "BackboneState",
    "Block",
    "BlockState",
    "DLinear",
    "Forecaster",
    "ForecasterConfig",
    "MACBlock",
    "MAGBlock",
    "MemoryBlock",
    "MemoryConfig",
    "RevIN",
    "SWABlock",
    "SeasonalNaive",
    "build_block",
    "memory_updates",
    "memory_updates_enabled",
    "set_memory_updates",
    "MarkovModel",
    "MarkovSelection",
    "Prior",
    "select_order",
    "BitsPerBase",
    "base_nats",
    "bits_per_base",
    "NucleotideLM",
    "SequenceClassifier",
    "StreamScore",
]
