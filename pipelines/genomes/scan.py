"""One streaming pass over a FASTA file: validate it and count its bases.

The pass reads the (decompressed) text in blocks of a few MiB cut at line ends and works on each block
as a numpy byte array: line boundaries, header lines, invalid characters and per-record base counts are
all found with vectorised operations. Python only loops over header lines and over the few lines per
record whose length differs from the record's line width, so a megabase costs milliseconds.

What it enforces is what pyfaidx needs to index the file correctly, so a bad file fails here with an
`InputError` naming the file, the line and the record, never later inside pyfaidx:
- a header line (``>name description``) before any sequence; blank and ``;`` comment lines may
  precede it;
- sequence characters are A, C, G, T, N or an IUPAC ambiguity code, in either case;
- every record has at least one base and a unique name (the header's first word, as pyfaidx keys it);
- within a record all lines have the same length except the last, which may be shorter; one blank
  line may follow a record; line endings are not mixed within a record.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.errors import InputError
from pipelines.genomes.summary import FastaSummary, RecordSummary
from pipelines.genomes.tokens import IUPAC_AMBIGUOUS, MASK_LUT, TOKEN_LUT, show_byte

CHUNK_SIZE = 1 << 22
"""Bytes read per block (4 MiB): large enough that numpy dominates, small enough to stay in cache."""

NEWLINE, CR, GT, SEMICOLON = 10, 13, ord(">"), ord(";")

# Bytes allowed in a sequence line (the newline included; '\r' is checked separately: only before '\n').
_SEQ_OK = TOKEN_LUT != 255
_SEQ_OK[NEWLINE] = True


def _category_table() -> np.ndarray:
    # Byte -> category + 8 * masked, 7 for bytes that are not bases (newlines, '\r').
    table = np.full(256, 7, dtype=np.int64)
    for i, letter in enumerate("ACGTN"):
        table[ord(letter)] = i
        table[ord(letter.lower())] = i + 8
    for letter in IUPAC_AMBIGUOUS:
        table[ord(letter)] = 5
        table[ord(letter.lower())] = 5 + 8
    return table


_CATEGORY = _category_table()
assert np.array_equal(_CATEGORY[:256] >= 8, MASK_LUT)


@dataclass
class _Record:
    """A record being scanned; its lines may span several blocks."""

    name: str
    description: str
    header_line: int
    width: int | None = None
    crlf: bool = False
    closed: str | None = None  # "short" after a line shorter than the width, "blank" after a blank line
    closed_line: int = 0
    closed_len: int = 0
    bases: int = 0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(16, dtype=np.int64))

    def summary(self) -> RecordSummary:
        both = self.counts[:6] + self.counts[8:14]
        return RecordSummary(
            name=self.name,
            description=self.description,
            length=self.bases,
            header_line=self.header_line,
            line_width=self.width or 0,
            base_counts=tuple(int(x) for x in both),  # type: ignore[arg-type]
            masked=int(self.counts[8:14].sum()),
        )


class _Scanner:
    """The state carried from block to block, and the checks on each block."""

    def __init__(self, path: Path):
        self.path = path
        self.lines_done = 0  # lines in the blocks already scanned
        self.current: _Record | None = None
        self.records: list[RecordSummary] = []
        self.first_line: dict[str, int] = {}
        self.size = 0

    def error(self, line: int, problem: str) -> InputError:
        return InputError(problem, path=self.path, where=f"line {line}")

    # -- one block -----------------------------------------------------------------------------------
    def block(self, data: bytes) -> None:
        arr = np.frombuffer(data, dtype=np.uint8)
        n = arr.size
        if n == 0:
            return
        self.size += n
        newlines = np.flatnonzero(arr == NEWLINE)
        ends_with_newline = arr[-1] == NEWLINE
        ends = newlines if ends_with_newline else np.append(newlines, n)
        starts = np.empty(ends.size, dtype=np.int64)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        terminated = np.ones(ends.size, dtype=bool)
        terminated[-1] = ends_with_newline
        nonempty = ends > starts
        has_cr = nonempty & (arr[np.maximum(ends - 1, 0)] == CR)
        clen = ends - starts - has_cr
        first = np.where(nonempty, arr[np.minimum(starts, n - 1)], 0)
        is_header = first == GT
        self.arr, self.starts, self.ends, self.clen = arr, starts, ends, clen
        self.has_cr, self.terminated, self.first = has_cr, terminated, first

        # Structural checks run only up to the first invalid character, so whichever problem comes
        # first in the file is the one reported.
        bad = self._first_bad_char(is_header)
        limit = bad[0] + 1 if bad is not None else ends.size
        begin = 0
        for h in np.flatnonzero(is_header[:limit]).tolist():
            self._lines(begin, h)
            self._header(h)
            begin = h + 1
        self._lines(begin, limit)
        if bad is not None:
            line, col, char = bad
            record = self.current.name if self.current else None
            raise self.error(
                self.lines_done + line + 1,
                f"record {record!r}: invalid character {char} at column {col} "
                "(expected A, C, G, T, N or an IUPAC code)",
            )
        self.lines_done += ends.size

    def _first_bad_char(self, is_header: np.ndarray) -> tuple[int, int, str] | None:
        """(line index in block, 1-based column, character) of the first invalid sequence byte."""
        arr, starts, ends = self.arr, self.starts, self.ends
        bad_pos = np.flatnonzero(~_SEQ_OK[arr])
        if bad_pos.size == 0:
            return None
        line = np.searchsorted(starts, bad_pos, side="right") - 1
        in_record = np.ones(starts.size, dtype=bool)
        if self.current is None:  # lines before the first header are checked as pre-header lines
            headers = np.flatnonzero(is_header)
            in_record[: headers[0] + 1 if headers.size else starts.size] = False
        allowed_cr = self.has_cr[line] & (bad_pos == ends[line] - 1)
        real = np.flatnonzero(~is_header[line] & ~allowed_cr & in_record[line])
        if real.size == 0:
            return None
        pos, li = int(bad_pos[real[0]]), int(line[real[0]])
        byte = int(arr[pos])
        char = show_byte(byte)
        return li, pos - int(starts[li]) + 1, char

    def _header(self, h: int) -> None:
        line = self.lines_done + h + 1
        self._finish()
        text = self.arr[self.starts[h] + 1 : self.starts[h] + self.clen[h]].tobytes()
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(line, "header line is not valid UTF-8 text") from None
        words = decoded.split(maxsplit=1)
        if not words:
            raise self.error(line, "header line has no record name after '>'")
        name = words[0]
        if name in self.first_line:
            raise self.error(
                line, f"duplicate record name {name!r} (first used on line {self.first_line[name]})"
            )
        self.first_line[name] = line
        self.current = _Record(name, words[1].strip() if len(words) > 1 else "", line)

    def _finish(self) -> None:
        rec = self.current
        if rec is None:
            return
        if rec.bases == 0:
            raise self.error(rec.header_line, f"record {rec.name!r} is empty (no sequence lines)")
        self.records.append(rec.summary())
        self.current = None

    def _lines(self, a: int, b: int) -> None:
        """Check the non-header lines [a, b) of the block and add their bases to the current record."""
        if a >= b:
            return
        clen = self.clen[a:b]
        if self.current is None:  # before the first header: only blank and ';' comment lines
            stray = np.flatnonzero((clen > 0) & (self.first[a:b] != SEMICOLON))
            if stray.size:
                raise self.error(
                    self.lines_done + a + int(stray[0]) + 1,
                    "no FASTA header: expected a line starting with '>' before any sequence",
                )
            return
        rec = self.current
        rec.bases += int(clen.sum())
        piece = self.arr[self.starts[a] : self.ends[b - 1]]
        rec.counts += np.bincount(_CATEGORY, weights=np.bincount(piece, minlength=256), minlength=16).astype(
            np.int64
        )
        self._shape(a, clen)

    def _shape(self, a: int, clen: np.ndarray) -> None:
        """Line-length rules, looking only at the lines whose length or ending differs from the width."""
        rec = self.current
        assert rec is not None
        blank = clen == 0
        cr = self.has_cr[a : a + clen.size]
        if rec.width is None and rec.closed is None and not blank[0]:
            rec.width, rec.crlf = int(clen[0]), bool(cr[0])
        if rec.width is None:
            candidates = [0]
        else:
            odd = (clen != rec.width) | ((cr != rec.crlf) & self.terminated[a : a + clen.size])
            candidates = np.flatnonzero(odd).tolist()
            if rec.closed is not None and (not candidates or candidates[0] != 0):
                candidates.insert(0, 0)
        prev = -1
        for j in candidates:
            if rec.closed is not None and j > prev + 1:
                self._after_closed(a + prev + 1, blank[prev + 1])
            line = self.lines_done + a + j + 1
            if rec.closed == "short" and blank[j]:
                rec.closed, rec.closed_line = "blank", line
            elif rec.closed is not None:
                self._after_closed(a + j, blank[j])
            elif blank[j]:
                rec.closed, rec.closed_line = "blank", line
            elif rec.width is not None and clen[j] > rec.width:
                raise self.error(
                    line,
                    f"record {rec.name!r}: line has {int(clen[j])} bases, more than the record's line "
                    f"width of {rec.width} (all lines but the last must have the same length)",
                )
            elif rec.width is not None and clen[j] < rec.width:
                rec.closed, rec.closed_line, rec.closed_len = "short", line, int(clen[j])
            else:
                raise self.error(line, f"record {rec.name!r}: mixed line endings (CRLF and LF)")
            prev = j
        if rec.closed is not None and prev < clen.size - 1:
            self._after_closed(a + prev + 1, blank[prev + 1])

    def _after_closed(self, index: int, is_blank: bool) -> None:
        """A line at block index `index` follows a short or blank line of the same record: an error."""
        rec = self.current
        assert rec is not None
        if rec.closed == "short":
            raise self.error(
                rec.closed_line,
                f"record {rec.name!r}: line has {rec.closed_len} bases but the record's lines have "
                f"{rec.width}; only a record's last line may be shorter",
            )
        if is_blank:
            raise self.error(
                self.lines_done + index + 1,
                f"record {rec.name!r}: more than one blank line after the sequence",
            )
        raise self.error(rec.closed_line, f"record {rec.name!r}: blank line inside the sequence")

    def finish(self) -> FastaSummary:
        self._finish()
        if not self.records:
            problem = "the file is empty" if self.size == 0 else "no FASTA records (no line starts with '>')"
            raise InputError(problem, path=self.path)
        return FastaSummary(tuple(self.records), self.size)


def _raw_chunks(path: Path, compressed: bool, chunk_size: int) -> Iterator[bytes]:
    opener = gzip.open if compressed else open
    with opener(path, "rb") as f:
        while block := f.read(chunk_size):
            yield block


def _line_blocks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Regroup raw chunks into blocks that end at a newline (the last block may not).

    A line longer than a chunk (single-line FASTA) is collected in pieces and joined once.
    """
    pending: list[bytes] = []
    for chunk in chunks:
        cut = chunk.rfind(b"\n")
        if cut < 0:
            pending.append(chunk)
            continue
        pending.append(chunk[: cut + 1])
        yield b"".join(pending)
        pending = [chunk[cut + 1 :]] if cut + 1 < len(chunk) else []
    if pending:
        yield b"".join(pending)


def scan_fasta(
    path: str | Path,
    *,
    compressed: bool = False,
    chunk_size: int = CHUNK_SIZE,
    sink: Callable[[bytes], object] | None = None,
) -> FastaSummary:
    """Validate a FASTA file and summarise its records in one streaming pass.

    compressed: read through gzip (plain gzip and BGZF alike).
    sink: called with every block of decompressed text, in order (used to write a decompressed copy
        in the same pass).
    Raises InputError naming the file, line and record of the first problem, including a truncated or
    corrupt gzip stream.
    """
    path = Path(path)
    scanner = _Scanner(path)

    def feed() -> Iterator[bytes]:
        for chunk in _raw_chunks(path, compressed, chunk_size):
            if sink is not None:
                sink(chunk)
            yield chunk

    try:
        for block in _line_blocks(feed()):
            scanner.block(block)
    except EOFError:
        raise InputError(
            "truncated gzip file: the compressed data ends before its end-of-stream marker",
            path=path,
            where=f"after line {scanner.lines_done}",
        ) from None
    except (gzip.BadGzipFile, zlib.error) as err:
        raise InputError(
            f"corrupt gzip data ({err})", path=path, where=f"after line {scanner.lines_done}"
        ) from None
    return scanner.finish()
