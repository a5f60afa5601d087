"""Search spaces (YAML under configs/tuning/): which config fields a study varies, and how.

    metric: val_loss                # the validation metric a trial is scored (and pruned) on
    direction: minimize
    pruner: median                  # median | hyperband | threshold | none, or {type: median, ...}
    params:
      optim.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
      model.backbone.n_layers: {type: int, low: 1, high: 2}
      model.preset: {type: categorical, choices: [titans-lmm, titans-mag, swa]}
      model.backbone.memory.chunk_size:      # conditional: only for the memory presets
        {type: categorical, choices: [4, 8], when: {model.preset: [titans-lmm, titans-mag]}}

A param's name is the dotted config field it sets (as `--set` takes it). `when` names other
params and the values under which this one is drawn. Every error is a one-line `SpaceError` that
starts with the file and names the field.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.training import ConfigError, read_yaml

Scalar = str | int | float | bool | None


class SpaceError(ValueError):
    """A search space that cannot be used; str() is one line naming the file and the field."""


class Param(BaseModel):
    """One config field's distribution: float (log for a log-uniform one; step), int (log, step) or
    categorical (choices: scalars). when: {other param: [values]}: drawn only then."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    choices: list[Scalar] | None = None
    when: dict[str, list[Scalar]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        if self.type == "categorical":
            if self.choices is None:
                raise ValueError("choices: required for a categorical param")
            if not self.choices:
                raise ValueError("choices: empty; give at least one value")
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("a categorical param takes choices, not low / high / log / step")
            return self
        if self.choices is not None:
            raise ValueError(f"choices: only for a categorical param, not a {self.type} one")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} param needs low and high")
        if self.low > self.high:
            raise ValueError(f"low {self.low:g} > high {self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError(f"log: needs low > 0 (got {self.low:g})")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot both be set")
        if self.type == "int" and not all(float(v).is_integer() for v in (self.low, self.high)):
            raise ValueError("an int param needs whole low and high")
        return self

    def values(self) -> list[Scalar]:
        """The values that stand for the range when a space is checked against a config."""
        if self.type == "categorical":
            return list(self.choices or [])
        if self.type == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]

    def suggest(self, trial: Any, name: str) -> Scalar:
        """The trial's value (Optuna's suggest_* API)."""
        if self.type == "categorical":
            return trial.suggest_categorical(name, self.choices)
        if self.type == "int":
            step = int(self.step) if self.step else 1
            return trial.suggest_int(name, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)


class Pruner(BaseModel):
    """type: median (optuna.pruners.MedianPruner), hyperband (HyperbandPruner), threshold
    (ThresholdPruner) or none; every other key goes to the Optuna class as is."""

    model_config = ConfigDict(extra="allow")

    type: Literal["median", "hyperband", "threshold", "none"] = "median"

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Space(BaseModel):
    """A search space: the metric (best value over the epochs; the pruner reads it each epoch), its
    direction, the pruner, the sampler (tpe or random, seeded by the experiment's seed), the default
    trial count, and the params."""

    model_config = ConfigDict(extra="forbid")

    metric: str = "val_loss"
    direction: Literal["minimize", "maximize"] = "minimize"
    pruner: Pruner = Field(default_factory=Pruner)
    sampler: Literal["tpe", "random"] = "tpe"
    trials: int = Field(20, ge=1)
    params: dict[str, Param]

    @model_validator(mode="before")
    @classmethod
    def _pruner_by_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("pruner"), str):
            data = {**data, "pruner": {"type": data["pruner"]}}
        return data

    @model_validator(mode="after")
    def _conditions_name_params(self) -> Space:
        """Every `when` names another param; the params are put in an order where each comes after
        the params its condition reads (the order they are drawn in)."""
        if not self.params:
            raise ValueError("params: empty; name at least one config field")
        for name, param in self.params.items():
            for other in param.when:
                if other not in self.params or other == name:
                    raise ValueError(f"params.{name}.when: {other!r} is not another param of the space")
        ordered: dict[str, Param] = {}
        pending = dict(self.params)
        while pending:
            ready = [name for name, param in pending.items() if all(o in ordered for o in param.when)]
            if not ready:
                raise ValueError(f"params.{next(iter(pending))}.when: the conditions form a cycle")
            ordered.update((name, pending.pop(name)) for name in ready)
        self.params = ordered
        return self

    def suggest(self, trial: Any) -> dict[str, Scalar]:
        """The trial's values, param by param (a conditional one only when its `when` holds)."""
        values: dict[str, Scalar] = {}
        for name, param in self.params.items():
            if all(values.get(other, _ABSENT) in allowed for other, allowed in param.when.items()):
                values[name] = param.suggest(trial, name)
        return values


_ABSENT = object()


def _yaml_scalar(value: Scalar) -> str:
    return yaml.safe_dump(value).removesuffix("...\n").strip()


def overrides(values: dict[str, Scalar]) -> list[str]:
    """`--set` strings for config values (YAML scalars, so 1e-4 stays a float)."""
    return [f"{name}={_yaml_scalar(value)}" for name, value in values.items()]


def _where(loc: tuple[Any, ...]) -> str:
    """params.<field>.<key> from a pydantic location (field names hold dots, so joined as is)."""
    return ".".join(str(part) for part in loc) or "(top level)"


def load_space(path: str | Path) -> Space:
    """The space in YAML `path`; errors are one-line SpaceErrors naming the field."""
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"{path}: no such search-space file")
    try:
        data = read_yaml(path)
    except ConfigError as error:  # not YAML, or not a mapping
        raise SpaceError(str(error)) from None
    try:
        return Space.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        elif first["type"] == "missing":
            message = "required"
        raise SpaceError(f"{path}: {_where(first['loc'])}: {message}") from None


def check_space(space: Space, path: str | Path, load: Callable[[list[str]], Any]) -> None:
    """Every param names a field of the experiment config and every value of its range (low, high,
    each choice) loads: `load(overrides)` builds the config (raising a one-line error). A param
    under `when` is tried with its conditions' first values."""
    for name, param in space.params.items():
        context = overrides({other: allowed[0] for other, allowed in param.when.items() if allowed})
        for value in param.values():
            try:
                load(context + overrides({name: value}))
            except ValueError as error:
                reason = str(error).split(": ", 1)[-1]
                raise SpaceError(f"{path}: params.{name}: {reason} (value {value!r})") from None
