"""Float32 stability over a long stream."""

from __future__ import annotations

import pytest
import torch

from app.memory import MemorySpec, MemoryState, run_memory


# The default rule renormalises, so the memory can output only what W_0's norms allow: there W_0
# starts at the scale of the mapping to hold (as a trained W_0 would); without renorm, at 1 / sqrt(in).
@pytest.mark.parametrize("renorm, scale", [(True, 4.0), (False, 1.0)], ids=["stable", "no-renorm"])
def test_titans_65k_tokens_float32_stays_finite_bounded_and_learns(renorm, scale):
    torch.manual_seed(0)
    batch, heads, length, width, piece = 1, 2, 65_536, 16, 8_192
    spec = MemorySpec.preset("titans", dim_key=width, dim_value=width, chunk_size=64, renorm=renorm)
    weights = [scale * torch.randn(heads, o, i) / i**0.5 for o, i in spec.weight_shapes()]
    state = MemoryState.initial(spec, weights, batch)
    # A stream with structure to remember: v = A k + noise, so the memory has something to hold.
    mapping = torch.randn(heads, width, width)
    norms, errors = [], []
    with torch.no_grad():
        for _ in range(length // piece):
            shape = (batch, heads, piece)
            k = torch.nn.functional.normalize(torch.randn(*shape, width), dim=-1)
            v = torch.einsum("hij,bhtj->bhti", mapping, k) + 0.1 * torch.randn(*shape, width)
            gates = {
                "theta": 0.05 * torch.sigmoid(torch.randn(shape)),
                "eta": 0.9 * torch.sigmoid(torch.randn(shape)),
                "alpha": 0.002 * torch.sigmoid(torch.randn(shape)),  # decay on
            }
            y, state = run_memory(spec, k, k, v, gates, state)
            assert torch.isfinite(y).all()
            assert all(torch.isfinite(w).all() for w in state.weights)
            norms.append(max(w.norm().item() for w in state.weights))
            errors.append(((y - v) ** 2).mean().item() / (v**2).mean().item())
    assert state.position == length
    # Bounded: the norm settles instead of growing with the stream (with renorm it is W_0's exactly).
    assert max(norms[-2:]) < 1.5 * max(norms[:2]), norms
    if renorm:
        initial = max(w.norm().item() for w in weights)
        assert max(norms) == pytest.approx(initial, rel=1e-4)
    # And the memory is not bounded by being empty: it recalls the mapping it was shown.
    assert errors[-1] < 0.2, errors
