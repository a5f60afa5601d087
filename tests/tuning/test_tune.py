"""`memcast tune` on the bundled sample: studies that resume, prune, write a config that trains, and
nest their trials' MLflow runs under one parent; real Optuna storages, a real MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import optuna
import polars as pl
import pytest
from optuna.trial import TrialState

from app import tasks
from app.tuning import TuneOptions, tune

from .conftest import DEMO, LR, SAMPLE, TRIAL, make_store, write_space


def options(store, space, **fields) -> TuneOptions:
    overrides = [*TRIAL, f"output_dir={store['output_dir']}"]
    return TuneOptions(
        config=DEMO,
        space=space,
        overrides=overrides,
        storage=store["storage"],
        tracking_uri=store["tracking_uri"],
        **fields,
    )


@pytest.fixture(scope="module")
def study_store(tmp_path_factory) -> dict[str, str]:
    return make_store(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def resumed(study_store):
    """A study of 4 trials, then the same study resumed to 6 (a conditional param included)."""
    store = study_store
    params = {
        **LR,
        "model.preset": {"type": "categorical", "choices": ["titans-lmm", "titans-mag"]},
        "model.backbone.memory.chunk_size": {
            "type": "categorical",
            "choices": [4, 8],
            "when": {"model.preset": ["titans-lmm"]},
        },
    }
    space = write_space(Path(store["output_dir"]).parent, params, pruner="none")
    lines: list[str] = []
    first = tune(options(store, space, study="resume", trials=4), echo=lines.append)
    second = tune(options(store, space, study="resume", trials=6), echo=lines.append)
    return first, second, lines


def test_a_study_resumes_to_six_trials_under_one_parent_run(resumed, study_store):
    store = study_store
    first, second, lines = resumed
    study = optuna.load_study(study_name="resume", storage=store["storage"])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    assert first.counts == {"complete": 4} and second.counts == {"complete": 6}
    assert second.parent_run_id == first.parent_run_id
    assert len([line for line in lines if line.startswith("trial ")]) == 6
    assert "trial 5 complete: value" in lines[-1] and "; best " in lines[-1] and lines[-1].endswith(" s")
    assert len({trial.params["optim.lr"] for trial in study.trials}) == 6, "the resumed run draws new values"
    # the conditional param is drawn only for titans-lmm
    for trial in study.trials:
        assert ("model.backbone.memory.chunk_size" in trial.params) == (
            trial.params["model.preset"] == "titans-lmm"
        )


def test_the_parent_run_holds_the_best_value_and_the_trials_are_nested(resumed, study_store):
    store = study_store
    _, result, _ = resumed
    client = mlflow.MlflowClient(store["tracking_uri"])
    parent = client.get_run(result.parent_run_id)
    assert parent.data.metrics["best_val_loss"] == pytest.approx(result.best_value)
    assert parent.data.tags["best_trial"] == str(result.best_trial)
    assert parent.data.tags["best.optim.lr"] == str(result.best_params["optim.lr"])
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/optimization_history.png" in artifacts
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(int(r.data.tags["optuna.trial"]) for r in children) == list(range(6))
    best = next(r for r in children if r.info.run_id == parent.data.tags["best_run_id"])
    assert min(m.value for m in client.get_metric_history(best.info.run_id, "val_loss")) == pytest.approx(
        result.best_value
    )
    assert {"task", "preset", "dataset"} <= set(best.data.tags)
    assert best.inputs.dataset_inputs, "the data set is logged as the run's input"


def test_the_best_config_trains_as_it_is(resumed):
    _, result, _ = resumed
    config = tasks.load_experiment(result.best_config)
    assert config.optim.lr == pytest.approx(result.best_params["optim.lr"])
    assert config.model.preset == result.best_params["model.preset"]
    trained = tasks.train(config, track=False)
    assert trained.checkpoint.is_file() and trained.rows


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """Two enqueued trials under Optuna's MedianPruner (through its Lightning callback): a learning
    rate that learns, then one too small to learn, worse than the first after one epoch. The trials
    log their models and the best is registered."""
    folder = tmp_path_factory.mktemp("prune")
    store = make_store(folder)
    space = write_space(folder, {"optim.lr": {"type": "float", "low": 1.0e-7, "high": 1.0e-2, "log": True}})
    study = optuna.create_study(study_name="prune", storage=store["storage"])
    study.enqueue_trial({"optim.lr": 1.0e-2})
    study.enqueue_trial({"optim.lr": 1.0e-7})
    lines: list[str] = []
    run = options(store, space, study="prune", trials=2, register="memcast-tiny")
    run.overrides.append("tracking.log_model=true")
    return store, tune(run, echo=lines.append), lines


def test_a_pruned_trial_is_pruned_in_the_study_and_in_mlflow(pruned):
    store, result, lines = pruned
    assert result.counts == {"complete": 1, "pruned": 1}
    assert [t.state for t in optuna.load_study(study_name="prune", storage=store["storage"]).trials] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
    ]
    assert lines[-1].startswith("trial 1 pruned: after 1 epoch(s)")
    client = mlflow.MlflowClient(store["tracking_uri"])
    pruned_run = client.search_runs(
        [client.get_run(result.parent_run_id).info.experiment_id], "tags.`optuna.trial` = '1'"
    )[0]
    assert pruned_run.data.tags["optuna.state"] == "PRUNED" and pruned_run.info.status == "KILLED"


def test_register_puts_the_best_model_in_the_registry(pruned):
    store, result, _ = pruned
    assert result.registered == "1" and result.best_trial == 0
    mlflow.set_tracking_uri(store["tracking_uri"])
    version = mlflow.MlflowClient().get_model_version("memcast-tiny", "1")
    assert version.tags["optuna.trial"] == "0"
    model = mlflow.pyfunc.load_model("models:/memcast-tiny/1")
    frame = pl.read_csv(SAMPLE).to_pandas()
    assert len(model.predict(frame, params={"horizon": 4})) == 4
