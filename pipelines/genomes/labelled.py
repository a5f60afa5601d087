"""Labelled sequences for classification: BED intervals over a FASTA, and GenomicsBenchmarks folders.

BED: tab-separated (whitespace-separated when a line has no tab) chrom, start, end, and optionally
name (the label by default), score, strand. Coordinates are 0-based, half-open. ``track``, ``browser``,
``#`` and blank lines are skipped. Intervals on the '-' strand are read as the reverse complement.

GenomicsBenchmarks layout: ``<root>/train/<class>/*.txt`` and ``<root>/test/<class>/*.txt``, one
sequence per file. Class ids are the class folder names in sorted order (numerically when all are
integers), the same for every split.

Every problem is an InputError naming the file, the line and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pipelines.errors import InputError
from pipelines.genomes.tokens import INVALID, MASK_BIT, N_ID, PACKED_LUT, reverse_complement_packed, show_byte
from pipelines.genomes.windows import Strand, TokenSource

_SKIP_PREFIXES = ("#", "track", "browser")


@dataclass(frozen=True)
class Interval:
    """A BED line: bases [start, end) of `record`, its label and strand, and where it came from."""

    record: str
    start: int
    end: int
    label: str = ""
    strand: str = "+"
    line: int = 0

    def __len__(self) -> int:
        return self.end - self.start


def sort_labels(labels: Sequence[str] | set[str]) -> tuple[str, ...]:
    """Distinct labels in a stable order: numeric order when all are integers, else text order."""
    distinct = set(labels)
    try:
        return tuple(sorted(distinct, key=int))
    except ValueError:
        return tuple(sorted(distinct))


def _int_field(value: str, what: str, path: Path, line: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise InputError(f"{what} {value!r} is not a non-negative integer", path=path, where=f"line {line}")
    return number


def read_bed(
    path: str | Path,
    lengths: Mapping[str, int],
    *,
    label_column: int | None = 4,
    classes: Sequence[str] | None = None,
) -> list[Interval]:
    """Intervals of a BED file, checked against the FASTA's record `lengths`.

    label_column: 1-based column holding the label (4 = BED name); None for unlabelled intervals.
    classes: when given, a label outside it is an error (so val / test files share train's classes).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such BED file", path=path)
    known = set(classes) if classes is not None else None
    intervals: list[Interval] = []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for number, raw in enumerate(f, start=1):
            text = raw.rstrip("\r\n")
            if not text.strip() or text.startswith(_SKIP_PREFIXES):
                continue
            where = f"line {number}"
            cols = text.split("\t") if "\t" in text else text.split()
            if len(cols) < 3:
                raise InputError(
                    f"expected at least 3 columns (chrom, start, end), found {len(cols)}",
                    path=path,
                    where=where,
                )
            record = cols[0]
            start = _int_field(cols[1], "start", path, number)
            end = _int_field(cols[2], "end", path, number)
            if start >= end:
                raise InputError(f"start {start} is not less than end {end}", path=path, where=where)
            if record not in lengths:
                names = ", ".join(list(lengths)[:5]) + (", ..." if len(lengths) > 5 else "")
                raise InputError(
                    f"record {record!r} is not in the FASTA (records: {names})", path=path, where=where
                )
            if end > lengths[record]:
                raise InputError(
                    f"interval {start}-{end} goes past the end of record {record!r} "
                    f"(length {lengths[record]})",
                    path=path,
                    where=where,
                )
            label = ""
            if label_column is not None:
                if len(cols) < label_column:
                    raise InputError(
                        f"no label: expected column {label_column}, found {len(cols)} columns",
                        path=path,
                        where=where,
                    )
                label = cols[label_column - 1].strip()
                if not label:
                    raise InputError(f"empty label in column {label_column}", path=path, where=where)
                if known is not None and label not in known:
                    raise InputError(
                        f"label {label!r} is not one of the classes {', '.join(classes or ())}",
                        path=path,
                        where=where,
                    )
            strand = cols[5].strip() if len(cols) >= 6 else "+"
            if strand not in ("+", "-", "."):
                raise InputError(f"strand {strand!r} must be '+', '-' or '.'", path=path, where=where)
            intervals.append(Interval(record, start, end, label, "-" if strand == "-" else "+", number))
    if not intervals:
        raise InputError("no intervals in the BED file", path=path)
    return intervals


def _pack_item(packed: np.ndarray, label: int) -> dict[str, torch.Tensor]:
    return {
        "tokens": torch.from_numpy((packed & (MASK_BIT - 1)).astype(np.int64)),
        "mask": torch.from_numpy((packed & MASK_BIT).astype(bool)),
        "label": torch.tensor(label),
        "length": torch.tensor(len(packed)),
    }


class LabelledIntervals(Dataset):
    """BED intervals read from a genome; items: tokens, mask, label (class id), length."""

    def __init__(self, source: TokenSource, intervals: Sequence[Interval], classes: Sequence[str]):
        self.source = source
        self.intervals = list(intervals)
        self.classes = tuple(classes)
        index = {c: i for i, c in enumerate(self.classes)}
        missing = [iv for iv in self.intervals if iv.label not in index]
        if missing:
            raise ValueError(
                f"line {missing[0].line}: label {missing[0].label!r} is not in classes {self.classes}"
            )
        self.labels = np.array([index[iv.label] for iv in self.intervals], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.intervals)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        iv = self.intervals[i]
        packed = self.source.read_packed(iv.record, iv.start, iv.end)
        if iv.strand == "-":
            packed = reverse_complement_packed(packed)
        return _pack_item(packed, int(self.labels[i]))


@dataclass(frozen=True)
class LabelledSequence:
    """One sequence as packed tokens, its class id and the file it came from."""

    packed: np.ndarray = field(repr=False)
    label: int
    origin: str


@dataclass(frozen=True)
class GenomicBenchmark:
    """A GenomicsBenchmarks-style folder read into memory: classes and sequences per split."""

    root: Path
    classes: tuple[str, ...]
    splits: dict[str, list[LabelledSequence]]


# Sequence letters plus the line breaks a .txt file may carry.
_TXT_OK = PACKED_LUT != INVALID
_TXT_OK[[10, 13]] = True


def read_sequence_file(path: Path, label: int) -> LabelledSequence:
    """A .txt file holding one sequence (line breaks ignored)."""
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    bad = np.flatnonzero(~_TXT_OK[data])
    # Trailing spaces / tabs at the very end are editor noise, not sequence; strip them before judging.
    stripped_end = len(bytes(data).rstrip())
    bad = bad[bad < stripped_end]
    if bad.size:
        pos = int(bad[0])
        line = int(np.count_nonzero(data[:pos] == 10)) + 1
        line_start = int(np.flatnonzero(data[:pos] == 10)[-1]) + 1 if line > 1 else 0
        byte = int(data[pos])
        char = show_byte(byte)
        raise InputError(
            f"invalid character {char} at column {pos - line_start + 1} "
            "(expected A, C, G, T, N or an IUPAC code)",
            path=path,
            where=f"line {line}",
        )
    body = data[:stripped_end]
    packed = PACKED_LUT[body[(body != 10) & (body != 13)]]
    if packed.size == 0:
        raise InputError("empty sequence file", path=path)
    return LabelledSequence(packed, label, str(path))


def read_genomic_benchmark(root: str | Path, splits: Sequence[str] = ("train", "test")) -> GenomicBenchmark:
    """Read ``<root>/<split>/<class>/*.txt`` for each split. Classes come from the first split's folders;
    a later split may not have a class the first lacks."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder (expected <root>/train/<class>/*.txt)", path=root)
    classes: tuple[str, ...] | None = None
    out: dict[str, list[LabelledSequence]] = {}
    for split in splits:
        folder = root / split
        if not folder.is_dir():
            raise InputError(f"missing the {split!r} folder (expected {split}/<class>/*.txt)", path=root)
        found = sort_labels([p.name for p in folder.iterdir() if p.is_dir()])
        if not found:
            raise InputError("no class folders", path=folder)
        if classes is None:
            classes = found
        extra = [c for c in found if c not in classes]
        if extra:
            raise InputError(
                f"class {extra[0]!r} is not among the {splits[0]} classes {classes}", path=folder
            )
        index = {c: i for i, c in enumerate(classes)}
        items: list[LabelledSequence] = []
        for name in found:
            files = sorted((folder / name).glob("*.txt"))
            if not files:
                raise InputError("no .txt sequence files in the class folder", path=folder / name)
            items.extend(read_sequence_file(p, index[name]) for p in files)
        out[split] = items
    assert classes is not None
    return GenomicBenchmark(root, classes, out)


class LabelledSequences(Dataset):
    """In-memory labelled sequences; items: tokens, mask, label, length.

    strand "-" gives every sequence's reverse complement; "both" gives each twice (forward, then reverse
    complement at index + len).
    """

    def __init__(self, sequences: Sequence[LabelledSequence], *, strand: Strand = "+"):
        if strand not in ("+", "-", "both"):
            raise ValueError(f"strand must be '+', '-' or 'both', got {strand!r}")
        self.sequences = list(sequences)
        self.strand = strand

    def __len__(self) -> int:
        return len(self.sequences) * (2 if self.strand == "both" else 1)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        n = len(self.sequences)
        seq = self.sequences[i % n if self.strand == "both" else i]
        reverse = self.strand == "-" or (self.strand == "both" and i >= n)
        packed = reverse_complement_packed(seq.packed) if reverse else seq.packed
        return _pack_item(packed, seq.label)


def pad_collate(batch: Sequence[dict[str, torch.Tensor]], pad_id: int = N_ID) -> dict[str, torch.Tensor]:
    """Stack items of different lengths: tokens padded with `pad_id` (N by default), mask with False;
    `valid` marks the real positions and `lengths` gives each item's length."""
    lengths = torch.stack([item["length"] for item in batch])
    width = int(lengths.max())
    tokens = torch.full((len(batch), width), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(batch), width), dtype=torch.bool)
    for row, item in enumerate(batch):
        n = len(item["tokens"])
        tokens[row, :n] = item["tokens"]
        mask[row, :n] = item["mask"]
    valid = torch.arange(width)[None, :] < lengths[:, None]
    return {
        "tokens": tokens,
        "mask": mask,
        "valid": valid,
        "lengths": lengths,
        "label": torch.stack([item["label"] for item in batch]),
    }
