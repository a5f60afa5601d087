"""`memcast tune` and `memcast ui` (registered on the main app by app/cli.py): they parse, call
app.tuning / app.dashboard and print; bad input is one line and exit status 2. As in cli.py, each
command imports what it runs inside itself."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli_data import experiment_config, fail

PRUNERS = ("median", "hyperband", "none")


def tune(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML) of any task.")],
    space: Annotated[
        Path | None, typer.Option("--space", help="Search space YAML (default: configs/tuning/<task>.yaml).")
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option("--trials", min=1, help="Finished trials the study should hold (default: the space's)."),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Study name; an existing one is resumed (default: a new one)."),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="An Optuna RDB URL or journal:FILE (default: $OPTUNA_STORAGE, else sqlite:///optuna.db).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes on this machine.")] = 1,
    pruner: Annotated[
        str | None, typer.Option("--pruner", help="median, hyperband or none (default: the space's).")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config field for every trial (repeatable).")
    ] = None,
    register: Annotated[
        str | None, typer.Option("--register", help="Register the best model under this MLflow name.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="The best config YAML (default: <output_dir>/tune/<study>/best.yaml)."),
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: as every command).")
    ] = None,
) -> None:
    """An Optuna study over CONFIG: one nested MLflow run per trial under the study's parent run,
    pruning on the validation metric, one line per finished trial; at the end the best config as a
    YAML that `memcast train` takes, and (--register) the best model in the MLflow registry."""
    if not config.is_file():
        fail(f"{config}: no such config file")
    if pruner is not None and pruner not in PRUNERS:
        fail(f"--pruner {pruner!r}: expected one of {', '.join(PRUNERS)}")
    experiment_config(config, overrides or [])  # a bad field fails before Optuna and torch load
    try:
        from app.tuning import USER_ERRORS, TuneOptions
        from app.tuning import tune as run_tune

        options = TuneOptions(
            config=config,
            space=space,
            overrides=overrides or [],
            trials=trials,
            study=study,
            storage=storage,
            workers=workers,
            pruner=pruner,
            register=register,
            output=output,
            tracking_uri=tracking_uri,
        )
        result = run_tune(options, echo=typer.echo)
    except USER_ERRORS as err:
        fail(str(err))
    typer.echo(f"best trial {result.best_trial}: {result.best_value:.4f}")
    for name, value in result.best_params.items():
        typer.echo(f"  {name}: {value}")
    typer.echo("trials: " + ", ".join(f"{count} {state}" for state, count in sorted(result.counts.items())))
    typer.echo(f"best config: {result.best_config} (memcast train {result.best_config})")
    typer.echo(f"MLflow parent run: {result.parent_run_id}")
    if result.registered is not None:
        typer.echo(f"registered: {register} version {result.registered}")


def ui(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The MLflow UI's port.")] = 5000,
    tracking_uri: Annotated[
        str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: as every command).")
    ] = None,
    optuna: Annotated[
        bool,
        typer.Option("--optuna", help="Also optuna-dashboard on the study storage (memcast[dashboard])."),
    ] = False,
    optuna_port: Annotated[int, typer.Option("--optuna-port", min=1, max=65535)] = 8080,
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="With --optuna: the study storage (default: as memcast tune)."),
    ] = None,
) -> None:
    """The MLflow UI on the project's tracking store, on 127.0.0.1; --optuna adds optuna-dashboard.
    Prints the URLs; Ctrl-C stops the servers."""
    from app.dashboard import DashboardError, start_servers, wait
    from app.tracking import TrackingError

    try:
        study_storage = None
        if optuna:
            from app.tuning.storage import resolve_storage

            study_storage = resolve_storage(storage)
        servers = start_servers(tracking_uri, port, study_storage, optuna_port)
    except (DashboardError, TrackingError) as err:
        fail(str(err))
    for server in servers:
        typer.echo(f"{server.name}: {server.url}  (log: {server.log})")
    typer.echo("Ctrl-C stops the servers.")
    try:
        wait(servers)
    except KeyboardInterrupt:
        typer.echo("stopped")
    except DashboardError as err:
        fail(str(err))
