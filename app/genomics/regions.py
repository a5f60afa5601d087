"""Reading genomes for a model: open a FASTA or a named genome, parse a samtools-style region, and
cut every record into the train / val / test parts a model was trained with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipelines.genomes import records
from pipelines.genomes.fasta import Genome
from pipelines.genomes.named import resolve_fasta
from pipelines.genomes.windows import Region, split_by_fraction

from .module import GenomeModule, require_lm


def open_genome(source: str | Path) -> Genome:
    """A `Genome` for a FASTA path or a named genome; a missing or empty file is an InputError."""
    return Genome(resolve_fasta(source))


def parse_region(genome: Genome, region: str) -> tuple[str, int, int]:
    """ "record" or "record:start-end" (1-based, inclusive; the record by its name or an unambiguous
    accession) -> (record, start, end) 0-based half-open; see `pipelines.genomes.records`."""
    return records.parse_region(genome.lengths, region, str(genome.source))


def find_record(genome: Genome, name: str, label: str) -> str:
    """The full name of the record `name` names (its name or an unambiguous accession); an
    InputError starting with `label` (e.g. "--record chrZ") lists the names to use."""
    return records.resolve_record(genome.names, name, label, str(genome.source))


def split_regions(genome: Genome, val_fraction: float, test_fraction: float) -> dict[str, list[Region]]:
    """train / val / test regions of every record of `genome`, by position (test at the end)."""
    return split_by_fraction(genome.lengths, val_fraction=val_fraction, test_fraction=test_fraction)


def held_out_regions(model: GenomeModule, genome: Genome) -> dict[str, list[Region]]:
    """train / val / test regions of `genome` with the model's split fractions."""
    _, meta = require_lm(model, "the held-out part")
    return split_regions(genome, meta.val_fraction, meta.test_fraction)


def region_ids(genome: Genome, region: Region) -> np.ndarray:
    """The token ids of `region`."""
    return genome.tokens(region.record, region.start, region.end).ids


def pieces(genome: Genome, record: str, start: int, end: int, piece: int) -> Iterator[np.ndarray]:
    """The token ids of record[start:end] in consecutive pieces of `piece` bases (a stream)."""
    for s in range(start, end, piece):
        yield genome.tokens(record, s, min(end, s + piece)).ids
