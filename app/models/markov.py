"""Order-k Markov models of nucleotide sequences: the baseline for bits per base.

    model = MarkovModel(order=10).fit(train_ids)          # ids: A=0, C=1, G=2, T=3, N=4 (uint8)
    bits = model.bits_per_base(test_ids, prefix=train_ids[-10:])
    best = select_order(train_ids, valid_ids, max_order=16)  # picks k and the smoothing
    best.model, best.table                     # the chosen model; validation bits of every (k, smoothing)

Counts. For every order j = 0..k the model counts (context, next base) pairs, where the context is
the j bases before the predicted one, read as a base-4 number with the nearest base least
significant (so the order-(j - 1) context is the order-j context mod 4^(j - 1)). Small orders keep
dense count arrays (4^(j + 1) entries); larger ones keep the sorted distinct keys context * 4 + base
with their counts, looked up by binary search. That is exact (no hashing) for any order up to
`MAX_ORDER`, and its memory grows with the training length, not with 4^k. Counting is one
vectorised pass per order (`np.bincount` or `np.unique`), never a Python loop over bases.

N. A pair is counted only when the predicted base and its whole context are A, C, G or T. When
scoring, a position whose order-j context would contain N (or reach before the start of the
sequence) uses the longest clean context instead, the bases after the last N; targets that are N
are not scored (see app/models/metrics.py).

Smoothing (p_{-1}(b) = 1/4, then for j = 0..k, c_j the order-j context, n the counts):
- "interpolated" (default; absolute discounting interpolated with the lower order, the
  hierarchical Pitman-Yor / interpolated Kneser-Ney form without continuation counts):
      p_j(b | c_j) = (max(n(c_j, b) - d, 0) + (s_j + d u(c_j)) p_{j-1}(b | c_{j-1})) / (n(c_j) + s_j)
  with u(c_j) the number of distinct bases seen after c_j and s_j = s * g^j. An unseen context falls
  back to the lower order exactly; the strength s, its growth g per order and the discount d
  (0 <= d < 1) set how far a context's own counts are trusted. With one strength for all orders
  (g = 1), the few counts of high-order contexts are trusted far too much: on the pyrodigal
  chromosome (first 80% -> last 20%) order 12 scored 2.55 bits per base with s = 2, d = 0 and still
  2.12 with s = 4, d = 0.9, against 1.956 at order 6; with g = 2 it keeps improving up to order 12
  (1.952).
- "add-alpha": p_k(b | c_k) = (n(c_k, b) + s) / (n(c_k) + 4 s), from the longest available order.
`select_order` picks k, s and d on validation data; one scoring pass gives every k at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from .metrics import bits_per_base

N_ID = 4
"""The token id of N (A=0, C=1, G=2, T=3, N=4, as in pipelines.genomes.tokens)."""
MAX_ORDER = 28
"""Largest order: the keys context * 4 + base of 4^(k + 1) values must fit in int64."""
DENSE_LIMIT = 1 << 22
"""Orders with at most this many (context, base) pairs keep a dense count array."""

Smoothing = Literal["interpolated", "add-alpha"]
SMOOTHINGS = ("interpolated", "add-alpha")


class Prior(NamedTuple):
    """Smoothing settings: strength s > 0, its growth g >= 1 per order (s_j = s g^j) and the discount
    d in [0, 1). "add-alpha" uses s as alpha and ignores g and d."""

    strength: float = 1.0
    growth: float = 2.0
    discount: float = 0.5

    def check(self) -> Prior:
        s, g, d = self
        if not (isinstance(s, int | float) and math.isfinite(s) and s > 0):
            raise ValueError(f"MarkovModel.prior.strength: expected a number > 0; got {s!r}")
        if not (isinstance(g, int | float) and math.isfinite(g) and g >= 1):
            raise ValueError(f"MarkovModel.prior.growth: expected a number >= 1; got {g!r}")
        if not (isinstance(d, int | float) and 0 <= d < 1):
            raise ValueError(f"MarkovModel.prior.discount: expected a number in [0, 1); got {d!r}")
        return Prior(float(s), float(g), float(d))


DEFAULT_PRIORS = tuple(
    Prior(s, g, d) for s in (0.5, 1.0, 2.0) for g in (1.0, 2.0, 3.0) for d in (0.0, 0.5, 0.9)
)
"""The grid `select_order` searches by default (with every order)."""


def as_ids(ids, name: str = "ids") -> np.ndarray:
    """A 1-D uint8 array of token ids 0..4; raises ValueError naming `name` otherwise."""
    if hasattr(ids, "detach"):  # a torch tensor
        ids = ids.detach().cpu().numpy()
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of token ids; got shape {array.shape}")
    if array.size and (array.dtype.kind not in "iu" or int(array.min()) < 0 or int(array.max()) > N_ID):
        raise ValueError(f"{name}: expected token ids 0..4 (A, C, G, T, N); got values outside that range")
    return array.astype(np.uint8, copy=False)


def clean_run(ids: np.ndarray) -> np.ndarray:
    """For each position t, how many bases right before it are free of N (the usable context length)."""
    t = np.arange(len(ids), dtype=np.int64)
    last_n = np.maximum.accumulate(np.where(ids == N_ID, t, -1)) if len(ids) else t
    before = np.concatenate(([-1], last_n[:-1]))  # the last N strictly before t
    return t - 1 - before


def contexts(ids: np.ndarray, max_order: int):
    """Yield (j, c_j) for j = 0..max_order: c_j[t] = sum_{i=1..j} ids[t - i] * 4^(i - 1) (int64).

    Entries whose context reaches before the start or holds an N are meaningless; mask them with
    `clean_run(ids) >= j`.
    """
    wide = ids.astype(np.int64)
    c = np.zeros(len(ids), dtype=np.int64)
    yield 0, c
    for j in range(1, max_order + 1):
        c = c.copy()
        if j < len(ids):
            c[j:] += wide[:-j] * 4 ** (j - 1)
        yield j, c


@dataclass
class _Counts:
    """The (context, base) counts of one order: dense (4^(j + 1),) or sorted sparse keys and counts."""

    order: int
    dense: np.ndarray | None = None
    keys: np.ndarray | None = None
    counts: np.ndarray | None = None

    @classmethod
    def build(cls, order: int, keys: np.ndarray) -> _Counts:
        size = 4 ** (order + 1)
        if size <= DENSE_LIMIT:
            return cls(order, dense=np.bincount(keys, minlength=size).astype(np.int64))
        unique, counts = np.unique(keys, return_counts=True)
        return cls(order, keys=unique, counts=counts.astype(np.int64))

    def lookup(self, context: np.ndarray) -> np.ndarray:
        """Counts (m, 4) of the four bases after each context (m,)."""
        if self.dense is not None:
            return self.dense.reshape(-1, 4)[context]
        out = np.zeros((len(context), 4), dtype=np.int64)
        keys, counts = self.keys, self.counts
        if keys is None or not len(keys) or not len(context):
            return out
        # The entries of one context are adjacent (at most 4) and start where context * 4 would go.
        start = np.searchsorted(keys, context * 4)
        rows = np.arange(len(context))
        for offset in range(4):
            index = np.minimum(start + offset, len(keys) - 1)
            key = keys[index]
            hit = (key >> 2) == context
            out[rows[hit], key[hit] & 3] = counts[index[hit]]
        return out

    @property
    def nbytes(self) -> int:
        parts = (self.dense, self.keys, self.counts)
        return sum(part.nbytes for part in parts if part is not None)


@dataclass
class MarkovModel:
    """An order-k Markov model over A, C, G, T with smoothing (see the module docstring).

    order: k, 0..MAX_ORDER. smoothing: "interpolated" or "add-alpha". prior: the smoothing settings.
    """

    order: int
    smoothing: Smoothing = "interpolated"
    prior: Prior = Prior()
    tables: list[_Counts] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        order = self.order
        if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_ORDER:
            raise ValueError(f"MarkovModel.order: expected an integer in 0..{MAX_ORDER}; got {order!r}")
        if self.smoothing not in SMOOTHINGS:
            raise ValueError(
                f"MarkovModel.smoothing: expected one of {', '.join(SMOOTHINGS)}; got {self.smoothing!r}"
            )
        self.prior = Prior(*self.prior).check()

    # ------------------------------------------------------------------ fitting

    def fit(self, sequences) -> MarkovModel:
        """Count every order 0..k over one id array or a list of them (no context crosses two)."""
        if isinstance(sequences, np.ndarray) or hasattr(sequences, "detach"):
            sequences = [sequences]
        arrays = [as_ids(s, f"sequences[{i}]") for i, s in enumerate(sequences)]
        per_order: list[list[np.ndarray]] = [[] for _ in range(self.order + 1)]
        for ids in arrays:
            run = clean_run(ids)
            is_base = ids != N_ID
            wide = ids.astype(np.int64)
            for j, c in contexts(ids, self.order):
                keep = is_base & (run >= j)
                per_order[j].append(c[keep] * 4 + wide[keep])
        self.tables = [
            _Counts.build(j, np.concatenate(keys) if keys else np.zeros(0, np.int64))
            for j, keys in enumerate(per_order)
        ]
        return self

    @property
    def fitted(self) -> bool:
        return len(self.tables) == self.order + 1

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise ValueError("MarkovModel: not fitted; call fit(train_ids) first")

    def with_order(self, order: int, prior: Prior | None = None) -> MarkovModel:
        """The model truncated to a lower order (sharing the count tables), optionally another prior."""
        self._check_fitted()
        if not 0 <= order <= self.order:
            raise ValueError(f"MarkovModel.with_order: order: expected 0..{self.order}; got {order}")
        prior = self.prior if prior is None else prior
        return MarkovModel(order, self.smoothing, prior, self.tables[: order + 1])

    @property
    def nbytes(self) -> int:
        """Memory held by the count tables."""
        return sum(table.nbytes for table in self.tables)

    # ------------------------------------------------------------------ scoring

    def _probabilities(self, ids: np.ndarray, priors: Sequence[Prior]):
        """Yield (j, p) for j = 0..k: p (len(priors), T, 4), the order-j model's probabilities of each
        position given the bases before it in `ids`, for each prior (updated in place between yields)."""
        priors = [Prior(*prior).check() for prior in priors]
        run = clean_run(ids)
        p = np.full((len(priors), len(ids), 4), 0.25)
        for j, c in contexts(ids, self.order):
            available = np.flatnonzero(run >= j)
            counts = self.tables[j].lookup(c[available]).astype(np.float64)
            total = counts.sum(axis=1, keepdims=True)
            seen = (counts > 0).sum(axis=1, keepdims=True)
            for row, (strength, growth, discount) in enumerate(priors):
                if self.smoothing == "add-alpha":
                    p[row, available] = (counts + strength) / (total + 4 * strength)
                    continue
                s = strength * growth**j
                own = np.maximum(counts - discount, 0.0) if discount else counts
                p[row, available] = (own + (s + discount * seen) * p[row, available]) / (total + s)
            yield j, p

    def _final(self, ids: np.ndarray) -> np.ndarray:
        final = None
        for _, p in self._probabilities(ids, [self.prior]):
            final = p[0]
        assert final is not None
        return final

    def _with_prefix(self, ids, prefix) -> tuple[np.ndarray, int]:
        ids = as_ids(ids)
        if prefix is None or not self.order:
            return ids, 0
        prefix = as_ids(prefix, "prefix")[-self.order :]
        return np.concatenate([prefix, ids]), len(prefix)

    def log_probs(self, ids, prefix=None) -> np.ndarray:
        """Natural-log probabilities (T, 4) of A, C, G, T at each position of `ids`, given the bases
        before it; `prefix` (optional) holds bases that come right before `ids`, used as context only."""
        self._check_fitted()
        ids, start = self._with_prefix(ids, prefix)
        return np.log(self._final(ids)[start:])

    def bits_per_base(self, ids, prefix=None) -> float:
        """Bits per base over the A/C/G/T positions of `ids` (see `log_probs` for `prefix`)."""
        return bits_per_base(self.log_probs(ids, prefix), as_ids(ids).astype(np.int64))

    def bits_by_order(self, ids, priors: Sequence[Prior] | None = None, prefix=None) -> np.ndarray:
        """Bits per base of the models of order 0..k (columns) for each prior (rows; default: this
        model's own), all from one pass over `ids`."""
        self._check_fitted()
        priors = [self.prior] if priors is None else list(priors)
        ids, start = self._with_prefix(ids, prefix)
        targets = ids[start:].astype(np.int64)
        out = np.zeros((len(priors), self.order + 1))
        for j, p in self._probabilities(ids, priors):
            for row in range(len(priors)):
                out[row, j] = bits_per_base(np.log(p[row, start:]), targets)
        return out

    # ------------------------------------------------------------------ sampling

    def next_probs(self, context) -> np.ndarray:
        """p (4,) of the base after `context` (its last k bases are used; N cuts the context)."""
        self._check_fitted()
        context = as_ids(context, "context")[-self.order :] if self.order else np.zeros(0, np.uint8)
        return self._final(np.concatenate([context, np.zeros(1, np.uint8)]))[-1]

    def generate(
        self,
        prefix,
        length: int,
        temperature: float = 1.0,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Continue `prefix` by `length` sampled bases (uint8 ids 0..3; the prefix is not included).

        temperature scales the log-probabilities (p^(1 / temperature), renormalised); 0 takes the most
        likely base each step. `seed` (or a numpy `rng`) makes the draw reproducible. One base per
        step (a few binary searches each): thousands of bases per second.
        """
        self._check_fitted()
        if length < 0:
            raise ValueError(f"MarkovModel.generate: length: expected >= 0; got {length}")
        if not temperature >= 0:
            raise ValueError(f"MarkovModel.generate: temperature: expected >= 0; got {temperature}")
        rng = np.random.default_rng(seed) if rng is None else rng
        window = list(as_ids(prefix, "prefix")[-self.order :]) if self.order else []
        out = np.zeros(length, dtype=np.uint8)
        for i in range(length):
            p = self.next_probs(np.asarray(window, dtype=np.uint8))
            if temperature == 0:
                base = int(np.argmax(p))
            else:
                logits = np.log(p) / temperature
                q = np.exp(logits - logits.max())
                base = int(rng.choice(4, p=q / q.sum()))
            out[i] = base
            if self.order:
                window = (window + [base])[-self.order :]
        return out


@dataclass
class MarkovSelection:
    """The result of `select_order`: the chosen model (fitted on train) and every score tried.

    table[(k, prior)] = validation bits per base.
    """

    model: MarkovModel
    table: dict[tuple[int, Prior], float]

    @property
    def order(self) -> int:
        return self.model.order

    @property
    def bits(self) -> float:
        """The chosen model's validation bits per base."""
        return self.table[(self.model.order, self.model.prior)]

    def best_by_order(self) -> dict[int, tuple[float, Prior]]:
        """Each order's best validation bits per base and the prior that gave it."""
        best: dict[int, tuple[float, Prior]] = {}
        for (k, prior), bits in self.table.items():
            if k not in best or bits < best[k][0]:
                best[k] = (bits, prior)
        return best


def select_order(
    train,
    valid,
    max_order: int = 16,
    smoothing: Smoothing = "interpolated",
    priors: Sequence[Prior] = DEFAULT_PRIORS,
    valid_prefix=None,
    tolerance: float = 0.0,
) -> MarkovSelection:
    """Fit orders 0..max_order on `train` (an id array or a list) and pick the order and prior with
    the fewest bits per base on `valid`; ties go to the smaller order. `valid_prefix`: bases right
    before `valid`, used as context only. `tolerance` (bits per base): take the smallest order whose
    best score is within it of the overall best (with growing strengths the orders past the useful
    ones change the score only in the fifth decimal, and cost memory)."""
    priors = [Prior(*prior).check() for prior in priors]
    if smoothing == "add-alpha":  # only the strength matters
        priors = list(dict.fromkeys(Prior(prior.strength, 1.0, 0.0) for prior in priors))
    if not priors:
        raise ValueError("select_order: priors: expected at least one")
    full = MarkovModel(max_order, smoothing, priors[0]).fit(train)
    bits = full.bits_by_order(valid, priors, prefix=valid_prefix)
    table = {
        (k, prior): float(bits[row, k]) for row, prior in enumerate(priors) for k in range(max_order + 1)
    }
    best = min(table.values())
    k = min(key[0] for key, bits in table.items() if bits <= best + tolerance)
    prior = min((key[1] for key in table if key[0] == k), key=lambda p: table[(k, p)])
    return MarkovSelection(full.with_order(k, prior), table)
