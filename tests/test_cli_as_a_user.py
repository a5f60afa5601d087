"""The CLI as a user meets it (issue 19): every command quiet but for its own results and notes,
errors it can find before loading a model reported before the model loads, threads as configured,
record accessions, `evaluate --only`. The commands run in fresh interpreters through
tests/cli_session.py, which records each step's exit status, output and file opens."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
FASTA = SAMPLES / "pyrodigal_50kb.fa"
RECORD = "NZ_LN831026.1"
NCBI_NAME = "gi|110640213|ref|NC_008253.1|"
QUICK = [
    "trainer.max_epochs=1",
    "trainer.progress_bar=false",
    "trainer.patience=0",
    "trainer.limit_val_batches=1",
]
GENOME_TRAIN = [
    *QUICK,
    "trainer.limit_train_batches=3",
    f"data.source={FASTA}",
    "model.backbone={d_model: 16, n_layers: 1, memory: {chunk_size: 16}}",
]
FORECAST_TRAIN = [
    *QUICK,
    "trainer.limit_train_batches=2",
    "model.backbone={d_model: 16, n_layers: 1, memory: {chunk_size: 4}}",
    "model.lookback=96",
    "model.horizon=48",
    "model.patch_len=16",
    "data.history=64",
    "evaluation.horizons=[48]",
]
BANNER = re.compile(
    r"GPU available|TPU available|Tip:|litlogger|LOCAL_RANK|Loading `train_dataloader`|Trainer\.fit"
)
MLFLOW_INFO = re.compile(r"INFO mlflow|mlflow\.\w+: |Downloading artifacts|Creating initial MLflow")


def run_session(
    folder: Path, commands: list[list[str]], watch: list[Path] = ()
) -> tuple[list[str], list[dict]]:
    """Run `commands` in one fresh interpreter; (each step's stdout + stderr, each step's report)."""
    spec = folder / f"session-{len(list(folder.glob('session-*')))}.json"
    report = spec.with_suffix(".report.json")
    spec.write_text(
        json.dumps({"commands": commands, "watch": [str(p) for p in watch], "report": str(report)})
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.cli_session", str(spec)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(folder)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = re.split(r"@@@ step \d+ @@@\n", done.stdout)[1:]
    err = re.split(r"@@@ step \d+ @@@\n", done.stderr)[1:]
    return [o + e for o, e in zip(out, err, strict=True)], json.loads(report.read_text())


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Train a tiny genome LM and a tiny forecaster, evaluate and forecast with both, one interpreter."""
    folder = tmp_path_factory.mktemp("user")
    uri = f"sqlite:///{folder / 'mlflow.db'}"  # a new store: MLflow creates its tables (INFO lines)
    series = pl.read_csv(SAMPLES / "vic_elec_sample.csv").head(4 * 7 * 48)
    rows = series.to_dicts()
    rows[10], rows[11] = rows[11], rows[10]  # two rows out of order: a warning about the user's data
    unsorted = folder / "unsorted.csv"
    pl.DataFrame(rows).write_csv(unsorted)
    ncbi = folder / "ncbi.fa"
    ncbi.write_text(
        f">{NCBI_NAME} Escherichia coli 536\n" + FASTA.read_text().split("\n", 1)[1][:6000] + "\n"
    )
    genome, forecaster = (
        folder / "runs" / "genome-lm" / "latest.ckpt",
        folder / "runs" / "demo" / "latest.ckpt",
    )
    common = ["--tracking-uri", uri]
    small = ["--data", str(ncbi), "--record", "NC_008253.1", "--plot-dir", str(folder)]  # 6 kb: quick

    def sets(items: list[str]) -> list[str]:
        return [f"--set={item}" for item in [*items, f"output_dir={folder / 'runs'}", f"tracking.uri={uri}"]]

    commands = [
        ["train", str(ROOT / "configs/experiments/genome-lm.yaml"), *sets(GENOME_TRAIN)],
        [
            "train",
            str(ROOT / "configs/experiments/demo.yaml"),
            *sets([*FORECAST_TRAIN, f"data.source={unsorted}"]),
        ],
        ["evaluate", "--model", str(genome), "--only", "windows,stream", *small, *common],
        ["evaluate", "--model", str(genome), "--only", "stream", "--threads", "2", *small, *common],
        ["evaluate", "--model", str(genome), "--only", "stream", *small, *common],
        ["evaluate", "--model", str(forecaster), "--data", str(unsorted), "--plot-dir", str(folder), *common],
        [
            "forecast",
            "--model",
            f"{{run:{folder / 'runs' / 'demo'}}}",
            "--input",
            str(unsorted),
            "--output",
            str(folder / "forecast.csv"),
            *common,
        ],  # fmt: skip
        [
            "forecast",
            "--model",
            str(genome),
            "--genome",
            str(ncbi),
            "--region",
            "NC_008253.1:1-300",
            "--length",
            "30",
            "--seed",
            "1",
            *common,
        ],  # fmt: skip
        ["train", str(ROOT / "configs/experiments/genome-lm.yaml"), "--verbose", *sets(GENOME_TRAIN)],
    ]
    outputs, steps = run_session(folder, commands)
    return {"folder": folder, "uri": uri, "genome": genome, "outputs": outputs, "steps": steps}


def test_train_evaluate_and_forecast_print_their_results_and_nothing_else(session):
    outputs, steps = session["outputs"], session["steps"]
    assert [s["status"] for s in steps] == [0] * len(steps), outputs
    for index, output in enumerate(outputs[:-1]):
        assert not BANNER.search(output), (index, output)
        assert not MLFLOW_INFO.search(output), (index, output)
        assert "Warning" not in output and "site-packages" not in output, (index, output)
    # what is memcast's own still shows, once: the channels a series gave, a warning about the data
    assert outputs[1].count("note: ") == 1 and "targets demand; covariates temperature" in outputs[1]
    assert "warning: " in outputs[1] and "timestamps out of order" in outputs[1]
    # --verbose: the libraries' lines too
    assert BANNER.search(outputs[-1]) and "GPU available" in outputs[-1]


def test_evaluate_only_runs_the_parts_asked_for(session):
    outputs = session["outputs"]
    table, stream_only = outputs[2], outputs[4]
    assert "windows of 256" in table and "stream over held-out" not in table and "markov" not in table
    streamed = re.compile(rf"stream {re.escape(NCBI_NAME)} \(\d+ bases, one pass")  # found by accession
    assert streamed.search(table)
    assert "Bits per base on the held-out part" not in stream_only  # no table: no row ran
    assert streamed.match(stream_only)
    client = mlflow.MlflowClient(session["uri"])
    runs = client.search_runs(
        [client.get_experiment_by_name("memcast-genomes").experiment_id],
        "attributes.run_name = 'evaluate genome'",
    )
    assert sorted(r.data.params["only"] for r in runs) == ["stream", "stream", "windows,stream"]


def test_threads_follow_the_option_else_the_models_config(session):
    steps = session["steps"]
    assert steps[3]["threads"] == 2  # --threads 2
    assert steps[4]["threads"] == 1  # the genome config's trainer.threads: 1, recorded in the model


def test_a_record_is_found_by_its_accession(session):
    header = session["outputs"][7].splitlines()[0]
    assert header.startswith(f">{NCBI_NAME}:1-300+30 sampled")


def test_forecast_is_written_in_the_inputs_timestamp_format(session):
    last = pl.read_csv(session["folder"] / "unsorted.csv")["timestamp"].sort()[-1]
    assert last == "2012-01-28T23:30:00+11:00"
    written = pl.read_csv(session["folder"] / "forecast.csv")
    # the input's format (ISO, "T", seconds, an offset), not polars' 2012-01-28T13:00:00.000000
    assert written["ds"][0] == "2012-01-28T13:00:00+00:00"  # the next half-hour, in UTC


def test_errors_found_before_the_model_loads_come_before_it(session, tmp_path):
    checkpoint, csv = session["genome"], SAMPLES / "vic_elec_sample.csv"
    model = ["--model", str(checkpoint)]
    cases = [
        (["forecast", *model, "--genome", str(FASTA), "--region", "chr9:1-100"], "no record named 'chr9'"),
        (
            ["forecast", *model, "--genome", str(FASTA), "--region", f"{RECORD}:49901-50001"],
            "outside the record",
        ),
        (
            ["forecast", *model, "--genome", str(tmp_path / "gone.fa"), "--region", "x:1-2"],
            "gone.fa: no such FASTA",
        ),
        (
            ["evaluate", *model, "--data", str(FASTA), "--stream", "--record", "chrZ"],
            "no record named 'chrZ'",
        ),
        (["evaluate", *model, "--only", "stream,bogus"], "--only bogus: expected some of windows"),
        (
            ["forecast", *model, "--input", str(tmp_path / "gone.csv"), "--output", "f.csv"],
            "gone.csv: no such",
        ),
        (
            ["forecast", "--model", str(tmp_path / "gone.ckpt"), "--genome", str(FASTA), "--region", RECORD],
            "gone.ckpt: no such checkpoint file",
        ),  # fmt: skip
    ]
    outputs, steps = run_session(tmp_path, [args for args, _ in cases], watch=[checkpoint, csv])
    for (args, expected), output, step in zip(cases, outputs, steps, strict=True):
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert step["status"] == 2 and len(errors) == 1 and expected in errors[0], (args, output)
        assert step["opened"] == [], (args, step)  # neither the checkpoint nor the data file was read
    # ... and before torch was even imported (so within a second or two)
    assert [s["torch"] for s in steps] == [False] * len(cases)


def test_a_bad_config_field_fails_before_torch_is_imported(tmp_path):
    """A config field that is unknown, of the wrong type or out of range is a one-line error (exit 2)
    before the data is read and before torch is imported, for train, demo and tune alike."""
    csv = SAMPLES / "vic_elec_sample.csv"
    demo = (ROOT / "configs/experiments/demo.yaml").read_text().replace(
        "data/samples/vic_elec_sample.csv", str(csv))  # fmt: skip
    bad, good = tmp_path / "bad.yaml", tmp_path / "demo.yaml"
    bad.write_text(demo.replace("  patch_len: 8", "  patch_len: 8\n  patch_size: 8"))
    good.write_text(demo)
    genome = str(ROOT / "configs/experiments/genome-lm.yaml")
    out = f"--set=output_dir={tmp_path}"
    cases = [
        (["train", str(bad), out], "bad.yaml: model.patch_size: unknown field"),
        (["train", str(good), out, "--set", "trainer.max_epochs=0"], "trainer.max_epochs: Input should be"),
        (["train", str(good), out, "--set", "model.lookback=many"], "model.lookback: Input should be"),
        (
            ["train", genome, out, "--set", "model.backbone={d_model: 16, memory: {chunk_size: 0}}"],
            "model: backbone.memory.chunk_size: Input should be greater than or equal to 1",
        ),
        (["demo", "--config", str(bad)], "bad.yaml: model.patch_size: unknown field"),
        (["tune", str(good), out, "--set", "trainer.epochs=3"], "demo.yaml: trainer.epochs: unknown field"),
    ]
    outputs, steps = run_session(tmp_path, [args for args, _ in cases], watch=[csv])
    for (args, expected), output, step in zip(cases, outputs, steps, strict=True):
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert step["status"] == 2 and len(errors) == 1 and expected in errors[0], (args, output)
        assert step["opened"] == [], (args, step)  # the data file was not read
    assert [s["torch"] for s in steps] == [False] * len(cases)
    assert not (tmp_path / "demo").exists()  # nothing trained
