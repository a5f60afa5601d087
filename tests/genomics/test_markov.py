"""The order-k Markov baseline: exact counts, N handling, normalisation, periodic and iid limits,
order selection on data from a known chain, reproducible sampling."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from app.models.markov import DENSE_LIMIT, MarkovModel, Prior, clean_run, contexts, select_order

PERIOD = np.array([0, 1, 2, 3, 3, 2, 0], dtype=np.uint8)  # ACGTTGA: order 2 determines the next base


def periodic(length: int) -> np.ndarray:
    return np.resize(PERIOD, length)


def markov_chain(order: int, length: int, seed: int, concentration: float = 0.3) -> np.ndarray:
    """A sample of a random order-`order` chain (transition rows from a Dirichlet)."""
    rng = np.random.default_rng(seed)
    cumulative = rng.dirichlet(np.full(4, concentration), size=4**order).cumsum(1)
    uniform = rng.random(length)
    out = np.zeros(length, dtype=np.uint8)
    out[:order] = rng.integers(0, 4, order)
    context = 0
    for i in range(order):
        context = context * 4 + int(out[i])
    modulus = 4**order
    for t in range(order, length):
        base = min(int(np.searchsorted(cumulative[context], uniform[t])), 3)
        out[t] = base
        context = (context * 4 + base) % modulus
    return out


def test_counts_match_a_dictionary_for_dense_and_sparse_orders():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 4, 3000).astype(np.uint8)
    train[[100, 101, 2000]] = 4
    test = rng.integers(0, 4, 400).astype(np.uint8)
    test[:60] = train[:60]  # some long contexts are seen
    test[200] = 4
    model = MarkovModel(12).fit(train)
    assert model.tables[10].dense is not None and model.tables[11].dense is None  # both kinds covered
    assert 4**11 <= DENSE_LIMIT < 4**12
    run = clean_run(test)
    context_ids = dict(contexts(test, 12))
    for j in (0, 2, 10, 11, 12):
        counter = Counter(
            (tuple(train[t - j : t]), int(train[t]))
            for t in range(j, len(train))
            if 4 not in train[t - j : t + 1]
        )
        for t in range(len(test)):
            if run[t] < j:
                continue
            got = model.tables[j].lookup(context_ids[j][t : t + 1])[0]
            expected = [counter[(tuple(test[t - j : t]), base)] for base in range(4)]
            assert got.tolist() == expected, (j, t)


def test_clean_run_stops_at_n_and_the_start():
    ids = np.array([0, 1, 4, 2, 3, 1, 4, 4, 0], dtype=np.uint8)
    assert clean_run(ids).tolist() == [0, 1, 2, 0, 1, 2, 3, 0, 0]


@pytest.mark.parametrize("smoothing", ["interpolated", "add-alpha"])
def test_probabilities_are_normalised_and_n_is_not_scored(smoothing):
    rng = np.random.default_rng(1)
    train = rng.integers(0, 5, 5000).astype(np.uint8)
    test = rng.integers(0, 5, 500).astype(np.uint8)
    model = MarkovModel(5, smoothing).fit(train)
    log_p = model.log_probs(test)
    assert log_p.shape == (500, 4)
    np.testing.assert_allclose(np.exp(log_p).sum(1), 1.0, atol=1e-12)
    keep = test != 4
    expected = -log_p[np.flatnonzero(keep), test[keep]].mean() / math.log(2)
    assert model.bits_per_base(test) == pytest.approx(expected, rel=1e-12)


def test_prefix_gives_context_to_the_first_bases():
    ids = periodic(3000)
    model = MarkovModel(4).fit(ids[:2000])
    with_prefix = model.log_probs(ids[2000:], prefix=ids[:2000])
    np.testing.assert_allclose(with_prefix, model.log_probs(ids)[2000:], atol=1e-15)


def test_periodic_sequence_costs_about_zero_bits():
    ids = periodic(5000)
    model = MarkovModel(6).fit(ids[:4000])
    assert model.bits_per_base(ids[4000:], prefix=ids[:4000]) < 0.01
    assert MarkovModel(0).fit(ids[:4000]).bits_per_base(ids[4000:]) > 1.8  # order 0 cannot know it


def test_iid_uniform_bases_cost_two_bits():
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 4, 60_000).astype(np.uint8)
    model = MarkovModel(3).fit(ids[:50_000])
    assert model.bits_per_base(ids[50_000:]) == pytest.approx(2.0, abs=0.01)


@pytest.mark.parametrize("true_order", [2, 3])
def test_selection_picks_the_true_order(true_order):
    ids = markov_chain(true_order, 120_000, seed=true_order)
    selection = select_order(ids[:100_000], ids[100_000:], max_order=6, valid_prefix=ids[:100_000])
    assert selection.order == true_order, selection.best_by_order()
    assert selection.bits == min(selection.table.values())
    assert selection.model.fitted and len(selection.model.tables) == true_order + 1
    # one pass over the orders gives what separately truncated models give
    bits, prior = selection.best_by_order()[4]
    truncated = selection.model
    full = MarkovModel(6, prior=prior).fit(ids[:100_000]).with_order(4)
    assert full.bits_per_base(ids[100_000:], prefix=ids[:100_000]) == pytest.approx(bits, rel=1e-12)
    assert truncated.bits_per_base(ids[100_000:], prefix=ids[:100_000]) == pytest.approx(
        selection.bits, rel=1e-12
    )


def test_tolerance_prefers_smaller_orders():
    ids = markov_chain(3, 60_000, seed=6)
    exact = select_order(ids[:50_000], ids[50_000:], max_order=5)
    loose = select_order(ids[:50_000], ids[50_000:], max_order=5, tolerance=10.0)
    assert exact.order == 3 and loose.order == 0
    assert loose.bits == min(bits for (k, _), bits in loose.table.items() if k == 0)


def test_add_alpha_selection_also_finds_the_order():
    ids = markov_chain(2, 60_000, seed=5)
    selection = select_order(ids[:50_000], ids[50_000:], max_order=5, smoothing="add-alpha")
    assert selection.order == 2


def test_generation_is_reproducible_and_follows_temperature():
    ids = periodic(700)
    model = MarkovModel(3).fit(ids)
    greedy = model.generate(ids[:10], 40, temperature=0)
    np.testing.assert_array_equal(greedy, periodic(50)[10:])  # argmax continues the period
    rng = np.random.default_rng(3)
    noisy = markov_chain(1, 20_000, seed=4)
    model = MarkovModel(1).fit(noisy)
    first = model.generate(noisy[:5], 200, temperature=1.0, seed=7)
    np.testing.assert_array_equal(first, model.generate(noisy[:5], 200, temperature=1.0, seed=7))
    assert not np.array_equal(first, model.generate(noisy[:5], 200, temperature=1.0, seed=8))
    assert set(np.unique(first)) <= {0, 1, 2, 3}
    # the empirical next-base frequencies after a fixed context follow p^(1/T), renormalised
    context = noisy[:1]
    p = model.next_probs(context)
    for temperature in (0.5, 2.0):
        draws = np.array([model.generate(context, 1, temperature, rng=rng)[0] for _ in range(4000)])
        q = p ** (1 / temperature)
        np.testing.assert_allclose(np.bincount(draws, minlength=4) / 4000, q / q.sum(), atol=0.03)


def test_bad_input_and_settings_are_reported():
    with pytest.raises(ValueError, match="order"):
        MarkovModel(40)
    with pytest.raises(ValueError, match="smoothing"):
        MarkovModel(2, "kneser")
    with pytest.raises(ValueError, match="discount"):
        MarkovModel(2, prior=Prior(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="not fitted"):
        MarkovModel(2).log_probs(np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="0..4"):
        MarkovModel(2).fit(np.array([0, 1, 7], dtype=np.uint8))
    with pytest.raises(ValueError, match="1-D"):
        MarkovModel(2).fit(np.zeros((2, 3), np.uint8))
