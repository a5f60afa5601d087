"""Timestamp parsing for the stream readers: the formats tried on a sample of the column, epoch
units by magnitude, and time zones."""

from __future__ import annotations

import re

import polars as pl

from pipelines.errors import InputError
from pipelines.streams.config import StreamConfig

# Tried in order on a sample of the timestamp column; the first that parses every sampled value wins.
# Formats without fractional seconds or offsets come first because polars parses them about 3x faster;
# if a later row then fails, `BROADER` names the format to retry the whole column with. A trailing
# literal "Z" means UTC. Day-first before month-first: "01/02/2020" is 1 February unless `time_format`
# says otherwise.
TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%#z",
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%d %H:%M%#z",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y%m%dT%H%M%S",
    "%Y%m%d%H%M%S",
    "%Y%m%d",
)
BROADER = {
    "%Y-%m-%dT%H:%M:%S": "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S": "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%SZ": "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.fZ": "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%#z": "%Y-%m-%dT%H:%M:%S%.f%#z",
}
EPOCH_TEXT = re.compile(r"^-?\d+$")


def is_numeric(dtype: pl.DataType) -> bool:
    """A number type (booleans are not)."""
    return dtype.is_numeric() and dtype != pl.Boolean


def parse_text(col: pl.Expr, fmt: str) -> pl.Expr:
    """Text -> Datetime(us) with a strftime format; a literal trailing 'Z' marks UTC."""
    expr = col.str.to_datetime(fmt, strict=False, time_unit="us")
    if fmt.endswith("Z") and not fmt.endswith("%Z"):
        expr = expr.dt.replace_time_zone("UTC")
    return expr


def choose_time_format(sample: pl.Series) -> str | None:
    """The first of TIME_FORMATS that parses every sampled value, else the one parsing the most."""
    present = sample.drop_nulls()
    if present.len() == 0:
        return None
    best, best_count = None, -1
    for fmt in TIME_FORMATS:
        try:
            parsed = present.to_frame("t").select(parse_text(pl.col("t"), fmt)).to_series().drop_nulls().len()
        except pl.exceptions.PolarsError:
            continue
        if parsed == present.len():
            return fmt
        if parsed > best_count:
            best, best_count = fmt, parsed
    return best if best_count > 0 else None


def epoch_unit(values: pl.Series, unit: str) -> str:
    """Epoch unit by magnitude: seconds up to ~year 5138, then ms, us, ns (unless configured)."""
    if unit != "auto":
        return unit
    top = values.cast(pl.Float64, strict=False).abs().max()
    top = float(top) if top is not None else 0.0  # type: ignore[arg-type]
    if top < 1e11:
        return "s"
    if top < 1e14:
        return "ms"
    if top < 1e17:
        return "us"
    return "ns"


def timestamp_expr(name: str, sample: pl.Series, config: StreamConfig) -> tuple[pl.Expr, str]:
    """An expression parsing column `name` to Datetime(us), chosen from a sample; and a description."""
    col = pl.col(name)
    dtype = sample.dtype
    if isinstance(dtype, pl.Datetime):
        expr = col.dt.cast_time_unit("us")
        how = "datetime"
    elif dtype == pl.Date:
        expr = col.cast(pl.Datetime("us"))
        how = "date"
    elif is_numeric(dtype) or (
        dtype == pl.String
        and sample.drop_nulls().len() > 0
        and sample.drop_nulls().str.contains(EPOCH_TEXT.pattern).all()
        and config.time_format is None
    ):
        unit = epoch_unit(sample, config.time_unit)
        expr = pl.from_epoch(col.cast(pl.Int64, strict=False), time_unit=unit).dt.cast_time_unit("us")  # type: ignore[arg-type]
        how = f"epoch {unit}"
    elif dtype == pl.String:
        fmt = config.time_format or choose_time_format(sample)
        if fmt is None:
            first = sample.drop_nulls()
            value = first[0] if first.len() else None
            raise InputError(f"cannot parse timestamp {value!r}; set time_format", where=f"column {name!r}")
        expr = parse_text(col, fmt)
        how = fmt
    else:
        raise InputError(
            f"timestamp column has type {dtype}, expected text, integers or datetimes",
            where=f"column {name!r}",
        )
    return expr.alias(name), how


def with_timezone(expr: pl.Expr, aware: bool, tz: str | None) -> pl.Expr:
    """Timestamps in time zone `tz`: converted when they carried offsets (aware), else declared."""
    if tz is None:
        return expr
    if aware:
        return expr.dt.convert_time_zone(tz)
    return expr.dt.replace_time_zone(tz, ambiguous="raise", non_existent="raise")


def sample_is_aware(expr: pl.Expr, sample: pl.DataFrame) -> bool:
    """Whether `expr` parses the sample to time-zone-aware datetimes (the values had offsets)."""
    dtype = sample.select(expr).to_series().dtype
    return isinstance(dtype, pl.Datetime) and dtype.time_zone is not None


def render_times(times: pl.Series, how: str | None) -> pl.Series:
    """Timestamps written as the source wrote them, `how` being `timestamp_expr`'s description: text
    in its strftime format (offsets as +hh:mm, a literal Z in UTC), epoch numbers in their unit, a
    date column as dates; datetimes (or an unknown `how`) stay datetimes."""
    if how is None or how == "datetime":
        return times
    if how == "date":
        return times.dt.date()
    if how.startswith("epoch "):
        return times.dt.epoch(how.removeprefix("epoch "))  # type: ignore[arg-type]
    fmt = how.replace("%#z", "%:z")
    if fmt.endswith("Z") and not fmt.endswith("%Z") and getattr(times.dtype, "time_zone", None):
        times = times.dt.convert_time_zone("UTC")
    return times.dt.to_string(fmt)
