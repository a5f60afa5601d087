"""Scalers: statistics fitted on the training rows only, and the one `scale` both paths apply.

`ScalerStats` is plain data (center and scale per channel) so it can be saved with a model and
handed to the serving daemon; `Welford` keeps running statistics for the online path's optional
adaptive mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.streams.config import ScalerKind

SCALER_KINDS: tuple[ScalerKind, ...] = ("standard", "minmax", "robust", "none")


@dataclass(frozen=True)
class ScalerStats:
    """Per-channel affine scaling: scaled = (x - center) / scale."""

    kind: ScalerKind
    center: np.ndarray
    scale: np.ndarray
    channels: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (exact: floats survive a JSON round trip through repr)."""
        return {
            "kind": self.kind,
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "channels": list(self.channels),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScalerStats:
        """Inverse of `to_dict`."""
        return cls(
            kind=data["kind"],
            center=np.asarray(data["center"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            channels=tuple(data.get("channels", ())),
        )


def _safe_scale(scale: np.ndarray) -> np.ndarray:
    # A constant channel would divide by zero; scaling by 1 keeps it constant (centred) instead.
    scale = np.asarray(scale, dtype=np.float64).copy()
    scale[~np.isfinite(scale) | (scale == 0.0)] = 1.0
    return scale


def fit_scaler(
    values: np.ndarray,
    mask: np.ndarray | None = None,
    kind: ScalerKind = "standard",
    channels: tuple[str, ...] | list[str] = (),
) -> ScalerStats:
    """Fit per-channel statistics on `values` (T, C), using only cells where `mask` is True.

    Pass only the training rows: that is what keeps validation and test out of the statistics.
    `standard`: mean and population std. `minmax`: min and range (to [0, 1]). `robust`: median and
    interquartile range. `none`: identity.
    """
    if kind not in SCALER_KINDS:
        raise ValueError(f"unknown scaler {kind!r}; expected one of {SCALER_KINDS}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected (time, channels) values, got shape {x.shape}")
    n_ch = x.shape[1]
    if kind == "none":
        return ScalerStats("none", np.zeros(n_ch), np.ones(n_ch), tuple(channels))
    if mask is not None and not mask.all():
        if kind == "standard":
            return _masked_standard(x, mask, tuple(channels))
        x = np.where(mask, x, np.nan)
    elif not np.isnan(x).any():
        # Nothing missing (the common case): plain reductions, several times faster than the nan* ones.
        if kind == "standard":
            center, spread = x.mean(axis=0), x.std(axis=0)
        elif kind == "minmax":
            center = x.min(axis=0)
            spread = x.max(axis=0) - center
        else:
            q25, center, q75 = np.percentile(x, [25.0, 50.0, 75.0], axis=0)
            spread = q75 - q25
        return ScalerStats(kind, np.asarray(center, dtype=np.float64), _safe_scale(spread), tuple(channels))
    counts = np.sum(~np.isnan(x), axis=0)
    if (counts == 0).any():
        empty = [channels[i] if i < len(channels) else i for i in np.flatnonzero(counts == 0)]
        raise ValueError(f"cannot fit the scaler: channels {empty} have no observed training values")
    if kind == "standard":
        center = np.nanmean(x, axis=0)
        scale = np.nanstd(x, axis=0)
    elif kind == "minmax":
        center = np.nanmin(x, axis=0)
        scale = np.nanmax(x, axis=0) - center
    else:
        q25, center, q75 = np.nanpercentile(x, [25.0, 50.0, 75.0], axis=0)
        scale = q75 - q25
    return ScalerStats(kind, np.asarray(center, dtype=np.float64), _safe_scale(scale), tuple(channels))


def _masked_standard(x: np.ndarray, mask: np.ndarray, channels: tuple[str, ...]) -> ScalerStats:
    # Mean and population std over the observed cells; two passes, faster than nanmean / nanstd.
    counts = mask.sum(axis=0)
    if (counts == 0).any():
        empty = [channels[i] if i < len(channels) else i for i in np.flatnonzero(counts == 0)]
        raise ValueError(f"cannot fit the scaler: channels {empty} have no observed training values")
    mean = np.where(mask, x, 0.0).sum(axis=0) / counts
    dev = np.where(mask, x - mean, 0.0)
    var = np.einsum("ij,ij->j", dev, dev) / counts
    return ScalerStats("standard", mean, _safe_scale(np.sqrt(var)), channels)


def scale(values: np.ndarray, stats: ScalerStats) -> np.ndarray:
    """(values - center) / scale in float64, elementwise, for any (..., C) array.

    Both the batch pipeline and the online scaler call this, so served and trained data agree exactly.
    """
    return (np.asarray(values, dtype=np.float64) - stats.center) / stats.scale


def unscale(values: np.ndarray, stats: ScalerStats) -> np.ndarray:
    """Back to original units: values * scale + center."""
    return np.asarray(values, dtype=np.float64) * stats.scale + stats.center


class Welford:
    """Running per-channel mean and variance (Welford's algorithm), skipping missing cells."""

    def __init__(
        self,
        n_channels: int,
        *,
        count: np.ndarray | None = None,
        mean: np.ndarray | None = None,
        m2: np.ndarray | None = None,
    ):
        self.count = np.zeros(n_channels) if count is None else np.asarray(count, dtype=np.float64).copy()
        self.mean = np.zeros(n_channels) if mean is None else np.asarray(mean, dtype=np.float64).copy()
        self.m2 = np.zeros(n_channels) if m2 is None else np.asarray(m2, dtype=np.float64).copy()

    @classmethod
    def from_stats(cls, stats: ScalerStats, count: float) -> Welford:
        """Start from fitted standard-scaler stats as if they came from `count` observations per channel."""
        if stats.kind != "standard":
            raise ValueError(f"running updates need a 'standard' scaler, got {stats.kind!r}")
        n = np.full(stats.center.shape, float(count))
        return cls(len(n), count=n, mean=stats.center, m2=(stats.scale**2) * n)

    def update(self, row: np.ndarray, observed: np.ndarray | None = None) -> None:
        """Add one row (C,); cells that are NaN or not `observed` are skipped."""
        row = np.asarray(row, dtype=np.float64)
        ok = ~np.isnan(row) if observed is None else (np.asarray(observed, dtype=bool) & ~np.isnan(row))
        if not ok.any():
            return
        self.count[ok] += 1.0
        delta = row[ok] - self.mean[ok]
        self.mean[ok] += delta / self.count[ok]
        self.m2[ok] += delta * (row[ok] - self.mean[ok])

    @property
    def variance(self) -> np.ndarray:
        """Population variance (what `fit_scaler(kind='standard')` uses)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.m2 / np.maximum(self.count, 1.0), np.nan)

    def stats(self, channels: tuple[str, ...] = ()) -> ScalerStats:
        """The current statistics as a standard `ScalerStats`."""
        return ScalerStats("standard", self.mean.copy(), _safe_scale(np.sqrt(self.variance)), channels)
