"""Small models learn: the LM a periodic sequence (about 0 bits per base) and a real genome slice
(below 2 bits, scored in one streaming pass); the classifier a planted motif, on either strand in the
reverse-complement-invariant mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.models import BackboneConfig, NucleotideLM, SequenceClassifier
from app.models.nucleotide import reverse_complement
from pipelines.genomes import Genome

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "pyrodigal_50kb.fa"
PERIOD = torch.tensor([0, 1, 2, 3, 3, 2, 0])  # ACGTTGA
MOTIF = torch.tensor([2, 0, 3, 3, 0, 1])  # GATTAC; its reverse complement GTAATC differs


def lm_config() -> BackboneConfig:
    return BackboneConfig.preset("titans-lmm", d_model=16, n_layers=1, memory={"chunk_size": 8})


def train_lm(model: NucleotideLM, sequence: torch.Tensor, steps: int, window: int, lr: float, seed: int = 0):
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        starts = torch.randint(0, len(sequence) - window - 1, (8,), generator=generator)
        batch = torch.stack([sequence[s : s + window + 1] for s in starts.tolist()])
        loss = model.loss(batch[:, :-1], batch[:, 1:])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return float(loss.detach())


def test_lm_learns_a_periodic_sequence():
    torch.manual_seed(0)
    model = NucleotideLM(lm_config())
    sequence = PERIOD.repeat(200)
    assert model.score_stream([sequence[:300]]).bits_per_base > 1.5  # near chance before training
    train_lm(model, sequence, steps=60, window=64, lr=1e-2)
    assert model.score_stream(torch.split(sequence[:500], 64)).bits_per_base < 0.1


def test_lm_on_a_real_genome_slice_streams_below_two_bits():
    with Genome(SAMPLE) as genome:
        ids = torch.from_numpy(genome.tokens(genome.names[0]).ids.astype(np.int64))
    train, held_out = ids[:40_000], ids[40_000:46_000]
    torch.manual_seed(0)
    model = NucleotideLM(lm_config())
    train_lm(model, train, steps=50, window=128, lr=3e-3)
    streamed = model.score_stream(torch.split(held_out, 1000))
    assert streamed.bits_per_base < 2.0
    one_pass = model.score_stream([held_out])
    np.testing.assert_allclose(streamed.nats, one_pass.nats, rtol=1e-4, atol=1e-5)  # float32
    model.memory_updates = False  # the ablation runs on the same weights
    assert np.isfinite(model.score_stream(torch.split(held_out, 1000)).bits_per_base)


def motif_batch(n: int, generator: torch.Generator, length: int, both_strands: bool):
    """Random bases; label 1 plants MOTIF (or, with both_strands, its reverse complement half the time)."""
    x = torch.randint(0, 4, (n, length), generator=generator)
    labels = torch.randint(0, 2, (n,), generator=generator)
    starts = torch.randint(0, length - len(MOTIF) + 1, (n,), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    rc_motif = reverse_complement(MOTIF[None])[0]
    for i in torch.nonzero(labels).flatten().tolist():
        motif = rc_motif if both_strands and flips[i] else MOTIF
        x[i, starts[i] : starts[i] + len(MOTIF)] = motif
    return x, labels


@pytest.mark.parametrize("rc", [False, True])
def test_classifier_learns_a_planted_motif(rc):
    torch.manual_seed(0)
    config = BackboneConfig.preset("titans-lmm", d_model=16, n_layers=1)
    model = SequenceClassifier(config, num_classes=2, rc_equivariant=rc)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(250):
        x, y = motif_batch(16, generator, 24, both_strands=rc)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    x, y = motif_batch(400, torch.Generator().manual_seed(1), 24, both_strands=rc)
    with torch.no_grad():
        accuracy = float((model(x).argmax(-1) == y).float().mean())
    assert accuracy > 0.9, accuracy
