"""`GenomeModule`: the TaskModule of both genome tasks (a `NucleotideLM` or a `SequenceClassifier`),
and the typed metadata its checkpoint carries. The checkpoint's hyper-parameters hold everything
needed to rebuild the net and read new data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor

from app.models import BackboneConfig, NucleotideLM, SequenceClassifier
from app.models.metrics import LN2
from app.training import TaskModule, hyper_parameters, resolve_checkpoint
from pipelines.errors import InputError

GENOME_TASKS = ("genome-lm", "genome-classify")


class GenomeMeta(BaseModel):
    """What every genome model's checkpoint records: the experiment's name and MLflow experiment,
    and the CPU threads its config asked for (`trainer.threads`; later commands use as many)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "model"
    experiment: str = "memcast"
    threads: int | None = None


class LMMeta(GenomeMeta):
    """A genome LM's data settings (source, context, split fractions) and evaluation settings."""

    source: str
    context: int
    val_fraction: float
    test_fraction: float
    stream_piece: int = 4096
    stream_bin: int = 2000
    markov_max_order: int = 12


class ClassifierMeta(GenomeMeta):
    """A classifier's class names, in label order."""

    classes: list[str]


class GenomeModule(TaskModule):
    """task: "genome-lm" (NucleotideLM; loss in nats per base, and bits per base) or "genome-classify"
    (SequenceClassifier; cross-entropy, and accuracy). backbone: a BackboneConfig as a dict. optim: an
    OptimConfig as a dict. meta: an LMMeta or a ClassifierMeta (by task) as a dict."""

    def __init__(
        self,
        task: str,
        backbone: dict[str, Any],
        rc_equivariant: bool = False,
        num_classes: int | None = None,
        optim: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ):
        super().__init__(optim)
        if task not in GENOME_TASKS:
            raise ValueError(f"GenomeModule: task: expected one of {GENOME_TASKS}; got {task!r}")
        self.save_hyperparameters()
        config = BackboneConfig(**backbone)
        if task == "genome-lm":
            self.net: NucleotideLM | SequenceClassifier = NucleotideLM(config, rc_equivariant)
            self.meta: LMMeta | ClassifierMeta = LMMeta.model_validate(meta or {})
        else:
            self.net = SequenceClassifier(config, int(num_classes or 0), rc_equivariant)
            self.meta = ClassifierMeta.model_validate(meta or {})

    @property
    def task(self) -> str:
        return self.hparams.task

    def task_loss(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, dict[str, Tensor], int]:
        if self.task == "genome-classify":
            logits = self.net(batch["tokens"], batch["valid"])
            loss = torch.nn.functional.cross_entropy(logits, batch["label"])
            accuracy = (logits.argmax(-1) == batch["label"]).float().mean()
            return loss, {"accuracy": accuracy}, len(logits)
        tokens, targets = batch["tokens"], batch["targets"]
        if stage == "train":
            return self.net.loss(tokens, targets), {}, len(tokens)
        nats, scored = self.net.strand_nats(tokens, targets)  # + strand: a code length
        count = int(scored.sum())
        loss = nats.sum() / max(count, 1)
        return loss, {"bits_per_base": loss / LN2}, count


def is_genome_checkpoint(path: str | Path) -> bool:
    """True when the checkpoint holds a GenomeModule (its hyper-parameters name a genome task)."""
    return hyper_parameters(path).get("task") in GENOME_TASKS


def load_genome_model(reference: str | Path, tracking_uri: str | None = None) -> GenomeModule:
    """A trained GenomeModule (eval mode) from a checkpoint file or an MLflow run id."""
    path = resolve_checkpoint(reference, tracking_uri)
    if not is_genome_checkpoint(path):
        raise InputError("not a genome model (a forecasting checkpoint?)", path=str(reference))
    return GenomeModule.load_from_checkpoint(str(path), map_location="cpu", weights_only=False).eval()


def require_lm(model: GenomeModule, what: str) -> tuple[NucleotideLM, LMMeta]:
    """The LM's net and metadata; an InputError when `what` is asked of a classifier."""
    if not isinstance(model.meta, LMMeta):
        raise InputError(f"{what} needs a genome language model; this one is a {model.task} model")
    return model.net, model.meta  # type: ignore[return-value]
