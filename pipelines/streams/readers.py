"""Read CSV, Parquet and JSON-lines tables into typed polars frames, lazily and with precise errors.

The happy path is one lazy polars query (scan -> select -> cast -> parse timestamps) collected with
the streaming engine, so files larger than memory only cost the memory of the columns kept. When
polars rejects the data, diagnosis.py rescans the file to name the line / row / column and the
offending value in an `InputError`. Timestamp formats and time zones: timestamps.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from pipelines.errors import InputError
from pipelines.streams.config import StreamConfig
from pipelines.streams.diagnosis import (
    ROW,
    Format,
    describe_row,
    diagnose_local_time,
    diagnose_values,
    first_line,
    structural_error,
)
from pipelines.streams.timestamps import (
    BROADER,
    is_numeric,
    parse_text,
    sample_is_aware,
    timestamp_expr,
    with_timezone,
)
from pipelines.streams.victorian import NAMED_SERIES

Source = str | Path | pl.DataFrame | pl.LazyFrame

# Rows read eagerly to decide layout, column roles and the timestamp format.
SAMPLE_ROWS = 1000

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
    time_format: str | None = None  # how the timestamps were written (`timestamps.timestamp_expr`)

    def where(self, row: int, column: str | None = None) -> str:
        """Name a data row (0-based) for an error: "line 6 (row 5), column 'a'" for CSV files."""
        return describe_row(self.path, self.fmt, row, column, separator=self.separator)


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
        structural = structural_error(self.path, self.fmt, self.separator)
        if structural is not None:
            return structural
        return InputError(f"cannot read {self.fmt}: {first_line(str(err))}", path=self.path)


def _numeric_column(values: pl.Series) -> bool:
    """A channel candidate: numeric, or text that is mostly numbers (a few bad cells are reported later)."""
    return is_numeric(values.dtype) or (values.dtype == pl.String and _looks_numeric(values))


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
        missing(config.covariates, "covariate columns")
        covs = list(config.covariates)  # only what the config names: other columns are not read
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
    aware = sample_is_aware(ts_expr, ts_sample.to_frame())
    parse_expr = ts_expr
    ts_expr = with_timezone(ts_expr, aware, config.timezone)

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
            local = diagnose_local_time(scan, overrides, ts, parse_expr, config.timezone)
            if local is not None:
                row, problem = local
                where = describe_row(path, fmt, row, ts, separator=scanner.separator if scanner else ",")
                raise InputError(problem, path=where_file, where=where) from err
        raise diagnose_values(err, scan, values, ts, scanner, path, fmt, where_file) from err
    if last is not None and scanner is not None:
        suspect = frame["__short"].any() if short else frame[last].null_count() > 0
        if short:
            frame = frame.drop("__short")
        structural = structural_error(scanner.path, fmt, scanner.separator) if suspect else None
        if structural is not None:
            raise structural

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
        time_format=how,
    )
    broader = _check_timestamps(table, scan, ts, config, how)
    if broader is not None:  # e.g. fractional seconds first seen after the sample: parse again
        retry = config.model_copy(update={"time_format": broader})
        return _read(scan, sample, retry, scanner=scanner, source=source, path=path, fmt=fmt)
    return table


def _check_timestamps(table: RawTable, scan, ts: str, config: StreamConfig, how: str) -> str | None:
    """Every row needs a timestamp that parsed; name the first that did not.

    Returns a broader format to read again with when the sample-chosen one was too narrow.
    """
    parsed = table.frame[ts]
    if parsed.null_count() == 0:
        return None
    row = int(parsed.is_null().arg_max())  # type: ignore[arg-type]
    raw = scan().select(pl.col(ts).cast(pl.String)).slice(row, 1).collect()[ts][0]
    broader = BROADER.get(how)
    if raw is not None and broader is not None and config.time_format is None:
        probe = pl.DataFrame({"t": [raw]}).select(parse_text(pl.col("t"), broader)).to_series()
        if probe.null_count() == 0:
            return broader
    where = table.where(row, ts)
    problem = "missing timestamp" if raw is None else f"cannot parse timestamp {raw!r}"
    if config.time_format:
        problem += f" with format {config.time_format!r}"
    raise InputError(problem, path=table.path or table.source, where=where)
