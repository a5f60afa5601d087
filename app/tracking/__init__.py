"""MLflow helpers: where runs go, a reachability check before any work, and what a run records.

    uri = resolve_tracking_uri(config_uri)      # config > $MLFLOW_TRACKING_URI > sqlite:///mlflow.db (cwd)
    check_tracking(uri)                         # TrackingError (one line) if the store cannot be used
    with start_run(uri, "memcast", "train") as run:
        log_config(config_dict)                 # params (flattened) + config.yaml artifact
        ...

Training, evaluation and the CLI call these; app.models never imports MLflow.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

DEFAULT_URI_FILE = "mlflow.db"


class TrackingError(RuntimeError):
    """The tracking store cannot be used; the message is one line naming the URI and the problem."""


def resolve_tracking_uri(configured: str | None = None) -> str:
    """The config's URI, else $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory."""
    if configured:
        return configured
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{(Path.cwd() / DEFAULT_URI_FILE).as_posix()}"


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
) -> Iterator[Any]:
    """An active MLflow run in `experiment` at `uri` (checked first), ended when the block exits."""
    import mlflow

    if not nested:
        check_tracking(uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name, nested=nested, tags=dict(tags or {})) as run:
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


def log_metrics(metrics: Mapping[str, float], step: int | None = None, run_id: str | None = None) -> None:
    """Finite metrics only (MLflow rejects NaN in some stores); run_id logs from any process."""
    import math

    import mlflow

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
