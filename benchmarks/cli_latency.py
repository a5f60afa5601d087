"""The CLI as a user meets it: how long a bad region takes to fail, and how fast `forecast --genome`
samples.

    .venv/bin/python benchmarks/cli_latency.py [--repeats 7] [--length 2000] [--prefix 10000]

1. Time to the first error, in a fresh interpreter (the whole command: start-up, imports, the
   check): `memcast forecast --genome <sample> --region <bad>` for an unknown record and for a region
   outside the record, with a real checkpoint; `memcast train <config>` of a config with an unknown
   field (configs/experiments/genome-lm.yaml with `model.backbone_size: 8` added); `memcast version`
   is the start-up floor. Target (issue 19): within 2 s.
2. Sampling: a genome LM of the shipped config (configs/experiments/genome-lm.yaml: Titans LMM,
   d_model 32, 2 layers, chunk 16; trained here for a few steps, as the speed does not depend on the
   weights) reads a `--prefix`-base region as a stream, then samples `--length` bases, one token
   step each from the streamed state (`app.genomics.sample.continue_stream`), 1 thread. Reported:
   sampled bases/s and the prefix's streamed bases/s, medians of `--repeats` runs; and the wall time
   of the whole `memcast forecast --genome` command. Target: at least 1,000 sampled bases/s. Sampled
   bases per CPU second (process time, one thread) is the same speed without the share of the cores
   other processes take, for a machine that is busy.

Prints one table and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FASTA = ROOT / "data" / "samples" / "pyrodigal_50kb.fa"
RECORD = "NZ_LN831026.1"


def memcast(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    """(seconds, result) of one `memcast` command in a fresh interpreter."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    return time.perf_counter() - started, done


def train_checkpoint(folder: Path) -> Path:
    seconds, done = memcast(
        "train",
        str(ROOT / "configs/experiments/genome-lm.yaml"),
        "--set=trainer.max_steps=20",
        "--set=trainer.limit_train_batches=10",
        "--set=trainer.limit_val_batches=1",
        "--set=trainer.progress_bar=false",
        f"--set=output_dir={folder}",
        f"--set=tracking.uri=sqlite:///{folder / 'mlflow.db'}",
    )
    if done.returncode:
        raise SystemExit(f"training the benchmark's model failed:\n{done.stderr}")
    return folder / "genome-lm" / "latest.ckpt"


def error_latency(checkpoint: Path, uri: str, repeats: int, folder: Path) -> dict[str, list[float]]:
    region = ["forecast", "--model", str(checkpoint), "--genome", str(FASTA), "--tracking-uri", uri]
    bad_config = folder / "bad-field.yaml"
    config = (ROOT / "configs/experiments/genome-lm.yaml").read_text()
    bad_config.write_text(config.replace("\nmodel:\n", "\nmodel:\n  backbone_size: 8\n", 1))
    cases = {
        "unknown record": [*region, "--region", "chr9:1-100"],
        "region outside the record": [*region, "--region", f"{RECORD}:49901-50001"],
        "config field unknown (train)": ["train", str(bad_config), f"--set=output_dir={folder}"],
    }
    times: dict[str, list[float]] = {"memcast version (start-up floor)": []}
    for _ in range(repeats):
        times["memcast version (start-up floor)"].append(memcast("version")[0])
    for name, args in cases.items():
        times[name] = []
        for _ in range(repeats):
            seconds, done = memcast(*args)
            assert done.returncode == 2 and done.stderr.startswith("error: "), done.stderr
            times[name].append(seconds)
    assert "model.backbone_size: unknown field" in done.stderr, done.stderr
    return times


def sampling_speed(checkpoint: Path, prefix_len: int, length: int, repeats: int) -> dict[str, list[float]]:
    import torch

    from app.genomics import load_genome_model
    from app.genomics.sample import continue_stream
    from pipelines.genomes import Genome

    torch.set_num_threads(1)
    model = load_genome_model(checkpoint)
    with Genome(FASTA) as genome:
        prefix = genome.tokens(RECORD, 0, prefix_len).ids
    speeds: dict[str, list[float]] = {
        "sampled bases/s": [],
        "sampled bases per CPU second": [],
        "prefix streamed bases/s": [],
    }
    for seed in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        continue_stream(model.net, prefix, 1, seed=seed, piece=model.meta.stream_piece)
        read, read_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        continue_stream(model.net, prefix, length + 1, seed=seed, piece=model.meta.stream_piece)
        total, total_cpu = time.perf_counter() - started, time.process_time() - cpu
        speeds["prefix streamed bases/s"].append(prefix_len / read)
        speeds["sampled bases/s"].append(length / max(total - read, 1e-9))
        # CPU time is what the steps cost without the other processes' share of the cores
        speeds["sampled bases per CPU second"].append(length / max(total_cpu - read_cpu, 1e-9))
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--length", type=int, default=2000, help="bases to sample")
    parser.add_argument("--prefix", type=int, default=10_000, help="bases of the region read first")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cli_latency.json")
    args = parser.parse_args()
    from report import print_table_and_save

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        checkpoint = train_checkpoint(folder)
        errors = error_latency(checkpoint, uri, args.repeats, folder)
        speeds = sampling_speed(checkpoint, args.prefix, args.length, args.repeats)
        command = []
        for seed in range(3):
            seconds, done = memcast(
                "forecast", "--model", str(checkpoint), "--genome", str(FASTA), "--region",
                f"{RECORD}:1-{args.prefix}", "--length", str(args.length), "--seed", str(seed),
                "--tracking-uri", uri,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            command.append(seconds)
    rows = [(f"error: {name}", f"{statistics.median(t):.2f} s", "<= 2 s") for name, t in errors.items()]
    rows[0] = (rows[0][0].removeprefix("error: "), rows[0][1], "-")
    for name, values in speeds.items():
        target = ">= 1,000" if name == "sampled bases/s" else "-"
        rows.append((f"{name} (1 thread)", f"{statistics.median(values):,.0f}", target))
    rows.append(
        (
            f"memcast forecast --genome, {args.prefix:,} + {args.length:,} bases",
            f"{statistics.median(command):.1f} s",
            "-",
        )
    )
    results = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "repeats": args.repeats,
        "prefix": args.prefix,
        "length": args.length,
        "error_seconds": errors,
        "sampling": speeds,
        "forecast_genome_command_seconds": command,
    }
    print_table_and_save(rows, results, args.out, "median")


if __name__ == "__main__":
    main()
