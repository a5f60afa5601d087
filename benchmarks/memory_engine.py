"""Speed and peak memory of the memory engine, side by side with titans-pytorch's NeuralMemory.

    .venv/bin/python benchmarks/memory_engine.py                 # full run (T = 1k, 4k, 16k, 64k)
    .venv/bin/python benchmarks/memory_engine.py --quick         # smoke run (short T, one repeat)
    .venv/bin/python benchmarks/memory_engine.py --lengths 1024 4096 --threads 4

Setting: batch 1, float32, 4 heads of width 64 (d_k = d_v = 64, model width 256), a depth-2 MLP
memory with titans-pytorch's default expansion (4) and its default x + LayerNorm(f(x)) output,
chunk 64, torch threads pinned. Rows:

- memcast chunked: `run_memory(..., mode="chunked")` on ready q / k / v / gates (no projections),
  once with read="token" (each token reads its own W_t: the paper's rule) and once with read="chunk"
  (every token of a chunk reads the chunk's starting weights, what titans-pytorch's retrieval does);
- memcast reference: the per-token loop (the oracle; short T only);
- memcast NeuralMemory: the module (projections, convolutions, gates, output projection);
- titans-pytorch 0.5.5 NeuralMemory with batch_size = chunk (weights updated every chunk: the same
  semantics as memcast) and with its default (no batch_size: every gradient is taken at the initial
  weights, so the whole sequence is one "chunk" for the gradients: looser and cheaper).

Every (implementation, T, forward | forward+backward) measurement runs in a fresh subprocess, so
peak memory is its own: the peak RSS during the timed calls minus the RSS after imports and input
creation. Forward runs under `torch.no_grad()` (inference); forward+backward backpropagates
y.sum() to the inputs, gates, initial memory and (for modules) every parameter. Times are medians
of up to --repeats calls after one warm-up call, as many as fit in --max-seconds; a combination
whose warm-up plus one call is predicted (from the shorter T of its row) to exceed --max-seconds,
or to need more than --memory-fraction of the available memory, is skipped and says so. Workers
run with OpenMP's default wait policy, or PASSIVE when other processes are busy (see run_case),
and the JSON records the load they saw. A second,
small section shows the chunked path's forward+backward peak memory as the chunk size b and the
memory's size |W| vary, next to what materialising per-token gradients would take (T x |W|): the
chunked path's hand-written backward (app/memory/chunk_function.py) keeps each chunk's start weights
and momentum, O((T/b) x |W|), and recomputes the rest chunk by chunk; read="token" also keeps the
O(T x b) coefficient matrices of its dual-form reads. So memory falls as b grows until those take over.

Prints one markdown table and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from peak_rss import peak_kb, reset_peak, status_kb  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
HEADS = 4
DIM = 64  # d_k = d_v per head
TITANS_VERSION = "0.5.5"
NOT_INSTALLED = "not installed (pip install 'memcast[bench]')"

# name -> (label, family). Families: "memcast" rows are compared against the titans rows.
IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "memcast-chunked": ("memcast chunked (read=token)", "memcast"),
    "memcast-chunked-read-chunk": ("memcast chunked (read=chunk)", "memcast"),
    # The papers' plain update rule, against which the default stable rule's cost is measured.
    "memcast-chunked-plain": ("memcast chunked (read=token), plain rule", "memcast"),
    "memcast-chunked-read-chunk-plain": ("memcast chunked (read=chunk), plain rule", "memcast"),
    "memcast-reference": ("memcast reference", "memcast"),
    "memcast-module": ("memcast NeuralMemory module", "memcast"),
    "titans-batch": ("titans-pytorch batch_size=chunk", "titans"),
    "titans-default": ("titans-pytorch default", "titans"),
}
MODES = ("fwd", "fwd+bwd")


@dataclass(frozen=True)
class Case:
    """One measurement, passed to the worker subprocess as JSON."""

    impl: str
    length: int
    mode: str
    chunk: int = 64
    expansion: int = 4
    norm: bool = True
    threads: int = 2
    repeats: int = 3
    budget_s: float = 120.0
    seed: int = 0
    omp_wait_policy: str = "auto"


@dataclass
class Result:
    case: Case
    status: str  # "ok", "skipped (time)", "timed out", "not installed ...", "error: ..."
    times_s: list[float] = field(default_factory=list)
    warmup_s: float | None = None
    baseline_mb: float | None = None
    peak_mb: float | None = None  # peak RSS minus baseline
    peak_method: str | None = None
    # Process CPU seconds per wall second over the timed calls: how many of the threads were busy
    # (OpenMP's default spin-wait counts as busy; under PASSIVE it shows how much ran in parallel).
    cpu_per_wall: float | None = None
    omp_wait_policy: str | None = None  # what the worker ran with ("default": OpenMP's own)
    # Cores used by other processes on the machine, before the worker started and during its run.
    others_before: float | None = None
    others_during: float | None = None

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.times_s) if self.times_s else None

    @property
    def tokens_per_s(self) -> float | None:
        median = self.median_s
        return None if median is None else self.case.length / median

    def to_json(self) -> dict[str, Any]:
        out = {**asdict(self.case), "status": self.status}
        if self.status == "ok":
            out.update(
                times_s=[round(t, 4) for t in self.times_s],
                warmup_s=round(self.warmup_s or 0.0, 4),
                median_s=round(self.median_s or 0.0, 4),
                tokens_per_s=round(self.tokens_per_s or 0.0, 1),
                baseline_rss_mb=round(self.baseline_mb or 0.0, 1),
                peak_rss_delta_mb=round(self.peak_mb or 0.0, 1),
                peak_method=self.peak_method,
                cpu_per_wall=round(self.cpu_per_wall or 0.0, 2),
                omp_wait_policy_used=self.omp_wait_policy,
                other_cores_before=round(self.others_before or 0.0, 2),
                other_cores_during=round(self.others_during or 0.0, 2),
            )
        return out


# ---------------------------------------------------------------------------------------------
# Worker side: build one implementation, time it, measure its peak memory.
# ---------------------------------------------------------------------------------------------


def _memcast_spec(case: Case, read: str = "token", plain: bool = False):
    from app.memory import MemorySpec

    spec = MemorySpec.preset(
        "titans",
        dim_key=DIM,
        dim_value=DIM,
        depth=2,
        expansion=case.expansion,
        chunk_size=case.chunk,
        norm=case.norm,
        read=read,
    )
    return spec.plain() if plain else spec


def _build_engine(case: Case, mode: str, read: str, plain: bool = False) -> Callable[[bool], Any]:
    """The engine on ready inputs: gates drawn in the ranges NeuralMemory produces."""
    import torch

    from app.memory import MemoryState, run_memory

    spec = _memcast_spec(case, read, plain)
    gen = torch.Generator().manual_seed(case.seed)
    shape = (1, HEADS, case.length)
    q = torch.nn.functional.normalize(torch.randn(*shape, DIM, generator=gen), dim=-1)
    k = torch.nn.functional.normalize(torch.randn(*shape, DIM, generator=gen), dim=-1)
    v = torch.randn(*shape, DIM, generator=gen)
    gates = {
        "theta": torch.rand(*shape, generator=gen) / case.chunk,  # (0, theta_max = 1 / chunk]
        "eta": 0.5 + 0.45 * torch.rand(*shape, generator=gen),
        "alpha": 0.01 * torch.rand(*shape, generator=gen),
    }
    weights = [torch.randn(HEADS, o, i, generator=gen) / i**0.5 for o, i in spec.weight_shapes()]
    leaves = [q, k, v, *gates.values(), *weights]
    for t in leaves:
        t.requires_grad_(True)

    def step(backward: bool) -> Any:
        for t in leaves:
            t.grad = None
        state = MemoryState.initial(spec, weights, 1)
        y, _ = run_memory(spec, q, k, v, gates, state, mode=mode)
        if backward:
            y.sum().backward()
        return y

    return step


def _build_memcast_module(case: Case) -> Callable[[bool], Any]:
    import torch

    from app.memory import NeuralMemory

    torch.manual_seed(case.seed)
    model = NeuralMemory(HEADS * DIM, _memcast_spec(case), heads=HEADS)
    x = torch.randn(1, case.length, HEADS * DIM, requires_grad=True)

    def step(backward: bool) -> Any:
        model.zero_grad(set_to_none=True)
        x.grad = None
        y, _ = model(x)
        if backward:
            y.sum().backward()
        return y

    return step


def _build_titans(case: Case, batched: bool) -> Callable[[bool], Any]:
    import torch
    from titans_pytorch import NeuralMemory

    torch.manual_seed(case.seed)
    model = NeuralMemory(
        dim=HEADS * DIM,
        chunk_size=case.chunk,
        # batch_size = chunk: weights move at every chunk boundary, as in memcast. None (its
        # default): every gradient is taken at the initial weights.
        batch_size=case.chunk if batched else None,
        dim_head=DIM,
        heads=HEADS,
        mem_model_norm_add_residual=case.norm,
        default_model_kwargs=dict(depth=2, expansion_factor=float(case.expansion)),
    )
    x = torch.randn(1, case.length, HEADS * DIM, requires_grad=True)

    def step(backward: bool) -> Any:
        model.zero_grad(set_to_none=True)
        x.grad = None
        y, _ = model(x)  # (retrieved (B, T, dim), NeuralMemState)
        if backward:
            y.sum().backward()
        return y

    return step


def build(case: Case) -> Callable[[bool], Any]:
    if case.impl == "memcast-chunked":
        return _build_engine(case, "chunked", "token")
    if case.impl == "memcast-chunked-read-chunk":
        return _build_engine(case, "chunked", "chunk")
    if case.impl == "memcast-chunked-plain":
        return _build_engine(case, "chunked", "token", plain=True)
    if case.impl == "memcast-chunked-read-chunk-plain":
        return _build_engine(case, "chunked", "chunk", plain=True)
    if case.impl == "memcast-reference":
        return _build_engine(case, "reference", "token")
    if case.impl == "memcast-module":
        return _build_memcast_module(case)
    if case.impl == "titans-batch":
        return _build_titans(case, batched=True)
    if case.impl == "titans-default":
        return _build_titans(case, batched=False)
    raise ValueError(f"unknown implementation {case.impl!r}")


def worker(case: Case) -> dict[str, Any]:
    import torch

    torch.set_num_threads(case.threads)
    try:
        step = build(case)
    except ImportError as exc:
        return {"status": f"not available ({exc})"}
    backward = case.mode == "fwd+bwd"

    def call() -> float:
        start = time.perf_counter()
        if backward:
            step(True)
        else:
            with torch.no_grad():
                step(False)
        return time.perf_counter() - start

    gc.collect()
    baseline_kb = status_kb("VmRSS") or 0.0
    reset_ok = reset_peak()
    # The first call pays one-off costs (first touch of fresh pages, vmap / einops tracing).
    warmup = call()
    # Fit the repeats into the budget; the warm-up is an upper bound on a steady call.
    repeats = max(1, min(case.repeats, int(case.budget_s // max(warmup, 1e-9))))
    cpu_start = time.process_time()
    times = [call() for _ in range(repeats)]
    cpu_per_wall = (time.process_time() - cpu_start) / sum(times)
    peak, method = peak_kb(reset_ok)
    return {
        "status": "ok",
        "times_s": times,
        "warmup_s": warmup,
        "baseline_mb": baseline_kb / 1024,
        "peak_mb": max(0.0, peak - baseline_kb) / 1024,
        "peak_method": method,
        "cpu_per_wall": cpu_per_wall,
    }


# ---------------------------------------------------------------------------------------------
# Driver side: plan, skip what would take too long, run workers, report.
# ---------------------------------------------------------------------------------------------


def _cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, summed over cores (/proc/stat)."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])
    return (total - idle) / ticks, total / ticks


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def other_cores(seconds: float = 0.5) -> float | None:
    """Cores kept busy by other processes, sampled while this (sleeping) driver does nothing."""
    start = _cpu_seconds()
    time.sleep(seconds)
    end = _cpu_seconds()
    if start is None or end is None:
        return None
    return (end[0] - start[0]) / seconds


# Above this many cores busy elsewhere, a worker runs with OMP_WAIT_POLICY=PASSIVE (see run_case).
BUSY_CORES = 0.25


def run_case(case: Case, timeout_s: float) -> Result:
    env = {**os.environ, "OMP_NUM_THREADS": str(case.threads), "MKL_NUM_THREADS": str(case.threads)}
    others_before = other_cores()
    policy = case.omp_wait_policy
    if policy == "auto":
        # OpenMP's default spin-wait is what users get and is fastest on an idle machine (about 20%
        # for the chunked path's many small ops). With another process on one of 2 cores it is
        # pathological: every parallel region waits for a descheduled thread, measured 3.6x slower
        # for the chunked path (up to 40x under heavier load) and 1.6x for titans-pytorch; PASSIVE
        # waiters sleep instead, and the chunked path then runs as fast as on an idle machine.
        busy = others_before is not None and others_before > BUSY_CORES
        policy = "PASSIVE" if busy else "default"
    if policy not in ("default", "inherit"):
        env["OMP_WAIT_POLICY"] = policy
    elif policy == "default":
        env.pop("OMP_WAIT_POLICY", None)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(asdict(case))]
    machine_start, child_start, wall_start = _cpu_seconds(), _children_cpu(), time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return Result(case, "timed out")
    machine_end, wall = _cpu_seconds(), time.perf_counter() - wall_start
    others_during = None
    if machine_start is not None and machine_end is not None and wall > 0:
        worker_cpu = _children_cpu() - child_start
        others_during = max(0.0, (machine_end[0] - machine_start[0] - worker_cpu) / wall)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Result(case, f"error: {tail[:200]}")
    out = json.loads(lines[-1])
    if out["status"] != "ok":
        return Result(case, out["status"])
    return Result(
        case,
        "ok",
        times_s=out["times_s"],
        warmup_s=out["warmup_s"],
        baseline_mb=out["baseline_mb"],
        peak_mb=out["peak_mb"],
        peak_method=out["peak_method"],
        cpu_per_wall=out["cpu_per_wall"],
        omp_wait_policy=policy,
        others_before=others_before,
        others_during=others_during,
    )


# Known growth in T of one call, where it is worse than linear and two points are too few to see it:
# the reference's forward with gradients is quadratic, because `autograd.grad` for each token walks
# the whole graph of the history behind the chunk's starting weights.
KNOWN_GROWTH = {("memcast-reference", "fwd+bwd"): 2.0}


def _extrapolate(points: list[tuple[int, float]], length: int, floor: float) -> float | None:
    """Value at `length` from (length, value) points, growing as length^e with e from the last two
    points, clamped to [floor, 2]: anything growing faster than linearly is caught before it runs away."""
    if not points:
        return None
    last_n, last_v = points[-1]
    exponent = floor
    if len(points) >= 2:
        prev_n, prev_v = points[-2]
        if last_n > prev_n and last_v > 0 and prev_v > 0:
            exponent = math.log(last_v / prev_v) / math.log(last_n / prev_n)
    return last_v * (length / last_n) ** min(2.0, max(floor, exponent))


def predicted_seconds(history: list[Result], length: int) -> float | None:
    """Predicted time of one call at `length` from the measurements so far."""
    done = [r for r in history if r.status == "ok"]
    floor = KNOWN_GROWTH.get((done[-1].case.impl, done[-1].case.mode), 1.0) if done else 1.0
    return _extrapolate([(r.case.length, r.median_s or 0.0) for r in done], length, floor)


def predicted_peak_mb(history: list[Result], length: int) -> float | None:
    """Predicted peak RSS (baseline + delta) at `length`: memory is at least linear in T here."""
    done = [r for r in history if r.status == "ok"]
    points = [(r.case.length, r.peak_mb or 0.0) for r in done]
    delta = _extrapolate(points, length, 1.0)
    return None if delta is None else delta + (done[-1].baseline_mb or 0.0)


def available_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def installed(impl: str) -> bool:
    if impl.startswith("titans"):
        return importlib.util.find_spec("titans_pytorch") is not None
    return True


def contended(result: Result) -> bool:
    """Whether other processes kept more than half a core busy while this measurement ran."""
    return (result.others_during or 0.0) > 0.5


def _fmt_rate(result: Result | None) -> str:
    if result is None:
        return "-"
    if result.status != "ok":
        return result.status
    return f"{result.tokens_per_s:,.0f}" + ("*" if contended(result) else "")


def _fmt_mb(result: Result | None) -> str:
    if result is None or result.status != "ok":
        return "-"
    return f"{result.peak_mb:,.0f}"


def _ratio(a: float | None, b: float | None, digits: int = 2, suffix: str = "x") -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.{digits}f}{suffix}"


def main_table(results: dict[tuple[str, int, str], Result], impls: list[str], lengths: list[int]) -> str:
    def get(impl: str, length: int, mode: str) -> Result | None:
        return results.get((impl, length, mode))

    def rate(impl: str, length: int, mode: str) -> float | None:
        r = get(impl, length, mode)
        return r.tokens_per_s if r is not None and r.status == "ok" else None

    def peak(impl: str, length: int, mode: str) -> float | None:
        r = get(impl, length, mode)
        return r.peak_mb if r is not None and r.status == "ok" else None

    header = (
        "| implementation | T | fwd tok/s | fwd peak MB | fwd+bwd tok/s | fwd+bwd peak MB "
        "| fwd+bwd speed vs titans b=chunk | fwd+bwd memory vs titans b=chunk "
        "| fwd+bwd speed vs titans default |"
    )
    lines = [header, "|" + "---|" * 9]
    for impl in impls:
        label, family = IMPLEMENTATIONS[impl]
        for length in lengths:
            fwd, both = get(impl, length, "fwd"), get(impl, length, "fwd+bwd")
            if fwd is None and both is None:
                continue
            speed_b = mem_b = speed_d = "-"
            if family == "memcast":
                mine = rate(impl, length, "fwd+bwd")
                speed_b = _ratio(mine, rate("titans-batch", length, "fwd+bwd"))
                speed_d = _ratio(mine, rate("titans-default", length, "fwd+bwd"))
                mem_b = _ratio(peak(impl, length, "fwd+bwd"), peak("titans-batch", length, "fwd+bwd"))
            lines.append(
                f"| {label} | {length:,} | {_fmt_rate(fwd)} | {_fmt_mb(fwd)} | {_fmt_rate(both)} "
                f"| {_fmt_mb(both)} | {speed_b} | {mem_b} | {speed_d} |"
            )
    return "\n".join(lines)


def targets(results: dict[tuple[str, int, str], Result], lengths: list[int]) -> dict[str, Any]:
    """The issue's targets, per memcast row and T (fwd+bwd): >= 3x titans b=chunk's tokens/s at
    <= 1/4 of its peak memory, faster than titans' default, and time linear in T."""

    def ok(key: tuple[str, int, str]) -> Result | None:
        r = results.get(key)
        return r if r is not None and r.status == "ok" else None

    out: dict[str, Any] = {}
    for impl in ("memcast-chunked", "memcast-chunked-read-chunk", "memcast-module"):
        per_length = {}
        for length in lengths:
            mine, batch = ok((impl, length, "fwd+bwd")), ok(("titans-batch", length, "fwd+bwd"))
            default = ok(("titans-default", length, "fwd+bwd"))
            if mine is None:
                continue
            entry: dict[str, Any] = {}
            if batch is not None:
                entry["speed_vs_batch"] = round(mine.tokens_per_s / batch.tokens_per_s, 2)
                entry["memory_vs_batch"] = round(mine.peak_mb / max(batch.peak_mb, 1e-9), 3)
                entry["pass_speed_3x"] = entry["speed_vs_batch"] >= 3.0
                entry["pass_memory_quarter"] = entry["memory_vs_batch"] <= 0.25
            if default is not None:
                entry["speed_vs_default"] = round(mine.tokens_per_s / default.tokens_per_s, 2)
                entry["pass_faster_than_default"] = entry["speed_vs_default"] > 1.0
            per_length[str(length)] = entry
        measured = [(n, ok((impl, n, "fwd+bwd"))) for n in lengths]
        measured = [(n, r) for n, r in measured if r is not None]
        if len(measured) >= 2:
            (n0, r0), (n1, r1) = measured[0], measured[-1]
            # Seconds per token at the longest T over that at the shortest: 1.0 is perfectly linear.
            per_length["time_per_token_growth"] = {
                "from": n0,
                "to": n1,
                "ratio": round((r1.median_s / n1) / (r0.median_s / n0), 2),
            }
        out[impl] = per_length
    return out


# Each default-rule row and its plain-rule twin: the cost of the stable update rule.
RULE_PAIRS = {
    "memcast-chunked": "memcast-chunked-plain",
    "memcast-chunked-read-chunk": "memcast-chunked-read-chunk-plain",
}


def rule_cost(results: dict[tuple[str, int, str], Result], lengths: list[int]) -> dict[str, Any]:
    """Time of the stable rule over the plain rule's, per row, T and mode (1.10 = 10% slower)."""
    out: dict[str, Any] = {}
    for stable, plain in RULE_PAIRS.items():
        for length in lengths:
            for mode in MODES:
                a, b = results.get((stable, length, mode)), results.get((plain, length, mode))
                if a is None or b is None or a.status != "ok" or b.status != "ok":
                    continue
                out.setdefault(stable, {})[f"{length}/{mode}"] = round(a.median_s / b.median_s, 3)
    return out


def rule_cost_summary(costs: dict[str, Any]) -> list[str]:
    return [
        f"- {IMPLEMENTATIONS[impl][0]}: "
        + "; ".join(f"T={key.split('/')[0]} {key.split('/')[1]} {ratio:.2f}x" for key, ratio in per.items())
        for impl, per in costs.items()
    ]


def targets_summary(goals: dict[str, Any]) -> list[str]:
    """One line per memcast row: how many lengths meet each target, and the growth of time per token."""
    checks = (
        ("pass_speed_3x", ">= 3x titans b=chunk tok/s"),
        ("pass_memory_quarter", "<= 1/4 its peak memory"),
        ("pass_faster_than_default", "faster than titans default"),
    )
    lines = []
    for impl, per_length in goals.items():
        entries = {n: e for n, e in per_length.items() if n.isdigit()}
        if not entries:
            continue
        parts = []
        for key, text in checks:
            judged = [n for n, e in entries.items() if key in e]
            met = [n for n in judged if entries[n][key]]
            parts.append(f"{text}: {len(met)}/{len(judged)}")
        growth = per_length.get("time_per_token_growth")
        if growth:
            parts.append(
                f"time per token at T={growth['to']:,} / T={growth['from']:,}: {growth['ratio']:.2f}"
            )
        lines.append(f"- {IMPLEMENTATIONS[impl][0]}: " + "; ".join(parts))
    return lines


def chunk_memory_cases(args: argparse.Namespace) -> list[Case]:
    base = Case(
        impl="memcast-chunked",
        length=args.chunk_length,
        mode="fwd+bwd",
        expansion=args.expansion,
        norm=args.norm,
        threads=args.threads,
        repeats=1,
        budget_s=args.max_seconds,
    )
    cases = [replace(base, chunk=c) for c in (16, 64, 256)]
    cases += [replace(base, chunk=64, expansion=e) for e in (1, 8) if e != args.expansion]
    return cases


def chunk_memory_table(rows: list[tuple[Case, Result]]) -> tuple[str, list[dict[str, Any]]]:
    lines = [
        "| chunk b | expansion | hidden | memory params per head (|W|) | fwd+bwd peak MB "
        "| per-token grads, one chunk (b x |W| x H) MB | per-token grads, whole T (T x |W| x H) MB "
        "| one weight set per chunk ((T/b) x |W| x H) MB |",
        "|" + "---|" * 8,
    ]
    out = []
    for case, result in rows:
        hidden = case.expansion * DIM
        params = 2 * hidden * DIM  # W1 (hidden, d_k) + W2 (d_v, hidden)
        one_chunk = case.chunk * params * HEADS * 4 / 2**20
        whole = case.length * params * HEADS * 4 / 2**20
        # The chunk-boundary states autograd keeps: O((T / b) x |W|), the term that grows as b shrinks.
        per_chunk = case.length // case.chunk * params * HEADS * 4 / 2**20
        lines.append(
            f"| {case.chunk} | {case.expansion} | {hidden} | {params:,} | {_fmt_mb(result)} "
            f"| {one_chunk:,.0f} | {whole:,.0f} | {per_chunk:,.0f} |"
        )
        out.append(
            {
                **result.to_json(),
                "hidden": hidden,
                "params_per_head": params,
                "per_token_grads_one_chunk_mb": round(one_chunk, 1),
                "per_token_grads_whole_mb": round(whole, 1),
                "weight_set_per_chunk_mb": round(per_chunk, 1),
            }
        )
    return "\n".join(lines), out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="memory engine speed and peak memory vs titans-pytorch")
    parser.add_argument("--lengths", type=int, nargs="+", help="sequence lengths (default 1k 4k 16k 64k)")
    parser.add_argument("--quick", action="store_true", help="smoke run: short T, one repeat")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (set explicitly)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up (median)")
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument(
        "--expansion", type=int, default=4, help="MLP hidden = expansion x 64 (titans-pytorch default: 4)"
    )
    parser.add_argument(
        "--no-norm",
        dest="norm",
        action="store_false",
        help="plain MLP memory on both sides (default: x + LayerNorm(f(x)), titans-pytorch's default)",
    )
    parser.add_argument("--impls", nargs="+", choices=list(IMPLEMENTATIONS), default=list(IMPLEMENTATIONS))
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="skip a measurement predicted to take longer (warm-up + repeats)",
    )
    parser.add_argument("--timeout", type=float, default=400.0, help="hard limit per worker subprocess")
    parser.add_argument(
        "--reference-lengths",
        type=int,
        nargs="+",
        help="T for the per-token reference loop (default 256 1024; --quick: 256)",
    )
    parser.add_argument(
        "--memory-fraction",
        type=float,
        default=0.6,
        help="skip a measurement predicted to need more than this fraction of the available memory",
    )
    parser.add_argument(
        "--omp-wait-policy",
        default="auto",
        help="OMP_WAIT_POLICY for the workers: auto (default: PASSIVE when other processes are busy, "
        "else OpenMP's default; see run_case), default, PASSIVE, ACTIVE, or inherit (leave the env)",
    )
    parser.add_argument("--chunk-length", type=int, help="T of the chunk-size memory section (default 4096)")
    parser.add_argument("--no-chunk-section", dest="chunk_section", action="store_false")
    parser.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/memory_engine.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.lengths is None:
        args.lengths = [256, 1024] if args.quick else [1024, 4096, 16384, 65536]
    if args.quick:
        args.repeats = 1
    if args.reference_lengths is None:
        args.reference_lengths = [256] if args.quick else [256, 1024]
    args.reference_lengths = sorted(set(args.reference_lengths))
    if args.chunk_length is None:
        args.chunk_length = 1024 if args.quick else 4096
    args.lengths = sorted(set(args.lengths))
    if args.out is None:
        # A smoke run must not overwrite the full run's results.
        name = "memory_engine_quick.json" if args.quick else "memory_engine.json"
        args.out = ROOT / "benchmarks" / "results" / name
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(worker(Case(**json.loads(args.worker)))))
        return

    started = time.perf_counter()
    load_start = os.getloadavg()
    results: dict[tuple[str, int, str], Result] = {}
    for impl in args.impls:
        lengths = args.reference_lengths if impl == "memcast-reference" else args.lengths
        for mode in MODES:
            history: list[Result] = []
            for length in lengths:
                case = Case(
                    impl=impl,
                    length=length,
                    mode=mode,
                    chunk=args.chunk,
                    expansion=args.expansion,
                    norm=args.norm,
                    threads=args.threads,
                    repeats=args.repeats,
                    budget_s=args.max_seconds,
                    omp_wait_policy=args.omp_wait_policy,
                )
                seconds = predicted_seconds(history, length)
                peak = predicted_peak_mb(history, length)
                free = available_mb()
                if not installed(impl):
                    result = Result(case, NOT_INSTALLED)
                # The worker fits its repeats into --max-seconds, so what must fit is warm-up + one call.
                elif seconds is not None and 2 * seconds > args.max_seconds:
                    result = Result(case, "skipped (time)")
                elif peak is not None and free is not None and peak > args.memory_fraction * free:
                    result = Result(case, f"skipped (memory, ~{peak / 1024:.0f} GB)")
                else:
                    result = run_case(case, args.timeout)
                history.append(result)
                results[(impl, length, mode)] = result
                detail = ""
                if result.status == "ok":
                    detail = f"{result.tokens_per_s:,.0f} tok/s, {result.peak_mb:,.0f} MB"
                    detail += f", cpu/wall {result.cpu_per_wall:.2f}"
                print(f"  {impl:28s} T={length:>6} {mode:8s} {result.status} {detail}", file=sys.stderr)

    chunk_rows: list[tuple[Case, Result]] = []
    if args.chunk_section and "memcast-chunked" in args.impls:
        for case in chunk_memory_cases(args):
            result = run_case(case, args.timeout)
            chunk_rows.append((case, result))
            print(f"  chunk section b={case.chunk} e={case.expansion} {result.status}", file=sys.stderr)
    elapsed = time.perf_counter() - started

    import torch  # only for the version string; the workers did the measuring

    titans_version = None
    if importlib.util.find_spec("titans_pytorch") is not None:
        from importlib.metadata import version

        titans_version = version("titans-pytorch")
        if titans_version != TITANS_VERSION:
            print(f"note: titans-pytorch {titans_version} installed; rows written for {TITANS_VERSION}")
    all_lengths = sorted(set(args.lengths) | set(args.reference_lengths))
    table = main_table(results, args.impls, all_lengths)
    chunk_table, chunk_json = chunk_memory_table(chunk_rows)
    goals = targets(results, args.lengths)
    costs = rule_cost(results, args.lengths)
    load_end = os.getloadavg()
    measured = [r for r in results.values() if r.status == "ok"]
    busy = [r for r in measured if contended(r)]
    passive = [r for r in measured if r.omp_wait_policy == "PASSIVE"]
    report = {
        "benchmark": "memory_engine",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": args.threads,
            "omp_wait_policy": args.omp_wait_policy,
            "titans_pytorch": titans_version,
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in load_end],
        },
        "settings": {
            "batch": 1,
            "heads": HEADS,
            "dim_key": DIM,
            "dim_value": DIM,
            "model_width": HEADS * DIM,
            "depth": 2,
            "expansion": args.expansion,
            "norm_residual": args.norm,
            "chunk": args.chunk,
            "dtype": "float32",
            "lengths": args.lengths,
            "reference_lengths": args.reference_lengths,
            "repeats": args.repeats,
            "max_seconds": args.max_seconds,
            "forward": "torch.no_grad()",
            "backward": "y.sum().backward()",
            "peak_memory": "peak RSS during warm-up + timed calls minus RSS after imports and inputs",
        },
        "elapsed_s": round(elapsed, 1),
        "results": [r.to_json() for r in results.values()],
        "targets": goals,
        "stable_rule_time_over_plain": costs,
        "chunk_memory": {"length": args.chunk_length, "rows": chunk_json},
    }
    print(
        f"\nmemory engine: batch 1, float32, {HEADS} heads x {DIM}, depth-2 MLP memory (expansion "
        f"{args.expansion}, {'x + LN(f(x))' if args.norm else 'plain'}), chunk {args.chunk}, "
        f"{args.threads} torch threads; medians of up to {args.repeats} calls after a warm-up\n"
    )
    print(table)
    print(
        f"\n* other processes kept more than half a core busy during the measurement: {len(busy)} of "
        f"{len(measured)} (load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end, "
        f"{os.cpu_count()} cpus). OMP_WAIT_POLICY ({args.omp_wait_policy}): PASSIVE for {len(passive)}, "
        f"OpenMP's default for {len(measured) - len(passive)}"
        + (
            " (PASSIVE where other processes were busy when it started)."
            if args.omp_wait_policy == "auto"
            else "."
        )
    )
    if chunk_rows:
        print(
            f"\nchunked path, fwd+bwd peak memory at T = {args.chunk_length:,} ({HEADS} heads x {DIM}): "
            "next to what materialising per-token gradients would take\n"
        )
        print(chunk_table)
    print("\ntargets, fwd+bwd (T where met / T measured against both titans rows):")
    for line in targets_summary(goals):
        print(line)
    if costs:
        print("\nthe stable update rule's time over the plain rule's (median seconds; target <= 1.10):")
        for line in rule_cost_summary(costs):
            print(line)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out} ({elapsed:.0f} s)")


if __name__ == "__main__":
    main()
