"""Config loading for every task: YAML into a pydantic model, with `--set a.b=c` overrides, and the
sections all tasks share (`Experiment`, `OptimConfig` for app/training/optim.py, `TrainerConfig` for
app/training/trainer.py, `BackboneSection`, `TrackingSection`).

    config = load_config(ExperimentConfig, "configs/experiments/demo.yaml", ["trainer.max_epochs=2"])

Every error is a one-line `ConfigError` that starts with the file and names the field
(`model.lookbak: unknown field`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.models.config import PRESETS, BackboneConfig

Model = TypeVar("Model", bound=BaseModel)


class ConfigError(ValueError):
    """A config that cannot be used; str() is one line naming the file and the field."""


class OptimConfig(BaseModel):
    """lr: peak learning rate. warmup: optimiser steps of linear warm-up from warmup_start x lr (an
    int), or that fraction of all steps (a float < 1). min_lr_ratio: the cosine ends at this x lr.
    Biases and norm / embedding-free 1-D parameters get no weight decay."""

    model_config = ConfigDict(extra="forbid")

    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    warmup: int | float = Field(0.05, ge=0)
    warmup_start: float = Field(0.01, gt=0, le=1)
    min_lr_ratio: float = Field(0.05, ge=0, le=1)


class TrainerConfig(BaseModel):
    """max_epochs / max_steps: stop at whichever comes first (-1: no step limit). patience: epochs
    without improvement of the monitored metric before early stopping (0: off). precision: "auto",
    or any Lightning precision ("32-true", "bf16-mixed", "16-mixed"). accelerator / devices /
    strategy: as Lightning takes them; strategy "ddp" is DDP (gloo on CPU, nccl on CUDA).
    limit_*_batches: an int (batches) or a float (fraction) per epoch. threads: torch's CPU threads
    for the run (None: torch's default; small models on a busy CPU train fastest on one)."""

    model_config = ConfigDict(extra="forbid")

    max_epochs: int = Field(20, ge=1)
    max_steps: int = Field(-1, ge=-1)
    gradient_clip_val: float | None = Field(1.0, gt=0)
    patience: int = Field(5, ge=0)
    precision: str = "auto"
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: Literal["auto", "ddp"] = "auto"
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    log_every_n_steps: int = Field(10, ge=1)
    progress_bar: bool = True
    deterministic: bool = False
    threads: int | None = Field(None, ge=1)


class BackboneSection(BaseModel):
    """preset / backbone: a backbone preset and any of its fields (e.g. {d_model: 32, n_layers: 2,
    memory: {chunk_size: 8}}), checked when the config loads. Model sections of any task extend it."""

    model_config = ConfigDict(extra="forbid")

    preset: str = "titans-lmm"
    backbone: dict[str, Any] = Field(default_factory=dict)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset {value!r}; expected one of {', '.join(PRESETS)}")
        return value

    @model_validator(mode="after")
    def _backbone_builds(self) -> BackboneSection:
        self.backbone_config()
        return self

    def backbone_config(self) -> BackboneConfig:
        try:
            return BackboneConfig.preset(self.preset, **self.backbone)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(["backbone", *(str(part) for part in first["loc"])])
            raise ValueError(f"{where}: {_message(first)}") from None
        except ValueError as error:
            raise ValueError(f"backbone: {str(error).replace('BackboneConfig.preset: ', '')}") from None


class TrackingSection(BaseModel):
    """uri: None -> $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory."""

    model_config = ConfigDict(extra="forbid")

    uri: str | None = None
    experiment: str = "memcast"
    log_model: bool = True


class Experiment(BaseModel):
    """What every task's experiment config holds: a name, a seed, the output folder, the optimiser,
    the trainer and tracking. Each task adds its data, model and evaluation sections and its `task`."""

    model_config = ConfigDict(extra="forbid")

    name: str = "experiment"
    seed: int = 0
    output_dir: str = "runs"
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    tracking: TrackingSection = Field(default_factory=TrackingSection)

    def run_tags(self) -> dict[str, str]:
        """The tags every run of this config carries (task, preset, dataset: DESIGN.md, conventions);
        each task's config names its own."""
        return {}


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] not in ("value_error", "assertion_error") and "input" in error:
        message += f" (got {error['input']!r})"
    return message


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set "a.b.c=value" into the nested mapping; the value is parsed as YAML ("[1, 2]", "null")."""
    data = yaml.safe_load(yaml.safe_dump(data))  # a deep copy
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. trainer.max_epochs=3")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"--set {item!r}: {where} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return data


def read_yaml(path: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """The mapping in YAML `path` with the overrides applied; errors are one-line ConfigErrors."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields; got {type(data).__name__}")
    return apply_overrides(data, overrides or [])


def load_config(model: type[Model], path: str | Path, overrides: list[str] | None = None) -> Model:
    """Read YAML `path`, apply the overrides, validate into `model`; errors are one-line ConfigErrors."""
    path = Path(path)
    data = read_yaml(path, overrides)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ConfigError(f"{path}: {where}: {_message(first)}{more}") from None
