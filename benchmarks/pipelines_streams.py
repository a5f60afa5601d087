"""Throughput of the sensor-stream pipeline: CSV -> ready windows, and random window reads.

    .venv/bin/python benchmarks/pipelines_streams.py [--rows 1000000] [--channels 8] [--repeats 5]

Generates a wide CSV (timestamp + channels, 1-minute steps, a few gaps) in a temporary directory,
then times `build_forecast_data` (read with polars' streaming engine, parse timestamps, gap fill,
split, train-only scaler, calendar features, window index) and random `WindowDataset` reads.
Targets (from the issue): 1e6 x 8 CSV -> windows in under 2 s; >= 1e5 random window reads / s.
Prints one table and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from report import print_table_and_save  # benchmarks/ is on sys.path when run as a script

from pipelines.streams import StreamConfig, build_forecast_data  # noqa: E402


def make_csv(path: Path, rows: int, channels: int, seed: int = 0) -> None:
    """A wide CSV with `rows` timestamps (1-minute grid, 0.1% of them missing) and random-walk channels."""
    rng = np.random.default_rng(seed)
    total = int(rows * 1.001) + 1
    keep = np.sort(rng.choice(total, size=rows, replace=False))
    keep[0] = 0
    start = np.datetime64("2020-01-01T00:00:00", "us")
    ts = start + keep.astype("timedelta64[m]")
    data = {"timestamp": pl.Series(ts).dt.to_string("%Y-%m-%d %H:%M:%S")}
    walk = rng.normal(size=(rows, channels)).astype(np.float32).cumsum(axis=0)
    for c in range(channels):
        data[f"ch{c}"] = walk[:, c]
    pl.DataFrame(data).write_csv(path, float_precision=4)


def time_build(path: Path, config: StreamConfig, repeats: int) -> tuple[list[float], object]:
    times, data = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        data = build_forecast_data(path, config)
        times.append(time.perf_counter() - t0)
    return times, data


def time_reads(dataset, n: int, seed: int = 0) -> float:
    idx = np.random.default_rng(seed).integers(0, len(dataset), size=n).tolist()
    dataset[idx[0]]  # warm up
    t0 = time.perf_counter()
    for i in idx:
        dataset[i]
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description="sensor-stream pipeline throughput")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reads", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (set explicitly)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "pipelines_streams.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = StreamConfig(lookback=96, horizon=96, stride=1, fill="linear")
    patched = config.model_copy(update={"patch_len": 16, "patch_stride": 8})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.csv"
        t0 = time.perf_counter()
        make_csv(path, args.rows, args.channels)
        gen_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 2**20
        build_times, data = time_build(path, config, args.repeats)
    train = data.train  # type: ignore[attr-defined]
    reads = [time_reads(train, args.reads, seed) for seed in range(3)]
    patched_train = build_forecast_data(data.series, patched).train  # type: ignore[attr-defined]
    patched_reads = [time_reads(patched_train, args.reads // 4, seed) for seed in range(3)]

    build_median = statistics.median(build_times)
    read_median = statistics.median(reads)
    results = {
        "benchmark": "pipelines_streams",
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "polars": pl.__version__,
            "polars_threads": pl.thread_pool_size(),
        },
        "rows": args.rows,
        "channels": args.channels,
        "csv_mb": round(size_mb, 1),
        "generate_s": round(gen_s, 3),
        "build_s": [round(t, 4) for t in build_times],
        "build_median_s": round(build_median, 4),
        "build_rows_per_s": round(args.rows / build_median),
        "windows": {"train": len(train), "val": len(data.val), "test": len(data.test)},  # type: ignore[attr-defined]
        "reads_per_s": [round(r) for r in reads],
        "reads_median_per_s": round(read_median),
        "patched_reads_median_per_s": round(statistics.median(patched_reads)),
        "targets": {"build_s": 2.0, "reads_per_s": 100_000},
        "pass": {"build": build_median < 2.0, "reads": read_median >= 100_000},
    }
    rows = [
        ("CSV size", f"{size_mb:.1f} MB ({args.rows:,} rows x {args.channels} channels)", ""),
        ("CSV -> windows (median)", f"{build_median:.3f} s", "< 2 s"),
        ("  all runs", ", ".join(f"{t:.3f}" for t in build_times) + " s", ""),
        ("  throughput", f"{args.rows / build_median / 1e6:.2f} M rows/s", ""),
        ("windows train/val/test", f"{len(train):,} / {len(data.val):,} / {len(data.test):,}", ""),  # type: ignore[attr-defined]
        ("random window reads (median)", f"{read_median:,.0f} / s", ">= 100,000 / s"),
        ("  with patches (16/8)", f"{statistics.median(patched_reads):,.0f} / s", ""),
        (
            "threads",
            f"torch {torch.get_num_threads()}, polars {pl.thread_pool_size()}, cpus {os.cpu_count()}",
            "",
        ),
    ]
    print_table_and_save(rows, results, args.out, "value")


if __name__ == "__main__":
    main()
