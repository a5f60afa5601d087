"""The `memcast` command (typer). It exposes only what works."""

from __future__ import annotations

import typer

from app import __version__

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="memcast: forecasting with neural long-term memory."
)
memory_app = typer.Typer(no_args_is_help=True, help="The associative-memory engine.")
app.add_typer(memory_app, name="memory")


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


if __name__ == "__main__":
    app()
