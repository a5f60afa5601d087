"""The checks a command makes before it imports torch or loads a model: a missing file, an unknown
record, a region outside it, an unknown `--only` part. Each raises a one-line InputError; this module
imports only the light parts of `pipelines` (numpy and pyfaidx for a FASTA's index)."""

from __future__ import annotations

from pathlib import Path

from pipelines.errors import InputError

GENOME_PARTS = ("windows", "updates-off", "held-out", "markov", "stream")
"""What `memcast evaluate --only` runs for a genome LM: windows of the training context (memory
updates on), the same with the updates off, the held-out part streamed, the Markov baseline, and a
whole record streamed (`--stream`)."""


def model_reference(reference: str) -> None:
    """A checkpoint path must exist (anything else is taken for an MLflow run id)."""
    path = Path(reference)
    if (path.suffix == ".ckpt" or path.exists()) and not path.is_file():
        raise InputError("no such checkpoint file", path=path)


def data_source(source: str) -> None:
    """A file that exists, or a named data set."""
    from pipelines.datasets import DATASETS

    if source not in DATASETS and not Path(source).exists():
        problem = "no such file, and no named data set of that name (see memcast data list)"
        raise InputError(problem, path=source)


def is_genome_file(source: str) -> bool:
    """Whether `source` (an existing file or a named data set) is a genome."""
    from pipelines.datasets import DATASETS, kind_of_path

    if source in DATASETS:
        return DATASETS[source].kind == "genome"
    return kind_of_path(Path(source)) == "genome"


def genome_region(fasta: str, region: str) -> tuple[str, int, int]:
    """(record, start, end), 0-based half-open, of `region` in `fasta` (a path or a named genome)."""
    from pipelines.genomes.fasta import Genome
    from pipelines.genomes.named import resolve_fasta
    from pipelines.genomes.records import parse_region

    with Genome(resolve_fasta(fasta)) as genome:
        return parse_region(genome.lengths, region, str(genome.source))


def genome_record(fasta: str, record: str) -> str:
    """The full name of `record` (a name or an unambiguous accession) in `fasta`."""
    from pipelines.genomes.fasta import Genome
    from pipelines.genomes.named import resolve_fasta
    from pipelines.genomes.records import resolve_record

    with Genome(resolve_fasta(fasta)) as genome:
        return resolve_record(genome.names, record, f"--record {record}", str(genome.source))


def genome_parts(only: list[str] | None) -> list[str] | None:
    """`--only` values (repeatable, or comma-separated) as GENOME_PARTS names; None when not given."""
    if not only:
        return None
    parts = [p.strip() for item in only for p in item.split(",") if p.strip()]
    unknown = [p for p in parts if p not in GENOME_PARTS]
    if unknown or not parts:
        raise InputError(f"--only {','.join(unknown or only)}: expected some of {', '.join(GENOME_PARTS)}")
    return parts
