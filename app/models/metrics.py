"""Bits per base: the one implementation every nucleotide model (neural or Markov) is scored with.

    bits = (sum over scored bases of -ln p(base)) / (number of scored bases) / ln 2

A model gives, for each predicted position, either logits or log-probabilities over the four bases
A, C, G, T (ids 0..3); `log_softmax` turns both into log-probabilities (it leaves log-probabilities
that already sum to one as they are, up to rounding). A target is scored when it is a base: targets
equal to N (id 4) or to any value outside 0..3 (e.g. cross-entropy's ignore index -100) are skipped,
because no model here predicts N. A uniform model scores exactly 2 bits per base; a model that is
certain and right scores 0.

`BitsPerBase` accumulates the same sum over many pieces (a chromosome scored in a streaming pass).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

N_BASES = 4
"""The predicted alphabet: A, C, G, T (token ids 0..3). N (id 4) is never predicted or scored."""

LN2 = math.log(2.0)


def _as_tensor(x: Tensor | np.ndarray) -> Tensor:
    return torch.from_numpy(np.asarray(x)) if isinstance(x, np.ndarray) else x


def base_nats(scores: Tensor | np.ndarray, targets: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
    """Per-position cross-entropy in nats and which positions are scored.

    scores: (..., 4) logits or log-probabilities over A, C, G, T; targets: (...) integer ids. Returns
    (nats, scored), both shaped like targets; nats is 0 where a position is not scored (its target is N
    or out of range), so `nats.sum()` is the total over scored bases.
    """
    scores, targets = _as_tensor(scores), _as_tensor(targets)
    if scores.shape[-1] != N_BASES or tuple(scores.shape[:-1]) != tuple(targets.shape):
        raise ValueError(
            f"base_nats: expected scores (..., 4) and targets (...) of the same leading shape; got "
            f"{tuple(scores.shape)} and {tuple(targets.shape)}"
        )
    if targets.is_floating_point():
        raise ValueError(f"base_nats: targets: expected integer token ids; got dtype {targets.dtype}")
    targets = targets.long()
    scored = (targets >= 0) & (targets < N_BASES)
    log_probs = F.log_softmax(scores, dim=-1)
    picked = log_probs.gather(-1, targets.clamp(0, N_BASES - 1).unsqueeze(-1)).squeeze(-1)
    nats = torch.where(scored, -picked, torch.zeros_like(picked))
    return nats, scored


def bits_per_base(scores: Tensor | np.ndarray, targets: Tensor | np.ndarray) -> float:
    """Mean cross-entropy over the scored bases, in bits (NaN when no base is scored)."""
    nats, scored = base_nats(scores, targets)
    count = int(scored.sum())
    if count == 0:
        return math.nan
    return float(nats.detach().double().sum()) / count / LN2


class BitsPerBase:
    """Running bits per base over many pieces: `update(scores, targets)`, then `compute()`.

    Sums in float64 in Python, so a whole chromosome adds up without loss.
    """

    def __init__(self) -> None:
        self.nats = 0.0
        self.count = 0

    def update(self, scores: Tensor | np.ndarray, targets: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
        """Add a piece; returns its per-position (nats, scored) as `base_nats` does."""
        nats, scored = base_nats(scores, targets)
        self.nats += float(nats.detach().double().sum())
        self.count += int(scored.sum())
        return nats, scored

    def add(self, nats: float, count: int) -> None:
        """Add a total already summed elsewhere (nats over `count` scored bases)."""
        self.nats += float(nats)
        self.count += int(count)

    def compute(self) -> float:
        """Bits per base so far (NaN before any base is scored)."""
        return self.nats / self.count / LN2 if self.count else math.nan


def nats_to_bits(nats: float | Tensor | np.ndarray):
    """Nats -> bits."""
    return nats / LN2
