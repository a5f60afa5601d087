"""Windows, strides, strands, splits without leakage, and the token cache."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from pipelines.genomes.fasta import Genome
from pipelines.genomes.token_store import TokenStore
from pipelines.genomes.tokens import N_ID, encode, reverse_complement
from pipelines.genomes.windows import (
    GenomeWindows,
    NextBaseWindows,
    Region,
    WindowIndex,
    batch_loader,
    split_by_fraction,
    split_by_records,
    whole_records,
)

from .genomes_helpers import random_sequence, write_fasta

RNG = np.random.default_rng(3)
SEQS = {"a": random_sequence(RNG, 500, "ACGTacgtN"), "b": random_sequence(RNG, 230, "ACGT"), "c": "ACGTAC"}


@pytest.fixture
def genome(tmp_path) -> Genome:
    return Genome(write_fasta(tmp_path / "g.fa", list(SEQS.items()), width=70))


def brute_force_starts(region: Region, length: int, stride: int, cover_end: bool) -> list[int]:
    starts = list(range(region.start, region.end - length + 1, stride))
    if cover_end and starts and starts[-1] + length < region.end:
        starts.append(region.end - length)
    return starts


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 60), min_size=1, max_size=5),
    length=st.integers(1, 20),
    stride=st.integers(1, 25),
    cover_end=st.booleans(),
)
def test_window_index_matches_brute_force_enumeration(sizes, length, stride, cover_end):
    regions = [Region(f"r{i}", 3, 3 + n) for i, n in enumerate(sizes)]
    index = WindowIndex(regions, length, stride, cover_end=cover_end)
    expected = [(r, s) for r in regions for s in brute_force_starts(r, length, stride, cover_end)]
    assert len(index) == len(expected)
    assert [index[i] for i in range(len(index))] == expected
    if expected:
        region_ids, starts = index.locate(np.arange(len(index)))
        assert [
            (regions[r], s) for r, s in zip(region_ids.tolist(), starts.tolist(), strict=True)
        ] == expected


def test_cover_end_covers_every_base():
    index = WindowIndex([Region("r", 0, 23)], 10, 10, cover_end=True)
    covered = set()
    for i in range(len(index)):
        _, start = index[i]
        covered.update(range(start, start + 10))
    assert covered == set(range(23)) and index[len(index) - 1][1] == 13


def test_window_tokens_equal_the_sequence_slice_on_both_strands(genome):
    windows = GenomeWindows(genome, whole_records(genome.lengths), length=50, stride=37, strand="both")
    n = len(windows.index)
    assert len(windows) == 2 * n
    for i in range(n):
        region, start = windows.index[i]
        expected = encode(SEQS[region.record][start : start + 50])
        forward, reverse = windows[i], windows[i + n]
        assert forward["tokens"].tolist() == expected.ids.tolist()
        assert forward["mask"].tolist() == expected.mask.tolist()
        rc = reverse_complement(expected.ids, expected.mask)
        assert reverse["tokens"].tolist() == rc.ids.tolist()
        assert reverse["mask"].tolist() == rc.mask.tolist()
        assert (int(forward["strand"]), int(reverse["strand"])) == (0, 1)
        assert windows.record_names[int(forward["record"])] == region.record
        assert int(forward["start"]) == start
    # Record c (6 bases) is shorter than a window: it contributes none.
    assert {windows.index[i][0].record for i in range(n)} == {"a", "b"}


def test_kmers_ride_along(genome):
    windows = GenomeWindows(genome, [Region("b", 0, 230)], length=20, stride=20, kmer=3)
    item = windows[2]
    assert item["kmers"].shape == (18,)
    ids = item["tokens"]
    assert int(item["kmers"][0]) == int(ids[0]) * 16 + int(ids[1]) * 4 + int(ids[2])


def test_next_base_targets_are_the_following_bases(genome):
    data = NextBaseWindows(genome, [Region("a", 0, 500)], context=32, stride=16)
    assert data.read_length == 33
    for i in (0, 5, len(data) - 1):
        item = data[i]
        start = int(item["start"])
        expected = encode(SEQS["a"][start : start + 33])
        assert item["tokens"].tolist() == expected.ids[:-1].tolist()
        assert item["targets"].tolist() == expected.ids[1:].tolist()
        assert item["mask"].tolist() == expected.mask[:-1].tolist()
        assert item["target_mask"].tolist() == expected.mask[1:].tolist()


def test_next_base_can_hide_n_targets(genome):
    data = NextBaseWindows(genome, [Region("a", 0, 500)], context=499, n_target=-100)
    item = data[0]
    expected = encode(SEQS["a"][:500]).ids[1:]
    assert (expected == N_ID).any()
    assert item["targets"].tolist() == [-100 if t == N_ID else int(t) for t in expected]


def test_split_by_fraction_holds_out_the_end_of_each_record():
    splits = split_by_fraction({"x": 1000, "y": 10}, val_fraction=0.1, test_fraction=0.2)
    assert splits["train"] == [Region("x", 0, 700), Region("y", 0, 7)]
    assert splits["val"] == [Region("x", 700, 800), Region("y", 7, 8)]
    assert splits["test"] == [Region("x", 800, 1000), Region("y", 8, 10)]
    with pytest.raises(ValueError):
        split_by_fraction({"x": 10}, val_fraction=0.5, test_fraction=0.5)


def test_split_by_records():
    lengths = {"a": 5, "b": 6, "c": 7}
    splits = split_by_records(lengths, val=["b"], test=["c"])
    assert splits == {"train": [Region("a", 0, 5)], "val": [Region("b", 0, 6)], "test": [Region("c", 0, 7)]}
    with pytest.raises(KeyError, match="chrZ"):
        split_by_records(lengths, test=["chrZ"])
    with pytest.raises(ValueError, match="both train and test"):
        split_by_records(lengths, train=["a", "c"], test=["c"])


@pytest.mark.parametrize("stride", [1, 7, 64])
def test_no_window_crosses_a_split_boundary(genome, stride):
    splits = split_by_fraction(genome.lengths, val_fraction=0.15, test_fraction=0.25)
    covered: dict[str, set[tuple[str, int]]] = {}
    for split, regions in splits.items():
        data = NextBaseWindows(genome, regions, context=15, stride=stride, cover_end=True)
        positions = set()
        for i in range(len(data)):
            region, start = data.index[i]
            assert region in regions
            assert region.start <= start and start + data.read_length <= region.end
            positions.update((region.record, p) for p in range(start, start + data.read_length))
        covered[split] = positions
    assert not covered["train"] & covered["val"]
    assert not covered["train"] & covered["test"]
    assert not covered["val"] & covered["test"]
    if stride <= 16:  # windows (16 bases) then tile each region: test is exactly the last 25% of record a
        assert {p for r, p in covered["test"] if r == "a"} == set(range(375, 500))


def test_regions_outside_the_genome_are_rejected(genome):
    with pytest.raises(ValueError, match="not inside the genome"):
        GenomeWindows(genome, [Region("b", 0, 231)], length=10)


def test_token_store_equals_pyfaidx_reads_and_is_reused(genome):
    store = genome.token_store()
    assert store.path is not None and store.path.is_file()
    for name in SEQS:
        assert np.array_equal(store.read_packed(name), genome.read_packed(name))
        assert np.array_equal(store.read_packed(name, 3, 5), genome.read_packed(name, 3, 5))
    built = store.path.stat().st_mtime_ns
    again = genome.token_store()
    assert again.path == store.path and store.path.stat().st_mtime_ns == built
    memory = genome.token_store(in_memory=True)
    assert memory.path is None and np.array_equal(memory.packed, store.packed)
    with pytest.raises(IndexError, match="outside the record"):
        store.read_packed("c", 0, 7)


def test_token_store_is_rebuilt_when_the_fasta_changes(tmp_path):
    path = write_fasta(tmp_path / "g.fa", [("a", "ACGT")])
    Genome(path).token_store()
    write_fasta(path, [("a", "GGGGCC")])
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    store = Genome(path).token_store()
    assert store.tokens("a").ids.tolist() == [2, 2, 2, 2, 1, 1]


def test_disk_store_pickles_without_its_array(genome):
    store = genome.token_store()
    blob = pickle.dumps(store)
    assert len(blob) < 2000  # the memory map is reopened, not copied
    clone: TokenStore = pickle.loads(blob)
    assert np.array_equal(clone.read_packed("a", 10, 90), store.read_packed("a", 10, 90))


@pytest.mark.parametrize("use_store", [False, True])
def test_dataloader_workers_read_the_same_windows(genome, use_store):
    source = genome.token_store() if use_store else genome
    data = NextBaseWindows(source, whole_records(genome.lengths), context=20, stride=9, strand="both")
    single = [b["tokens"] for b in DataLoader(data, batch_size=16)]
    multi = [b["tokens"] for b in DataLoader(data, batch_size=16, num_workers=2)]
    assert torch.equal(torch.cat(single), torch.cat(multi))


@pytest.mark.parametrize("use_store", [False, True])
@pytest.mark.parametrize("strand", ["+", "-", "both"])
def test_a_batch_read_equals_the_stacked_items(genome, use_store, strand):
    source = genome.token_store() if use_store else genome
    for data in (
        NextBaseWindows(
            source, whole_records(genome.lengths), context=24, stride=5, strand=strand, n_target=-1
        ),
        GenomeWindows(source, whole_records(genome.lengths), length=12, stride=7, strand=strand, kmer=2),
    ):
        picks = np.random.default_rng(0).integers(0, len(data), size=17).tolist() + [len(data) - 1, 0]
        batch = data[picks]
        items = [data[i] for i in picks]
        assert set(batch) == set(items[0])
        for key, value in batch.items():
            assert torch.equal(value, torch.stack([torch.as_tensor(item[key]) for item in items])), key


def test_batch_loader_yields_every_window_once_per_epoch(genome):
    data = NextBaseWindows(
        genome.token_store(), whole_records(genome.lengths), context=10, stride=3, strand="both"
    )
    loader = batch_loader(data, 32, shuffle=True, seed=4)
    batches = list(loader)
    assert batches[0]["tokens"].shape == (32, 10)
    seen = torch.cat([b["start"] * 2 + b["strand"] + 10_000 * b["record"] for b in batches])
    assert len(seen) == len(data) and len(set(seen.tolist())) == len(data)
    again = [b["start"] for b in batch_loader(data, 32, shuffle=True, seed=4)]
    assert all(torch.equal(a, b["start"]) for a, b in zip(again, batches, strict=True))
