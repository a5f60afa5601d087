"""Titans / MIRAS blocks: pre-norm residual blocks whose sequence mixer involves the neural memory.

Every block maps x (B, T, d_model) -> y (B, T, d_model) and streams: `forward(x, state=None) -> (y,
state)`, and feeding a sequence in pieces, split anywhere, equals feeding it whole. Each block ends
with a pre-norm SwiGLU feed-forward: x <- x + SwiGLU(RMSNorm(x)).

- `MemoryBlock`: the memory as the mixer (Titans LMM; MIRAS Moneta / Yaad / Memora), optionally
  followed by a sliding-window-attention sub-layer (Titans MAL; hybrid MIRAS).
- `MACBlock`: memory as context, segment by segment.
- `MAGBlock`: sliding-window attention and memory side by side, mixed by a learned gate.
- `SWABlock`: sliding-window attention only (the baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from app.layers import (
    AttentionState,
    CausalAttention,
    ConvState,
    PersistentMemory,
    RMSNorm,
    SlidingWindowAttention,
    SwiGLU,
)
from app.memory import NeuralMemory, NeuralMemoryState
from app.memory.state import StreamState

from .config import BackboneConfig


@dataclass
class BlockState(StreamState):
    """What a block needs to continue a stream; the fields a block does not use stay None.

    memory: the neural memory's state (weights and momentum at the last chunk boundary, the pending
        partial chunk, the convolution tail).
    attention: the attention's key / value cache (sliding window: the last window - 1 tokens; MAC: the
        tokens of the current segment so far).
    retrieval: MAC only: the convolution tail of the retrieval queries, computed from the block input.
    position: tokens seen so far (MAC finds its segment boundaries from it).
    """

    memory: NeuralMemoryState | None = None
    attention: AttentionState | None = None
    retrieval: ConvState | None = None
    position: int = 0


# Lets `torch.load(..., weights_only=True)` (the default) read saved states back.
torch.serialization.add_safe_globals([BlockState])


def _check_input(name: str, x: Tensor, d_model: int) -> None:
    if x.dim() != 3 or x.shape[2] != d_model:
        raise ValueError(f"{name}: x: expected shape (B, T, d_model={d_model}); got {tuple(x.shape)}")


class Block(nn.Module):
    """Shared parts: the feed-forward sub-layer and the optional persistent tokens."""

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.config = config
        self.d_model = config.d_model
        self.norm_ffn = RMSNorm(config.d_model, config.norm_eps)
        self.ffn = SwiGLU(config.d_model, config.ffn_hidden)
        # No zero-size parameter when there are none: it would get no gradient and trip optimisers.
        self.persistent = PersistentMemory(config.persistent, config.d_model) if config.persistent else None

    def _prefix(self) -> Tensor | None:
        """The persistent tokens as an attention prefix (1, N_p, d_model), broadcast over the batch."""
        return None if self.persistent is None else self.persistent(1)

    def _memory(self) -> NeuralMemory:
        memory = self.config.memory
        assert memory is not None  # the config validator guarantees it for the memory blocks
        return NeuralMemory(
            self.d_model,
            memory.spec(),
            heads=memory.heads,
            conv_kernel=memory.conv_kernel,
            theta_max=memory.theta_max,
            momentum_bounded_step=memory.momentum_bounded_step,
            write_gate=memory.write_gate,
        )

    def _sliding_window(self) -> SlidingWindowAttention:
        config = self.config
        return SlidingWindowAttention(config.d_model, config.heads, config.window, rotary=config.rotary)

    def _feed_forward(self, x: Tensor) -> Tensor:
        return x + self.ffn(self.norm_ffn(x))

    def initial_state(self, batch: int) -> BlockState:
        raise NotImplementedError

    def mix(self, x: Tensor, state: BlockState) -> tuple[Tensor, BlockState]:
        """The residual stream after the block's sequence mixing, before the feed-forward."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: BlockState | None = None) -> tuple[Tensor, BlockState]:
        """x (B, T, d_model) -> y (B, T, d_model) and the state after x."""
        _check_input(type(self).__name__, x, self.d_model)
        if state is None:
            state = self.initial_state(x.shape[0])
        if x.shape[1] == 0:
            return x.new_zeros(x.shape), state
        h, state = self.mix(x, state)
        return self._feed_forward(h), state


class MemoryBlock(Block):
    """Memory as a layer: x <- x + Memory(RMSNorm(x)), then with `attention` (Titans MAL, hybrid MIRAS)
    x <- x + SWA(RMSNorm(x), prefix=persistent), then the feed-forward.

    Without attention this is Titans' LMM (titans memory) or a MIRAS block (Moneta / Yaad / Memora).
    MAL is written as two residual sub-layers rather than SWA(M(x)) inside one: the memory's output
    then reaches the attention through the residual stream, which trains like any stacked hybrid.
    """

    def __init__(self, config: BackboneConfig, attention: bool = False):
        super().__init__(config)
        self.norm_memory = RMSNorm(config.d_model, config.norm_eps)
        self.memory = self._memory()
        self.norm_attention = RMSNorm(config.d_model, config.norm_eps) if attention else None
        self.attention = self._sliding_window() if attention else None

    def initial_state(self, batch: int) -> BlockState:
        attention = None if self.attention is None else self.attention.initial_state(batch)
        return BlockState(memory=self.memory.initial_state(batch), attention=attention)

    def mix(self, x: Tensor, state: BlockState) -> tuple[Tensor, BlockState]:
        y, memory = self.memory(self.norm_memory(x), state.memory)
        x = x + y
        attention = None
        if self.attention is not None:
            y, attention = self.attention(self.norm_attention(x), state.attention, prefix=self._prefix())
            x = x + y
        return x, BlockState(memory=memory, attention=attention, position=state.position + x.shape[1])


class SWABlock(Block):
    """The baseline: x <- x + SWA(RMSNorm(x), prefix=persistent), then the feed-forward."""

    def __init__(self, config: BackboneConfig):
        super().__init__(config)
        self.norm_attention = RMSNorm(config.d_model, config.norm_eps)
        self.attention = self._sliding_window()

    def initial_state(self, batch: int) -> BlockState:
        return BlockState(attention=self.attention.initial_state(batch))

    def mix(self, x: Tensor, state: BlockState) -> tuple[Tensor, BlockState]:
        y, attention = self.attention(self.norm_attention(x), state.attention, prefix=self._prefix())
        return x + y, BlockState(attention=attention, position=state.position + x.shape[1])


class MAGBlock(Block):
    """Memory as a gate: x <- x + g * RMSNorm(SWA(u)) + (1 - g) * RMSNorm(Memory(u)), u = RMSNorm(x).

    The attention sees [persistent || u]; the memory reads and writes u. The gate g = sigmoid(W u + b)
    is per token and channel, learned from the block input; normalising each branch first (with
    learned scales) keeps the gate choosing between branches rather than between their magnitudes.
    The persistent tokens are not fed through the memory: that would only make another learned
    initial memory state, and the memory already starts from its learned W_0.
    """

    def __init__(self, config: BackboneConfig):
        super().__init__(config)
        self.norm_input = RMSNorm(config.d_model, config.norm_eps)
        self.attention = self._sliding_window()
        self.memory = self._memory()
        self.norm_attention = RMSNorm(config.d_model, config.norm_eps)
        self.norm_memory = RMSNorm(config.d_model, config.norm_eps)
        self.to_gate = nn.Linear(config.d_model, config.d_model)

    def initial_state(self, batch: int) -> BlockState:
        return BlockState(
            memory=self.memory.initial_state(batch), attention=self.attention.initial_state(batch)
        )

    def mix(self, x: Tensor, state: BlockState) -> tuple[Tensor, BlockState]:
        u = self.norm_input(x)
        a, attention = self.attention(u, state.attention, prefix=self._prefix())
        m, memory = self.memory(u, state.memory)
        gate = torch.sigmoid(self.to_gate(u))
        y = gate * self.norm_attention(a) + (1 - gate) * self.norm_memory(m)
        return x + y, BlockState(memory=memory, attention=attention, position=state.position + x.shape[1])


class MACBlock(Block):
    """Memory as context (Titans MAC), segment by segment, streaming.

    Segments are the `segment`-token spans [s * segment, (s + 1) * segment) of absolute positions. For
    the tokens u = RMSNorm(x) of a segment, with W the memory at the segment's start:

    1. retrieve h_i = M_W(q(u_i)): the memory's own query projection and convolution (the weights of
       its reads, a separate stream state), read at W as in the engine's read="chunk";
    2. attend over [persistent || RMSNorm(h) || u], causal within the segment: token i sees every
       persistent token and h_j, u_j for j <= i. The paper lets every query see all of h, but h_j is
       computed from u_j, so that would leak future tokens; h and u are interleaved (h_0, u_0, h_1,
       u_1, ...) and fed to causal attention, which gives exactly this mask. The outputs at the h
       positions are dropped; the attention's cache restarts at each segment;
    3. write into the memory (keys and values from the written tokens w): the attention output,
       w = RMSNorm(y) (the paper; `mac_write: attention`), or the block input, w = u
       (`mac_write: input`). The memory's chunk is the segment, so all of a segment's gradients are
       taken at W, as in the paper's per-segment update M_t = M_{t-1}(y_t), and the next segment
       retrieves from the state after this write;
    4. read m_i = M(q(w_i)) after the write. The paper reads after the whole segment's write, which
       again would leak the future; here token i reads the memory after the writes of tokens <= i
       (read="token"), the causal form of the same read;
    5. output o = y * sigmoid(m): the memory gates the attention output (the paper's y (x) M(y)),
       added to the residual stream.

    Why the options: with the paper's write, keys come from attention outputs but the retrieval
    queries from block inputs, two spaces the outer loop must first align (on the recall benchmark it
    learns far slower; README, "Long-context recall"). The norms on h and y are there
    because without them MAC feeds back on itself (a larger h gives a larger y, written as larger
    values, so the next h is larger still) until the inner loop diverges.

    Streaming: the memory engine carries the partial segment's writes (its pending chunk), so W stays
    the segment-start state until the segment completes; the attention cache holds the segment's
    interleaved tokens so far; the retrieval convolution keeps its own tail.
    """

    def __init__(self, config: BackboneConfig):
        super().__init__(config)
        self.segment = config.segment
        self.write_input = config.mac_write == "input"
        self.norm_input = RMSNorm(config.d_model, config.norm_eps)
        self.memory = self._memory()  # its chunk is the segment (the config checks)
        self.norm_retrieved = RMSNorm(config.d_model, config.norm_eps)
        self.norm_write = None if self.write_input else RMSNorm(config.d_model, config.norm_eps)
        # Full causal attention, but its cache never holds more than one segment (2 x segment keys).
        self.attention = CausalAttention(config.d_model, config.heads, rotary=config.rotary)

    def initial_state(self, batch: int) -> BlockState:
        return BlockState(
            memory=self.memory.initial_state(batch),
            attention=self.attention.initial_state(batch),
            retrieval=self.memory.conv.initial_state(batch),
        )

    def mix(self, x: Tensor, state: BlockState) -> tuple[Tensor, BlockState]:
        batch = x.shape[0]
        prefix = self._prefix()
        memory, attention, retrieval = state.memory, state.attention, state.retrieval
        position, start = state.position, 0
        outputs = []
        while start < x.shape[1]:
            # The piece up to the next segment boundary (counted from the stream's start).
            stop = min(x.shape[1], start + self.segment - position % self.segment)
            u = self.norm_input(x[:, start:stop])
            h, retrieval = self.memory.retrieve(u, memory, retrieval)  # at the segment-start W
            interleaved = torch.stack([self.norm_retrieved(h), u], dim=2).flatten(1, 2)
            a, attention = self.attention(interleaved, attention, prefix=prefix)
            y = a[:, 1::2]
            m, memory = self.memory(u if self.norm_write is None else self.norm_write(y), memory)
            outputs.append(y * torch.sigmoid(m))
            position += stop - start
            start = stop
            if position % self.segment == 0:
                attention = self.attention.initial_state(batch)  # the next segment starts afresh
        y = torch.cat(outputs, dim=1)
        return x + y, BlockState(memory=memory, attention=attention, retrieval=retrieval, position=position)


def build_block(config: BackboneConfig) -> Block:
    """The block a config names."""
    if config.block == "lmm":
        return MemoryBlock(config)
    if config.block == "mal":
        return MemoryBlock(config, attention=True)
    if config.block == "miras":
        return MemoryBlock(config, attention=config.hybrid)
    if config.block == "mag":
        return MAGBlock(config)
    if config.block == "mac":
        return MACBlock(config)
    return SWABlock(config)
