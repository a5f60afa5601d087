"""The `memcast` command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_memory_presets_lists_every_preset_with_its_choices():
    result = run_cli("memory", "presets")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:]}
    assert rows["titans"] == ["mlp", "l2", "decay", "momentum", "theta,eta,alpha"]
    assert rows["moneta"][:3] == ["mlp", "lp(3)", "lq(4)"]
    assert rows["deltanet"][:4] == ["linear", "l2", "none", "gd"]
    assert len(rows) == 7


def test_unknown_command_fails_cleanly():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
