"""What a study leaves behind: its parent MLflow run (the trials are its children), the best config
as a YAML that `memcast train` takes as it is, Optuna's plots, and the best model registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from app.training import read_yaml

from .space import overrides

PARENT_ATTR = "mlflow_parent_run_id"


def _client(uri: str):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri)


def parent_run(study: optuna.Study, uri: str, experiment: str, params: dict[str, Any]) -> str:
    """The study's parent run: the one its user attrs name (a resumed study, a worker on another
    machine), else a new run in `experiment`, tagged and with the study's `params`."""
    from mlflow.exceptions import MlflowException

    client = _client(uri)
    existing = study.user_attrs.get(PARENT_ATTR)
    if existing:
        try:
            client.update_run(existing, status="RUNNING")
            return existing
        except MlflowException:
            pass  # not in this tracking store: start one here
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    tags = {"optuna.study": study.study_name, "kind": "tune"}
    run = client.create_run(experiment_id, run_name=f"tune {study.study_name}", tags=tags)
    for key, value in params.items():
        client.log_param(run.info.run_id, key, str(value))
    study.set_user_attr(PARENT_ATTR, run.info.run_id)
    return run.info.run_id


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials by state (complete, pruned, fail, running, waiting)."""
    out: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name.lower()] = out.get(trial.state.name.lower(), 0) + 1
    return out


def finished(study: optuna.Study) -> int:
    """Trials that count toward the study's target: complete or pruned."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def write_best_config(config: Path, user_overrides: list[str], best: Any, path: Path, study: str) -> Path:
    """The experiment config with the user's overrides and the best trial's values, as YAML."""
    data = read_yaml(config, [*user_overrides, *overrides(best.params)])
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# memcast tune: the best trial ({best.number}, value {best.value:.6g}) of study {study!r}\n"
        f"# over {config}; train it with: memcast train {path}\n"
    )
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path


def _plots(study: optuna.Study) -> dict[str, Any]:
    """Optuna's optimisation history and parameter importances (matplotlib figures); importances
    need two completed trials with different values."""
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as plots

    figures = {"optimization_history": plots.plot_optimization_history(study).figure}
    try:
        figures["param_importances"] = plots.plot_param_importances(study).figure
    except (ValueError, RuntimeError, ZeroDivisionError):
        pass  # too few completed trials, or no param varied
    return figures


def log_study(study: optuna.Study, run_id: str, uri: str, best_config: Path, metric: str) -> None:
    """Into the parent run: the best value (metric best_{metric}, step = finished trials), the best
    params (tags best.<field>, and best_params.yaml), the trial counts, the best config YAML and the
    plots; then the run is finished."""
    import matplotlib.pyplot as plt

    client = _client(uri)
    best = study.best_trial
    client.log_metric(run_id, f"best_{metric}", float(best.value), step=finished(study))
    client.set_tag(run_id, "best_trial", str(best.number))
    if best.user_attrs.get("mlflow_run_id"):
        client.set_tag(run_id, "best_run_id", best.user_attrs["mlflow_run_id"])
    for name, value in best.params.items():
        client.set_tag(run_id, f"best.{name}", str(value))
    for state, count in counts(study).items():
        client.set_tag(run_id, f"trials.{state}", str(count))
    client.log_dict(
        run_id, {"value": best.value, "trial": best.number, "params": best.params}, "best_params.yaml"
    )
    client.log_artifact(run_id, str(best_config), "best_config")
    for name, figure in _plots(study).items():
        client.log_figure(run_id, figure, f"plots/{name}.png")
        plt.close(figure)
    client.set_terminated(run_id, status="FINISHED")


def register_best(study: optuna.Study, uri: str, name: str) -> str:
    """Register the best trial's logged model as `name` in the MLflow registry; the version."""
    import mlflow

    best = study.best_trial
    run_id = best.user_attrs.get("mlflow_run_id")
    client = _client(uri)
    models = []
    if run_id:
        experiment = client.get_run(run_id).info.experiment_id
        models = client.search_logged_models([experiment], filter_string=f"source_run_id = '{run_id}'")
    if not models:
        raise ValueError(
            f"--register {name}: the best trial ({best.number}) logged no model "
            "(forecasting with tracking.log_model true logs one)"
        )
    mlflow.set_tracking_uri(uri)
    tags = {"optuna.study": study.study_name, "optuna.trial": str(best.number)}
    version = mlflow.register_model(f"models:/{models[0].model_id}", name, tags=tags)
    return str(version.version)
