"""A hand-written backward for one chunk of the chunked path, for read="chunk".

Autograd through `chunk_step` keeps every intermediate of every chunk alive until the backward:
the keys' and queries' activations, the inner errors, the weighted copies of the write. Most of
the training step's peak memory is those. This `autograd.Function` keeps only what it was given
(the chunk's start weights and momentum, q, k, v and the chunk's coefficients) and recomputes the
rest in its backward from the start weights, which costs one forward pass per chunk and saves
almost all the memory that grows with the sequence.

The backward is the chain rule through the chunk written out (notation of DESIGN.md, one batch
and head; layer l has input h_{l-1}, pre-activation z_l, weight W_l; f = z_L; e_l = dl/dz_l):

    keys    h_0 = k,  z_l = h_{l-1} W_l^T,  h_l = act(z_l),  pred = T(k, f)    (T: output transform)
    errors  e_L = T_f^*(g(pred, v)),  e_l = act'(z_l) * (e_{l+1} W_{l+1})
    read    y = M_W(q)                                                         (read="chunk")
    write   R_l' = raw_keep R_l + momentum_to_raw S_l - sum_i raw_writes_i e_{l,i} h_{l-1,i}^T
            S_l' = momentum_keep S_l - sum_i momentum_writes_i e_{l,i} h_{l-1,i}^T

Its reverse runs write -> errors (second derivatives of the activation and of T) -> keys, and the
queries' plain MLP backward. It covers retention none / decay (the applied weights are the raw
ones) and the l2 / dot biases; other specs keep autograd (see `supports`). A float64 test holds it
equal to autograd through `chunk_step` on random inputs of several shapes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .functional import (
    activation,
    activation_backward,
    activation_second_derivative,
    apply_layer,
    attentional_loss_gradient,
    inner_errors,
    layer_norm_backward,
    mlp_forward,
    output_transform,
    renormalised,
    renormalised_backward,
    scaled_errors,
    step_scales,
)
from .spec import MemorySpec


class ChunkCoefficients(NamedTuple):
    """The scalar weights of one chunk's update, for positions j, i of the chunk (G_i = e_i x_i^T,
    token i's rank-one gradient; B, H leading):

        R_j = raw_keep_j R0 + momentum_to_raw_j S0 - sum_i raw_writes[j, i] G_i
        S_j = momentum_keep_j S0 - sum_i momentum_writes[j, i] G_i           (momentum only)

    raw_keep, momentum_to_raw, momentum_keep: (B, H, m); raw_writes, momentum_writes: (B, H, m, n),
    theta folded in; m = n rows (every token's), or 1 (the chunk's last, `write_coefficients`). The
    momentum fields are None without momentum.
    """

    raw_keep: Tensor
    momentum_to_raw: Tensor | None
    raw_writes: Tensor
    momentum_keep: Tensor | None
    momentum_writes: Tensor | None


def supports(spec: MemorySpec) -> bool:
    """Whether `ChunkWrite` handles this spec (others run the chunk under autograd)."""
    return spec.retention in ("none", "decay") and spec.bias in ("l2", "dot")


def inner_gradient(spec: MemorySpec, f: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """g = dl/dpred for the l2 and dot biases, at pred = T(k, f)."""
    return attentional_loss_gradient(spec, output_transform(spec, k, f), v, None)


class ChunkWrite(torch.autograd.Function):
    """(q, k, v, coefficients, R_1..R_L, S_1..S_L) -> (y, R_1'..R_L', S_1'..S_L') for one full chunk.

    The coefficients are the fields of `ChunkCoefficients`, in its order: raw_keep, momentum_to_raw
    (B, H, m) and raw_writes (B, H, m, n), with m = n for read="token" (every token's row) and m = 1
    for read="chunk" (the last row only); momentum_keep (B, H, 1) and momentum_writes (B, H, 1, n), the
    last rows. The momentum fields and the momentum state are None / empty without momentum.
    `slots`, when given, are tensors of the new state's shapes that receive it (see `run_chunked`'s arena).
    """

    @staticmethod
    def forward(
        ctx,
        spec,
        slots,
        q,
        k,
        v,
        raw_keep,
        momentum_to_raw,
        raw_writes,
        momentum_keep,
        momentum_writes,
        *state,
    ):  # noqa: D102
        coefficients = ChunkCoefficients(
            raw_keep, momentum_to_raw, raw_writes, momentum_keep, momentum_writes
        )
        layers = len(state) if momentum_to_raw is None else len(state) // 2
        weights, momentum = list(state[:layers]), list(state[layers:]) or None
        if spec.read == "chunk":
            both_inputs, both_pre = mlp_forward(spec, weights, torch.cat([k, q], dim=-2))
            inputs, pre = _keys_part(both_inputs, k), _keys_part(both_pre, k)
            y = output_transform(spec, q, both_pre[-1][..., k.shape[-2] :, :])
        else:
            inputs, pre = mlp_forward(spec, weights, k)
        written = scaled_errors(inner_errors(spec, weights, pre, k, v, None), step_scales(spec, inputs))
        if spec.read == "token":
            read = _token_read(spec, weights, momentum, inputs, written, q, coefficients)
            y = output_transform(spec, q, read[-1][-1])
        new_raw, new_momentum = _write(weights, momentum, inputs, written, coefficients)
        # The renormalisation's backward needs the rows' norms before it and its output (the next
        # chunk's start state, which that chunk keeps anyway), not the write again.
        written_norms = [r.norm(dim=-1, keepdim=True) for r in new_raw] if spec.renorm else []
        new_raw = renormalised(spec, new_raw, weights)
        ctx.spec = spec
        ctx.layers = layers
        new_state = [*new_raw, *new_momentum]
        if slots is not None:
            new_state = [slot.copy_(t) for slot, t in zip(slots, new_state, strict=True)]
        renormalised_raw = new_state[:layers] if spec.renorm else []
        ctx.save_for_backward(
            q, k, v, raw_keep, momentum_to_raw, raw_writes, momentum_keep, momentum_writes, *state,
            *renormalised_raw, *written_norms,
        )  # fmt: skip
        return (y, *new_state)

    @staticmethod
    def backward(ctx, dy, *d_state):  # noqa: D102
        spec, layers = ctx.spec, ctx.layers
        q, k, v, raw_keep, momentum_to_raw, raw_writes, momentum_keep, momentum_writes, *saved = (
            ctx.saved_tensors
        )
        state_size = layers if momentum_to_raw is None else 2 * layers
        state, renorm_saved = saved[:state_size], saved[state_size:]
        coefficients = ChunkCoefficients(
            raw_keep, momentum_to_raw, raw_writes, momentum_keep, momentum_writes
        )
        weights, momentum = state[:layers], state[layers:] or None
        d_raw = _zeros_for_none(d_state[:layers], weights)
        d_velocity = None if momentum is None else _zeros_for_none(d_state[layers:], momentum)
        last = layers - 1
        n = k.shape[-2]

        # Recompute the chunk's forward from its start weights (read="chunk": keys and queries in
        # one pass).
        if spec.read == "chunk":
            both_inputs, both_pre = mlp_forward(spec, weights, torch.cat([k, q], dim=-2))
            inputs, pre = _keys_part(both_inputs, k), _keys_part(both_pre, k)
        else:
            inputs, pre = mlp_forward(spec, weights, k)
        errors = inner_errors(spec, weights, pre, k, v, None)
        scales = step_scales(spec, inputs)
        written = scaled_errors(errors, scales)  # what the write and the token reads use

        # The renormalisation R' <- R' ||R row|| / ||R' row||, back to the write's R' and to R.
        d_start = None
        if spec.renorm:
            renormalised_raw, written_norms = renorm_saved[:layers], renorm_saved[layers:]
            d_raw, d_start = renormalised_backward(renormalised_raw, written_norms, weights, d_raw)

        # Retention and momentum: R' = raw_keep R + momentum_to_raw S + ...,
        # S' = momentum_keep S + ... (last rows).
        d_weights = [_scale(raw_keep[..., -1], g) for g in d_raw]
        if d_start is not None:
            d_weights = [g + g0 for g, g0 in zip(d_weights, d_start, strict=True)]
        d_raw_keep, d_momentum_to_raw, d_raw_writes = (
            torch.zeros_like(raw_keep),
            None,
            torch.zeros_like(raw_writes),
        )
        d_raw_keep[..., -1] = sum(_dot(g, w) for g, w in zip(d_raw, weights, strict=True))
        d_momentum_keep = d_momentum_writes = d_momentum = None
        if momentum is not None:
            d_momentum = [
                _scale(momentum_to_raw[..., -1], gr) + _scale(momentum_keep[..., -1], gv)
                for gr, gv in zip(d_raw, d_velocity, strict=True)
            ]
            d_momentum_to_raw, d_momentum_writes = (
                torch.zeros_like(momentum_to_raw),
                torch.zeros_like(momentum_writes),
            )
            d_momentum_to_raw[..., -1] = sum(_dot(g, m) for g, m in zip(d_raw, momentum, strict=True))
            d_momentum_keep = sum(_dot(g, m) for g, m in zip(d_velocity, momentum, strict=True)).unsqueeze(-1)

        # The write: -sum_i c_i e_i x_i^T (and -sum_i d_i e_i x_i^T into the momentum).
        d_errors, d_inputs = [], []
        rows = (
            [raw_writes[..., -1, :]]
            if momentum is None
            else [raw_writes[..., -1, :], momentum_writes[..., -1, :]]
        )
        for index in range(layers):
            x, err = inputs[index], written[index]
            # The write subtracts: the signs are applied to the (smaller) results below.
            targets = [d_raw[index]] if momentum is None else [d_raw[index], d_velocity[index]]
            both = torch.cat(targets, dim=-2)  # (R x out, in)
            projected = (x @ both.transpose(-1, -2)).split(err.shape[-1], dim=-1)  # x_i G_r^T
            d_errors.append(-sum(row.unsqueeze(-1) * p for row, p in zip(rows, projected, strict=True)))
            d_raw_writes[..., -1, :] -= (err * projected[0]).sum(-1)
            if momentum is not None:
                d_momentum_writes[..., -1, :] -= (err * projected[1]).sum(-1)
            weighted = torch.cat([row.unsqueeze(-1) * err for row in rows], dim=-1)  # (n, R x out)
            d_inputs.append((weighted @ both).neg_())

        # read="token": each token's W_j in dual form, back to the queries, the state, the
        # coefficients, and the keys' errors and inputs (before those are used below).
        d_q = None
        if spec.read == "token":
            read = _token_read(spec, weights, momentum, inputs, written, q, coefficients)
            d_q, d_z = _transform_backward(spec, read[-1][-1], dy)
            for index in range(last, -1, -1):
                u, from_raw, from_velocity, scores, z = read[index]
                d_raw_keep += (d_z * from_raw).sum(-1)
                pieces, matrices = [raw_keep.unsqueeze(-1) * d_z], [weights[index]]
                if momentum is not None:
                    d_momentum_to_raw += (d_z * from_velocity).sum(-1)
                    pieces.append(momentum_to_raw.unsqueeze(-1) * d_z)
                    matrices.append(momentum[index])
                stacked = torch.cat(pieces, dim=-1)  # (n, R x out)
                d_u = stacked @ torch.cat(matrices, dim=-2)
                to_state = (stacked.transpose(-1, -2) @ u).split(z.shape[-1], dim=-2)
                d_weights[index] = d_weights[index] + to_state[0]
                if momentum is not None:
                    d_momentum[index] = d_momentum[index] + to_state[1]
                # z -= (C * scores) e: scores = u x^T.
                d_mix = -(d_z @ written[index].transpose(-1, -2))  # d (C * scores)
                d_errors[index] = d_errors[index] - (raw_writes * scores).transpose(-1, -2) @ d_z
                d_raw_writes += d_mix * scores
                d_scores = d_mix * raw_writes
                d_u = d_u + d_scores @ inputs[index]
                d_inputs[index] = d_inputs[index] + d_scores.transpose(-1, -2) @ u
                if index == 0:
                    d_q = d_q + d_u
                else:
                    d_z = activation_backward(spec, d_u, read[index - 1][-1])

        # The normalised step: written_l = e_l / (1 + ||x_l||^2), back to e_l and x_l.
        if scales is not None:
            for index in range(layers):
                scale = scales[index].unsqueeze(-1)
                d_scale = (d_errors[index] * errors[index]).sum(-1, keepdim=True)
                d_errors[index] = d_errors[index] * scale
                d_inputs[index] = d_inputs[index] - 2.0 * d_scale * scale.pow(2) * inputs[index]

        # The errors: e_l = act'(z_l) * (e_{l+1} W_{l+1}), from the bottom layer up.
        d_pre = [None] * layers
        for index in range(last):
            upper = errors[index + 1] @ weights[index + 1]
            d_pre[index] = d_errors[index] * upper * activation_second_derivative(spec, pre[index])
            d_upper = activation_backward(spec, d_errors[index], pre[index])
            d_errors[index + 1] = d_errors[index + 1] + d_upper @ weights[index + 1].transpose(-1, -2)
            d_weights[index + 1] = d_weights[index + 1] + errors[index + 1].transpose(-1, -2) @ d_upper

        # e_L = T_f^*(g) with g = g(T(k, f), v): back to f, k and v.
        d_f, d_k, d_v = _top_backward(spec, pre[-1], k, v, d_errors[last])

        # The keys' forward (read="chunk": with the queries', y = T(q, f_q)), from the top layer down.
        if spec.read == "chunk":
            d_q, d_f_q = _transform_backward(spec, both_pre[-1][..., n:, :], dy)
            d_z, through, through_pre = torch.cat([d_f, d_f_q], dim=-2), both_inputs, both_pre
        else:
            d_z, through, through_pre = d_f, inputs, pre
        for index in range(last, -1, -1):
            d_weights[index] = d_weights[index] + d_z.transpose(-1, -2) @ through[index]
            d_h = d_z @ weights[index]
            d_h[..., :n, :] += d_inputs[index]
            if index == 0:
                d_k = d_k + d_h[..., :n, :]
                if spec.read == "chunk":
                    d_q = d_q + d_h[..., n:, :]
            else:
                d_z = activation_backward(spec, d_h, through_pre[index - 1])
                d_z[..., :n, :] += d_pre[index - 1]

        d_state_out = [*d_weights, *(d_momentum or [])]
        return (
            None,
            None,
            d_q,
            d_k,
            d_v,
            d_raw_keep,
            d_momentum_to_raw,
            d_raw_writes,
            d_momentum_keep,
            d_momentum_writes,
            *d_state_out,
        )


def _write(weights, momentum, inputs, errors, coefficients: ChunkCoefficients):
    """The chunk's write from its last coefficient rows, per layer: R' = raw_keep R + momentum_to_raw S -
    sum_i raw_writes_i e_i x_i^T and S' = momentum_keep S - sum_i momentum_writes_i e_i x_i^T (no
    momentum: S' is the empty list)."""
    last = _last_rows(coefficients)
    to_raw = _weighted_outer(last.raw_writes, errors, inputs)
    new_raw = [_scale(last.raw_keep, w) - t for w, t in zip(weights, to_raw, strict=True)]
    if momentum is None:
        return new_raw, []
    to_velocity = _weighted_outer(last.momentum_writes, errors, inputs)
    new_raw = [r + _scale(last.momentum_to_raw, m) for r, m in zip(new_raw, momentum, strict=True)]
    return new_raw, [_scale(last.momentum_keep, m) - t for m, t in zip(momentum, to_velocity, strict=True)]


def _last_rows(coefficients: ChunkCoefficients) -> ChunkCoefficients:
    """The coefficients at the chunk's last position j = n: vectors (B, H), matrices (B, H, n)."""
    vector = lambda t: None if t is None else t[..., -1]  # noqa: E731
    matrix = lambda t: None if t is None else t[..., -1, :]  # noqa: E731
    c = coefficients
    return ChunkCoefficients(
        vector(c.raw_keep), vector(c.momentum_to_raw), matrix(c.raw_writes),
        vector(c.momentum_keep), matrix(c.momentum_writes),
    )  # fmt: skip


def _token_read(spec, weights, momentum, inputs, errors, q, coefficients: ChunkCoefficients) -> list[tuple]:
    """read="token" in dual form, layer by layer: (u, u R^T, u S^T or None, u x^T, z) per layer, with
    z = raw_keep * (u R^T) + momentum_to_raw * (u S^T) - (raw_writes * (u x^T)) e, u the layer's
    input (q for the first)."""
    raw_keep, momentum_to_raw, raw_writes = coefficients[:3]
    read, u = [], q
    for index, weight in enumerate(weights):
        from_raw = apply_layer(weight, u)
        z = raw_keep.unsqueeze(-1) * from_raw
        from_velocity = None
        if momentum is not None:
            from_velocity = apply_layer(momentum[index], u)
            z = z + momentum_to_raw.unsqueeze(-1) * from_velocity
        scores = u @ inputs[index].transpose(-1, -2)
        z = z - (raw_writes * scores) @ errors[index]
        read.append((u, from_raw, from_velocity, scores, z))
        if index < len(weights) - 1:
            u = activation(spec, z)
    return read


def _keys_part(tensors: list[Tensor], k: Tensor) -> list[Tensor]:
    """The keys' rows of a pass over [k; q]."""
    return [t[..., : k.shape[-2], :] for t in tensors]


def _transform_backward(spec: MemorySpec, f: Tensor, d_out: Tensor) -> tuple[Tensor | float, Tensor]:
    """Gradients (to x, to f) of T(x, f) for an output gradient d_out."""
    d_x = d_out if (spec.residual or spec.norm) else 0.0
    return d_x, layer_norm_backward(f, d_out) if spec.norm else d_out


def _top_backward(spec: MemorySpec, f: Tensor, k: Tensor, v: Tensor, d_top: Tensor):
    """Gradients (to f, k, v) of e_L = T_f^*(g(T(k, f), v)) for an output gradient d_top."""
    d_f = torch.zeros_like(f)
    if spec.norm:
        # e_L = LN'(f)^T g: the Jacobian of LayerNorm (no affine) is symmetric, so the g-part of the
        # gradient is LN'(f) d_top; the f-part (a second derivative) comes from autograd on the
        # chunk's small (n x d_v) tensors.
        with torch.enable_grad():
            f_ = f.detach().requires_grad_(True)
            g = inner_gradient(spec, f, k, v).detach()
            (d_f,) = torch.autograd.grad(layer_norm_backward(f_, g), f_, d_top)
        d_g = layer_norm_backward(f, d_top)
    else:
        d_g = d_top
    d_v = -d_g
    if spec.bias == "dot":
        return d_f, torch.zeros_like(k), d_v
    # l2: g = T(k, f) - v
    d_k, d_from_g = _transform_backward(spec, f, d_g)
    d_k = d_k if isinstance(d_k, Tensor) else torch.zeros_like(k)
    return d_f + d_from_g, d_k, d_v


def _weighted_outer(rows: Tensor, errors: list[Tensor], inputs: list[Tensor]) -> list[Tensor]:
    """sum_i w_i e_{l,i} x_{l,i}^T per layer, for token weights rows (B, H, n)."""
    return [err.transpose(-1, -2) @ (rows.unsqueeze(-1) * x) for err, x in zip(errors, inputs, strict=True)]


def _zeros_for_none(grads, like) -> list[Tensor]:
    """Autograd passes None for an output nobody used."""
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, like, strict=True)]


def _scale(factor: Tensor, matrix: Tensor) -> Tensor:
    return factor[..., None, None] * matrix


def _dot(x: Tensor, y: Tensor) -> Tensor:
    return (x * y).sum(dim=(-2, -1))
