"""Tokens: letters -> ids and mask flags, IUPAC -> N, reverse complement, k-mers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.genomes.tokens import (
    MASK_BIT,
    N_ID,
    InvalidBaseError,
    decode,
    encode,
    encode_packed,
    kmer_ids,
    kmer_n_id,
    kmer_vocab_size,
    pack,
    reverse_complement,
    reverse_complement_packed,
    unpack,
)

LETTERS = "ACGTNRYKMSWBDHVacgtnrykmswbdhv"
NUCLEOTIDES = st.text(alphabet=LETTERS, max_size=200)


def slow_encode(seq: str) -> tuple[list[int], list[bool]]:
    """Per-character reference, straight from the rules."""
    ids = []
    for ch in seq:
        up = ch.upper()
        ids.append({"A": 0, "C": 1, "G": 2, "T": 3}.get(up, 4))
    return ids, [ch.islower() for ch in seq]


def test_bases_map_to_fixed_ids():
    tokens = encode("ACGTN")
    assert tokens.ids.tolist() == [0, 1, 2, 3, 4]
    assert tokens.mask.tolist() == [False] * 5


@pytest.mark.parametrize("code", list("RYKMSWBDHV"))
def test_every_iupac_ambiguity_code_becomes_n_in_both_cases(code):
    tokens = encode(code + code.lower())
    assert tokens.ids.tolist() == [N_ID, N_ID]
    assert tokens.mask.tolist() == [False, True]


def test_lower_case_keeps_the_id_and_sets_the_mask():
    upper, lower = encode("ACGTN"), encode("acgtn")
    assert np.array_equal(upper.ids, lower.ids)
    assert lower.mask.all() and not upper.mask.any()


@settings(max_examples=50, deadline=None)
@given(NUCLEOTIDES)
def test_lookup_table_matches_per_character_rules(seq):
    ids, mask = slow_encode(seq)
    tokens = encode(seq)
    assert tokens.ids.tolist() == ids
    assert tokens.mask.tolist() == mask
    assert np.array_equal(encode_packed(seq), pack(tokens.ids, tokens.mask))


@pytest.mark.parametrize(
    "seq, position, char", [("ACGU", 3, "U"), ("AC-GT", 2, "-"), ("A C", 1, " "), ("ACé", 2, "é")]
)
def test_invalid_characters_are_reported_with_their_position(seq, position, char):
    with pytest.raises(InvalidBaseError) as info:
        encode(seq)
    assert (info.value.position, info.value.char) == (position, char)


def test_decode_round_trips_acgtn_with_case():
    seq = "ACgtNnTa"
    tokens = encode(seq)
    assert decode(tokens.ids, tokens.mask) == seq
    assert decode(tokens.ids) == seq.upper()


def test_pack_unpack_round_trip():
    tokens = encode("AcGtNrY")
    packed = pack(tokens.ids, tokens.mask)
    assert ((packed & MASK_BIT) > 0).tolist() == tokens.mask.tolist()
    back = unpack(packed)
    assert np.array_equal(back.ids, tokens.ids) and np.array_equal(back.mask, tokens.mask)


def test_reverse_complement_worked_by_hand():
    # ACCGTn: complement TGGCAn, reversed nACGGT.
    rc = reverse_complement(*encode("ACCGTn"))
    assert decode(rc.ids, rc.mask) == "nACGGT"
    # gaRt with R -> N: complement ctNa, reversed aNtc; the mask flags travel with their bases.
    rc = reverse_complement(*encode("gaRt"))
    assert rc.ids.tolist() == [0, 4, 3, 1]
    assert rc.mask.tolist() == [True, False, True, True]


@settings(max_examples=50, deadline=None)
@given(NUCLEOTIDES)
def test_reverse_complement_is_an_involution_and_packed_agrees(seq):
    tokens = encode(seq)
    once = reverse_complement(tokens.ids, tokens.mask)
    twice = reverse_complement(once.ids, once.mask)
    assert np.array_equal(twice.ids, tokens.ids) and np.array_equal(twice.mask, tokens.mask)
    packed_rc = reverse_complement_packed(pack(tokens.ids, tokens.mask))
    assert np.array_equal(packed_rc, pack(once.ids, once.mask))
    # N stays N; nothing else becomes N.
    assert np.array_equal(once.ids == N_ID, (tokens.ids == N_ID)[::-1])


def test_kmers_worked_by_hand():
    assert kmer_ids(encode("ACGT").ids, 2).tolist() == [1, 6, 11]  # AC=0*4+1, CG=1*4+2, GT=2*4+3
    assert kmer_ids(encode("ACNGT").ids, 2).tolist() == [1, 16, 16, 11]  # any k-mer with N -> 4**2
    assert kmer_ids(encode("ACG").ids, 1).tolist() == [0, 1, 2]
    assert kmer_ids(encode("AC").ids, 3).size == 0
    assert kmer_vocab_size(3) == 65 and kmer_n_id(3) == 64


def test_every_3mer_gets_a_distinct_id_in_lexicographic_order():
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=3)]
    ids = [int(kmer_ids(encode(k).ids, 3)[0]) for k in kmers]
    assert ids == list(range(64))


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="ACGTN", max_size=60), st.integers(1, 6))
def test_kmers_match_a_per_window_reference(seq, k):
    ids = encode(seq).ids
    expected = []
    for i in range(len(seq) - k + 1):
        window = seq[i : i + k]
        expected.append(4**k if "N" in window else int("".join("0123"["ACGT".index(c)] for c in window), 4))
    assert kmer_ids(ids, k).tolist() == expected


def test_k_out_of_range_is_rejected():
    with pytest.raises(ValueError):
        kmer_ids(encode("ACGT").ids, 0)
    with pytest.raises(ValueError):
        kmer_vocab_size(32)
