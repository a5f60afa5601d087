"""What a training run records for the MLflow UI: the task / preset / dataset tags, the data set as
an input, a forecast plot, and a model with a signature and an input example."""

from __future__ import annotations

import mlflow
from mlflow.models import Model


def test_a_training_run_is_useful_in_the_dashboard(trained, slice_csv, tracking_uri):
    client = mlflow.MlflowClient(tracking_uri)
    run = client.get_run(trained.run_id)
    assert {k: run.data.tags[k] for k in ("task", "preset", "dataset", "model")} == {
        "task": "forecast",
        "preset": "titans-lmm",
        "dataset": str(slice_csv),
        "model": "demo",
    }
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.name == slice_csv.stem and '"num_rows": 1344' in dataset.dataset.profile
    assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")][0].endswith(".png")
    mlflow.set_tracking_uri(tracking_uri)
    info = Model.load(f"runs:/{trained.run_id}/model")
    assert info.signature.inputs.input_names() == ["timestamp", "demand", "temperature"]
    assert info.signature.outputs.input_names() == ["unique_id", "ds", "yhat"]
    assert info.signature.params.to_dict()[0]["name"] == "horizon"
    assert info.saved_input_example_info is not None
