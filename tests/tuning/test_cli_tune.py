"""`memcast tune` as a user runs it: two worker processes on one journal storage, and bad search
spaces, each one line naming the field and exit status 2."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest

from app import tasks
from app.tuning import SpaceError, TuneOptions, check_space, load_space, tune

from .conftest import DEMO, LR, TRIAL, write_space


def run_tune(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "tune", str(DEMO), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_two_worker_processes_finish_distinct_trials(tmp_path, store, capfd):
    """--workers 2 (as the CLI passes it): two spawned processes on one journal storage."""
    space = write_space(tmp_path, LR, pruner="none")
    journal = tmp_path / "study.log"
    run = TuneOptions(
        config=DEMO,
        space=space,
        overrides=[*TRIAL, f"output_dir={store['output_dir']}"],
        trials=2,
        study="parallel",
        storage=f"journal:{journal}",
        workers=2,
        tracking_uri=store["tracking_uri"],
    )
    result = tune(run, echo=print)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name="parallel", storage=storage).trials
    assert sorted(t.number for t in trials) == [0, 1] and result.counts == {"complete": 2}
    assert len({t.user_attrs["worker"] for t in trials}) == 2, "each trial ran in its own process"
    assert trials[0].params != trials[1].params
    printed = capfd.readouterr().out.splitlines()
    assert {line.split("]")[0] for line in printed if "] trial " in line} == {"[worker 0", "[worker 1"}


BAD = [
    (
        {"model.lookbak": {"type": "int", "low": 48, "high": 96}},
        "params.model.lookbak: model.lookbak: unknown field",
    ),
    ({"model.preset": {"type": "categorical", "choices": []}}, "params.model.preset: choices: empty"),
    ({"optim.lr": {"type": "float", "low": 0.1, "high": 0.01}}, "params.optim.lr: low 0.1 > high 0.01"),
]


@pytest.mark.parametrize(("params", "message"), BAD, ids=["unknown field", "empty choice", "low > high"])
def test_a_bad_space_is_one_line_naming_the_field(tmp_path, params, message):
    path = write_space(tmp_path, params)
    with pytest.raises(SpaceError) as error:
        check_space(load_space(path), path, lambda extra: tasks.load_experiment(DEMO, extra))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert str(error.value).startswith(str(path))


def test_the_cli_gives_a_bad_space_exit_status_2(tmp_path):
    path = write_space(tmp_path, BAD[0][0])
    result = run_tune("--space", str(path), "--storage", f"sqlite:///{tmp_path / 'optuna.db'}", timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {path}: {BAD[0][1]} (value 48)"]
    assert not (tmp_path / "optuna.db").exists(), "nothing is created before the space is checked"


@pytest.mark.parametrize("config", sorted((DEMO.parent).glob("*.yaml")), ids=lambda p: p.stem)
def test_the_shipped_spaces_fit_the_shipped_configs(config):
    from app.tuning.study import default_space

    experiment = tasks.load_experiment(config)
    space = default_space(experiment)
    check_space(load_space(space), space, lambda extra: tasks.load_experiment(config, extra))
