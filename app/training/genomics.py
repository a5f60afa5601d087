"""Genomes: train, evaluate (bits per base, windowed and streaming), sample and classify.

    from app.training import load_experiment
    from app.training.genomics import train_genome, load_genome_model, evaluate_genome, stream_record

    config = load_experiment("configs/experiments/genome-lm.yaml", ["trainer.max_epochs=1"])
    result = train_genome(config)                   # an MLflow run; result.checkpoint, result.run_id
    model = load_genome_model(result.checkpoint)
    report = evaluate_genome(model)                 # bits per base on the held-out part of every record
    stream = stream_record(model)                   # a whole record in one pass, memory carried

`GenomeModule` is the LightningModule of both genome tasks (a `NucleotideLM` or a
`SequenceClassifier`); it reuses the forecasting side's optimiser and schedule (`configure_optimizers`),
trainer (`fit_to_checkpoint`: checkpoints, early stopping, clipping, precision, progress bar, per-epoch
MLflow metrics) and tracking helpers. Everything needed to rebuild the net and read new data is in the
checkpoint's hyper-parameters. Bad input raises `pipelines.errors.InputError` (one line).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor

from app.models import BackboneConfig, MarkovModel, NucleotideLM, SequenceClassifier, select_order
from app.models.ablation import memory_updates, neural_memories
from app.models.metrics import LN2, base_nats
from pipelines.errors import InputError

from .genome_config import GenomeClassifyConfig, GenomeLMConfig
from .guard import finite_loss, skip_diverged_step
from .optim import OptimConfig, configure_optimizers
from .trainer import fit_to_checkpoint

GENOME_TASKS = ("genome-lm", "genome-classify")


# ---------------------------------------------------------------------------------------- the module


class GenomeModule(L.LightningModule):
    """task: "genome-lm" (NucleotideLM; loss in nats per base, val_bpb in bits) or "genome-classify"
    (SequenceClassifier; cross-entropy, accuracy). backbone: a BackboneConfig as a dict. meta: the
    data settings (source, split fractions, context, classes, ...)."""

    def __init__(
        self,
        task: str,
        backbone: dict[str, Any],
        rc_equivariant: bool = False,
        num_classes: int | None = None,
        optim: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ):
        super().__init__()
        if task not in GENOME_TASKS:
            raise ValueError(f"GenomeModule: task: expected one of {GENOME_TASKS}; got {task!r}")
        self.save_hyperparameters()
        config = BackboneConfig(**backbone)
        if task == "genome-lm":
            self.net: NucleotideLM | SequenceClassifier = NucleotideLM(config, rc_equivariant)
        else:
            self.net = SequenceClassifier(config, int(num_classes or 0), rc_equivariant)
        self.optim = OptimConfig(**(optim or {}))
        self.meta = dict(meta or {})

    @property
    def task(self) -> str:
        return self.hparams.task

    def _lm_step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        tokens, targets = batch["tokens"], batch["targets"]
        if stage == "train":
            loss = finite_loss(self.net.loss(tokens, targets))
            self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(tokens))
            return loss
        nats, scored = self.net.strand_nats(tokens, targets)  # + strand: a code length
        count = int(scored.sum())
        loss = nats.sum() / max(count, 1)
        self.log(f"{stage}_loss", loss, prog_bar=True, on_epoch=True, sync_dist=True, batch_size=count)
        self.log(f"{stage}_bpb", loss / LN2, on_epoch=True, sync_dist=True, batch_size=count)
        return loss

    def _classify_step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        logits = self.net(batch["tokens"], batch["valid"])
        loss = torch.nn.functional.cross_entropy(logits, batch["label"])
        if stage == "train":
            loss = finite_loss(loss)
        accuracy = (logits.argmax(-1) == batch["label"]).float().mean()
        size = len(logits)
        on_step = stage == "train"
        self.log(
            f"{stage}_loss",
            loss,
            prog_bar=True,
            on_step=on_step,
            on_epoch=True,
            sync_dist=True,
            batch_size=size,
        )
        self.log(f"{stage}_accuracy", accuracy, on_epoch=True, sync_dist=True, batch_size=size)
        return loss

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        return (self._lm_step if self.task == "genome-lm" else self._classify_step)(batch, stage)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor | None:
        return skip_diverged_step(self, lambda: self._step(batch, "train"))

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "test")

    def configure_optimizers(self) -> dict[str, Any]:
        return configure_optimizers(self, self.optim)


def is_genome_checkpoint(path: str | Path) -> bool:
    """True when the checkpoint holds a GenomeModule (its hyper-parameters name a genome task)."""
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
    return checkpoint.get("hyper_parameters", {}).get("task") in GENOME_TASKS


def load_genome_model(reference: str | Path, tracking_uri: str | None = None) -> GenomeModule:
    """A trained GenomeModule (eval mode) from a checkpoint file or an MLflow run id."""
    from .experiment import resolve_checkpoint

    path = resolve_checkpoint(reference, tracking_uri)
    if not is_genome_checkpoint(path):
        raise InputError("not a genome model (a forecasting checkpoint?)", path=str(reference))
    return GenomeModule.load_from_checkpoint(str(path), map_location="cpu", weights_only=False).eval()


# ---------------------------------------------------------------------------------------- data


def build_genome_datamodule(config: GenomeLMConfig | GenomeClassifyConfig) -> L.LightningDataModule:
    """The DataModule of the config's task, set up."""
    from pipelines.genomes.datamodules import ClassificationDataModule, NextBaseDataModule

    data = config.data
    if isinstance(config, GenomeLMConfig):
        module: L.LightningDataModule = NextBaseDataModule(
            data.source,
            context=data.context,
            stride=data.stride,
            val_fraction=data.val_fraction,
            test_fraction=data.test_fraction,
            strand=data.strand,
            batch_size=data.batch_size,
            eval_batch_size=data.eval_batch_size,
            num_workers=data.num_workers,
            seed=config.seed,
        )
    else:
        bed = (
            {
                "fasta": data.fasta,
                "train_bed": data.train_bed,
                "val_bed": data.val_bed,
                "test_bed": data.test_bed,
                "label_column": data.label_column,
            }
            if data.fasta
            else {}
        )
        module = ClassificationDataModule(
            **bed,
            benchmark=data.benchmark,
            val_fraction=data.val_fraction,
            strand=data.strand,
            batch_size=data.batch_size,
            eval_batch_size=data.eval_batch_size,
            num_workers=data.num_workers,
            seed=config.seed,
        )
    try:
        module.prepare_data()
        module.setup()
    except (KeyError, ValueError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(
            str(error).strip("'\""), path=getattr(data, "source", None) or data.benchmark or data.fasta
        ) from None
    return module


def build_genome_module(config, datamodule) -> GenomeModule:
    model, data = config.model, config.data
    meta: dict[str, Any] = {"name": config.name, "experiment": config.tracking.experiment}
    num_classes = None
    if config.task == "genome-lm":
        meta.update(
            source=str(data.source),
            context=data.context,
            val_fraction=data.val_fraction,
            test_fraction=data.test_fraction,
            stream_piece=config.evaluation.stream_piece,
            stream_bin=config.evaluation.stream_bin,
            markov_max_order=config.evaluation.markov_max_order,
        )
    else:
        meta["classes"] = list(datamodule.classes)
        num_classes = len(datamodule.classes)
    return GenomeModule(
        config.task,
        model.backbone_config().model_dump(),
        model.rc_equivariant,
        num_classes,
        config.optim.model_dump(mode="json"),
        meta,
    )


# ---------------------------------------------------------------------------------------- training


@dataclass
class GenomeTrainResult:
    """The trained module (best checkpoint), the checkpoint file (a copy is at
    <output_dir>/<name>/latest.ckpt), the run folder, the MLflow run id and the test metrics."""

    module: GenomeModule
    checkpoint: Path
    output_dir: Path
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def train_genome(config: GenomeLMConfig | GenomeClassifyConfig, *, track: bool = True) -> GenomeTrainResult:
    """Fit the configured genome model and test it (LM: bits per base on the held-out windows;
    classifier: accuracy on the test split); with `track`, all in one MLflow run (params, resolved
    config, per-epoch metrics, test metrics, checkpoint)."""
    from app import tracking

    started = time.perf_counter()
    uri = tracking.resolve_tracking_uri(config.tracking.uri)
    if track:
        tracking.check_tracking(uri)
    L.seed_everything(config.seed, verbose=False)
    datamodule = build_genome_datamodule(config)
    module = build_genome_module(config, datamodule)
    if not track:
        return _fit_genome(config, module, datamodule, None, None, started)
    name = f"train {config.name}"
    with tracking.start_run(uri, config.tracking.experiment, name, tags={"task": config.task}) as run:
        import mlflow

        tracking.log_config(config.model_dump(mode="json"))
        result = _fit_genome(config, module, datamodule, run.info.run_id, uri, started)
        tracking.log_metrics({**result.metrics, "train_seconds": result.seconds})
        mlflow.log_artifact(str(result.checkpoint), "checkpoints")
        return result


def _fit_genome(config, module, datamodule, run_id, uri, started) -> GenomeTrainResult:
    best, output_dir = fit_to_checkpoint(
        config.trainer,
        module,
        datamodule,
        output_root=config.output_dir,
        name=config.name,
        run_id=run_id,
        tracking_uri=uri,
    )
    module = load_genome_model(best)
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    tested = (
        trainer.test(module, datamodule=datamodule, verbose=False)[0] if "test" in datamodule.datasets else {}
    )
    metrics = {name: float(value) for name, value in tested.items()}
    return GenomeTrainResult(module, best, output_dir, run_id, metrics, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------- reading genomes


def open_genome(source: str | Path):
    """A `Genome` for a FASTA path or a named genome; a missing or empty file is an InputError."""
    from pipelines.genomes import Genome, resolve_fasta

    return Genome(resolve_fasta(source))


def parse_region(genome, region: str) -> tuple[str, int, int]:
    """ "record" or "record:start-end" (1-based, inclusive, as samtools; commas allowed) -> (record,
    start, end) 0-based half-open; an unknown record or a region outside it is an InputError."""
    name, sep, span = region.rpartition(":")
    if not sep or name not in genome.lengths and region in genome.lengths:
        name, span = region, ""
    if name not in genome.lengths:
        shown = ", ".join(genome.names[:5]) + (", ..." if len(genome.names) > 5 else "")
        raise InputError(
            f"--region {region}: no record named {name!r} (records: {shown})", path=genome.source
        )
    length = genome.lengths[name]
    if not span:
        return name, 0, length
    first, dash, last = span.replace(",", "").partition("-")
    try:
        start, end = int(first), int(last) if dash else int(first)
    except ValueError:
        raise InputError(
            f"--region {region}: expected record:start-end, e.g. {name}:1-1000", path=genome.source
        ) from None
    if not 1 <= start <= end <= length:
        raise InputError(
            f"--region {region}: outside the record {name} (1-based, 1 to {length}, start <= end)",
            path=genome.source,
        )
    return name, start - 1, end


def held_out_regions(model: GenomeModule, genome) -> dict[str, list]:
    """train / val / test regions of `genome` with the model's split fractions."""
    from pipelines.genomes import split_by_fraction

    return split_by_fraction(
        genome.lengths, val_fraction=model.meta["val_fraction"], test_fraction=model.meta["test_fraction"]
    )


def _ids(genome, region) -> np.ndarray:
    return genome.tokens(region.record, region.start, region.end).ids


def _require_lm(model: GenomeModule, what: str) -> NucleotideLM:
    if model.task != "genome-lm":
        raise InputError(f"{what} needs a genome language model; this one is a {model.task} model")
    return model.net  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------- evaluation


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


def _pieces(genome, record: str, start: int, end: int, piece: int) -> Iterator[np.ndarray]:
    for s in range(start, end, piece):
        yield genome.tokens(record, s, min(end, s + piece)).ids


@dataclass
class GenomeReport:
    """rows: model, bits per base, scored bases (held-out part); plus the stream, when one ran."""

    rows: list[dict[str, Any]]
    stream: StreamResult | None = None


def evaluate_genome(
    model: GenomeModule, source: str | Path | None = None, *, baselines: bool = True
) -> GenomeReport:
    """Bits per base on the held-out (test) part of every record of `source` (default: the training
    genome), with the model's split: the model on windows of its training context (fresh memory per
    window), the same with test-time memory updates off, the model streaming each held-out region in
    one pass (memory carried), and the Markov baseline (k and smoothing chosen on the val part)."""
    net = _require_lm(model, "evaluate")
    context = int(model.meta["context"])
    piece = int(model.meta.get("stream_piece", 4096))
    rows = []
    with open_genome(source or model.meta["source"]) as genome:
        regions = held_out_regions(model, genome)
        test = [(r, _ids(genome, r)) for r in regions["test"]]
        name = model.meta.get("name", "model")
        variants = [(f"{name} (windows of {context})", True)]
        if neural_memories(net):
            variants.append((f"{name} (windows, memory updates off)", False))
        for label, learns in variants:
            with memory_updates(net, learns):
                totals = [window_nats(net, ids, context) for _, ids in test]
            rows.append(_row(label, totals))
        streamed = []
        for region, _ in test:
            score = net.score_stream(_pieces(genome, region.record, region.start, region.end, piece))
            streamed.append((float(score.nats.sum()), score.count))
        rows.append(_row(f"{name} (stream over held-out)", streamed))
        max_order = int(model.meta.get("markov_max_order", 12))
        if baselines and max_order > 0 and regions["val"]:
            rows.append(markov_row(genome, regions, [ids for _, ids in test], max_order))
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


def markov_row(genome, regions, test: list[np.ndarray], max_order: int) -> dict[str, Any]:
    """The order-k Markov baseline: fitted on train, k and smoothing chosen on val, scored on test
    (each test region with the bases before it as context)."""
    train = [_ids(genome, r) for r in regions["train"]]
    val = _joined([_ids(genome, r) for r in regions["val"]])
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
    net = _require_lm(model, "evaluate --stream")
    piece = piece or int(model.meta.get("stream_piece", 4096))
    bin_size = bin_size or int(model.meta.get("stream_bin", 2000))
    with open_genome(source or model.meta["source"]) as genome:
        record = record or genome.names[0]
        if record not in genome.lengths:
            raise InputError(
                f"--record {record}: no such record (records: {', '.join(genome.names[:5])})",
                path=genome.source,
            )
        length = genome.lengths[record]
        test_start = [r.start for r in held_out_regions(model, genome)["test"] if r.record == record]
        started = time.perf_counter()
        score = net.score_stream(_pieces(genome, record, 0, length, piece))
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
        result.plot = plot_stream(
            result, Path(plot_dir) / f"stream_bits_{_safe(record)}.png", model.meta.get("name", "model")
        )
    return result


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def plot_stream(result: StreamResult, path: Path, name: str) -> Path:
    """Bits per base against position, with the start of the held-out part marked."""
    from app.tracking.plots import plot_forecasts

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


def format_genome_table(rows: list[dict[str, Any]], title: str = "") -> str:
    lines = [title] if title else []
    width = max([len(r["model"]) for r in rows] + [5]) + 2
    lines.append(f"{'model':<{width}}{'bits/base':>10}{'bases':>10}")
    for row in rows:
        lines.append(f"{row['model']:<{width}}{row['bits_per_base']:>10.4f}{row['bases']:>10}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- sampling


def sample_genome(
    model: GenomeModule,
    fasta: str | Path,
    region: str,
    length: int,
    temperature: float = 1.0,
    seed: int | None = None,
) -> tuple[str, str]:
    """(FASTA header, sampled bases): `length` bases continuing `region` of `fasta`, which the model
    reads first (its memory learns it as it goes)."""
    from pipelines.genomes import decode

    net = _require_lm(model, "forecast --genome")
    if length < 1:
        raise InputError(f"--length {length}: expected at least 1 base")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise InputError(f"--temperature {temperature}: expected a number >= 0")
    with open_genome(fasta) as genome:
        record, start, end = parse_region(genome, region)
        prefix = genome.tokens(record, start, end).ids.astype(np.int64)
    sampled = net.generate(torch.from_numpy(prefix), length, temperature=temperature, seed=seed)
    header = f"{record}:{start + 1}-{end}+{length} sampled temperature={temperature:g} seed={seed}"
    return header, decode(sampled.numpy().astype(np.uint8))


# ---------------------------------------------------------------------------------------- classification


def classify_sequences(model: GenomeModule, source: str | Path, batch: int = 32) -> list[dict[str, Any]]:
    """Label every sequence of a FASTA (one per record) or a GenomicsBenchmarks-style folder (every
    split present: train/, test/); rows: split, sequence, label, probability, and the true label
    when the folder gives one."""
    from pipelines.genomes import read_genomic_benchmark
    from pipelines.genomes.labelled import pad_collate
    from pipelines.genomes.tokens import unpack

    if model.task != "genome-classify":
        raise InputError(f"classify needs a classifier; this model is a {model.task} model")
    classes = list(model.meta["classes"])
    path = Path(source)
    items: list[tuple[str, str, np.ndarray, str | None]] = []  # split, name, ids, true label
    if path.is_dir():
        splits = [s for s in ("train", "test") if (path / s).is_dir()]
        if not splits:
            raise InputError("expected a FASTA file or a folder with train/ and / or test/", path=path)
        bench = read_genomic_benchmark(path, splits)
        for split, sequences in bench.splits.items():
            for seq in sequences:
                truth = bench.classes[seq.label]
                items.append((split, Path(seq.origin).name, unpack(seq.packed).ids, truth))
    else:
        with open_genome(path) as genome:
            items = [("", name, genome.tokens(name).ids, None) for name in genome.names]
    rows: list[dict[str, Any]] = []
    net: SequenceClassifier = model.net  # type: ignore[assignment]
    with torch.no_grad():
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            collated = pad_collate(
                [
                    {
                        "tokens": torch.from_numpy(ids.astype(np.int64)),
                        "mask": torch.zeros(len(ids), dtype=torch.bool),
                        "length": torch.tensor(len(ids)),
                        "label": torch.tensor(0),
                    }
                    for _, _, ids, _ in chunk
                ]
            )
            probs = torch.softmax(net(collated["tokens"], collated["valid"]), -1)
            for (split, name, _, truth), p in zip(chunk, probs, strict=True):
                best = int(p.argmax())
                row = {
                    "split": split,
                    "sequence": name,
                    "label": classes[best],
                    "probability": float(p[best]),
                }
                if truth is not None:
                    row["true_label"] = truth
                rows.append(row)
    return rows
