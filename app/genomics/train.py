"""Training a genome model: the datamodule and module of a genome config, and `train_genome`, the
one fit path (app.training.fit) with the genome test (Lightning's test loop on the test split).

    config = load_experiment("configs/experiments/genome-lm.yaml", ["trainer.max_epochs=1"])
    result = train_genome(config)       # an MLflow run; result.checkpoint, result.run_id, result.rows
"""

from __future__ import annotations

from typing import Any

import lightning as L

from app.experiments.genome import GenomeBatches, GenomeConfig, GenomeLMConfig
from app.training import Task, TrainResult, fit
from pipelines.errors import InputError
from pipelines.genomes.datamodules import ClassificationDataModule, NextBaseDataModule

from .module import ClassifierMeta, GenomeModule, LMMeta, load_genome_model


def build_genome_datamodule(config: GenomeConfig) -> L.LightningDataModule:
    """The DataModule of the config's task, set up."""
    data = config.data
    batches = data.model_dump(include=set(GenomeBatches.model_fields))  # what both tasks' data share
    if isinstance(config, GenomeLMConfig):
        module: L.LightningDataModule = NextBaseDataModule(
            data.source,
            context=data.context,
            stride=data.stride,
            test_fraction=data.test_fraction,
            **batches,
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
        module = ClassificationDataModule(**bed, benchmark=data.benchmark, **batches, seed=config.seed)
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


def build_genome_module(config: GenomeConfig, datamodule: Any) -> GenomeModule:
    """The untrained module of `config` (a classifier's classes come from the datamodule)."""
    model, data = config.model, config.data
    named = {"name": config.name, "experiment": config.tracking.experiment, "threads": config.trainer.threads}
    num_classes = None
    if isinstance(config, GenomeLMConfig):
        meta: LMMeta | ClassifierMeta = LMMeta(
            **named,
            source=str(data.source),
            context=data.context,
            val_fraction=data.val_fraction,
            test_fraction=data.test_fraction,
            stream_piece=config.evaluation.stream_piece,
            stream_bin=config.evaluation.stream_bin,
            markov_max_order=config.evaluation.markov_max_order,
        )
    else:
        meta = ClassifierMeta(**named, classes=list(datamodule.classes))
        num_classes = len(datamodule.classes)
    return GenomeModule(
        config.task,
        model.backbone_config().model_dump(),
        model.rc_equivariant,
        num_classes,
        config.optim.model_dump(mode="json"),
        meta.model_dump(mode="json"),
    )


def _build(config: GenomeConfig) -> tuple[GenomeModule, L.LightningDataModule]:
    datamodule = build_genome_datamodule(config)
    return build_genome_module(config, datamodule), datamodule


def _test(config: GenomeConfig, module: GenomeModule, datamodule: Any) -> list[dict[str, Any]]:
    """One row of the test metrics (LM: loss, bits per base; classifier: loss, accuracy), when the
    data has a test split."""
    if "test" not in datamodule.datasets:
        return []
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    tested = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    return [{"model": config.name, **{k.removeprefix("test_"): float(v) for k, v in tested.items()}}]


GENOME = Task(build=_build, load=load_genome_model, test=_test)


def train_genome(config: GenomeConfig, *, track: bool = True, **options: Any) -> TrainResult:
    """Fit the configured genome model and test it (LM: bits per base on the held-out windows;
    classifier: accuracy on the test split); with `track`, all in one MLflow run (see
    app.training.fit; `options` go to it: nested, parent_run_id, tags, callbacks)."""
    return fit(GENOME, config, track=track, **options)
