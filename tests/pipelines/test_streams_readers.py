"""Reading sensor streams: formats, layouts, timestamp parsing, and a precise InputError for bad input."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.errors import InputError
from pipelines.streams import StreamConfig, load_series, read_table
from pipelines.streams.readers import SAMPLE_ROWS

from .streams_helpers import START, wide_frame, write, write_text


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text, f"error message spans lines: {text!r}"
    return text


# ----------------------------------------------------------------------------- formats and layouts


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_every_format_gives_the_same_series(tmp_path, suffix):
    frame = wide_frame(50, 3, seed=1)
    series = load_series(write(frame, tmp_path / f"s{suffix}"))
    assert series.channels == ["ch0", "ch1", "ch2"]
    assert series.freq == "1h"
    assert series.timestamps.to_list() == frame["timestamp"].to_list()
    expected = frame.select("ch0", "ch1", "ch2").to_numpy()
    # CSV / JSON go through decimal text; polars writes floats with round-trip precision.
    np.testing.assert_array_equal(series.values, expected)
    assert series.mask.all() and series.observed.all()


def test_tsv_and_custom_separator(tmp_path):
    frame = wide_frame(10, 2)
    text = frame.with_columns(pl.col("timestamp").dt.to_string("%Y-%m-%d %H:%M:%S")).write_csv(separator=";")
    path = write_text(tmp_path / "semi.csv", text)
    series = load_series(path, StreamConfig(separator=";"))
    np.testing.assert_array_equal(series.values, frame.select("ch0", "ch1").to_numpy())
    tsv = write_text(tmp_path / "tabs.tsv", text.replace(";", "\t"))
    assert load_series(tsv).channels == ["ch0", "ch1"]


def test_long_layout_is_detected_and_pivoted(tmp_path):
    ts = [START + timedelta(hours=i) for i in range(6)]
    rows = []
    for uid, base in (("north", 0.0), ("south", 100.0)):
        for i, t in enumerate(ts):
            if uid == "south" and i == 3:
                continue  # south misses one hour: a gap in that channel only
            rows.append({"unique_id": uid, "ds": t, "y": base + i, "temp": base / 10 + i / 2})
    path = write(pl.DataFrame(rows), tmp_path / "long.csv")
    series = load_series(path, StreamConfig(covariates=["temp"]))
    assert series.layout == "long"
    assert series.targets == ["north", "south"]
    assert series.covariates == ["north:temp", "south:temp"]
    assert len(series) == 6
    north = series.values[:, series.channels.index("north")]
    np.testing.assert_array_equal(north, np.arange(6.0))
    south_mask = series.mask[:, series.channels.index("south")]
    assert south_mask.tolist() == [True, True, True, False, True, True]
    # The long layout can also be chosen explicitly, with some ids only.
    only = load_series(path, StreamConfig(layout="long", channels=["south"]))
    assert only.targets == ["south"]


def test_wide_roles_targets_covariates_and_non_numeric_columns_ignored(tmp_path):
    frame = wide_frame(30, 3).with_columns(pl.lit("x").alias("note"), pl.lit(True).alias("flag"))
    path = write(frame, tmp_path / "w.csv")
    series = load_series(path, StreamConfig(covariates=["ch0"]))
    assert series.targets == ["ch1", "ch2"]
    assert series.covariates == ["ch0"]
    assert series.channels == ["ch1", "ch2", "ch0"]  # targets first
    np.testing.assert_array_equal(series.values[:, 2], frame["ch0"].to_numpy())
    chosen = load_series(path, StreamConfig(channels=["ch2", "ch0"], targets=["ch0"]))
    assert chosen.channels == ["ch0", "ch2"] and chosen.covariates == ["ch2"]


def test_in_memory_frames_are_sources_too():
    frame = wide_frame(20, 2)
    series = load_series(frame)
    np.testing.assert_array_equal(series.values, frame.select("ch0", "ch1").to_numpy())
    assert series.source == "<DataFrame>"


# ----------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    "fmt",
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%d/%m/%Y %H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ],
)
def test_common_timestamp_formats(tmp_path, fmt):
    frame = wide_frame(40, 1, start=datetime(2021, 1, 13, 5))  # day 13 > 12: day and month distinguishable
    series = load_series(write(frame, tmp_path / "t.csv", time_format=fmt))
    assert series.timestamps.to_list() == frame["timestamp"].to_list()


def test_month_first_dates_when_day_first_fails(tmp_path):
    frame = wide_frame(40, 1, step=timedelta(days=1), start=datetime(2021, 1, 1))
    series = load_series(write(frame, tmp_path / "t.csv", time_format="%m/%d/%Y"))
    assert series.timestamps.to_list() == frame["timestamp"].to_list()
    assert series.freq == "1d"


def test_explicit_time_format(tmp_path):
    frame = wide_frame(5, 1, step=timedelta(days=1), start=datetime(2021, 1, 1))
    path = write(frame, tmp_path / "t.csv", time_format="%m/%d/%Y")
    series = load_series(path, StreamConfig(time_format="%m/%d/%Y"))
    assert series.timestamps[1] == datetime(2021, 1, 2)


@pytest.mark.parametrize("unit,scale", [("s", 1), ("ms", 1_000)])
def test_epoch_timestamps(tmp_path, unit, scale):
    frame = wide_frame(30, 2)
    epoch = [int((t - datetime(1970, 1, 1)).total_seconds()) * scale for t in frame["timestamp"].to_list()]
    path = write(frame.with_columns(pl.Series("timestamp", epoch)), tmp_path / "e.csv", time_format=None)
    series = load_series(path)
    assert series.timestamps.to_list() == frame["timestamp"].to_list()
    # A JSON-lines file of epoch integers too.
    path = write(frame.with_columns(pl.Series("timestamp", epoch)), tmp_path / "e.jsonl", time_format=None)
    assert load_series(path).timestamps.to_list() == frame["timestamp"].to_list()


def test_offsets_are_utc_and_timezone_converts(tmp_path):
    text = "time,v\n2021-03-01T10:00:00+10:00,1\n2021-03-01T01:00:00Z,2\n2021-03-01T12:00:00+01:00,3\n"
    path = write_text(tmp_path / "tz.csv", text)
    series = load_series(path)
    assert series.timestamps.dtype == pl.Datetime("us", "UTC")
    utc = series.timestamps.to_list()
    assert utc[0] == datetime(2021, 3, 1, 0, 0, tzinfo=utc[0].tzinfo)
    assert series.observed.tolist() == [True, True] + [False] * 9 + [True]  # 00, 01, then 11:00 UTC
    local = load_series(path, StreamConfig(timezone="Australia/Melbourne"))
    assert local.timestamps.dtype == pl.Datetime("us", "Australia/Melbourne")
    assert local.timestamps[0].hour == 11  # 00:00 UTC is 11:00 AEDT


def test_naive_timestamps_are_localised(tmp_path):
    path = write(wide_frame(5, 1), tmp_path / "n.csv")
    series = load_series(path, StreamConfig(timezone="Europe/Berlin"))
    assert series.timestamps.dtype == pl.Datetime("us", "Europe/Berlin")
    assert series.timestamps[0].hour == START.hour


def test_fractional_seconds_first_seen_after_the_sample(tmp_path):
    n = SAMPLE_ROWS + 200
    frame = wide_frame(n, 1, step=timedelta(seconds=1))
    strings = frame["timestamp"].dt.to_string("%Y-%m-%d %H:%M:%S").to_list()
    strings[n - 5] = strings[n - 5] + ".000"  # same instant, written with a fraction
    path = write(frame.with_columns(pl.Series("timestamp", strings)), tmp_path / "f.csv", time_format=None)
    series = load_series(path)
    assert series.timestamps.to_list() == frame["timestamp"].to_list()


# ----------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as err:
        load_series(tmp_path / "nope.csv")
    assert one_line(err) == f"{tmp_path / 'nope.csv'}: file not found"


@pytest.mark.parametrize("name", ["empty.csv", "empty.jsonl"])
def test_empty_file(tmp_path, name):
    path = write_text(tmp_path / name, "")
    with pytest.raises(InputError) as err:
        load_series(path)
    assert one_line(err) == f"{path}: file is empty"


def test_header_only(tmp_path):
    path = write_text(tmp_path / "h.csv", "timestamp,a,b\n")
    with pytest.raises(InputError) as err:
        load_series(path)
    assert "no data rows" in one_line(err)


def test_unknown_suffix(tmp_path):
    path = write_text(tmp_path / "data.xlsx", "x")
    with pytest.raises(InputError, match="unknown file type '.xlsx'"):
        load_series(path)


@pytest.mark.parametrize(
    "body,line,expected,found",
    [
        ("2021-01-01,1,2\n2021-01-02,3,4,5\n2021-01-03,6,7\n", 3, 3, 4),  # too many fields
        ("2021-01-01,1,2\n2021-01-02,3,4\n2021-01-03,6\n2021-01-04,8,9\n", 4, 3, 2),  # too few
    ],
)
def test_ragged_rows_name_the_line(tmp_path, body, line, expected, found):
    path = write_text(tmp_path / "r.csv", "timestamp,a,b\n" + body)
    with pytest.raises(InputError) as err:
        load_series(path)
    assert one_line(err) == f"{path}: line {line}: expected {expected} fields, found {found}"


def test_ragged_row_far_beyond_the_sample(tmp_path):
    frame = wide_frame(3000, 2)
    path = write(frame, tmp_path / "r.csv")
    lines = path.read_text().splitlines()
    lines[2500] = lines[2500].rsplit(",", 1)[0]  # line 2501 loses its last field
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        load_series(path)
    assert one_line(err) == f"{path}: line 2501: expected 3 fields, found 2"


def test_quoted_newlines_do_not_shift_line_numbers(tmp_path):
    body = 'timestamp,a,note\n2021-01-01,1,"two\nlines"\n2021-01-02,x,ok\n'
    path = write_text(tmp_path / "q.csv", body)
    with pytest.raises(InputError) as err:
        load_series(path, StreamConfig(channels=["a"]))
    assert one_line(err) == f"{path}: line 4 (row 2), column 'a': non-numeric value 'x' in channel 'a'"


def test_non_numeric_value_in_a_channel(tmp_path):
    frame = wide_frame(2000, 2)
    path = write(frame, tmp_path / "n.csv")
    lines = path.read_text().splitlines()
    parts = lines[1500].split(",")
    parts[2] = "12abc"  # column ch1, data row 1500 (0-based 1499), file line 1501
    lines[1500] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        load_series(path)
    assert (
        one_line(err)
        == f"{path}: line 1501 (row 1500), column 'ch1': non-numeric value '12abc' in channel 'ch1'"
    )


def test_non_numeric_value_inside_the_sample_is_still_a_channel(tmp_path):
    text = "timestamp,a,b\n2021-01-01,1,2\n2021-01-02,oops,3\n2021-01-03,4,5\n2021-01-04,6,7\n"
    path = write_text(tmp_path / "n.csv", text)
    with pytest.raises(InputError) as err:
        load_series(path)
    assert one_line(err) == f"{path}: line 3 (row 2), column 'a': non-numeric value 'oops' in channel 'a'"


def test_non_numeric_value_in_json_lines(tmp_path):
    text = '{"ts": "2021-01-01", "a": 1.5}\n{"ts": "2021-01-02", "a": 2}\n{"ts": "2021-01-03", "a": "n/a?"}\n'
    path = write_text(tmp_path / "n.jsonl", text)
    with pytest.raises(InputError) as err:
        load_series(path)
    assert one_line(err) == f"{path}: line 3 (row 3), column 'a': non-numeric value 'n/a?' in channel 'a'"


def test_broken_json_line(tmp_path):
    path = write_text(tmp_path / "b.jsonl", '{"ts": "2021-01-01", "a": 1}\n{"ts": "2021-01-02", "a": \n')
    with pytest.raises(InputError) as err:
        load_series(path)
    assert one_line(err).startswith(f"{path}: line 2: invalid JSON")


def test_null_markers_are_missing_values_not_errors(tmp_path):
    text = "timestamp,a\n2021-01-01 00:00,1\n2021-01-01 01:00,NA\n2021-01-01 02:00,\n2021-01-01 03:00,NaN\n"
    series = load_series(write_text(tmp_path / "na.csv", text), StreamConfig(fill="zero"))
    assert series.mask[:, 0].tolist() == [True, False, False, False]
    assert series.values[:, 0].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_unparseable_timestamp_names_row_and_value(tmp_path):
    frame = wide_frame(1500, 1)
    strings = frame["timestamp"].dt.to_string("%Y-%m-%d %H:%M:%S").to_list()
    strings[1200] = "2021-02-30 25:00:00"
    path = write(frame.with_columns(pl.Series("timestamp", strings)), tmp_path / "t.csv", time_format=None)
    with pytest.raises(InputError) as err:
        load_series(path)
    assert one_line(err) == (
        f"{path}: line 1202 (row 1201), column 'timestamp': cannot parse timestamp '2021-02-30 25:00:00'"
    )


def test_missing_timestamp(tmp_path):
    path = write_text(tmp_path / "t.csv", "timestamp,a\n2021-01-01,1\n,2\n2021-01-03,3\n")
    with pytest.raises(InputError) as err:
        load_series(path)
    assert one_line(err) == f"{path}: line 3 (row 2), column 'timestamp': missing timestamp"


def test_out_of_order_rows_are_sorted_with_a_warning(tmp_path):
    frame = wide_frame(20, 2)
    shuffled = pl.concat([frame[10:], frame[:10]])
    path = write(shuffled, tmp_path / "o.csv")
    with pytest.warns(UserWarning, match=r"out of order \(first at row 11"):
        series = load_series(path)
    np.testing.assert_array_equal(series.values, frame.select("ch0", "ch1").to_numpy())


def test_sorted_input_does_not_warn(tmp_path):
    path = write(wide_frame(20, 1), tmp_path / "s.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_series(path)


def test_duplicate_timestamps_are_an_error_by_default(tmp_path):
    text = "timestamp,a\n2021-01-01 00:00,1\n2021-01-01 01:00,2\n2021-01-01 01:00,9\n2021-01-01 02:00,3\n"
    path = write_text(tmp_path / "d.csv", text)
    with pytest.raises(InputError) as err:
        load_series(path)
    msg = one_line(err)
    assert msg.startswith(f"{path}: line 4 (row 3): duplicate timestamp 2021-01-01 01:00:00 (also at row 2)")
    assert "duplicates" in msg


@pytest.mark.parametrize("policy,value", [("mean", 5.5), ("first", 2.0), ("last", 9.0)])
def test_duplicate_policies(tmp_path, policy, value):
    # The duplicate also comes out of order: sorting is stable, so 'first' / 'last' keep file order.
    text = "timestamp,a\n2021-01-01 00:00,1\n2021-01-01 01:00,2\n2021-01-01 02:00,3\n2021-01-01 01:00,9\n"
    with pytest.warns(UserWarning, match="out of order"):
        series = load_series(write_text(tmp_path / "d.csv", text), StreamConfig(duplicates=policy))
    assert series.values[:, 0].tolist() == [1.0, value, 3.0]


def test_long_layout_duplicates_are_per_series(tmp_path):
    text = "unique_id,ds,y\na,2021-01-01,1\nb,2021-01-01,2\na,2021-01-02,3\nb,2021-01-02,4\na,2021-01-02,5\n"
    path = write_text(tmp_path / "l.csv", text)
    with pytest.raises(InputError) as err:
        load_series(path)
    assert "duplicate timestamp 2021-01-02 00:00:00 for unique_id 'a'" in one_line(err)


def test_all_nan_channel(tmp_path):
    text = "timestamp,a,b\n2021-01-01,1,NaN\n2021-01-02,2,NaN\n2021-01-03,3,\n"
    path = write_text(tmp_path / "nan.csv", text)
    with pytest.raises(InputError) as err:
        load_series(path, StreamConfig(channels=["a", "b"]))
    assert one_line(err) == f"{path}: column 'b': channel 'b' has no values (all null or NaN)"


def test_unknown_columns_in_the_config(tmp_path):
    path = write(wide_frame(5, 2), tmp_path / "c.csv")
    with pytest.raises(InputError, match=r"channel columns \['nope'\] not found"):
        load_series(path, StreamConfig(channels=["nope"]))
    with pytest.raises(InputError, match=r"timestamp column 'when' not found"):
        load_series(path, StreamConfig(timestamp="when"))


def test_bad_config_is_a_validation_error():
    with pytest.raises(ValueError, match="ratios must sum to 1"):
        StreamConfig(split={"ratios": (0.5, 0.1, 0.1)})
    with pytest.raises(ValueError, match="polars duration"):
        StreamConfig(freq="hourly")
    with pytest.raises(ValueError, match="unknown time zone"):
        StreamConfig(timezone="Mars/Olympus")


def test_read_table_keeps_file_order_and_rows():
    frame = wide_frame(5, 1)
    table = read_table(pl.concat([frame[3:], frame[:3]]))
    assert table.frame["__row"].to_list() == [0, 1, 2, 3, 4]
    assert table.frame["timestamp"][0] == frame["timestamp"][3]


@pytest.mark.parametrize(
    "body,line,problem",
    [
        ("2021-10-03 01:30,1\n2021-10-03 02:00,2\n2021-10-03 03:00,3\n", 3, "does not exist"),  # clocks jump
        ("2021-04-04 01:30,1\n2021-04-04 02:30,2\n2021-04-04 03:00,3\n", 3, "is ambiguous"),  # clocks repeat
    ],
)
def test_naive_local_times_across_daylight_saving(tmp_path, body, line, problem):
    path = write_text(tmp_path / "dst.csv", "ts,a\n" + body)
    with pytest.raises(InputError) as err:
        load_series(path, StreamConfig(timezone="Australia/Melbourne"))
    msg = one_line(err)
    assert msg.startswith(f"{path}: line {line} (row {line - 1}), column 'ts': local time ")
    assert f"{problem} in time zone Australia/Melbourne" in msg
