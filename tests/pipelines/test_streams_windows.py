"""Splits, train-only scalers, windows served by index, patches, and the Lightning DataModule."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
import torch

from pipelines.datamodules import ForecastDataModule
from pipelines.errors import InputError
from pipelines.streams import (
    ScalerStats,
    SplitConfig,
    StreamConfig,
    WindowDataset,
    build_forecast_data,
    extract_patches,
    fit_scaler,
    load_series,
    month_bounds,
    ratio_bounds,
    scale,
    unscale,
)

from .streams_helpers import START, wide_frame

SMALL = dict(lookback=24, horizon=12, calendar=["hour", "dayofweek"])


# ----------------------------------------------------------------------------- splits


def test_ratio_split_covers_every_row_in_order():
    b = ratio_bounds(1000)
    assert (b.train, b.val, b.test) == ((0, 700), (700, 800), (800, 1000))
    b = ratio_bounds(999, (0.6, 0.2, 0.2))
    assert b.train[0] == 0 and b.train[1] == b.val[0] and b.val[1] == b.test[0] and b.test[1] == 999
    assert b.train[1] == 599 and b.test[1] - b.test[0] == 199


def test_month_split_is_the_ett_protocol():
    # Hourly rows over 21 months of 30 days: ETT's borders are 12*30*24, +4*30*24, +4*30*24 rows.
    n = 21 * 30 * 24
    ts = pl.datetime_range(START, START + timedelta(hours=n - 1), "1h", eager=True)
    b = month_bounds(ts)
    assert b.train == (0, 12 * 30 * 24)
    assert b.val == (12 * 30 * 24, 16 * 30 * 24)
    assert b.test == (16 * 30 * 24, 20 * 30 * 24)  # the 21st month is left out


def test_month_split_needs_a_long_enough_series():
    ts = pl.datetime_range(START, START + timedelta(days=300), "1d", eager=True)
    with pytest.raises(ValueError, match="needs more than 16 months"):
        month_bounds(ts)
    with pytest.raises(InputError, match="needs more than 16 months"):
        build_forecast_data(
            wide_frame(301, 1, step=timedelta(days=1)),
            StreamConfig(split=SplitConfig(kind="months"), lookback=4, horizon=2),
        )


# ----------------------------------------------------------------------------- scalers


@pytest.mark.parametrize("kind", ["standard", "minmax", "robust", "none"])
def test_scalers_match_numpy_and_invert(kind):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(500, 3))
    stats = fit_scaler(x, kind=kind)
    if kind == "standard":
        np.testing.assert_allclose(stats.center, x.mean(0)), np.testing.assert_allclose(stats.scale, x.std(0))
    elif kind == "minmax":
        y = scale(x, stats)
        np.testing.assert_allclose(y.min(0), 0.0, atol=1e-12), np.testing.assert_allclose(y.max(0), 1.0)
    elif kind == "robust":
        np.testing.assert_allclose(stats.center, np.median(x, 0))
    else:
        np.testing.assert_array_equal(scale(x, stats), x)
    np.testing.assert_allclose(unscale(scale(x, stats), stats), x)
    assert ScalerStats.from_dict(stats.to_dict()).center.tolist() == stats.center.tolist()


def test_scaler_ignores_unobserved_cells_and_constant_channels():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [1000.0, 5.0]])
    mask = np.array([[True, True], [True, True], [False, True]])  # 1000 was a filled value
    stats = fit_scaler(x, mask)
    assert stats.center.tolist() == [2.0, 5.0]
    assert stats.scale.tolist() == [1.0, 1.0]  # std of [1, 3] is 1; a constant channel scales by 1


def test_no_validation_or_test_value_leaks_into_the_scaler():
    frame = wide_frame(400, 2, seed=3)
    config = StreamConfig(**SMALL)
    base = build_forecast_data(frame, config)
    train_end = base.bounds.train[1]
    wild = frame.with_columns(
        pl.when(pl.int_range(pl.len()) >= train_end)
        .then(pl.col(c) * 1e6 + 12345.0)
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("ch0", "ch1")
    )
    other = build_forecast_data(wild, config)
    assert other.bounds == base.bounds
    np.testing.assert_array_equal(other.stats.center, base.stats.center)
    np.testing.assert_array_equal(other.stats.scale, base.stats.scale)
    # And so every training window is identical too (their rows all lie before the boundary).
    for i in (0, len(base.train) // 2, len(base.train) - 1):
        np.testing.assert_array_equal(other.train[i]["x"], base.train[i]["x"])
        np.testing.assert_array_equal(other.train[i]["y"], base.train[i]["y"])
    # The values themselves did change: the test really altered val / test.
    assert not np.array_equal(other.scaled[train_end:], base.scaled[train_end:])


# ----------------------------------------------------------------------------- windows


def test_windows_are_slices_of_the_scaled_array():
    frame = wide_frame(300, 3, seed=2)
    config = StreamConfig(covariates=["ch2"], **SMALL)
    data = build_forecast_data(frame, config)
    raw = frame.select("ch0", "ch1", "ch2").to_numpy()
    stats = fit_scaler(raw[: data.bounds.train[1]])
    expected = scale(raw, stats).astype(np.float32)
    np.testing.assert_array_equal(data.scaled, expected)
    L, H = config.lookback, config.horizon
    for split in ("train", "val", "test"):
        ds = data.datasets[split]
        for i in (0, len(ds) - 1):
            item = ds[i]
            s = item["index"]
            np.testing.assert_array_equal(item["x"], expected[s - L : s])
            np.testing.assert_array_equal(item["y"], expected[s : s + H, :2])  # targets only
            assert item["x_time"].shape == (L, 4) and item["y_time"].shape == (H, 4)
            np.testing.assert_array_equal(item["y_time"], data.time_features[s : s + H])


def test_targets_never_cross_a_split_boundary_and_lookback_uses_history():
    data = build_forecast_data(wide_frame(500, 1), StreamConfig(lookback=48, horizon=24, stride=5))
    for split in ("train", "val", "test"):
        ds = data.datasets[split]
        start, end = data.bounds[split]
        starts = [ds.target_start(i) for i in range(len(ds))]
        assert starts == sorted(starts) and all(b - a == 5 for a, b in zip(starts, starts[1:], strict=False))
        assert starts[0] >= start and starts[-1] + 24 <= end
        assert starts[-1] + 5 + 24 > end  # no further window would fit
        if split != "train":
            assert starts[0] == start  # the first val / test window looks back into earlier parts
    assert data.train.target_start(0) == 48  # train needs a full lookback of its own


def test_window_count_and_index_errors():
    ds = WindowDataset(np.zeros((100, 2)), lookback=10, horizon=5, stride=3)
    assert len(ds) == (100 - 5 - 10) // 3 + 1
    assert ds.target_start(-1) == ds.target_start(len(ds) - 1)
    with pytest.raises(IndexError):
        ds[len(ds)]
    assert len(WindowDataset(np.zeros((10, 1)), lookback=8, horizon=5)) == 0


def test_masks_follow_the_gaps():
    frame = wide_frame(200, 2, drop_rows=(150,), nan_cells=((160, 1),))
    data = build_forecast_data(frame, StreamConfig(lookback=20, horizon=10, calendar=[]))
    item = data.test[0]  # lookback rows 140-159 hold the gap, horizon rows 160-169 the NaN
    s = item["index"]
    assert s == 160
    expected = np.ones((200, 2), dtype=bool)
    expected[150] = False
    expected[160, 1] = False
    np.testing.assert_array_equal(np.concatenate([item["x_mask"], item["y_mask"]]), expected[s - 20 : s + 10])
    assert "x_time" not in item


def test_patches_independent_and_mixed():
    x = np.arange(40, dtype=np.float64).reshape(20, 2)  # channel 0 even numbers, channel 1 odd
    ind = extract_patches(x, 4, 3, "independent")
    assert ind.shape == (6, 2, 4)  # (20 - 4) // 3 + 1 patches
    np.testing.assert_array_equal(ind[1, 0], [6.0, 8.0, 10.0, 12.0])  # rows 3..6 of channel 0
    np.testing.assert_array_equal(ind[1, 1], [7.0, 9.0, 11.0, 13.0])
    mixed = extract_patches(x, 4, 3, "mixed")
    assert mixed.shape == (6, 8)
    np.testing.assert_array_equal(mixed[1], [6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0])  # time-major
    t = extract_patches(torch.from_numpy(x), 4, 3, "mixed")
    np.testing.assert_array_equal(t.numpy(), mixed)
    assert np.shares_memory(ind, x)  # independent patches are a view


@pytest.mark.parametrize("mode,shape", [("independent", (3, 5, 8)), ("mixed", (5, 24))])
def test_dataset_patches(mode, shape):
    data = build_forecast_data(
        wide_frame(300, 3),
        StreamConfig(lookback=40, horizon=8, patch_len=8, patch_stride=8, channel_mode=mode),
    )
    item = data.train[7]
    assert item["x_patches"].shape == shape
    if mode == "independent":
        np.testing.assert_array_equal(item["x_patches"][2, 1], item["x"][8:16, 2])
    else:
        np.testing.assert_array_equal(item["x_patches"][1], item["x"][8:16].reshape(-1))


def test_ten_million_rows_cost_no_more_than_their_array():
    values = np.zeros((10_000_000, 1), dtype=np.float32)  # 40 MB
    tracemalloc.start()
    try:
        ds = WindowDataset(values, lookback=512, horizon=96, stride=1)
        reads = [ds[i] for i in np.random.default_rng(0).integers(0, len(ds), size=200)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ds) == 10_000_000 - 512 - 96 + 1
    assert peak < 1_000_000, f"window dataset allocated {peak} bytes"
    assert ds.values is values
    assert all(np.shares_memory(r["x"], values) and np.shares_memory(r["y"], values) for r in reads)


# ----------------------------------------------------------------------------- Lightning


def test_datamodule_batches():
    dm = ForecastDataModule(
        wide_frame(400, 3), StreamConfig(covariates=["ch2"], **SMALL), batch_size=8, seed=1
    )
    dm.setup("fit")
    assert dm.channels == ["ch0", "ch1", "ch2"] and dm.n_targets == 2 and dm.n_time_features == 4
    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (8, 24, 3) and batch["x"].dtype == torch.float32
    assert batch["y"].shape == (8, 12, 2)
    assert batch["x_mask"].dtype == torch.bool and batch["y_mask"].shape == (8, 12, 2)
    assert batch["x_time"].shape == (8, 24, 4)
    again = next(
        iter(ForecastDataModule(wide_frame(400, 3), dm.config, batch_size=8, seed=1).train_dataloader())
    )
    assert torch.equal(batch["index"], again["index"])  # seeded shuffling
    val = next(iter(dm.val_dataloader()))
    assert val["index"][0] == dm.data.bounds.val[0]  # unshuffled, first window at the boundary
    assert sum(len(b["index"]) for b in dm.test_dataloader()) == len(dm.dataset("test"))


def test_datamodule_trains_a_model_with_lightning():
    import lightning as L

    class Linear(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(24 * 2, 12 * 2)

        def step(self, batch):
            pred = self.net(batch["x"].flatten(1)).view(-1, 12, 2)
            return torch.nn.functional.mse_loss(pred, batch["y"])

        def training_step(self, batch, _):
            return self.step(batch)

        def validation_step(self, batch, _):
            self.log("val_loss", self.step(batch))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    dm = ForecastDataModule(wide_frame(300, 2), StreamConfig(**SMALL), batch_size=16)
    trainer = L.Trainer(
        fast_dev_run=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Linear(), datamodule=dm)
    assert trainer.state.finished


def test_too_short_for_a_training_window():
    with pytest.raises(InputError, match="series too short"):
        build_forecast_data(wide_frame(50, 1), StreamConfig(lookback=40, horizon=10))


def test_float64_option_and_series_reuse():
    series = load_series(wide_frame(200, 1))
    data = build_forecast_data(series, StreamConfig(dtype="float64", **SMALL))
    assert data.scaled.dtype == np.float64 and data.series is series
