"""Genome experiment configs (YAML under configs/experiments/, `task: genome-lm | genome-classify`):
the data and evaluation sections, and a model section that is a backbone preset plus the
reverse-complement switch; the shared sections are in app/experiments/shared.py."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .shared import BackboneSection, Experiment


class GenomeModelSection(BackboneSection):
    """preset / backbone: as for forecasting. rc_equivariant: the strand-symmetric mode (the LM's loss
    averages both strands; the classifier is exactly reverse-complement invariant)."""

    rc_equivariant: bool = False


class GenomeBatches(BaseModel):
    """What both genome tasks share: the val share, strands, and batching."""

    model_config = ConfigDict(extra="forbid")

    val_fraction: float = Field(0.1, ge=0, lt=1)
    strand: Literal["+", "both"] = "+"
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    num_workers: int = Field(0, ge=0)


class GenomeLMData(GenomeBatches):
    """source: a FASTA file (plain, gzip, bgzip) or a named genome (`memcast data list`). Each record
    is split by position: train, then val (val_fraction), then test (test_fraction, held out at the
    end). context: bases per training window; stride: bases between training windows (default
    context); strand: "both" adds every window's reverse complement to training."""

    source: str
    context: int = Field(512, ge=2)
    stride: int | None = Field(None, ge=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)

    @model_validator(mode="after")
    def _fractions(self) -> GenomeLMData:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val_fraction + test_fraction must be below 1")
        return self


class GenomeClassifyData(GenomeBatches):
    """Either benchmark (a GenomicsBenchmarks-style folder: train/ and test/, one folder per class)
    or fasta + train_bed (+ val_bed, test_bed; labels from label_column, 4 = the BED name). Without a
    val file, val is a stratified val_fraction of train."""

    benchmark: str | None = None
    fasta: str | None = None
    train_bed: str | None = None
    val_bed: str | None = None
    test_bed: str | None = None
    label_column: int = Field(4, ge=4)

    @model_validator(mode="after")
    def _one_source(self) -> GenomeClassifyData:
        bed = self.fasta is not None or self.train_bed is not None
        if bed == (self.benchmark is not None):
            raise ValueError("give either benchmark (a folder) or fasta and train_bed")
        if bed and (self.fasta is None or self.train_bed is None):
            raise ValueError("BED mode needs both fasta and train_bed")
        return self


class GenomeEvaluationSection(BaseModel):
    """stream_piece: bases per call when a record streams through the model (the memory is carried;
    peak memory grows with the piece, not the record). stream_bin: bases per point of the
    bits-per-base-by-position curve. markov_max_order: the Markov baseline's largest order (k is
    chosen on the val part; 0 = no baseline)."""

    model_config = ConfigDict(extra="forbid")

    stream_piece: int = Field(4096, ge=1)
    stream_bin: int = Field(2000, ge=1)
    markov_max_order: int = Field(12, ge=0, le=24)


class _GenomeExperiment(Experiment):
    name: str = "genome"
    model: GenomeModelSection = Field(default_factory=GenomeModelSection)
    evaluation: GenomeEvaluationSection = Field(default_factory=GenomeEvaluationSection)


class GenomeLMConfig(_GenomeExperiment):
    """A next-base language model over a genome."""

    task: Literal["genome-lm"] = "genome-lm"
    data: GenomeLMData

    def run_tags(self) -> dict[str, str]:
        return {"task": self.task, "preset": self.model.preset, "dataset": self.data.source}


class GenomeClassifyConfig(_GenomeExperiment):
    """A sequence classifier over labelled sequences."""

    task: Literal["genome-classify"] = "genome-classify"
    data: GenomeClassifyData

    def run_tags(self) -> dict[str, str]:
        dataset = self.data.benchmark or self.data.fasta  # BED mode: the FASTA the intervals read
        return {"task": self.task, "preset": self.model.preset, "dataset": str(dataset)}


GenomeConfig = GenomeLMConfig | GenomeClassifyConfig
