"""The memory's math, shared by every execution path: the model M_W, its inner losses, retention maps.

Shapes: memory matrices are (B, H, out, in); inputs are (B, H, ..., in). Batch and heads are
independent memories.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .spec import MemorySpec

# The output LayerNorm's eps (M(x) = x + LayerNorm(f(x))) bounds its gain 1 / sqrt(var(f) + eps) at
# 1 / sqrt(eps) = 32. Memora's f averages its inputs (simplex rows), so var(f) is small and the
# gain large; at eps = 1e-5 (gain up to 316) the inner loop amplified perturbations by about 1.2x a
# chunk at initialisation and 1.8-1.9x after training, so the outer gradient through a 2,048-token
# sequence (128 chunks) overflowed (README, "Long-context recall").
LAYER_NORM_EPS = 1e-3


def activation(spec: MemorySpec, z: Tensor) -> Tensor:
    if spec.activation == "gelu":
        return F.gelu(z)  # exact (erf) GELU
    if spec.activation == "silu":
        return F.silu(z)
    if spec.activation == "relu":
        return torch.relu(z)
    return torch.tanh(z)


def activation_backward(spec: MemorySpec, grad: Tensor, z: Tensor) -> Tensor:
    """grad * act'(z): the chunked path backpropagates through the memory by hand."""
    if spec.activation == "gelu":
        # One fused kernel, and it is itself differentiable (the outer loop needs its gradient).
        return torch.ops.aten.gelu_backward(grad, z)
    return grad * activation_derivative(spec, z)


def activation_derivative(spec: MemorySpec, z: Tensor) -> Tensor:
    """d act / dz for the activations without a fused backward kernel (GELU has one)."""
    if spec.activation == "silu":
        s = torch.sigmoid(z)
        return s * (1.0 + z * (1.0 - s))
    if spec.activation == "relu":
        return (z > 0).to(z.dtype)
    return 1.0 - torch.tanh(z) ** 2


def activation_second_derivative(spec: MemorySpec, z: Tensor) -> Tensor:
    """d^2 act / dz^2 (the chunk's hand-written backward goes through the inner loop's act')."""
    if spec.activation == "gelu":
        # GELU(z) = z Phi(z): GELU' = Phi + z phi and GELU'' = phi (2 - z^2), phi the normal density.
        return _normal_pdf(z) * (2.0 - z * z)
    if spec.activation == "silu":
        s = torch.sigmoid(z)
        return s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s))
    if spec.activation == "relu":
        return torch.zeros_like(z)
    t = torch.tanh(z)
    return -2.0 * t * (1.0 - t * t)


def _normal_pdf(z: Tensor) -> Tensor:
    return torch.exp(-0.5 * z * z) * (2.0 * torch.pi) ** -0.5


def apply_layer(weight: Tensor, x: Tensor) -> Tensor:
    """x @ W^T for a (B, H, out, in) matrix and (B, H, ..., in) inputs."""
    if x.dim() == weight.dim():
        return x @ weight.transpose(-1, -2)
    # one vector per (batch, head)
    return (weight @ x.unsqueeze(-1)).squeeze(-1)


def output_transform(spec: MemorySpec, x: Tensor, f: Tensor) -> Tensor:
    """The MLP's output: f(x), x + f(x) (residual) or x + LayerNorm(f(x)) (norm)."""
    if spec.norm:
        f = F.layer_norm(f, f.shape[-1:], eps=LAYER_NORM_EPS)
    if spec.residual or spec.norm:
        f = f + x
    return f


def memory_forward(spec: MemorySpec, weights: list[Tensor], x: Tensor) -> Tensor:
    """M_W(x) = W_L act(... act(W_1 x)), then the optional residual / norm."""
    h = x
    for index, weight in enumerate(weights):
        h = apply_layer(weight, h)
        if index < len(weights) - 1:
            h = activation(spec, h)
    return output_transform(spec, x, h)


def mlp_forward(spec: MemorySpec, weights: list[Tensor], x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
    """Each layer's input h_{l-1} and pre-activation z_l for inputs x (the last z is f; the
    output is then output_transform(spec, x, f))."""
    inputs, pre = [], []
    h = x
    for index, weight in enumerate(weights):
        inputs.append(h)
        z = apply_layer(weight, h)
        pre.append(z)
        if index < len(weights) - 1:
            h = activation(spec, z)
    return inputs, pre


def inner_errors(
    spec: MemorySpec, weights: list[Tensor], pre: list[Tensor], k: Tensor, v: Tensor, delta: Tensor | None
) -> list[Tensor]:
    """e_l = dl/dz_l per token for every layer: the inner loss backpropagated by hand through the
    MLP at `weights`, from the keys' pre-activations `pre` (see `mlp_forward`)."""
    f = pre[-1]
    grad = attentional_loss_gradient(spec, output_transform(spec, k, f), v, delta)
    if spec.norm:
        grad = layer_norm_backward(f, grad)
    errors = [grad] * len(weights)
    for index in range(len(weights) - 1, 0, -1):
        grad = activation_backward(spec, grad @ weights[index], pre[index - 1])
        errors[index - 1] = grad
    return errors


def applied_weights(spec: MemorySpec, raw: list[Tensor]) -> list[Tensor]:
    """The weights the memory applies, from the raw state R that the retention rule updates."""
    if spec.retention == "lq":
        # Moneta: W = A / ||A||_q^(q-2), the entrywise q-norm of each matrix per batch and head.
        return [a / lq_scale(spec, a) for a in raw]
    if spec.retention == "simplex":
        # Memora: each row of W lies on the simplex.
        return [torch.softmax(r, dim=-1) for r in raw]
    return list(raw)


def lq_scale(spec: MemorySpec, a: Tensor) -> Tensor:
    """Moneta's divisor ||A||_q^(q-2) of each matrix (..., out, in) -> (..., 1, 1)."""
    # ||A||_q^(q-2) = (sum |a|^q)^((q-2)/q). For an even q, |a|^q = (a^2)^(q/2): torch computes a
    # power of 2 or 3 by multiplication and any other by exp / log (for q = 4 on a tensor of a
    # chunk's R_j, forward and backward: 4.9 ms as a.abs().pow(4), 1.5-2.5 ms as (a * a).pow(2)).
    powers = (a * a).pow(spec.q / 2) if spec.q % 2 == 0 else a.abs().pow(spec.q)
    return powers.sum(dim=(-2, -1), keepdim=True).pow((spec.q - 2.0) / spec.q)


def attentional_loss(spec: MemorySpec, prediction: Tensor, value: Tensor, delta: Tensor | None) -> Tensor:
    """Per-token inner loss l(M(k), v), summed over the value axis: (..., d_v) -> (...)."""
    residual = prediction - value
    if spec.bias == "dot":
        return -(prediction * value).sum(-1)
    if spec.bias == "l2":
        return 0.5 * residual.pow(2).sum(-1)
    if spec.bias == "lp":
        return residual.abs().pow(spec.p).sum(-1)
    assert delta is not None
    quadratic = 0.5 * residual.pow(2).sum(-1)
    linear = delta * residual.abs().sum(-1)
    return torch.where(residual.norm(dim=-1) <= delta, quadratic, linear)


def attentional_loss_gradient(
    spec: MemorySpec, prediction: Tensor, value: Tensor, delta: Tensor | None
) -> Tensor:
    """d l / d prediction, written out (the chunked path's closed form of `attentional_loss`)."""
    residual = prediction - value
    if spec.bias == "dot":
        return -value.expand_as(prediction)
    if spec.bias == "l2":
        return residual
    if spec.bias == "lp":
        return spec.p * torch.sign(residual) * residual.abs().pow(spec.p - 1.0)
    assert delta is not None
    inside = residual.norm(dim=-1, keepdim=True) <= delta.unsqueeze(-1)
    return torch.where(inside, residual, delta.unsqueeze(-1) * torch.sign(residual))


def layer_norm_backward(f: Tensor, grad_out: Tensor) -> Tensor:
    """Backward of LayerNorm without affine, at input f, for output gradient grad_out."""
    mean = f.mean(-1, keepdim=True)
    centred = f - mean
    inv_std = torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + LAYER_NORM_EPS)
    normed = centred * inv_std
    return inv_std * (
        grad_out - grad_out.mean(-1, keepdim=True) - normed * (grad_out * normed).mean(-1, keepdim=True)
    )


def keep_factor(spec: MemorySpec, gates: dict[str, Tensor]) -> Tensor | None:
    """Per-token keep factor 1 - alpha_t of the retention recursion; None when nothing decays."""
    if spec.retention == "none":
        return None
    return 1.0 - gates["alpha"]


def step_scales(spec: MemorySpec, inputs: list[Tensor]) -> list[Tensor] | None:
    """The normalised step's per-token factor of each layer, 1 / (1 + ||x_l||^2) for layer inputs
    x_l (..., in) -> (...); None for the plain step. Token i's gradient e_i x_i^T has norm
    ||e_i|| ||x_i||, so the scaled one is at most ||e_i|| / 2 whatever the scale of x_i."""
    if spec.step_norm == "none":
        return None
    return [1.0 / (1.0 + x.pow(2).sum(-1)) for x in inputs]


def scaled_errors(errors: list[Tensor], scales: list[Tensor] | None) -> list[Tensor]:
    """The errors e_l with each token's step factor folded in (the rank-one terms are then
    (scale_i e_i) x_i^T); the errors themselves when the step is plain."""
    if scales is None:
        return errors
    return [e * s.unsqueeze(-1) for e, s in zip(errors, scales, strict=True)]


def renormalised(spec: MemorySpec, raw: list[Tensor], start: list[Tensor]) -> list[Tensor]:
    """After a chunk's write: each row of each raw weight rescaled to its norm at the chunk's start,
    as LaCT does, so the norms of W_0's rows hold for ever, up to rounding (`spec.renorm`; otherwise
    `raw` unchanged). A row that was 0 at the chunk's start (a zero W_0, as linear attention starts)
    or is 0 after the write is left as written, so a zero memory can still learn."""
    if not spec.renorm:
        return raw
    out = []
    for r, r0 in zip(raw, start, strict=True):
        norm, norm0 = r.norm(dim=-1, keepdim=True), r0.norm(dim=-1, keepdim=True)
        ratio = norm0 / norm.clamp_min(torch.finfo(r.dtype).tiny)
        out.append(r * torch.where((norm > 0) & (norm0 > 0), ratio, torch.ones_like(ratio)))
    return out


def renormalised_backward(
    out: list[Tensor], norms: list[Tensor], start: list[Tensor], d_out: list[Tensor]
) -> tuple[list[Tensor], list[Tensor]]:
    """Gradients (to raw, to start) of `renormalised`, from its output `out` and the rows' norms
    before it, `norms`: y = x n0 / n per row, n = ||x||, n0 = ||x0||, so dx = (n0 / n) (dy - x^ (x^ .
    dy)) and dx0 = (x^ . dy) x0 / n0, with x^ = x / n = y / n0 (the rescaled row has norm n0)."""
    d_raw, d_start = [], []
    for y, norm, x0, dy in zip(out, norms, start, d_out, strict=True):
        tiny = torch.finfo(y.dtype).tiny
        norm0 = x0.norm(dim=-1, keepdim=True)
        live = (norm > 0) & (norm0 > 0)  # rows `renormalised` leaves as they are: identity
        unit = y / norm0.clamp_min(tiny)
        along = (unit * dy).sum(-1, keepdim=True)
        d_raw.append(torch.where(live, norm0 / norm.clamp_min(tiny) * (dy - unit * along), dy))
        d_start.append(torch.where(live, along * x0 / norm0.clamp_min(tiny), 0.0))
    return d_raw, d_start
