"""Chunk-parallel path (DESIGN.md, "chunked"): all tokens of a chunk at once.

Every gradient in a chunk is taken at the chunk's starting weights W0, so token i's gradient for
layer l is a rank-one outer product e_i x_i^T (backpropagated error times layer input). Decay,
momentum and learning rates only scale these terms, so with per-chunk coefficient matrices

    R_j = a_j R0 + s_j S0 - sum_{i <= j} C[j, i] e_i x_i^T          (j, i: positions in the chunk)

the chunk's write is one matrix product per layer, and a token's read of W_j (read="token") is
the "dual form": W_j u = a_j R0 u + s_j S0 u - sum_i C[j, i] (x_i . u) e_i. Per-token gradients are
never materialised, so memory grows as O(chunk x width), not O(chunk x |W|).

The exceptions are `lq` and `simplex` retention with read="token": their applied weights are a
non-linear function of R (a norm, a softmax), so each token's W_j is formed explicitly, O(chunk x |W|).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .functional import (
    activation,
    activation_backward,
    applied_weights,
    apply_layer,
    attentional_loss_gradient,
    keep_factor,
    layer_norm_backward,
    output_transform,
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
    products = products * torch.ones(n, n, dtype=x.dtype, device=x.device).tril()
    # Long products of small gates underflow into denormals, which make every later matrix product
    # on CPUs many times slower; below the smallest normal number they are zero for all purposes.
    return products.masked_fill(products.abs() < torch.finfo(x.dtype).tiny, 0.0)


def chunk_coefficients(
    spec: MemorySpec, gates: dict[str, Tensor]
) -> tuple[Tensor, Tensor | None, Tensor, Tensor | None, Tensor | None]:
    """For one chunk's gates (B, H, n): the weights of R_j = a_j R0 + s_j S0 - sum_i C[j, i] G_i.

    Returns (a, s, C, e, D): a (B, H, n); s (B, H, n) or None; C (B, H, n, n) with theta_i folded in;
    and for momentum the matching S_j = e_j S0 - sum_i D[j, i] G_i.
    """
    theta = gates["theta"]
    keep = keep_factor(spec, gates)
    if keep is None:
        keep = torch.ones_like(theta)
    keep_segments = segment_products(keep)  # prod_{m=i+1}^{j} keep_m
    a = torch.cumprod(keep, dim=-1)  # prod_{m<=j} keep_m
    if spec.algorithm != "momentum":
        return a, None, keep_segments * theta.unsqueeze(-2), None, None
    eta = gates["eta"]
    eta_segments = segment_products(eta)
    e = torch.cumprod(eta, dim=-1)
    # R_j = a_j R0 + sum_{m<=j} P_keep[j, m] S_m with S_m = e_m S0 - sum_{i<=m} P_eta[m, i] theta_i G_i.
    s = (keep_segments @ e.unsqueeze(-1)).squeeze(-1)
    c = (keep_segments @ eta_segments) * theta.unsqueeze(-2)
    d = eta_segments * theta.unsqueeze(-2)
    return a, s, c, e, d


def _all_chunk_coefficients(spec: MemorySpec, gates: dict[str, Tensor], size: int):
    """`chunk_coefficients` of every chunk, computed in one batch and yielded chunk by chunk.

    The last chunk may be partial: its gates are padded with zeros, which only touch rows and
    columns past its end (the matrices are lower-triangular), and `_trim` cuts those away.
    """
    length = next(iter(gates.values())).shape[-1]
    padding = -length % size
    folded = {
        name: torch.nn.functional.pad(g, (0, padding)).unflatten(-1, (-1, size)) for name, g in gates.items()
    }
    # unbind, not indexing: one backward for all chunks instead of a full-size zero tensor per chunk.
    per_chunk = [t.unbind(2) if t is not None else None for t in chunk_coefficients(spec, folded)]
    for index in range(len(per_chunk[0])):
        yield tuple(None if t is None else t[index] for t in per_chunk)


def _trim(coefficients: tuple, n: int) -> tuple:
    a, s, c, e, d = coefficients
    if a.shape[-1] == n:
        return coefficients
    vector = lambda t: None if t is None else t[..., :n]  # noqa: E731
    matrix = lambda t: None if t is None else t[..., :n, :n]  # noqa: E731
    return vector(a), vector(s), matrix(c), vector(e), matrix(d)


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
    last = len(raw) - 1
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
    for qc, kc, vc, *gate_pieces in pieces:
        gc = dict(zip(gates, gate_pieces, strict=True))
        a, s, c, e, d = _trim(next(coefficients), kc.shape[2])
        w0 = applied_weights(spec, raw)

        # Forward the keys at W0, keeping each layer's input and pre-activation.
        inputs, pre = [], []
        h = kc
        for index, weight in enumerate(w0):
            inputs.append(h)
            z = apply_layer(weight, h)
            pre.append(z)
            h = activation(spec, z) if index < last else z
        prediction = output_transform(spec, kc, h)

        # Backpropagate the inner loss by hand: errors[l] is dl/dz_l per token.
        grad = attentional_loss_gradient(spec, prediction, vc, gc.get("delta"))
        if spec.norm:
            grad = layer_norm_backward(h, grad)
        errors = [grad] * len(w0)
        for index in range(last, 0, -1):
            grad = activation_backward(spec, grad @ w0[index], pre[index - 1])
            errors[index - 1] = grad

        outputs.append(_read(spec, raw, velocity, w0, inputs, errors, qc, a, s, c))

        if kc.shape[2] == size:  # only a complete chunk writes; a partial one stays pending
            if velocity is None:
                raw = [
                    a[..., -1, None, None] * r - _outer_sums(c[..., -1:, :], err, x)[:, :, 0]
                    for r, err, x in zip(raw, errors, inputs, strict=True)
                ]
                continue
            new_raw, new_velocity = [], []
            for r, m, err, x in zip(raw, velocity, errors, inputs, strict=True):
                # One product for both sums: rows [C[-1], D[-1]] weight the same rank-one terms.
                sums = _outer_sums(torch.stack([c[..., -1, :], d[..., -1, :]], dim=2), err, x)
                new_raw.append(a[..., -1, None, None] * r + s[..., -1, None, None] * m - sums[:, :, 0])
                new_velocity.append(e[..., -1, None, None] * m - sums[:, :, 1])
            raw, velocity = new_raw, new_velocity
    return torch.cat(outputs, dim=2), raw, velocity


def _outer_sums(weights: Tensor, errors: Tensor, inputs: Tensor) -> Tensor:
    """sum_i w_ri e_i x_i^T for each row r of weights (B, H, R, n): (B, H, R, out, in), one product."""
    return (errors.unsqueeze(2) * weights.unsqueeze(-1)).transpose(-1, -2) @ inputs.unsqueeze(2)


def _read(
    spec: MemorySpec,
    raw: list[Tensor],
    velocity: list[Tensor] | None,
    w0: list[Tensor],
    inputs: list[Tensor],
    errors: list[Tensor],
    qc: Tensor,
    a: Tensor,
    s: Tensor | None,
    c: Tensor,
) -> Tensor:
    """The chunk's outputs: M at W0 (read="chunk") or at each token's own W_j (read="token")."""
    last = len(raw) - 1
    h = qc
    for index in range(len(raw)):
        if spec.read == "chunk":
            z = apply_layer(w0[index], h)
        elif spec.retention in ("none", "decay"):
            # Dual form: W_j = R_j is linear in the chunk's rank-one terms.
            if velocity is None:
                z = a.unsqueeze(-1) * apply_layer(raw[index], h)
            else:
                # R0 u and S0 u in one product.
                both = apply_layer(torch.cat([raw[index], velocity[index]], dim=-2), h)
                from_raw, from_velocity = both.split(raw[index].shape[-2], dim=-1)
                z = a.unsqueeze(-1) * from_raw + s.unsqueeze(-1) * from_velocity
            scores = h @ inputs[index].transpose(-1, -2)  # [j, i] = u_j . x_i
            z = z - (c * scores) @ errors[index]
        else:
            # W_j = f(R_j) with f non-linear: form each token's R_j, then apply f.
            per_token = a[..., None, None] * raw[index].unsqueeze(2)
            if velocity is not None:
                per_token = per_token + s[..., None, None] * velocity[index].unsqueeze(2)
            per_token = per_token - torch.einsum("bhji,bhio,bhin->bhjon", c, errors[index], inputs[index])
            (applied,) = applied_weights(spec, [per_token])
            z = (applied @ h.unsqueeze(-1)).squeeze(-1)
        h = activation(spec, z) if index < last else z
    return output_transform(spec, qc, h)
