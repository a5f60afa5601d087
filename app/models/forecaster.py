"""`Forecaster`: patches -> RevIN -> embedding -> any `Backbone` -> a head that predicts every horizon step.

    cfg = ForecasterConfig(backbone=BackboneConfig.preset("titans-lmm", d_model=32, n_layers=2),
                           lookback=96, horizon=48, patch_len=16, n_targets=1)
    net = Forecaster(cfg)
    yhat = net(x)            # x (B, T, C) scaled values, T >= lookback -> yhat (B, horizon, n_targets)

Channel-independent: each target channel is its own token sequence (the batch grows to B x targets)
and shares every weight. Observed covariates (channels after the targets) are optional inputs: with
`covariates > 0` each token also carries the covariates' patches of the same rows. Channels after
the targets and those covariates are ignored.

Test-time memorisation. `x` may be longer than the lookback window: the rows before the window are
the history. With `memorize_history` on, the backbone first streams the history (non-overlapping
patches on a grid anchored at the first row of `x`, in pieces of `memorize_chunk` tokens, carrying
the state), then reads the window from that state; the memory has learned the history in its inner
loop, so information older than the window can shape the forecast. Rows between the last whole
history patch and the window (fewer than `patch_len`) are left out. History patches are embedded
from the globally scaled values (they cannot depend on the window's RevIN statistics, so a state
built once serves every later window); the window is RevIN-normalised. With it off, only the last
`lookback` rows are read and the history cannot change the forecast.

`encode_history` / `forecast_window` expose the two halves, so an evaluator can carry one history
state along a series and forecast many windows from it (see app/forecasting/protocols.py).
"""

from __future__ import annotations

import torch
from pydantic import ConfigDict, Field
from torch import Tensor, nn

from .backbone import Backbone, BackboneState
from .config import BackboneConfig, ForecastHead


class ForecasterConfig(ForecastHead):
    """Everything that fixes a Forecaster's shape: the `ForecastHead` fields, and

    backbone: the sequence model over patch tokens (any preset; d_model is the token width).
    n_targets: forecast channels (the first channels of the input).
    covariates: observed covariate channels after the targets that each token carries (0: none).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backbone: BackboneConfig
    n_targets: int = Field(1, ge=1)
    covariates: int = Field(0, ge=0)

    @property
    def stride(self) -> int:
        return self.patch_stride or self.patch_len

    @property
    def n_patches(self) -> int:
        """Tokens in the lookback window."""
        return (self.lookback - self.patch_len) // self.stride + 1

    @property
    def n_channels(self) -> int:
        """Input channels the model reads: the targets, then the covariates."""
        return self.n_targets + self.covariates


class RevIN(nn.Module):
    """Reversible instance normalisation (Kim et al., 2022) over the time axis of (B, T, C).

    `normalize` returns (x - mean) / std * weight + bias and the statistics; `denormalize` inverts it
    exactly for the same statistics (up to floating point).
    """

    def __init__(self, channels: int, affine: bool = True, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))

    def stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean = x.mean(dim=1, keepdim=True)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)
        return mean, std

    def normalize(self, x: Tensor, stats: tuple[Tensor, Tensor] | None = None):
        mean, std = self.stats(x) if stats is None else stats
        y = (x - mean) / std
        if self.affine:
            y = y * self.weight + self.bias
        return y, (mean, std)

    def denormalize(self, y: Tensor, stats: tuple[Tensor, Tensor]) -> Tensor:
        mean, std = stats
        if self.affine:
            y = (y - self.bias) / self.weight
        return y * std + mean


class Forecaster(nn.Module):
    """x (B, T, C) scaled values, T >= lookback -> (B, horizon, n_targets). See the module doc."""

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        if not isinstance(config, ForecasterConfig):
            raise ValueError(f"Forecaster: config: expected a ForecasterConfig; got {type(config).__name__}")
        self.config = config
        d_model = config.backbone.d_model
        token_width = config.patch_len * (1 + config.covariates)
        self.revin = RevIN(config.n_targets, affine=config.revin_affine) if config.revin else None
        self.embed = nn.Linear(token_width, d_model)
        # Tells history tokens (globally scaled) from window tokens (RevIN-normalised).
        self.history_marker = nn.Parameter(torch.zeros(d_model))
        self.backbone = Backbone(config.backbone)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.n_patches * d_model, config.horizon)
        self.skip = nn.Linear(config.lookback, config.horizon) if config.linear_skip else None

    # ------------------------------------------------------------------ tokens

    def _check(self, x: Tensor) -> None:
        cfg = self.config
        if x.dim() != 3 or x.shape[2] < cfg.n_channels:
            raise ValueError(
                f"Forecaster: x: expected shape (B, T, channels>={cfg.n_channels}); got {tuple(x.shape)}"
            )
        if x.shape[1] < cfg.lookback:
            raise ValueError(f"Forecaster: x: needs at least lookback={cfg.lookback} rows; got {x.shape[1]}")

    def _tokens(self, targets: Tensor, covariates: Tensor | None, stride: int) -> Tensor:
        """targets (B, T, n_targets), covariates (B, T, k) -> tokens (B * n_targets, N, d_model)."""
        cfg = self.config
        batch, _, n_targets = targets.shape
        patches = targets.unfold(1, cfg.patch_len, stride)  # (B, N, n_targets, P)
        patches = patches.permute(0, 2, 1, 3)  # (B, n_targets, N, P)
        if covariates is not None and cfg.covariates:
            cov = covariates.unfold(1, cfg.patch_len, stride).flatten(2)  # (B, N, k * P)
            cov = cov.unsqueeze(1).expand(-1, n_targets, -1, -1)
            patches = torch.cat([patches, cov], dim=-1)
        return self.embed(patches.reshape(batch * n_targets, patches.shape[2], -1))

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Targets, and the covariates the model reads (channels after those are ignored)."""
        k, c = self.config.n_targets, self.config.covariates
        return x[..., :k], (x[..., k : k + c] if c else None)

    # ------------------------------------------------------------------ the two halves

    def initial_state(self, batch: int) -> BackboneState:
        """The backbone state of a stream that has seen nothing (batch = B x n_targets)."""
        return self.backbone.initial_state(batch * self.config.n_targets)

    def encode_history(self, history: Tensor, state: BackboneState | None = None) -> BackboneState:
        """Stream the whole patches of `history` (B, T_h, C) into the memory, carrying `state`.

        Patches are non-overlapping and start at row 0 of `history`; a trailing part shorter than a
        patch is left out. Calling it again with the returned state continues the same stream.
        """
        cfg = self.config
        if state is None:
            state = self.initial_state(history.shape[0])
        n = history.shape[1] // cfg.patch_len
        if n == 0:
            return state
        targets, covariates = self._split(history[:, : n * cfg.patch_len])
        tokens = self._tokens(targets, covariates, cfg.patch_len) + self.history_marker
        for start in range(0, n, cfg.memorize_chunk):
            _, state = self.backbone(tokens[:, start : start + cfg.memorize_chunk], state)
        return state

    def forecast_window(self, window: Tensor, state: BackboneState | None = None) -> Tensor:
        """window (B, lookback, C) -> (B, horizon, n_targets), reading from `state` (None: fresh)."""
        cfg = self.config
        if window.shape[1] != cfg.lookback:
            raise ValueError(f"Forecaster: window: expected {cfg.lookback} rows; got {window.shape[1]}")
        targets, covariates = self._split(window)
        stats = None
        if self.revin is not None:
            targets, stats = self.revin.normalize(targets)
        tokens = self._tokens(targets, covariates, cfg.stride)
        out, _ = self.backbone(tokens, state)
        batch = window.shape[0]
        yhat = self.head(self.dropout(out.flatten(1)))  # (B * n_targets, horizon)
        yhat = yhat.reshape(batch, cfg.n_targets, cfg.horizon)
        if self.skip is not None:
            yhat = yhat + self.skip(targets.transpose(1, 2))
        yhat = yhat.transpose(1, 2)
        if self.revin is not None:
            yhat = self.revin.denormalize(yhat, stats)
        return yhat

    def forward(self, x: Tensor, memorize_history: bool | None = None) -> Tensor:
        """x (B, T, C) -> (B, horizon, n_targets); the last `lookback` rows are the window.

        memorize_history: None follows the config; True / False overrides it for this call.
        """
        self._check(x)
        cfg = self.config
        memorize = cfg.memorize_history if memorize_history is None else memorize_history
        history_rows = x.shape[1] - cfg.lookback
        state = None
        if memorize and history_rows >= cfg.patch_len:
            state = self.encode_history(x[:, :history_rows])
        return self.forecast_window(x[:, history_rows:], state)
