"""Evaluating a genome LM: bits per base on the held-out part of every record, windowed (the training
regime), with test-time memory updates off, streamed in one pass, and against the Markov baseline;
`evaluate_tracked` is `memcast evaluate` for genomes (with --stream, see stream.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app import console, tracking
from app.checks import GENOME_PARTS, genome_parts, genome_record
from app.models import MarkovModel, NucleotideLM, select_order
from app.models.ablation import memory_updates, neural_memories
from app.models.metrics import LN2, base_nats
from pipelines.genomes.fasta import Genome
from pipelines.genomes.windows import Region

from .module import GenomeModule, load_genome_model, require_lm
from .regions import held_out_regions, open_genome, pieces, region_ids
from .stream import StreamResult, log_stream, stream_record


def window_nats(net: NucleotideLM, ids: np.ndarray, context: int, batch: int = 32) -> tuple[float, int]:
    """(total nats, scored bases) of bases 1.. of `ids`, read as consecutive windows of `context`
    tokens, each from a fresh memory (the training regime)."""
    total, count = 0.0, 0
    ids_t = torch.from_numpy(ids.astype(np.int64))
    starts = list(range(0, max(len(ids) - 1, 0), context))
    full = [s for s in starts if s + context + 1 <= len(ids)]
    rest = [s for s in starts if s + context + 1 > len(ids)]
    with torch.no_grad():
        for i in range(0, len(full), batch):
            windows = torch.stack([ids_t[s : s + context + 1] for s in full[i : i + batch]])
            nats, scored = base_nats(net(windows[:, :-1])[0].double(), windows[:, 1:])
            total, count = total + float(nats.sum()), count + int(scored.sum())
        for s in rest:
            window = ids_t[None, s:]
            nats, scored = base_nats(net(window[:, :-1])[0].double(), window[:, 1:])
            total, count = total + float(nats.sum()), count + int(scored.sum())
    return total, count


@dataclass
class GenomeReport:
    """rows: model, bits per base, scored bases (held-out part); plus the stream, when one ran."""

    rows: list[dict[str, Any]]
    stream: StreamResult | None = None


TABLE_PARTS = GENOME_PARTS[:4]  # the rows; "stream" is `stream_record`'s


def _parts(only: Collection[str] | None) -> set[str]:
    """The parts of `only` (None: every row), checked against GENOME_PARTS."""
    return set(TABLE_PARTS) if only is None else set(genome_parts(list(only)) or [])


def evaluate_genome(
    model: GenomeModule,
    source: str | Path | None = None,
    *,
    baselines: bool = True,
    only: Collection[str] | None = None,
) -> GenomeReport:
    """Bits per base on the held-out (test) part of every record of `source` (default: the training
    genome), with the model's split: the model on windows of its training context (fresh memory per
    window), the same with test-time memory updates off, the model streaming each held-out region in
    one pass (memory carried), and the Markov baseline (k and smoothing chosen on the val part).
    `only` picks some of them (app.checks.GENOME_PARTS; "stream" is `stream_record`'s, no row here)."""
    net, meta = require_lm(model, "evaluate")
    parts = _parts(only)
    rows = []
    with open_genome(source or meta.source) as genome:
        regions = held_out_regions(model, genome)
        test = [(r, region_ids(genome, r)) for r in regions["test"]] if parts & set(TABLE_PARTS) else []
        variants = [(f"{meta.name} (windows of {meta.context})", True, "windows")]
        if neural_memories(net):
            variants.append((f"{meta.name} (windows, memory updates off)", False, "updates-off"))
        for label, learns, part in variants:
            if part in parts:
                with memory_updates(net, learns):
                    totals = [window_nats(net, ids, meta.context) for _, ids in test]
                rows.append(_row(label, totals))
        if "held-out" in parts:
            streamed = []
            for region, _ in test:
                stream = pieces(genome, region.record, region.start, region.end, meta.stream_piece)
                score = net.score_stream(stream)
                streamed.append((float(score.nats.sum()), score.count))
            rows.append(_row(f"{meta.name} (stream over held-out)", streamed))
        if "markov" in parts and baselines and meta.markov_max_order > 0 and regions["val"]:
            rows.append(markov_row(genome, regions, [ids for _, ids in test], meta.markov_max_order))
    return GenomeReport(rows)


def _row(label: str, totals: list[tuple[float, int]]) -> dict[str, Any]:
    nats, count = sum(t for t, _ in totals), sum(c for _, c in totals)
    return {"model": label, "bits_per_base": nats / count / LN2 if count else float("nan"), "bases": count}


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """Arrays joined with an N between them, so no Markov context crosses from one to the next."""
    out: list[np.ndarray] = []
    for part in parts:
        out += [part, np.array([4], dtype=np.uint8)]
    return np.concatenate(out[:-1]) if out else np.zeros(0, np.uint8)


def markov_row(
    genome: Genome, regions: dict[str, list[Region]], test: list[np.ndarray], max_order: int
) -> dict[str, Any]:
    """The order-k Markov baseline: fitted on train, k and smoothing chosen on val, scored on test
    (each test region with the bases before it as context)."""
    train = [region_ids(genome, r) for r in regions["train"]]
    val = _joined([region_ids(genome, r) for r in regions["val"]])
    model: MarkovModel = select_order(train, val, max_order=max_order, tolerance=1e-4).model
    nats, count = 0.0, 0
    for region, ids in zip(regions["test"], test, strict=True):
        before = genome.tokens(region.record, max(0, region.start - model.order), region.start).ids
        log_probs = model.log_probs(ids, prefix=before if len(before) else None)
        scored = ids < 4
        nats -= float(log_probs[np.flatnonzero(scored), ids[scored].astype(np.int64)].sum())
        count += int(scored.sum())
    return {
        "model": f"markov (order {model.order}, chosen on val)",
        "bits_per_base": nats / count / LN2,
        "bases": count,
    }


def format_genome_table(rows: list[dict[str, Any]], title: str = "") -> str:
    """A plain-text table: model, bits per base, scored bases."""
    lines = [title] if title else []
    width = max([len(r["model"]) for r in rows] + [5]) + 2
    lines.append(f"{'model':<{width}}{'bits/base':>10}{'bases':>10}")
    for row in rows:
        lines.append(f"{row['model']:<{width}}{row['bits_per_base']:>10.4f}{row['bases']:>10}")
    return "\n".join(lines)


def evaluate_tracked(
    reference: str,
    source: str | None,
    *,
    stream: bool,
    record: str | None,
    plot_dir: Path,
    tracking_uri: str | None,
    only: Collection[str] | None = None,
) -> GenomeReport:
    """`memcast evaluate` for a genome LM: `evaluate_genome` (and, with `stream` or "stream" in
    `only`, `stream_record`), recorded in an MLflow run ("evaluate genome"): each row in a nested run
    tagged with its model. `only`: the parts to run (GENOME_PARTS); default every row, plus the
    stream when `stream`."""
    parts = _parts(only) | ({"stream"} if stream else set())
    if source is not None and record is not None:  # bad input is reported before the model loads
        genome_record(source, record)
    uri = tracking.checked_uri(tracking_uri)
    model = load_genome_model(reference, uri)
    console.use_threads(model.meta.threads)  # --threads, else the config it was trained with
    report = evaluate_genome(model, source, only=parts - {"stream"})
    if "stream" in parts:
        report.stream = stream_record(model, source, record, plot_dir=plot_dir)
    with tracking.start_run(uri, model.meta.experiment, "evaluate genome"):
        data = source or require_lm(model, "evaluate")[1].source
        tracking.log_params({"model": reference, "data": data, "stream": "stream" in parts})
        tracking.log_params({"only": ",".join(p for p in GENOME_PARTS if p in parts)})
        tracking.log_rows(report.rows, "test")
        if report.stream is not None:
            log_stream(report.stream)
    return report
