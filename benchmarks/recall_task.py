"""Multi-query associative recall in a long distractor stream (the task of benchmarks/long_context.py).

    task = RecallTask(pairs=8)
    batch = task.sample(batch=4, length=128, generator=torch.Generator().manual_seed(0))
    batch.tokens   # (4, 128) token ids
    batch.targets  # (4, 128): the value to predict after each queried key, IGNORE elsewhere

A sequence is

    [distractors] k_1 v_1 ... k_P v_P [distractors] Q k_a v_a  Q k_b v_b ... (`queries` of them)

The P keys are distinct, each pair's value is drawn at random, and the queries ask distinct planted
keys in random order. At the position of a queried key the model must output that key's value (the
next token), so the value's only source is the pair planted far back: keys, values and distractors
come from disjoint ranges of the vocabulary, and a queried key never appears between its pair and its
query. The query block ends the sequence; `pair_start` puts the pair block at a fixed offset (0: the
start of the stream, the evaluation layout), otherwise it lands uniformly at random anywhere before
the queries (the training layout, so the gap between pairs and queries varies from 0 to its most).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

IGNORE = -100  # target of the positions that are not scored (cross_entropy's ignore_index)


@dataclass(frozen=True)
class RecallBatch:
    """tokens, targets: (B, T). `answers` (B, queries) lists the expected values in query order and
    `answer_positions` (B, queries) the positions whose next-token prediction is scored."""

    tokens: Tensor
    targets: Tensor
    answers: Tensor
    answer_positions: Tensor
    pair_start: Tensor  # (B,) where each pair block starts


@dataclass(frozen=True)
class RecallTask:
    """Vocabulary: keys [0, n_keys), values [n_keys, n_keys + n_values), distractors after them, then
    the query marker (the last id). Chance accuracy is 1 / n_values."""

    n_keys: int = 16
    n_values: int = 16
    n_distractors: int = 16
    pairs: int = 8
    queries: int = 8

    def __post_init__(self) -> None:
        for name in ("n_keys", "n_values", "n_distractors", "pairs", "queries"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"RecallTask.{name}: expected an integer >= 1; got {value!r}")
        if self.pairs > self.n_keys:
            raise ValueError(
                f"RecallTask.pairs: {self.pairs} distinct keys need n_keys >= pairs; got n_keys={self.n_keys}"
            )
        if self.queries > self.pairs:
            raise ValueError(
                f"RecallTask.queries: at most one query per pair ({self.pairs}); got {self.queries}"
            )

    @property
    def value_offset(self) -> int:
        return self.n_keys

    @property
    def distractor_offset(self) -> int:
        return self.n_keys + self.n_values

    @property
    def marker(self) -> int:
        return self.n_keys + self.n_values + self.n_distractors

    @property
    def vocab(self) -> int:
        return self.marker + 1

    @property
    def chance(self) -> float:
        return 1.0 / self.n_values

    @property
    def min_length(self) -> int:
        """The pair block and the query block with no distractors between them."""
        return 2 * self.pairs + 3 * self.queries

    def sample(
        self, batch: int, length: int, generator: torch.Generator, pair_start: int | None = None
    ) -> RecallBatch:
        """`batch` sequences of `length` tokens (see the module docstring)."""
        if length < self.min_length:
            raise ValueError(
                f"RecallTask.sample: length: {self.pairs} pairs and {self.queries} queries need at "
                f"least {self.min_length} tokens; got {length}"
            )
        gap = length - self.min_length  # distractor tokens in each sequence
        if pair_start is not None and not 0 <= pair_start <= gap:
            raise ValueError(f"RecallTask.sample: pair_start: expected 0..{gap}; got {pair_start}")
        tokens = self.distractor_offset + torch.randint(
            0, self.n_distractors, (batch, length), generator=generator
        )
        keys = torch.rand(batch, self.n_keys, generator=generator).argsort(dim=1)[:, : self.pairs]
        values = self.value_offset + torch.randint(0, self.n_values, (batch, self.pairs), generator=generator)
        if pair_start is None:
            starts = torch.randint(0, gap + 1, (batch,), generator=generator)
        else:
            starts = torch.full((batch,), pair_start, dtype=torch.long)
        rows = torch.arange(batch).unsqueeze(1)
        pair_positions = starts.unsqueeze(1) + 2 * torch.arange(self.pairs)
        tokens[rows, pair_positions] = keys
        tokens[rows, pair_positions + 1] = values
        # Which pairs are asked, in which order: a random permutation's first `queries` entries.
        asked = torch.rand(batch, self.pairs, generator=generator).argsort(dim=1)[:, : self.queries]
        query_start = length - 3 * self.queries
        marker_positions = query_start + 3 * torch.arange(self.queries).expand(batch, -1)
        tokens[rows, marker_positions] = self.marker
        tokens[rows, marker_positions + 1] = keys.gather(1, asked)
        answers = values.gather(1, asked)
        tokens[rows, marker_positions + 2] = answers
        targets = torch.full((batch, length), IGNORE, dtype=torch.long)
        targets[rows, marker_positions + 1] = answers
        return RecallBatch(tokens, targets, answers, marker_positions + 1, starts)


def recall_accuracy(logits: Tensor, targets: Tensor) -> tuple[int, int]:
    """(right, scored): argmax over the whole vocabulary at the scored positions of `targets`."""
    scored = targets != IGNORE
    right = (logits.argmax(dim=-1)[scored] == targets[scored]).sum().item()
    return int(right), int(scored.sum().item())
