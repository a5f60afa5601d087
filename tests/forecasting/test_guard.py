"""A training batch on which the memory diverges is skipped and counted; other errors still raise."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from app.forecasting.module import ForecastModule
from app.models import BackboneConfig

from .conftest import make_memory_diverge


def diverging_module() -> ForecastModule:
    """A forecaster whose memory blows up when it reads 1,000 history rows (`make_memory_diverge`),
    and trains normally on a bare window."""
    torch.manual_seed(0)
    backbone = BackboneConfig.preset("titans-lmm", d_model=16, n_layers=1, memory={"chunk_size": 4})
    config = dict(backbone=backbone.model_dump(), lookback=16, horizon=8, patch_len=4)
    module = ForecastModule("forecaster", config, {"lr": 1e-2, "warmup": 0})
    make_memory_diverge(module.net.backbone.blocks[0].memory)
    return module


def batch(rows: int, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(2, rows, 1, generator=generator), "y": torch.randn(2, 8, 1, generator=generator)}


def fit(module: ForecastModule, batches: list[dict[str, torch.Tensor]]) -> L.Trainer:
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    return trainer


def test_batches_whose_memory_diverges_are_skipped_without_touching_the_weights():
    module = diverging_module()
    before = {name: value.clone() for name, value in module.state_dict().items()}
    with pytest.warns(UserWarning, match="the memory diverged"):
        trainer = fit(module, [batch(1016, 0), batch(1016, 1)])
    assert trainer.callback_metrics["train_skipped_steps"].item() == 2
    for name, value in module.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_training_goes_on_after_a_diverged_batch():
    module = diverging_module()
    before = {name: value.clone() for name, value in module.state_dict().items()}
    with pytest.warns(UserWarning, match="the memory diverged"):
        trainer = fit(module, [batch(1016, 0), batch(16, 1), batch(1016, 2), batch(16, 3)])
    metrics = trainer.callback_metrics
    assert metrics["train_skipped_steps"].item() == 2
    assert torch.isfinite(metrics["train_loss_epoch"])  # only the two finite batches were logged
    assert not torch.equal(module.net.head.weight, before["net.head.weight"])


def test_other_errors_in_a_training_step_still_stop_training():
    module = diverging_module()
    with pytest.raises(ValueError, match="needs at least lookback=16 rows"):
        fit(module, [batch(8, 0)])
