"""PNG plots of forecasts against actuals (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def plot_forecasts(
    path: str | Path,
    title: str,
    actual: tuple[Sequence[Any], np.ndarray],
    forecasts: Mapping[str, tuple[Sequence[Any], np.ndarray]],
    *,
    ylabel: str = "",
    split_at: Any | None = None,
    actual_label: str = "actual",
    xlabel: str = "",
) -> Path:
    """One line for the actuals (timestamps, values) and one per forecast; a dashed line at split_at.
    Any x values work (e.g. genome positions, with actual_label naming the line)."""
    import matplotlib  # slow to import, and only plotting commands need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(11, 4), dpi=100)
    ax.plot(list(actual[0]), np.asarray(actual[1]), color="black", linewidth=1.2, label=actual_label)
    for name, (times, values) in forecasts.items():
        ax.plot(list(times), np.asarray(values), linewidth=1.0, label=name)
    if split_at is not None:
        ax.axvline(split_at, color="grey", linestyle="--", linewidth=0.8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
