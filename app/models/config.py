"""Typed configs for the blocks and backbones (pydantic), with presets and YAML loading.

    cfg = BackboneConfig.preset("titans-mac", d_model=64, n_layers=2)
    cfg = BackboneConfig.from_yaml("configs/models/titans-mac.yaml")

A config is fully resolved: every size is a concrete number, so a YAML file says exactly what is built.
`preset` derives the sizes it is not given from `d_model` (see `BackboneConfig.preset`). `ForecastHead`
holds the fields of how a Forecaster reads a series (app/models/forecaster.py).

Imports pydantic and yaml only, never torch: every experiment config is checked against these
classes before a command imports torch (app.experiments).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.memory import PRESETS as MEMORY_PRESETS
from app.memory import MemorySpec

BlockKind = Literal["lmm", "mac", "mag", "mal", "miras", "swa"]

# The blocks that hold a neural memory, and those that hold attention.
MEMORY_BLOCKS = ("lmm", "mac", "mag", "mal", "miras")

# Every backbone preset: its block kind and, for the memory blocks, the memory's MIRAS preset.
PRESETS: dict[str, tuple[str, str | None]] = {
    "titans-lmm": ("lmm", "titans"),
    "titans-mac": ("mac", "titans"),
    "titans-mag": ("mag", "titans"),
    "titans-mal": ("mal", "titans"),
    "moneta": ("miras", "moneta"),
    "yaad": ("miras", "yaad"),
    "memora": ("miras", "memora"),
    "swa": ("swa", None),
}

DEFAULT_D_MODEL = 256
DEFAULT_N_LAYERS = 4


# The memory's update rules by name (overrides of MemoryConfig): the default stable rule, the
# papers' plain rule, and the stable rule without LaCT's renormalisation (README, "The update rule").
MEMORY_RULES: dict[str, dict[str, Any]] = {
    "stable": {},
    "plain": {"step_norm": "none", "renorm": False, "momentum_bounded_step": False},
    "no-renorm": {"renorm": False},
}


class MemoryConfig(BaseModel):
    """The neural memory of a block: a `MemorySpec` preset plus sizes (see app/memory).

    preset: the memory's MIRAS choices (titans, moneta, yaad, memora, or a linear special case).
    heads, dim_head: independent memories per token and the key / value width of each.
    depth, expansion: the memory MLP's layers and hidden width (expansion x dim_head).
    residual: M(x) = x + f(x) instead of the plain MLP f(x) (the MIRAS presets use it).
    norm: M(x) = x + LayerNorm(f(x)), MIRAS' full form (implies the residual). On in the memora
        preset only: its weights are softmax rows, so f averages its inputs and, without the norm,
        barely depends on what was written. Elsewhere it only amplifies float32 rounding. The
        measurements: README, "Long-context recall".
    chunk_size: tokens per write (gradients of a chunk are taken at the chunk's start). MAC writes a
        segment at a time, so there it must equal `segment`.
    conv_kernel: the short causal convolution on q, k, v.
    theta_max: cap of the inner learning rate; None for the engine's 1 / chunk_size.
    step_norm, renorm, momentum_bounded_step: the memory's update rule (README, "The update rule"). The
        default, the stable rule: "nlms" divides each token's step for a memory layer by
        1 + ||layer input||^2, and for a momentum memory theta_t = theta_max * (1 - eta_t) * sigmoid(.),
        so the momentum is a weighted mean of past steps, not their sum of up to 1 / (1 - eta) of
        them; renorm rescales each memory weight's rows to their chunk-start norms after every chunk's
        write (LaCT), so the memory keeps W_0's norms. momentum_bounded_step None: on exactly when the
        memory has momentum (NeuralMemory resolves it). The papers' plain rule: `MEMORY_RULES["plain"]`.
    write_gate: the form of the inner learning rate's gate: "hard" (hardsigmoid, exactly 0 below -3, so
        a token not written leaves the memory unchanged however long the stream) or "sigmoid" (the
        papers', the default: the hard gate helped some presets on long-context recall and hurt others,
        README "Long-context recall").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = "titans"
    heads: int = Field(1, ge=1)
    dim_head: int = Field(32, ge=1)
    depth: int = Field(2, ge=1)
    expansion: int = Field(2, ge=1)
    residual: bool = False
    norm: bool = False
    chunk_size: int = Field(16, ge=1)
    conv_kernel: int = Field(4, ge=1)
    theta_max: float | None = Field(None, gt=0)
    step_norm: Literal["none", "nlms"] = "nlms"
    renorm: bool = True
    momentum_bounded_step: bool | None = None
    write_gate: Literal["sigmoid", "hard"] = "sigmoid"

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in MEMORY_PRESETS:
            raise ValueError(f"unknown memory preset {value!r}; expected one of {', '.join(MEMORY_PRESETS)}")
        return value

    @model_validator(mode="after")
    def _spec_builds(self) -> MemoryConfig:
        try:
            spec = self.spec()
        except ValueError as error:  # MemorySpec names its field; say it is this config's
            raise ValueError(str(error).replace("MemorySpec.", "memory.")) from None
        if self.momentum_bounded_step is True and spec.algorithm != "momentum":
            raise ValueError(
                f"memory.momentum_bounded_step: the {self.preset!r} memory has no momentum "
                f"(algorithm {spec.algorithm!r})"
            )
        return self

    def spec(self) -> MemorySpec:
        """The engine's `MemorySpec` (read="token": a token reads the memory after its own write)."""
        return MemorySpec.preset(
            self.preset,
            dim_key=self.dim_head,
            dim_value=self.dim_head,
            depth=self.depth,
            expansion=self.expansion,
            residual=self.residual,
            norm=self.norm,
            chunk_size=self.chunk_size,
            read="token",
            step_norm=self.step_norm,
            renorm=self.renorm,
        )


class BackboneConfig(BaseModel):
    """A stack of `n_layers` identical blocks of width `d_model` (see app/models/blocks.py).

    block: lmm, mac, mag, mal (Titans), miras (a Moneta / Yaad / Memora memory in a Llama block,
        `hybrid` adds sliding-window attention) or swa (sliding-window attention only).
    heads: attention heads (d_model must divide by it; rotary needs an even head width).
    window: sliding-window attention span, counting the token itself (mag, mal, hybrid miras, swa).
    segment: MAC's segment length: memory is read before and written after each segment.
    persistent: learned input-independent tokens every attention query sees (0: none).
    ffn_hidden: hidden units of each SwiGLU branch.
    hybrid: miras only: add a sliding-window-attention sub-layer after the memory.
    mac_write: mac only: what each segment writes into the memory: "attention" (the paper: the
        attention output y) or "input" (the segment's block input, the stream the retrieval queries
        come from; it learns associative recall far sooner, see MACBlock).
    rotary: rotary positions in the attention.
    memory: the neural memory (required by the memory blocks, absent for swa).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    block: BlockKind
    d_model: int = Field(ge=1)
    n_layers: int = Field(ge=1)
    heads: int = Field(ge=1)
    window: int = Field(ge=1)
    segment: int = Field(32, ge=1)
    persistent: int = Field(0, ge=0)
    ffn_hidden: int = Field(ge=1)
    hybrid: bool = False
    mac_write: Literal["attention", "input"] = "attention"
    rotary: bool = True
    norm_eps: float = Field(1e-6, gt=0)
    memory: MemoryConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BackboneConfig:
        if self.d_model % self.heads:
            raise ValueError(f"d_model: {self.d_model} is not divisible by heads={self.heads}")
        if self.rotary and (self.d_model // self.heads) % 2:
            raise ValueError(
                f"heads: rotary attention needs an even head width; d_model / heads = "
                f"{self.d_model} / {self.heads} = {self.d_model // self.heads}"
            )
        if self.block in MEMORY_BLOCKS and self.memory is None:
            raise ValueError(f"memory: block {self.block!r} needs a memory config")
        if self.block == "swa" and self.memory is not None:
            raise ValueError("memory: block 'swa' has no memory; remove the memory config")
        if self.hybrid and self.block != "miras":
            raise ValueError(f"hybrid: only the 'miras' block has a hybrid form; got block {self.block!r}")
        if self.mac_write != "attention" and self.block != "mac":
            raise ValueError(f"mac_write: only the 'mac' block writes per segment; got block {self.block!r}")
        if self.persistent and not self.has_attention:
            raise ValueError(
                f"persistent: block {self.block!r} has no attention to attend to persistent tokens; "
                f"set persistent: 0 (or hybrid: true)"
            )
        if self.block == "mac" and self.memory is not None and self.memory.chunk_size != self.segment:
            raise ValueError(
                f"memory.chunk_size: MAC writes its memory once per segment, so chunk_size must equal "
                f"segment={self.segment}; got {self.memory.chunk_size}"
            )
        return self

    @property
    def has_attention(self) -> bool:
        """Whether the block attends (and so can use persistent tokens)."""
        return self.block in ("mac", "mag", "mal", "swa") or (self.block == "miras" and self.hybrid)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> BackboneConfig:
        """A named architecture, with any field overridden by keyword (`memory` takes a dict of fields).

        Sizes not given are derived from d_model (default 256), so tiny models stay consistent:
        heads = the largest divisor of d_model up to max(1, d_model // 32) that leaves an even head
        width; window = min(256, 2 * d_model) (64 at d_model = 32); ffn_hidden = 8/3 d_model rounded up
        to a multiple of 8 (Llama); memory heads = heads and dim_head = d_model / heads; memory chunk
        16 (MAC: the segment, 32); persistent tokens 4 where there is attention (none for swa).
        """
        if name not in PRESETS:
            raise ValueError(
                f"BackboneConfig.preset: unknown preset {name!r}; expected one of {', '.join(PRESETS)}"
            )
        block, memory_preset = PRESETS[name]
        overrides = dict(overrides)
        memory_overrides = overrides.pop("memory", None) or {}
        if isinstance(memory_overrides, MemoryConfig):
            memory_overrides = memory_overrides.model_dump()
        if memory_preset is None and memory_overrides:
            raise ValueError(f"BackboneConfig.preset: memory: preset {name!r} has no memory")
        d_model = overrides.get("d_model", DEFAULT_D_MODEL)
        if not _is_size(d_model):  # every default size derives from it
            raise ValueError(f"BackboneConfig.preset: d_model: expected an integer >= 1; got {d_model!r}")
        heads = overrides.get("heads", default_heads(d_model))
        segment = overrides.get("segment", 32)
        hybrid = overrides.get("hybrid", False)
        base: dict[str, Any] = dict(
            block=block,
            d_model=d_model,
            n_layers=DEFAULT_N_LAYERS,
            heads=heads,
            window=min(256, 2 * d_model),
            segment=segment,
            persistent=4 if block in ("mac", "mag", "mal") or hybrid else 0,
            ffn_hidden=default_ffn_hidden(d_model),
            hybrid=hybrid,
        )
        if memory_preset is not None:
            memory: dict[str, Any] = dict(
                preset=memory_preset,
                heads=heads,
                dim_head=max(1, d_model // heads) if _is_size(heads) else 1,
                # MIRAS: a residual memory MLP, M(x) = x + W2 act(W1 x) (see MemoryConfig.norm);
                # Memora with MIRAS' LayerNorm, M(x) = x + LayerNorm(f(x)).
                residual=block == "miras",
                norm=memory_preset == "memora",
                chunk_size=segment if block == "mac" else 16,
            )
            base["memory"] = {**memory, **memory_overrides}
        return cls(**{**base, **overrides})

    @classmethod
    def from_yaml(cls, path: str | Path) -> BackboneConfig:
        """Load a config from a YAML mapping of the fields; errors name the file and the field."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:  # its message carries the line and column
            raise ValueError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise ValueError(
                f"{path}: expected a mapping of BackboneConfig fields; got {type(data).__name__}"
            )
        try:
            return cls(**data)
        except ValidationError as error:
            raise ValueError(f"{path}: {error}") from None

    def to_yaml(self) -> str:
        """The config as YAML, in field order (what the files under configs/models hold)."""
        return yaml.safe_dump(self.model_dump(), sort_keys=False)


class ForecastHead(BaseModel):
    """The fields that fix how a Forecaster reads a series and forecasts, whatever its backbone and
    channels; `ForecasterConfig` and the forecasting experiment's model section both take them.

    lookback, horizon: rows read in the window, and steps predicted at once.
    patch_len, patch_stride: rows per token and the step between tokens in the window (default:
        non-overlapping). History patches are always non-overlapping.
    revin, revin_affine: per-instance normalisation of the window, with a learned affine per target.
    memorize_history: test-time memorisation of the rows before the window (see app/models/forecaster.py).
    memorize_chunk: history tokens per streamed piece.
    dropout: on the flattened window representation before the head.
    linear_skip: add a linear map of the (normalised) window straight to the horizon, shared across
        channels, so the backbone learns what a linear forecast misses.
    """

    model_config = ConfigDict(extra="forbid")

    lookback: int = Field(96, ge=1)
    horizon: int = Field(96, ge=1)
    patch_len: int = Field(16, ge=1)
    patch_stride: int | None = Field(None, ge=1)
    revin: bool = True
    revin_affine: bool = True
    memorize_history: bool = True
    memorize_chunk: int = Field(256, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    linear_skip: bool = False

    @model_validator(mode="after")
    def _patches_fit(self) -> ForecastHead:
        if self.patch_len > self.lookback:
            raise ValueError(f"patch_len: {self.patch_len} is longer than lookback={self.lookback}")
        return self

    def head_fields(self) -> dict[str, Any]:
        """These fields alone, as keyword arguments of another config that takes them."""
        return {name: getattr(self, name) for name in ForecastHead.model_fields}


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def default_ffn_hidden(d_model: int) -> int:
    """Llama's SwiGLU width: 8/3 d_model, rounded up to a multiple of 8."""
    return 8 * math.ceil(math.ceil(8 * d_model / 3) / 8)


def default_heads(d_model: int) -> int:
    """The largest divisor h of d_model with h <= max(1, d_model // 32) and an even d_model / h (else 1)."""
    for heads in range(max(1, d_model // 32), 0, -1):
        if d_model % heads == 0 and (d_model // heads) % 2 == 0:
            return heads
    return 1
