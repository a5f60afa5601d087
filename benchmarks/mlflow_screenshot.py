"""A screenshot of the MLflow UI (as `memcast ui` serves it) showing a memcast training run's
forecast plot, taken with headless Chromium (Debian's `chromium`: apt-get install chromium).

    .venv/bin/python benchmarks/mlflow_screenshot.py                      # a fresh tiny run, temp store
    .venv/bin/python benchmarks/mlflow_screenshot.py --tracking-uri sqlite:///mlflow.db --run RUN_ID

Without --run it trains the demo config with a small budget into the store (default: a temporary
sqlite store). It writes benchmarks/results/mlflow_ui_forecast.png (the README embeds it). Not part
of the test run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.dashboard import free_port, start_servers, stop  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "mlflow_ui_forecast.png"
SMALL = [
    "model.backbone={d_model: 16, n_layers: 1, memory: {chunk_size: 8}}",
    "data.history=96",
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=20",
    "trainer.progress_bar=false",
]


def train_run(uri: str, output_dir: Path) -> str:
    """A small tracked training run of the demo config; its run id."""
    import torch

    from app import tasks

    torch.set_num_threads(1)
    config = tasks.load_experiment(
        ROOT / "configs" / "experiments" / "demo.yaml",
        [
            *SMALL,
            f"output_dir={output_dir}",
            f"tracking.uri={uri}",
            f"data.source={ROOT / 'data/samples/vic_elec_sample.csv'}",
        ],
    )
    return tasks.train(config).run_id


def plot_of(uri: str, run_id: str) -> tuple[str, str]:
    """(experiment id, artifact path of the run's forecast plot)."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    run = client.get_run(run_id)
    plots = [a.path for a in client.list_artifacts(run_id, "plots") if a.path.endswith(".png")]
    if not plots:
        raise SystemExit(f"run {run_id} logged no plot under plots/")
    return run.info.experiment_id, plots[0]


def screenshot(url: str, out: Path, size: str = "1500,1000", budget_ms: int = 20000) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("needs Debian's chromium: apt-get install chromium")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [
        browser,
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={size}",
        f"--virtual-time-budget={budget_ms}",
        f"--screenshot={out}",
        url,
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracking-uri", help="the store (default: a temporary sqlite store)")
    parser.add_argument("--run", help="a memcast training run id (default: train a small one)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out = args.out.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="memcast-screenshot-"))
    uri = args.tracking_uri or f"sqlite:///{scratch / 'mlflow.db'}"
    if args.tracking_uri is None:
        os.chdir(scratch)  # a sqlite store keeps its artifacts in ./mlruns: the temporary folder's
    run_id = args.run or train_run(uri, scratch / "runs")
    experiment, plot = plot_of(uri, run_id)
    servers = start_servers(uri, port=free_port())
    try:
        url = f"{servers[0].url}#/experiments/{experiment}/runs/{run_id}/artifacts/{plot}"
        screenshot(url, args.out, size="1600,900")
    finally:
        stop(servers)
    print(f"{url}\n-> {args.out}")


if __name__ == "__main__":
    main()
