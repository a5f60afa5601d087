"""MLflow helpers: where runs go, a reachability check before any work, and what a run records.

    uri = checked_uri(config_uri)      # config > $MLFLOW_TRACKING_URI > sqlite:///mlflow.db (cwd), checked
    with start_run(uri, "memcast", "train") as run:
        log_config(config_dict)        # params (flattened) + config.yaml artifact
        log_rows(rows, "test", model="demo")

The task packages call these; this package imports nothing else of app. mlflow is imported inside
the functions that use it: it takes seconds to import, and resolving or checking a store needs none.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_URI_FILE = "mlflow.db"


class TrackingError(RuntimeError):
    """The tracking store cannot be used; the message is one line naming the URI and the problem."""


def resolve_uri(configured: str | None, variable: str, file: str) -> str:
    """`configured`, else $`variable`, else sqlite:///`file` in the working directory: how the
    MLflow store and the Optuna storage (app.tuning) are found."""
    if configured:
        return configured
    env = os.environ.get(variable)
    if env:
        return env
    return f"sqlite:///{(Path.cwd() / file).as_posix()}"


def resolve_tracking_uri(configured: str | None = None) -> str:
    """The config's URI, else $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory."""
    return resolve_uri(configured, "MLFLOW_TRACKING_URI", DEFAULT_URI_FILE)


def check_tracking(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any training, if runs cannot be recorded at `uri`.

    sqlite: the database's folder must exist and the file must open. file / plain paths: the folder
    must be creatable and writable. http(s): the server must answer its /health endpoint in `timeout`.
    """
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme == "sqlite":
        db = uri.split("sqlite:///", 1)[1] if uri.startswith("sqlite:///") else ""
        if not db or db == ":memory:":
            return
        folder = Path(db).parent
        if not folder.is_dir():
            raise TrackingError(f"tracking URI {uri}: folder {folder} does not exist")
        try:
            sqlite3.connect(db, timeout=timeout).close()
        except sqlite3.Error as error:
            raise TrackingError(f"tracking URI {uri}: cannot open the database: {error}") from None
        if not os.access(folder, os.W_OK) or (Path(db).exists() and not os.access(db, os.W_OK)):
            raise TrackingError(f"tracking URI {uri}: not writable")
    elif scheme in ("http", "https"):
        health = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(health, timeout=timeout) as response:  # noqa: S310 (user's URI)
                if response.status >= 400:
                    raise TrackingError(f"tracking server {uri} answered {response.status} on /health")
        except urllib.error.HTTPError as error:
            raise TrackingError(f"tracking server {uri} answered {error.code} on /health") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise TrackingError(f"tracking server {uri} is unreachable: {reason}") from None
    elif scheme in ("", "file"):
        folder = Path(parsed.path if scheme == "file" else uri)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TrackingError(f"tracking URI {uri}: cannot create {folder}: {error.strerror}") from None
        if not os.access(folder, os.W_OK):
            raise TrackingError(f"tracking URI {uri}: {folder} is not writable")


def checked_uri(configured: str | None = None) -> str:
    """`resolve_tracking_uri`, then `check_tracking` on it: the store every command starts with."""
    uri = resolve_tracking_uri(configured)
    check_tracking(uri)
    return uri


@contextlib.contextmanager
def start_run(
    uri: str,
    experiment: str,
    run_name: str,
    *,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
) -> Iterator[Any]:
    """An active MLflow run in `experiment` at `uri` (checked first), ended when the block exits.
    nested: a child of the active run. parent_run_id: a child of that run, from any process (a
    tuning trial in a worker)."""
    import mlflow

    if not nested:
        check_tracking(uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
    options = dict(run_name=run_name, nested=nested, parent_run_id=parent_run_id, tags=dict(tags or {}))
    with mlflow.start_run(**options) as run:
        yield run


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {"a.b.c": value}; lists become their string form."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, str | int | float | bool) or value is None else str(value)
    return out


def log_config(config: Mapping[str, Any], artifact: str = "config.yaml") -> None:
    """The resolved config as flattened params (values cut to MLflow's limit) and as a YAML artifact."""
    import mlflow

    params = {key: str(value)[:6000] for key, value in flatten(config).items()}
    mlflow.log_params(params)
    mlflow.log_dict(dict(config), artifact)


def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, run_id: str | None = None, uri: str | None = None
) -> None:
    """Finite metrics only (MLflow rejects NaN in some stores); run_id (with the store's uri) logs
    from any process, with no active run."""
    import mlflow

    if uri is not None:
        mlflow.set_tracking_uri(uri)

    clean = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
    if not clean:
        return
    if run_id is None:
        mlflow.log_metrics(clean, step=step)
    else:
        client = mlflow.MlflowClient()
        for key, value in clean.items():
            client.log_metric(run_id, key, value, step=step or 0)


def run_artifact(run_id: str, path: str, uri: str | None = None) -> Path:
    """Download one artifact of a run (e.g. its checkpoint) to a local temporary path."""
    import mlflow

    check_tracking(resolve_tracking_uri(uri))
    mlflow.set_tracking_uri(resolve_tracking_uri(uri))
    return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path))


def log_artifact(path: str | Path, folder: str) -> None:
    """A local file into the active run, under `folder`."""
    import mlflow

    mlflow.log_artifact(str(path), folder)


def row_metrics(row: Mapping[str, Any], split: str) -> dict[str, float]:
    """A result row's scores (its float fields) as metrics: `{split}_{score}`, plus `_h{horizon}`
    when the row has a horizon (`test_mse_h96`, `test_bits_per_base`); DESIGN.md, conventions."""
    suffix = f"_h{row['horizon']}" if "horizon" in row else ""
    return {f"{split}_{key}{suffix}": value for key, value in row.items() if isinstance(value, float)}


def log_rows(rows: Sequence[Mapping[str, Any]], split: str, *, model: str | None = None) -> None:
    """Log result rows (dicts with a "model" field) by `row_metrics`; the row's model is the `model`
    tag of the run holding them. Rows of `model` go into the active run; every other model's rows
    into a nested run of its own, named after it. A diverged row has no scores and is skipped."""
    import mlflow

    by_model: dict[str, dict[str, float]] = {}
    for row in rows:
        if "diverged" not in row:  # no score; the printed table and its note say why
            by_model.setdefault(str(row["model"]), {}).update(row_metrics(row, split))
    for name, metrics in by_model.items():
        if name == model:
            mlflow.set_tag("model", name)
            log_metrics(metrics)
        else:
            with mlflow.start_run(run_name=name, nested=True, tags={"model": name}):
                log_metrics(metrics)


def log_params(params: Mapping[str, Any]) -> None:
    """Params into the active run."""
    import mlflow

    mlflow.log_params(dict(params))


def log_text(text: str, path: str) -> None:
    """Text into the active run as the artifact `path`."""
    import mlflow

    mlflow.log_text(text, path)


def log_metric_curve(name: str, points: Sequence[tuple[int, float]]) -> None:
    """One metric at many steps of the active run (e.g. bits per base by position); NaN is skipped."""
    import mlflow

    client = mlflow.MlflowClient()
    run_id = mlflow.active_run().info.run_id
    for step, value in points:
        if math.isfinite(value):
            client.log_metric(run_id, name, float(value), step=int(step))


def log_dict(data: Mapping[str, Any], path: str) -> None:
    """A mapping into the active run as the artifact `path` (YAML or JSON by its suffix)."""
    import mlflow

    mlflow.log_dict(dict(data), path)


def log_input(source: str, name: str | None = None, *, frame: Any = None, context: str = "training") -> None:
    """The data set of the active run as an MLflow input: a polars `frame` (with its schema and
    profile) or, without one, the file or named data set `source` alone."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource

    path = Path(source)
    uri = path.resolve().as_posix() if path.exists() else str(source)
    name = name or (path.stem if path.exists() else str(source))
    if frame is not None:
        dataset = mlflow.data.from_polars(frame, source=LocalArtifactDatasetSource(uri), name=name)
    else:
        dataset = MetaDataset(LocalArtifactDatasetSource(uri), name=name)
    try:
        mlflow.log_input(dataset, context=context)
    except mlflow.exceptions.MlflowException:
        # Two processes logging the same data set at once (tuning workers) can both try to create
        # it: MLflow looks it up, then inserts, and one insert fails. The data set exists now.
        mlflow.log_input(dataset, context=context)
