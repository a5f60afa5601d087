"""Experiment configs: pydantic models loaded from YAML, with `--set a.b=c` overrides.

    config = load_config(ExperimentConfig, "configs/experiments/demo.yaml", ["trainer.max_epochs=2"])

Unknown fields are errors that name the field (`model.lookbak: unknown field`); every error is a
`ConfigError` whose message is one line starting with the file. `load_config` works for any pydantic
model, so other experiment kinds (genomes) reuse it with their own root model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.models import BackboneConfig
from app.models.config import PRESETS

from .optim import OptimConfig
from .trainer import TrainerConfig

Model = TypeVar("Model", bound=BaseModel)


class ConfigError(ValueError):
    """A config that cannot be used; str() is one line naming the file and the field."""


class DataSection(BaseModel):
    """The series and how it is cut. source: a file (CSV / Parquet / JSON lines) or a named data set.
    targets / covariates / timestamp / layout / freq / fill / scaler: as `StreamConfig`. history: rows
    before the lookback window that each training window also gives the model (its memory reads them
    first, as at forecast time). stride: rows between training windows."""

    model_config = ConfigDict(extra="forbid")

    source: str
    targets: list[str] | None = None
    covariates: list[str] = Field(default_factory=list)
    timestamp: str | None = None
    layout: str = "auto"
    freq: str | None = None
    fill: str = "forward"
    scaler: str = "standard"
    split: dict[str, Any] = Field(default_factory=dict)
    history: int = Field(0, ge=0)
    stride: int = Field(1, ge=1)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(256, ge=1)
    num_workers: int = Field(0, ge=0)


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


class ModelSection(BackboneSection):
    """kind: "forecaster" (a Backbone preset over patches) or "dlinear". preset / backbone: see
    `BackboneSection`. The rest are `ForecasterConfig` fields; use_covariates feeds the data's
    covariates to the model. loss: the training objective on the scaled targets ("mse", "mae" or
    "huber")."""

    kind: str = "forecaster"
    lookback: int = Field(96, ge=1)
    horizon: int = Field(96, ge=1)
    patch_len: int = Field(16, ge=1)
    patch_stride: int | None = Field(None, ge=1)
    use_covariates: bool = False
    revin: bool = True
    memorize_history: bool = True
    memorize_chunk: int = Field(256, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    linear_skip: bool = False
    loss: Literal["mse", "mae", "huber"] = "mse"

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in ("forecaster", "dlinear"):
            raise ValueError(f"unknown model kind {value!r}; expected 'forecaster' or 'dlinear'")
        return value

    @model_validator(mode="after")
    def _patch_fits(self) -> ModelSection:
        if self.patch_len > self.lookback:
            raise ValueError(f"patch_len: {self.patch_len} is longer than lookback={self.lookback}")
        return self


class EvaluationSection(BaseModel):
    """horizons: steps at which MSE / MAE are reported (each <= the model's horizon; empty: the
    model's). season: the seasonal-naive period in rows (None: one day at the series' frequency,
    else the lookback). online_step: rows revealed per step of the prequential protocol (None: the
    horizon). dlinear_epochs: epochs of the DLinear baseline (0: no DLinear row)."""

    model_config = ConfigDict(extra="forbid")

    horizons: list[int] = Field(default_factory=list)
    season: int | None = Field(None, ge=1)
    online_step: int | None = Field(None, ge=1)
    dlinear_epochs: int = Field(10, ge=0)


class TrackingSection(BaseModel):
    """uri: None -> $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory."""

    model_config = ConfigDict(extra="forbid")

    uri: str | None = None
    experiment: str = "memcast"
    log_model: bool = True


class ExperimentConfig(BaseModel):
    """One forecasting experiment: data, model, optimiser, trainer, evaluation, tracking. task:
    always "forecast" here (genome experiments: app/training/genome_config.py; `load_experiment`
    picks the class from the YAML's task)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["forecast"] = "forecast"
    name: str = "experiment"
    seed: int = 0
    output_dir: str = "runs"
    data: DataSection
    model: ModelSection = Field(default_factory=ModelSection)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)


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


def _read_yaml(path: Path, overrides: list[str] | None) -> dict[str, Any]:
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
    data = _read_yaml(path, overrides)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ConfigError(f"{path}: {where}: {_message(first)}{more}") from None


TASKS = ("forecast", "genome-lm", "genome-classify")
"""The experiment kinds `memcast train` runs, named by a config's `task` field (default forecast)."""


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> BaseModel:
    """The experiment config of `path`, of the class its `task` names (after the overrides):
    ExperimentConfig for forecast, GenomeLMConfig / GenomeClassifyConfig for the genome tasks."""
    path = Path(path)
    task = _read_yaml(path, overrides).get("task", "forecast")
    if task == "forecast":
        return load_config(ExperimentConfig, path, overrides)
    if task in TASKS:
        from .genome_config import GENOME_CONFIGS

        return load_config(GENOME_CONFIGS[task], path, overrides)
    raise ConfigError(f"{path}: task: unknown task {task!r}; expected one of {', '.join(TASKS)}")
