"""Bits per base: uniform = 2, certain and right = 0, N and ignored targets skipped, pieces add up."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from app.models.metrics import BitsPerBase, base_nats, bits_per_base


def test_uniform_model_scores_two_bits():
    targets = torch.randint(0, 4, (3, 257), generator=torch.Generator().manual_seed(0))
    uniform_logits = torch.zeros(3, 257, 4, dtype=torch.float64)
    assert bits_per_base(uniform_logits, targets) == pytest.approx(2.0, abs=1e-12)
    # log-probabilities work as well as logits, and numpy as well as torch
    uniform = np.full((257, 4), math.log(0.25))
    assert bits_per_base(uniform, targets[0].numpy()) == pytest.approx(2.0, abs=1e-12)


def test_certain_and_right_scores_zero_and_wrong_costs():
    targets = torch.tensor([0, 1, 2, 3, 3, 2])
    logits = torch.nn.functional.one_hot(targets, 4).double() * 50.0
    assert bits_per_base(logits, targets) < 1e-15
    p_right = 0.9
    probs = torch.full((6, 4), (1 - p_right) / 3, dtype=torch.float64)
    probs[torch.arange(6), targets] = p_right
    assert bits_per_base(probs.log(), targets) == pytest.approx(-math.log2(p_right), rel=1e-12)


def test_n_and_ignored_targets_are_not_scored():
    logits = torch.randn(1, 6, 4, dtype=torch.float64)
    targets = torch.tensor([[0, 4, 2, -100, 1, 4]])
    nats, scored = base_nats(logits, targets)
    assert scored.tolist() == [[True, False, True, False, True, False]]
    assert bool((nats[~scored] == 0).all())
    keep = scored[0]
    assert bits_per_base(logits, targets) == pytest.approx(bits_per_base(logits[:, keep], targets[:, keep]))
    assert math.isnan(bits_per_base(logits[:, [1]], targets[:, [1]]))  # nothing scored


def test_running_sum_equals_one_pass():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(1000, 4, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, 5, (1000,), generator=generator)
    running = BitsPerBase()
    for start in range(0, 1000, 137):
        running.update(logits[start : start + 137], targets[start : start + 137])
    assert running.compute() == pytest.approx(bits_per_base(logits, targets), rel=1e-12)
    assert running.count == int((targets < 4).sum())


def test_shape_and_dtype_errors():
    with pytest.raises(ValueError, match="same leading shape"):
        base_nats(torch.zeros(2, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        base_nats(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        base_nats(torch.zeros(2, 4), torch.zeros(2))
