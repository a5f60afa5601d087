"""Every preset is causal (exactly), and streaming in pieces, split anywhere, equals one pass."""

from __future__ import annotations

import pytest
import torch

from .helpers import ALL_PRESETS, CHUNK, SEGMENT, WINDOW, random_input, run_in_pieces, tiny_model

LENGTH = 29  # crosses several windows (5), chunks (4) and MAC segments (6) of the tiny configs


def split_points(seed: int) -> list[int]:
    """Sorted cut points of [0, LENGTH]: a fixed set inside a chunk, a segment and a window, then random."""
    if seed == 0:
        # 1 and 2: single tokens at the start; 7: inside a segment and a chunk; 13, 13: an empty piece.
        return [0, 1, 2, 7, 13, 13, 14, LENGTH]
    generator = torch.Generator().manual_seed(seed)
    cuts = torch.randint(0, LENGTH + 1, (5,), generator=generator).sort().values.tolist()
    return [0, *cuts, LENGTH]


def test_split_points_cut_inside_chunks_segments_and_windows():
    cuts = {cut for seed in range(3) for cut in split_points(seed)[1:-1]}
    for size in (CHUNK, SEGMENT, WINDOW):
        assert any(cut % size for cut in cuts), size


@pytest.mark.parametrize("name", ALL_PRESETS)
@pytest.mark.parametrize(
    ("dtype", "tolerance"), [(torch.float64, 1e-10), (torch.float32, 1e-5)], ids=["float64", "float32"]
)
def test_streaming_equals_one_pass(name, dtype, tolerance):
    net = tiny_model(name, dtype)
    x = random_input(LENGTH + 7, dtype, seed=1)
    x, after = x[:, :LENGTH], x[:, LENGTH:]
    with torch.no_grad():
        y_whole, state_whole = net(x)
        next_whole, _ = net(after, state_whole)
        for seed in range(3):
            bounds = split_points(seed)
            y_pieces, state = run_in_pieces(net, x, bounds)
            torch.testing.assert_close(y_pieces, y_whole, rtol=tolerance, atol=tolerance, msg=str(bounds))
            assert state.position == state_whole.position == LENGTH
            # The state carries everything: the next piece continues alike from either.
            next_pieces, _ = net(after, state)
            torch.testing.assert_close(next_pieces, next_whole, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_token_by_token_equals_one_pass(name):
    net = tiny_model(name)
    x = random_input(14, seed=2, batch=1)
    with torch.no_grad():
        y_whole, _ = net(x)
        y_steps, _ = run_in_pieces(net, x, list(range(15)))
    torch.testing.assert_close(y_steps, y_whole, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_causal(name):
    """Changing inputs after position t leaves the outputs up to t unchanged, exactly (float64)."""
    net = tiny_model(name)
    x = random_input(20, seed=3)
    with torch.no_grad():
        y, _ = net(x)
        for t in (0, 5, 6, 11, 17):  # first token, segment / chunk / window ends and insides
            changed = x.clone()
            changed[:, t + 1 :] = random_input(20 - t - 1, seed=4 + t)
            y_changed, _ = net(changed)
            torch.testing.assert_close(y_changed[:, : t + 1], y[:, : t + 1], rtol=0, atol=0)
            assert not torch.allclose(y_changed[:, t + 1 :], y[:, t + 1 :])
