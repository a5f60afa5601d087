"""The serving path gives exactly the batch path's patches, one record at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.errors import InputError
from pipelines.streams import (
    OnlinePatcher,
    OnlineScaler,
    StreamConfig,
    Welford,
    extract_patches,
    fit_scaler,
    load_series,
    scale,
)

from .streams_helpers import START, wide_frame, write


def batch_patches(series, stats, patch_len, patch_stride, mode):
    scaled = scale(series.values, stats)  # float64, as the online path computes
    return extract_patches(scaled, patch_len, patch_stride, mode), extract_patches(
        series.mask, patch_len, patch_stride, mode
    )


def stream(patcher, frame):
    out = []
    for row in frame.iter_rows():
        out += patcher.push(row[0], row[1:])
    return out + patcher.flush()


@pytest.mark.parametrize("fill", ["forward", "linear", "zero"])
@pytest.mark.parametrize("mode", ["independent", "mixed"])
def test_online_equals_batch_from_a_csv_file(tmp_path, fill, mode):
    frame = wide_frame(
        300,
        3,
        step=timedelta(minutes=15),
        drop_rows=(7, 8, 9, 100, 101, 298),
        nan_cells=((0, 1), (1, 1), (50, 0), (51, 0), (52, 2), (299, 2)),
    )
    path = write(frame, tmp_path / "s.csv", time_format="%Y-%m-%dT%H:%M:%S")
    series = load_series(path, StreamConfig(fill=fill))
    stats = fit_scaler(series.values[:200], series.mask[:200])
    expected, expected_mask = batch_patches(series, stats, 16, 6, mode)

    patcher = OnlinePatcher(
        series.channels,
        freq=series.freq,
        patch_len=16,
        patch_stride=6,
        fill=fill,
        scaler=stats,
        channel_mode=mode,
    )
    # Records as the daemon would see them: parsed back from the same file, NaN for empty cells.
    records = pl.read_csv(path, try_parse_dates=True)
    patches = stream(patcher, records)
    assert [p.index for p in patches] == list(range(len(expected)))
    got = np.stack([p.values for p in patches])
    assert got.dtype == np.float64
    assert np.array_equal(got, expected)  # exact, not approximately
    assert np.array_equal(np.stack([p.mask for p in patches]), expected_mask)
    assert patches[3].start == series.timestamps[3 * 6]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(20, 120),
    channels=st.integers(1, 3),
    fill=st.sampled_from(["forward", "linear", "zero"]),
    mode=st.sampled_from(["independent", "mixed"]),
    patch_len=st.integers(1, 12),
    patch_stride=st.integers(1, 12),
    seed=st.integers(0, 10_000),
)
def test_online_equals_batch_on_random_gaps(n, channels, fill, mode, patch_len, patch_stride, seed):
    rng = np.random.default_rng(seed)
    drop = tuple(int(i) for i in np.flatnonzero(rng.random(n) < 0.15) if 0 < i < n - 1)
    nan_cells = tuple(
        (int(r), int(c)) for r, c in zip(*np.nonzero(rng.random((n, channels)) < 0.15), strict=True)
    )
    frame = wide_frame(n, channels, seed=seed, drop_rows=drop, nan_cells=nan_cells)
    # Every channel needs one observation; make the first kept row complete for channel 0 at least.
    frame = frame.with_columns(pl.col(f"ch{c}").fill_nan(None) for c in range(channels))
    if any(frame[f"ch{c}"].null_count() == frame.height for c in range(channels)):
        return
    series = load_series(frame, StreamConfig(fill=fill))
    stats = fit_scaler(series.values, series.mask)
    expected, expected_mask = batch_patches(series, stats, patch_len, patch_stride, mode)
    patcher = OnlinePatcher(
        channels,
        freq="1h",
        patch_len=patch_len,
        patch_stride=patch_stride,
        fill=fill,
        scaler=stats,
        channel_mode=mode,
    )
    patches = stream(patcher, frame)
    assert len(patches) == len(expected)
    if patches:
        assert np.array_equal(np.stack([p.values for p in patches]), expected)
        assert np.array_equal(np.stack([p.mask for p in patches]), expected_mask)


def test_patches_are_emitted_as_soon_as_complete():
    patcher = OnlinePatcher(1, freq="1h", patch_len=3, patch_stride=2)
    emitted = [len(patcher.push(START + timedelta(hours=i), [float(i)])) for i in range(7)]
    assert emitted == [0, 0, 1, 0, 1, 0, 1]  # rows 0-2, 2-4, 4-6


def test_linear_fill_waits_for_the_next_observation():
    patcher = OnlinePatcher(1, freq="1h", patch_len=2, patch_stride=2, fill="linear")
    assert patcher.push(START, [0.0]) == []
    assert patcher.push(START + timedelta(hours=1), [None]) == []  # unknown until row 2 arrives
    out = patcher.push(START + timedelta(hours=3), [6.0])  # row 2 is a gap row
    assert [p.values.tolist() for p in out] == [[[0.0, 2.0]], [[4.0, 6.0]]]
    assert [p.mask.tolist() for p in out] == [[[True, False]], [[False, True]]]


def test_forward_fill_emits_without_waiting():
    patcher = OnlinePatcher(1, freq="1h", patch_len=2, patch_stride=2, fill="forward")
    patcher.push(START, [5.0])
    out = patcher.push(START + timedelta(hours=1), [float("nan")])
    assert [p.values.tolist() for p in out] == [[[5.0, 5.0]]]


def test_bad_records():
    patcher = OnlinePatcher(["a", "b"], freq="30m", patch_len=4)
    patcher.push(START, [1.0, 2.0])
    with pytest.raises(InputError, match=r"record 2 .*: expected 2 values, got 3"):
        patcher.push(START + timedelta(minutes=30), [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="not after the previous record"):
        patcher.push(START, [1.0, 2.0])
    with pytest.raises(InputError, match="off the 30m grid"):
        patcher.push(START + timedelta(minutes=45), [1.0, 2.0])
    with pytest.raises(ValueError, match="fixed step"):
        OnlinePatcher(1, freq="1mo", patch_len=4)


def test_flush_rejects_a_channel_that_never_had_a_value():
    patcher = OnlinePatcher(2, freq="1h", patch_len=2, fill="linear")
    patcher.push(START, [1.0, None])
    with pytest.raises(InputError, match="channel '1' has no values"):
        patcher.flush()


def test_aware_timestamps_strings_and_numpy():
    patcher = OnlinePatcher(1, freq="1h", patch_len=1)
    aware = datetime(2021, 3, 1, 11, tzinfo=UTC).astimezone(timezone(timedelta(hours=10)))
    first = patcher.push(aware, [1.0])
    assert first[0].start == aware and first[0].start.utcoffset() == timedelta(hours=10)
    assert patcher.push("2021-03-01T12:00:00Z", [2.0])[0].values.tolist() == [[2.0]]
    naive = OnlinePatcher(1, freq="1h", patch_len=1)
    naive.push(np.datetime64("2021-03-01T00:00"), [1.0])
    assert naive.push(np.datetime64("2021-03-01T02:00"), [3.0])[-1].start == datetime(2021, 3, 1, 2)
    assert naive.rows_seen == 3


def test_frozen_scaler_never_moves():
    stats = fit_scaler(np.array([[0.0], [2.0]]))
    scaler = OnlineScaler(stats)
    assert scaler.transform(np.array([100.0])).tolist() == [100.0 - 1.0]
    assert scaler.stats is stats


def test_welford_running_stats_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(1000, 2))
    x[rng.random(x.shape) < 0.1] = np.nan
    w = Welford(2)
    for row in x:
        w.update(row)
    np.testing.assert_allclose(w.mean, np.nanmean(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(w.variance, np.nanvar(x, axis=0), rtol=1e-10)


def test_welford_scaler_is_test_then_train():
    train = np.array([[0.0], [2.0]])
    scaler = OnlineScaler(fit_scaler(train), update="welford", count=2)
    first = scaler.transform(np.array([4.0]))
    assert first.tolist() == [(4.0 - 1.0) / 1.0]  # scaled with the training stats, then learnt
    np.testing.assert_allclose(scaler.stats.center, [2.0])  # mean of 0, 2, 4
    np.testing.assert_allclose(scaler.stats.scale, [np.std([0.0, 2.0, 4.0])])
    scaler.transform(np.array([np.nan]), np.array([False]))  # missing cells are not learnt
    np.testing.assert_allclose(scaler.stats.center, [2.0])
