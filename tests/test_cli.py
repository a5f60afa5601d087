"""The `memcast` command, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


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


def test_data_list_names_the_real_data_sets():
    result = run_cli("data", "list")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:3] for line in result.stdout.splitlines()[1:]}
    assert rows["vic-elec"] == ["series", "yes"]
    assert rows["pyrodigal-nctc11397"] == ["genome", "yes"]


def test_data_inspect_series_sample():
    result = run_cli("data", "inspect", str(SAMPLES / "vic_elec_sample.csv"))
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert lines["rows"] == "2,688"  # eight weeks of half-hours: 8 * 7 * 48
    assert lines["frequency"] == "30m"
    assert lines["channels"] == "2: demand, temperature"
    assert lines["gaps"].startswith("0 ")


def test_data_inspect_fasta_sample():
    result = run_cli("data", "inspect", str(SAMPLES / "pyrodigal_50kb.fa"), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["total_bases"] == 50_000
    assert 0.4 < info["gc_fraction"] < 0.65


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.csv", None, "missing.csv: no such file"),
        ("ragged.csv", "ts,a,b\n2020-01-01,1,2\n2020-01-02,3,4,5\n", "ragged.csv: line 3"),
        ("headerless.fa", "ACGT\nACGT\n", "headerless.fa: line 1"),
    ],
)
def test_data_inspect_bad_input_is_one_line_and_status_2(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = run_cli("data", "inspect", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert expected in result.stderr
