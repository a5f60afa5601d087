"""A forecast's timestamps are written as the input wrote its own (issue 19): the frame read back
with the forecast appended parses in one format, on one regular axis."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from app.forecasting import forecast, load_model
from pipelines.streams import load_series


@pytest.mark.parametrize(
    ("fmt", "first"),
    [
        ("%Y-%m-%d %H:%M:%S", "2012-01-29 00:00:00"),
        ("%d/%m/%Y %H:%M", "29/01/2012 00:00"),
        ("%Y-%m-%dT%H:%M:%SZ", "2012-01-29T00:00:00Z"),
        ("epoch", 1327795200),
    ],
)
def test_forecast_timestamps_round_trip_in_the_inputs_format(trained, slice_csv, tmp_path, fmt, first):
    frame = pl.read_csv(slice_csv)
    naive = frame["timestamp"].str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S")  # local wall time
    written = naive.dt.epoch("s") if fmt == "epoch" else naive.dt.to_string(fmt)
    source = tmp_path / "series.csv"
    frame.with_columns(written.alias("timestamp")).write_csv(source)
    model = load_model(trained.checkpoint)
    out = forecast(model, source, horizon=4, as_written=True)
    assert out["ds"].to_list()[0] == first  # the step after the last input row, 2012-01-28 23:30
    assert out["ds"].dtype == (pl.Int64 if fmt == "epoch" else pl.String)
    # Round trip: the forecast appended to the input reads as one series, 30 minutes apart, no gaps.
    extended = tmp_path / "extended.csv"
    rows = out.select(pl.col("ds").alias("timestamp"), pl.col("yhat").alias("demand"))
    pl.concat([pl.read_csv(source).select("timestamp", "demand"), rows], how="vertical_relaxed").write_csv(
        extended
    )
    series = load_series(extended, model.meta.stream.model_copy(update={"covariates": []}))
    assert len(series) == frame.height + 4 and series.freq == "30m" and series.observed.all()
    assert series.timestamps[-1].replace(tzinfo=None) == datetime(2012, 1, 29, 1, 30)
    # Without as_written the frame keeps datetimes (the Python API, the pyfunc model).
    assert isinstance(forecast(model, source, horizon=1)["ds"].dtype, pl.Datetime)
