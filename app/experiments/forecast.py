"""The forecasting experiment config (YAML under configs/experiments/, `task: forecast`): the series
and how it is cut, the model, evaluation; the shared sections are in app/experiments/shared.py. How
the data section becomes the pipeline's settings: app.forecasting.config.stream_config."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models.config import ForecastHead

from .shared import BackboneSection, Experiment


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


class ModelSection(BackboneSection, ForecastHead):
    """kind: "forecaster" (a backbone preset over patches) or "dlinear". preset / backbone: see
    `BackboneSection`; the head fields: see `ForecastHead`. use_covariates feeds the data's covariates
    to the model. loss: the training objective on the scaled targets ("mse", "mae" or "huber")."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "forecaster"
    use_covariates: bool = False
    loss: Literal["mse", "mae", "huber"] = "mse"

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in ("forecaster", "dlinear"):
            raise ValueError(f"unknown model kind {value!r}; expected 'forecaster' or 'dlinear'")
        return value


class EvaluationSection(BaseModel):
    """horizons: steps at which MSE / MAE are reported (each <= the model's horizon; empty: the
    model's). season: the seasonal-naive period in rows (None: one day at the series' frequency,
    else the lookback). online_step: rows revealed per step of the prequential protocol (None: the
    horizon)."""

    model_config = ConfigDict(extra="forbid")

    horizons: list[int] = Field(default_factory=list)
    season: int | None = Field(None, ge=1)
    online_step: int | None = Field(None, ge=1)


class ExperimentConfig(Experiment):
    """One forecasting experiment: data, model, evaluation, and the shared sections."""

    task: Literal["forecast"] = "forecast"
    data: DataSection
    model: ModelSection = Field(default_factory=ModelSection)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)

    def run_tags(self) -> dict[str, str]:
        preset = self.model.preset if self.model.kind == "forecaster" else self.model.kind
        return {"task": self.task, "preset": preset, "dataset": str(self.data.source)}
