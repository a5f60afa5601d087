"""Attention against the naive T x T reference (float64), causality, the window convention, O(T x window)
memory at 64k tokens, gradients, dtypes."""

from __future__ import annotations

import resource
import time

import pytest
import torch

from app.layers import CausalAttention, PersistentMemory, SlidingWindowAttention
from app.layers import attention as attention_module

from .naive import naive_attention


def make(kind: str, d_model: int = 16, heads: int = 2, window: int = 4, seed: int = 0, **options):
    torch.manual_seed(seed)
    if kind == "causal":
        return CausalAttention(d_model, heads, **options).double()
    return SlidingWindowAttention(d_model, heads, window, **options).double()


def inputs(batch: int, length: int, n_prefix: int, d_model: int = 16, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, d_model, generator=generator, dtype=torch.float64)
    prefix = torch.randn(batch, n_prefix, d_model, generator=generator, dtype=torch.float64)
    return x, (prefix if n_prefix else None)


# (T, window, heads, prefix tokens): T a multiple of the window and not, window 1, window == T, window > T.
SLIDING_CASES = [
    (1, 1, 1, 0),
    (7, 3, 2, 0),
    (16, 4, 4, 0),
    (17, 4, 2, 3),
    (37, 8, 2, 2),
    (20, 1, 2, 2),
    (12, 12, 1, 0),
    (13, 2, 4, 1),
    (5, 50, 2, 0),
    (5, 50, 2, 4),
]


@pytest.mark.parametrize("rotary, bias", [(True, False), (False, True)])
@pytest.mark.parametrize("length, window, heads, n_prefix", SLIDING_CASES)
def test_sliding_window_equals_naive_band_attention(length, window, heads, n_prefix, rotary, bias):
    module = make("sliding", heads=heads, window=window, rotary=rotary, bias=bias)
    x, prefix = inputs(2, length, n_prefix)
    y, state = module(x, prefix=prefix)
    torch.testing.assert_close(y, naive_attention(module, x, prefix), rtol=1e-10, atol=1e-12)
    assert state.position == length and state.keys.shape[2] == min(length, window - 1)


@pytest.mark.parametrize("rotary", [True, False])
@pytest.mark.parametrize("length, heads, n_prefix", [(1, 1, 0), (9, 2, 0), (23, 4, 3), (40, 2, 1)])
def test_causal_equals_naive_attention(length, heads, n_prefix, rotary):
    module = make("causal", heads=heads, rotary=rotary, bias=True)
    x, prefix = inputs(2, length, n_prefix)
    y, state = module(x, prefix=prefix)
    torch.testing.assert_close(y, naive_attention(module, x, prefix), rtol=1e-10, atol=1e-12)
    assert state.keys.shape[2] == length  # full attention's state keeps every past token


def test_blocked_paths_equal_naive_when_split_into_groups(monkeypatch):
    # A tiny score budget forces one block (or one query row) per scaled_dot_product_attention call.
    monkeypatch.setattr(attention_module, "SCORE_BUDGET", 1)
    for kind in ("sliding", "causal"):
        module = make(kind, window=3)
        x, prefix = inputs(2, 11, 2)
        y, _ = module(x, prefix=prefix)
        torch.testing.assert_close(y, naive_attention(module, x, prefix), rtol=1e-10, atol=1e-12)


def test_window_longer_than_stream_is_causal_attention_and_pads_nothing():
    sliding = make("sliding", window=10**9)  # padding keys to the window's length would not fit in memory
    causal = make("causal")
    causal.load_state_dict(sliding.state_dict())
    x, prefix = inputs(2, 19, 2)
    torch.testing.assert_close(sliding(x, prefix=prefix)[0], causal(x, prefix=prefix)[0], rtol=1e-10, atol=0)


@pytest.mark.parametrize("kind", ["sliding", "causal"])
def test_prefix_of_batch_one_broadcasts(kind):
    module = make(kind)
    x, prefix = inputs(3, 10, 2)
    shared = prefix[:1]
    y_shared, _ = module(x, prefix=shared)
    y_expanded, _ = module(x, prefix=shared.expand(3, -1, -1).clone())
    torch.testing.assert_close(y_shared, y_expanded, rtol=1e-10, atol=1e-12)
    y_without, _ = module(x)
    assert not torch.allclose(y_shared, y_without)  # the prefix is attended to


@pytest.mark.parametrize("kind", ["sliding", "causal"])
@pytest.mark.parametrize("n_prefix", [0, 2])
def test_causal_outputs_ignore_later_inputs_exactly(kind, n_prefix):
    module = make(kind, window=5)
    x, prefix = inputs(2, 30, n_prefix)
    changed = x.clone()
    changed[:, 13:] = torch.randn(2, 17, 16, dtype=torch.float64)
    y, _ = module(x, prefix=prefix)
    y_changed, _ = module(changed, prefix=prefix)
    torch.testing.assert_close(y[:, :13], y_changed[:, :13], rtol=0, atol=0)
    assert not torch.allclose(y[:, 13:], y_changed[:, 13:])


@pytest.mark.parametrize("window", [1, 4, 7])
def test_token_t_sees_exactly_tokens_t_minus_window_plus_one_to_t(window):
    module = make("sliding", window=window)
    x, prefix = inputs(1, 25, 2)
    changed = x.clone()
    changed[:, 10] += 1.0
    y, _ = module(x, prefix=prefix)
    y_changed, _ = module(changed, prefix=prefix)
    affected = [t for t in range(25) if not torch.equal(y[:, t], y_changed[:, t])]
    assert affected == list(range(10, 10 + window))


def test_sixty_four_thousand_tokens_in_bounded_memory(monkeypatch):
    """T = 65536, window 64: every attention call sees at most 2 x window keys and a bounded number of
    scores; the run is quick and the process does not grow by anything like T^2 (17 GB per head)."""
    torch.manual_seed(0)
    window, n_prefix = 64, 4
    module = SlidingWindowAttention(32, 4, window)
    persistent = PersistentMemory(n_prefix, 32)
    calls = []
    original = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, **kwargs):
        calls.append((tuple(q.shape), tuple(k.shape)))
        return original(q, k, v, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    x = torch.randn(1, 65536, 32)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    with torch.no_grad():
        y, state = module(x, prefix=persistent(1))
    elapsed = time.perf_counter() - start
    growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert state.keys.shape == (1, 4, window - 1, 8)
    assert len(calls) > 1  # processed in groups, not in one call
    assert sum(q[0] * q[2] for q, _ in calls) == 65536  # every query once
    for q_shape, k_shape in calls:
        assert q_shape[2] == window and k_shape[2] == n_prefix + 2 * window - 1
        assert q_shape[0] * q_shape[1] * q_shape[2] * k_shape[2] <= attention_module.SCORE_BUDGET
    assert elapsed < 10, f"{elapsed:.1f} s"
    assert growth_mib < 1024, f"resident memory grew by {growth_mib:.0f} MiB"


def test_causal_attention_calls_stay_within_the_score_budget(monkeypatch):
    monkeypatch.setattr(attention_module, "SCORE_BUDGET", 600)
    calls = []
    original = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, **kwargs):
        calls.append(q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2])
        return original(q, k, v, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    module = make("causal")
    x, _ = inputs(2, 50, 0)
    y, _ = module(x)
    assert len(calls) > 1 and max(calls) <= 600
    torch.testing.assert_close(y, naive_attention(module, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["sliding", "causal"])
def test_gradients_reach_every_parameter_and_cross_the_state(kind):
    torch.manual_seed(0)
    module = (
        CausalAttention(16, 2, bias=True) if kind == "causal" else SlidingWindowAttention(16, 2, 4, bias=True)
    )
    persistent = PersistentMemory(3, 16, init_std=1.0)
    x = torch.randn(2, 12, 16, requires_grad=True)
    _, state = module(x[:, :7], prefix=persistent(2))
    y, _ = module(x[:, 7:], state, prefix=persistent(2))
    y.pow(2).sum().backward()
    for name, parameter in [*module.named_parameters(), *persistent.named_parameters()]:
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    # The second piece's outputs depend on the first piece's last keys through the state.
    assert x.grad[:, 4:7].abs().sum() > 0


@pytest.mark.parametrize("kind", ["sliding", "causal"])
def test_float32_and_bfloat16_agree_with_float64(kind):
    module = make(kind)
    x, prefix = inputs(2, 21, 2)
    y64, _ = module(x, prefix=prefix)
    y32, state32 = module.float()(x.float(), prefix=prefix.float())
    y16, state16 = module.bfloat16()(x.bfloat16(), prefix=prefix.bfloat16())
    assert y32.dtype == torch.float32 and state32.keys.dtype == torch.float32
    assert y16.dtype == torch.bfloat16 and state16.keys.dtype == torch.bfloat16
    torch.testing.assert_close(y32.double(), y64, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y16.double(), y64, rtol=0.05, atol=0.05)


def test_empty_input_returns_empty_output_and_the_same_state():
    module = make("sliding")
    x, _ = inputs(2, 6, 0)
    _, state = module(x)
    y, same = module(x[:, :0], state)
    assert y.shape == (2, 0, 16) and same is state
