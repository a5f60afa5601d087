"""Lightning DataModules over genomes: next-base modelling and sequence classification.

`NextBaseDataModule` batches (all int64 / bool tensors of shape [batch, context]):
    tokens, targets (the next base of each token), mask, target_mask (soft-mask flags), and strand,
    record, start ([batch]) to trace a window back to the genome.
`ClassificationDataModule` batches: tokens and mask [batch, longest], valid (real positions, the rest is
    N padding), lengths and label [batch].

Token ids: A=0, C=1, G=2, T=3, N=4 (`VOCAB_SIZE` = 5).

Heavy work (decompression, validation, index and token cache) happens in `prepare_data`, once per node;
`setup` then only reopens the cached files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from pipelines.genomes.fasta import Genome
from pipelines.genomes.labelled import (
    LabelledIntervals,
    LabelledSequences,
    pad_collate,
    read_bed,
    read_genomic_benchmark,
    sort_labels,
)
from pipelines.genomes.named import resolve_fasta
from pipelines.genomes.tokens import VOCAB_SIZE
from pipelines.genomes.windows import (
    SPLITS,
    GenomeWindows,
    NextBaseWindows,
    Strand,
    TokenSource,
    batch_loader,
    split_by_fraction,
    split_by_records,
)

TokenCache = Literal["disk", "memory", "none"]


def open_source(genome: Genome, token_cache: TokenCache) -> TokenSource:
    """Where windows are read from: the memory-mapped token cache ("disk", the default and fastest for
    random windows), an in-memory token array ("memory"), or pyfaidx directly ("none")."""
    if token_cache == "disk":
        return genome.token_store()
    if token_cache == "memory":
        return genome.token_store(in_memory=True)
    if token_cache == "none":
        return genome
    raise ValueError(f"token_cache must be 'disk', 'memory' or 'none', got {token_cache!r}")


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) indices: round(fraction * n) items of each class held out, chosen by `seed`."""
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held.append(members[: round(fraction * len(members))])
    out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), out)
    return kept, out


class _GenomeDataModule(L.LightningDataModule):
    """Shared loader settings."""

    def __init__(
        self, batch_size: int, eval_batch_size: int | None, num_workers: int, seed: int, pin_memory: bool
    ):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.pin_memory = pin_memory
        self.datasets: dict[str, Dataset] = {}
        self.collate_fn = None
        self.drop_last = False

    def _loader(self, split: str, *, train: bool) -> DataLoader:
        if not self.datasets:
            self.setup()
        if split not in self.datasets:
            raise ValueError(f"this data module has no {split} split")
        dataset = self.datasets[split]
        batch_size = self.batch_size if train else self.eval_batch_size
        if isinstance(dataset, GenomeWindows):  # whole batches in one vectorised read
            return batch_loader(
                dataset,
                batch_size,
                shuffle=train,
                drop_last=train and self.drop_last,
                seed=self.seed,
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
            )
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            generator=torch.Generator().manual_seed(self.seed) if train else None,
            drop_last=train and self.drop_last,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
            collate_fn=self.collate_fn,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)


class NextBaseDataModule(_GenomeDataModule):
    """Windows of a FASTA genome for next-base prediction, split by region fraction or by record.

    fasta: a FASTA path (plain, gzip, bgzip) or a named genome (see `named.NAMED_GENOMES`).
    context: input tokens per window (context + 1 bases are read). stride: bases between training
        window starts (default: context, no overlap); eval_stride likewise for val / test.
    split: "fraction" holds out the end of every record (val_fraction, then test_fraction of each);
        "records" puts whole records in val_records / test_records, the rest (or train_records) in train.
    strand: training windows' strand ("both" doubles the data with reverse complements);
        eval_strand for val / test.
    token_cache: "disk" (memory-mapped cache beside the FASTA), "memory", or "none" (pyfaidx reads).
    n_target: replace N targets by this value (e.g. -100 to ignore them in cross_entropy).
    """

    vocab_size = VOCAB_SIZE

    def __init__(
        self,
        fasta: str | Path,
        *,
        context: int = 512,
        stride: int | None = None,
        eval_stride: int | None = None,
        split: Literal["fraction", "records"] = "fraction",
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        val_records: Sequence[str] = (),
        test_records: Sequence[str] = (),
        train_records: Sequence[str] | None = None,
        strand: Strand = "+",
        eval_strand: Strand = "+",
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        token_cache: TokenCache = "disk",
        cache_dir: str | Path | None = None,
        n_target: int | None = None,
        cover_end: bool = False,
        drop_last: bool = True,
        pin_memory: bool = False,
        seed: int = 0,
    ):
        super().__init__(batch_size, eval_batch_size, num_workers, seed, pin_memory)
        if split not in ("fraction", "records"):
            raise ValueError(f"split must be 'fraction' or 'records', got {split!r}")
        if context < 1:
            raise ValueError(f"context must be >= 1, got {context}")
        self.save_hyperparameters()
        self.fasta = fasta
        self.context = context
        self.stride = stride or context
        self.eval_stride = eval_stride or context
        self.split = split
        self.fractions = (val_fraction, test_fraction)
        self.records = (train_records, tuple(val_records), tuple(test_records))
        self.strands = (strand, eval_strand)
        self.token_cache = token_cache
        self.cache_dir = cache_dir
        self.n_target = n_target
        self.cover_end = cover_end
        self.drop_last = drop_last
        self.genome: Genome | None = None

    def prepare_data(self) -> None:
        genome = Genome(resolve_fasta(self.fasta, self.cache_dir), cache_dir=self.cache_dir)
        if self.token_cache == "disk":
            genome.token_store()
        genome.close()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.genome = Genome(resolve_fasta(self.fasta, self.cache_dir), cache_dir=self.cache_dir)
        source = open_source(self.genome, self.token_cache)
        if self.split == "fraction":
            regions = split_by_fraction(
                self.genome.lengths, val_fraction=self.fractions[0], test_fraction=self.fractions[1]
            )
            wanted = {"train": True, "val": self.fractions[0] > 0, "test": self.fractions[1] > 0}
        else:
            train, val, test = self.records
            regions = split_by_records(self.genome.lengths, train=train, val=val, test=test)
            wanted = {"train": True, "val": bool(val), "test": bool(test)}
        for split in SPLITS:
            if not wanted[split]:
                continue
            dataset = NextBaseWindows(
                source,
                regions[split],
                context=self.context,
                stride=self.stride if split == "train" else self.eval_stride,
                strand=self.strands[0] if split == "train" else self.strands[1],
                cover_end=self.cover_end,
                n_target=self.n_target,
            )
            if len(dataset) == 0:
                bases = sum(len(r) for r in regions[split])
                raise ValueError(
                    f"the {split} split ({bases} bases) holds no window of {self.context + 1} bases; "
                    "use a shorter context or a larger split"
                )
            self.datasets[split] = dataset


class ClassificationDataModule(_GenomeDataModule):
    """Labelled sequences for classification, from BED intervals over a FASTA or a GenomicsBenchmarks folder.

    BED mode: fasta + train_bed (+ val_bed, test_bed); labels from `label_column` (4 = BED name).
    Benchmark mode: benchmark = the folder with train/ and test/.
    Without a val file (BED) or in benchmark mode, val is a stratified `val_fraction` of train, drawn
    with `seed`. strand: "both" adds the reverse complement of every training sequence.
    """

    def __init__(
        self,
        *,
        fasta: str | Path | None = None,
        train_bed: str | Path | None = None,
        val_bed: str | Path | None = None,
        test_bed: str | Path | None = None,
        label_column: int = 4,
        benchmark: str | Path | None = None,
        val_fraction: float = 0.1,
        strand: Strand = "+",
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        token_cache: TokenCache = "disk",
        cache_dir: str | Path | None = None,
        pin_memory: bool = False,
        seed: int = 0,
    ):
        super().__init__(batch_size, eval_batch_size, num_workers, seed, pin_memory)
        bed_mode = fasta is not None or train_bed is not None
        if bed_mode == (benchmark is not None):
            raise ValueError(
                "give either fasta and train_bed (BED mode) or benchmark (GenomicsBenchmarks folder)"
            )
        if bed_mode and (fasta is None or train_bed is None):
            raise ValueError("BED mode needs both fasta and train_bed")
        if bed_mode and strand != "+":
            raise ValueError(
                "strand augmentation is for benchmark mode; in BED mode use the strand column (6)"
            )
        if not 0 <= val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        self.save_hyperparameters()
        self.fasta, self.beds, self.label_column = fasta, (train_bed, val_bed, test_bed), label_column
        self.benchmark = benchmark
        self.val_fraction = val_fraction
        self.strand = strand
        self.token_cache = token_cache
        self.cache_dir = cache_dir
        self.collate_fn = pad_collate
        self.classes: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        if not self.classes:
            self.setup()
        return len(self.classes)

    def prepare_data(self) -> None:
        if self.fasta is not None:
            genome = Genome(resolve_fasta(self.fasta, self.cache_dir), cache_dir=self.cache_dir)
            if self.token_cache == "disk":
                genome.token_store()
            genome.close()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        if self.benchmark is not None:
            self._setup_benchmark()
        else:
            self._setup_bed()

    def _setup_bed(self) -> None:
        assert self.fasta is not None
        genome = Genome(resolve_fasta(self.fasta, self.cache_dir), cache_dir=self.cache_dir)
        source = open_source(genome, self.token_cache)
        train_bed, val_bed, test_bed = self.beds
        assert train_bed is not None
        train = read_bed(train_bed, genome.lengths, label_column=self.label_column)
        self.classes = sort_labels([iv.label for iv in train])

        def read(path: str | Path) -> LabelledIntervals:
            intervals = read_bed(path, genome.lengths, label_column=self.label_column, classes=self.classes)
            return LabelledIntervals(source, intervals, self.classes)

        train_set = LabelledIntervals(source, train, self.classes)
        if val_bed is not None:
            self.datasets["train"] = train_set
            self.datasets["val"] = read(val_bed)
        else:
            # Drawn at random: overlapping intervals may land in both splits; a val BED avoids that.
            kept, held = stratified_split(train_set.labels, self.val_fraction, self.seed)
            self.datasets["train"] = Subset(train_set, kept.tolist())
            if held.size:
                self.datasets["val"] = Subset(train_set, held.tolist())
        if test_bed is not None:
            self.datasets["test"] = read(test_bed)

    def _setup_benchmark(self) -> None:
        assert self.benchmark is not None
        bench = read_genomic_benchmark(self.benchmark)
        self.classes = bench.classes
        train = bench.splits["train"]
        labels = np.array([s.label for s in train], dtype=np.int64)
        kept, held = stratified_split(labels, self.val_fraction, self.seed)
        self.datasets["train"] = LabelledSequences([train[i] for i in kept], strand=self.strand)
        if held.size:
            self.datasets["val"] = LabelledSequences([train[i] for i in held])
        self.datasets["test"] = LabelledSequences(bench.splits["test"])
