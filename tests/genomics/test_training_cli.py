"""Genome training, evaluation, sampling and classification end to end: real files, a real sqlite
MLflow store in a temporary folder, the `memcast` command through typer's CliRunner; bad input gets
one line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import app
from app.genomics import GenomeClassifyConfig, GenomeLMConfig, load_genome_model, parse_region, stream_record
from app.tasks import load_experiment
from app.training import ConfigError
from pipelines.errors import InputError
from pipelines.genomes import Genome

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "pyrodigal_50kb.fa"
RECORD = "NZ_LN831026.1"
FAST = ["trainer.max_epochs=1", "trainer.progress_bar=false", "trainer.patience=0"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real sqlite MLflow store and an output folder."""
    folder = tmp_path_factory.mktemp("genome_runs")
    return folder, f"sqlite:///{folder / 'mlflow.db'}"


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


@pytest.fixture(scope="module")
def lm_checkpoint(store):
    folder, uri = store
    result = run(
        "train",
        str(ROOT / "configs/experiments/genome-lm.yaml"),
        *(f"--set={item}" for item in FAST),
        "--set",
        "trainer.limit_train_batches=6",
        "--set",
        "trainer.limit_val_batches=2",
        "--set",
        f"data.source={SAMPLE}",
        "--set",
        "model.backbone={d_model: 16, n_layers: 1, memory: {chunk_size: 16}}",
        "--set",
        f"output_dir={folder / 'runs'}",
        "--set",
        f"tracking.uri={uri}",
    )
    assert result.exit_code == 0, result.output
    assert "test_bits_per_base" in result.output
    return folder / "runs" / "genome-lm" / "latest.ckpt"


def test_config_task_picks_the_class():
    lm = load_experiment(ROOT / "configs/experiments/genome-lm.yaml")
    clf = load_experiment(ROOT / "configs/experiments/genome-classify.yaml")
    forecast = load_experiment(ROOT / "configs/experiments/demo.yaml")
    assert isinstance(lm, GenomeLMConfig) and isinstance(clf, GenomeClassifyConfig)
    assert forecast.task == "forecast"
    with pytest.raises(ConfigError, match="task: unknown task 'genome'"):
        load_experiment(ROOT / "configs/experiments/demo.yaml", ["task=genome"])
    with pytest.raises(ConfigError, match="data.contxt: unknown field"):
        load_experiment(ROOT / "configs/experiments/genome-lm.yaml", ["data.contxt=3"])


def test_train_and_stream_a_real_genome_slice(lm_checkpoint, store):
    folder, uri = store
    model = load_genome_model(lm_checkpoint)
    assert model.task == "genome-lm" and model.meta.context == 256
    result = run(
        "evaluate",
        "--model",
        str(lm_checkpoint),
        "--stream",
        "--plot-dir",
        str(folder / "plots"),
        "--tracking-uri",
        uri,
    )
    assert result.exit_code == 0, result.output
    assert "markov (order" in result.output and "stream over held-out" in result.output
    assert "50000 bases, one pass" in result.output
    client = mlflow.MlflowClient(uri)
    runs = {
        r.info.run_name: r
        for r in client.search_runs(client.get_experiment_by_name("memcast-genomes").experiment_id)
    }
    evaluated = runs["evaluate genome"]
    assert 1.5 < evaluated.data.metrics["stream_bits_per_base"] < 2.5
    history = client.get_metric_history(evaluated.info.run_id, "stream_bits_per_base_by_position")
    assert len(history) == 50 and history[-1].step == 49_001  # 1000-base bins of bases 1..49999
    artifacts = [a.path for a in client.list_artifacts(evaluated.info.run_id, "plots")]
    assert artifacts == [f"plots/stream_bits_{RECORD}.png"]
    trained = runs["train genome-lm"]
    assert "test_bits_per_base" in trained.data.metrics and trained.data.params["task"] == "genome-lm"
    assert [a.path for a in client.list_artifacts(trained.info.run_id, "checkpoints")] == [
        "checkpoints/best.ckpt"
    ]
    # streaming is one pass over the record: the same bits in pieces of any size
    small = stream_record(model, SAMPLE, piece=999)
    np.testing.assert_allclose(small.bits_per_base, evaluated.data.metrics["stream_bits_per_base"], rtol=1e-5)


def test_forecast_samples_a_continuation(lm_checkpoint, store, tmp_path):
    _, uri = store
    args = [
        "forecast",
        "--model",
        str(lm_checkpoint),
        "--genome",
        str(SAMPLE),
        "--region",
        f"{RECORD}:101-400",
        "--length",
        "50",
        "--seed",
        "3",
        "--tracking-uri",
        uri,
    ]
    first, second = run(*args), run(*args)
    assert first.exit_code == 0, first.output
    lines = first.output.strip().splitlines()
    assert (
        lines[0].startswith(f">{RECORD}:101-400+50") and len(lines[1]) == 50 and set(lines[1]) <= set("ACGT")
    )
    assert first.output == second.output  # the seed fixes the draw
    out = tmp_path / "sampled.fa"
    greedy = run(*args[:-2], "--temperature", "0", "--output", str(out), "--tracking-uri", uri)
    assert greedy.exit_code == 0 and out.read_text().startswith(">")


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (f"{RECORD}:49901-50001", "outside the record"),
        (f"{RECORD}:0-10", "outside the record"),
        ("chr9:1-100", "no record named 'chr9'"),
        (f"{RECORD}:ten-20", "expected record:start-end"),
    ],
)
def test_forecast_bad_region_is_one_line_exit_2(lm_checkpoint, store, region, expected):
    _, uri = store
    result = run(
        "forecast",
        "--model",
        str(lm_checkpoint),
        "--genome",
        str(SAMPLE),
        "--region",
        region,
        "--length",
        "5",
        "--tracking-uri",
        uri,
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and expected in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_empty_fasta_is_one_line_exit_2(lm_checkpoint, store, tmp_path):
    _, uri = store
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    for args in (
        ["forecast", "--genome", str(empty), "--region", "x:1-2"],
        ["evaluate", "--data", str(empty)],
        ["evaluate", "--data", str(empty), "--stream"],
    ):
        result = run(args[0], "--model", str(lm_checkpoint), *args[1:], "--tracking-uri", uri)
        assert result.exit_code == 2, result.output
        assert result.output.strip() == f"error: {empty}: the file is empty"


def test_unknown_record_and_wrong_model_kind(lm_checkpoint, store):
    _, uri = store
    result = run(
        "evaluate", "--model", str(lm_checkpoint), "--stream", "--record", "chrZ", "--tracking-uri", uri
    )
    assert result.exit_code == 2 and "--record chrZ: no record named 'chrZ'" in result.output
    result = run("classify", "--model", str(lm_checkpoint), "--input", str(SAMPLE), "--tracking-uri", uri)
    assert result.exit_code == 2 and "needs a classifier" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_parse_region():
    with Genome(SAMPLE) as genome:
        assert parse_region(genome, RECORD) == (RECORD, 0, 50_000)
        assert parse_region(genome, f"{RECORD}:1-1,000") == (RECORD, 0, 1000)
        with pytest.raises(InputError, match="outside the record"):
            parse_region(genome, f"{RECORD}:20-10")


def test_train_classifier_and_classify_a_folder_and_a_fasta(store, tmp_path):
    folder, uri = store
    result = run(
        "train",
        str(ROOT / "configs/experiments/genome-classify.yaml"),
        *(f"--set={item}" for item in FAST),
        "--set",
        f"data.benchmark={ROOT / 'data/samples/genomic_benchmark_tiny'}",
        "--set",
        f"output_dir={folder / 'runs'}",
        "--set",
        f"tracking.uri={uri}",
    )
    assert result.exit_code == 0, result.output
    assert "test_accuracy" in result.output
    checkpoint = folder / "runs" / "genome-classify" / "latest.ckpt"
    out = tmp_path / "labels.csv"
    result = run(
        "classify",
        "--model",
        str(checkpoint),
        "--input",
        str(ROOT / "data/samples/genomic_benchmark_tiny"),
        "--output",
        str(out),
        "--tracking-uri",
        uri,
    )
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "split,sequence,label,probability,true_label" and len(lines) == 1 + 96
    result = run("classify", "--model", str(checkpoint), "--input", str(SAMPLE), "--tracking-uri", uri)
    assert result.exit_code == 0, result.output
    assert f",{RECORD}," in result.output
