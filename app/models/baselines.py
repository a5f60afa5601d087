"""Baselines for every evaluation table: seasonal naive and a DLinear-style linear model.

Both take what a `Forecaster` takes, x (B, T, C) with T >= lookback (targets first), and return
(B, horizon, n_targets); they read only the last `lookback` rows.

    naive = SeasonalNaive(lookback=96, horizon=48, season=48)
    linear = DLinear(lookback=96, horizon=48, n_targets=1)   # trained like any forecaster
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _window(x: Tensor, lookback: int, n_targets: int, who: str) -> Tensor:
    if x.dim() != 3 or x.shape[1] < lookback or x.shape[2] < n_targets:
        raise ValueError(
            f"{who}: x: expected shape (B, T >= {lookback}, C >= {n_targets}); got {tuple(x.shape)}"
        )
    return x[:, -lookback:, :n_targets]


class SeasonalNaive(nn.Module):
    """yhat[t + h] = x[t + h - season * ceil((h + 1) / season)]: the last observed season, repeated."""

    def __init__(self, lookback: int, horizon: int, season: int, n_targets: int = 1):
        super().__init__()
        if not 1 <= season <= lookback:
            raise ValueError(
                f"SeasonalNaive: season: expected 1 <= season <= lookback={lookback}; got {season}"
            )
        self.lookback, self.horizon, self.season, self.n_targets = lookback, horizon, season, n_targets
        steps = torch.arange(horizon)
        self.register_buffer("index", lookback - season + steps % season, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return _window(x, self.lookback, self.n_targets, "SeasonalNaive")[:, self.index]


class MovingAverage(nn.Module):
    """Centred moving average over time of (B, T, C), edges padded by repeating the end values."""

    def __init__(self, kernel: int):
        super().__init__()
        if kernel < 1:
            raise ValueError(f"MovingAverage: kernel: expected >= 1; got {kernel}")
        self.kernel = kernel

    def forward(self, x: Tensor) -> Tensor:
        front, back = (self.kernel - 1) // 2, self.kernel // 2
        padded = torch.cat([x[:, :1].expand(-1, front, -1), x, x[:, -1:].expand(-1, back, -1)], dim=1)
        return F.avg_pool1d(padded.transpose(1, 2), self.kernel, stride=1).transpose(1, 2)


class DLinear(nn.Module):
    """DLinear (Zeng et al., 2023): trend = moving average, seasonal = the rest; one linear map over
    time for each, summed. Shared across channels, or one per channel with `individual`."""

    def __init__(
        self, lookback: int, horizon: int, n_targets: int = 1, kernel: int = 25, individual: bool = False
    ):
        super().__init__()
        self.lookback, self.horizon = lookback, horizon
        self.n_targets, self.individual = n_targets, individual
        self.decompose = MovingAverage(kernel)
        copies = n_targets if individual else 1
        self.seasonal = nn.ModuleList(nn.Linear(lookback, horizon) for _ in range(copies))
        self.trend = nn.ModuleList(nn.Linear(lookback, horizon) for _ in range(copies))

    def forward(self, x: Tensor) -> Tensor:
        x = _window(x, self.lookback, self.n_targets, "DLinear")
        trend = self.decompose(x)
        seasonal = (x - trend).transpose(1, 2)  # (B, C, L)
        trend = trend.transpose(1, 2)
        if self.individual:
            pairs = enumerate(zip(self.seasonal, self.trend, strict=True))
            out = torch.stack([s(seasonal[:, c]) + t(trend[:, c]) for c, (s, t) in pairs], dim=1)
        else:
            out = self.seasonal[0](seasonal) + self.trend[0](trend)
        return out.transpose(1, 2)  # (B, horizon, C)
