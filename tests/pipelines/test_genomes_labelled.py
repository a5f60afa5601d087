"""BED intervals over a FASTA, GenomicsBenchmarks folders, and padding of labelled batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.errors import InputError
from pipelines.genomes.fasta import Genome
from pipelines.genomes.labelled import (
    Interval,
    LabelledIntervals,
    LabelledSequences,
    pad_collate,
    read_bed,
    read_genomic_benchmark,
    sort_labels,
)
from pipelines.genomes.tokens import N_ID, encode, reverse_complement

from .genomes_helpers import make_benchmark, random_sequence, write_fasta

RNG = np.random.default_rng(11)
SEQS = {"chr1": random_sequence(RNG, 300, "ACGTacgt"), "chr2": random_sequence(RNG, 120, "ACGTN")}
LENGTHS = {name: len(seq) for name, seq in SEQS.items()}


@pytest.fixture
def genome(tmp_path) -> Genome:
    return Genome(write_fasta(tmp_path / "g.fa", list(SEQS.items())))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_bed_intervals_with_labels_and_strands(tmp_path, genome):
    bed = write(
        tmp_path / "r.bed",
        "track name=test\n# comment\nbrowser position chr1\n\n"
        "chr1\t10\t40\tpromoter\t0\t+\n"
        "chr1\t100\t130\tother\t0\t-\n"
        "chr2\t0\t120\tpromoter\n",
    )
    intervals = read_bed(bed, genome.lengths)
    assert [(iv.record, iv.start, iv.end, iv.label, iv.strand, iv.line) for iv in intervals] == [
        ("chr1", 10, 40, "promoter", "+", 5),
        ("chr1", 100, 130, "other", "-", 6),
        ("chr2", 0, 120, "promoter", "+", 7),
    ]
    data = LabelledIntervals(genome, intervals, sort_labels([iv.label for iv in intervals]))
    assert data.classes == ("other", "promoter")
    first, second = data[0], data[1]
    expected = encode(SEQS["chr1"][10:40])
    assert first["tokens"].tolist() == expected.ids.tolist() and int(first["label"]) == 1
    rc = reverse_complement(*encode(SEQS["chr1"][100:130]))  # '-' strand: read as reverse complement
    assert second["tokens"].tolist() == rc.ids.tolist() and second["mask"].tolist() == rc.mask.tolist()
    assert int(second["label"]) == 0 and int(second["length"]) == 30


def test_whitespace_separated_bed_and_other_label_column(tmp_path):
    bed = write(tmp_path / "r.bed", "chr1 0 10 x 7\nchr2 5 9 y 3\n")
    intervals = read_bed(bed, LENGTHS, label_column=5)
    assert [iv.label for iv in intervals] == ["7", "3"]


def test_numeric_labels_sort_numerically():
    assert sort_labels(["10", "2", "1", "2"]) == ("1", "2", "10")
    assert sort_labels(["b", "a", "10"]) == ("10", "a", "b")


BAD_BED = {
    "too_few_columns": ("chr1\t10\n", "expected at least 3 columns (chrom, start, end), found 2"),
    "start_not_int": ("chr1\tten\t20\tx\n", "start 'ten' is not a non-negative integer"),
    "negative_start": ("chr1\t-5\t20\tx\n", "start '-5' is not a non-negative integer"),
    "inverted": ("chr1\t20\t20\tx\n", "start 20 is not less than end 20"),
    "unknown_record": ("chrX\t0\t5\tx\n", "record 'chrX' is not in the FASTA (records: chr1, chr2)"),
    "past_the_end": (
        "chr2\t100\t121\tx\n",
        "interval 100-121 goes past the end of record 'chr2' (length 120)",
    ),
    "no_label": ("chr1\t0\t5\n", "no label: expected column 4, found 3 columns"),
    "bad_strand": ("chr1\t0\t5\tx\t0\t*\n", "strand '*' must be '+', '-' or '.'"),
}


@pytest.mark.parametrize("case", sorted(BAD_BED))
def test_bad_bed_lines_name_file_and_line(tmp_path, case):
    body, problem = BAD_BED[case]
    bed = write(tmp_path / "bad.bed", "# header\nchr1\t0\t5\tok\n" + body)
    with pytest.raises(InputError) as info:
        read_bed(bed, LENGTHS)
    assert str(info.value) == f"{bed}: line 3: {problem}"


def test_label_outside_the_given_classes(tmp_path):
    bed = write(tmp_path / "val.bed", "chr1\t0\t5\tpromoter\nchr1\t5\t9\tenhancer\n")
    with pytest.raises(InputError, match=r"val.bed: line 2: label 'enhancer' is not one of the classes"):
        read_bed(bed, LENGTHS, classes=("other", "promoter"))


def test_empty_bed(tmp_path):
    with pytest.raises(InputError, match="no intervals"):
        read_bed(write(tmp_path / "e.bed", "# nothing\n"), LENGTHS)


def test_genomic_benchmark_folder(tmp_path):
    written = make_benchmark(tmp_path / "bench")
    bench = read_genomic_benchmark(tmp_path / "bench")
    assert bench.classes == ("negative", "positive")
    assert len(bench.splits["train"]) == 6 and len(bench.splits["test"]) == 4
    for item in bench.splits["train"]:
        label_name = bench.classes[item.label]
        index = int(Path(item.origin).stem)
        expected = encode(written[f"train/{label_name}"][index])
        assert Path(item.origin).parent.name == label_name
        assert item.packed.tolist() == (expected.ids | expected.mask * 8).tolist()
    data = LabelledSequences(bench.splits["train"], strand="both")
    assert len(data) == 12
    rc = reverse_complement(*encode(written["train/negative"][0]))
    assert data[6]["tokens"].tolist() == rc.ids.tolist()


def test_wrapped_and_crlf_sequence_files_are_joined(tmp_path):
    make_benchmark(tmp_path / "b")
    (tmp_path / "b" / "train" / "positive" / "9.txt").write_bytes(b"ACGT\r\nacgt\r\n")
    bench = read_genomic_benchmark(tmp_path / "b")
    item = [s for s in bench.splits["train"] if s.origin.endswith("9.txt")][0]
    assert item.packed.tolist() == [0, 1, 2, 3, 8, 9, 10, 11]


@pytest.mark.parametrize(
    "damage, problem",
    [
        (
            lambda r: (r / "train" / "positive" / "0.txt").write_text("ACGT\nACZT\n"),
            "line 2: invalid character 'Z' at column 3",
        ),
        (lambda r: (r / "train" / "positive" / "0.txt").write_text("\n"), "empty sequence file"),
        (lambda r: (r / "test" / "other").mkdir(), "class 'other' is not among the train classes"),
        (lambda r: [p.unlink() for p in (r / "test" / "negative").iterdir()], "no .txt sequence files"),
    ],
)
def test_bad_benchmark_folders(tmp_path, damage, problem):
    make_benchmark(tmp_path / "b")
    damage(tmp_path / "b")
    with pytest.raises(InputError, match=problem):
        read_genomic_benchmark(tmp_path / "b")


def test_missing_split_folder(tmp_path):
    (tmp_path / "b" / "train" / "x").mkdir(parents=True)
    (tmp_path / "b" / "train" / "x" / "0.txt").write_text("ACGT")
    with pytest.raises(InputError, match="missing the 'test' folder"):
        read_genomic_benchmark(tmp_path / "b")


def test_pad_collate_pads_with_n_and_marks_valid_positions(genome):
    intervals = [Interval("chr1", 0, 5, "a"), Interval("chr2", 10, 13, "b")]
    data = LabelledIntervals(genome, intervals, classes=("a", "b"))
    batch = pad_collate([data[0], data[1]])
    assert batch["tokens"].shape == (2, 5)
    assert batch["tokens"][1, 3:].tolist() == [N_ID, N_ID]
    assert batch["valid"].tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    assert batch["lengths"].tolist() == [5, 3] and batch["label"].tolist() == [0, 1]
    assert not batch["mask"][1, 3:].any()
