"""Shared helpers for the genome pipeline tests: FASTA writers (plain, gzip, BGZF) and random sequences.

The BGZF writer is written here from the SAM specification (section 4.1) rather than taken from the
library under test, so the reader is checked against an independent writer.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def fasta_text(records: Sequence[tuple[str, str]], width: int = 60, newline: str = "\n") -> str:
    """FASTA text for (header, sequence) pairs, sequence lines `width` letters long."""
    lines: list[str] = []
    for header, seq in records:
        lines.append(">" + header)
        lines.extend(seq[i : i + width] for i in range(0, len(seq), width))
    return newline.join(lines) + newline


def write_fasta(path: Path, records: Sequence[tuple[str, str]], width: int = 60, newline: str = "\n") -> Path:
    path.write_bytes(fasta_text(records, width, newline).encode())
    return path


def _bgzf_block(chunk: bytes) -> bytes:
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)  # raw deflate, as BGZF requires
    cdata = deflate.compress(chunk) + deflate.flush()
    block_size = 18 + len(cdata) + 8  # header with the 6-byte 'BC' extra field, data, CRC32 + ISIZE
    header = (
        struct.pack("<BBBBIBBH", 31, 139, 8, 4, 0, 0, 255, 6) + b"BC" + struct.pack("<HH", 2, block_size - 1)
    )
    return header + cdata + struct.pack("<II", zlib.crc32(chunk), len(chunk))


def bgzf_bytes(data: bytes, block_size: int = 4096, eof: bool = True) -> bytes:
    """BGZF-compress `data` in blocks of `block_size` input bytes; `eof` adds the empty end block."""
    blocks = [_bgzf_block(data[i : i + block_size]) for i in range(0, len(data), block_size)]
    return b"".join(blocks) + (_bgzf_block(b"") if eof else b"")


def write_bgzf(path: Path, text: str | bytes, block_size: int = 4096) -> Path:
    path.write_bytes(bgzf_bytes(text.encode() if isinstance(text, str) else text, block_size))
    return path


def write_gzip(path: Path, text: str | bytes) -> Path:
    path.write_bytes(gzip.compress(text.encode() if isinstance(text, str) else text, mtime=0))
    return path


def random_sequence(rng: np.random.Generator, n: int, alphabet: str = "ACGT") -> str:
    return "".join(rng.choice(list(alphabet), size=n))


def make_benchmark(
    root: Path, classes: Sequence[str] = ("negative", "positive"), per_class: tuple[int, int] = (3, 2)
) -> dict[str, list[str]]:
    """A GenomicsBenchmarks-style folder; returns the sequences written, keyed "<split>/<class>"."""
    rng = np.random.default_rng(5)
    written: dict[str, list[str]] = {}
    for split, count in zip(("train", "test"), per_class, strict=True):
        for label in classes:
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                seq = random_sequence(rng, 20 + i, "ACGTacgtN")
                (folder / f"{i}.txt").write_text(seq + "\n")
                written.setdefault(f"{split}/{label}", []).append(seq)
    return written
