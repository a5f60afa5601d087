"""Read CSV, Parquet and JSON-lines tables into typed polars frames, lazily and with precise errors.

The happy path is one lazy polars query (scan -> select -> cast -> parse timestamps) collected with
the streaming engine, so files larger than memory only cost the memory of the columns kept. When
polars rejects the data, the error path rescans the file to name the line / row / column and the
offending value, and raises an `InputError`; only then do we pay for the extra scan.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from pipelines.errors import InputError
from pipelines.streams.config import StreamConfig
from pipelines.streams.victorian import NAMED_SERIES

Format = Literal["csv", "parquet", "ndjson"]
Source = str | Path | pl.DataFrame | pl.LazyFrame

# Rows read eagerly to decide layout, column roles and the timestamp format.
SAMPLE_ROWS = 1000
# Internal column: the 0-based data row of each record in the source, for error messages.
ROW = "__row"

_SUFFIX_FORMATS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
    ".json": "ndjson",
}
_TIMESTAMP_NAMES = ("timestamp", "ds", "time", "datetime", "date", "date_time", "time_stamp", "dt", "t")

# Tried in order on a sample of the timestamp column; the first that parses every sampled value wins.
# Formats without fractional seconds or offsets come first because polars parses them about 3x faster;
# if a later row then fails, `_BROADER` names the format to retry the whole column with. A trailing
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
_BROADER = {
    "%Y-%m-%dT%H:%M:%S": "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S": "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%SZ": "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.fZ": "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%#z": "%Y-%m-%dT%H:%M:%S%.f%#z",
}
_EPOCH_TEXT = re.compile(r"^-?\d+$")


@dataclass
class RawTable:
    """A source read into memory: parsed timestamps and Float64 value columns, in file order.

    `frame` holds the timestamp column (named by `timestamp`; Datetime in microseconds, UTC or
    `timezone` when the source had offsets), the id column for the long layout, the Float64 value
    columns, and `ROW` (0-based source row). Nothing is sorted, deduplicated or filled yet.
    """

    frame: pl.DataFrame
    source: str
    path: Path | None
    fmt: Format | None
    layout: Literal["wide", "long"]
    timestamp: str
    values: list[str]
    targets: list[str]
    covariates: list[str]
    id_column: str | None = None
    separator: str = ","

    def where(self, row: int, column: str | None = None) -> str:
        """Name a data row (0-based) for an error: "line 6 (row 5), column 'a'" for CSV files."""
        return describe_row(self.path, self.fmt, row, column, separator=self.separator)


# ----------------------------------------------------------------------------- locating rows


def describe_row(
    path: Path | None, fmt: Format | None, row: int, column: str | None = None, *, separator: str = ","
) -> str:
    """A place in the source for an error message. Rows are 1-based; CSV adds the exact file line."""
    text = f"row {row + 1}"
    if path is not None and fmt == "csv":
        line = csv_line_of_row(path, row, separator)
        if line is not None:
            text = f"line {line} (row {row + 1})"
    elif path is not None and fmt == "ndjson":
        line = _ndjson_line_of_row(path, row)
        if line is not None:
            text = f"line {line} (row {row + 1})"
    if column is not None:
        text += f", column {column!r}"
    return text


def csv_line_of_row(path: Path, row: int, separator: str = ",") -> int | None:
    """The 1-based file line where data row `row` (0-based, header excluded) starts.

    Uses Python's csv module so quoted fields spanning lines are counted right; error path only.
    """
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter=separator)
        last_line = 0
        seen = -1  # the header is record -1
        for record in reader:
            start = last_line + 1
            last_line = reader.line_num
            if not record:  # polars skips blank lines too
                continue
            if seen == row:
                return start
            seen += 1
    return None


def find_ragged_line(path: Path, separator: str = ",") -> tuple[int, int, int] | None:
    """First CSV record whose field count differs from the header: (line, expected, found)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter=separator)
        expected: int | None = None
        last_line = 0
        for record in reader:
            start = last_line + 1
            last_line = reader.line_num
            if not record:
                continue
            if expected is None:
                expected = len(record)
            elif len(record) != expected:
                return start, expected, len(record)
    return None


def _ndjson_line_of_row(path: Path, row: int) -> int | None:
    with open(path, encoding="utf-8", errors="replace") as fh:
        seen = -1
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                seen += 1
                if seen == row:
                    return lineno
    return None


def _find_bad_json_line(path: Path) -> tuple[int, str] | None:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                return lineno, f"invalid JSON: {err.msg} at character {err.colno}"
            if not isinstance(obj, dict):
                return lineno, f"expected a JSON object, found {type(obj).__name__}"
    return None


# ----------------------------------------------------------------------------- scanning


def detect_format(path: Path, fmt: str = "auto") -> Format:
    """The file format from `fmt` or, when 'auto', from the file suffix."""
    if fmt != "auto":
        return fmt  # type: ignore[return-value]
    found = _SUFFIX_FORMATS.get(path.suffix.lower())
    if found is None:
        raise InputError(
            f"unknown file type {path.suffix!r}; expected one of {sorted(_SUFFIX_FORMATS)} "
            "(or set format='csv' | 'parquet' | 'ndjson')",
            path=path,
        )
    return found


def _first_line(message: str) -> str:
    return next((ln.strip() for ln in str(message).splitlines() if ln.strip()), "unreadable input")


class _Scanner:
    """Builds lazy scans of one file with given column types, and translates polars errors."""

    def __init__(self, path: Path, fmt: Format, config: StreamConfig):
        self.path = path
        self.fmt = fmt
        self.config = config
        self.separator = (
            "\t" if (path.suffix.lower() == ".tsv" and config.separator == ",") else config.separator
        )

    def scan(
        self,
        overrides: dict[str, pl.DataType] | None = None,
        *,
        all_text: bool = False,
        n_rows: int | None = None,
    ) -> pl.LazyFrame:
        if self.fmt == "csv":
            return pl.scan_csv(
                self.path,
                separator=self.separator,
                schema_overrides=overrides or None,
                infer_schema=not all_text,
                infer_schema_length=SAMPLE_ROWS,
                null_values=self.config.null_values,
                raise_if_empty=True,
                n_rows=n_rows,
            )
        if self.fmt == "ndjson":
            return pl.scan_ndjson(
                self.path, schema_overrides=overrides or None, infer_schema_length=SAMPLE_ROWS, n_rows=n_rows
            )
        lf = pl.scan_parquet(self.path, n_rows=n_rows)
        if overrides:
            lf = lf.with_columns(pl.col(c).cast(t) for c, t in overrides.items())
        return lf

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn a polars failure into an InputError that names the place, if we can find it."""
        try:
            yield
        except (pl.exceptions.PolarsError, OSError) as err:
            raise self.diagnose(err) from err

    def diagnose(self, err: BaseException) -> InputError:
        if isinstance(err, pl.exceptions.NoDataError):
            return InputError("file is empty", path=self.path)
        if self.fmt == "csv":
            ragged = find_ragged_line(self.path, self.separator)
            if ragged is not None:
                line, expected, found = ragged
                return InputError(
                    f"expected {expected} fields, found {found}", path=self.path, where=f"line {line}"
                )
        if self.fmt == "ndjson":
            bad = _find_bad_json_line(self.path)
            if bad is not None:
                return InputError(bad[1], path=self.path, where=f"line {bad[0]}")
        return InputError(f"cannot read {self.fmt}: {_first_line(str(err))}", path=self.path)


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and dtype != pl.Boolean


def _numeric_column(values: pl.Series) -> bool:
    """A channel candidate: numeric, or text that is mostly numbers (a few bad cells are reported later)."""
    return _is_numeric(values.dtype) or (values.dtype == pl.String and _looks_numeric(values))


def _looks_numeric(values: pl.Series) -> bool:
    """A text column is a numeric channel with a few bad cells if most sampled cells parse as numbers."""
    present = values.drop_nulls()
    if present.len() == 0:
        return False
    parsed = present.cast(pl.Float64, strict=False).drop_nulls().len()
    return parsed > 0 and 2 * parsed >= present.len()


def _pick_timestamp(columns: Sequence[str], layout: str, config: StreamConfig, where: str | Path) -> str:
    if config.timestamp is not None:
        if config.timestamp not in columns:
            raise InputError(
                f"timestamp column {config.timestamp!r} not found; columns are {list(columns)}", path=where
            )
        return config.timestamp
    if layout == "long" and "ds" in columns:
        return "ds"
    lowered = {c.lower(): c for c in columns}
    for name in _TIMESTAMP_NAMES:
        if name in lowered:
            return lowered[name]
    if not columns:
        raise InputError("no columns", path=where)
    return columns[0]


def _detect_layout(columns: Sequence[str], config: StreamConfig) -> Literal["wide", "long"]:
    if config.layout != "auto":
        return config.layout
    ts = config.timestamp or "ds"
    if config.id_column in columns and config.value_column in columns and ts in columns:
        return "long"
    return "wide"


def _parse_text(col: pl.Expr, fmt: str) -> pl.Expr:
    """Text -> Datetime(us) with a strftime format; a literal trailing 'Z' marks UTC."""
    expr = col.str.to_datetime(fmt, strict=False, time_unit="us")
    if fmt.endswith("Z") and not fmt.endswith("%Z"):
        expr = expr.dt.replace_time_zone("UTC")
    return expr


def _choose_time_format(sample: pl.Series) -> str | None:
    """The first of TIME_FORMATS that parses every sampled value, else the one parsing the most."""
    present = sample.drop_nulls()
    if present.len() == 0:
        return None
    best, best_count = None, -1
    for fmt in TIME_FORMATS:
        try:
            parsed = (
                present.to_frame("t").select(_parse_text(pl.col("t"), fmt)).to_series().drop_nulls().len()
            )
        except pl.exceptions.PolarsError:
            continue
        if parsed == present.len():
            return fmt
        if parsed > best_count:
            best, best_count = fmt, parsed
    return best if best_count > 0 else None


def _epoch_unit(values: pl.Series, unit: str) -> str:
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
    elif _is_numeric(dtype) or (
        dtype == pl.String
        and sample.drop_nulls().len() > 0
        and sample.drop_nulls().str.contains(_EPOCH_TEXT.pattern).all()
        and config.time_format is None
    ):
        unit = _epoch_unit(sample, config.time_unit)
        expr = pl.from_epoch(col.cast(pl.Int64, strict=False), time_unit=unit).dt.cast_time_unit("us")  # type: ignore[arg-type]
        how = f"epoch {unit}"
    elif dtype == pl.String:
        fmt = config.time_format or _choose_time_format(sample)
        if fmt is None:
            first = sample.drop_nulls()
            value = first[0] if first.len() else None
            raise InputError(f"cannot parse timestamp {value!r}; set time_format", where=f"column {name!r}")
        expr = _parse_text(col, fmt)
        how = fmt
    else:
        raise InputError(
            f"timestamp column has type {dtype}, expected text, integers or datetimes",
            where=f"column {name!r}",
        )
    return expr.alias(name), how


def _with_timezone(expr: pl.Expr, aware: bool, tz: str | None) -> pl.Expr:
    if tz is None:
        return expr
    if aware:
        return expr.dt.convert_time_zone(tz)
    return expr.dt.replace_time_zone(tz, ambiguous="raise", non_existent="raise")


def _sample_is_aware(expr: pl.Expr, sample: pl.DataFrame) -> bool:
    dtype = sample.select(expr).to_series().dtype
    return isinstance(dtype, pl.Datetime) and dtype.time_zone is not None


# ----------------------------------------------------------------------------- the reader


def read_table(source: Source, config: StreamConfig | None = None) -> RawTable:
    """Read `source` (a path or a polars frame) into a `RawTable`: parse, type-check, nothing else.

    Raises `InputError` naming file, line / row / column and problem for a missing or empty file,
    ragged CSV rows, non-numeric values in a channel, unparseable timestamps, unknown columns.
    """
    config = config or StreamConfig()
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        return _read_frame(source.lazy(), config)
    if isinstance(source, str) and source in NAMED_SERIES and not Path(source).exists():
        return _read_frame(NAMED_SERIES[source]().lazy(), config, label=source)
    path = Path(source)
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError("is a directory, expected a file", path=path)
    if path.stat().st_size == 0:
        raise InputError("file is empty", path=path)
    fmt = detect_format(path, config.format)
    scanner = _Scanner(path, fmt, config)
    with scanner.errors():
        # CSV samples are read as text: typed inference could fail on a bad cell past the sample (polars
        # parses whole chunks), and we decide column types ourselves anyway (`_numeric_column`).
        sample = scanner.scan(all_text=fmt == "csv", n_rows=SAMPLE_ROWS).collect()
    return _read(scanner.scan, sample, config, scanner=scanner, source=str(path), path=path, fmt=fmt)


def _read_frame(lf: pl.LazyFrame, config: StreamConfig, label: str = "<DataFrame>") -> RawTable:
    def scan(overrides: dict[str, pl.DataType] | None = None, *, all_text: bool = False) -> pl.LazyFrame:
        if overrides:
            return lf.with_columns(pl.col(c).cast(t) for c, t in overrides.items())
        return lf

    sample = lf.head(SAMPLE_ROWS).collect()
    return _read(scan, sample, config, scanner=None, source=label, path=None, fmt=None)


def _read(
    scan: Callable[..., pl.LazyFrame],
    sample: pl.DataFrame,
    config: StreamConfig,
    *,
    scanner: _Scanner | None,
    source: str,
    path: Path | None,
    fmt: Format | None,
) -> RawTable:
    where_file = path if path is not None else source
    columns = sample.columns
    if sample.height == 0:
        raise InputError("no data rows (only a header)" if columns else "file is empty", path=where_file)
    layout = _detect_layout(columns, config)
    ts = _pick_timestamp(columns, layout, config, where_file)

    def missing(cols: Sequence[str], what: str) -> None:
        absent = [c for c in cols if c not in columns]
        if absent:
            raise InputError(f"{what} {absent} not found; columns are {list(columns)}", path=where_file)

    id_col: str | None = None
    if layout == "long":
        id_col = config.id_column
        missing([id_col, config.value_column], "long-layout columns")
        if config.covariates:
            missing(config.covariates, "covariate columns")
            covs = list(config.covariates)
        else:
            skip = {ts, id_col, config.value_column}
            covs = [c for c in columns if c not in skip and _numeric_column(sample[c])]
        values = [config.value_column, *covs]
        targets = [config.value_column]
    else:
        if config.channels is not None:
            missing(config.channels, "channel columns")
            chans = list(config.channels)
        else:
            chans = [c for c in columns if c != ts and _numeric_column(sample[c])]
        missing(config.covariates, "covariate columns")
        if config.targets is not None:
            missing(config.targets, "target columns")
        if config.targets is not None and config.covariates:
            targets, covs = list(config.targets), list(config.covariates)
        elif config.targets is not None:  # every other channel is an observed covariate
            targets = list(config.targets)
            covs = [c for c in chans if c not in targets]
        else:
            covs = list(config.covariates)
            targets = [c for c in chans if c not in covs]
        if not targets:
            raise InputError(f"no numeric target channels; columns are {list(columns)}", path=where_file)
        values = targets + [c for c in covs if c not in targets]
    if ts in values:
        raise InputError(f"column {ts!r} is both the timestamp and a channel", path=where_file)

    # Column types for the typed scan. CSV timestamps stay text so that we, not the CSV inference,
    # choose the format; epoch numbers in text are handled by timestamp_expr.
    overrides: dict[str, pl.DataType] = {c: pl.Float64() for c in values}
    if fmt == "csv":
        overrides[ts] = pl.String()
    if id_col is not None:
        overrides[id_col] = pl.String()
    ts_sample = sample[ts].cast(pl.String) if fmt == "csv" and sample[ts].dtype != pl.String else sample[ts]
    try:
        ts_expr, how = timestamp_expr(ts, ts_sample, config)
    except InputError as err:
        raise InputError(err.problem, path=where_file, where=err.where) from None
    aware = _sample_is_aware(ts_expr, ts_sample.to_frame())
    parse_expr = ts_expr
    ts_expr = _with_timezone(ts_expr, aware, config.timezone)

    keep = [ts] + ([id_col] if id_col else []) + values
    text_values = [c for c in values if fmt != "csv" and sample[c].dtype == pl.String]
    value_exprs = []
    for c in values:
        e = pl.col(c)
        if c in text_values:  # JSON / Parquet text cells: honour null_values before the strict cast
            e = pl.when(e.is_in(config.null_values)).then(None).otherwise(e)
        value_exprs.append(e.cast(pl.Float64).alias(c))
    # polars fills the missing trailing fields of a short CSV row with nulls instead of failing, so
    # watch the last column: nulls there send us to the (slow, exact) field-count scan.
    last = columns[-1] if fmt == "csv" else None
    short = [] if last is None or last in keep else [pl.col(last).is_null().alias("__short")]
    plan = (
        scan({k: v for k, v in overrides.items() if k not in text_values})
        .select(keep + ([last] if short else []))
        .with_row_index(ROW)
        .with_columns(ts_expr, *value_exprs, *short)
    )
    if short:
        plan = plan.drop(last)
    try:
        frame = plan.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as err:
        if config.timezone is not None and not aware:
            local = _diagnose_local_time(scan, overrides, ts, parse_expr, config.timezone)
            if local is not None:
                row, problem = local
                where = describe_row(path, fmt, row, ts, separator=scanner.separator if scanner else ",")
                raise InputError(problem, path=where_file, where=where) from err
        raise _diagnose_values(err, scan, values, ts, scanner, path, fmt, where_file) from err
    if last is not None and scanner is not None:
        suspect = frame["__short"].any() if short else frame[last].null_count() > 0
        if short:
            frame = frame.drop("__short")
        if suspect:
            ragged = find_ragged_line(scanner.path, scanner.separator)
            if ragged is not None:
                line, expected, found = ragged
                raise InputError(
                    f"expected {expected} fields, found {found}", path=path, where=f"line {line}"
                )

    table = RawTable(
        frame=frame,
        source=source,
        path=path,
        fmt=fmt,
        layout=layout,
        timestamp=ts,
        values=values,
        targets=targets,
        covariates=[c for c in values if c not in targets],
        id_column=id_col,
        separator=scanner.separator if scanner is not None else ",",
    )
    broader = _check_timestamps(table, scan, ts, config, how)
    if broader is not None:  # e.g. fractional seconds first seen after the sample: parse again
        retry = config.model_copy(update={"time_format": broader})
        return _read(scan, sample, retry, scanner=scanner, source=source, path=path, fmt=fmt)
    return table


def _diagnose_local_time(scan, overrides, ts: str, parse_expr: pl.Expr, tz: str) -> tuple[int, str] | None:
    """The first naive timestamp that does not exist (or is ambiguous) in `tz`, after a failed read."""
    try:
        local = parse_expr.dt.replace_time_zone(tz, ambiguous="null", non_existent="null")
        earliest = parse_expr.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        hit = (
            scan({ts: overrides[ts]} if ts in overrides else None)
            .select(ts)
            .with_row_index(ROW)
            .select(ROW, parse_expr.alias("naive"), local.alias("local"), earliest.alias("earliest"))
            .filter(pl.col("naive").is_not_null() & pl.col("local").is_null())
            .head(1)
            .collect()
        )
    except pl.exceptions.PolarsError:
        return None
    if hit.height == 0:
        return None
    naive = hit["naive"][0]
    kind = "is ambiguous" if hit["earliest"][0] is not None else "does not exist"
    return int(hit[ROW][0]), (
        f"local time {naive} {kind} in time zone {tz} (a daylight-saving change); "
        "write timestamps with their UTC offset"
    )


def _diagnose_values(err, scan, values, ts, scanner, path, fmt, where_file) -> InputError:
    """Find the first cell that is not a number (or a ragged row) after a failed typed scan."""
    if scanner is not None and fmt == "csv":
        ragged = find_ragged_line(scanner.path, scanner.separator)
        if ragged is not None:
            line, expected, found = ragged
            return InputError(f"expected {expected} fields, found {found}", path=path, where=f"line {line}")
    if scanner is not None and fmt == "ndjson":
        bad = _find_bad_json_line(scanner.path)
        if bad is not None:
            return InputError(bad[1], path=path, where=f"line {bad[0]}")
    nulls = scanner.config.null_values if scanner is not None else []
    try:
        if scanner is not None and fmt == "csv":
            text = scanner.scan(all_text=True)
        elif scanner is not None and fmt == "ndjson":
            text = scanner.scan({c: pl.String() for c in values})
        else:
            text = scan()
        text = text.select(values).with_row_index(ROW)
        for c in values:
            raw = pl.col(c).cast(pl.String)
            bad = (
                text.filter(
                    raw.is_not_null() & ~raw.is_in(nulls) & raw.cast(pl.Float64, strict=False).is_null()
                )
                .select(ROW, raw.alias("value"))
                .head(1)
                .collect(engine="streaming")
            )
            if bad.height:
                row = int(bad[ROW][0])
                return InputError(
                    f"non-numeric value {bad['value'][0]!r} in channel {c!r}",
                    path=where_file,
                    where=describe_row(path, fmt, row, c, separator=scanner.separator if scanner else ","),
                )
    except pl.exceptions.PolarsError:
        pass
    if scanner is not None:
        return scanner.diagnose(err)
    return InputError(f"cannot read: {_first_line(str(err))}", path=where_file)


def _check_timestamps(table: RawTable, scan, ts: str, config: StreamConfig, how: str) -> str | None:
    """Every row needs a timestamp that parsed; name the first that did not.

    Returns a broader format to read again with when the sample-chosen one was too narrow.
    """
    parsed = table.frame[ts]
    if parsed.null_count() == 0:
        return None
    row = int(parsed.is_null().arg_max())  # type: ignore[arg-type]
    raw = scan().select(pl.col(ts).cast(pl.String)).slice(row, 1).collect()[ts][0]
    broader = _BROADER.get(how)
    if raw is not None and broader is not None and config.time_format is None:
        probe = pl.DataFrame({"t": [raw]}).select(_parse_text(pl.col("t"), broader)).to_series()
        if probe.null_count() == 0:
            return broader
    where = table.where(row, ts)
    problem = "missing timestamp" if raw is None else f"cannot parse timestamp {raw!r}"
    if config.time_format:
        problem += f" with format {config.time_format!r}"
    raise InputError(problem, path=table.path or table.source, where=where)
