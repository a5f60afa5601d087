"""Forecasting many windows of one series, the two evaluation protocols, and the linear baseline fit.

All values here are scaled (the train-only scaler of the pipeline); metrics are on scaled values.

- `forecast_windows(net, values, starts)`: the forecast of every window whose targets start at a row
  in `starts`. A `Forecaster` with test-time memorisation reads the whole series before each window:
  one history state is carried along the series (whole patches on the grid anchored at row 0, as
  `Forecaster.forward` does) and each window is forecast from a copy, so a window costs its own
  tokens, not its history. Other nets read only their lookback.
- Standard protocol (`standard_protocol`): every window with targets inside [start, end) (stride 1),
  MSE and MAE at each horizon h (the first h steps of every forecast).
- Prequential protocol (`online_protocol`): walk the test part `step` rows at a time; at row t
  forecast rows [t, t + horizon) from the rows before t only, then reveal the next `step` rows, which
  the memory reads (its inner loop learns them; no outer-loop gradient step, no weight changes).
  "adapting": the memory has read every revealed row before the window (the whole series so far).
  "frozen": the same trained weights, but the memory state is never advanced by the stream: each
  forecast starts from the initial (trained) memory and reads only its lookback window.
  "frozen-at-test-start": the memory reads the series up to the start of the test part, then its
  state is fixed; each forecast reads its lookback window from that state. Against "adapting" this
  isolates what learning from the revealed test rows adds; against "frozen", what the history adds.
  A variant whose memory diverges is reported as diverged (its rows carry the message, MSE / MAE are
  NaN) and the others are still scored.

A memory whose inner loop diverges (its state reaches NaN / Inf: `run_memory` refuses the gates, or
the forecasts come out non-finite) raises `MemoryDiverged`, naming the rows it had read.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from app.memory import MemoryDiverged
from app.memory.state import map_state
from app.models.baselines import DLinear, SeasonalNaive
from app.models.forecaster import Forecaster


@contextmanager
def diverged_as(where: str) -> Iterator[None]:
    """Re-raise the engine's `MemoryDiverged` inside the block with the place it happened: `where`."""
    try:
        yield
    except MemoryDiverged as error:
        raise MemoryDiverged(f"the memory state diverged (NaN / Inf) {where}") from error


def check_finite(yhat: Tensor, where: str) -> Tensor:
    """`yhat`, or `MemoryDiverged` if any forecast is NaN / Inf."""
    if not bool(torch.isfinite(yhat).all()):
        raise MemoryDiverged(f"the memory state diverged: non-finite forecasts {where}")
    return yhat


def net_shape(net: nn.Module) -> tuple[int, int, int]:
    """(lookback, horizon, n_targets) of a Forecaster (its config) or a baseline (its attributes)."""
    source = net.config if isinstance(net, Forecaster) else net
    return int(source.lookback), int(source.horizon), int(source.n_targets)


@torch.no_grad()
def forecast_windows(
    net: nn.Module,
    values: np.ndarray | Tensor,
    starts: Sequence[int],
    *,
    memorize: bool | None = None,
    history_until: int | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """(len(starts), horizon, n_targets) forecasts; window i reads rows before starts[i] only.

    memorize: for a Forecaster, None follows its config; True reads the whole series before each
    window (its memory state carried along), False only the lookback window.
    history_until: with memorize, the memory reads history rows before this row only (its state is
    then fixed: later rows reach the model only through each lookback window).
    """
    was_training = net.training
    net.eval()
    param = next(net.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    x = torch.as_tensor(np.asarray(values), dtype=torch.float32, device=device)
    lookback, horizon, n_targets = net_shape(net)
    starts = [int(s) for s in starts]
    if any(s < lookback or s > x.shape[0] for s in starts):
        raise ValueError(f"forecast_windows: every start must lie in [{lookback}, {x.shape[0]}]")
    out = np.empty((len(starts), horizon, n_targets), dtype=np.float32)
    is_forecaster = isinstance(net, Forecaster)
    if is_forecaster and memorize is None:
        memorize = net.config.memorize_history
    if is_forecaster and memorize:
        patch = net.config.patch_len
        order = sorted(range(len(starts)), key=lambda i: starts[i])
        state, done = net.initial_state(1), 0
        limit = None if history_until is None else history_until // patch

        def patches_before(i: int) -> int:
            k = (starts[i] - lookback) // patch
            return k if limit is None else min(k, limit)

        for k, group in itertools.groupby(order, key=patches_before):
            where = f"after reading rows [0, {k * patch}) of the series"
            if k > done:
                # The memory reads the rows revealed since the last window (whole patches only).
                with diverged_as(where):
                    state = net.encode_history(x[None, done * patch : k * patch], state)
                done = k
            members = list(group)
            for chunk in _chunks(members, batch_size):
                windows = torch.stack([x[starts[i] - lookback : starts[i]] for i in chunk])
                copies = map_state(state, _repeat_batch(len(chunk)))
                with diverged_as(where):
                    yhat = net.forecast_window(windows, copies)
                out[chunk] = check_finite(yhat, where).cpu().numpy()
    else:
        for chunk in _chunks(list(range(len(starts))), batch_size):
            windows = torch.stack([x[starts[i] - lookback : starts[i]] for i in chunk])
            where = f"for the windows before rows {starts[chunk[0]]}..{starts[chunk[-1]]}"
            with diverged_as(where):
                yhat = net(windows, memorize_history=False) if is_forecaster else net(windows)
            out[chunk] = check_finite(yhat, where).cpu().numpy()
    net.train(was_training)
    return out


def _repeat_batch(n: int):
    return lambda t: t.repeat(n, *([1] * (t.dim() - 1)))


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def targets_at(values: np.ndarray, starts: Sequence[int], horizon: int, n_targets: int) -> np.ndarray:
    """The actual (len(starts), horizon, n_targets) values the forecasts at `starts` aim at."""
    return np.stack([values[s : s + horizon, :n_targets] for s in starts]).astype(np.float32)


def horizon_metrics(yhat: np.ndarray, y: np.ndarray, horizons: Sequence[int]) -> dict[int, dict[str, float]]:
    """{h: {"mse", "mae"}} over the first h steps of every window and every target."""
    out = {}
    for h in horizons:
        err = yhat[:, :h].astype(np.float64) - y[:, :h]
        out[int(h)] = {"mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err)))}
    return out


def window_starts(start: int, end: int, lookback: int, horizon: int, stride: int = 1) -> list[int]:
    """Target starts of the windows with all targets in [start, end) and a full lookback before."""
    return list(range(max(start, lookback), end - horizon + 1, stride))


def standard_protocol(
    nets: Mapping[str, nn.Module],
    values: np.ndarray,
    start: int,
    end: int,
    horizons: Sequence[int],
    *,
    stride: int = 1,
) -> list[dict[str, float | int | str]]:
    """Rows {model, horizon, mse, mae, windows} for every net on the same windows of [start, end)."""
    lookback = max(net_shape(net)[0] for net in nets.values())
    horizon = max(horizons)
    starts = window_starts(start, end, lookback, horizon, stride)
    if not starts:
        raise ValueError(
            f"no test window: rows [{start}, {end}) hold no {horizon} targets after a {lookback}-row lookback"
        )
    rows = []
    for name, net in nets.items():
        n_targets = net_shape(net)[2]
        yhat = forecast_windows(net, values, starts)
        y = targets_at(values, starts, horizon, n_targets)
        for h, metric in horizon_metrics(yhat, y, horizons).items():
            rows.append({"model": name, "horizon": h, **metric, "windows": len(starts)})
    return rows


def online_protocol(
    net: Forecaster,
    values: np.ndarray,
    start: int,
    end: int,
    *,
    step: int | None = None,
    horizons: Sequence[int] | None = None,
) -> tuple[list[dict[str, float | int | str]], dict[str, np.ndarray], list[int]]:
    """Prequential walk over [start, end): rows for "adapting" and "frozen" (see the module doc), the
    forecasts of each variant that did not diverge, and the forecast rows."""
    horizon = net.config.horizon
    step = step or horizon
    horizons = list(horizons or [horizon])
    starts = window_starts(start, end, net.config.lookback, horizon, step)
    if not starts:
        raise ValueError(f"no online step: rows [{start}, {end}) are shorter than the horizon {horizon}")
    y = targets_at(values, starts, horizon, net.config.n_targets)
    variants = {
        "adapting": dict(memorize=True),
        "frozen": dict(memorize=False),
        "frozen-at-test-start": dict(memorize=True, history_until=start),
    }
    rows, forecasts = [], {}
    for name, how in variants.items():
        try:
            forecasts[name] = forecast_windows(net, values, starts, **how)
        except MemoryDiverged as error:
            nan = {"mse": float("nan"), "mae": float("nan")}
            rows += [
                {"model": name, "horizon": h, **nan, "windows": len(starts), "diverged": str(error)}
                for h in horizons
            ]
            continue
        for h, metric in horizon_metrics(forecasts[name], y, horizons).items():
            rows.append({"model": name, "horizon": h, **metric, "windows": len(starts)})
    return rows, forecasts, starts


def fit_dlinear(
    values: np.ndarray,
    end: int,
    lookback: int,
    horizon: int,
    n_targets: int,
    *,
    kernel: int = 25,
    ridge: float = 1e-3,
) -> DLinear:
    """A DLinear (shared over channels) fitted in closed form on the windows with targets in [0, end).

    DLinear is linear in its input (the decomposition is a fixed linear map), so its best weights for
    the MSE are a ridge least-squares solution W over the raw lookback; both branches get W (seasonal
    + trend = the input), and each half of the bias. Deterministic and takes well under a second.
    """
    starts = window_starts(0, end, lookback, horizon)
    if not starts:
        raise ValueError(f"fit_dlinear: no training window of {lookback} + {horizon} rows before row {end}")
    x = np.stack([values[s - lookback : s, :n_targets] for s in starts])  # (n, L, k)
    y = np.stack([values[s : s + horizon, :n_targets] for s in starts])  # (n, H, k)
    design = x.transpose(0, 2, 1).reshape(-1, lookback).astype(np.float64)
    target = y.transpose(0, 2, 1).reshape(-1, horizon).astype(np.float64)
    design = np.concatenate([design, np.ones((design.shape[0], 1))], axis=1)
    gram = design.T @ design + ridge * len(design) * np.eye(lookback + 1)
    solution = np.linalg.solve(gram, design.T @ target)  # (L + 1, H)
    model = DLinear(lookback, horizon, n_targets, kernel=kernel)
    weight = torch.as_tensor(solution[:-1].T, dtype=torch.float32)
    bias = torch.as_tensor(solution[-1], dtype=torch.float32)
    with torch.no_grad():
        for layer in (model.seasonal[0], model.trend[0]):
            layer.weight.copy_(weight)
            layer.bias.copy_(bias / 2)
    return model.eval()


def seasonal_naive(lookback: int, horizon: int, n_targets: int, season: int | None) -> SeasonalNaive:
    """Seasonal naive with period `season` (None or longer than the lookback: the lookback)."""
    season = season if season is not None and season <= lookback else lookback
    return SeasonalNaive(lookback, horizon, season, n_targets)
