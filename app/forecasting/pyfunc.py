"""The trained forecaster as an MLflow pyfunc model that forecasts from a DataFrame.

    log_pyfunc(checkpoint)                                # inside an active run: artifact "model"
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    model.predict(df)                                      # -> unique_id, ds, yhat (pandas)
    model.predict(df, params={"horizon": 24})

`df` is a series in the layout the model was trained on (wide: timestamp + channels; or long:
unique_id, ds, y); the model reads all of it and forecasts the steps after its end.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
import polars as pl
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import ParamSchema, ParamSpec

import app
import pipelines
from pipelines.streams import StreamSeries
from pipelines.streams.pipeline import OBSERVED

from .module import load_module
from .predict import forecast

ARTIFACT = "model"


class MemcastForecaster(mlflow.pyfunc.PythonModel):
    """Loads the checkpoint artifact once; `predict` calls `app.forecasting.forecast`."""

    def load_context(self, context):
        self.model = load_module(context.artifacts["checkpoint"])

    def predict(self, context, model_input, params=None):  # no type hints: MLflow would read them
        frame = pl.from_pandas(model_input) if isinstance(model_input, pd.DataFrame) else model_input
        horizon = (params or {}).get("horizon")
        return forecast(self.model, frame, None if horizon is None else int(horizon)).to_pandas()


def _requirements() -> list[str]:
    pins = []
    for name in ("torch", "lightning", "polars", "numpy", "pydantic", "pyyaml", "pandas", "mlflow"):
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return pins


def input_example(series: StreamSeries, rows: int) -> pl.DataFrame:
    """The last `rows` rows of the series as the model takes them: the timestamp (ISO text, as in a
    CSV file) and the channels."""
    frame = series.frame.drop(OBSERVED).tail(rows)
    time = frame.columns[0]
    return frame.with_columns(pl.col(time).dt.to_string("%Y-%m-%dT%H:%M:%S%:z"))


def log_pyfunc(
    checkpoint: str | Path, horizon: int, name: str = ARTIFACT, example: pl.DataFrame | None = None
) -> Any:
    """Log the checkpoint as a pyfunc model in the active run (memcast's code travels with it).
    `predict(df, params={"horizon": h})` takes h <= `horizon` (the default). With an `example` (see
    `input_example`), the model's signature (input columns and types, the unique_id / ds / yhat
    output, the horizon param) is inferred from it and its forecast, and it is the input example."""
    code = [str(Path(app.__file__).parent), str(Path(pipelines.__file__).parent)]
    params = {"horizon": horizon}
    signature = ModelSignature(inputs=None, params=ParamSchema([ParamSpec("horizon", "long", horizon)]))
    sample = None
    if example is not None:
        sample = example.to_pandas()
        output = forecast(load_module(str(checkpoint)), example).to_pandas()
        signature = infer_signature(sample, output, params=params)
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=MemcastForecaster(),
        artifacts={"checkpoint": str(checkpoint)},
        code_paths=code,
        pip_requirements=_requirements(),
        signature=signature,
        input_example=sample,
    )
