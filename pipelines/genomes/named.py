"""Named genomes that ship inside installed packages (never downloaded).

``pyrodigal-nctc11397``: the chromosome of *Corynebacterium diphtheriae* NCTC11397 (RefSeq
NZ_LN831026.1, 2,463,666 bp, GC 53.5%), which pyrodigal ships as gzip-compressed FASTA in its test
data. Install it with ``pip install 'memcast[datasets]'``.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.errors import InputError
from pipelines.genomes.cache import user_cache_dir
from pipelines.genomes.fasta import Genome

PYRODIGAL_GENOME = "pyrodigal-nctc11397"
_PYRODIGAL_FILE = "GCF_001457455.1_NCTC11397_genomic.fna.gz"

NAMED_GENOMES: dict[str, str] = {
    PYRODIGAL_GENOME: "Corynebacterium diphtheriae NCTC11397 chromosome, 2.46 Mbp (pyrodigal's test data)",
}
"""Name -> one-line description of every named genome."""


class MissingDatasetPackage(ModuleNotFoundError):
    """A named data set's package is not installed."""


def pyrodigal_genome_source() -> Path:
    """The gzip FASTA inside the installed pyrodigal package."""
    try:
        import pyrodigal  # optional (memcast[datasets]): only this genome needs it
    except ImportError:
        raise MissingDatasetPackage(
            f"the genome {PYRODIGAL_GENOME!r} ships with pyrodigal, which is not installed: "
            "pip install 'memcast[datasets]'"
        ) from None
    path = Path(pyrodigal.__file__).parent / "tests" / "data" / _PYRODIGAL_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"pyrodigal {getattr(pyrodigal, '__version__', '?')} does not ship {_PYRODIGAL_FILE} "
            "in its test data; "
            "reinstall it with pip install --force-reinstall 'memcast[datasets]'"
        )
    return path


def pyrodigal_genome_path(cache_dir: str | Path | None = None) -> Path:
    """A plain (decompressed, validated, indexed) FASTA of the pyrodigal chromosome.

    Decompressed once into `cache_dir` (default: the user cache folder, never the package's folder) and
    reused afterwards.
    """
    genome = Genome(pyrodigal_genome_source(), cache_dir=user_cache_dir() if cache_dir is None else cache_dir)
    genome.close()
    return genome.path


def named_genome_path(name: str, cache_dir: str | Path | None = None) -> Path:
    """The FASTA path of a named genome (see NAMED_GENOMES)."""
    if name == PYRODIGAL_GENOME:
        return pyrodigal_genome_path(cache_dir)
    raise KeyError(f"no named genome {name!r}; known: {', '.join(NAMED_GENOMES)}")


def resolve_fasta(name_or_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """A FASTA path from a file path or a named genome (a file of that name wins)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if str(name_or_path) in NAMED_GENOMES:
        return named_genome_path(str(name_or_path), cache_dir)
    raise InputError(f"no such FASTA file, and not a named genome ({', '.join(NAMED_GENOMES)})", path=path)
