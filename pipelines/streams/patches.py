"""Patch tokens: the one implementation shared by the window datasets and the online patcher."""

from __future__ import annotations

import numpy as np
import torch

from pipelines.streams.config import ChannelMode


def count_patches(length: int, patch_len: int, patch_stride: int) -> int:
    """How many complete patches a sequence of `length` rows holds (0 if shorter than one patch)."""
    if length < patch_len:
        return 0
    return (length - patch_len) // patch_stride + 1


def _strided(series: np.ndarray, n: int, patch_len: int, patch_stride: int) -> np.ndarray:
    """The (N, C, P) view. np.ndarray over the same buffer costs ~1 us where as_strided costs ~10 us,
    which matters when a dataset cuts patches per item; as_strided covers arrays that cannot export a
    buffer (non-contiguous slices). Both are views of the same memory, so the values are identical."""
    s0, s1 = series.strides
    shape, strides = (n, series.shape[1], patch_len), (s0 * patch_stride, s1, s0)
    if n and series.flags.c_contiguous:
        return np.ndarray(shape, series.dtype, buffer=series, strides=strides)
    return np.lib.stride_tricks.as_strided(series, shape=shape, strides=strides, writeable=False)


def extract_patches(series, patch_len: int, patch_stride: int, channel_mode: ChannelMode = "independent"):
    """Cut a (T, C) numpy array or torch tensor into patches starting at rows 0, S, 2S, ...

    `independent` returns a view of shape (N, C, P): each channel its own token sequence.
    `mixed` returns (N, P * C): one token per patch holding all channels, time-major
    (row 0 of every channel, then row 1, ...); this one is a copy.
    Trailing rows that do not fill a whole patch are left out.
    """
    if patch_len < 1 or patch_stride < 1:
        raise ValueError(f"patch_len and patch_stride must be >= 1, got {patch_len}, {patch_stride}")
    if series.ndim != 2:
        raise ValueError(f"expected a (time, channels) array, got shape {tuple(series.shape)}")
    length, channels = series.shape
    n = count_patches(length, patch_len, patch_stride)
    if isinstance(series, torch.Tensor):
        view = (
            series[: (n - 1) * patch_stride + patch_len].unfold(0, patch_len, patch_stride)
            if n
            else (series.new_empty((0, channels, patch_len)))
        )
    else:
        view = _strided(series, n, patch_len, patch_stride)
    if channel_mode == "independent":
        return view
    if channel_mode == "mixed":
        return (
            view.transpose(1, 2).reshape(n, patch_len * channels)
            if isinstance(view, torch.Tensor)
            else (view.transpose(0, 2, 1).reshape(n, patch_len * channels))
        )
    raise ValueError(f"unknown channel_mode {channel_mode!r}; expected 'independent' or 'mixed'")
