"""inspect_fasta / format_inspection, the named pyrodigal genome, and the shipped samples."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest

from pipelines.errors import InputError
from pipelines.genomes.fasta import Genome
from pipelines.genomes.inspect import format_inspection, inspect_fasta
from pipelines.genomes.labelled import read_bed, read_genomic_benchmark
from pipelines.genomes.named import (
    PYRODIGAL_GENOME,
    MissingDatasetPackage,
    pyrodigal_genome_path,
    pyrodigal_genome_source,
    resolve_fasta,
)

from .genomes_helpers import bgzf_bytes, write_gzip

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
# Record a: A C G T a c g t N N -> ACGT counts 2 each: GC 4/8, N 2/10, masked 4/10.
# Record b: GGGGCCCC R Y        -> GC 8/8, N (R, Y -> N) 2/10, masked 0.
TEXT = ">a first record\nACGTacgtNN\n>b\nGGGGCCCCRY\n"


def test_inspect_counts_worked_by_hand(tmp_path):
    path = tmp_path / "g.fa"
    path.write_text(TEXT)
    info = inspect_fasta(path)
    assert info["compression"] == "plain"
    assert info["record_count"] == 2 and info["total_bases"] == 20
    a, b = info["records"]
    assert (a["name"], a["description"], a["length"]) == ("a", "first record", 10)
    assert (a["gc_fraction"], a["n_fraction"], a["soft_masked_fraction"]) == (0.5, 0.2, 0.4)
    assert (b["gc_fraction"], b["n_fraction"], b["soft_masked_fraction"]) == (1.0, 0.2, 0.0)
    assert (
        info["gc_fraction"] == 12 / 16 and info["n_fraction"] == 0.2 and info["soft_masked_fraction"] == 0.2
    )
    assert info["base_counts"] == {"A": 2, "C": 6, "G": 6, "T": 2, "N": 2, "other": 2}


def test_inspect_reads_gzip_and_writes_nothing(tmp_path):
    path = write_gzip(tmp_path / "g.fa.gz", TEXT)
    info = inspect_fasta(path)
    assert info["compression"] == "gzip" and info["total_bases"] == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa.gz"]


def test_inspect_reports_bad_input(tmp_path):
    path = tmp_path / "bad.fa"
    path.write_text(">a\nACGT\n>a\nAC\n")
    with pytest.raises(InputError, match="line 3: duplicate record name 'a'"):
        inspect_fasta(path)
    with pytest.raises(InputError, match="no such FASTA file"):
        inspect_fasta(tmp_path / "missing.fa")


def test_format_inspection_lines(tmp_path):
    path = tmp_path / "g.fa"
    path.write_text(TEXT)
    lines = format_inspection(inspect_fasta(path))
    assert lines[0] == f"{path} (plain): 2 records, 20 bases"
    assert lines[1].split() == ["GC", "75.00%", "N", "20.00%", "soft-masked", "20.00%"]
    assert lines[2].split() == ["record", "length", "GC", "N", "masked", "description"]
    assert lines[3].split() == ["a", "10", "50.00%", "20.00%", "40.00%", "first", "record"]
    assert lines[4].split() == ["b", "10", "100.00%", "20.00%", "0.00%"]
    short = format_inspection(inspect_fasta(path), max_records=1)
    assert short[-1] == "... and 1 more record" and len(short) == 5


def test_missing_pyrodigal_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyrodigal", None)  # makes `import pyrodigal` fail
    with pytest.raises(MissingDatasetPackage, match=r"pip install 'memcast\[datasets\]'"):
        pyrodigal_genome_path()


def test_pyrodigal_chromosome_is_decompressed_once_into_the_cache(tmp_path):
    pytest.importorskip("pyrodigal")
    path = pyrodigal_genome_path(tmp_path)
    assert path.is_file() and path.is_relative_to(tmp_path)
    assert not (pyrodigal_genome_source().parent / ".memcast-cache").exists()  # package folder untouched
    # Length counted independently of the pipeline: every non-header line of the gzip source.
    with gzip.open(pyrodigal_genome_source(), "rt") as f:
        expected = sum(len(line.strip()) for line in f if not line.startswith(">"))
    genome = Genome(path, cache_dir=tmp_path)
    assert genome.names == ["NZ_LN831026.1"] and genome.total_bases == expected
    made = path.stat().st_mtime_ns
    assert pyrodigal_genome_path(tmp_path) == path and path.stat().st_mtime_ns == made
    assert resolve_fasta(PYRODIGAL_GENOME, tmp_path) == path


def test_samples_are_small_and_valid(tmp_path):
    fasta = SAMPLES / "pyrodigal_50kb.fa"
    made = [fasta, SAMPLES / "pyrodigal_50kb_genes.bed", *(SAMPLES / "genomic_benchmark_tiny").rglob("*")]
    assert sum(p.stat().st_size for p in made if p.is_file()) < 100_000
    genome = Genome(fasta, cache_dir=tmp_path)
    assert genome.lengths == {"NZ_LN831026.1": 50_000}
    intervals = read_bed(SAMPLES / "pyrodigal_50kb_genes.bed", genome.lengths)
    assert {iv.label for iv in intervals} == {"coding", "intergenic"}
    bench = read_genomic_benchmark(SAMPLES / "genomic_benchmark_tiny")
    assert bench.classes == ("coding", "intergenic")
    assert {len(s.packed) for s in bench.splits["test"]} == {100}


def test_sample_is_the_start_of_the_pyrodigal_chromosome(tmp_path):
    pytest.importorskip("pyrodigal")
    full = Genome(pyrodigal_genome_path(tmp_path), cache_dir=tmp_path)
    sample = Genome(SAMPLES / "pyrodigal_50kb.fa", cache_dir=tmp_path)
    assert sample.fetch("NZ_LN831026.1") == full.fetch("NZ_LN831026.1", 0, 50_000)


def test_inspect_bgzip_and_its_truncation(tmp_path):
    path = tmp_path / "g.fa.gz"
    path.write_bytes(bgzf_bytes(TEXT.encode(), block_size=7))
    info = inspect_fasta(path)
    assert info["compression"] == "bgzip" and info["total_bases"] == 20
    path.write_bytes(bgzf_bytes(TEXT.encode(), block_size=7, eof=False))
    with pytest.raises(InputError, match="truncated bgzip file"):
        inspect_fasta(path)
