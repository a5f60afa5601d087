"""Sampling a genome LM: continue a region of a genome, the model reading the region first."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from app import tracking
from pipelines.errors import InputError
from pipelines.genomes.tokens import decode

from .module import GenomeModule, load_genome_model, require_lm
from .regions import open_genome, parse_region


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
    net, _ = require_lm(model, "forecast --genome")
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


def as_fasta(header: str, bases: str, width: int = 80) -> str:
    """One FASTA record, `width` bases a line."""
    return f">{header}\n" + "".join(bases[i : i + width] + "\n" for i in range(0, len(bases), width))


def sample_tracked(
    reference: str,
    fasta: str,
    region: str,
    *,
    length: int,
    temperature: float,
    seed: int | None,
    output: Path | None,
    tracking_uri: str | None,
) -> str:
    """`memcast forecast --genome`: `sample_genome` as FASTA text, written to `output` (when given)
    and recorded in an MLflow run ("forecast genome")."""
    uri = tracking.checked_uri(tracking_uri)
    model = load_genome_model(reference, uri)
    fasta_text = as_fasta(*sample_genome(model, fasta, region, length, temperature, seed))
    with tracking.start_run(uri, model.meta.experiment, "forecast genome"):
        tracking.log_params(
            {
                "model": reference,
                "genome": fasta,
                "region": region,
                "length": length,
                "temperature": temperature,
                "seed": seed,
            }
        )
        if output is not None:
            output.write_text(fasta_text)
            tracking.log_artifact(output, "forecast")
        else:
            tracking.log_text(fasta_text, "forecast/sampled.fa")
    return fasta_text
