"""Lightning DataModules: next-base windows and classification batches, and a one-step fit."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn

from pipelines.genomes.datamodules import ClassificationDataModule, NextBaseDataModule, stratified_split
from pipelines.genomes.tokens import VOCAB_SIZE, encode

from .genomes_helpers import fasta_text, make_benchmark, random_sequence, write_fasta, write_gzip

RNG = np.random.default_rng(23)
SEQS = {
    "r1": random_sequence(RNG, 2000, "ACGTacgt"),
    "r2": random_sequence(RNG, 800, "ACGTN"),
    "r3": "ACGT" * 100,
}


@pytest.fixture
def fasta(tmp_path):
    return write_gzip(tmp_path / "g.fa.gz", fasta_text(list(SEQS.items())))


def test_next_base_batches_by_fraction(fasta, tmp_path):
    dm = NextBaseDataModule(fasta, context=64, batch_size=8, val_fraction=0.1, test_fraction=0.2, seed=1)
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["tokens"].shape == batch["targets"].shape == batch["mask"].shape == (8, 64)
    assert batch["tokens"].dtype == torch.int64 and batch["mask"].dtype == torch.bool
    assert torch.equal(batch["tokens"][:, 1:], batch["targets"][:, :-1])
    names = dm.datasets["train"].record_names
    for row in range(8):
        name, start = names[int(batch["record"][row])], int(batch["start"][row])
        assert batch["tokens"][row].tolist() == encode(SEQS[name][start : start + 64]).ids.tolist()
    for split, lo, hi in (("val", 0.7, 0.8), ("test", 0.8, 1.0)):
        data = dm.datasets[split]
        for i in range(len(data)):
            region, start = data.index[i]
            length = len(SEQS[region.record])
            assert round(lo * length) <= start and start + 65 <= round(hi * length)
    assert dm.vocab_size == VOCAB_SIZE


def test_train_order_is_shuffled_reproducibly(fasta):
    def first_starts(seed):
        dm = NextBaseDataModule(fasta, context=32, batch_size=16, seed=seed)
        return next(iter(dm.train_dataloader()))["start"].tolist()

    assert first_starts(0) == first_starts(0)
    assert first_starts(0) != first_starts(1)


def test_next_base_by_record_with_both_strands(fasta):
    dm = NextBaseDataModule(
        fasta,
        context=50,
        split="records",
        val_records=["r2"],
        test_records=["r3"],
        strand="both",
        batch_size=4,
    )
    dm.setup()
    train, val, test = (dm.datasets[s] for s in ("train", "val", "test"))
    assert train.record_names == ["r1"] and val.record_names == ["r2"] and test.record_names == ["r3"]
    assert len(train) == 2 * len(train.index)  # reverse complements double the training windows
    assert len(val) == len(val.index)


def test_context_longer_than_a_split_is_a_clear_error(fasta):
    dm = NextBaseDataModule(fasta, context=300, val_fraction=0.1, test_fraction=0.1)
    with pytest.raises(ValueError, match="val split .* holds no window of 301 bases"):
        dm.setup()


class TinyNextBase(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB_SIZE, 8)
        self.head = nn.Linear(8, VOCAB_SIZE)

    def _loss(self, batch):
        logits = self.head(self.embed(batch["tokens"]))
        return nn.functional.cross_entropy(
            logits.flatten(0, 1), batch["targets"].flatten(), ignore_index=-100
        )

    def training_step(self, batch, _):
        return self._loss(batch)

    def validation_step(self, batch, _):
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_fit_runs_on_the_data_module(fasta):
    dm = NextBaseDataModule(fasta, context=32, batch_size=4, n_target=-100, token_cache="memory")
    trainer = L.Trainer(
        fast_dev_run=True,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    trainer.fit(TinyNextBase(), datamodule=dm)
    assert trainer.state.finished


def test_classification_from_bed(tmp_path):
    fasta = write_fasta(tmp_path / "g.fa", list(SEQS.items()))
    rows = [f"r1\t{i * 50}\t{i * 50 + 30 + i}\t{'yes' if i % 2 else 'no'}" for i in range(20)]
    (tmp_path / "train.bed").write_text("\n".join(rows) + "\n")
    (tmp_path / "test.bed").write_text("r2\t0\t40\tyes\nr3\t10\t50\tno\n")
    dm = ClassificationDataModule(
        fasta=fasta,
        train_bed=tmp_path / "train.bed",
        test_bed=tmp_path / "test.bed",
        val_fraction=0.2,
        batch_size=4,
    )
    dm.setup()
    assert dm.classes == ("no", "yes") and dm.num_classes == 2
    assert len(dm.datasets["train"]) == 16 and len(dm.datasets["val"]) == 4
    batch = next(iter(dm.test_dataloader()))
    assert batch["tokens"].shape == (2, 40) and batch["label"].tolist() == [1, 0]
    assert batch["tokens"][1].tolist() == encode(SEQS["r3"][10:50]).ids.tolist()
    train = next(iter(dm.train_dataloader()))
    assert train["valid"].sum(1).tolist() == train["lengths"].tolist()


def test_classification_from_genomic_benchmark(tmp_path):
    make_benchmark(tmp_path / "b", per_class=(10, 3))
    dm = ClassificationDataModule(benchmark=tmp_path / "b", val_fraction=0.2, strand="both", batch_size=5)
    dm.setup()
    assert dm.num_classes == 2
    assert len(dm.datasets["val"]) == 4  # 2 of each class
    assert len(dm.datasets["train"]) == 2 * 16  # both strands
    assert len(dm.datasets["test"]) == 6
    batch = next(iter(dm.val_dataloader()))
    assert set(batch) == {"tokens", "mask", "valid", "lengths", "label"}


def test_classification_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="either fasta and train_bed"):
        ClassificationDataModule()
    with pytest.raises(ValueError, match="needs both"):
        ClassificationDataModule(fasta=tmp_path / "g.fa")


def test_stratified_split_keeps_class_proportions():
    labels = np.array([0] * 50 + [1] * 10)
    kept, held = stratified_split(labels, 0.2, seed=3)
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(60))
    assert np.bincount(labels[held]).tolist() == [10, 2]
    assert np.array_equal(held, stratified_split(labels, 0.2, seed=3)[1])
