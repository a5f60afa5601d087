"""Multi-head self-attention, full causal and sliding window, streaming with a key/value state.

    attention = SlidingWindowAttention(d_model=64, heads=4, window=128)
    y, state = attention(x)                     # x: (B, T, d_model)
    y2, state = attention(x_next, state)        # continues the stream as if x || x_next came at once
    y, state = attention(x, prefix=persistent)  # persistent tokens (B or 1, N_p, d_model), always visible

Conventions:
- Token t attends to the tokens t - window + 1 .. t: the window counts the token itself, so
  window=1 attends only to itself and a window >= the sequence length is full causal attention.
- Prefix (persistent) tokens are keys and values only: every query sees all of them, they are not
  causally masked, do not count in the window, produce no outputs and are not rotated (they have no
  position; as in titans-pytorch, rotary is applied to the sequence before the prefix is joined).
  Pass the same prefix on every call of a stream; the state does not carry it.
- Rotary positions are absolute and carried in the state, so a stream split anywhere equals one pass.
- No padding masks: every token of x is real.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from app.memory.state import StreamState

from .rotary import apply_rotary

# The most attention scores (B x heads x queries x keys) one scaled_dot_product_attention call may
# hold. Longer inputs go in groups of query blocks, so the peak memory of a forward without autograd
# does not grow with the sequence length beyond the O(T x d_model) inputs and outputs.
SCORE_BUDGET = 1 << 22


@dataclass
class AttentionState(StreamState):
    """What attention needs to continue a stream: past keys and values, and the next position.

    keys, values: (B, heads, S, d_head), already projected and rotated. `CausalAttention` keeps every
        past token (S = position: the state grows with the stream); `SlidingWindowAttention` keeps
        the last S = min(position, window - 1), all that a future token can see.
    position: how many tokens the stream has seen, i.e. the absolute (rotary) position of the next one.
    """

    keys: Tensor
    values: Tensor
    position: int = 0

    @property
    def batch(self) -> int:
        return self.keys.shape[0]


# Lets `torch.load(..., weights_only=True)` (the default) read saved states back.
torch.serialization.add_safe_globals([AttentionState])


class _SelfAttention(nn.Module):
    """Projections, rotary, prefix and state handling shared by the two attention patterns."""

    def __init__(
        self,
        d_model: int,
        heads: int,
        rotary: bool = True,
        rotary_base: float = 10000.0,
        bias: bool = False,
    ):
        super().__init__()
        name = type(self).__name__
        if d_model < 1:
            raise ValueError(f"{name}.d_model: expected >= 1; got {d_model}")
        if heads < 1:
            raise ValueError(f"{name}.heads: expected >= 1; got {heads}")
        if d_model % heads:
            raise ValueError(f"{name}.d_model: {d_model} is not divisible by heads={heads}")
        self.d_model, self.heads, self.d_head = d_model, heads, d_model // heads
        if rotary and self.d_head % 2:
            raise ValueError(
                f"{name}.rotary: needs an even head dimension; got d_model / heads = {self.d_head}"
            )
        if rotary_base <= 0:
            raise ValueError(f"{name}.rotary_base: expected > 0; got {rotary_base}")
        self.rotary, self.rotary_base = rotary, float(rotary_base)
        self.to_q = nn.Linear(d_model, d_model, bias=bias)
        self.to_k = nn.Linear(d_model, d_model, bias=bias)
        self.to_v = nn.Linear(d_model, d_model, bias=bias)
        self.to_out = nn.Linear(d_model, d_model, bias=bias)

    def retained(self, position: int) -> int:
        """How many past keys the state keeps after `position` tokens."""
        raise NotImplementedError

    def _attend(
        self, q: Tensor, keys: Tensor, values: Tensor, cached: int, prefix: tuple[Tensor, Tensor] | None
    ) -> Tensor:
        """q (B, H, T, d_head) over keys/values (B, H, cached + T, d_head), the last T being q's own.

        prefix: projected prefix keys and values (B, H, N_p, d_head), or None. Returns (B, T, H, d_head).
        """
        raise NotImplementedError

    def initial_state(self, batch: int) -> AttentionState:
        """The state of a stream that has seen nothing: no keys, position 0."""
        empty = self.to_k.weight.new_zeros(batch, self.heads, 0, self.d_head)
        return AttentionState(empty, empty.clone(), 0)

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, self.d_head).transpose(1, 2)

    def _check_state(self, state: AttentionState, batch: int) -> None:
        name = type(self).__name__
        expected = (batch, self.heads, self.retained(state.position), self.d_head)
        if state.position < 0:
            raise ValueError(f"{name}: state.position: expected >= 0; got {state.position}")
        for field in ("keys", "values"):
            shape = tuple(getattr(state, field).shape)
            if shape != expected:
                raise ValueError(
                    f"{name}: state.{field}: expected shape (B, heads, retained, d_head) = {expected} "
                    f"at position {state.position}; got {shape}"
                )

    def _project_prefix(self, prefix: Tensor | None, batch: int) -> tuple[Tensor, Tensor] | None:
        if prefix is None:
            return None
        name = type(self).__name__
        if prefix.dim() != 3 or prefix.shape[0] not in (1, batch) or prefix.shape[2] != self.d_model:
            raise ValueError(
                f"{name}: prefix: expected shape (B={batch} or 1, N_p, d_model={self.d_model}); "
                f"got {tuple(prefix.shape)}"
            )
        if prefix.shape[1] == 0:
            return None
        keys = self._split_heads(self.to_k(prefix)).expand(batch, -1, -1, -1)
        values = self._split_heads(self.to_v(prefix)).expand(batch, -1, -1, -1)
        return keys, values

    def forward(
        self, x: Tensor, state: AttentionState | None = None, prefix: Tensor | None = None
    ) -> tuple[Tensor, AttentionState]:
        """x (B, T, d_model) -> y (B, T, d_model) and the state after x.

        prefix: optional (B or 1, N_p, d_model) tokens every query attends to (persistent memory).
        """
        name = type(self).__name__
        if x.dim() != 3 or x.shape[2] != self.d_model:
            raise ValueError(
                f"{name}: x: expected shape (B, T, d_model={self.d_model}); got {tuple(x.shape)}"
            )
        batch, length, _ = x.shape
        if state is None:
            state = self.initial_state(batch)
        self._check_state(state, batch)
        if length == 0:
            return x.new_zeros(batch, 0, self.d_model), state
        q, k, v = (self._split_heads(proj(x)) for proj in (self.to_q, self.to_k, self.to_v))
        if self.rotary:
            q = apply_rotary(q, state.position, self.rotary_base)
            k = apply_rotary(k, state.position, self.rotary_base)
        cached = state.keys.shape[2]
        keys = torch.cat([state.keys, k], dim=2)
        values = torch.cat([state.values, v], dim=2)
        y = self._attend(q, keys, values, cached, self._project_prefix(prefix, batch))
        position = state.position + length
        keep = self.retained(position)
        start = keys.shape[2] - keep
        if start > 0:
            # clone: a slice would keep the whole concatenation alive (and torch.save would write it all).
            keys, values = keys[:, :, start:].clone(), values[:, :, start:].clone()
        new_state = AttentionState(keys, values, position)
        return self.to_out(y.reshape(batch, length, self.d_model)), new_state


class CausalAttention(_SelfAttention):
    """Full causal multi-head self-attention: token t attends to every token <= t (and the prefix).

    O(T^2) time; queries go in row groups so no call holds more than `SCORE_BUDGET` scores. The
    streaming state keeps every past key and value, so it grows by one token per step: use
    `SlidingWindowAttention` for unbounded streams.
    """

    def retained(self, position: int) -> int:
        return position

    def _attend(
        self, q: Tensor, keys: Tensor, values: Tensor, cached: int, prefix: tuple[Tensor, Tensor] | None
    ) -> Tensor:
        batch, heads, length, _ = q.shape
        n_prefix = 0
        if prefix is not None:
            n_prefix = prefix[0].shape[2]
            keys, values = torch.cat([prefix[0], keys], dim=2), torch.cat([prefix[1], values], dim=2)
        rows = max(1, SCORE_BUDGET // (batch * heads * keys.shape[2]))
        outputs = []
        for start in range(0, length, rows):
            stop = min(length, start + rows)
            visible = n_prefix + cached + stop  # keys after the last query of this group are never seen
            query = torch.arange(start, stop, device=q.device)[:, None]
            key = torch.arange(visible, device=q.device)[None, :]
            mask = (key < n_prefix) | (key - n_prefix <= cached + query)
            outputs.append(
                F.scaled_dot_product_attention(
                    q[:, :, start:stop], keys[:, :, :visible], values[:, :, :visible], attn_mask=mask
                )
            )
        return torch.cat(outputs, dim=2).transpose(1, 2)


class SlidingWindowAttention(_SelfAttention):
    """Causal multi-head self-attention over a sliding window: token t attends to t - window + 1 .. t.

    The window counts the token itself (window=1: only itself). Prefix tokens are seen by every query
    and are not counted in the window. O(T x window) time and memory: queries go in blocks of `window`
    and block i attends only to the keys of blocks i - 1 and i, masked by a band; blocks are batched
    in groups of at most `SCORE_BUDGET` scores. The streaming state keeps the last window - 1 keys and
    values, so it stays bounded however long the stream.
    """

    def __init__(
        self,
        d_model: int,
        heads: int,
        window: int,
        rotary: bool = True,
        rotary_base: float = 10000.0,
        bias: bool = False,
    ):
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"SlidingWindowAttention.window: expected an integer >= 1; got {window!r}")
        super().__init__(d_model, heads, rotary=rotary, rotary_base=rotary_base, bias=bias)
        self.window = window

    def retained(self, position: int) -> int:
        return min(position, self.window - 1)

    def _attend(
        self, q: Tensor, keys: Tensor, values: Tensor, cached: int, prefix: tuple[Tensor, Tensor] | None
    ) -> Tensor:
        batch, heads, length, d_head = q.shape
        # A window longer than everything visible masks nothing; clamping it keeps a huge window from
        # padding the keys to its length.
        span = min(self.window, cached + length)
        block = min(span, length)
        n_blocks = -(-length // block)
        # Zero keys in front put query j's own key at padded index j + span - 1, so that query block i
        # needs exactly the padded keys [i * block, i * block + width): its band and the span before it.
        front, back = span - 1 - cached, n_blocks * block - length
        width = block + span - 1
        # Blocks (B, n_blocks, heads, rows, d_head): views, copied only a group at a time below.
        keys = F.pad(keys, (0, 0, front, back)).unfold(2, width, block).permute(0, 2, 1, 4, 3)
        values = F.pad(values, (0, 0, front, back)).unfold(2, width, block).permute(0, 2, 1, 4, 3)
        q = F.pad(q, (0, 0, 0, back)).view(batch, heads, n_blocks, block, d_head).transpose(1, 2)
        # Row r of a block sits at column r + span - 1 and sees the span columns ending there. Every
        # row keeps at least its own column, so no row is fully masked (which would give NaN).
        row = torch.arange(block, device=q.device)[:, None]
        column = torch.arange(width, device=q.device)[None, :]
        band = (column >= row) & (column <= row + span - 1)
        n_prefix = 0 if prefix is None else prefix[0].shape[2]
        group = max(1, SCORE_BUDGET // (batch * heads * block * (n_prefix + width)))
        outputs = []
        for first in range(0, n_blocks, group):
            last = min(n_blocks, first + group)
            count = last - first
            key_blocks, value_blocks = keys[:, first:last], values[:, first:last]
            mask = band.expand(count, block, width)
            if first == 0 and front > 0:
                mask = mask.clone()
                mask[0, :, :front] = False  # the zero padding in front of the stream's first keys
            if prefix is not None:
                shape = (batch, count, heads, n_prefix, d_head)
                key_blocks = torch.cat([prefix[0].unsqueeze(1).expand(shape), key_blocks], dim=3)
                value_blocks = torch.cat([prefix[1].unsqueeze(1).expand(shape), value_blocks], dim=3)
                mask = torch.cat([mask.new_ones(count, block, n_prefix), mask], dim=-1)
            # Blocks go into the batch dimension: 4-D inputs with a mask broadcast over heads take
            # the fused CPU kernel, several times faster than 5-D inputs (which take the math path).
            y = F.scaled_dot_product_attention(
                q[:, first:last].flatten(0, 1),
                key_blocks.flatten(0, 1),
                value_blocks.flatten(0, 1),
                attn_mask=mask.unsqueeze(1).repeat(batch, 1, 1, 1),
            )
            outputs.append(y.view(batch, count, heads, block, d_head))
        y = torch.cat(outputs, dim=1).transpose(2, 3).reshape(batch, n_blocks * block, heads, d_head)
        return y[:, :length]
