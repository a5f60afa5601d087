"""Throughput of the genome pipeline: FASTA -> tokens, and random window reads.

    .venv/bin/python benchmarks/pipelines_genomes.py [--mbp 5] [--repeats 5] [--reads 100000]

Generates a FASTA of `--mbp` megabases (3 records, 80 bases per line, some soft-masked stretches and
N runs) in a temporary folder, plain and gzip, and times:
- tokenising the sequence bytes in memory (the 256-entry lookup table);
- file -> tokens from scratch: validation scan, pyfaidx index, token cache written (plain and gzip);
- random window reads (512 + 1 bases): from the memory-mapped token cache and through pyfaidx, as
  packed numpy windows, as Dataset items (tensors), and as whole batches (one vectorised read).
Targets (from the issue): 5 Mbp tokenised in under 0.5 s; >= 1e5 random window reads / s.
Prints one table (medians of `--repeats` runs) and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from report import print_table_and_save  # benchmarks/ is on sys.path when run as a script

from pipelines.genomes.fasta import Genome  # noqa: E402
from pipelines.genomes.scan import scan_fasta  # noqa: E402
from pipelines.genomes.tokens import encode_packed  # noqa: E402
from pipelines.genomes.windows import NextBaseWindows, whole_records  # noqa: E402

CONTEXT = 512


def make_sequence(bases: int, seed: int = 0) -> bytes:
    """Random ACGT with 2% soft-masked stretches and a few N runs."""
    rng = np.random.default_rng(seed)
    seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, bases)].copy()
    for start in rng.integers(0, bases - 1000, bases // 50_000):
        seq[start : start + 1000] |= 0x20  # lower case
    for start in rng.integers(0, bases - 100, bases // 500_000):
        seq[start : start + 100] = ord("N")
    return seq.tobytes()


def write_fasta(path: Path, seq: bytes, records: int = 3) -> None:
    step = len(seq) // records
    with open(path, "wb") as f:
        for r in range(records):
            part = seq[r * step : (r + 1) * step if r < records - 1 else len(seq)]
            f.write(f">chr{r + 1} synthetic\n".encode())
            f.write(b"\n".join(part[i : i + 80] for i in range(0, len(part), 80)) + b"\n")


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def from_scratch(path: Path, cache: Path) -> Genome:
    """Open with an empty cache: validate, index, build the token cache."""
    shutil.rmtree(cache, ignore_errors=True)
    genome = Genome(path, cache_dir=cache)
    genome.token_store()
    return genome


def reads_per_second(read: Callable[[int], object], n: int, count: int, seed: int) -> float:
    idx = np.random.default_rng(seed).integers(0, count, size=n).tolist()
    read(idx[0])  # warm up
    t0 = time.perf_counter()
    for i in idx:
        read(i)
    return n / (time.perf_counter() - t0)


def batches_per_second(data: NextBaseWindows, batch: int, n_batches: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    batches = [rng.integers(0, len(data), size=batch) for _ in range(n_batches)]
    data[batches[0]]
    t0 = time.perf_counter()
    for b in batches:
        data[b]
    return n_batches * batch / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description="genome pipeline throughput")
    parser.add_argument("--mbp", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (set explicitly)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "pipelines_genomes.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bases = int(args.mbp * 1e6)
    seq = make_sequence(bases)

    encode_times = timed(lambda: encode_packed(seq), args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        plain, gz = tmp_path / "g.fa", tmp_path / "g.fa.gz"
        write_fasta(plain, seq)
        with open(plain, "rb") as src, open(gz, "wb") as dst:
            import gzip

            dst.write(gzip.compress(src.read(), compresslevel=6, mtime=0))
        scan_times = timed(lambda: scan_fasta(plain), args.repeats)
        plain_times = timed(lambda: from_scratch(plain, tmp_path / "c1"), args.repeats)
        gzip_times = timed(lambda: from_scratch(gz, tmp_path / "c2"), args.repeats)
        reopen_times = timed(lambda: Genome(plain, cache_dir=tmp_path / "c1").token_store(), args.repeats)

        genome = Genome(plain, cache_dir=tmp_path / "c1")
        store = genome.token_store()
        regions = whole_records(genome.lengths)
        from_store = NextBaseWindows(store, regions, context=CONTEXT, stride=1)
        from_faidx = NextBaseWindows(genome, regions, context=CONTEXT, stride=1)
        n = len(from_store)
        rates = {
            "store_packed": [
                reads_per_second(lambda i: from_store.packed_window(i), args.reads, n, s) for s in range(3)
            ],
            "store_items": [reads_per_second(from_store.__getitem__, args.reads, n, s) for s in range(3)],
            "store_batches": [batches_per_second(from_store, 64, args.reads // 64, s) for s in range(3)],
            "faidx_packed": [
                reads_per_second(lambda i: from_faidx.packed_window(i), args.reads // 4, n, s)
                for s in range(3)
            ],
            "faidx_items": [
                reads_per_second(from_faidx.__getitem__, args.reads // 4, n, s) for s in range(3)
            ],
        }
        size_mb = plain.stat().st_size / 2**20
        gz_mb = gz.stat().st_size / 2**20

    med = {k: statistics.median(v) for k, v in rates.items()}
    encode_s, plain_s, gzip_s = (statistics.median(t) for t in (encode_times, plain_times, gzip_times))
    results = {
        "benchmark": "pipelines_genomes",
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "numpy": np.__version__,
        },
        "bases": bases,
        "fasta_mb": round(size_mb, 2),
        "gzip_mb": round(gz_mb, 2),
        "context": CONTEXT,
        "encode_s": [round(t, 4) for t in encode_times],
        "scan_s": [round(t, 4) for t in scan_times],
        "plain_to_tokens_s": [round(t, 4) for t in plain_times],
        "gzip_to_tokens_s": [round(t, 4) for t in gzip_times],
        "reopen_s": [round(t, 4) for t in reopen_times],
        "reads_per_s": {k: [round(r) for r in v] for k, v in rates.items()},
        "medians": {
            "encode_s": round(encode_s, 4),
            "scan_s": round(statistics.median(scan_times), 4),
            "plain_to_tokens_s": round(plain_s, 4),
            "gzip_to_tokens_s": round(gzip_s, 4),
            "reopen_s": round(statistics.median(reopen_times), 5),
            **{f"{k}_per_s": round(v) for k, v in med.items()},
        },
        "targets": {"tokenise_s": 0.5, "reads_per_s": 100_000},
        "pass": {
            "tokenise_in_memory": encode_s < 0.5,
            "tokenise_plain_file": plain_s < 0.5,
            "reads_store_packed": med["store_packed"] >= 100_000,
        },
    }
    rows = [
        ("FASTA", f"{bases / 1e6:.1f} Mbp, {size_mb:.1f} MiB plain, {gz_mb:.1f} MiB gzip", ""),
        ("tokenise bytes in memory", f"{encode_s * 1e3:.1f} ms", "< 500 ms"),
        ("validation scan (plain)", f"{statistics.median(scan_times) * 1e3:.1f} ms", ""),
        ("plain file -> token cache", f"{plain_s * 1e3:.1f} ms", "< 500 ms"),
        ("gzip file -> token cache", f"{gzip_s * 1e3:.1f} ms", ""),
        ("reopen (all cached)", f"{statistics.median(reopen_times) * 1e3:.2f} ms", ""),
        (f"random windows ({CONTEXT}+1), token cache", f"{med['store_packed']:,.0f} / s", ">= 100,000 / s"),
        ("  as Dataset items (tensors)", f"{med['store_items']:,.0f} / s", ""),
        ("  in batches of 64", f"{med['store_batches']:,.0f} / s", ""),
        ("random windows, pyfaidx", f"{med['faidx_packed']:,.0f} / s", ""),
        ("  as Dataset items (tensors)", f"{med['faidx_items']:,.0f} / s", ""),
        ("threads", f"torch {torch.get_num_threads()}, cpus {os.cpu_count()}", ""),
    ]
    print_table_and_save(rows, results, args.out, "value (median)")


if __name__ == "__main__":
    main()
