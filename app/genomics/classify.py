"""Classifying sequences with a genome classifier: label every sequence of a FASTA or of a
GenomicsBenchmarks-style folder, with the accuracy per split where the folder gives true labels."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app import console, tracking
from app.models import SequenceClassifier
from pipelines.errors import InputError
from pipelines.genomes.labelled import pad_collate, read_genomic_benchmark
from pipelines.genomes.tokens import unpack

from .module import ClassifierMeta, GenomeModule, load_genome_model
from .regions import open_genome


def classify_sequences(model: GenomeModule, source: str | Path, batch: int = 32) -> list[dict[str, Any]]:
    """Label every sequence of a FASTA (one per record) or a GenomicsBenchmarks-style folder (every
    split present: train/, test/); rows: split, sequence, label, probability, and the true label
    when the folder gives one."""
    if not isinstance(model.meta, ClassifierMeta):
        raise InputError(f"classify needs a classifier; this model is a {model.task} model")
    classes = model.meta.classes
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


@dataclass
class Classified:
    """The label rows, as CSV text, and the accuracy per split that has true labels."""

    rows: list[dict[str, Any]]
    csv: str
    accuracy: dict[str, float]


def accuracy_by_split(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The share of right labels per split, for the splits whose rows carry a true label."""
    accuracy = {}
    for split in sorted({r["split"] for r in rows if "true_label" in r}):
        labelled = [r for r in rows if r["split"] == split]
        accuracy[split] = sum(r["label"] == r["true_label"] for r in labelled) / len(labelled)
    return accuracy


def classify_tracked(
    reference: str, source: str, output: Path | None, tracking_uri: str | None
) -> Classified:
    """`memcast classify`: `classify_sequences`, the CSV written to `output` (when given), all
    recorded in an MLflow run ("classify"), the accuracy as `{split}_accuracy`."""
    uri = tracking.checked_uri(tracking_uri)
    model = load_genome_model(reference, uri)
    console.use_threads(model.meta.threads)  # --threads, else the config it was trained with
    rows = classify_sequences(model, source)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["sequence", "label"])
    writer.writeheader()
    writer.writerows(rows)
    result = Classified(rows, buffer.getvalue(), accuracy_by_split(rows))
    with tracking.start_run(uri, model.meta.experiment, "classify"):
        tracking.log_params({"model": reference, "input": source})
        for split, value in result.accuracy.items():
            tracking.log_rows([{"model": model.meta.name, "accuracy": value}], split, model=model.meta.name)
        if output is not None:
            output.write_text(result.csv)
            tracking.log_artifact(output, "classify")
        else:
            tracking.log_text(result.csv, "classify/labels.csv")
    return result
