"""The Forecaster, RevIN and the baselines (app/models), and the series-wide forecasting loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.forecasting import format_table
from app.forecasting.protocols import MemoryDiverged, fit_dlinear, forecast_windows, online_protocol
from app.models import BackboneConfig
from app.models.baselines import DLinear, MovingAverage, SeasonalNaive
from app.models.forecaster import Forecaster, ForecasterConfig, RevIN

from .conftest import make_memory_diverge


def tiny(preset: str = "titans-lmm", **fields) -> Forecaster:
    torch.manual_seed(0)
    backbone = BackboneConfig.preset(preset, d_model=16, n_layers=1, memory={"chunk_size": 4})
    config = dict(backbone=backbone, lookback=32, horizon=8, patch_len=8, n_targets=2, covariates=1)
    return Forecaster(ForecasterConfig(**{**config, **fields})).eval()


def test_revin_inverts_exactly():
    torch.manual_seed(0)
    revin = RevIN(3)
    with torch.no_grad():
        revin.weight.copy_(torch.tensor([0.5, 2.0, -1.5]))
        revin.bias.copy_(torch.tensor([0.1, -0.3, 2.0]))
    x = torch.randn(4, 50, 3, dtype=torch.float64) * 7 + 3
    y, stats = revin.double().normalize(x)
    assert torch.allclose(y.mean(1), revin.bias.expand(4, 3), atol=1e-12)
    assert torch.allclose(revin.denormalize(y, stats), x, atol=1e-12, rtol=0)


def test_forecaster_shapes_and_channel_independence():
    net = tiny()
    x = torch.randn(3, 80, 3)
    assert net(x).shape == (3, 8, 2)
    # Channel-independent: changing target 1 leaves the forecast of target 0 unchanged.
    x2 = x.clone()
    x2[..., 1] += torch.randn(3, 80)
    assert torch.equal(net(x2)[..., 0], net(x)[..., 0])
    # The covariate reaches every target.
    x3 = x.clone()
    x3[:, -5:, 2] += 3.0
    assert not torch.allclose(net(x3)[..., 0], net(x)[..., 0])
    skip = tiny(linear_skip=True)
    assert skip(x).shape == (3, 8, 2)
    with torch.no_grad():
        skip.skip.weight.zero_()
        skip.skip.bias.zero_()
    without = tiny()
    without.load_state_dict({k: v for k, v in skip.state_dict().items() if not k.startswith("skip.")})
    assert torch.allclose(skip(x), without(x))


def test_history_older_than_the_window_shapes_the_forecast_only_when_memorising():
    net = tiny()
    x = torch.randn(2, 32 + 64, 3)
    older = x.clone()
    older[:, :40] += 2.0 * torch.randn(2, 40, 3)  # rows well before the 32-row window
    assert torch.equal(older[:, -32:], x[:, -32:])
    on = (net(x) - net(older)).abs().max()
    off = (net(x, memorize_history=False) - net(older, memorize_history=False)).abs().max()
    assert on > 1e-4
    assert off == 0
    ablated = tiny(memorize_history=False)
    ablated.load_state_dict(net.state_dict())
    assert torch.equal(ablated(x), ablated(older))
    assert torch.equal(ablated(x), net(x[:, -32:]))


@pytest.mark.parametrize("preset", ["titans-lmm", "titans-mag"])
def test_series_loop_equals_forward_on_each_prefix(preset):
    net = tiny(preset, memorize_chunk=3)
    values = torch.randn(150, 3)
    starts = [32, 33, 47, 64, 100, 142]
    carried = forecast_windows(net, values, starts, batch_size=2)
    with torch.no_grad():
        direct = np.stack([net(values[None, :s])[0].numpy() for s in starts])
        window_only = np.stack([net(values[None, s - 32 : s])[0].numpy() for s in starts])
    np.testing.assert_allclose(carried, direct, atol=2e-5)
    np.testing.assert_allclose(forecast_windows(net, values, starts, memorize=False), window_only, atol=1e-6)


def test_seasonal_naive_repeats_the_last_season():
    x = torch.arange(10, dtype=torch.float32).reshape(1, 10, 1)
    naive = SeasonalNaive(lookback=6, horizon=7, season=3)
    assert naive(x)[0, :, 0].tolist() == [7, 8, 9, 7, 8, 9, 7]


def test_moving_average_pads_with_the_end_values():
    x = torch.tensor([1.0, 2.0, 6.0, 3.0]).reshape(1, 4, 1)
    out = MovingAverage(3)(x)[0, :, 0]
    expected = [(1 + 1 + 2) / 3, (1 + 2 + 6) / 3, (2 + 6 + 3) / 3, (6 + 3 + 3) / 3]
    assert torch.allclose(out, torch.tensor(expected))


def test_dlinear_is_two_linear_maps_over_trend_and_remainder():
    torch.manual_seed(0)
    model = DLinear(lookback=4, horizon=2, n_targets=1, kernel=3)
    x = torch.tensor([1.0, 2.0, 6.0, 3.0]).reshape(1, 4, 1)
    trend = torch.tensor([4 / 3, 3.0, 11 / 3, 4.0])
    season = x[0, :, 0] - trend
    expected = model.seasonal[0](season) + model.trend[0](trend)
    assert torch.allclose(model(x)[0, :, 0], expected)


def test_fit_dlinear_recovers_a_periodic_series():
    t = np.arange(600)
    values = np.sin(2 * np.pi * t / 24)[:, None].astype(np.float32)
    model = fit_dlinear(values, 400, lookback=48, horizon=12, n_targets=1, ridge=1e-8)
    yhat = forecast_windows(model, values, [500, 560])
    np.testing.assert_allclose(yhat[:, :, 0], np.stack([values[500:512, 0], values[560:572, 0]]), atol=1e-3)


def test_channels_beyond_targets_and_covariates_are_ignored():
    net = tiny(covariates=0)
    x = torch.randn(2, 40, 3)
    assert torch.equal(net(x), net(x[..., :2]))
    with pytest.raises(ValueError, match=r"channels>=2"):
        net(x[..., :1])
    with pytest.raises(ValueError, match="at least lookback=32 rows"):
        net(x[:, :31])


def test_history_until_fixes_the_memory_state():
    net = tiny()
    values = torch.randn(200, 3)
    starts = [120, 150, 190]
    fixed = forecast_windows(net, values, starts, memorize=True, history_until=80)
    with torch.no_grad():
        # History = whole patches of rows [0, 80), then a gap, then each 32-row window.
        expected = []
        for s in starts:
            state = net.encode_history(values[None, :80])
            expected.append(net.forecast_window(values[None, s - 32 : s], state)[0].numpy())
    np.testing.assert_allclose(fixed, np.stack(expected), atol=2e-5)
    # Rows after 80 and before a window change nothing but that window's own forecast.
    changed = values.clone()
    changed[81:87] += 5.0  # after row 80, before the first window (rows 88-119)
    np.testing.assert_allclose(forecast_windows(net, changed, starts, memorize=True, history_until=80), fixed)


def diverging() -> Forecaster:
    """A forecaster whose memory blows up on a long stream (see `make_memory_diverge`)."""
    torch.manual_seed(0)
    backbone = BackboneConfig.preset("titans-lmm", d_model=16, n_layers=1, memory={"chunk_size": 4})
    net = Forecaster(ForecasterConfig(backbone=backbone, lookback=16, horizon=8, patch_len=4)).eval()
    make_memory_diverge(net.backbone.blocks[0].memory)
    return net


def test_a_diverged_memory_is_named_not_returned_as_nan():
    net = diverging()
    values = np.random.default_rng(0).standard_normal((2000, 1)).astype(np.float32)
    with pytest.raises(MemoryDiverged, match=r"diverged.*after reading rows \[0, \d+\) of the series"):
        forecast_windows(net, values, [1000, 1500], memorize=True)
    # Reading only the lookback window, the same weights forecast finite values.
    assert np.isfinite(forecast_windows(net, values, [1000, 1500], memorize=False)).all()


def test_the_online_protocol_reports_a_diverged_variant_and_scores_the_others():
    net = diverging()
    values = np.random.default_rng(0).standard_normal((2000, 1)).astype(np.float32)
    rows, forecasts, starts = online_protocol(net, values, 1000, 2000, step=8, horizons=[4, 8])
    by_model = {(r["model"], r["horizon"]): r for r in rows}
    assert set(by_model) == {(m, h) for m in ("adapting", "frozen", "frozen-at-test-start") for h in (4, 8)}
    assert "diverged" in by_model["adapting", 8] and np.isnan(by_model["adapting", 8]["mse"])
    frozen = by_model["frozen", 8]
    assert "diverged" not in frozen and np.isfinite(frozen["mse"]) and frozen["windows"] == len(starts)
    assert set(forecasts) == {"frozen"}
    table = format_table(rows)
    assert "diverged" in table.splitlines()[1] and "adapting: the memory state diverged" in table
