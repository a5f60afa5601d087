"""`MemorySpec`: the four MIRAS choices (structure, attentional bias, retention, algorithm) plus sizes.

The named models (Titans' LMM, Moneta, Yaad, Memora, and the linear special cases) are presets over
these choices; see DESIGN.md, "The memory engine".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

Structure = Literal["linear", "mlp"]
AttentionalBias = Literal["dot", "l2", "lp", "huber"]
Retention = Literal["none", "decay", "lq", "simplex"]
Algorithm = Literal["gd", "momentum"]
ReadMode = Literal["token", "chunk"]
StepNorm = Literal["none", "nlms"]

STRUCTURES = ("linear", "mlp")
BIASES = ("dot", "l2", "lp", "huber")
RETENTIONS = ("none", "decay", "lq", "simplex")
ALGORITHMS = ("gd", "momentum")
READ_MODES = ("token", "chunk")
STEP_NORMS = ("none", "nlms")
ACTIVATIONS = ("gelu", "silu", "relu", "tanh")

# The papers' plain update rule: the raw gradient step, no renormalisation (see `MemorySpec`).
PLAIN_RULE: dict[str, object] = dict(step_norm="none", renorm=False)

# Every preset's MIRAS choices. Sizes and flags come from the caller (or the field defaults).
PRESETS: dict[str, dict[str, object]] = {
    # Titans' long-term memory (LMM): W_t = (1 - alpha_t) W_{t-1} + S_t, S_t = eta_t S_{t-1} - theta_t g_t.
    "titans": dict(structure="mlp", bias="l2", retention="decay", algorithm="momentum"),
    # Moneta: l_p attentional bias (p = 3), l_q retention on the accumulator (q = 4).
    "moneta": dict(structure="mlp", bias="lp", p=3.0, retention="lq", q=4.0, algorithm="gd"),
    # Yaad: Huber attentional bias with a per-token threshold delta_t, forget-gate retention.
    "yaad": dict(structure="mlp", bias="huber", retention="decay", algorithm="gd"),
    # Memora: l2 attentional bias, KL retention: weights live on the simplex (softmax of logits).
    "memora": dict(structure="mlp", bias="l2", retention="simplex", algorithm="gd"),
    # Special cases with hand-checkable recurrences.
    "linear_attention": dict(structure="linear", bias="dot", retention="none", algorithm="gd"),
    "deltanet": dict(structure="linear", bias="l2", retention="none", algorithm="gd"),
    "gated_deltanet": dict(structure="linear", bias="l2", retention="decay", algorithm="gd"),
}


def _choice(field: str, value: object, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"MemorySpec.{field}: expected one of {', '.join(options)}; got {value!r}")


@dataclass(frozen=True)
class MemorySpec:
    """What the memory is and how it learns. Immutable; `replace(...)` makes a changed copy.

    structure: "linear" (one matrix, dim_value x dim_key) or "mlp" (depth >= 2 layers, no biases,
        hidden width expansion * dim_key): y = W_L act(... act(W_1 x)).
    residual: y = x + f(x).   norm: y = x + LayerNorm(f(x)) (no affine; implies the residual).
    bias: the attentional bias (inner loss) l(M(k), v): dot, l2, lp (with exponent p) or huber
        (threshold from the per-token gate delta).
    retention: none, decay (forget gate), lq (Moneta: W = A / ||A||_q^(q-2)) or simplex
        (Memora: W = softmax(R) over each row).
    algorithm: gd, or momentum (S_t = eta_t S_{t-1} - theta_t g_t).
    chunk_size: gradients of a token are taken at the state at the start of its chunk.
    read: "token" (y_t reads the memory after token t's write) or "chunk" (all tokens of a chunk
        read the state at the chunk's start).
    step_norm: "nlms" (the default; README, "The update rule") divides each token's gradient for layer l
        by 1 + ||x_l||^2 (x_l: the layer's input for that key), so a step is bounded for any scale of
        the layer's input; "none" is the papers' plain step (`PLAIN_RULE`, `plain()`).
    renorm: after each complete chunk's write, rescale every row of every raw weight (Moneta's
        accumulator A, Memora's logits) to its norm at the chunk's start, as LaCT does, so the memory
        keeps W_0's norms for ever: a hard bound, and with it the scale of what the memory can output
        is W_0's (learned). On by default; `PLAIN_RULE` turns both off.
    """

    dim_key: int
    dim_value: int
    structure: Structure = "mlp"
    depth: int = 2
    expansion: int = 2
    activation: str = "gelu"
    residual: bool = False
    norm: bool = False
    bias: AttentionalBias = "l2"
    p: float = 3.0
    retention: Retention = "decay"
    q: float = 4.0
    algorithm: Algorithm = "momentum"
    chunk_size: int = 16
    read: ReadMode = "token"
    step_norm: StepNorm = "nlms"
    renorm: bool = True

    def __post_init__(self) -> None:
        _choice("structure", self.structure, STRUCTURES)
        _choice("bias", self.bias, BIASES)
        _choice("retention", self.retention, RETENTIONS)
        _choice("algorithm", self.algorithm, ALGORITHMS)
        _choice("read", self.read, READ_MODES)
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("step_norm", self.step_norm, STEP_NORMS)
        if not isinstance(self.renorm, bool):
            raise ValueError(f"MemorySpec.renorm: expected true or false; got {self.renorm!r}")
        for field in ("dim_key", "dim_value", "chunk_size", "expansion"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MemorySpec.{field}: expected an integer >= 1; got {value!r}")
        if self.structure == "mlp" and (not isinstance(self.depth, int) or self.depth < 2):
            raise ValueError(f"MemorySpec.depth: an mlp memory needs depth >= 2; got {self.depth!r}")
        if self.structure == "linear":
            if self.depth != 1:
                # A linear memory is one matrix; normalise so shapes and checks agree.
                object.__setattr__(self, "depth", 1)
            if self.residual or self.norm:
                raise ValueError("MemorySpec.residual/norm: only an mlp memory takes a residual or norm")
        if (self.residual or self.norm) and self.dim_key != self.dim_value:
            raise ValueError(
                f"MemorySpec.residual: x + f(x) needs dim_key == dim_value; got {self.dim_key} and "
                f"{self.dim_value}"
            )
        if self.bias == "lp" and not self.p > 1:
            raise ValueError(f"MemorySpec.p: the lp attentional bias needs p > 1; got {self.p!r}")
        if self.retention == "lq" and not self.q > 2:
            raise ValueError(f"MemorySpec.q: lq retention needs q > 2; got {self.q!r}")

    @classmethod
    def preset(cls, name: str, **overrides: object) -> MemorySpec:
        """A named model's choices, with sizes and any field overridden by keyword."""
        if name not in PRESETS:
            raise ValueError(
                f"MemorySpec.preset: unknown preset {name!r}; expected one of {', '.join(PRESETS)}"
            )
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"MemorySpec.preset: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(**{**PRESETS[name], **overrides})  # type: ignore[arg-type]

    def replace(self, **changes: object) -> MemorySpec:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def plain(self) -> MemorySpec:
        """The same memory with the papers' plain update rule (no normalised step, no renorm)."""
        return self.replace(**PLAIN_RULE)

    @property
    def hidden(self) -> int:
        return self.expansion * self.dim_key

    def weight_shapes(self) -> list[tuple[int, int]]:
        """(out, in) of each memory matrix: W_1 (hidden, dim_key) ... W_L (dim_value, hidden)."""
        if self.structure == "linear":
            return [(self.dim_value, self.dim_key)]
        widths = [self.dim_key] + [self.hidden] * (self.depth - 1) + [self.dim_value]
        return [(widths[i + 1], widths[i]) for i in range(self.depth)]

    def gates_used(self) -> tuple[str, ...]:
        """The gates this memory reads: theta always; eta, alpha and delta when its choices need them."""
        used = ["theta"]
        if self.algorithm == "momentum":
            used.append("eta")
        if self.retention != "none":
            used.append("alpha")
        if self.bias == "huber":
            used.append("delta")
        return tuple(used)
