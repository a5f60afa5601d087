"""The `memcast` command (typer): it parses arguments, calls the task packages (through app.tasks
where the task depends on the config or the model) and prints; bad input is one line, exit status 2.

Each command imports what it runs inside itself, on purpose: torch, Lightning, MLflow and polars take
seconds to import, and `memcast version`, `--help` and `memcast data list` need none of them. What a
command can check first it checks before them: its inputs (app.checks) and its config
(app.experiments, which imports pydantic and yaml only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app import __version__
from app.cli_data import (
    CacheDir,
    Threads,
    Verbose,
    check,
    data_app,
    experiment_config,
    fail,
    memory_app,
    setup,
)

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="memcast: forecasting with neural long-term memory."
)
app.add_typer(memory_app, name="memory")
app.add_typer(data_app, name="data")


@app.command()
def version() -> None:
    """Print memcast's version."""
    typer.echo(__version__)


# ---------------------------------------------------------------------------------------- tasks

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "experiments" / "demo.yaml"
SET_HELP = "Override a config field, e.g. --set trainer.max_epochs=3 (repeatable)."
MODEL_HELP = "An MLflow run id or a checkpoint file."
URI_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)."


def _user_errors():
    """The error types that are the user's to fix: reported in one line, exit status 2."""
    from app.experiments import ConfigError
    from app.forecasting import ForecastError
    from app.memory import MemoryDiverged
    from app.tracking import TrackingError
    from pipelines.errors import InputError

    return (ConfigError, ForecastError, InputError, TrackingError, MemoryDiverged)


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        fail(f"{path}: no such {what} file")


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    overrides: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    verbose: Verbose = False,
    threads: Threads = None,
    cache_dir: CacheDir = None,
) -> None:
    """Train the config's task (`task:` forecast, the default; genome-lm; genome-classify) as an MLflow
    run: params, config, per-epoch metrics, checkpoint (forecasting adds a plot and a pyfunc model)."""
    setup(verbose, threads, cache_dir)
    _require_file(config, "config")
    overrides = [*(overrides or []), *([f"trainer.threads={threads}"] if threads else [])]
    experiment = experiment_config(config, overrides)
    try:
        from app import tasks

        result = tasks.train(experiment)
    except _user_errors() as err:
        fail(str(err))
    if experiment.task == "forecast":
        from app.forecasting import format_table

        typer.echo(format_table(result.rows, "Test part, standard protocol (scaled values):"))
    else:
        from app.tracking import row_metrics

        for row in result.rows:
            for name, value in sorted(row_metrics(row, "test").items()):
                typer.echo(f"{name}: {value:.4f}")
    typer.echo(f"checkpoint: {result.checkpoint}")
    typer.echo(f"MLflow run: {result.run_id}")


@app.command("forecast")
def forecast_command(
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    input_path: Annotated[Path | None, typer.Option("--input", help="The series to continue.")] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Where unique_id, ds, yhat go (.csv / .parquet); genomes: FASTA."),
    ] = None,
    horizon: Annotated[int | None, typer.Option("--horizon", help="Steps (default: all).")] = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=URI_HELP)] = None,
    genome: Annotated[
        str | None, typer.Option("--genome", help="A FASTA (or named genome) to continue.")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="With --genome: record or record:start-end (1-based).")
    ] = None,
    length: Annotated[int, typer.Option("--length", help="With --genome: bases to sample.")] = 100,
    temperature: Annotated[float, typer.Option("--temperature", help="With --genome: 0 = argmax.")] = 1.0,
    seed: Annotated[int | None, typer.Option("--seed", help="With --genome: the sampling seed.")] = None,
    verbose: Verbose = False,
    threads: Threads = None,
    cache_dir: CacheDir = None,
) -> None:
    """Forecast the steps after the end of a series; the memory first reads all of it. With --genome,
    continue a region of a genome by sampling --length bases (FASTA on stdout or in --output)."""
    from app import checks

    setup(verbose, threads, cache_dir)
    if genome is not None:
        if region is None:
            fail("--genome needs --region, e.g. --region chr1:1-1000 (1-based, inclusive)")
        if output is not None and not output.parent.is_dir():
            fail(f"{output}: the output folder does not exist")
        if length < 1:
            fail(f"--length {length}: expected at least 1 base")
        check(checks.genome_region, genome, region)
        check(checks.model_reference, model)
        try:
            from app.genomics import sample_tracked

            sampling = {"length": length, "temperature": temperature, "seed": seed, "output": output}
            fasta = sample_tracked(model, genome, region, **sampling, tracking_uri=tracking_uri)
        except _user_errors() as err:
            fail(str(err))
        typer.echo(fasta.rstrip("\n") if output is None else f"wrote {length} sampled bases to {output}")
        return
    check(checks.model_reference, model)
    if input_path is None or output is None:
        fail("forecast needs --input and --output (or --genome and --region for a genome model)")
    _require_file(input_path, "input")
    if not output.parent.is_dir():
        fail(f"{output}: the output folder does not exist")
    if horizon is not None and horizon < 1:
        fail(f"--horizon {horizon}: expected at least 1 step")
    try:
        from app.forecasting import forecast_tracked

        frame = forecast_tracked(model, input_path, output, horizon, tracking_uri)
    except _user_errors() as err:
        fail(str(err))
    typer.echo(f"wrote {len(frame)} rows (unique_id, ds, yhat) to {output}")


@app.command()
def evaluate(
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    data: Annotated[
        str | None, typer.Option("--data", help="The series or genome (a file or a named data set).")
    ] = None,
    online: Annotated[bool, typer.Option("--online", help="Also the prequential protocol.")] = False,
    horizons: Annotated[str | None, typer.Option("--horizons", help="Comma-separated, e.g. 24,48.")] = None,
    step: Annotated[int | None, typer.Option("--step", help="Rows revealed per prequential step.")] = None,
    plot_dir: Annotated[Path, typer.Option("--plot-dir", help="PNG plot folder.")] = Path("runs/evaluate"),
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=URI_HELP)] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Genomes: a whole record in one streaming pass, memory carried.")
    ] = False,
    record: Annotated[
        str | None,
        typer.Option("--record", help="With --stream: the record, by name or accession (default: first)."),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Genome LMs: run only these parts (repeatable or comma-separated): windows, "
            "updates-off, held-out, markov, stream (a whole record; implies --stream).",
        ),
    ] = None,
    verbose: Verbose = False,
    threads: Threads = None,
    cache_dir: CacheDir = None,
) -> None:
    """Forecasters: MSE / MAE per horizon on the test part (scaled values) for the model and the
    baselines. Genome LMs: bits per base on the held-out part of every record (default data: the
    training genome) against the Markov baseline; --stream adds a whole record in one pass, bits per
    base by position, and a PNG plot logged to MLflow; --only picks the parts to run."""
    from app import checks

    setup(verbose, threads, cache_dir)
    check(checks.model_reference, model)
    parts = check(checks.genome_parts, only)
    if data is not None:
        check(checks.data_source, data)
        if record is not None and check(checks.is_genome_file, data):
            check(checks.genome_record, data, record)
    try:
        wanted = [int(h) for h in horizons.split(",")] if horizons else None
    except ValueError:
        fail(f"--horizons {horizons!r}: expected comma-separated integers, e.g. 24,48")
    try:
        from app.tasks import is_genome_model

        genome_model = is_genome_model(model, tracking_uri)
    except _user_errors() as err:
        fail(str(err))
    if genome_model:
        _evaluate_genome(model, data, stream, record, plot_dir, tracking_uri, parts)
        return
    if data is None:
        fail("evaluate needs --data for a forecaster")
    if parts is not None:
        fail("--only is for genome language models; a forecaster's evaluation has no parts to pick")
    try:
        from app.forecasting import evaluate_tracked, format_table

        report = evaluate_tracked(
            model,
            data,
            online=online,
            horizons=wanted,
            step=step,
            plot_dir=plot_dir,
            tracking_uri=tracking_uri,
        )
    except _user_errors() as err:
        fail(str(err))
    typer.echo(format_table(report.rows, "Standard protocol (test part, scaled values):"))
    if online:
        typer.echo("")
        typer.echo(format_table(report.online_rows, "Prequential protocol (adapting vs frozen memory):"))
    typer.echo(f"plot: {report.plot}")


def _evaluate_genome(model, data, stream, record, plot_dir, tracking_uri, parts) -> None:
    try:
        from app.genomics import evaluate_tracked, format_genome_table

        where = {"plot_dir": plot_dir, "tracking_uri": tracking_uri}
        report = evaluate_tracked(model, data, stream=stream, record=record, only=parts, **where)
    except _user_errors() as err:
        fail(str(err))
    if report.rows:
        typer.echo(format_genome_table(report.rows, "Bits per base on the held-out part (test):"))
    streamed = report.stream
    if streamed is not None:
        if report.rows:
            typer.echo("")
        typer.echo(
            f"stream {streamed.record} ({streamed.length} bases, one pass, memory carried): "
            f"{streamed.bits_per_base:.4f} bits/base overall, {streamed.held_out_bits_per_base:.4f} on the "
            f"held-out part (from base {streamed.test_start + 1}), {streamed.tokens_per_second:,.0f} bases/s"
        )
        typer.echo(f"plot: {streamed.plot}")


@app.command()
def classify(
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    input_path: Annotated[
        str, typer.Option("--input", help="A FASTA (one sequence per record) or a GenomicsBenchmarks folder.")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", help="CSV of the labels (default: stdout).")
    ] = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=URI_HELP)] = None,
    verbose: Verbose = False,
    threads: Threads = None,
    cache_dir: CacheDir = None,
) -> None:
    """Label sequences with a genome classifier; for a labelled folder, also the accuracy per split."""
    from app import checks

    setup(verbose, threads, cache_dir)
    check(checks.model_reference, model)
    check(checks.data_source, input_path)
    if output is not None and not output.parent.is_dir():
        fail(f"{output}: the output folder does not exist")
    try:
        from app.genomics import classify_tracked

        result = classify_tracked(model, input_path, output, tracking_uri)
    except _user_errors() as err:
        fail(str(err))
    if output is None:
        typer.echo(result.csv.rstrip("\n"))
    else:
        typer.echo(f"wrote {len(result.rows)} labels to {output}")
    for split, value in result.accuracy.items():
        count = sum(r["split"] == split for r in result.rows)
        typer.echo(f"{split} accuracy: {value:.4f} ({count} sequences)")


@app.command()
def demo(
    config: Annotated[Path, typer.Option("--config", help="The demo's experiment config.")] = DEMO_CONFIG,
    overrides: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    verbose: Verbose = False,
    threads: Threads = None,
) -> None:
    """The main job: train a small Titans forecaster on the bundled data, evaluate it against the
    baselines, write a forecast and plots, log everything to MLflow, print the results."""
    setup(verbose, threads)
    _require_file(config, "config")
    overrides = [*(overrides or []), *([f"trainer.threads={threads}"] if threads else [])]
    experiment = experiment_config(config, overrides)
    try:
        from app.forecasting.demo import run_demo, with_bundled_data

        run_demo(with_bundled_data(experiment), echo=typer.echo)
    except _user_errors() as err:
        fail(str(err))


# ------------------------------------------------------------ tuning and the dashboard (cli_tune.py)

from app import cli_tune  # noqa: E402 (the commands after the others, in --help too)

app.command("tune")(cli_tune.tune)
app.command("ui")(cli_tune.ui)

if __name__ == "__main__":
    app()
