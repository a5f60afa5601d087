"""Only the columns a config names are used, and what is used is said once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import polars as pl

from pipelines.streams import StreamConfig, load_series


def long_file(tmp_path):
    start = datetime(2016, 11, 1)
    rows = [
        {
            "unique_id": uid,
            "ds": start + timedelta(hours=i),
            "y": 10.0 * k + i,
            "volume": i * 2.0,
            "temp": 1.0,
        }
        for k, uid in enumerate(["DE", "FR"])
        for i in range(48)
    ]
    path = tmp_path / "prices.csv"
    pl.DataFrame(rows).write_csv(path)
    return path


class Notes(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_long_file_uses_no_covariate_the_config_does_not_name(tmp_path):
    path = long_file(tmp_path)
    logger, handler = logging.getLogger("pipelines.streams"), Notes()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        series = load_series(path, StreamConfig(targets=["y"]))
        again = load_series(path, StreamConfig(targets=["y"]))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert series.targets == ["DE", "FR"] and series.covariates == [] and series.channels == ["DE", "FR"]
    assert again.channels == series.channels
    notes = handler.messages
    assert notes == [f"{path}: targets DE, FR; covariates none"]  # said once, not per read
    named = load_series(path, StreamConfig(covariates=["volume"]))
    assert named.covariates == ["DE:volume", "FR:volume"]
