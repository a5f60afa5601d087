"""Nucleotide models over a `Backbone`: a next-base language model and a sequence classifier.

    lm = NucleotideLM(BackboneConfig.preset("titans-lmm", d_model=64, n_layers=2))
    logits, state = lm(tokens)              # tokens (B, T): ids A=0, C=1, G=2, T=3, N=4
    logits2, state = lm(more_tokens, state) # continues the stream (a chromosome scored in pieces)
    score = lm.score_stream(pieces)         # per-base nats of a whole sequence, bounded memory
    sampled = lm.generate(prefix, 100, temperature=0.8, seed=0)

    clf = SequenceClassifier(config, num_classes=2)
    class_logits = clf(tokens, valid)       # valid (B, T): real positions (right padding)

Token ids follow pipelines.genomes.tokens (A=0, C=1, G=2, T=3, N=4; app.models never imports
pipelines, so they are repeated here and a test holds them equal).

N. The input embedding has a row for N (an unknown base is still a position, and the model may learn
what an N run means). The next-base head predicts only A, C, G, T: N is not a base a model should
spend probability on, and bits per base (app/models/metrics.py) skip N targets. Sampling therefore
never emits N.

Alignment. `forward(tokens)` returns logits (B, T, 4) where logits[:, t] is the distribution of the
base after tokens[:, t] (the NextBaseWindows convention: tokens = bases[:-1], targets = bases[1:]).

Reverse-complement symmetry (`rc_equivariant=True`). With rc(x)_s = comp(x_{T-1-s}) and P the
complement permutation of the four output channels (A<->T, C<->G):

- SequenceClassifier: invariance. logits(x) = (f(x) + f(rc(x))) / 2, so logits(rc(x)) = logits(x)
  exactly (the same two terms, added in the other order).
- NucleotideLM. A causal model cannot be exactly equivariant under rc in the per-position sense:
  the - strand is read in the opposite direction, so its prediction of a base uses the bases after
  it on the + strand. The equivariant mode therefore defines three things, all exact:
  1. the training loss averages both strands, each read 5' -> 3' as a causal problem:
     loss(x) = (loss_+(x) + loss_+(rc(x))) / 2, so loss(rc(x)) = loss(x);
  2. `strand_logits(x)` -> (forward, reverse): forward[:, j] predicts base x_{j+1} from x_{<=j} (the
     + strand), reverse[:, j] predicts base x_j from x_{>j} (the - strand's causal prediction of
     comp(x_j), mapped back to + coordinates and complemented); so
     strand_logits(rc(x)) = (P flip(reverse(x)), P flip(forward(x)));
  3. `symmetric_logits(x)` (B, T - 2, 4): for bases 1..T-2, the average of both strands' logits,
     sym(rc(x)) = P flip(sym(x)) exactly. Each base is predicted without seeing itself but from both
     sides, so it is a strand-symmetric per-base predictor, not a causal one: its bits are not a
     code length and must not be compared with causal bits per base (the Markov baseline, `forward`).
  `forward`, streaming and `generate` stay the causal + strand model in either mode.

Test-time memory updates: `model.memory_updates = False` turns the inner-loop writes off (see
app/models/ablation.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .ablation import memory_updates_enabled, set_memory_updates
from .backbone import Backbone, BackboneState
from .config import BackboneConfig
from .metrics import LN2, N_BASES, base_nats

VOCAB = ("A", "C", "G", "T", "N")
VOCAB_SIZE = len(VOCAB)
A_ID, C_ID, G_ID, T_ID, N_ID = range(VOCAB_SIZE)
COMPLEMENT = (T_ID, G_ID, C_ID, A_ID, N_ID)
"""Complement of each token id (N stays N)."""
CHANNEL_COMPLEMENT = (3, 2, 1, 0)
"""The permutation P of the A, C, G, T output channels that complements a prediction."""


def _check_tokens(name: str, tokens: Tensor) -> None:
    if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
        shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
        raise ValueError(f"{name}: tokens: expected integer ids of shape (B, T); got {shape}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= VOCAB_SIZE):
        raise ValueError(f"{name}: tokens: expected ids 0..4 (A, C, G, T, N); got values outside that range")


def reverse_complement(tokens: Tensor, valid: Tensor | None = None) -> Tensor:
    """Reverse complement of each row of token ids (B, T); with `valid` (B, T) marking a right-padded
    batch, each row's valid prefix is reversed in place and the padding stays at the end."""
    complement = torch.tensor(COMPLEMENT, dtype=tokens.dtype, device=tokens.device)
    if valid is None:
        return complement[tokens.flip(-1)]
    lengths = valid.sum(-1, keepdim=True)
    positions = torch.arange(tokens.shape[-1], device=tokens.device).expand_as(tokens)
    source = torch.where(valid, lengths - 1 - positions, positions)
    flipped = tokens.gather(-1, source)
    return torch.where(valid, complement[flipped], tokens)


def complement_channels(logits: Tensor) -> Tensor:
    """P: the prediction for the complementary base in each channel (A<->T, C<->G)."""
    return logits[..., list(CHANNEL_COMPLEMENT)]


def _check_valid(name: str, tokens: Tensor, valid: Tensor | None) -> Tensor:
    if valid is None:
        return torch.ones_like(tokens, dtype=torch.bool)
    if valid.shape != tokens.shape or valid.dtype != torch.bool:
        raise ValueError(
            f"{name}: valid: expected a bool mask shaped like tokens {tuple(tokens.shape)}; got "
            f"{tuple(valid.shape)} {valid.dtype}"
        )
    lengths = valid.sum(-1, keepdim=True)
    prefix = torch.arange(tokens.shape[-1], device=tokens.device) < lengths
    if not torch.equal(prefix, valid):
        raise ValueError(f"{name}: valid: expected right padding (each row's real positions first)")
    if bool((lengths == 0).any()):
        raise ValueError(f"{name}: valid: every sequence needs at least one real position")
    return valid


class _MemorySwitch:
    """`memory_updates`: whether the neural memories write at test time (see app/models/ablation.py)."""

    @property
    def memory_updates(self) -> bool:
        return memory_updates_enabled(self)  # type: ignore[arg-type]

    @memory_updates.setter
    def memory_updates(self, enabled: bool) -> None:
        set_memory_updates(self, bool(enabled))  # type: ignore[arg-type]


@dataclass
class StreamScore:
    """Per-base scores of one sequence scored in a streaming pass (`NucleotideLM.score_stream`).

    nats: float64 (T - 1,): cross-entropy of bases 1..T-1 (base 0 has no context), 0 where not scored.
    scored: bool (T - 1,): the target was A, C, G or T (N is not scored).
    state: the stream state after the last base, to continue the stream.
    """

    nats: np.ndarray
    scored: np.ndarray
    state: BackboneState | None

    @property
    def count(self) -> int:
        return int(self.scored.sum())

    @property
    def bits_per_base(self) -> float:
        return float(self.nats.sum()) / self.count / LN2 if self.count else float("nan")

    def bits_by_position(self, bin_size: int) -> tuple[np.ndarray, np.ndarray]:
        """(start, bits per base) of consecutive bins of `bin_size` predicted positions (bin i covers
        bases 1 + i * bin_size ..); a bin without a scored base gives NaN."""
        if bin_size < 1:
            raise ValueError(f"StreamScore.bits_by_position: bin_size: expected >= 1; got {bin_size}")
        starts = np.arange(0, len(self.nats), bin_size)
        nats = np.add.reduceat(self.nats, starts) if len(starts) else np.zeros(0)
        counts = np.add.reduceat(self.scored.astype(np.int64), starts) if len(starts) else np.zeros(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            bits = np.where(counts > 0, nats / np.maximum(counts, 1) / LN2, np.nan)
        return starts + 1, bits


class NucleotideLM(_MemorySwitch, nn.Module):
    """Next-base language model: token embedding (A, C, G, T, N) -> Backbone -> logits over A, C, G, T.

    See the module docstring for N handling, alignment and the reverse-complement mode.
    """

    def __init__(self, config: BackboneConfig, rc_equivariant: bool = False):
        super().__init__()
        if not isinstance(config, BackboneConfig):
            raise ValueError(f"NucleotideLM: config: expected a BackboneConfig; got {type(config).__name__}")
        self.config = config
        self.rc_equivariant = bool(rc_equivariant)
        self.embed = nn.Embedding(VOCAB_SIZE, config.d_model)
        self.backbone = Backbone(config)
        self.head = nn.Linear(config.d_model, N_BASES)

    def initial_state(self, batch: int) -> BackboneState:
        return self.backbone.initial_state(batch)

    def forward(self, tokens: Tensor, state: BackboneState | None = None) -> tuple[Tensor, BackboneState]:
        """tokens (B, T) -> logits (B, T, 4) of the base after each token, and the stream state."""
        _check_tokens("NucleotideLM", tokens)
        hidden, state = self.backbone(self.embed(tokens), state)
        return self.head(hidden), state

    # ------------------------------------------------------------------ training and scoring

    def strand_nats(self, tokens: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """Per-position (nats, scored) of `targets` (B, T) after `tokens` (B, T) on the + strand."""
        logits, _ = self(tokens)
        return base_nats(logits, targets)

    def loss(self, tokens: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy (nats) over the scored targets; targets (B, T) are the next bases, N or
        any id outside 0..3 (e.g. -100) not scored. With `rc_equivariant` the mean of both strands'
        losses, the - strand built from bases = tokens followed by the last target."""
        nats, scored = self.strand_nats(tokens, targets)
        loss = nats.sum() / scored.sum().clamp(min=1)
        if not self.rc_equivariant:
            return loss
        last = targets[:, -1:]
        last = torch.where((last >= 0) & (last < N_BASES), last, torch.full_like(last, N_ID))
        bases = reverse_complement(torch.cat([tokens, last], dim=1))
        nats_rc, scored_rc = self.strand_nats(bases[:, :-1], bases[:, 1:])
        return (loss + nats_rc.sum() / scored_rc.sum().clamp(min=1)) / 2

    def strand_logits(self, bases: Tensor) -> tuple[Tensor, Tensor]:
        """Both strands' causal predictions of the bases of `bases` (B, T), in + coordinates.

        forward (B, T - 1, 4): logits of bases[:, 1:], each from the bases before it (+ strand);
        reverse (B, T - 1, 4): logits of bases[:, :-1], each from the bases after it (- strand read
        5' -> 3', complemented back). Both strands run as one batch.
        """
        _check_tokens("NucleotideLM.strand_logits", bases)
        batch = bases.shape[0]
        both = torch.cat([bases, reverse_complement(bases)], dim=0)
        logits, _ = self(both[:, :-1])
        forward, backward = logits[:batch], logits[batch:]
        return forward, complement_channels(backward.flip(1))

    def symmetric_logits(self, bases: Tensor) -> Tensor:
        """(B, T - 2, 4): for bases 1..T-2, the mean of the + and - strand logits (strand-symmetric,
        not causal; see the module docstring). sym(rc(x)) = P flip(sym(x))."""
        forward, reverse = self.strand_logits(bases)
        return (forward[:, :-1] + reverse[:, 1:]) / 2

    @torch.no_grad()
    def score_stream(
        self, pieces: Iterable[Tensor | np.ndarray], state: BackboneState | None = None
    ) -> StreamScore:
        """Score one long sequence fed as consecutive 1-D pieces of token ids, carrying the stream
        state (and the last logits, which predict the next piece's first base).

        Memory stays bounded by the piece length (plus 8 bytes of score per base). Passing `state` (and
        leaving base 0 of the first piece unscored) continues an earlier stream.
        """
        nats_parts, scored_parts = [], []
        previous: Tensor | None = None  # logits after the last base of the previous piece
        device = next(self.parameters()).device
        for piece in pieces:
            ids = torch.as_tensor(np.asarray(piece) if isinstance(piece, np.ndarray) else piece)
            if ids.dim() != 1:
                raise ValueError(
                    f"NucleotideLM.score_stream: expected 1-D pieces; got shape {tuple(ids.shape)}"
                )
            if not len(ids):
                continue
            ids = ids.to(device=device, dtype=torch.long)[None]
            logits, state = self(ids, state)
            if previous is not None:
                scores = torch.cat([previous, logits[:, :-1]], dim=1)
                targets = ids
            else:
                scores, targets = logits[:, :-1], ids[:, 1:]
            nats, scored = base_nats(scores.double(), targets)
            nats_parts.append(nats[0].cpu().numpy())
            scored_parts.append(scored[0].cpu().numpy())
            previous = logits[:, -1:]
        nats_all = np.concatenate(nats_parts) if nats_parts else np.zeros(0)
        scored_all = np.concatenate(scored_parts) if scored_parts else np.zeros(0, dtype=bool)
        return StreamScore(nats_all, scored_all, state)

    # ------------------------------------------------------------------ sampling

    @torch.no_grad()
    def generate(
        self,
        prefix: Tensor | np.ndarray,
        length: int,
        temperature: float = 1.0,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Continue `prefix` ((T,) or (B, T) ids, T >= 1) by `length` sampled bases, one streaming step
        each; returns only the new bases ((length,) or (B, length), ids 0..3).

        temperature divides the logits; 0 takes the most likely base (argmax). `seed` (or a CPU
        `generator`) makes the draw reproducible; sampling happens on the CPU.
        """
        prefix = torch.as_tensor(prefix).long()
        single = prefix.dim() == 1
        if single:
            prefix = prefix[None]
        _check_tokens("NucleotideLM.generate", prefix)
        if prefix.shape[1] < 1:
            raise ValueError("NucleotideLM.generate: prefix: expected at least one base")
        if length < 0:
            raise ValueError(f"NucleotideLM.generate: length: expected >= 0; got {length}")
        if not temperature >= 0:
            raise ValueError(f"NucleotideLM.generate: temperature: expected >= 0; got {temperature}")
        if generator is None:
            generator = torch.Generator()
            if seed is not None:
                generator.manual_seed(seed)
            else:
                generator.seed()
        device = next(self.parameters()).device
        logits, state = self(prefix.to(device))
        out = torch.zeros(prefix.shape[0], length, dtype=torch.long)
        for i in range(length):
            last = logits[:, -1].double().cpu()
            if temperature == 0:
                base = last.argmax(-1)
            else:
                probs = torch.softmax(last / temperature, dim=-1)
                base = torch.multinomial(probs, 1, generator=generator)[:, 0]
            out[:, i] = base
            if i + 1 < length:
                logits, state = self(base[:, None].to(device), state)
        return out[0] if single else out


class SequenceClassifier(_MemorySwitch, nn.Module):
    """Sequence classifier: embedding -> Backbone -> mean over the valid positions -> class logits.

    With `rc_equivariant`, the logits are the mean of both strands' logits, so the classifier is
    exactly invariant under the reverse complement. The backbone is causal, so right padding never
    reaches the real positions, and the pool ignores it.
    """

    def __init__(self, config: BackboneConfig, num_classes: int, rc_equivariant: bool = False):
        super().__init__()
        if not isinstance(config, BackboneConfig):
            raise ValueError(
                f"SequenceClassifier: config: expected a BackboneConfig; got {type(config).__name__}"
            )
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                f"SequenceClassifier: num_classes: expected an integer >= 2; got {num_classes!r}"
            )
        self.config = config
        self.num_classes = num_classes
        self.rc_equivariant = bool(rc_equivariant)
        self.embed = nn.Embedding(VOCAB_SIZE, config.d_model)
        self.backbone = Backbone(config)
        self.head = nn.Linear(config.d_model, num_classes)

    def pooled(self, tokens: Tensor, valid: Tensor) -> Tensor:
        """(B, d_model): the backbone outputs averaged over each row's valid positions."""
        hidden, _ = self.backbone(self.embed(tokens))
        weights = valid.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1)

    def forward(self, tokens: Tensor, valid: Tensor | None = None) -> Tensor:
        """tokens (B, T), valid (B, T) bool for right-padded batches (None: all real) -> logits (B, C)."""
        _check_tokens("SequenceClassifier", tokens)
        valid = _check_valid("SequenceClassifier", tokens, valid)
        if not self.rc_equivariant:
            return self.head(self.pooled(tokens, valid))
        batch = tokens.shape[0]
        both = torch.cat([tokens, reverse_complement(tokens, valid)], dim=0)
        logits = self.head(self.pooled(both, torch.cat([valid, valid], dim=0)))
        return (logits[:batch] + logits[batch:]) / 2
