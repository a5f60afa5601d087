"""Records named by their full name or an unambiguous accession (NCBI-style `|` names)."""

from __future__ import annotations

import pytest

from app.genomics import parse_region, stream_record  # noqa: F401 (the public path too)
from pipelines.errors import InputError
from pipelines.genomes import Genome
from pipelines.genomes.records import aliases, identifiers, resolve_record
from pipelines.genomes.records import parse_region as parse_names

NCBI = "gi|110640213|ref|NC_008253.1|"
PLASMID = "gi|110640214|ref|NC_008254.1|"


def test_identifiers_of_an_ncbi_name():
    assert identifiers(NCBI) == ["NC_008253.1", "NC_008253"]
    assert identifiers("sp|P69905|HBA_HUMAN") == ["P69905", "HBA_HUMAN"]
    assert identifiers("chr1") == []


def test_an_accession_finds_its_record_and_the_region_keeps_the_full_name():
    lengths = {NCBI: 5000, PLASMID: 300}
    assert parse_names(lengths, "NC_008253.1:1-100") == (NCBI, 0, 100)
    assert parse_names(lengths, "NC_008254") == (PLASMID, 0, 300)
    assert parse_names(lengths, f"{NCBI}:11-20") == (NCBI, 10, 20)
    assert resolve_record(list(lengths), "NC_008254.1", "--record NC_008254.1") == PLASMID


def test_an_ambiguous_or_unknown_name_lists_the_names_to_use():
    names = ["gi|1|ref|NC_1.1|", "gi|2|gb|NC_1.1|", "chr2"]
    assert "NC_1.1" not in aliases(names)
    with pytest.raises(
        InputError, match=r"--record NC_1.1: 'NC_1.1' is an identifier of 2 records .*full name"
    ):
        resolve_record(names, "NC_1.1", "--record NC_1.1")
    with pytest.raises(InputError, match=r"--region chrX:1-5: no record named 'chrX' \(records: gi\|1\|ref"):
        parse_names(dict.fromkeys(names, 10), "chrX:1-5")
    # a record's own name wins over another record's identifier
    assert aliases(["chr2", "gi|9|ref|chr2|"]) == {}


def test_a_real_fasta_with_ncbi_names(tmp_path):
    path = tmp_path / "ncbi.fa"
    path.write_text(f">{NCBI} Escherichia coli 536\n{'ACGT' * 50}\n>{PLASMID} plasmid\n{'GGCC' * 10}\n")
    with Genome(path, cache_dir=tmp_path / "cache") as genome:
        assert parse_region(genome, "NC_008253.1:5-8") == (NCBI, 4, 8)
        assert genome.tokens(*parse_region(genome, "NC_008254.1:1-4")).ids.tolist() == [2, 2, 1, 1]
