"""The chunks' scalar coefficients (`ChunkCoefficients`): how retention, momentum and the learning
rates weight a chunk's starting state and its rank-one terms, for every position or only the last
(DESIGN.md, "chunked")."""

from __future__ import annotations

import torch
from torch import Tensor

from .chunk_function import ChunkCoefficients
from .functional import keep_factor
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


def all_chunk_coefficients(spec: MemorySpec, gates: dict[str, Tensor], size: int):
    """`chunk_coefficients` of every chunk (`write_coefficients` for read="chunk"), computed in
    batches of COEFFICIENT_BLOCK chunks and yielded chunk by chunk.

    The last chunk may be partial: its gates are padded with zeros, which only touch rows and
    columns past its end (the matrices are lower-triangular), and `trim` cuts those away.
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


def trim(coefficients: ChunkCoefficients, n: int) -> ChunkCoefficients:
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
