"""A whole record scored in one streaming pass (the memory carried from piece to piece): bits per
base overall, on the held-out part and by position, the throughput, and a plot."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app import tracking
from app.models.metrics import LN2
from app.tracking.plots import plot_forecasts

from .module import GenomeModule, require_lm
from .regions import find_record, held_out_regions, open_genome, pieces


@dataclass
class StreamResult:
    """A whole record scored in one streaming pass: bits per base overall and on the held-out part,
    per position bin, the test start, throughput and the plot."""

    record: str
    length: int
    bits_per_base: float
    held_out_bits_per_base: float
    test_start: int
    positions: np.ndarray
    bits: np.ndarray
    seconds: float
    plot: Path | None = None

    @property
    def tokens_per_second(self) -> float:
        return self.length / self.seconds if self.seconds else float("nan")


def stream_record(
    model: GenomeModule,
    source: str | Path | None = None,
    record: str | None = None,
    *,
    piece: int | None = None,
    bin_size: int | None = None,
    plot_dir: str | Path | None = None,
) -> StreamResult:
    """Pass a whole record (default: the first) through the model in one streaming pass, `piece`
    bases per call with the memory carried; bits per base overall, on the held-out part (the model's
    test fraction at the end), and per bin of `bin_size` positions; a PNG plot in `plot_dir`."""
    net, meta = require_lm(model, "evaluate --stream")
    piece = piece or meta.stream_piece
    bin_size = bin_size or meta.stream_bin
    with open_genome(source or meta.source) as genome:
        record = find_record(genome, record, f"--record {record}") if record else genome.names[0]
        length = genome.lengths[record]
        test_start = [r.start for r in held_out_regions(model, genome)["test"] if r.record == record]
        started = time.perf_counter()
        score = net.score_stream(pieces(genome, record, 0, length, piece))
        seconds = time.perf_counter() - started
    test_start = test_start[0] if test_start else length
    held = slice(max(test_start - 1, 0), None)  # nats[i] scores base i + 1
    held_count = int(score.scored[held].sum())
    held_bits = float(score.nats[held].sum()) / held_count / LN2 if held_count else float("nan")
    positions, bits = score.bits_by_position(bin_size)
    result = StreamResult(
        record, length, score.bits_per_base, held_bits, test_start, positions, bits, seconds
    )
    if plot_dir is not None:
        result.plot = plot_stream(result, Path(plot_dir) / f"stream_bits_{_safe(record)}.png", meta.name)
    return result


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def plot_stream(result: StreamResult, path: Path, name: str) -> Path:
    """Bits per base against position, with the start of the held-out part marked."""
    return plot_forecasts(
        path,
        f"{name}: {result.record} streamed in one pass ({result.bits_per_base:.4f} bits/base; "
        f"held-out {result.held_out_bits_per_base:.4f})",
        (result.positions, result.bits),
        {},
        ylabel="bits per base",
        split_at=result.test_start,
        actual_label="bits per base, per bin of positions",
        xlabel="position (bases)",
    )


def log_stream(result: StreamResult) -> None:
    """The stream into the active run: `stream_bits_per_base`, `stream_test_bits_per_base` (the
    held-out part), `stream_bases_per_second`, the curve `stream_bits_per_base_by_position` (step =
    position) and the plot."""
    tracking.log_metrics(
        {
            "stream_bits_per_base": result.bits_per_base,
            "stream_test_bits_per_base": result.held_out_bits_per_base,
            "stream_bases_per_second": result.tokens_per_second,
        }
    )
    tracking.log_metric_curve(
        "stream_bits_per_base_by_position", list(zip(result.positions, result.bits, strict=True))
    )
    if result.plot is not None:
        tracking.log_artifact(result.plot, "plots")
