"""Configs: presets, their YAML files, tiny sizes, and validation messages that name the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from app.models import PRESETS, Backbone, BackboneConfig, MemoryConfig

from .helpers import ALL_PRESETS

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "models"


def test_every_preset_has_a_config_file_and_no_file_is_unknown():
    assert sorted(path.stem for path in CONFIGS.glob("*.yaml")) == sorted(PRESETS)


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_config_file_equals_preset(name):
    assert BackboneConfig.from_yaml(CONFIGS / f"{name}.yaml") == BackboneConfig.preset(name)


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_yaml_round_trip(name, tmp_path):
    config = BackboneConfig.preset(name, d_model=48, n_layers=3, heads=2)
    path = tmp_path / "model.yaml"
    path.write_text(config.to_yaml())
    assert BackboneConfig.from_yaml(path) == config


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_presets_build_and_run_at_the_smallest_size(name):
    config = BackboneConfig.preset(name, d_model=32, n_layers=1)
    assert config.heads == 1 and config.window <= 64 and config.persistent in (0, 4)
    if config.memory is not None:
        assert config.memory.chunk_size == (32 if name == "titans-mac" else 16)
    torch.manual_seed(0)
    y, state = Backbone(config)(torch.randn(1, 70, 32))  # past the window and two MAC segments
    assert y.shape == (1, 70, 32) and bool(torch.isfinite(y).all())
    assert state.position == 70 and len(state) == 1


def test_preset_defaults_scale_with_d_model():
    small, large = BackboneConfig.preset("titans-mag", d_model=64), BackboneConfig.preset("titans-mag")
    assert (small.heads, small.window, small.ffn_hidden) == (2, 128, 176)
    assert (large.d_model, large.heads, large.window, large.ffn_hidden) == (256, 8, 256, 688)
    assert large.memory.heads == 8 and large.memory.dim_head == 32
    # An awkward width still gets a head count that divides it with an even head width.
    odd = BackboneConfig.preset("swa", d_model=100)
    assert odd.d_model % odd.heads == 0 and (odd.d_model // odd.heads) % 2 == 0


def test_preset_overrides_reach_the_memory_and_mac_follows_its_segment():
    config = BackboneConfig.preset("moneta", d_model=32, hybrid=True, memory={"depth": 3, "chunk_size": 8})
    assert config.hybrid and config.persistent == 4 and config.memory.depth == 3
    assert config.memory.chunk_size == 8 and config.memory.preset == "moneta" and config.memory.residual
    assert BackboneConfig.preset("titans-mac", segment=8).memory.chunk_size == 8


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: BackboneConfig.preset("titans-mag", d_model=48, heads=5),
            "d_model: 48 is not divisible by heads=5",
        ),
        (lambda: BackboneConfig.preset("swa", d_model=30, heads=2), "heads: rotary attention needs an even"),
        (lambda: BackboneConfig.preset("titans-mal", window=0), "window"),
        (lambda: BackboneConfig.preset("titans-mal", d_model=0), "d_model: expected an integer >= 1"),
        (lambda: BackboneConfig.preset("swa", window=-3), "greater than or equal to 1"),
        (
            lambda: BackboneConfig.preset("titans-xl"),
            "unknown preset 'titans-xl'; expected one of titans-lmm",
        ),
        (lambda: BackboneConfig.preset("titans-lmm", depth=2), "depth"),  # extra fields are refused
        (
            lambda: BackboneConfig.preset("titans-lmm", persistent=2),
            "persistent: block 'lmm' has no attention",
        ),
        (lambda: BackboneConfig.preset("titans-mag", hybrid=True), "hybrid: only the 'miras' block"),
        (lambda: BackboneConfig.preset("titans-mal", mac_write="input"), "mac_write: only the 'mac' block"),
        (lambda: BackboneConfig.preset("titans-mac", mac_write="output"), "mac_write"),
        (lambda: BackboneConfig.preset("swa", memory={"depth": 2}), "memory: preset 'swa' has no memory"),
        (
            lambda: BackboneConfig.preset("titans-mac", memory={"chunk_size": 16}),
            "memory.chunk_size: MAC writes its memory once per segment",
        ),
        (lambda: BackboneConfig.preset("yaad", memory={"preset": "hopfield"}), "unknown memory preset"),
        (lambda: BackboneConfig.preset("memora", memory={"depth": 1}), "memory.depth"),
        (lambda: BackboneConfig.preset("titans-lmm", memory={"heads": 0}), "heads"),
        (lambda: MemoryConfig(preset="titans", colour="red"), "colour"),
    ],
)
def test_bad_configs_fail_with_a_message_naming_the_field(build, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build()


def test_from_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("block: swa\nd_model: 64\nn_layers: 1\nheads: 2\nwindow: 0\nffn_hidden: 8\n")
    with pytest.raises(ValueError, match=r"bad\.yaml(.|\n)*window"):
        BackboneConfig.from_yaml(path)
    path.write_text("block: [swa\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: not valid YAML(.|\n)*line 2"):
        BackboneConfig.from_yaml(path)
    path.write_text("- swa\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        BackboneConfig.from_yaml(path)


def test_models_import_no_pipelines_lightning_mlflow_or_optuna():
    """The house rule for app.models, checked in a fresh interpreter (other tests may import them)."""
    forbidden = ("pipelines", "lightning", "pytorch_lightning", "mlflow", "optuna")
    code = f"import sys, app.models; print([m for m in {forbidden!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=CONFIGS.parents[1]
    )
    assert result.stdout.strip() == "[]"
