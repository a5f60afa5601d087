"""A token cache: every record of a genome as packed tokens in one memory-mapped uint8 array.

Why: a window read through pyfaidx costs a seek, a read, newline removal, a str decode and a table
lookup (~10 microseconds); from this cache it is one array slice (~1 microsecond) that the OS pages in
on demand, shared by every DataLoader worker. It costs one byte per base on disk (2.5 MB for a
bacterial chromosome), is built once through pyfaidx, and is rebuilt when the FASTA changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipelines.genomes.cache import atomic_path, fingerprint, read_json, write_json
from pipelines.genomes.tokens import Tokens, unpack

if TYPE_CHECKING:
    from pipelines.genomes.fasta import Genome

TOKEN_STORE_VERSION = 1
BUILD_CHUNK = 1 << 22
"""Bases read from the FASTA per step while building (bounds the memory the build needs)."""


class TokenStore:
    """Packed tokens of all records, concatenated in file order; reads are slices (views, no copy)."""

    def __init__(self, packed: np.ndarray, records: Sequence[tuple[str, int]], *, path: Path | None = None):
        self.names = [name for name, _ in records]
        self.lengths = {name: int(length) for name, length in records}
        offsets = np.concatenate(([0], np.cumsum([length for _, length in records], dtype=np.int64)))
        self.offsets = {name: int(offsets[i]) for i, name in enumerate(self.names)}
        if packed.shape != (int(offsets[-1]),):
            raise ValueError(f"token array has shape {packed.shape}, records need ({int(offsets[-1])},)")
        self.path = path
        self._packed: np.ndarray | None = _plain(packed)

    @classmethod
    def for_genome(cls, genome: Genome, *, in_memory: bool = False) -> TokenStore:
        """The store for `genome`: loaded from its cache folder when current, else built (and saved
        unless `in_memory`)."""
        records = [(r.name, r.length) for r in genome.records]
        if in_memory:
            packed = np.empty(genome.total_bases, dtype=np.uint8)
            _fill(packed, genome)
            return cls(packed, records)
        npy, meta_path = genome.cache.file(".tokens.npy"), genome.cache.file(".tokens.json")
        expected = {
            "version": TOKEN_STORE_VERSION,
            "source": fingerprint(genome.source),
            "records": [list(r) for r in records],
        }
        meta = read_json(meta_path)
        if meta is not None and npy.is_file() and meta == {**expected, "array": fingerprint(npy)}:
            return cls(np.load(npy, mmap_mode="r"), records, path=npy)
        with atomic_path(npy) as tmp:
            packed = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(genome.total_bases,))
            _fill(packed, genome)
            packed.flush()
            del packed
        write_json(meta_path, {**expected, "array": fingerprint(npy)})
        return cls(np.load(npy, mmap_mode="r"), records, path=npy)

    @property
    def packed(self) -> np.ndarray:
        """The whole array (memory-mapped when the store has a path)."""
        if self._packed is None:  # after unpickling in another process
            assert self.path is not None
            self._packed = _plain(np.load(self.path, mmap_mode="r"))
        return self._packed

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self.path is not None:
            state["_packed"] = None  # pickling a memmap would copy the whole genome; reopen instead
        return state

    @property
    def total_bases(self) -> int:
        return sum(self.lengths.values())

    def record(self, name: str) -> np.ndarray:
        """Packed tokens of a whole record (a view)."""
        return self.read_packed(name)

    def read_packed(self, name: str, start: int = 0, end: int | None = None) -> np.ndarray:
        """Packed tokens of `name`[start:end] (0-based, half-open), as a read-only view."""
        try:
            length = self.lengths[name]
        except KeyError:
            raise KeyError(f"no record named {name!r} in the token store") from None
        if end is None:
            end = length
        if not 0 <= start <= end <= length:
            raise IndexError(f"region {name}:{start}-{end} is outside the record (length {length})")
        offset = self.offsets[name]
        return self.packed[offset + start : offset + end]

    def tokens(self, name: str, start: int = 0, end: int | None = None) -> Tokens:
        """Token ids and soft-mask flags of `name`[start:end]."""
        return unpack(self.read_packed(name, start, end))


def _plain(array: np.ndarray) -> np.ndarray:
    """A base-class ndarray view of a memmap: same mapped bytes, without np.memmap's per-slice
    bookkeeping (which costs more than the slice itself)."""
    return array.view(np.ndarray) if isinstance(array, np.memmap) else array


def _fill(packed: np.ndarray, genome: Genome) -> None:
    offset = 0
    for rec in genome.records:
        for start in range(0, rec.length, BUILD_CHUNK):
            end = min(start + BUILD_CHUNK, rec.length)
            packed[offset + start : offset + end] = genome.read_packed(rec.name, start, end)
        offset += rec.length
