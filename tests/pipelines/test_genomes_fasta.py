"""Opening FASTA files: plain, bgzip (in place), gzip (decompressed to a cache, reused), and validation."""

from __future__ import annotations

import bz2
import gzip
import os
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipelines.genomes.cache as cache_module
import pipelines.genomes.fasta as fasta_module
from pipelines.errors import InputError
from pipelines.genomes.cache import BESIDE_FOLDER
from pipelines.genomes.fasta import BGZF_EOF, Genome, detect_compression
from pipelines.genomes.scan import scan_fasta
from pipelines.genomes.tokens import encode

from .genomes_helpers import bgzf_bytes, fasta_text, random_sequence, write_bgzf, write_fasta, write_gzip

RNG = np.random.default_rng(7)
CHR1 = random_sequence(RNG, 1000, "ACGTacgtN")
CHR2 = random_sequence(RNG, 333, "ACGTRY")
CHR3 = "ACGT"
RECORDS = [("chr1 first record", CHR1), ("chr2", CHR2), ("chr3 tiny", CHR3)]
SEQS = {"chr1": CHR1, "chr2": CHR2, "chr3": CHR3}


def assert_reads_match(genome: Genome) -> None:
    assert genome.names == ["chr1", "chr2", "chr3"]
    assert genome.lengths == {name: len(seq) for name, seq in SEQS.items()}
    rng = np.random.default_rng(0)
    for name, seq in SEQS.items():
        assert genome.fetch(name) == seq
        for _ in range(20):
            start = int(rng.integers(0, len(seq)))
            end = int(rng.integers(start, len(seq) + 1))
            assert genome.fetch(name, start, end) == seq[start:end]
            tokens = genome.tokens(name, start, end)
            expected = encode(seq[start:end])
            assert np.array_equal(tokens.ids, expected.ids) and np.array_equal(tokens.mask, expected.mask)


@pytest.mark.parametrize("width, newline", [(60, "\n"), (7, "\n"), (80, "\r\n"), (5000, "\n")])
def test_plain_multi_record_reads_any_region(tmp_path, width, newline):
    path = write_fasta(tmp_path / "g.fa", RECORDS, width=width, newline=newline)
    with Genome(path) as genome:
        assert genome.compression == "plain"
        assert genome.path == path
        assert [r.description for r in genome.records] == ["first record", "", "tiny"]
        assert_reads_match(genome)


def test_region_outside_a_record_is_an_index_error(tmp_path):
    genome = Genome(write_fasta(tmp_path / "g.fa", RECORDS))
    with pytest.raises(IndexError, match="chr3:2-5"):
        genome.fetch("chr3", 2, 5)
    with pytest.raises(KeyError, match="chrX"):
        genome.fetch("chrX", 0, 1)


def test_bgzip_is_read_in_place_with_a_block_index(tmp_path):
    pytest.importorskip("Bio.bgzf", reason="pyfaidx reads BGZF through biopython")
    path = write_bgzf(tmp_path / "g.fa.gz", fasta_text(RECORDS, width=50), block_size=300)  # many blocks
    assert detect_compression(path) == "bgzip"
    genome = Genome(path)
    assert genome.path == path  # nothing decompressed
    cache = tmp_path / BESIDE_FOLDER
    assert not any(p.name.endswith(".fa") for p in cache.iterdir())
    assert (cache / "g.fa.gz.gzi").is_file() and (cache / "g.fa.gz.fai").is_file()
    assert_reads_match(genome)


def test_bgzip_without_biopython_falls_back_to_decompressing(tmp_path, monkeypatch):
    monkeypatch.setattr(fasta_module, "_biopython_available", lambda: False)
    path = write_bgzf(tmp_path / "g.fa.gz", fasta_text(RECORDS), block_size=500)
    with pytest.warns(UserWarning, match="biopython"):
        genome = Genome(path)
    assert genome.path != path and genome.path.is_file()
    assert_reads_match(genome)


def test_helper_bgzf_writer_ends_with_the_standard_eof_block():
    # Cross-checks the constant used to detect truncated BGZF files against an independent writer.
    assert bgzf_bytes(b"ACGT").endswith(BGZF_EOF)
    assert gzip.decompress(bgzf_bytes(b">a\nACGT\n", block_size=3)) == b">a\nACGT\n"


def test_gzip_is_decompressed_once_and_reused(tmp_path, monkeypatch):
    path = write_gzip(tmp_path / "g.fa.gz", fasta_text(RECORDS))
    assert detect_compression(path) == "gzip"
    scans = []
    real_scan = fasta_module.scan_fasta
    monkeypatch.setattr(fasta_module, "scan_fasta", lambda *a, **k: scans.append(a) or real_scan(*a, **k))

    first = Genome(path)
    assert first.path == tmp_path / BESIDE_FOLDER / "g.fa.gz.fa"
    assert_reads_match(first)
    made = first.path.stat().st_mtime_ns
    assert len(scans) == 1

    second = Genome(path)
    assert second.path == first.path
    assert second.path.stat().st_mtime_ns == made  # not rewritten
    assert len(scans) == 1  # not rescanned: the stored summary was reused
    assert_reads_match(second)


def test_gzip_cache_is_rebuilt_when_the_source_changes(tmp_path):
    path = write_gzip(tmp_path / "g.fa.gz", fasta_text(RECORDS))
    assert Genome(path).lengths["chr3"] == 4
    write_gzip(path, fasta_text([("chr1", CHR1), ("chr2", CHR2), ("chr3", "ACGTACGT")]))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    genome = Genome(path)
    assert genome.lengths["chr3"] == 8
    assert genome.fetch("chr3") == "ACGTACGT"


def test_gzip_cache_goes_to_the_given_folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    path = write_gzip(data / "g.fa.gz", fasta_text(RECORDS))
    genome = Genome(path, cache_dir=tmp_path / "cache")
    assert genome.path.parent == tmp_path / "cache" / "genomes"
    assert not (data / BESIDE_FOLDER).exists()
    assert_reads_match(genome)


def test_unwritable_folder_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    data = tmp_path / "readonly"
    data.mkdir()
    path = write_gzip(data / "g.fa.gz", fasta_text(RECORDS))
    real = cache_module.writable_folder
    monkeypatch.setattr(
        cache_module, "writable_folder", lambda folder: folder.parent != data and real(folder)
    )
    monkeypatch.setenv(cache_module.ENV_CACHE_DIR, str(tmp_path / "user-cache"))
    genome = Genome(path)
    assert genome.path.parent == tmp_path / "user-cache" / "genomes"
    assert genome.path.name.endswith("-g.fa.gz.fa")  # keyed by a hash of the source path
    assert_reads_match(genome)


def test_plain_and_gzip_files_of_the_same_name_keep_separate_caches(tmp_path):
    plain = write_fasta(tmp_path / "g.fa", [("p", "ACGTACGT")])
    packed = write_gzip(tmp_path / "g.fa.gz", fasta_text(RECORDS))
    for _ in range(2):
        assert Genome(plain).lengths == {"p": 8}
        assert_reads_match(Genome(packed))


def test_plain_index_is_rebuilt_when_the_file_changes(tmp_path):
    path = write_fasta(tmp_path / "g.fa", RECORDS)
    Genome(path)
    write_fasta(path, [("only", "GATTACA")], width=3)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    genome = Genome(path)
    assert genome.lengths == {"only": 7} and genome.fetch("only", 2, 6) == "TTAC"


def test_genome_survives_pickling_and_reopens(tmp_path):
    genome = Genome(write_fasta(tmp_path / "g.fa", RECORDS))
    genome.fetch("chr1", 0, 10)
    clone = pickle.loads(pickle.dumps(genome))
    assert clone._faidx is None
    assert clone.fetch("chr2", 5, 50) == CHR2[5:50]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seqs=st.lists(st.text(alphabet="ACGTNacgtnRYswk", min_size=1, max_size=120), min_size=1, max_size=4),
    width=st.integers(1, 40),
    chunk=st.integers(1, 64),
    crlf=st.booleans(),
)
def test_scan_counts_match_a_reference_for_any_block_size(tmp_path, seqs, width, chunk, crlf):
    path = write_fasta(
        tmp_path / "h.fa", [(f"r{i} d", s) for i, s in enumerate(seqs)], width, "\r\n" if crlf else "\n"
    )
    summary = scan_fasta(path, chunk_size=chunk)
    assert [r.name for r in summary.records] == [f"r{i}" for i in range(len(seqs))]
    for rec, seq in zip(summary.records, seqs, strict=True):
        up = seq.upper()
        assert rec.length == len(seq)
        assert rec.base_counts[:5] == tuple(up.count(c) for c in "ACGTN")
        assert rec.base_counts[5] == sum(up.count(c) for c in "RYSWK")
        assert rec.masked == sum(c.islower() for c in seq)
    assert summary == scan_fasta(path)  # the default (one block) agrees


# ----------------------------------------------------------------------------------------------------
# Bad input: each is an InputError naming the file, the line and the problem, on one line.

BAD_FASTA = {
    "no_header": ("ACGT\n>a\nACGT\n", "line 1", "no FASTA header"),
    "invalid_char": (
        ">a\nACGT\n>b\nACGTACGT\nACXTA\n",
        "line 5",
        "record 'b': invalid character 'X' at column 3",
    ),
    "invalid_in_first_line": (">a\nAC GT\n", "line 2", "invalid character ' ' at column 3"),
    "empty_record_middle": (">a\n>b\nACGT\n", "line 1", "record 'a' is empty"),
    "empty_record_last": (">a\nACGT\n>b\n", "line 3", "record 'b' is empty"),
    "duplicate": (
        ">a x\nACGT\n>b\nAC\n>a y\nGG\n",
        "line 5",
        "duplicate record name 'a' (first used on line 1)",
    ),
    "nameless_header": (">\nACGT\n", "line 1", "no record name"),
    "short_line_inside": (">a\nACGT\nAC\nACGT\n", "line 3", "only a record's last line may be shorter"),
    "long_last_line": (">a\nACGT\nACGTAA\n", "line 3", "more than the record's line width of 4"),
    "blank_inside": (">a\nACGT\n\nACGT\n", "line 3", "blank line inside the sequence"),
    "two_blank_lines": (">a\nACGT\n\n\n>b\nA\n", "line 4", "more than one blank line"),
    "mixed_endings": (">a\nACGT\r\nACGT\nAC\n", "line 3", "mixed line endings"),
    "stray_cr": (">a\nAC\rGT\n", "line 2", "invalid character '\\\\r'"),
    "gt_inside_line": (">a\nAC>GT\n", "line 2", "invalid character '>'"),
}


@pytest.mark.parametrize("chunk", [3, 1 << 22])
@pytest.mark.parametrize("case", sorted(BAD_FASTA))
def test_bad_fasta_is_a_precise_input_error(tmp_path, case, chunk):
    text, where, problem = BAD_FASTA[case]
    path = tmp_path / f"{case}.fa"
    path.write_bytes(text.encode())
    with pytest.raises(InputError) as info:
        scan_fasta(path, chunk_size=chunk)
    message = str(info.value)
    assert message.startswith(f"{path}: {where}: "), message
    assert problem.replace("\\\\", "\\") in message
    assert "\n" not in message


@pytest.mark.parametrize("case", ["invalid_char", "duplicate", "empty_record_last"])
def test_genome_reports_bad_input_before_pyfaidx_sees_it(tmp_path, case):
    text, where, problem = BAD_FASTA[case]
    path = tmp_path / "bad.fa"
    path.write_text(text)
    with pytest.raises(InputError, match=f"{where}: .*{problem[:20]}"):
        Genome(path)
    assert not (tmp_path / BESIDE_FOLDER / "bad.fa.fai").exists()


def test_comment_and_blank_lines_before_the_first_header_are_allowed(tmp_path):
    path = tmp_path / "c.fa"
    path.write_text(";a comment\n\n>a\nACGT\n")
    assert Genome(path).fetch("a") == "ACGT"


def test_empty_file(tmp_path):
    path = tmp_path / "e.fa"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="the file is empty"):
        Genome(path)


def test_no_records(tmp_path):
    path = tmp_path / "e.fa"
    path.write_text(";only a comment\n\n")
    with pytest.raises(InputError, match="no FASTA records"):
        Genome(path)


def test_truncated_gzip(tmp_path):
    data = gzip.compress(fasta_text(RECORDS).encode())
    path = tmp_path / "t.fa.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated gzip file") as info:
        Genome(path)
    assert str(info.value).startswith(f"{path}: after line ")
    assert not list((tmp_path / BESIDE_FOLDER).glob("t.fa*"))  # no half-written cache left behind


def test_corrupt_gzip(tmp_path):
    data = bytearray(gzip.compress(fasta_text(RECORDS).encode()))
    data[-8:-4] = bytes(4)  # wrong CRC32
    path = tmp_path / "c.fa.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt gzip data"):
        Genome(path)


def test_truncated_bgzip_without_eof_block(tmp_path):
    pytest.importorskip("Bio.bgzf")
    path = tmp_path / "t.fa.gz"
    path.write_bytes(bgzf_bytes(fasta_text(RECORDS).encode(), eof=False))
    with pytest.raises(InputError, match="truncated bgzip file"):
        Genome(path)


def test_invalid_character_inside_gzip_names_the_line(tmp_path):
    path = write_gzip(tmp_path / "g.fa.gz", ">a\nACGT\nAC!T\n")
    with pytest.raises(InputError, match=r"line 3: record 'a': invalid character '!' at column 3"):
        Genome(path)


def test_other_compressions_are_rejected(tmp_path):
    path = tmp_path / "g.fa.bz2"
    path.write_bytes(bz2.compress(b">a\nACGT\n"))
    with pytest.raises(InputError, match="bzip2-compressed files are not supported"):
        Genome(path)


def test_plain_file_named_gz_is_rejected(tmp_path):
    path = tmp_path / "g.fa.gz"
    path.write_text(">a\nACGT\n")
    with pytest.raises(InputError, match="not gzip-compressed"):
        Genome(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such FASTA file"):
        Genome(tmp_path / "nope.fa")


def test_validation_is_fast_on_megabases(tmp_path):
    # 4 Mbp: a per-character Python loop would take seconds; the vectorised scan takes well under one.
    seq = random_sequence(np.random.default_rng(1), 1 << 16, "ACGT") * 64
    path = write_fasta(tmp_path / "big.fa", [("big", seq)], width=80)
    import time

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t0 = time.perf_counter()
        summary = scan_fasta(path)
        elapsed = time.perf_counter() - t0
    assert summary.records[0].length == len(seq)
    assert elapsed < 1.0
