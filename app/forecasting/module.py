"""`ForecastModule`: the TaskModule that trains any forecaster (Forecaster, DLinear), and the typed
metadata its checkpoint carries.

The net maps batch["x"] (B, T, C) to (B, horizon, n_targets); the training loss (`loss`: "mse", "mae"
or "huber") is taken on the scaled targets over observed (not gap-filled) cells, and MSE and MAE are
logged whichever it is. The checkpoint's hyper-parameters hold everything needed to rebuild the net
and read new data, so `load_module(path)` alone restores a usable model.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from app.models import BackboneConfig
from app.models.baselines import DLinear
from app.models.forecaster import Forecaster, ForecasterConfig
from app.training import TaskModule
from pipelines.streams import ScalerStats, StreamConfig


def build_net(kind: str, config: dict[str, Any]) -> nn.Module:
    """ "forecaster" -> Forecaster(ForecasterConfig(**config)); "dlinear" -> DLinear(**config)."""
    if kind == "forecaster":
        config = dict(config)
        config["backbone"] = BackboneConfig(**config["backbone"])
        return Forecaster(ForecasterConfig(**config))
    if kind == "dlinear":
        return DLinear(**config)
    raise ValueError(f"unknown net kind {kind!r}; expected 'forecaster' or 'dlinear'")


LOSSES = ("mse", "mae", "huber")


def masked_mean(cells: Tensor, mask: Tensor | None) -> Tensor:
    """The mean of `cells` over the cells where `mask` is True (all cells without a mask)."""
    if mask is None:
        return cells.mean()
    weight = mask.to(cells.dtype)
    return (cells * weight).sum() / weight.sum().clamp_min(1.0)


def masked_errors(yhat: Tensor, y: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """MSE and MAE over the cells where `mask` is True (all cells without a mask)."""
    err = yhat.float() - y.float()
    return masked_mean(err.pow(2), mask), masked_mean(err.abs(), mask)


def masked_loss(kind: str, yhat: Tensor, y: Tensor, mask: Tensor | None) -> Tensor:
    """The training loss `kind` ("mse", "mae", "huber" with delta 1 on scaled values) over the
    observed cells."""
    if kind not in LOSSES:
        raise ValueError(f"loss: unknown {kind!r}; expected one of {', '.join(LOSSES)}")
    err = yhat.float() - y.float()
    if kind == "huber":
        cells = nn.functional.huber_loss(err, torch.zeros_like(err), reduction="none")
    else:
        cells = err.pow(2) if kind == "mse" else err.abs()
    return masked_mean(cells, mask)


class ForecastMeta(BaseModel):
    """What forecasting from new data needs, saved in the checkpoint: the pipeline settings, the
    channels, the training scaler; and the experiment's name, evaluation settings and MLflow
    experiment, so later commands report and log like the training run."""

    model_config = ConfigDict(extra="forbid")

    stream: StreamConfig = Field(default_factory=StreamConfig)
    channels: list[str] = Field(default_factory=list)
    targets: list[str] = Field(default_factory=list)
    covariates: list[str] = Field(default_factory=list)
    freq: str | None = None
    scaler: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None
    season: int | None = None
    name: str = "model"
    horizons: list[int] = Field(default_factory=list)
    online_step: int | None = None
    experiment: str = "memcast"
    threads: int | None = None  # the config's trainer.threads: later commands use as many

    @property
    def stats(self) -> ScalerStats:
        """The training scaler."""
        return ScalerStats.from_dict(self.scaler)


class ForecastModule(TaskModule):
    """net_kind / net_config: what `build_net` builds. optim: an OptimConfig as a dict. meta: a
    `ForecastMeta` as a dict. loss: the training objective, one of LOSSES (also what `val_loss`
    reports)."""

    def __init__(
        self,
        net_kind: str,
        net_config: dict[str, Any],
        optim: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        loss: str = "mse",
    ):
        super().__init__(optim)
        if loss not in LOSSES:
            raise ValueError(f"ForecastModule: loss: unknown {loss!r}; expected one of {', '.join(LOSSES)}")
        self.save_hyperparameters()
        self.net = build_net(net_kind, net_config)
        self.meta = ForecastMeta.model_validate(meta or {})

    @property
    def lookback(self) -> int:
        return int(self.hparams.net_config["lookback"])

    @property
    def horizon(self) -> int:
        return int(self.hparams.net_config["horizon"])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def task_loss(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, dict[str, Tensor], int]:
        yhat = self.net(batch["x"])
        y, mask = batch["y"], batch.get("y_mask")
        mse, mae = masked_errors(yhat, y, mask)
        return masked_loss(self.hparams.loss, yhat, y, mask), {"mse": mse, "mae": mae}, yhat.shape[0]

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self.net(batch["x"])


def load_module(path: str, map_location: str | torch.device = "cpu") -> ForecastModule:
    """A trained ForecastModule from a checkpoint file, in eval mode."""
    module = ForecastModule.load_from_checkpoint(path, map_location=map_location, weights_only=False)
    return module.eval()
