"""Naming the place of a bad input after polars rejected a read: the file line of a data row, the
structural errors (a ragged CSV line, a line that is not a JSON object), a local time that does not
exist, and the first cell that is not a number. Only the error path pays for these scans."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Literal

import polars as pl

from pipelines.errors import InputError

Format = Literal["csv", "parquet", "ndjson"]

# Internal column: the 0-based data row of each record in the source, for error messages.
ROW = "__row"


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
        line = ndjson_line_of_row(path, row)
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


def ndjson_line_of_row(path: Path, row: int) -> int | None:
    """The 1-based file line of data row `row` (0-based) of a JSON-lines file."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        seen = -1
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                seen += 1
                if seen == row:
                    return lineno
    return None


def find_bad_json_line(path: Path) -> tuple[int, str] | None:
    """The first line that is not a JSON object: (line, problem)."""
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


def structural_error(path: Path, fmt: str | None, separator: str = ",") -> InputError | None:
    """The file's first structural error as the InputError that names its line: a CSV record whose
    field count differs from the header's, or a JSON line that is not an object; else None."""
    if fmt == "csv":
        ragged = find_ragged_line(path, separator)
        if ragged is not None:
            line, expected, found = ragged
            return InputError(f"expected {expected} fields, found {found}", path=path, where=f"line {line}")
    if fmt == "ndjson":
        bad = find_bad_json_line(path)
        if bad is not None:
            return InputError(bad[1], path=path, where=f"line {bad[0]}")
    return None


def first_line(message: str) -> str:
    """The first non-blank line of an error message (polars' run over several)."""
    return next((ln.strip() for ln in str(message).splitlines() if ln.strip()), "unreadable input")


def diagnose_local_time(scan, overrides, ts: str, parse_expr: pl.Expr, tz: str) -> tuple[int, str] | None:
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


def diagnose_values(err, scan, values, ts, scanner, path, fmt, where_file) -> InputError:
    """Find the first cell that is not a number (or a ragged row) after a failed typed scan."""
    if scanner is not None:
        structural = structural_error(scanner.path, fmt, scanner.separator)
        if structural is not None:
            return structural
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
    return InputError(f"cannot read: {first_line(str(err))}", path=where_file)
