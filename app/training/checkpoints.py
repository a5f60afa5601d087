"""Finding and reading checkpoints: a file, or the checkpoint an MLflow run logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from app.tracking import run_artifact
from pipelines.errors import InputError


def resolve_checkpoint(reference: str | Path, tracking_uri: str | None = None) -> Path:
    """The checkpoint file of `reference`: a checkpoint path, or an MLflow run id (its logged
    checkpoint, best.ckpt when there)."""
    path = Path(reference)
    if path.suffix == ".ckpt" or path.exists():
        if not path.is_file():
            raise InputError("no such checkpoint file", path=path)
        return path
    try:
        folder = run_artifact(str(reference), "checkpoints", tracking_uri)
    except Exception as error:  # MLflow raises several types for an unknown run
        first = " ".join(str(error).split())[:200]
        raise InputError(
            f"not a checkpoint file nor a run with a logged checkpoint ({first})", path=str(reference)
        ) from None
    checkpoints = sorted(folder.glob("*.ckpt"))
    if not checkpoints:
        raise InputError("the run logged no checkpoint", path=str(reference))
    best = [c for c in checkpoints if c.stem == "best"]
    return (best or checkpoints)[0]


def hyper_parameters(path: str | Path) -> dict[str, Any]:
    """The hyper-parameters a checkpoint file was saved with (what rebuilds its module)."""
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
    return dict(checkpoint.get("hyper_parameters", {}))
