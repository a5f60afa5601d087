"""FASTA genomes -> nucleotide token sequences (pyfaidx).

Modules:
    tokens       letters <-> token ids (A=0, C=1, G=2, T=3, N=4), soft-mask flags, reverse complement, k-mers
    scan         one vectorised pass that validates a FASTA file and counts its bases
    summary      what the scan finds: `RecordSummary`, `FastaSummary`
    fasta        `Genome`: open plain / bgzip / gzip FASTA, random access through pyfaidx
    token_store  `TokenStore`: memory-mapped token cache for fast random windows
    windows      regions, splits, window datasets (plain and next-base)
    labelled     BED intervals and GenomicsBenchmarks folders for classification
    datamodules  Lightning DataModules (imported on demand: it pulls in Lightning)
    inspect      `inspect_fasta` / `format_inspection` for `memcast data inspect`
    named        genomes shipped inside packages (pyrodigal's chromosome)

Names below are importable from `pipelines.genomes` directly; each is loaded on first use so that,
say, `inspect_fasta` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "tokens": (
        "VOCAB",
        "VOCAB_SIZE",
        "N_ID",
        "MASK_BIT",
        "Tokens",
        "InvalidBaseError",
        "encode",
        "encode_packed",
        "decode",
        "pack",
        "unpack",
        "reverse_complement",
        "reverse_complement_packed",
        "kmer_ids",
        "kmer_vocab_size",
        "kmer_n_id",
    ),
    "scan": ("scan_fasta",),
    "summary": ("FastaSummary", "RecordSummary"),
    "fasta": ("Genome", "detect_compression"),
    "token_store": ("TokenStore",),
    "windows": (
        "Region",
        "WindowIndex",
        "GenomeWindows",
        "NextBaseWindows",
        "whole_records",
        "split_by_records",
        "split_by_fraction",
    ),
    "labelled": (
        "Interval",
        "read_bed",
        "LabelledIntervals",
        "LabelledSequence",
        "GenomicBenchmark",
        "read_genomic_benchmark",
        "LabelledSequences",
        "pad_collate",
    ),
    "datamodules": ("NextBaseDataModule", "ClassificationDataModule"),
    "inspect": ("inspect_fasta", "format_inspection"),
    "named": (
        "NAMED_GENOMES",
        "PYRODIGAL_GENOME",
        "pyrodigal_genome_path",
        "named_genome_path",
        "resolve_fasta",
    ),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pipelines.genomes' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pipelines.genomes.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
