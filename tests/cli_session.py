"""Run `memcast` commands one after another in one fresh interpreter, as a user's shell would run
them (the real entry point, real stdout and stderr), and record what a test needs to judge them:

    python -m tests.cli_session SPEC.json     (with the repository on PYTHONPATH)

SPEC: {"commands": [[arg, ...], ...], "watch": [path, ...], "report": path}. Before each command a
marker line `@@@ step N @@@` goes to stdout and to stderr, so a test can split the output per
command. The report (JSON) holds, per step: the exit status, whether torch had been imported by the
end of the step, torch's thread count then, and every `open` of a watched path (an audit hook sees
every file Python opens, torch.load's included), in order. An argument "{run:FOLDER}" is replaced by
the name of the newest run folder in FOLDER (a training run's MLflow run id).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

spec = json.loads(Path(sys.argv[1]).read_text())
watched = {os.path.realpath(p) for p in spec.get("watch", [])}
steps: list[dict] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and steps and isinstance(args[0], str | bytes | os.PathLike):
        path = os.path.realpath(os.fsdecode(args[0]))
        if path in watched:
            steps[-1]["opened"].append(path)


def _resolve(arg: str) -> str:
    if arg.startswith("{run:") and arg.endswith("}"):
        folders = [p for p in Path(arg[5:-1]).iterdir() if p.is_dir()]
        return max(folders, key=lambda p: p.stat().st_mtime).name
    return arg


sys.addaudithook(_audit)
from app.cli import app  # noqa: E402 (after the hook, so it sees every open)

for index, command in enumerate(spec["commands"]):
    steps.append({"opened": []})
    for stream in (sys.stdout, sys.stderr):
        print(f"@@@ step {index} @@@", file=stream, flush=True)
    try:
        status = app([_resolve(a) for a in command], standalone_mode=False)
        status = status if isinstance(status, int) else 0
    except click.exceptions.Exit as done:
        status = done.exit_code
    except click.ClickException as error:
        error.show()
        status = error.exit_code
    sys.stdout.flush()
    sys.stderr.flush()
    torch = sys.modules.get("torch")
    steps[-1].update(
        status=status, torch=torch is not None, threads=torch.get_num_threads() if torch else None
    )

Path(spec["report"]).write_text(json.dumps(steps))
