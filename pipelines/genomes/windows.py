"""Regions, splits and fixed-length windows over a genome, as torch Datasets.

Splits are lists of `Region`s (record, start, end). Windows are planned inside each region separately,
so no window ever crosses a region boundary, and hence never crosses a split boundary: a base of a test
region never appears in a training window.

A window index maps to (region, start) arithmetically (a binary search over per-region window counts),
so a dataset of millions of windows costs no memory beyond its regions. Reads go through a
`TokenSource`: a `Genome` (pyfaidx: reads only the window's bytes) or a `TokenStore` (memory-mapped
token cache: one slice per window, the faster choice for training).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from pipelines.genomes.tokens import (
    MASK_BIT,
    N_ID,
    PACKED_COMPLEMENT_LUT,
    kmer_ids,
    reverse_complement_packed,
)

Strand = Literal["+", "-", "both"]
SPLITS = ("train", "val", "test")
_ID_BITS = np.uint8(MASK_BIT - 1)
Scalar = int | torch.Tensor
"""A per-window value: an int for one item, a tensor [B] for a batch."""


class TokenSource(Protocol):
    """Anything that gives packed tokens of a record region: `Genome` or `TokenStore`."""

    lengths: dict[str, int]

    def read_packed(self, name: str, start: int = 0, end: int | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class Region:
    """Bases [start, end) of one record (0-based, half-open)."""

    record: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"region {self.record}:{self.start}-{self.end}: need 0 <= start <= end")

    def __len__(self) -> int:
        return self.end - self.start


def whole_records(lengths: Mapping[str, int], names: Iterable[str] | None = None) -> list[Region]:
    """One region per record (all records, or the named ones in the given order)."""
    names = list(lengths) if names is None else list(names)
    missing = [n for n in names if n not in lengths]
    if missing:
        raise KeyError(f"no record named {missing[0]!r}; records: {', '.join(lengths)}")
    return [Region(n, 0, lengths[n]) for n in names]


def split_by_records(
    lengths: Mapping[str, int],
    *,
    val: Sequence[str] = (),
    test: Sequence[str] = (),
    train: Sequence[str] | None = None,
) -> dict[str, list[Region]]:
    """Whole records to each split. `train` defaults to every record not named in val or test.

    A record may be in only one split; unknown names raise KeyError.
    """
    train = [n for n in lengths if n not in set(val) | set(test)] if train is None else list(train)
    seen: dict[str, str] = {}
    for split, names in (("train", train), ("val", val), ("test", test)):
        for name in names:
            if name in seen:
                raise ValueError(f"record {name!r} is in both {seen[name]} and {split}")
            seen[name] = split
    return {
        "train": whole_records(lengths, train),
        "val": whole_records(lengths, val),
        "test": whole_records(lengths, test),
    }


def split_by_fraction(
    lengths: Mapping[str, int], *, val_fraction: float = 0.1, test_fraction: float = 0.2
) -> dict[str, list[Region]]:
    """Hold out the end of every record: per record of length L, train is the first part, then val
    (round(val_fraction * L) bases), then test (the last round(test_fraction * L) bases)."""
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise ValueError(
            "need val_fraction >= 0, test_fraction >= 0 and val_fraction + test_fraction < 1; "
            f"got {val_fraction} and {test_fraction}"
        )
    splits: dict[str, list[Region]] = {s: [] for s in SPLITS}
    for name, length in lengths.items():
        n_test = round(length * test_fraction)
        n_val = round(length * val_fraction)
        bounds = {"train": (0, length - n_val - n_test), "val": (length - n_val - n_test, length - n_test)}
        bounds["test"] = (length - n_test, length)
        for split, (start, end) in bounds.items():
            if end > start:
                splits[split].append(Region(name, start, end))
    return splits


class WindowIndex:
    """Windows of `length` bases every `stride` bases inside each region, addressed 0..len-1.

    Within a region of n bases there are (n - length) // stride + 1 windows (none if n < length).
    With `cover_end`, a region whose last window stops short of its end gets one more window aligned
    to the end, so every base is covered (that window overlaps the one before).
    """

    def __init__(self, regions: Sequence[Region], length: int, stride: int, *, cover_end: bool = False):
        if length < 1 or stride < 1:
            raise ValueError(f"window length and stride must be >= 1, got {length} and {stride}")
        self.regions = list(regions)
        self.length = length
        self.stride = stride
        self.cover_end = cover_end
        sizes = np.array([len(r) for r in self.regions], dtype=np.int64)
        regular = np.where(sizes >= length, (sizes - length) // stride + 1, 0)
        extra = (
            (sizes >= length) & ((sizes - length) % stride != 0) if cover_end else np.zeros_like(sizes, bool)
        )
        self._regular = regular
        self._counts = regular + extra
        self._cumulative = np.concatenate(([0], np.cumsum(self._counts)))
        self._starts = np.array([r.start for r in self.regions], dtype=np.int64)
        self._ends = np.array([r.end for r in self.regions], dtype=np.int64)
        # Python lists for the one-window path: bisect on a list beats numpy calls on scalars.
        self._cumulative_list = self._cumulative.tolist()
        self._regular_list = self._regular.tolist()

    def __len__(self) -> int:
        return int(self._cumulative[-1])

    def locate(self, index: np.ndarray | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(region index, start) of each window index (vectorised)."""
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"window index out of range 0..{len(self) - 1}")
        region = np.searchsorted(self._cumulative, index, side="right") - 1
        k = index - self._cumulative[region]
        start = np.where(
            k < self._regular[region],
            self._starts[region] + k * self.stride,
            self._ends[region] - self.length,
        )
        return region, start

    def __getitem__(self, index: int) -> tuple[Region, int]:
        """The region of window `index` and the window's start in its record."""
        cumulative = self._cumulative_list
        if index < 0:
            index += cumulative[-1]
        if not 0 <= index < cumulative[-1]:
            raise IndexError(f"window {index} out of range 0..{cumulative[-1] - 1}")
        region = bisect.bisect_right(cumulative, index) - 1
        k = index - cumulative[region]
        r = self.regions[region]
        start = r.start + k * self.stride if k < self._regular_list[region] else r.end - self.length
        return r, start


class GenomeWindows(Dataset):
    """Fixed-length windows of token ids with their soft-mask flags.

    strand: "+" (as in the FASTA), "-" (reverse complement of the same interval), or "both" (every
        window twice: indices [0, n) forward, [n, 2n) reverse complement).
    kmer: when set, items also carry "kmers": overlapping k-mer ids (see `tokens.kmer_ids`).
    An item (integer index) is a dict: tokens (int64 tensor [length]), mask (bool tensor [length]),
    and the ints strand (0 for +, 1 for -), record (index into `record_names`) and start (first base),
    to trace a window back. A list or array of indices gives the whole batch at once, with a leading
    batch dimension, gathered in one vectorised read from a `TokenStore`: use it with
    ``DataLoader(ds, batch_size=None, sampler=BatchSampler(...))`` (see `batch_loader`).
    """

    def __init__(
        self,
        source: TokenSource,
        regions: Sequence[Region],
        *,
        length: int,
        stride: int | None = None,
        strand: Strand = "+",
        cover_end: bool = False,
        kmer: int | None = None,
    ):
        if strand not in ("+", "-", "both"):
            raise ValueError(f"strand must be '+', '-' or 'both', got {strand!r}")
        for r in regions:
            if r.record not in source.lengths or r.end > source.lengths[r.record]:
                raise ValueError(f"region {r.record}:{r.start}-{r.end} is not inside the genome")
        self.source = source
        self.index = WindowIndex(regions, length, length if stride is None else stride, cover_end=cover_end)
        self.strand = strand
        self.kmer = kmer
        order = {name: i for i, name in enumerate(source.lengths)}
        self.record_names = sorted({r.record for r in regions}, key=order.__getitem__)
        self._record_id = {name: i for i, name in enumerate(self.record_names)}
        self._region_record = np.array(
            [self._record_id[r.record] for r in self.index.regions], dtype=np.int64
        )

    @property
    def read_length(self) -> int:
        """Bases read per window."""
        return self.index.length

    def __len__(self) -> int:
        return len(self.index) * (2 if self.strand == "both" else 1)

    def packed_window(self, i: int) -> tuple[np.ndarray, int, str, int]:
        """(packed tokens, strand 0/1, record, start) of item i."""
        n = len(self.index)
        if i < 0:
            i += len(self)
        reverse = self.strand == "-" or (self.strand == "both" and i >= n)
        region, start = self.index[i - n if self.strand == "both" and i >= n else i]
        packed = self.source.read_packed(region.record, start, start + self.index.length)
        if reverse:
            packed = reverse_complement_packed(packed)
        return packed, int(reverse), region.record, start

    def packed_batch(
        self, indices: Sequence[int] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(packed [B, length], strand [B], record id [B], start [B]) for many items at once."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError(f"expected a 1-d list of indices, got shape {idx.shape}")
        idx = np.where(idx < 0, idx + len(self), idx)
        n = len(self.index)
        if self.strand == "both":
            reverse = idx >= n
            idx = np.where(reverse, idx - n, idx)
        else:
            reverse = np.full(idx.shape, self.strand == "-")
        region, start = self.index.locate(idx)
        length = self.index.length
        store_array = getattr(self.source, "packed", None)
        offsets = getattr(self.source, "offsets", None)
        if isinstance(store_array, np.ndarray) and offsets is not None:
            # TokenStore: one gather of whole rows from a sliding-window view (no index matrix).
            base = np.array([offsets[r.record] for r in self.index.regions], dtype=np.int64)[region] + start
            packed = np.lib.stride_tricks.sliding_window_view(store_array, length)[base]
        else:
            packed = (
                np.stack(
                    [
                        self.source.read_packed(self.index.regions[r].record, s, s + length)
                        for r, s in zip(region.tolist(), start.tolist(), strict=True)
                    ]
                )
                if idx.size
                else np.zeros((0, length), dtype=np.uint8)
            )
        if reverse.any():
            packed[reverse] = PACKED_COMPLEMENT_LUT[packed[reverse, ::-1]]
        return packed, reverse.astype(np.int64), self._region_record[region], start

    def __getitem__(self, i: int | Sequence[int] | np.ndarray) -> dict:
        if isinstance(i, (int, np.integer)):
            packed, strand, record, start = self.packed_window(int(i))
            return self._tensors(packed, strand, self._record_id[record], start)
        packed, strand, record, start = self.packed_batch(i)
        return self._tensors(
            packed, torch.from_numpy(strand), torch.from_numpy(record), torch.from_numpy(start)
        )

    def _tensors(self, packed: np.ndarray, strand: Scalar, record: Scalar, start: Scalar) -> dict:
        ids = (packed & _ID_BITS).astype(np.int64)
        item = {
            "tokens": torch.from_numpy(ids),
            "mask": torch.from_numpy(packed >= MASK_BIT),
            "strand": strand,
            "record": record,
            "start": start,
        }
        if self.kmer is not None:
            kmers = [kmer_ids(row, self.kmer) for row in ids.reshape(-1, ids.shape[-1])]
            item["kmers"] = torch.from_numpy(np.stack(kmers).reshape(*ids.shape[:-1], -1))
        return item


class NextBaseWindows(GenomeWindows):
    """Windows for next-base prediction: `context` input tokens and the `context` bases that follow each.

    Reads context + 1 bases per window; tokens = bases[:-1], targets = bases[1:], mask and target_mask
    are their soft-mask flags. With `n_target` set (e.g. -100, cross_entropy's ignore_index), targets
    that are N are replaced by it, so unknown bases are not scored. Indexing as in `GenomeWindows`
    (an int gives one item, a list of indices a whole batch).
    """

    def __init__(
        self,
        source: TokenSource,
        regions: Sequence[Region],
        *,
        context: int,
        stride: int | None = None,
        strand: Strand = "+",
        cover_end: bool = False,
        n_target: int | None = None,
    ):
        super().__init__(
            source,
            regions,
            length=context + 1,
            stride=context if stride is None else stride,
            strand=strand,
            cover_end=cover_end,
        )
        self.context = context
        self.n_target = n_target

    def _tensors(self, packed: np.ndarray, strand: Scalar, record: Scalar, start: Scalar) -> dict:
        # Slice in numpy, then wrap: torch indexing costs microseconds per call, numpy's far less.
        ids = (packed & _ID_BITS).astype(np.int64)
        mask = packed >= MASK_BIT
        targets = ids[..., 1:]
        if self.n_target is not None:
            targets = np.where(targets == N_ID, self.n_target, targets)
        return {
            "tokens": torch.from_numpy(ids[..., :-1]),
            "targets": torch.from_numpy(targets),
            "mask": torch.from_numpy(mask[..., :-1]),
            "target_mask": torch.from_numpy(mask[..., 1:]),
            "strand": strand,
            "record": record,
            "start": start,
        }


def batch_loader(
    dataset: GenomeWindows,
    batch_size: int,
    *,
    shuffle: bool = False,
    drop_last: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader that reads each batch with one vectorised `dataset[indices]` call instead of
    `batch_size` item reads and a collate (several times faster for short windows)."""
    order = (
        RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
        if shuffle
        else SequentialSampler(dataset)
    )
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=BatchSampler(order, batch_size, drop_last),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
    )
