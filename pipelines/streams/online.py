"""The serving path: one record at a time in, scaled patches out as soon as they are complete.

`OnlinePatcher` turns (timestamp, values) records into exactly the patches the batch path cuts from
the same data: gaps become rows, missing cells are filled by `filling.fill_missing` on the same
relative positions, rows are scaled by `scaling.scale` and cut by `patches.extract_patches`, the very
functions the batch path calls. With linear filling a gap is only known once the next observation
arrives, so rows (and patches) wait for it; `flush()` settles the tail at the end of a stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

import numpy as np

from pipelines.errors import InputError
from pipelines.streams.config import ChannelMode, FillMethod
from pipelines.streams.filling import fill_missing
from pipelines.streams.patches import extract_patches
from pipelines.streams.scaling import ScalerStats, Welford, scale
from pipelines.streams.timeindex import fixed_step_us

TimestampLike = datetime | np.datetime64 | str
_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)


def _to_micros(ts: TimestampLike) -> tuple[int, tzinfo | None]:
    """Microseconds since the epoch (UTC for aware times, wall clock for naive ones), and the tzinfo."""
    if isinstance(ts, np.datetime64):
        return int(ts.astype("datetime64[us]").astype(np.int64)), None
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if not isinstance(ts, datetime):
        raise TypeError(f"expected a datetime, numpy datetime64 or ISO string, got {type(ts).__name__}")
    if ts.tzinfo is None:
        return (ts - _EPOCH_NAIVE) // timedelta(microseconds=1), None
    return (ts - _EPOCH_UTC) // timedelta(microseconds=1), ts.tzinfo


def _from_micros(us: int, tz: tzinfo | None) -> datetime:
    if tz is None:
        return _EPOCH_NAIVE + timedelta(microseconds=us)
    return (_EPOCH_UTC + timedelta(microseconds=us)).astimezone(tz)


class OnlineScaler:
    """Scales one row at a time with `scaling.scale`.

    `frozen` keeps the training statistics (what the batch path uses, so outputs match it exactly).
    `welford` starts from them, as if they came from `count` rows, and after scaling each row adds
    its observed cells to running (Welford) statistics: test-then-train, never a value before use.
    """

    def __init__(
        self, stats: ScalerStats, *, update: Literal["frozen", "welford"] = "frozen", count: int = 1
    ):
        if update not in ("frozen", "welford"):
            raise ValueError(f"update must be 'frozen' or 'welford', got {update!r}")
        self.update = update
        self._stats = stats
        self._welford = Welford.from_stats(stats, count) if update == "welford" else None

    @property
    def stats(self) -> ScalerStats:
        """The statistics the next row will be scaled with."""
        return self._stats

    def transform(self, row: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
        """Scale one (C,) row; in `welford` mode, then learn from its observed cells."""
        out = scale(np.asarray(row, dtype=np.float64)[None, :], self._stats)[0]
        if self._welford is not None:
            self._welford.update(row, observed)
            self._stats = self._welford.stats(self._stats.channels)
        return out


@dataclass(frozen=True)
class Patch:
    """One complete patch: number k starts at row k * patch_stride of the stream (row 0 = first record).

    `values` / `mask` are (C, P) for channel-independent patches, (P * C,) for mixed ones;
    `values` are scaled, `mask` is True where the value was observed rather than filled.
    """

    index: int
    start: datetime
    values: np.ndarray
    mask: np.ndarray


class OnlinePatcher:
    """Records in, patches out; gaps, filling, scaling and patching as in the batch path.

    Records must come in time order on the grid of `freq` anchored at the first record (the batch
    path's grid); a record off the grid or not after the previous one raises `InputError`.
    Days and weeks are fixed 24-hour / 7-day steps here.
    """

    def __init__(
        self,
        channels: Sequence[str] | int,
        *,
        freq: str,
        patch_len: int,
        patch_stride: int | None = None,
        fill: FillMethod = "forward",
        scaler: OnlineScaler | ScalerStats | None = None,
        channel_mode: ChannelMode = "independent",
    ):
        self.channels = [str(i) for i in range(channels)] if isinstance(channels, int) else list(channels)
        step = fixed_step_us(freq)
        if step is None:
            raise ValueError(f"the online patcher needs a fixed step; {freq!r} is a calendar duration")
        if patch_len < 1 or (patch_stride is not None and patch_stride < 1):
            raise ValueError(f"patch_len and patch_stride must be >= 1, got {patch_len}, {patch_stride}")
        self.step = step
        self.freq = freq
        self.patch_len = patch_len
        self.patch_stride = patch_stride or patch_len
        self.fill: FillMethod = fill
        self.channel_mode: ChannelMode = channel_mode
        if isinstance(scaler, ScalerStats):
            scaler = OnlineScaler(scaler)
        self.scaler = scaler
        n = len(self.channels)
        # Stream position: rows are numbered from 0 at the first record.
        self._origin: int | None = None
        self._tz: tzinfo | None = None
        self._last_us: int | None = None
        self._n_rows = 0  # rows appended (records plus gap rows)
        self._n_done = 0  # rows finalised (filled and scaled)
        self._records = 0
        # Per channel: the last observation (row, raw value), -1 / NaN before the first.
        self._last_row = np.full(n, -1, dtype=np.int64)
        self._last_val = np.full(n, np.nan)
        # Rows not yet finalised, from row `_n_done` on: raw, filled-so-far (NaN = undetermined).
        self._raw: deque[np.ndarray] = deque()
        self._filled: deque[np.ndarray] = deque()
        # The last patch_len finalised rows: (scaled values, observed mask, row start time).
        self._window: deque[tuple[np.ndarray, np.ndarray, int]] = deque(maxlen=patch_len)

    @property
    def rows_seen(self) -> int:
        """Rows on the grid so far, gap rows included."""
        return self._n_rows

    def push(self, timestamp: TimestampLike, values: Sequence[float] | np.ndarray) -> list[Patch]:
        """Add one record; return the patches it completed (often none). NaN / None means missing."""
        row = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        self._records += 1
        where = f"record {self._records} ({timestamp})"
        if row.shape != (len(self.channels),):
            raise InputError(f"expected {len(self.channels)} values, got {row.size}", where=where)
        us, tz = _to_micros(timestamp)
        if self._origin is None:
            self._origin, self._tz = us, tz
        else:
            assert self._last_us is not None
            delta = us - self._last_us
            if delta <= 0:
                prev = _from_micros(self._last_us, self._tz)
                raise InputError(f"timestamp is not after the previous record's ({prev})", where=where)
            if delta % self.step:
                raise InputError(
                    f"timestamp is off the {self.freq} grid started at the first record", where=where
                )
            for _ in range(delta // self.step - 1):  # a gap: explicit rows, every cell missing
                self._append(np.full(len(self.channels), np.nan))
        self._last_us = us
        self._append(row)
        return self._finalise()

    def flush(self) -> list[Patch]:
        """End of stream: settle cells still waiting for a later observation (trailing gaps take the
        last observation, as in the batch path) and return the patches that completes."""
        for c in range(len(self.channels)):
            rows = self._undetermined(c)
            if not rows:
                continue
            if self._last_row[c] < 0:
                raise InputError(
                    f"channel {self.channels[c]!r} has no values (all null or NaN)",
                    where=f"column {self.channels[c]!r}",
                )
            seg = np.concatenate([[self._last_val[c]], np.full(len(rows), np.nan)])
            self._settle(c, rows, fill_missing(seg, self.fill)[1:])
        return self._finalise()

    # ------------------------------------------------------------------ internals

    def _undetermined(self, c: int) -> list[int]:
        return [self._n_done + k for k, f in enumerate(self._filled) if np.isnan(f[c])]

    def _settle(self, c: int, rows: list[int], vals: np.ndarray) -> None:
        for r, v in zip(rows, vals, strict=True):
            self._filled[r - self._n_done][c] = v

    def _append(self, raw: np.ndarray) -> None:
        j = self._n_rows
        self._n_rows += 1
        filled = np.full(raw.shape, np.nan)
        self._raw.append(raw)
        self._filled.append(filled)
        for c, v in enumerate(raw):
            if not np.isnan(v):
                filled[c] = v
                rows = self._undetermined(c)
                if rows:
                    # The same segment the batch fill sees: [previous observation, gap..., this one],
                    # re-indexed from the previous observation (or just [gap..., this one] at the start).
                    lead = [] if self._last_row[c] < 0 else [self._last_val[c]]
                    seg = np.array([*lead, *([np.nan] * len(rows)), v])
                    self._settle(c, rows, fill_missing(seg, self.fill)[len(lead) : -1])
                self._last_row[c], self._last_val[c] = j, v
            elif self.fill == "zero":
                filled[c] = fill_missing(np.array([np.nan]), "zero")[0]
            elif self.fill == "forward" and self._last_row[c] >= 0:
                filled[c] = fill_missing(np.array([self._last_val[c], np.nan]), "forward")[1]
            # else: linear, or nothing observed yet: wait for the next observation of this channel.

    def _finalise(self) -> list[Patch]:
        out: list[Patch] = []
        while self._filled and not np.isnan(self._filled[0]).any():
            filled, raw = self._filled.popleft(), self._raw.popleft()
            observed = ~np.isnan(raw)
            if self.scaler is not None:
                scaled = self.scaler.transform(filled, observed)
            else:
                scaled = filled
            assert self._origin is not None
            self._window.append((scaled, observed, self._origin + self._n_done * self.step))
            self._n_done += 1
            first = self._n_done - self.patch_len
            if first >= 0 and first % self.patch_stride == 0:
                out.append(self._emit(first // self.patch_stride))
        return out

    def _emit(self, index: int) -> Patch:
        values = np.stack([w[0] for w in self._window])
        mask = np.stack([w[1] for w in self._window])
        p, s, mode = self.patch_len, self.patch_stride, self.channel_mode
        return Patch(
            index=index,
            start=_from_micros(self._window[0][2], self._tz),
            values=np.array(extract_patches(values, p, s, mode)[0]),
            mask=np.array(extract_patches(mask, p, s, mode)[0]),
        )
