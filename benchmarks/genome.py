"""Bits per base on a bacterial chromosome: memcast's memory models against the Markov baseline.

    .venv/bin/python benchmarks/genome.py            # pyrodigal-nctc11397 (memcast[datasets]); every preset
    .venv/bin/python benchmarks/genome.py --quick    # the bundled 50 kb slice, a smoke run (~2 min)

The chromosome of C. diphtheriae NCTC11397 (2.46 Mbp) is split by position: train (the first 70%),
val (the next 10%: the Markov order and smoothing are chosen there), test (the last 20%, held out).
Each preset (the Titans and MIRAS presets and the sliding-window-attention baseline `swa`; `--jobs` at
a time, each in its own process) is trained with the genome LightningModule and the shared trainer
for a fixed number of steps, then scored on the held-out part: on windows of its training context
(fresh memory per window), the same with the test-time memory updates off (`NeuralMemory.learns =
False`), and streaming each held-out region in one pass with the memory carried. The cost section
streams the whole chromosome through one model (the first memory preset) in one pass, after the
training jobs have finished: bases/s and the peak RSS (VmHWM, reset before the pass) at 25%, 50%
and 100% of it. Prints one table and writes JSON to benchmarks/results/genome.json (genome_quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import lightning as L  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from app.genomics import (  # noqa: E402
    GenomeLMConfig,
    GenomeModule,
    build_genome_datamodule,
    build_genome_module,
    evaluate_genome,
    markov_row,
    open_genome,
    split_regions,
)
from app.genomics import pieces as _pieces  # noqa: E402
from app.memory import MemoryDiverged  # noqa: E402
from app.models import PRESETS  # noqa: E402
from app.models.ablation import neural_memories  # noqa: E402
from app.models.config import MEMORY_RULES  # noqa: E402
from app.training import fit_to_checkpoint  # noqa: E402
from benchmarks.peak_rss import peak_kb, reset_peak, status_kb  # noqa: E402

SAMPLE = ROOT / "data" / "samples" / "pyrodigal_50kb.fa"


def config_for(args, preset: str, source: str, output: str) -> GenomeLMConfig:
    backbone: dict = {"d_model": args.d_model, "n_layers": args.layers}
    if preset == "titans-mac":
        backbone["segment"] = args.chunk  # MAC writes its memory once per segment
    if preset != "swa":
        backbone["memory"] = {"chunk_size": args.chunk, **MEMORY_RULES[args.rule]}
    return GenomeLMConfig.model_validate(
        {
            "name": preset,
            "seed": args.seed,
            "output_dir": output,
            "data": {
                "source": source,
                "context": args.context,
                "stride": args.context // 2,
                "val_fraction": 0.1,
                "test_fraction": 0.2,
                "batch_size": args.batch,
            },
            "model": {"preset": preset, "backbone": backbone},
            "optim": {"lr": args.lr, "warmup": 0.05},
            "trainer": {
                "max_epochs": 1000,
                "max_steps": args.steps,
                "patience": 0,
                "progress_bar": False,
                "limit_val_batches": args.val_batches,
                "threads": args.threads,
                "accelerator": "cpu",
            },
            "evaluation": {"stream_piece": args.piece, "markov_max_order": args.max_order},
        }
    )


def train_and_score(args, preset: str, source: str, output: str) -> dict:
    """Train one preset and score it; the result names its best checkpoint (under `output`)."""
    torch.set_num_threads(args.threads)  # also in a worker process
    config = config_for(args, preset, source, output)
    L.seed_everything(config.seed, verbose=False)  # the same weights whatever ran before in the process
    datamodule = build_genome_datamodule(config)
    module = build_genome_module(config, datamodule)
    params = sum(p.numel() for p in module.parameters())
    started = time.perf_counter()
    stage = "training"
    try:
        best, _ = fit_to_checkpoint(config.trainer, module, datamodule, output_root=output, name=preset)
        seconds = time.perf_counter() - started
        module = type(module).load_from_checkpoint(str(best), map_location="cpu", weights_only=False).eval()
        stage = "scoring"
        rows = evaluate_genome(module, source, baselines=False).rows
    except MemoryDiverged as error:  # the memory's inner loop produced NaN / Inf: report it, go on
        print(f"  {preset}: diverged in {stage}: {error}", flush=True)
        return {"preset": preset, "params": params, "status": f"diverged in {stage}: {error}"}
    memory = neural_memories(module.net)
    state = ""
    if memory:
        spec = memory[0].spec
        heads = memory[0].heads
        state = f"{len(memory)} x {heads} heads x depth-{spec.depth} MLP {spec.dim_key}x{spec.dim_value}"
    result = {
        "preset": preset,
        "params": params,
        "train_seconds": seconds,
        "steps": args.steps,
        "memory_state": state,
        "rows": rows,
        "status": "ok",
        "checkpoint": str(best),
    }
    print(
        f"  {preset}: {params} params, trained {seconds:.0f} s; "
        + "; ".join(f"{r['model']}: {r['bits_per_base']:.4f}" for r in rows),
        flush=True,
    )
    return result


def stream_cost(module, source: str, piece: int) -> dict:
    """One pass over the whole first record; bases/s and peak RSS at 25 / 50 / 100% of it."""
    net = module.net
    with open_genome(source) as genome:
        record = genome.names[0]
        length = genome.lengths[record]
        marks = {round(length * f): f for f in (0.25, 0.5, 1.0)}
        peaks: dict[str, float] = {}
        seen = 0

        def pieces():
            nonlocal seen
            for ids in _pieces(genome, record, 0, length, piece):
                yield ids
                seen += len(ids)
                for mark, fraction in marks.items():
                    if seen >= mark and f"{fraction:.0%}" not in peaks:
                        peaks[f"{fraction:.0%}"] = peak_kb(reset_ok)[0] / 1024

        reset_ok = reset_peak()
        before = (status_kb("VmRSS") or 0.0) / 1024
        started = time.perf_counter()
        score = net.score_stream(pieces())
        seconds = time.perf_counter() - started
    return {
        "record": record,
        "bases": length,
        "seconds": seconds,
        "bases_per_s": length / seconds,
        "rss_before_mb": before,
        "peak_rss_mb": peaks,
        "bits_per_base": score.bits_per_base,
        "score_array_mb": (score.nats.nbytes + score.scored.nbytes) / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the bundled 50 kb slice, few steps")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--val-batches", type=int, default=20)
    parser.add_argument("--piece", type=int, default=4096)
    parser.add_argument("--max-order", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per preset")
    parser.add_argument(
        "--jobs", type=int, default=2, help="presets trained at a time, each in its own process"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rule",
        choices=list(MEMORY_RULES),
        default="stable",
        help="the memory's update rule (default: the stable rule; plain: the papers')",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source = "pyrodigal-nctc11397"
    if args.quick:
        source, args.steps, args.val_batches = str(SAMPLE), 30, 4
    out = args.out or ROOT / "benchmarks" / "results" / ("genome_quick.json" if args.quick else "genome.json")
    started = time.perf_counter()

    with open_genome(source) as genome:
        probe = config_for(args, "swa", source, "").data
        fractions = {"val_fraction": probe.val_fraction, "test_fraction": probe.test_fraction}
        regions = split_regions(genome, **fractions)
        test = [genome.tokens(r.record, r.start, r.end).ids for r in regions["test"]]
        t0 = time.perf_counter()
        markov = markov_row(genome, regions, test, args.max_order)
        markov["seconds"] = time.perf_counter() - t0
        total = genome.total_bases
    print(
        f"{source}: {total} bases; held out {sum(len(t) for t in test)}; {markov['model']}: "
        f"{markov['bits_per_base']:.4f} ({markov['seconds']:.0f} s)",
        flush=True,
    )

    cost = None
    with tempfile.TemporaryDirectory() as tmp:
        job = partial(train_and_score, args, source=source, output=tmp)
        if args.jobs > 1:  # spawn: a fresh interpreter per worker, no forked torch / Lightning state
            with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
                results = list(pool.map(job, args.presets))
        else:
            results = [job(preset) for preset in args.presets]
        trained = [r for r in results if r["status"] == "ok"]
        streamed = next((r for r in trained if r["preset"] != "swa"), None)  # the first memory model
        if streamed:  # measured alone, after the training jobs have finished
            module = GenomeModule.load_from_checkpoint(
                streamed["checkpoint"], map_location="cpu", weights_only=False
            ).eval()
            cost = stream_cost(module, source, args.piece)
    for result in trained:
        del result["checkpoint"]  # it was in the temporary folder

    heading = (
        f"{source}, held-out last 20%: bits per base (d_model {args.d_model}, {args.layers} layers, "
        f"memory chunk {args.chunk}, {args.steps} steps of {args.batch} x {args.context} bases, "
        f"{args.threads} threads)"
    )
    print("\n" + heading)
    print(f"{'model':<60}{'updates on':>11}{'updates off':>12}{'stream':>9}")
    for result in results:
        if result["status"] != "ok":
            print(f"{result['preset']:<60}{result['status'][:60]}")
            continue
        rows = {r["model"].split("(")[1].rstrip(")"): r["bits_per_base"] for r in result["rows"]}
        on = rows[f"windows of {args.context}"]
        off = rows.get("windows, memory updates off")  # a model without memory has no such row
        stream = rows["stream over held-out"]
        label = f"{result['preset']} ({result['params']:,} params; {result['memory_state'] or 'no memory'})"
        print(f"{label:<60}{on:>11.4f}{'-' if off is None else f'{off:.4f}':>12}{stream:>9.4f}")
    print(f"{markov['model']:<60}{markov['bits_per_base']:>11.4f}")
    if cost:
        peaks = ", ".join(f"{k}: {v:.0f} MB" for k, v in cost["peak_rss_mb"].items())
        print(
            f"\nstreaming {cost['record']} ({cost['bases']:,} bases) through {streamed['preset']} in one "
            f"pass: {cost['bases_per_s']:,.0f} bases/s; peak RSS {peaks} "
            f"(RSS before {cost['rss_before_mb']:.0f} MB; "
            f"the per-base score arrays are {cost['score_array_mb']:.0f} MB of it at 100%)"
        )
    payload = {
        "source": source,
        "args": {k: str(v) for k, v in vars(args).items()},
        "markov": markov,
        "models": results,
        "stream_cost": cost,
        "seconds": time.perf_counter() - started,
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(payload, indent=2, default=lambda x: x.tolist() if isinstance(x, np.ndarray) else str(x))
    )
    print(f"\nwrote {out} ({payload['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
