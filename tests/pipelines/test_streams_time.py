"""The time axis: frequency inference, resampling, explicit gaps, filling, calendar features."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.streams import (
    StreamConfig,
    calendar_features,
    fill_missing,
    infer_freq,
    load_series,
    regularize,
)
from pipelines.streams.timeindex import fixed_step_us

from .streams_helpers import START, wide_frame, write_text


def series_of(times: list[datetime]) -> pl.Series:
    return pl.Series("t", times, dtype=pl.Datetime("us"))


@pytest.mark.parametrize(
    "step,expected",
    [
        (timedelta(minutes=30), "30m"),
        (timedelta(hours=1), "1h"),
        (timedelta(days=1), "1d"),
        (timedelta(seconds=15), "15s"),
        (timedelta(hours=36), "36h"),
        (timedelta(milliseconds=250), "250ms"),
    ],
)
def test_infer_freq_most_common_step(step, expected):
    times = [START + i * step for i in range(50)]
    del times[10:13], times[30]  # gaps do not change the most common difference
    assert infer_freq(series_of(times)) == expected


def test_infer_freq_months_and_unsorted_input():
    months = [datetime(2020 + (m // 12), m % 12 + 1, 1) for m in range(30)]
    assert infer_freq(series_of(months)) == "1mo"
    shuffled = [months[i] for i in np.random.default_rng(0).permutation(len(months))]
    assert infer_freq(series_of(shuffled)) == "1mo"
    assert infer_freq(series_of([START])) is None


def test_fixed_steps():
    assert fixed_step_us("1h30m") == 5_400_000_000
    assert fixed_step_us("1mo") is None
    assert fixed_step_us("1d") == 86_400_000_000
    assert fixed_step_us("1d", tz_aware=True) is None  # a local calendar day


def test_gaps_become_rows_with_an_observed_mask():
    frame = wide_frame(12, 2, drop_rows=(3, 4, 9))
    out = regularize(frame, "timestamp", ["ch0", "ch1"], "1h")
    assert out.height == 12
    assert out["timestamp"].to_list() == [START + timedelta(hours=i) for i in range(12)]
    assert out["observed"].to_list() == [i not in (3, 4, 9) for i in range(12)]
    assert out["ch0"].is_null().to_list() == [i in (3, 4, 9) for i in range(12)]


@pytest.mark.parametrize(
    "method,expected",
    [
        ("forward", [1.0, 1.0, 1.0, 4.0, 4.0, 6.0]),
        ("linear", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        ("zero", [1.0, 0.0, 0.0, 4.0, 0.0, 6.0]),
    ],
)
def test_fill_methods_inside(method, expected):
    x = np.array([1.0, np.nan, np.nan, 4.0, np.nan, 6.0])
    assert fill_missing(x, method).tolist() == expected


@pytest.mark.parametrize(
    "method,expected",
    [
        ("forward", [3.0, 3.0, 3.0, 5.0, 5.0]),  # leading cells take the first observation
        ("linear", [3.0, 3.0, 3.0, 5.0, 5.0]),  # edges take the nearest observation
        ("zero", [0.0, 0.0, 3.0, 5.0, 0.0]),
    ],
)
def test_fill_methods_at_the_edges(method, expected):
    x = np.array([np.nan, np.nan, 3.0, 5.0, np.nan])
    assert fill_missing(x, method).tolist() == expected


def test_fill_is_per_column_and_leaves_the_input_alone():
    x = np.array([[1.0, np.nan], [np.nan, 10.0], [3.0, np.nan], [np.nan, 40.0]])
    before = x.copy()
    out = fill_missing(x, "linear")
    np.testing.assert_array_equal(out, [[1.0, 10.0], [2.0, 10.0], [3.0, 25.0], [3.0, 40.0]])
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("fill", ["forward", "linear", "zero"])
def test_load_series_fills_gaps_and_masks_them(fill):
    frame = wide_frame(30, 2, drop_rows=(5, 6), nan_cells=((10, 1),))
    series = load_series(frame, StreamConfig(fill=fill))
    assert len(series) == 30 and series.fill == fill
    assert series.observed.tolist() == [i not in (5, 6) for i in range(30)]
    assert not series.mask[5].any() and not series.mask[6].any()
    assert series.mask[10].tolist() == [True, False]
    assert not np.isnan(series.values).any()
    raw = np.full((30, 2), np.nan)
    keep = [i for i in range(30) if i not in (5, 6)]
    raw[keep] = frame.select("ch0", "ch1").to_numpy()
    np.testing.assert_array_equal(series.values, fill_missing(raw, fill))
    # The frame view has the same content.
    assert series.frame.columns == ["timestamp", "ch0", "ch1", "observed"]


def test_resample_to_a_coarser_frequency_averages():
    frame = wide_frame(12, 1, step=timedelta(minutes=30), start=datetime(2021, 1, 1, 0, 0))
    series = load_series(frame, StreamConfig(freq="1h"))
    assert len(series) == 6
    raw = frame["ch0"].to_numpy()
    np.testing.assert_allclose(series.values[:, 0], raw.reshape(6, 2).mean(axis=1))


def test_resample_to_a_finer_frequency_makes_gaps():
    frame = wide_frame(4, 1, step=timedelta(hours=1))
    series = load_series(frame, StreamConfig(freq="30m", fill="linear"))
    assert len(series) == 7
    assert series.observed.tolist() == [True, False] * 3 + [True]
    raw = frame["ch0"].to_numpy()
    np.testing.assert_allclose(series.values[1, 0], (raw[0] + raw[1]) / 2)


def test_off_grid_timestamps_warn_and_are_bucketed(tmp_path):
    times = ["00:00", "01:00", "02:10", "03:00", "04:00"]
    text = "t,a\n" + "".join(f"2021-01-01 {t},{i + 1}\n" for i, t in enumerate(times))
    with pytest.warns(UserWarning, match="1 timestamps are not on the 1h grid"):
        series = load_series(write_text(tmp_path / "g.csv", text))
    assert series.values[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert series.timestamps[2] == datetime(2021, 1, 1, 2, 0)


def test_dst_change_keeps_a_regular_half_hour_grid():
    # Melbourne leaves daylight saving on 2021-04-04 at 03:00 local: the wall clock repeats 02:00-03:00.
    utc = [datetime(2021, 4, 3, 12) + timedelta(minutes=30 * i) for i in range(12)]
    frame = pl.DataFrame({"ts": pl.Series(utc).dt.replace_time_zone("UTC"), "v": np.arange(12.0)})
    series = load_series(frame, StreamConfig(timezone="Australia/Melbourne", calendar=[]))
    assert series.freq == "30m" and len(series) == 12 and series.observed.all()
    hours = [t.hour for t in series.timestamps.to_list()]
    assert hours == [23, 23, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3]  # local hour 2 appears twice


def test_calendar_features_sincos():
    ts = series_of([datetime(2024, 1, 1, 0, 0), datetime(2024, 1, 3, 6, 0), datetime(2024, 7, 1, 18, 30)])
    feats, names = calendar_features(ts, ["hour", "dayofweek", "month"], "sincos")
    assert names == ["hour_sin", "hour_cos", "dayofweek_sin", "dayofweek_cos", "month_sin", "month_cos"]
    # 2024-01-01 is a Monday (day 0); 06:00 is a quarter turn; 18:30 is 18.5 / 24 of a turn.
    np.testing.assert_allclose(feats[0], [0.0, 1.0, 0.0, 1.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(feats[1, :2], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(feats[1, 2], math.sin(2 * math.pi * 2 / 7))
    np.testing.assert_allclose(feats[2, 0], math.sin(2 * math.pi * 18.5 / 24))
    np.testing.assert_allclose(feats[2, 4], math.sin(2 * math.pi * 6 / 12))


def test_calendar_features_scaled_and_holidays():
    ts = series_of([datetime(2024, 1, 1, 0), datetime(2024, 12, 31, 23), datetime(2024, 12, 25, 12)])
    feats, names = calendar_features(
        ts, ["hour", "dayofyear", "holiday"], "scaled", holidays=[date(2024, 12, 25)]
    )
    assert names == ["hour", "dayofyear", "holiday"]
    # value / largest value - 0.5; the largest hour is 23:59 = 23 + 59 / 60.
    assert feats[0, 0] == -0.5 and feats[1, 0] == pytest.approx(23 / (23 + 59 / 60) - 0.5)
    assert feats[1, 1] == pytest.approx(0.5)  # 31 Dec of a leap year is day 366, the largest
    assert feats[2, 1] == pytest.approx(359 / 365 - 0.5)
    assert feats[:, 2].tolist() == [0.0, 0.0, 1.0]
    late = calendar_features(series_of([datetime(2024, 1, 1, 23, 59)]), ["hour", "minute"], "scaled")[0]
    np.testing.assert_allclose(late, [[0.5, 0.5]])


def test_calendar_uses_local_time():
    utc = pl.Series([datetime(2024, 1, 1, 0)]).dt.replace_time_zone("UTC")
    local = utc.dt.convert_time_zone("Australia/Melbourne")  # 11:00 local
    f_utc, _ = calendar_features(utc, ["hour"], "scaled")
    f_local, _ = calendar_features(local, ["hour"], "scaled")
    assert f_utc[0, 0] == -0.5 and f_local[0, 0] == pytest.approx(11 / (23 + 59 / 60) - 0.5)


def test_unknown_calendar_feature():
    with pytest.raises(ValueError, match="unknown calendar features"):
        calendar_features(series_of([START]), ["weekofyear"])  # type: ignore[list-item]
