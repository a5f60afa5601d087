"""`StreamConfig`: every choice the sensor-stream pipeline makes, as one validated pydantic model.

Defaults follow the long-horizon forecasting protocol (DESIGN.md, "Data"): chronological 70/10/20
split, standard scaler fitted on train only, lookback 96, horizon 96.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Layout = Literal["auto", "wide", "long"]
DuplicatePolicy = Literal["error", "mean", "last", "first"]
FillMethod = Literal["forward", "linear", "zero"]
ScalerKind = Literal["standard", "minmax", "robust", "none"]
ChannelMode = Literal["independent", "mixed"]
CalendarFeature = Literal["minute", "hour", "dayofweek", "dayofmonth", "dayofyear", "month", "holiday"]
CalendarEncoding = Literal["sincos", "scaled"]
TimeUnit = Literal["auto", "s", "ms", "us", "ns"]

# A polars duration string: one or more <integer><unit> groups, e.g. "30m", "1h", "1h30m", "1mo".
_DURATION = re.compile(r"^(\d+(ns|us|ms|s|m|h|d|w|mo|q|y))+$")


class SplitConfig(BaseModel):
    """How the series is cut into train / validation / test, always chronologically.

    `ratio`: fractions of the rows (default 70/10/20). `months`: the ETT protocol, consecutive
    spans of `month_days`-day months from the first timestamp (12/4/4 by default); rows after the
    last span are dropped, as in the ETT reference code.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ratio", "months"] = "ratio"
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
    months: tuple[int, int, int] = (12, 4, 4)
    month_days: int = Field(30, ge=1)

    @field_validator("ratios")
    @classmethod
    def _ratios_sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(r < 0 for r in v) or v[0] <= 0:
            raise ValueError(f"ratios must be non-negative with a positive train part, got {v}")
        if abs(sum(v) - 1.0) > 1e-9:
            raise ValueError(f"ratios must sum to 1, got {v} (sum {sum(v)})")
        return v

    @field_validator("months")
    @classmethod
    def _months_positive(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if v[0] <= 0 or any(m < 0 for m in v):
            raise ValueError(f"months must be non-negative with a positive train span, got {v}")
        return v


class StreamConfig(BaseModel):
    """Settings for reading, cleaning, splitting, scaling and windowing one sensor stream.

    Column roles. Wide layout: `timestamp` plus one numeric column per channel; `channels` picks the
    columns to use (default: every numeric column), `targets` the forecast channels and `covariates`
    the observed covariates (inputs only, never forecast). Give either and the other is the rest of
    the channels; give both and exactly those are used; give neither and every channel is a target.
    Long layout (`unique_id, ds, y`): each id becomes one target channel, named by its id; only the
    value columns named in `covariates` (none by default) are read besides `y`,
    each becoming a channel "<id>:<column>". `load_series` logs the channels it used, once.
    """

    model_config = ConfigDict(extra="forbid")

    # --- reading ---
    layout: Layout = "auto"
    format: Literal["auto", "csv", "parquet", "ndjson"] = "auto"
    separator: str = Field(",", min_length=1, max_length=1)
    timestamp: str | None = None
    time_format: str | None = None
    time_unit: TimeUnit = "auto"
    timezone: str | None = None
    id_column: str = "unique_id"
    value_column: str = "y"
    channels: list[str] | None = None
    targets: list[str] | None = None
    covariates: list[str] = Field(default_factory=list)
    null_values: list[str] = Field(default_factory=lambda: ["", "NA", "N/A", "null", "NULL", "None"])

    # --- time axis ---
    freq: str | None = None
    duplicates: DuplicatePolicy = "error"
    fill: FillMethod = "forward"

    # --- known-future covariates ---
    calendar: list[CalendarFeature] = Field(
        default_factory=lambda: ["hour", "dayofweek", "dayofyear", "month"]
    )
    calendar_encoding: CalendarEncoding = "sincos"
    holidays: list[date] = Field(default_factory=list)

    # --- splits and scaling ---
    split: SplitConfig = Field(default_factory=SplitConfig)
    scaler: ScalerKind = "standard"

    # --- windows and patches ---
    lookback: int = Field(96, ge=1)
    horizon: int = Field(96, ge=1)
    stride: int = Field(1, ge=1)
    patch_len: int | None = Field(None, ge=1)
    patch_stride: int | None = Field(None, ge=1)
    channel_mode: ChannelMode = "independent"
    dtype: Literal["float32", "float64"] = "float32"

    @field_validator("freq")
    @classmethod
    def _freq_is_duration(cls, v: str | None) -> str | None:
        if v is not None and not _DURATION.match(v):
            raise ValueError(f"freq must be a polars duration such as '30m', '1h', '1d', '1mo'; got {v!r}")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError) as err:
                raise ValueError(f"unknown time zone {v!r}") from err
        return v

    @model_validator(mode="after")
    def _patches_fit(self) -> StreamConfig:
        if self.patch_stride is not None and self.patch_len is None:
            raise ValueError("patch_stride is set but patch_len is not")
        if self.patch_len is not None and self.patch_len > self.lookback:
            raise ValueError(f"patch_len ({self.patch_len}) must not exceed lookback ({self.lookback})")
        if self.targets is not None and set(self.targets) & set(self.covariates):
            both = sorted(set(self.targets) & set(self.covariates))
            raise ValueError(f"columns {both} are listed as both targets and covariates")
        return self

    @property
    def effective_patch_stride(self) -> int | None:
        """The patch stride, defaulting to the patch length (non-overlapping patches)."""
        if self.patch_len is None:
            return None
        return self.patch_stride if self.patch_stride is not None else self.patch_len
