"""Lightning DataModules over the pipelines: forecasting windows of sensor streams (here), and
next-base / classification over genomes (defined in `pipelines.genomes.datamodules`, exported here)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import polars as pl
import torch
from torch.utils.data import DataLoader

from pipelines.genomes.datamodules import ClassificationDataModule, NextBaseDataModule
from pipelines.streams.config import StreamConfig
from pipelines.streams.pipeline import ForecastData, StreamSeries, build_forecast_data
from pipelines.streams.scaling import ScalerStats
from pipelines.streams.windows import WindowDataset

__all__ = ["ClassificationDataModule", "ForecastDataModule", "NextBaseDataModule"]


class ForecastDataModule(L.LightningDataModule):
    """Train / val / test DataLoaders of forecasting windows from one sensor stream.

    Each batch is a dict of tensors: x (B, L, C), y (B, H, n_targets), x_mask, y_mask (observed,
    not filled), x_time / y_time (calendar covariates, when configured), x_patches (when patch_len
    is set) and index (target start rows). The scaler is fitted on the training rows only;
    validation and test windows take their lookback from earlier rows, their targets never cross a
    split boundary. Everything is built once, in `setup`, and shared by all stages.
    """

    def __init__(
        self,
        source: str | Path | pl.DataFrame | StreamSeries,
        config: StreamConfig | None = None,
        *,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        pin_memory: bool = False,
    ):
        super().__init__()
        self.source = source
        self.config = config or StreamConfig()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.shuffle = shuffle
        self.seed = seed
        self.pin_memory = pin_memory
        self.data: ForecastData | None = None

    def setup(self, stage: str | None = None) -> None:
        """Read, split, scale and index the series (once; later calls reuse it)."""
        if self.data is None:
            self.data = build_forecast_data(self.source, self.config)

    def _ready(self) -> ForecastData:
        if self.data is None:
            self.setup()
        assert self.data is not None
        return self.data

    @property
    def stats(self) -> ScalerStats:
        """The train-only scaler statistics (for inverse-scaling predictions, or for serving)."""
        return self._ready().stats

    @property
    def channels(self) -> list[str]:
        return self._ready().series.channels

    @property
    def n_targets(self) -> int:
        return self._ready().series.n_targets

    @property
    def n_time_features(self) -> int:
        return len(self._ready().time_feature_names)

    def dataset(self, split: str) -> WindowDataset:
        """The WindowDataset of 'train', 'val' or 'test'."""
        return self._ready().datasets[split]

    def _loader(self, split: str, *, shuffle: bool, batch_size: int) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            self.dataset(split),
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=self.shuffle, batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False, batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False, batch_size=self.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False, batch_size=self.eval_batch_size)
