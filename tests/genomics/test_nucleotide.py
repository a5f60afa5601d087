"""NucleotideLM and SequenceClassifier: token conventions, streaming, sampling and the exact
reverse-complement symmetries (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.models import NucleotideLM, SequenceClassifier
from app.models.metrics import bits_per_base
from app.models.nucleotide import COMPLEMENT, VOCAB, complement_channels, reverse_complement
from pipelines.genomes import tokens as genome_tokens

from .helpers import tiny_config

PRESET_SAMPLE = ("titans-lmm", "titans-mac", "titans-mag", "moneta", "memora", "swa")


def random_bases(batch: int, length: int, seed: int = 0, n_rate: float = 0.05) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 4, (batch, length), generator=generator)
    return torch.where(torch.rand(batch, length, generator=generator) < n_rate, 4, ids)


def lm(name: str = "titans-lmm", rc: bool = False, seed: int = 0) -> NucleotideLM:
    torch.manual_seed(seed)
    return NucleotideLM(tiny_config(name), rc_equivariant=rc).double()


def test_token_ids_and_complement_match_the_genome_pipeline():
    assert VOCAB == genome_tokens.VOCAB
    assert list(COMPLEMENT) == genome_tokens.COMPLEMENT_IDS.tolist()
    bases = random_bases(3, 17, seed=1)
    rc = reverse_complement(bases)
    for row in range(3):
        expected = genome_tokens.reverse_complement(bases[row].numpy().astype(np.uint8)).ids
        assert rc[row].tolist() == expected.tolist()


def test_reverse_complement_of_a_padded_batch_keeps_the_padding():
    bases = random_bases(3, 9, seed=2)
    lengths = torch.tensor([9, 4, 1])
    valid = torch.arange(9) < lengths[:, None]
    rc = reverse_complement(bases, valid)
    for row, n in enumerate(lengths.tolist()):
        assert rc[row, :n].tolist() == reverse_complement(bases[row : row + 1, :n])[0].tolist()
        assert rc[row, n:].tolist() == bases[row, n:].tolist()
    assert torch.equal(reverse_complement(rc, valid), bases)


@pytest.mark.parametrize("name", PRESET_SAMPLE)
def test_scoring_in_pieces_equals_one_pass(name):
    model = lm(name)
    bases = random_bases(1, 61, seed=3)[0]
    whole = model.score_stream([bases])
    pieces = model.score_stream([bases[:1], bases[1:14], bases[14:15], bases[15:40], bases[40:]])
    np.testing.assert_allclose(pieces.nats, whole.nats, rtol=1e-10, atol=1e-12)
    assert np.array_equal(pieces.scored, whole.scored)
    # and both equal the plain batch forward scored with the shared metric
    logits, _ = model(bases[None, :-1])
    assert whole.bits_per_base == pytest.approx(bits_per_base(logits, bases[None, 1:]), rel=1e-10)
    assert whole.count == int((bases[1:] < 4).sum())
    starts, bits = whole.bits_by_position(20)
    assert starts.tolist() == [1, 21, 41] and bits.shape == (3,)


def test_loss_matches_the_metric_and_skips_n_targets():
    model = lm()
    bases = random_bases(2, 30, seed=4)
    targets = bases[:, 1:].clone()
    targets[targets == 4] = -100  # the ignore index and N are both skipped
    loss = model.loss(bases[:, :-1], targets)
    logits, _ = model(bases[:, :-1])
    assert float(loss.detach()) / np.log(2) == pytest.approx(bits_per_base(logits, bases[:, 1:]), rel=1e-12)
    loss.backward()
    assert model.embed.weight.grad is not None


def test_generation_is_reproducible_greedy_at_zero_and_follows_temperature():
    model = lm(seed=1)
    prefix = random_bases(1, 12, seed=5, n_rate=0.0)[0]
    first = model.generate(prefix, 25, temperature=1.0, seed=3)
    assert first.shape == (25,) and int(first.max()) <= 3
    assert torch.equal(first, model.generate(prefix, 25, temperature=1.0, seed=3))
    assert not torch.equal(first, model.generate(prefix, 25, temperature=1.0, seed=4))
    # temperature 0: argmax at every step, fed back through the stream
    greedy = model.generate(prefix, 10, temperature=0)
    sequence = prefix.clone()
    for i in range(10):
        logits, _ = model(sequence[None])
        assert int(logits[0, -1].argmax()) == int(greedy[i])
        sequence = torch.cat([sequence, greedy[i : i + 1]])
    # first-step frequencies over a batch follow softmax(logits / T)
    logits, _ = model(prefix[None])
    batch = prefix.expand(3000, -1)
    for temperature in (0.3, 3.0):
        draws = model.generate(batch, 1, temperature=temperature, seed=0)[:, 0]
        expected = torch.softmax(logits[0, -1].detach() / temperature, -1).numpy()
        np.testing.assert_allclose(np.bincount(draws.numpy(), minlength=4) / 3000, expected, atol=0.03)


@pytest.mark.parametrize("name", ["titans-lmm", "titans-mac", "swa"])
def test_classifier_is_exactly_rc_invariant(name):
    torch.manual_seed(0)
    model = SequenceClassifier(tiny_config(name), num_classes=3, rc_equivariant=True).double()
    bases = random_bases(3, 20, seed=6)
    valid = torch.arange(20) < torch.tensor([[20], [13], [7]])
    logits = model(bases, valid)
    assert torch.equal(model(reverse_complement(bases, valid), valid), logits)
    # the plain classifier is not invariant, and padding never changes a row's logits
    plain = SequenceClassifier(tiny_config(name), num_classes=3).double()
    assert not torch.allclose(plain(reverse_complement(bases, valid), valid), plain(bases, valid))
    padded = bases.clone()
    padded[~valid] = 0
    torch.testing.assert_close(plain(padded, valid), plain(bases, valid), rtol=0, atol=1e-12)
    torch.testing.assert_close(plain(bases[1:2, :13]), plain(bases, valid)[1:2], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["titans-lmm", "titans-mag", "moneta"])
def test_language_model_strands_are_exactly_rc_equivariant(name):
    model = lm(name, rc=True)
    bases = random_bases(2, 23, seed=7)
    rc = reverse_complement(bases)
    forward, reverse = model.strand_logits(bases)
    forward_rc, reverse_rc = model.strand_logits(rc)
    assert torch.equal(forward_rc, complement_channels(reverse.flip(1)))
    assert torch.equal(reverse_rc, complement_channels(forward.flip(1)))
    sym = model.symmetric_logits(bases)
    assert sym.shape == (2, 21, 4)
    assert torch.equal(model.symmetric_logits(rc), complement_channels(sym.flip(1)))
    # the strand-averaged loss is invariant as well
    assert torch.equal(model.loss(rc[:, :-1], rc[:, 1:]), model.loss(bases[:, :-1], bases[:, 1:]))
    # the forward strand is the plain causal model; the reverse one predicts each base from its right
    # (another batch size may round differently, hence the tolerance)
    plain_logits, _ = model(bases[:, :-1])
    torch.testing.assert_close(forward, plain_logits, rtol=0, atol=1e-12)
    later, _ = model(rc[:, :-1])
    torch.testing.assert_close(reverse[:, 5], complement_channels(later[:, 23 - 2 - 5]), rtol=0, atol=1e-12)


def test_bad_input_is_reported():
    model = lm()
    with pytest.raises(ValueError, match=r"ids 0..4"):
        model(torch.tensor([[0, 5]]))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one base"):
        model.generate(torch.zeros(0, dtype=torch.long), 3)
    classifier = SequenceClassifier(tiny_config("swa"), num_classes=2)
    with pytest.raises(ValueError, match="right padding"):
        classifier(torch.zeros(1, 4, dtype=torch.long), torch.tensor([[False, True, True, True]]))
    with pytest.raises(ValueError, match="num_classes"):
        SequenceClassifier(tiny_config("swa"), num_classes=1)
