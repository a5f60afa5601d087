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
non-linear function of R (a norm, a softmax), so each token's W_j is formed explicitly, O(chunk x |W|).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .chunk_function import ChunkCoefficients, ChunkWrite, supports
from .functional import (
    activation,
    applied_weights,
    apply_layer,
    inner_errors,
    keep_factor,
    mlp_forward,
    output_transform,
    renormalised,
    scaled_errors,
    step_scales,
)
from .spec import MemorySpec


def segment_products(x: Tensor) -> Tensor:
    """(..., n) -> (..., n, n) with [j, i] = prod_{m=i+1}^{j} x_m for j >= i (1 on the diagonal), 0 above.

    A cumulative product down each column of a masked matrix: no division, so zeros in x are exact.
    """
    n = x.shape[-1]
    rows = x.unsqueeze(-1).expand(*x.shape, n)  # [j, i] = x_j
    below = torch.ones(n, n, dtype=torch.bool, device=x.device).tril(-1)
    products = torch.cumprod(torch.where(below, rows, torch.ones_like(rows)), dim=-2)
    return _flush_denormals(products * torch.ones(n, n, dtype=x.dtype, device=x.device).tril())


def _flush_denormals(products: Tensor) -> Tensor:
    """Long products of small gates underflow into denormals, which make every later matrix product
    on CPUs many times slower; below the smallest normal number they are zero for all purposes."""
    return products.masked_fill(products.abs() < torch.finfo(products.dtype).tiny, 0.0)


def chunk_coefficients(spec: MemorySpec, gates: dict[str, Tensor]) -> ChunkCoefficients:
    """For one chunk's gates (B, H, n): the `ChunkCoefficients` of every position."""
    theta = gates["theta"]
    keep = keep_factor(spec, gates)
    if keep is None:
        keep = torch.ones_like(theta)
    keep_segments = segment_products(keep)  # prod_{m=i+1}^{j} keep_m
    raw_keep = torch.cumprod(keep, dim=-1)  # prod_{m<=j} keep_m
    if spec.algorithm != "momentum":
        return ChunkCoefficients(raw_keep, None, keep_segments * theta.unsqueeze(-2), None, None)
    eta = gates["eta"]
    eta_segments = segment_products(eta)
    momentum_keep = torch.cumprod(eta, dim=-1)
    # R_j = raw_keep_j R0 + sum_{m<=j} P_keep[j, m] S_m with
    # S_m = momentum_keep_m S0 - sum_{i<=m} P_eta[m, i] theta_i G_i.
    momentum_to_raw = (keep_segments @ momentum_keep.unsqueeze(-1)).squeeze(-1)
    raw_writes = (keep_segments @ eta_segments) * theta.unsqueeze(-2)
    momentum_writes = eta_segments * theta.unsqueeze(-2)
    return ChunkCoefficients(raw_keep, momentum_to_raw, raw_writes, momentum_keep, momentum_writes)


def write_coefficients(spec: MemorySpec, gates: dict[str, Tensor]) -> ChunkCoefficients:
    """Only the last rows of `chunk_coefficients` (j = n), shaped (B, H, 1) and (B, H, 1, n).

    They are all the chunk's write needs, and read="chunk" needs nothing else, so no n x n matrix
    is formed: memory O(T), not O(T x chunk).
    """
    theta = gates["theta"]
    keep = keep_factor(spec, gates)
    if keep is None:
        keep = torch.ones_like(theta)
    keep_row = _flush_denormals(_exclusive_products_from_end(keep))  # prod_{m=i+1}^{n} keep_m
    raw_keep = torch.prod(keep, dim=-1, keepdim=True)
    if spec.algorithm != "momentum":
        return ChunkCoefficients(raw_keep, None, (keep_row * theta).unsqueeze(-2), None, None)
    eta = gates["eta"]
    eta_row = _flush_denormals(_exclusive_products_from_end(eta))  # prod_{m=i+1}^{n} eta_m
    momentum_keep = torch.prod(eta, dim=-1, keepdim=True)
    momentum_to_raw = (keep_row * _flush_denormals(torch.cumprod(eta, dim=-1))).sum(-1, keepdim=True)
    # raw_writes[n, i] / theta_i = u_i = sum_{m >= i} keep_row_m prod_{l=i+1}^{m} eta_l, which satisfies
    # u_i = keep_row_i + eta_{i+1} u_{i+1}: a scan over the chunk's positions, all chunks at once,
    # that keeps O(T) for the backward where the n x n products kept O(T x n).
    keep_columns, eta_columns = keep_row.unbind(-1), eta.unbind(-1)
    scan = [keep_columns[-1]]
    for index in range(len(keep_columns) - 2, -1, -1):
        scan.append(keep_columns[index] + eta_columns[index + 1] * scan[-1])
    u = torch.stack(scan[::-1], dim=-1)
    return ChunkCoefficients(
        raw_keep=raw_keep,
        momentum_to_raw=momentum_to_raw,
        raw_writes=(u * theta).unsqueeze(-2),
        momentum_keep=momentum_keep,
        momentum_writes=(eta_row * theta).unsqueeze(-2),
    )


def _exclusive_products_from_end(x: Tensor) -> Tensor:
    """[i] = prod_{m=i+1}^{n} x_m (1 at the last position): a cumulative product from the end, shifted."""
    from_end = torch.cumprod(x.flip(-1), dim=-1).flip(-1)
    return torch.cat([from_end[..., 1:], torch.ones_like(x[..., :1])], dim=-1)


# Chunks whose coefficients are computed together: enough to batch the small ops, few enough that
# the O(chunks x b^2) matrices of a long sequence are not all alive at once in inference.
COEFFICIENT_BLOCK = 32


def _all_chunk_coefficients(spec: MemorySpec, gates: dict[str, Tensor], size: int):
    """`chunk_coefficients` of every chunk (`write_coefficients` for read="chunk"), computed in
    batches of COEFFICIENT_BLOCK chunks and yielded chunk by chunk.

    The last chunk may be partial: its gates are padded with zeros, which only touch rows and
    columns past its end (the matrices are lower-triangular), and `_trim` cuts those away.
    """
    length = next(iter(gates.values())).shape[-1]
    padding = -length % size
    compute = chunk_coefficients if spec.read == "token" else write_coefficients
    # split and unbind, not indexing: one backward per block instead of a full-size zero tensor per chunk.
    blocks = zip(
        *(
            torch.nn.functional.pad(g, (0, padding)).split(COEFFICIENT_BLOCK * size, dim=-1)
            for g in gates.values()
        ),
        strict=True,
    )
    for block in blocks:
        folded = {name: g.unflatten(-1, (-1, size)) for name, g in zip(gates, block, strict=True)}
        per_chunk = [t.unbind(2) if t is not None else None for t in compute(spec, folded)]
        for index in range(len(per_chunk[0])):
            yield ChunkCoefficients(*(None if t is None else t[index] for t in per_chunk))


def _trim(coefficients: ChunkCoefficients, n: int) -> ChunkCoefficients:
    """The coefficients of a chunk's first n positions (a partial last chunk)."""
    # A full chunk, or write rows only (a partial chunk does not write, so they go unused).
    if coefficients.raw_keep.shape[-1] == n or coefficients.raw_writes.shape[-2] == 1:
        return coefficients
    vector = lambda t: None if t is None else t[..., :n]  # noqa: E731
    matrix = lambda t: None if t is None else t[..., :n, :n]  # noqa: E731
    return ChunkCoefficients(
        raw_keep=vector(coefficients.raw_keep),
        momentum_to_raw=vector(coefficients.momentum_to_raw),
        raw_writes=matrix(coefficients.raw_writes),
        momentum_keep=vector(coefficients.momentum_keep),
        momentum_writes=matrix(coefficients.momentum_writes),
    )


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
    coefficients = _all_chunk_coefficients(spec, gates, size)
    arena = _state_arena(spec, raw + (velocity or []), q, size)
    for index, (qc, kc, vc, *gate_pieces) in enumerate(pieces):
        delta = dict(zip(gates, gate_pieces, strict=True)).get("delta")
        n = kc.shape[2]
        slots = None if arena is None or n < size else arena[index]
        # Only a complete chunk writes; a partial one stays pending.
        out, raw, velocity = chunk_step(
            spec, raw, velocity, qc, kc, vc, delta,
            coefficients=_trim(next(coefficients), n), write=n == size, slots=slots,
        )  # fmt: skip
        outputs.append(out)
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
    slots: list[Tensor] | None = None,
) -> tuple[Tensor, list[Tensor], list[Tensor] | None]:
    """One chunk: its outputs, and (if `write`) the raw weights and momentum at its end (written
    into `slots` when given, on the hand-written path)."""
    raw_keep, momentum_to_raw, raw_writes, momentum_keep, momentum_writes = coefficients
    if write and supports(spec):
        # The hand-written backward (chunk_function.py): same math, a fraction of the memory.
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
    w0 = applied_weights(spec, raw)

    # Forward the keys at W0, keeping each layer's input and pre-activation; then backpropagate the
    # inner loss by hand: errors[l] is dl/dz_l per token.
    inputs, pre = mlp_forward(spec, w0, kc)
    # The rank-one terms are (scale_i e_i) x_i^T: the step's normalisation folded into the errors.
    errors = scaled_errors(inner_errors(spec, w0, pre, kc, vc, delta), step_scales(spec, inputs))

    out = _read(spec, raw, velocity, w0, inputs=inputs, errors=errors, qc=qc, coefficients=coefficients)
    if not write:
        return out, raw, velocity
    if velocity is None:
        new_raw = [
            raw_keep[..., -1, None, None] * r - _outer_sums(raw_writes[..., -1:, :], err, x)[0]
            for r, err, x in zip(raw, errors, inputs, strict=True)
        ]
        return out, renormalised(spec, new_raw, raw), None
    new_raw, new_velocity = [], []
    for r, m, err, x in zip(raw, velocity, errors, inputs, strict=True):
        # One product for both sums: the last rows of raw_writes and momentum_writes weight the same
        # rank-one terms.
        to_raw, to_velocity = _outer_sums(
            torch.cat([raw_writes[..., -1:, :], momentum_writes[..., -1:, :]], dim=-2), err, x
        )
        new_raw.append(raw_keep[..., -1, None, None] * r + momentum_to_raw[..., -1, None, None] * m - to_raw)
        new_velocity.append(momentum_keep[..., -1, None, None] * m - to_velocity)
    return out, renormalised(spec, new_raw, raw), new_velocity


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
        elif spec.retention in ("none", "decay"):
            # Dual form: W_j = R_j is linear in the chunk's rank-one terms.
            if velocity is None:
                z = raw_keep.unsqueeze(-1) * apply_layer(raw[index], h)
            else:
                # R0 u and S0 u in one product.
                both = apply_layer(torch.cat([raw[index], velocity[index]], dim=-2), h)
                from_raw, from_velocity = both.split(raw[index].shape[-2], dim=-1)
                z = raw_keep.unsqueeze(-1) * from_raw + momentum_to_raw.unsqueeze(-1) * from_velocity
            scores = h @ inputs[index].transpose(-1, -2)  # [j, i] = u_j . x_i
            z = z - (raw_writes * scores) @ errors[index]
        else:
            # W_j = f(R_j) with f non-linear: form each token's R_j, then apply f.
            per_token = raw_keep[..., None, None] * raw[index].unsqueeze(2)
            if velocity is not None:
                per_token = per_token + momentum_to_raw[..., None, None] * velocity[index].unsqueeze(2)
            per_token = per_token - torch.einsum(
                "bhji,bhio,bhin->bhjon", raw_writes, errors[index], inputs[index]
            )
            (applied,) = applied_weights(spec, [per_token])
            z = (applied @ h.unsqueeze(-1)).squeeze(-1)
        h = activation(spec, z) if index < last else z
    return output_transform(spec, qc, h)
