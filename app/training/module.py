"""`ForecastModule`: the LightningModule that trains any forecaster (Forecaster, DLinear).

The net maps batch["x"] (B, T, C) to (B, horizon, n_targets); the training loss (`loss`: "mse",
"mae" or "huber") is taken on the scaled targets over observed (not gap-filled) cells, and MSE and MAE
are logged whichever it is. Everything needed to rebuild the net and read new data
(net kind and config, channels, scaler statistics, frequency) is saved in the checkpoint's
hyper-parameters, so `ForecastModule.load_from_checkpoint(path)` alone restores a usable model.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from app.models import BackboneConfig
from app.models.baselines import DLinear
from app.models.forecaster import Forecaster, ForecasterConfig

from .guard import finite_loss, skip_diverged_step
from .optim import OptimConfig, configure_optimizers


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


class ForecastModule(L.LightningModule):
    """net_kind / net_config: what `build_net` builds. optim: an OptimConfig as a dict. meta: what
    forecasting from new data needs (channels, targets, covariates, freq, scaler, timestamp). loss:
    the training objective, one of LOSSES (also what `val_loss` reports)."""

    def __init__(
        self,
        net_kind: str,
        net_config: dict[str, Any],
        optim: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        loss: str = "mse",
    ):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"ForecastModule: loss: unknown {loss!r}; expected one of {', '.join(LOSSES)}")
        self.save_hyperparameters()
        self.net = build_net(net_kind, net_config)
        self.optim = OptimConfig(**(optim or {}))
        self.meta = dict(meta or {})

    @property
    def lookback(self) -> int:
        return int(self.hparams.net_config["lookback"])

    @property
    def horizon(self) -> int:
        return int(self.hparams.net_config["horizon"])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        yhat = self.net(batch["x"])
        y, mask = batch["y"], batch.get("y_mask")
        mse, mae = masked_errors(yhat, y, mask)
        loss = masked_loss(self.hparams.loss, yhat, y, mask)
        if stage == "train":
            loss = finite_loss(loss)
        # The loss per step while training and per epoch; MSE and MAE per epoch, whatever the loss.
        epoch = dict(on_epoch=True, sync_dist=True, batch_size=yhat.shape[0])
        self.log(f"{stage}_loss", loss, prog_bar=True, on_step=stage == "train", **epoch)
        self.log(f"{stage}_mse", mse, on_step=False, **epoch)
        self.log(f"{stage}_mae", mae, on_step=False, **epoch)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor | None:
        return skip_diverged_step(self, lambda: self._step(batch, "train"))

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "test")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self.net(batch["x"])

    def configure_optimizers(self) -> dict[str, Any]:
        return configure_optimizers(self, self.optim)


def load_module(path: str, map_location: str | torch.device = "cpu") -> ForecastModule:
    """A trained ForecastModule from a checkpoint file, in eval mode."""
    module = ForecastModule.load_from_checkpoint(path, map_location=map_location, weights_only=False)
    return module.eval()
