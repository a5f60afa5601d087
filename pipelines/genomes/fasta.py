"""Open a FASTA genome (plain, bgzip or gzip), validate it once, and read any region through pyfaidx.

- plain: read in place; pyfaidx's ``.fai`` index goes in the cache folder (see `cache`).
- bgzip (BGZF): read in place through pyfaidx's BGZF support (which needs biopython); pyfaidx adds a
  ``.gzi`` block index. Without biopython it is treated like gzip.
- gzip (not block-compressed, so not seekable): decompressed once into the cache folder, validated in
  the same pass, and reused on later opens while the ``.gz`` file's size and modification time are
  unchanged.

Validation (`scan.scan_fasta`) runs on the first open and its summary (records, lengths, base counts) is
kept in the cache folder, so reopening a large genome costs no rescan.

A region read goes through the pyfaidx index: it seeks to the region and reads only its bytes, so it
costs the same anywhere in any record. For many small random reads (training windows) the token cache
(`Genome.token_store`) is faster still: one memory-mapped slice, no text parsing per read.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import pyfaidx

from pipelines.errors import InputError
from pipelines.genomes.cache import (
    CacheEntry,
    announce,
    atomic_path,
    cache_entry,
    fingerprint,
    read_json,
    write_json,
)
from pipelines.genomes.scan import scan_fasta
from pipelines.genomes.summary import FastaSummary, RecordSummary
from pipelines.genomes.token_store import TokenStore
from pipelines.genomes.tokens import PACKED_LUT, Tokens, unpack

Compression = Literal["plain", "gzip", "bgzip"]

SUMMARY_VERSION = 1
# The 28-byte empty block every BGZF file ends with (SAM specification, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_OTHER_FORMATS = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}


def detect_compression(path: str | Path) -> Compression:
    """'plain', 'gzip' or 'bgzip', from the file's first bytes (not its name).

    Raises InputError for other compressions (bzip2, xz, zstd, zip), which pyfaidx cannot read.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(1 << 10)
    for magic, name in _OTHER_FORMATS.items():
        if head.startswith(magic):
            raise InputError(
                f"{name}-compressed files are not supported; decompress it, or recompress with bgzip",
                path=path,
            )
    if not head.startswith(b"\x1f\x8b"):
        return "plain"
    return "bgzip" if _is_bgzf_header(head) else "gzip"


def _is_bgzf_header(head: bytes) -> bool:
    # gzip member with FEXTRA set whose extra field holds the 'BC' subfield (length 2).
    if len(head) < 18 or not head[3] & 4:
        return False
    xlen = int.from_bytes(head[10:12], "little")
    extra, i = head[12 : 12 + xlen], 0
    while i + 4 <= len(extra):
        slen = int.from_bytes(extra[i + 2 : i + 4], "little")
        if extra[i : i + 2] == b"BC" and slen == 2:
            return True
        i += 4 + slen
    return False


def check_bgzf_eof(path: Path) -> None:
    """Raise InputError when a BGZF file lacks its end-of-file block: it was cut at a block boundary,
    which gzip alone cannot notice."""
    with open(path, "rb") as f:
        f.seek(max(0, Path(path).stat().st_size - len(BGZF_EOF)))
        if f.read() != BGZF_EOF:
            raise InputError("truncated bgzip file: the BGZF end-of-file block is missing", path=path)


def _biopython_available() -> bool:
    try:
        from Bio import bgzf  # noqa: F401  (optional: only bgzip random access needs biopython)
    except ImportError:
        return False
    return True


class Genome:
    """A validated FASTA file with random access to any region of any record.

    Coordinates are 0-based and half-open, as in Python slices and BED. `read_packed` and `tokens` give
    token ids (see `tokens`); `fetch` gives the letters. Safe to pass to DataLoader workers: each
    process reopens its own pyfaidx handle (file offsets are not shared between processes).
    """

    def __init__(self, path: str | Path, *, cache_dir: str | Path | None = None):
        self.source = Path(path)
        if not self.source.is_file():
            raise InputError("no such FASTA file", path=self.source)
        self.compression: Compression = detect_compression(self.source)
        if self.compression == "plain" and self.source.name.lower().endswith((".gz", ".bgz")):
            raise InputError("the name ends in .gz but the file is not gzip-compressed", path=self.source)
        self.cache: CacheEntry = cache_entry(self.source, cache_dir)
        in_place = self.compression == "plain" or (self.compression == "bgzip" and self._bgzf_in_place())
        if in_place:
            self.path = self.source
            self.summary = self._summary_in_place()
        else:
            self.path, self.summary = self._decompressed()
        self.records: tuple[RecordSummary, ...] = self.summary.records
        self.lengths: dict[str, int] = {r.name: r.length for r in self.records}
        self._faidx: pyfaidx.Faidx | None = None
        self._pid = -1
        self._lock = threading.Lock()
        self._open_index()

    # -- opening -------------------------------------------------------------------------------------
    def _bgzf_in_place(self) -> bool:
        if not self.source.name.lower().endswith((".gz", ".bgz")):
            return False  # pyfaidx decides BGZF by the name; anything else it would read as text
        if not _biopython_available():
            warnings.warn(
                f"{self.source}: reading bgzip in place needs biopython (pip install biopython); "
                "decompressing it to the cache instead",
                stacklevel=3,
            )
            return False
        check_bgzf_eof(self.source)
        return True

    def _summary_in_place(self) -> FastaSummary:
        meta_path = self.cache.file(".summary.json")
        source_fp = fingerprint(self.source)
        meta = read_json(meta_path)
        if meta and meta.get("version") == SUMMARY_VERSION and meta.get("source") == source_fp:
            return FastaSummary.from_dict(meta["summary"])
        summary = scan_fasta(self.source, compressed=self.compression != "plain")
        for stale in (self._fai_path(), self._gzi_path()):
            stale.unlink(missing_ok=True)  # pyfaidx only rebuilds by mtime; a copied-over file may be older
        write_json(meta_path, {"version": SUMMARY_VERSION, "source": source_fp, "summary": summary.to_dict()})
        return summary

    def _decompressed(self) -> tuple[Path, FastaSummary]:
        """The decompressed copy in the cache folder, made (and validated) now unless current."""
        # "<key>.fa", e.g. g.fa.gz.fa: never the name of a plain g.fa's own cache entries.
        target = self.cache.file(".fa")
        meta_path = self.cache.file(".summary.json")
        source_fp = fingerprint(self.source)
        meta = read_json(meta_path)
        if (
            meta
            and meta.get("version") == SUMMARY_VERSION
            and meta.get("source") == source_fp
            and target.is_file()
            and meta.get("decompressed") == fingerprint(target)
        ):
            return target, FastaSummary.from_dict(meta["summary"])
        announce(f"decompressing {self.source} to {target} (once; later runs reuse it)")
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as out:
                summary = scan_fasta(self.source, compressed=True, sink=out.write)
        Path(str(target) + ".fai").unlink(missing_ok=True)
        write_json(
            meta_path,
            {
                "version": SUMMARY_VERSION,
                "source": source_fp,
                "decompressed": fingerprint(target),
                "summary": summary.to_dict(),
            },
        )
        return target, summary

    def _fai_path(self) -> Path:
        return Path(str(self.path) + ".fai") if self.path != self.source else self.cache.file(".fai")

    def _gzi_path(self) -> Path:
        return self.cache.file(".gzi")

    def _open_index(self) -> None:
        in_place_bgzf = self.path == self.source and self.compression == "bgzip"
        kwargs = {"gzi_indexname": str(self._gzi_path())} if in_place_bgzf else {}
        try:
            self._faidx = pyfaidx.Faidx(
                str(self.path),
                indexname=str(self._fai_path()),
                as_raw=True,
                strict_bounds=True,
                sequence_always_upper=False,
                rebuild=True,
                build_index=True,
                **kwargs,
            )
        except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError) as err:
            # The scan accepts only what pyfaidx indexes correctly, so this is a safety net.
            raise InputError(f"pyfaidx could not index the file: {err}", path=self.source) from None
        self._pid = os.getpid()
        indexed = {name: rec.rlen for name, rec in self._faidx.index.items()}
        if indexed != self.lengths:
            raise InputError(
                "pyfaidx's index disagrees with the validated record lengths; delete the cache folder "
                f"{self.cache.folder} and retry",
                path=self.source,
            )

    def _handle(self) -> pyfaidx.Faidx:
        if self._faidx is None or self._pid != os.getpid():
            with self._lock:
                if self._faidx is None or self._pid != os.getpid():
                    self._open_index()
        assert self._faidx is not None
        return self._faidx

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_faidx"] = None  # reopened lazily in the receiving process
        state["_pid"] = -1
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the file handle (reads after this reopen it)."""
        if self._faidx is not None and self._pid == os.getpid():
            self._faidx.close()
        self._faidx = None

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Genome({str(self.source)!r}, {len(self.records)} records, {self.total_bases} bases)"

    # -- records -------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Record names in file order."""
        return [r.name for r in self.records]

    @property
    def total_bases(self) -> int:
        return self.summary.total_bases

    def __contains__(self, name: object) -> bool:
        return name in self.lengths

    def _check_region(self, name: str, start: int, end: int | None) -> int:
        if name not in self.lengths:
            raise KeyError(f"{self.source}: no record named {name!r}")
        length = self.lengths[name]
        end = length if end is None else end
        if not 0 <= start <= end <= length:
            raise IndexError(
                f"{self.source}: region {name}:{start}-{end} is outside the record (length {length})"
            )
        return end

    # -- reads ---------------------------------------------------------------------------------------
    def fetch(self, name: str, start: int = 0, end: int | None = None) -> str:
        """The letters of `name`[start:end], case kept (lower case = soft-masked)."""
        end = self._check_region(name, start, end)
        if end == start:
            return ""
        return self._handle().from_file(name, start + 1, end)

    def read_packed(self, name: str, start: int = 0, end: int | None = None) -> np.ndarray:
        """Packed tokens (``id | MASK_BIT``) of `name`[start:end], read through the pyfaidx index."""
        seq = self.fetch(name, start, end)
        return PACKED_LUT[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]

    def tokens(self, name: str, start: int = 0, end: int | None = None) -> Tokens:
        """Token ids and soft-mask flags of `name`[start:end]."""
        return unpack(self.read_packed(name, start, end))

    def token_store(self, *, in_memory: bool = False) -> TokenStore:
        """All records as packed tokens: memory-mapped from the cache folder (built on first use,
        rebuilt when the FASTA changes), or built in memory when `in_memory`."""
        return TokenStore.for_genome(self, in_memory=in_memory)
