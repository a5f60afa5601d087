"""Forecasting windows served by index from one contiguous array; nothing is materialised.

A window is (lookback x, horizon y) around a target start row s: x = rows [s - L, s), y = rows
[s, s + H). A split owns the windows whose target rows all lie inside it; the lookback may reach
back into earlier parts (history), never forward. Items are numpy views into the base arrays (no
copy, ~0.5 us each; torch tensors would cost ~4 us per slice), and the DataLoader's default collate
stacks them into tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset

from pipelines.streams.config import ChannelMode
from pipelines.streams.patches import count_patches, extract_patches


def count_windows(start: int, end: int, lookback: int, horizon: int, stride: int = 1) -> int:
    """Windows with all targets inside rows [start, end) and a full lookback (L rows before the first)."""
    first = max(start, lookback)
    last = end - horizon
    if last < first:
        return 0
    return (last - first) // stride + 1


class WindowDataset(Dataset):
    """Windows over `values` (T, C): item i has targets starting at row first + i * stride.

    Each item is a dict of numpy views:
      x (L, C) lookback, all channels (targets first, then observed covariates);
      y (H, n_targets) the horizon of the target channels;
      x_mask (L, C), y_mask (H, n_targets) True where the value was observed (not filled);
      x_time (L, K), y_time (H, K) known-future calendar features, when given;
      x_patches (C, N, P) [independent] or (N, P * C) [mixed], when patch_len is set;
      index: the target start row (int), to map predictions back to timestamps.
    The dataset keeps references to the base arrays only, so a 10-million-row series costs its array.
    """

    def __init__(
        self,
        values: np.ndarray,
        *,
        lookback: int,
        horizon: int,
        stride: int = 1,
        start: int = 0,
        end: int | None = None,
        n_targets: int | None = None,
        mask: np.ndarray | None = None,
        time_features: np.ndarray | None = None,
        patch_len: int | None = None,
        patch_stride: int | None = None,
        channel_mode: ChannelMode = "independent",
    ):
        if values.ndim != 2:
            raise ValueError(f"values must be (time, channels), got shape {values.shape}")
        if lookback < 1 or horizon < 1 or stride < 1:
            raise ValueError(
                f"lookback, horizon and stride must be >= 1, got {lookback}, {horizon}, {stride}"
            )
        n_rows, n_ch = values.shape
        end = n_rows if end is None else end
        if not 0 <= start <= end <= n_rows:
            raise ValueError(f"bad row range [{start}, {end}) for {n_rows} rows")
        if mask is not None and mask.shape != values.shape:
            raise ValueError(f"mask shape {mask.shape} differs from values shape {values.shape}")
        if time_features is not None and time_features.shape[0] != n_rows:
            raise ValueError(f"time_features has {time_features.shape[0]} rows, values {n_rows}")
        self.n_targets = n_ch if n_targets is None else n_targets
        if not 1 <= self.n_targets <= n_ch:
            raise ValueError(f"n_targets must be in [1, {n_ch}], got {n_targets}")
        if patch_len is not None:
            patch_stride = patch_stride or patch_len
            if count_patches(lookback, patch_len, patch_stride) == 0:
                raise ValueError(f"patch_len {patch_len} is longer than the lookback {lookback}")
        # Keep the caller's arrays (views are fine): no copy, whatever their size.
        self.values = values
        self.mask = mask
        self.time_features = time_features
        self.lookback, self.horizon, self.stride = lookback, horizon, stride
        self.start, self.end = start, end
        self.first = max(start, lookback)
        self.length = count_windows(start, end, lookback, horizon, stride)
        self.patch_len, self.patch_stride, self.channel_mode = patch_len, patch_stride, channel_mode
        # Per-item defaults for a missing mask: built once and shared by every item (do not write to them).
        self._ones_x = self._ones_y = None
        if mask is None:
            self._ones_x = np.ones((lookback, n_ch), dtype=bool)
            self._ones_y = np.ones((horizon, self.n_targets), dtype=bool)

    def __len__(self) -> int:
        return self.length

    def target_start(self, i: int) -> int:
        """Row where the targets of window i begin."""
        if i < 0:
            i += self.length
        if not 0 <= i < self.length:
            raise IndexError(f"window {i} out of range for {self.length} windows")
        return self.first + i * self.stride

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = self.target_start(i)
        a, b = s - self.lookback, s + self.horizon
        k = self.n_targets
        x = self.values[a:s]
        item: dict[str, Any] = {"x": x, "y": self.values[s:b, :k], "index": s}
        if self.mask is not None:
            item["x_mask"] = self.mask[a:s]
            item["y_mask"] = self.mask[s:b, :k]
        else:
            item["x_mask"] = self._ones_x
            item["y_mask"] = self._ones_y
        if self.time_features is not None:
            item["x_time"] = self.time_features[a:s]
            item["y_time"] = self.time_features[s:b]
        if self.patch_len is not None:
            patches = extract_patches(
                x, self.patch_len, self.patch_stride or self.patch_len, self.channel_mode
            )
            # (N, C, P) -> (C, N, P): each channel its own token sequence, as the model consumes it.
            # Still a view of the base array (x is a contiguous row slice, so no copy is needed).
            item["x_patches"] = patches.transpose(1, 0, 2) if self.channel_mode == "independent" else patches
        return item

    def window_bounds(self) -> tuple[int, int]:
        """The rows the windows touch, lookback included: [first - L, last target row + 1)."""
        if self.length == 0:
            return (self.first, self.first)
        last = self.target_start(self.length - 1) + self.horizon
        return (self.first - self.lookback, last)
