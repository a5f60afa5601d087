"""Chunk-parallel path (DESIGN.md, "chunked"): all tokens of a chunk at once.

Every gradient in a chunk is taken at the chunk's starting weights W0, so token i's gradient for
layer l is a rank-one outer product e_i x_i^T (backpropagated error times layer input). Decay,
momentum and learning rates only scale these terms, so with per-chunk coefficient matrices

    R_j = raw_keep_j R0 + momentum_to_raw_j S0 - sum_{i <= j} raw_writes[j, i] e_i x_i^T
                                                                    (j, i: positions in the chunk)

the chunk's write is one matrix product per layer, and a token's read of W_j (read="token") is
the "dual form": W_j u = raw_keep_j R0 u + momentum_to_raw_j S0 u - sum_i raw_writes[j, i] (x_i . u) e_i
(`ChunkCoefficients`). Per-token gradients are
never materialised, so memory grows as O(chunk x width), not O(chunk x |W|).

The exceptions are `lq` and `simplex` retention with read="token": their applied weights are a
non-linear function of R, so each token's R_j is formed explicitly, O(chunk x |W|): for lq only for
its norm (W_j = R_j / s_j, the product stays in dual form), for simplex for the softmax.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .chunk_function import ChunkCoefficients, ChunkWrite, supports
from .coefficients import all_chunk_coefficients, trim
from .functional import (
    activation,
    applied_weights,
    apply_layer,
    inner_errors,
    lq_scale,
    mlp_forward,
    output_transform,
    renormalised,
    scaled_errors,
    step_scales,
)
from .spec import MemorySpec


def run_chunked(
    spec: MemorySpec,
    weights: list[Tensor],
    momentum: list[Tensor] | None,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    gates: dict[str, Tensor],
) -> tuple[Tensor, list[Tensor], list[Tensor] | None]:
    """Outputs for a non-empty sequence starting on a chunk boundary, and the state at its last boundary."""
    size = spec.chunk_size
    raw, velocity = list(weights), None if momentum is None else list(momentum)
    outputs = []
    # `split`, not slicing: the backward of a slice builds a zero tensor of the whole sequence per
    # chunk (quadratic in length); split's backward concatenates once.
    pieces = zip(
        q.split(size, dim=2),
        k.split(size, dim=2),
        v.split(size, dim=2),
        *(g.split(size, dim=-1) for g in gates.values()),
        strict=True,
    )
    coefficients = all_chunk_coefficients(spec, gates, size)
    arena = _state_arena(spec, raw + (velocity or []), q, size)
    deferred: list[_ChunkRead] = []  # reads of full chunks on the autograd path, not yet made
    block = read_block(spec, q.shape[0], q.shape[1])
    for index, (qc, kc, vc, *gate_pieces) in enumerate(pieces):
        delta = dict(zip(gates, gate_pieces, strict=True)).get("delta")
        n = kc.shape[2]
        write = n == size  # only a complete chunk writes; a partial one stays pending
        this_chunk = trim(next(coefficients), n)
        if write and supports(spec):
            slots = None if arena is None else arena[index]
            out, raw, velocity = _hand_written_chunk(spec, raw, velocity, qc, kc, vc, this_chunk, slots)
            outputs.append(out)
            continue
        read, raw, velocity = chunk_step(spec, raw, velocity, qc, kc, vc, delta, this_chunk, write)
        if not write and deferred:  # the last chunk, partial: its shapes differ, so it is read alone
            outputs.append(_batched_reads(spec, deferred))
            deferred = []
        deferred.append(read)
        if len(deferred) == block:
            outputs.append(_batched_reads(spec, deferred))
            deferred = []
    if deferred:
        outputs.append(_batched_reads(spec, deferred))
    return torch.cat(outputs, dim=2), raw, velocity


def _state_arena(spec: MemorySpec, state: list[Tensor], q: Tensor, size: int) -> list[list[Tensor]] | None:
    """Every chunk's end state, allocated up front, when the backward will keep them all.

    The hand-written backward keeps each chunk's start state. Allocated one by one between the
    chunk's short-lived temporaries, they fragmented the heap, and the process's resident memory
    grew to about twice what the states hold; allocated together they do not. (Separate tensors,
    not views of one block: views share a version counter, and writing one would invalidate the
    others that the backward saved.)
    """
    chunks = q.shape[2] // size
    if not (supports(spec) and torch.is_grad_enabled() and chunks > 1):
        return None
    return [
        [torch.empty(t.shape, dtype=torch.promote_types(t.dtype, q.dtype), device=q.device) for t in state]
        for _ in range(chunks)
    ]


# Elements of the largest tensor that one batched read may form, about a CPU core's L2 cache in
# float32. Full chunks are read together on the autograd path to batch the reads' small ops, whose
# per-call overhead dominates on CPU; past this size the element-wise ops run from main memory and
# a batch is slower than its chunks one by one (measured: 2x for Memora's read at batch 32).
READ_BUDGET = 2**20
MAX_READ_BLOCK = 32


def read_block(spec: MemorySpec, batch: int, heads: int) -> int:
    """How many full chunks `_batched_reads` takes at once (1 to MAX_READ_BLOCK)."""
    if spec.read == "token" and spec.retention in ("lq", "simplex"):
        per_chunk = max(out * inp for out, inp in spec.weight_shapes()) * spec.chunk_size  # each token's R_j
    else:
        per_chunk = (spec.chunk_size + max(max(shape) for shape in spec.weight_shapes())) * spec.chunk_size
    return max(1, min(MAX_READ_BLOCK, READ_BUDGET // (batch * heads * per_chunk)))


class _ChunkRead(NamedTuple):
    """What `_read` needs for one chunk; reads do not feed the writes, so they can wait."""

    raw: list[Tensor]
    velocity: list[Tensor] | None
    w0: list[Tensor]
    inputs: list[Tensor]
    errors: list[Tensor]
    qc: Tensor
    coefficients: ChunkCoefficients


def _hand_written_chunk(
    spec: MemorySpec,
    raw: list[Tensor],
    velocity: list[Tensor] | None,
    qc: Tensor,
    kc: Tensor,
    vc: Tensor,
    coefficients: ChunkCoefficients,
    slots: list[Tensor] | None,
) -> tuple[Tensor, list[Tensor], list[Tensor] | None]:
    """One full chunk through the hand-written backward (chunk_function.py): same math as
    `chunk_step` and `_read`, a fraction of the memory. The new state goes into `slots` when given."""
    raw_keep, momentum_to_raw, raw_writes, momentum_keep, momentum_writes = coefficients
    last_rows = lambda t: None if t is None else t[..., -1:]  # noqa: E731
    last_matrix_rows = lambda t: None if t is None else t[..., -1:, :]  # noqa: E731
    # autograd.Function.apply takes positional arguments only: the coefficients in their order.
    y, *state = ChunkWrite.apply(
        spec, slots, qc, kc, vc,
        raw_keep, momentum_to_raw, raw_writes,
        last_rows(momentum_keep), last_matrix_rows(momentum_writes),
        *raw, *(velocity or []),
    )  # fmt: skip
    return y, state[: len(raw)], state[len(raw) :] or None


def chunk_step(
    spec: MemorySpec,
    raw: list[Tensor],
    velocity: list[Tensor] | None,
    qc: Tensor,
    kc: Tensor,
    vc: Tensor,
    delta: Tensor | None,
    coefficients: ChunkCoefficients,
    write: bool,
) -> tuple[_ChunkRead, list[Tensor], list[Tensor] | None]:
    """One chunk under autograd: what its read needs (see `_batched_reads`), and (if `write`) the raw
    weights and momentum at its end."""
    raw_keep, momentum_to_raw, raw_writes, momentum_keep, momentum_writes = coefficients
    w0 = applied_weights(spec, raw)

    # Forward the keys at W0, keeping each layer's input and pre-activation; then backpropagate the
    # inner loss by hand: errors[l] is dl/dz_l per token.
    inputs, pre = mlp_forward(spec, w0, kc)
    # The rank-one terms are (scale_i e_i) x_i^T: the step's normalisation folded into the errors.
    errors = scaled_errors(inner_errors(spec, w0, pre, kc, vc, delta), step_scales(spec, inputs))
    read = _ChunkRead(raw, velocity, w0, inputs, errors, qc, coefficients)
    if not write:
        return read, raw, velocity
    if velocity is None:
        new_raw = [
            raw_keep[..., -1, None, None] * r - _outer_sums(raw_writes[..., -1:, :], err, x)[0]
            for r, err, x in zip(raw, errors, inputs, strict=True)
        ]
        return read, renormalised(spec, new_raw, raw), None
    new_raw, new_velocity = [], []
    for r, m, err, x in zip(raw, velocity, errors, inputs, strict=True):
        # One product for both sums: the last rows of raw_writes and momentum_writes weight the same
        # rank-one terms.
        to_raw, to_velocity = _outer_sums(
            torch.cat([raw_writes[..., -1:, :], momentum_writes[..., -1:, :]], dim=-2), err, x
        )
        new_raw.append(raw_keep[..., -1, None, None] * r + momentum_to_raw[..., -1, None, None] * m - to_raw)
        new_velocity.append(momentum_keep[..., -1, None, None] * m - to_velocity)
    return read, renormalised(spec, new_raw, raw), new_velocity


def _batched_reads(spec: MemorySpec, reads: list[_ChunkRead]) -> Tensor:
    """The outputs (B, H, C x n, d) of C consecutive chunks of one length n, read in one batch: every
    argument of `_read` stacked over the chunks and folded into the batch axis. One call makes the
    same products as C calls, with a C-th of the per-call overheads, which dominate the reads of a
    small memory on CPU (the per-token weights of lq / simplex retention most of all)."""

    def fold(tensors) -> Tensor:  # C tensors (B, H, ...) -> (C x B, H, ...)
        return torch.stack(list(tensors)).flatten(0, 1)

    def fold_layers(per_chunk) -> list[Tensor] | None:
        return None if per_chunk[0] is None else [fold(layer) for layer in zip(*per_chunk, strict=True)]

    raw, velocity, w0, inputs, errors, qc, coefficients = zip(*reads, strict=True)
    # Only the fields `_read` uses: the momentum's own rows (momentum_keep, momentum_writes) feed the
    # write alone, which is already made.
    raw_keep, momentum_to_raw, raw_writes = (
        None if field[0] is None else fold(field) for field in list(zip(*coefficients, strict=True))[:3]
    )
    folded = ChunkCoefficients(raw_keep, momentum_to_raw, raw_writes, None, None)
    out = _read(
        spec, fold_layers(raw), fold_layers(velocity), fold_layers(w0),
        inputs=fold_layers(inputs), errors=fold_layers(errors), qc=fold(qc), coefficients=folded,
    )  # fmt: skip
    return out.unflatten(0, (len(reads), -1)).permute(1, 2, 0, 3, 4).flatten(2, 3)


def _outer_sums(rows: Tensor, errors: Tensor, inputs: Tensor) -> tuple[Tensor, ...]:
    """sum_i w_ri e_i x_i^T for each row r of `rows` (B, H, R, n): R tensors (B, H, out, in), one product.

    The rows weight whichever of errors / inputs is narrower, so the weighted copy (which autograd
    keeps) is as small as it can be. The result is split, not indexed: a split's backward joins
    the pieces once, where indexing fills a zero tensor per piece.
    """
    n = rows.shape[-1]
    width_out, width_in = errors.shape[-1], inputs.shape[-1]
    if width_in <= width_out:
        weighted = (
            (rows.unsqueeze(-1) * inputs.unsqueeze(-3)).transpose(-3, -2).reshape(*rows.shape[:-2], n, -1)
        )
        return (errors.transpose(-1, -2) @ weighted).split(width_in, dim=-1)  # (out, R x in)
    weighted = (rows.unsqueeze(-1) * errors.unsqueeze(-3)).transpose(-1, -2).reshape(*rows.shape[:-2], -1, n)
    return (weighted @ inputs).split(width_out, dim=-2)  # (R x out, in)


def _read(
    spec: MemorySpec,
    raw: list[Tensor],
    velocity: list[Tensor] | None,
    w0: list[Tensor],
    inputs: list[Tensor],
    errors: list[Tensor],
    qc: Tensor,
    coefficients: ChunkCoefficients,
) -> Tensor:
    """The chunk's outputs: M at W0 (read="chunk") or at each token's own W_j (read="token")."""
    raw_keep, momentum_to_raw, raw_writes = coefficients[:3]
    last = len(raw) - 1
    h = qc
    for index in range(len(raw)):
        if spec.read == "chunk":
            z = apply_layer(w0[index], h)
        elif spec.retention == "simplex":
            # W_j = softmax(R_j) row by row: form each token's R_j, then apply the softmax.
            token_raw = _token_raw(raw, velocity, inputs, errors, coefficients, index)
            (applied,) = applied_weights(spec, [token_raw])
            z = (applied @ h.unsqueeze(-1)).squeeze(-1)
        else:
            # Dual form: R_j u is linear in the chunk's rank-one terms.
            if velocity is None:
                z = raw_keep.unsqueeze(-1) * apply_layer(raw[index], h)
            else:
                # R0 u and S0 u in one product.
                both = apply_layer(torch.cat([raw[index], velocity[index]], dim=-2), h)
                from_raw, from_velocity = both.split(raw[index].shape[-2], dim=-1)
                z = raw_keep.unsqueeze(-1) * from_raw + momentum_to_raw.unsqueeze(-1) * from_velocity
            scores = h @ inputs[index].transpose(-1, -2)  # [j, i] = u_j . x_i
            z = z - (raw_writes * scores) @ errors[index]
            if spec.retention == "lq":
                # W_j = R_j / s_j with one scalar s_j per token (Moneta's q-norm of the whole matrix):
                # each R_j is formed for its norm only; the product stays in dual form.
                token_raw = _token_raw(raw, velocity, inputs, errors, coefficients, index)
                z = z / lq_scale(spec, token_raw).squeeze(-1)
        h = activation(spec, z) if index < last else z
    return output_transform(spec, qc, h)


def _token_raw(raw, velocity, inputs, errors, coefficients: ChunkCoefficients, index: int) -> Tensor:
    """Every token's R_j of layer `index` (B, H, n, out, in), formed explicitly: O(chunk x |W|)."""
    raw_keep, momentum_to_raw, raw_writes = coefficients[:3]
    per_token = raw_keep[..., None, None] * raw[index].unsqueeze(2)
    if velocity is not None:
        per_token = per_token + momentum_to_raw[..., None, None] * velocity[index].unsqueeze(2)
    return per_token - torch.einsum("bhji,bhio,bhin->bhjon", raw_writes, errors[index], inputs[index])
