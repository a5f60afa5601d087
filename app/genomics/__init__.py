"""The genome tasks (next-base LM, sequence classification): config, module, train, evaluate,
stream, sample, classify, and regions (reading genomes for a model).

    from app.genomics import evaluate_genome, load_genome_model, stream_record, train_genome
    from app.tasks import load_experiment

    config = load_experiment("configs/experiments/genome-lm.yaml", ["trainer.max_epochs=1"])
    result = train_genome(config)                   # an MLflow run; result.checkpoint, result.run_id
    model = load_genome_model(result.checkpoint)
    report = evaluate_genome(model)                 # bits per base on the held-out part of every record
    stream = stream_record(model)                   # a whole record in one pass, memory carried

Bad input raises `pipelines.errors.InputError` (one line).
"""

from app.experiments.genome import GenomeClassifyConfig, GenomeConfig, GenomeLMConfig

from .classify import Classified, classify_sequences, classify_tracked
from .evaluate import (
    GenomeReport,
    evaluate_genome,
    evaluate_tracked,
    format_genome_table,
    markov_row,
    window_nats,
)
from .module import (
    GENOME_TASKS,
    ClassifierMeta,
    GenomeModule,
    LMMeta,
    is_genome_checkpoint,
    load_genome_model,
    require_lm,
)
from .regions import held_out_regions, open_genome, parse_region, pieces, region_ids, split_regions
from .sample import as_fasta, sample_genome, sample_tracked
from .stream import StreamResult, log_stream, plot_stream, stream_record
from .train import GENOME, build_genome_datamodule, build_genome_module, train_genome

__all__ = [
    "GENOME",
    "GENOME_TASKS",
    "Classified",
    "ClassifierMeta",
    "GenomeClassifyConfig",
    "GenomeConfig",
    "GenomeLMConfig",
    "GenomeModule",
    "GenomeReport",
    "LMMeta",
    "StreamResult",
    "as_fasta",
    "build_genome_datamodule",
    "build_genome_module",
    "classify_sequences",
    "classify_tracked",
    "evaluate_genome",
    "evaluate_tracked",
    "format_genome_table",
    "held_out_regions",
    "is_genome_checkpoint",
    "load_genome_model",
    "log_stream",
    "markov_row",
    "open_genome",
    "parse_region",
    "pieces",
    "plot_stream",
    "region_ids",
    "require_lm",
    "sample_genome",
    "sample_tracked",
    "split_regions",
    "stream_record",
    "train_genome",
    "window_nats",
]
