"""The long-context benchmark's task generator plants what it says and scores what it should."""

from __future__ import annotations

import pytest
import torch

from benchmarks.recall_task import IGNORE, RecallTask, recall_accuracy

TASK = RecallTask(n_keys=12, n_values=10, n_distractors=7, pairs=6, queries=4)


def _sample(length: int, seed: int = 0, pair_start: int | None = None, batch: int = 16):
    return TASK.sample(batch, length, torch.Generator().manual_seed(seed), pair_start=pair_start)


def _pairs(tokens: torch.Tensor, start: int) -> dict[int, int]:
    """key -> value of the pair block starting at `start`, read back from the tokens."""
    block = tokens[start : start + 2 * TASK.pairs].tolist()
    return dict(zip(block[0::2], block[1::2], strict=True))


@pytest.mark.parametrize("length", [TASK.min_length, 64, 1000])
def test_layout_and_answers(length):
    batch = _sample(length)
    assert batch.tokens.shape == batch.targets.shape == (16, length)
    for row in range(16):
        tokens = batch.tokens[row]
        start = int(batch.pair_start[row])
        pairs = _pairs(tokens, start)
        # distinct planted keys, values from the value range
        assert len(pairs) == TASK.pairs
        assert all(0 <= key < TASK.n_keys for key in pairs)
        assert all(TASK.value_offset <= value < TASK.distractor_offset for value in pairs.values())
        # the query block ends the sequence: marker, a planted key, its value
        queries = tokens[length - 3 * TASK.queries :].view(TASK.queries, 3)
        assert (queries[:, 0] == TASK.marker).all()
        asked = queries[:, 1].tolist()
        assert len(set(asked)) == TASK.queries and all(key in pairs for key in asked)
        assert queries[:, 2].tolist() == [pairs[key] for key in asked]
        assert batch.answers[row].tolist() == [pairs[key] for key in asked]
        # scored exactly at the queried keys, with their values as targets
        scored = (batch.targets[row] != IGNORE).nonzero().flatten()
        assert scored.tolist() == batch.answer_positions[row].tolist()
        assert (tokens[scored] == queries[:, 1]).all()
        assert batch.targets[row, scored].tolist() == batch.answers[row].tolist()
        # everything else is a distractor, so the pair block is the answers' only source
        rest = torch.ones(length, dtype=torch.bool)
        rest[start : start + 2 * TASK.pairs] = False
        rest[length - 3 * TASK.queries :] = False
        assert ((tokens[rest] >= TASK.distractor_offset) & (tokens[rest] < TASK.marker)).all()


def test_pair_start_fixed_and_random():
    assert (_sample(200, pair_start=0).pair_start == 0).all()
    assert (_sample(200, pair_start=5).tokens[:, :5] >= TASK.distractor_offset).all()
    starts = _sample(200, batch=256).pair_start
    gap = 200 - TASK.min_length
    assert starts.min() >= 0 and starts.max() <= gap
    assert len(set(starts.tolist())) > 50  # spread over the gap, not one place


def test_reproducible_and_varied():
    a, b, c = _sample(100, seed=3), _sample(100, seed=3), _sample(100, seed=4)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.tokens, c.tokens)
    # values are drawn at random: across many sequences every value is used
    assert set(_sample(100, batch=64).answers.flatten().tolist()) == set(
        range(TASK.value_offset, TASK.distractor_offset)
    )


def test_vocabulary_and_chance():
    assert TASK.marker == 12 + 10 + 7 and TASK.vocab == TASK.marker + 1
    assert TASK.chance == pytest.approx(0.1)


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="length"):
        _sample(TASK.min_length - 1)
    with pytest.raises(ValueError, match="pair_start"):
        _sample(50, pair_start=50)
    with pytest.raises(ValueError, match="pairs"):
        RecallTask(n_keys=4, pairs=5, queries=4)
    with pytest.raises(ValueError, match="queries"):
        RecallTask(pairs=2, queries=3)


def test_recall_accuracy_counts_only_scored_positions():
    batch = _sample(60, batch=4)
    logits = torch.zeros(4, 60, TASK.vocab)
    # right answers at the scored positions, wrong everywhere else
    logits[..., TASK.marker] = 1.0
    rows = torch.arange(4).unsqueeze(1)
    logits[rows, batch.answer_positions, batch.answers] = 2.0
    assert recall_accuracy(logits, batch.targets) == (4 * TASK.queries, 4 * TASK.queries)
    logits[0, batch.answer_positions[0, 0], batch.answers[0, 0]] = 0.0  # one wrong
    assert recall_accuracy(logits, batch.targets) == (4 * TASK.queries - 1, 4 * TASK.queries)
