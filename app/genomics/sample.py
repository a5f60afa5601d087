"""Sampling a genome LM: continue a region of a genome, the model reading the region first."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from app import console, tracking
from app.models import NucleotideLM
from pipelines.errors import InputError
from pipelines.genomes.tokens import decode

from .module import GenomeModule, load_genome_model, require_lm
from .regions import open_genome, parse_region


def read_region(fasta: str | Path, region: str) -> tuple[str, int, int, np.ndarray]:
    """(record, start, end, token ids) of `region` of `fasta`; the checks `forecast --genome` makes
    before it loads a model (a missing file, an unknown record, a region outside it)."""
    with open_genome(fasta) as genome:
        record, start, end = parse_region(genome, region)
        return record, start, end, genome.tokens(record, start, end).ids.astype(np.int64)


def check_sampling(length: int, temperature: float) -> None:
    """--length and --temperature, checked before anything is read."""
    if length < 1:
        raise InputError(f"--length {length}: expected at least 1 base")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise InputError(f"--temperature {temperature}: expected a number >= 0")


@torch.inference_mode()
def continue_stream(
    net: NucleotideLM,
    prefix: np.ndarray,
    length: int,
    *,
    temperature: float = 1.0,
    seed: int | None = None,
    piece: int = 4096,
) -> np.ndarray:
    """`length` bases (ids 0..3) sampled after `prefix` (ids, at least one): the model reads the
    prefix as a stream, `piece` bases a call with its state carried (so a whole chromosome costs no
    more memory than a piece), then takes one token step per sampled base from that state.

    temperature divides the logits; 0 takes the most likely base. The draw is numpy's, seeded by
    `seed` (None: fresh entropy), one uniform number per base."""
    if len(prefix) < 1:
        raise InputError("the region to continue is empty")
    device = next(net.parameters()).device
    ids = torch.from_numpy(np.asarray(prefix, dtype=np.int64))
    state = None
    for begin in range(0, len(ids), piece):
        logits, state = net(ids[None, begin : begin + piece].to(device), state)
    uniform = np.random.default_rng(seed).random(length)
    out = np.zeros(length, dtype=np.uint8)
    step = torch.zeros(1, 1, dtype=torch.long, device=device)
    for i in range(length):
        last = logits[0, -1].double().cpu().numpy()
        if temperature == 0:
            base = int(last.argmax())
        else:
            weights = np.exp((last - last.max()) / temperature)
            cumulative = np.cumsum(weights)
            base = min(int(np.searchsorted(cumulative, uniform[i] * cumulative[-1], side="right")), 3)
        out[i] = base
        if i + 1 < length:
            step[0, 0] = base
            logits, state = net(step, state)
    return out


def sample_genome(
    model: GenomeModule,
    fasta: str | Path,
    region: str,
    length: int,
    temperature: float = 1.0,
    seed: int | None = None,
) -> tuple[str, str]:
    """(FASTA header, sampled bases): `length` bases continuing `region` of `fasta`, which the model
    reads first as a stream (its memory learns it as it goes); see `continue_stream`."""
    check_sampling(length, temperature)
    return _sample(model, read_region(fasta, region), length, temperature, seed)


def _sample(
    model: GenomeModule,
    read: tuple[str, int, int, np.ndarray],
    length: int,
    temperature: float,
    seed: int | None,
) -> tuple[str, str]:
    net, meta = require_lm(model, "forecast --genome")
    record, start, end, prefix = read
    sampled = continue_stream(
        net, prefix, length, temperature=temperature, seed=seed, piece=meta.stream_piece
    )
    header = f"{record}:{start + 1}-{end}+{length} sampled temperature={temperature:g} seed={seed}"
    return header, decode(sampled)


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
    check_sampling(length, temperature)
    read = read_region(fasta, region)  # bad input is reported before the model loads
    uri = tracking.checked_uri(tracking_uri)
    model = load_genome_model(reference, uri)
    console.use_threads(model.meta.threads)  # --threads, else the config it was trained with
    fasta_text = as_fasta(*_sample(model, read, length, temperature, seed))
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
