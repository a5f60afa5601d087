"""The forecasting experiment config (`task: forecast`) and `stream_config`, its data section as the
pipeline's settings. The config classes live in app/experiments/forecast.py, which imports without
torch (a command checks a config before it imports torch); they are re-exported here."""

from __future__ import annotations

from app.experiments.forecast import DataSection, EvaluationSection, ExperimentConfig, ModelSection
from pipelines.streams import SplitConfig, StreamConfig

__all__ = ["DataSection", "EvaluationSection", "ExperimentConfig", "ModelSection", "stream_config"]


def stream_config(config: ExperimentConfig) -> StreamConfig:
    """The pipeline settings: the data section's `StreamConfig` fields, no calendar features, and
    windows of lookback + history rows (the history only for a forecaster, whose memory reads it)."""
    data, model = config.data, config.model
    history = data.history if model.kind == "forecaster" else 0
    shared = data.model_dump(include=set(StreamConfig.model_fields) - {"split"})
    windows = {"lookback": model.lookback + history, "horizon": model.horizon}
    return StreamConfig(**shared, split=SplitConfig(**data.split), calendar=[], **windows)
