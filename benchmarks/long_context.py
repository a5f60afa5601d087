"""Long-context recall: train each preset on short sequences, evaluate on sequences up to 64x longer.

    .venv/bin/python benchmarks/long_context.py                     # every preset (about an hour, see README)
    .venv/bin/python benchmarks/long_context.py --quick             # smoke run, a few minutes
    .venv/bin/python benchmarks/long_context.py --presets titans-lmm swa --steps 400 --multipliers 1 4

The task (benchmarks/recall_task.py): `pairs` key -> value pairs planted early in a stream of
distractor tokens, then `queries` of them asked at the end (marker, key; the model must output the
value). Each preset is a model token embedding -> Backbone -> linear head, trained with AdamW at
`--train-length` tokens (the pair block at a random place, so the gap to the queries varies), then
evaluated with the pairs at the start of streams of 1x, 4x, 16x and 64x that length: the stream goes
through the backbone `--piece` tokens at a time with the carried state (`y, state = net(x, state)`),
so the longest stream needs no more memory than the shortest. Accuracy is the fraction of queries
answered right (argmax over the whole vocabulary; chance is 1 / n_values).

Every preset trains and evaluates in a fresh subprocess (`--jobs` of them at a time). Peak memory is
measured separately, because after training the allocator holds freed memory that an evaluation
reuses without growing the RSS: one stream of 4k, 16k and 64k tokens of the task (batch 1) goes
through each preset, untrained, in a fresh subprocess per (preset, length), and the table reports
the peak RSS growth during the stream and its tokens/s. Next to the presets, full causal attention
(the swa backbone with a window as long as the stream), whose key / value cache grows with the
stream: the check that the measurement sees growth where there is some.

Prints one table and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `app` and `benchmarks` importable
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from app.memory import MemoryDiverged, NeuralMemory  # noqa: E402
from app.models import Backbone, BackboneConfig  # noqa: E402
from app.models.config import MEMORY_RULES  # noqa: E402
from benchmarks.peak_rss import PeakRSS  # noqa: E402
from benchmarks.recall_task import IGNORE, RecallTask  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

# Benchmark name -> (backbone preset, overrides of the preset's config). MAC writes its block input
# (mac_write="input"): with the paper's attention-output write it stays at chance on recall (see
# MACBlock and the README); `titans-mac-attn` runs the paper's write for comparison.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "titans-lmm": ("titans-lmm", {}),
    "titans-mac": ("titans-mac", {"mac_write": "input"}),
    "titans-mag": ("titans-mag", {}),
    "titans-mal": ("titans-mal", {}),
    "moneta": ("moneta", {}),
    "yaad": ("yaad", {}),
    "memora": ("memora", {}),
    "swa": ("swa", {}),
    "titans-mac-attn": ("titans-mac", {"mac_write": "attention"}),
}
DEFAULT_PRESETS = [name for name in PRESETS if name != "titans-mac-attn"]


@dataclass(frozen=True)
class Setting:
    """Everything a worker needs; passed to it as JSON."""

    preset: str
    d_model: int = 32
    n_layers: int = 2
    window: int = 32
    segment: int = 32
    chunk: int = 16
    memory_norm: bool | None = None  # None: the preset's memory output form; else memory.norm
    rule: str = "stable"  # the memory's update rule, a name of MEMORY_RULES
    write_gate: str = "sigmoid"  # memory.write_gate: the inner learning rate's gate, sigmoid or hard
    alpha_bias: float | None = None  # initial bias of the forget gate (None: NeuralMemory's default)
    theta_bias: float | None = None  # initial bias of the inner learning rate (None: the default)
    write_penalty: float = 0.0  # weight of the mean theta / theta_max in the training loss
    n_keys: int = 16
    n_values: int = 16
    n_distractors: int = 16
    pairs: int = 8
    queries: int = 8
    train_length: int = 128
    steps: int = 800
    batch: int = 32
    # An optional second training phase on longer sequences (0 steps: none). Short sequences teach
    # the task quickly but hold too few distractors to teach the memory not to write them; the
    # evaluation lengths are multiples of the longest training length.
    long_length: int = 512
    long_steps: int = 0
    long_batch: int = 8
    lr: float = 3e-3
    multipliers: tuple[int, ...] = (1, 4, 16, 64)
    eval_sequences: int = 64
    piece: int = 512
    seed: int = 0
    threads: int = 1

    @property
    def phases(self) -> list[tuple[int, int, int]]:
        """(length, steps, batch) of each training phase, in order."""
        first = [(self.train_length, self.steps, self.batch)]
        return first + ([(self.long_length, self.long_steps, self.long_batch)] if self.long_steps else [])

    @property
    def longest_trained(self) -> int:
        """The longest training sequence: the unit of the evaluation lengths."""
        return max(length for length, _, _ in self.phases)

    def task(self) -> RecallTask:
        return RecallTask(self.n_keys, self.n_values, self.n_distractors, self.pairs, self.queries)

    def config(self) -> BackboneConfig:
        return backbone_config(
            self.preset,
            self.d_model,
            self.n_layers,
            self.window,
            self.segment,
            self.chunk,
            self.memory_norm,
            self.rule,
            self.write_gate,
        )


def backbone_config(
    name: str,
    d_model: int,
    n_layers: int,
    window: int,
    segment: int,
    chunk: int,
    memory_norm: bool | None = None,
    rule: str = "stable",
    write_gate: str = "sigmoid",
) -> BackboneConfig:
    """The benchmark's config of a preset: its overrides, the sizes, and the attention window.

    memory_norm: None keeps the preset's memory output form; True / False sets `memory.norm`.
    rule: the memory's update rule, a name of `MEMORY_RULES`. write_gate: `memory.write_gate`.
    """
    preset, overrides = PRESETS[name]
    fields: dict[str, Any] = dict(d_model=d_model, n_layers=n_layers, window=window, **overrides)
    memory: dict[str, Any] = {
        **MEMORY_RULES[rule],
        "write_gate": write_gate,
        **({} if memory_norm is None else {"norm": memory_norm}),
    }
    if preset == "titans-mac":
        fields["segment"] = segment  # MAC's memory chunk is its segment
    elif preset != "swa":
        memory["chunk_size"] = chunk
    if memory and preset != "swa":
        fields["memory"] = memory
    return BackboneConfig.preset(preset, **fields)


class RecallModel(nn.Module):
    """tokens (B, T) -> logits (B, T, vocab): embedding, Backbone, linear head; streams like Backbone."""

    def __init__(
        self,
        config: BackboneConfig,
        vocab: int,
        alpha_bias: float | None = None,
        theta_bias: float | None = None,
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab, config.d_model)
        self.backbone = Backbone(config)
        self.head = nn.Linear(config.d_model, vocab)
        if alpha_bias is not None:
            set_gate_bias(self, "alpha", alpha_bias)
        if theta_bias is not None:
            set_gate_bias(self, "theta", theta_bias)
        # Each memory's inner learning rates of the last forward, as fractions of theta_max (for the
        # write penalty); recorded only while `record_writes` is set.
        self.record_writes = False
        self.writes: list[Tensor] = []
        for memory in self.modules():
            if isinstance(memory, NeuralMemory):
                memory.register_forward_hook(self._record)

    def _record(self, memory: NeuralMemory, inputs, output) -> None:
        if self.record_writes:
            # the hook sees the gates' input (the memory's x), so recompute theta from it
            self.writes.append(memory.gates(inputs[0])["theta"] / memory.theta_max)

    def forward(self, tokens: Tensor, state=None):
        self.writes = []
        y, state = self.backbone(self.embed(tokens), state)
        return self.head(y), state


def set_gate_bias(model: nn.Module, gate: str, value: float) -> int:
    """Set the initial bias of one gate in every NeuralMemory of `model`; returns how many it set."""
    count = 0
    for module in model.modules():
        if isinstance(module, NeuralMemory) and gate in module.gate_names:
            index, heads = module.gate_names.index(gate), module.heads
            with torch.no_grad():
                module.to_gates.bias[index * heads : (index + 1) * heads] = value
            count += 1
    return count


# --- the worker: train one preset, evaluate it at every length -------------------------------


def train(model: RecallModel, setting: Setting, task: RecallTask) -> dict[str, Any]:
    torch.manual_seed(setting.seed)
    generator = torch.Generator().manual_seed(setting.seed + 1)
    # Constant learning rate after a short warm-up, no weight decay.
    optimiser = torch.optim.AdamW(model.parameters(), lr=setting.lr, weight_decay=0.0)
    warmup = max(1, setting.steps // 40)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, (s + 1) / warmup))
    losses, accuracies, skipped = [], [], 0
    start = time.perf_counter()
    model.train()
    model.record_writes = setting.write_penalty > 0
    schedule_of_batches = [(length, batch) for length, steps, batch in setting.phases for _ in range(steps)]
    for length, batch_size in schedule_of_batches:
        batch = task.sample(batch_size, length, generator)
        try:
            logits, _ = model(batch.tokens)
        except MemoryDiverged:  # the engine refuses NaN / Inf gates: the inner loop diverged
            skipped += 1
            continue
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, task.vocab), batch.targets.reshape(-1), ignore_index=IGNORE
        )
        if model.record_writes:
            # Write sparsity: the mean inner learning rate over tokens, heads and memories, so the
            # memory learns to write only the tokens that pay off later.
            loss = loss + setting.write_penalty * torch.stack([w.mean() for w in model.writes]).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if not torch.isfinite(norm):  # a step that would write NaN into every parameter: skip, count it
            skipped += 1
            continue
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
        scored = batch.targets != IGNORE
        accuracies.append((logits.argmax(-1)[scored] == batch.targets[scored]).float().mean().item())
    seconds = time.perf_counter() - start
    model.record_writes = False
    tail = max(1, len(schedule_of_batches) // 20)
    return {
        "seconds": seconds,
        "tokens_per_s": sum(length * batch for length, batch in schedule_of_batches) / seconds,
        "skipped_steps": skipped,
        "final_loss": statistics.fmean(losses[-tail:]),
        "final_accuracy": statistics.fmean(accuracies[-tail:]),
        "loss_curve": [round(statistics.fmean(losses[i : i + tail]), 4) for i in range(0, len(losses), tail)],
    }


@torch.no_grad()
def stream_accuracy(
    model: RecallModel, tokens: Tensor, targets: Tensor, piece: int
) -> tuple[int, int, float]:
    """Stream `tokens` through the model `piece` tokens at a time; (right, scored, seconds)."""
    state, right, scored = None, 0, 0
    start = time.perf_counter()
    for begin in range(0, tokens.shape[1], piece):
        logits, state = model(tokens[:, begin : begin + piece], state)
        want = targets[:, begin : begin + piece]
        mask = want != IGNORE
        right += int((logits.argmax(-1)[mask] == want[mask]).sum())
        scored += int(mask.sum())
    return right, scored, time.perf_counter() - start


def evaluate(model: RecallModel, setting: Setting, task: RecallTask) -> list[dict[str, Any]]:
    model.eval()
    rows = []
    for multiplier in setting.multipliers:
        length = multiplier * setting.longest_trained
        generator = torch.Generator().manual_seed(setting.seed + 1000 + multiplier)
        batch = task.sample(setting.eval_sequences, length, generator, pair_start=0)
        try:
            right, scored, seconds = stream_accuracy(model, batch.tokens, batch.targets, setting.piece)
        except MemoryDiverged as error:  # the memory's inner loop diverged somewhere in the stream
            rows.append(
                {
                    "multiplier": multiplier,
                    "length": length,
                    "accuracy": float("nan"),
                    "tokens_per_s": float("nan"),
                    "status": f"diverged: {error}",
                }
            )
            continue
        rows.append(
            {
                "multiplier": multiplier,
                "length": length,
                "accuracy": right / scored,
                "right": right,
                "scored": scored,
                "seconds": seconds,
                "tokens_per_s": setting.eval_sequences * length / seconds,
            }
        )
    return rows


def gate_summary(model: RecallModel, setting: Setting, task: RecallTask) -> dict[str, Any]:
    """Mean gate values of each memory layer on the four kinds of token (a diagnostic for the JSON)."""
    memories = [m for m in model.modules() if isinstance(m, NeuralMemory)]
    seen: list[list[dict[str, Tensor]]] = [[] for _ in memories]
    for index, memory in enumerate(memories):
        original = memory.gates
        memory.gates = lambda x, original=original, calls=seen[index]: calls.append(original(x)) or calls[-1]
    try:
        batch = task.sample(8, setting.train_length, torch.Generator().manual_seed(7), pair_start=0)
        with torch.no_grad():
            model(batch.tokens)
    finally:
        for memory in memories:
            del memory.gates  # back to the class's method
    tokens = batch.tokens
    kinds = {
        "key": tokens < task.value_offset,
        "value": (tokens >= task.value_offset) & (tokens < task.distractor_offset),
        "distractor": (tokens >= task.distractor_offset) & (tokens < task.marker),
        "marker": tokens == task.marker,
    }
    summary = {}
    for layer, calls in enumerate(seen):
        for name in calls[0]:
            # (B, heads, T) once the calls (MAC: one per segment) are joined; mean over heads
            value = torch.cat([call[name] for call in calls], dim=-1).mean(1)
            summary[f"layer{layer}.{name}"] = {
                kind: float(value[mask].mean()) for kind, mask in kinds.items()
            }
    return summary


def run_preset(setting: Setting) -> dict[str, Any]:
    torch.set_num_threads(setting.threads)
    torch.manual_seed(setting.seed)
    task = setting.task()
    config = setting.config()
    model = RecallModel(config, task.vocab, setting.alpha_bias, setting.theta_bias)
    out: dict[str, Any] = {
        "config": config.model_dump(),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    out["train"] = train(model, setting, task)
    out["eval"] = evaluate(model, setting, task)
    out["gates"] = gate_summary(model, setting, task)
    return out


# --- the flat-memory section: stream ever longer inputs in fresh processes -------------------


@dataclass(frozen=True)
class StreamCase:
    preset: str  # a PRESETS name, or "full-attention"
    length: int
    setting: Setting = field(default_factory=lambda: Setting(preset="swa"))


def run_stream(case: StreamCase) -> dict[str, Any]:
    setting = case.setting
    torch.set_num_threads(setting.threads)
    torch.manual_seed(setting.seed)
    task = setting.task()
    if case.preset == "full-attention":  # swa with a window as long as the stream: full causal
        config = backbone_config("swa", setting.d_model, setting.n_layers, case.length, 0, 0)
    else:
        config = replace(setting, preset=case.preset).config()
    model = RecallModel(config, task.vocab).eval()
    batch = task.sample(1, case.length, torch.Generator().manual_seed(setting.seed), pair_start=0)
    # warm-up on a short stream, so one-off allocations (thread pools, kernels) are not counted
    stream_accuracy(
        model, batch.tokens[:, : 2 * setting.piece], batch.targets[:, : 2 * setting.piece], setting.piece
    )
    with PeakRSS() as peak:
        _, _, seconds = stream_accuracy(model, batch.tokens, batch.targets, setting.piece)
    return {
        "peak_mb": peak.growth_mb,
        "baseline_mb": peak.baseline_mb,
        "peak_method": peak.method,
        "seconds": seconds,
        "tokens_per_s": case.length / seconds,
    }


# --- the driver -----------------------------------------------------------------------------


def _worker_env(threads: int) -> dict[str, str]:
    # PASSIVE: with OpenMP's spin-wait and another process on one of the 2 cores, every parallel
    # region waits for a descheduled thread (see benchmarks/memory_engine.py).
    return {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }


def _in_subprocess(kind: str, payload: dict[str, Any], threads: int, timeout_s: float) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(payload)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=_worker_env(threads),
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"status": "timed out"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": f"error: {tail[:300]}"}
    return {"status": "ok", **json.loads(lines[-1])}


def _worker(kind: str, payload: str) -> None:
    data = json.loads(payload)
    if kind == "preset":
        data["multipliers"] = tuple(data["multipliers"])
        out = run_preset(Setting(**data))
    else:
        setting = data.pop("setting")
        setting["multipliers"] = tuple(setting["multipliers"])
        out = run_stream(StreamCase(setting=Setting(**setting), **data))
    print(json.dumps(out))


def _fmt_rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate / 1000:.1f}k" if rate >= 1000 else f"{rate:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(f"{c:<{w}}" for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join([line, rule, *body])


def results_table(
    setting: Setting,
    results: dict[str, dict[str, Any]],
    stream_lengths: list[int],
    stream: dict[str, dict[int, dict[str, Any]]],
) -> str:
    """One row per preset: accuracy per length, training and streaming speed, peak memory per length."""
    mults = setting.multipliers
    longest = stream_lengths[-1] if stream_lengths else None
    header = [
        "preset",
        *[f"{m}x ({m * setting.longest_trained})" for m in mults],
        "train tok/s",
        f"eval tok/s {mults[-1]}x",
    ]
    if longest:
        header += [f"stream tok/s {_k(longest)}", *[f"peak MB {_k(n)}" for n in stream_lengths]]
    rows = []
    for name in [*results, *[n for n in stream if n not in results]]:
        out = results.get(name, {"status": "-"})
        row = [name]
        if out["status"] == "ok":
            evals = {r["multiplier"]: r for r in out["eval"]}
            row += [f"{100 * evals[m]['accuracy']:.1f}%" for m in mults]
            row += [_fmt_rate(out["train"]["tokens_per_s"]), _fmt_rate(evals[mults[-1]]["tokens_per_s"])]
        else:
            row += [out["status"][:40], *["-"] * (len(mults) + 1)]
        if longest:
            by_length = stream.get(name, {})
            last = by_length.get(longest, {})
            row.append(_fmt_rate(last.get("tokens_per_s")) if last.get("status") == "ok" else "-")
            for n in stream_lengths:
                r = by_length.get(n, {})
                row.append(f"{r['peak_mb']:.1f}" if r.get("status") == "ok" else r.get("status", "-")[:30])
        rows.append(row)
    return _table(header, rows)


def _k(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


def heading(setting: Setting, presets: list[str], task: RecallTask) -> str:
    return (
        f"Long-context recall: d_model {setting.d_model}, {setting.n_layers} layers, attention window "
        f"{setting.window} (swa, MAG, MAL), MAC segment {setting.segment}, memory chunk {setting.chunk}"
        + ("" if setting.memory_norm is None else f", memory.norm {str(setting.memory_norm).lower()}")
        + f", update rule {setting.rule}, write gate {setting.write_gate}"
        + ("" if setting.alpha_bias is None else f", forget-gate bias init {setting.alpha_bias}")
        + ("" if setting.theta_bias is None else f", learning-rate-gate bias init {setting.theta_bias}")
        + (f", write penalty {setting.write_penalty}" if setting.write_penalty else "")
        + f"; task: {task.pairs} pairs / {task.queries} queries, {task.n_keys} keys, {task.n_values} "
        f"values (chance {100 * task.chance:.1f}%), {task.n_distractors} distractor tokens; trained "
        f"{setting.steps} steps x batch {setting.batch} at length {setting.train_length}"
        + (
            f", then {setting.long_steps} x batch {setting.long_batch} at {setting.long_length}"
            if setting.long_steps
            else ""
        )
        + f" (AdamW, constant lr "
        f"{setting.lr}, seed {setting.seed}); evaluated on {setting.eval_sequences} streams per length, "
        f"pairs at the start, streamed {setting.piece} tokens at a time; {setting.threads} torch "
        f"thread(s) per worker"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--presets",
        nargs="+",
        default=None,
        choices=list(PRESETS),
        help=f"default: {' '.join(DEFAULT_PRESETS)}",
    )
    parser.add_argument(
        "--multipliers",
        nargs="+",
        type=int,
        default=None,
        help="evaluation lengths as multiples of the longest training length (default 1 4 16 64)",
    )
    parser.add_argument("--train-length", type=int, default=128)
    parser.add_argument("--long-length", type=int, default=2048, help="length of the second training phase")
    parser.add_argument(
        "--long-steps",
        type=int,
        default=None,
        help="steps of the second training phase (default 600; 0: none)",
    )
    parser.add_argument("--long-batch", type=int, default=4, help="batch of the second training phase")
    parser.add_argument("--steps", type=int, default=None, help="training steps per preset (default 600)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-sequences", type=int, default=None, help="streams per length (default 32)")
    parser.add_argument("--piece", type=int, default=512, help="tokens per streaming call")
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--n-layers", type=int, default=2)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--segment", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument(
        "--memory-norm",
        choices=["true", "false"],
        default=None,
        help="set memory.norm (M(x) = x + LayerNorm(f(x))) in every memory preset (default: the preset's)",
    )
    parser.add_argument(
        "--rule",
        choices=list(MEMORY_RULES),
        default="stable",
        help="the memory's update rule (default: the stable rule; plain: the papers')",
    )
    parser.add_argument(
        "--write-gate",
        choices=["sigmoid", "hard"],
        default="sigmoid",
        help="memory.write_gate: the inner learning rate's gate (hard: hardsigmoid, which can close "
        "exactly; sigmoid: the papers', the default)",
    )
    parser.add_argument(
        "--alpha-bias",
        type=float,
        default=None,
        help="initial forget-gate bias of every memory (default: NeuralMemory's)",
    )
    parser.add_argument(
        "--theta-bias",
        type=float,
        default=None,
        help="initial inner-learning-rate bias of every memory (default: NeuralMemory's, 0)",
    )
    parser.add_argument(
        "--write-penalty",
        type=float,
        default=0.0,
        help="weight of the mean inner learning rate (theta / theta_max) added to the training loss",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="worker processes at a time (default 2: with --threads 1, one per core of a 2-core machine)",
    )
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument(
        "--stream-lengths",
        nargs="+",
        type=int,
        default=None,
        help="lengths of the flat-memory section (default 4096 16384 65536; 0 skips it)",
    )
    parser.add_argument(
        "--full-attention-max",
        type=int,
        default=16384,
        help="longest stream for the full-attention reference row (its time grows quadratically)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per worker")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 presets, 150 steps, lengths 1x 4x, short streams"
    )
    parser.add_argument(
        "--stream-only", action="store_true", help="only the peak-memory / streaming-speed section"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(*args.worker)
        return

    presets = args.presets or (["titans-lmm", "swa"] if args.quick else DEFAULT_PRESETS)
    steps = args.steps or (150 if args.quick else 600)
    long_steps = args.long_steps if args.long_steps is not None else (0 if args.quick else 600)
    multipliers = tuple(args.multipliers or ((1, 4) if args.quick else (1, 4, 16, 64)))
    stream_lengths = args.stream_lengths or ([1024, 4096] if args.quick else [4096, 16384, 65536])
    stream_lengths = [n for n in stream_lengths if n > 0]
    base = Setting(
        preset="",
        d_model=args.d_model,
        n_layers=args.n_layers,
        window=args.window,
        segment=args.segment,
        chunk=args.chunk,
        memory_norm=None if args.memory_norm is None else args.memory_norm == "true",
        rule=args.rule,
        write_gate=args.write_gate,
        alpha_bias=args.alpha_bias,
        theta_bias=args.theta_bias,
        write_penalty=args.write_penalty,
        pairs=args.pairs,
        queries=args.queries,
        train_length=args.train_length,
        long_length=args.long_length,
        long_steps=long_steps,
        long_batch=args.long_batch,
        steps=steps,
        batch=args.batch,
        lr=args.lr,
        multipliers=multipliers,
        eval_sequences=args.eval_sequences or (16 if args.quick else 32),
        piece=args.piece,
        seed=args.seed,
        threads=args.threads,
    )
    task = base.task()
    out_path = args.out or RESULTS / ("long_context_quick.json" if args.quick else "long_context.json")
    started = time.perf_counter()
    print(heading(base, presets, task), flush=True)

    def train_and_evaluate(name: str) -> tuple[str, dict[str, Any]]:
        setting = Setting(**{**asdict(base), "preset": name})
        t0 = time.perf_counter()
        out = _in_subprocess("preset", asdict(setting), args.threads, args.timeout)
        accs = (
            " ".join(f"{100 * r['accuracy']:.1f}%" for r in out["eval"])
            if out["status"] == "ok"
            else out["status"]
        )
        print(f"  {name}: {accs} ({time.perf_counter() - t0:.0f} s)", flush=True)
        return name, out

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        finished = dict(pool.map(train_and_evaluate, [] if args.stream_only else presets))
    finished.update({name: {"status": "not trained (--stream-only)"} for name in presets if args.stream_only})
    results: dict[str, dict[str, Any]] = {name: finished[name] for name in presets}

    stream_presets = [*presets, "full-attention"] if stream_lengths else []

    def stream(name: str, length: int) -> dict[str, Any]:
        if name == "full-attention" and length > args.full_attention_max:
            # quadratic time: minutes at 64k on 2 cores, and its growth is plain by 16k
            return {"status": "skipped (time)"}
        setting = asdict(Setting(**{**asdict(base), "preset": name}))
        case = {"preset": name, "length": length, "setting": setting}
        return _in_subprocess("stream", case, args.threads, args.timeout)

    cells = [(name, length) for name in stream_presets for length in stream_lengths]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        measured = list(pool.map(lambda cell: stream(*cell), cells))
    stream_results: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in stream_presets}
    for (name, length), result in zip(cells, measured, strict=True):
        stream_results[name][length] = result
    if stream_results:
        print(f"  streamed {len(cells)} cells", flush=True)

    wall = time.perf_counter() - started
    print()
    print(heading(base, presets, task))
    print()
    print(results_table(base, results, stream_lengths, stream_results))
    if stream_results:
        print(
            f"\nstream tok/s and peak MB: one stream (batch 1, {base.piece} tokens a call) in a fresh "
            "process per cell; peak MB is the peak RSS growth during the stream; 'full-attention' is "
            "swa with a window as long as the stream (untrained: only its memory and speed are measured)"
        )
    print(f"\nwall time {wall / 60:.1f} min")
    payload = {
        "benchmark": "long_context",
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "load_average": os.getloadavg(),
        },
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "setting": {**asdict(base), "presets": presets, "stream_lengths": stream_lengths},
        "heading": heading(base, presets, task),
        "wall_s": wall,
        "results": results,
        "stream": {name: {str(n): r for n, r in by.items()} for name, by in stream_results.items()},
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
