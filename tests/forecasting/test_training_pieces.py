"""The optimiser schedule, the experiment config and its overrides, precision and tracking checks."""

from __future__ import annotations

import math

import pytest
import torch

from app.forecasting import ExperimentConfig
from app.forecasting.module import ForecastModule, masked_loss
from app.tracking import TrackingError, check_tracking, resolve_tracking_uri
from app.training import ConfigError, load_config, resolve_precision, warmup_cosine
from app.training.optim import param_groups, warmup_steps

from .conftest import DEMO


def test_warmup_then_cosine_schedule():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=1.0)
    schedule = warmup_cosine(optimizer, total_steps=14, warmup=4, warmup_start=0.2, min_lr_ratio=0.1)
    lrs = []
    for _ in range(16):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    for step in range(4, 15):  # cosine from 1.0 down to 0.1 over the remaining 10 steps
        expected = 0.1 + 0.9 * (1 + math.cos(math.pi * (step - 4) / 10)) / 2
        assert lrs[step] == pytest.approx(expected)
    assert warmup_steps(0.1, 200) == 20 and warmup_steps(7, 200) == 7


def test_matrices_decay_vectors_do_not():
    groups = param_groups(torch.nn.Linear(3, 2), 0.5)
    assert [(len(g["params"]), g["weight_decay"]) for g in groups] == [(1, 0.5), (1, 0.0)]


def test_demo_config_loads_and_overrides_apply():
    config = load_config(
        ExperimentConfig, DEMO, ["trainer.max_epochs=3", "model.backbone.d_model=64", "data.covariates=[]"]
    )
    assert config.trainer.max_epochs == 3
    assert config.model.backbone_config().d_model == 64
    assert config.data.covariates == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.lookbak=96"], "demo.yaml: model.lookbak: unknown field"),
        (["trainer.max_epochs=zero"], "demo.yaml: trainer.max_epochs: "),
        (["model.preset=titanz"], "model.preset: unknown preset 'titanz'"),
        (["model.backbone.heads=3"], "model: backbone: d_model: 32 is not divisible by heads=3"),
        (["model.patch_len=200"], "patch_len: 200 is longer than lookback=96"),
        (["model.loss=rmse"], "model.loss: "),
        (["trainer.max_epochs.x=1"], "trainer.max_epochs is a value, not a section"),
        (["novalue"], "expected key=value"),
    ],
)
def test_config_errors_are_one_line_and_name_the_field(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_config(ExperimentConfig, DEMO, overrides)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_field_in_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(DEMO.read_text() + "\nsurprise: 1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: surprise: unknown field"):
        load_config(ExperimentConfig, path)


def test_precision_is_bf16_only_where_supported():
    expected = "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32-true"
    assert resolve_precision("auto") == expected
    assert resolve_precision("auto", "cpu") == "32-true"
    assert resolve_precision("16-mixed") == "16-mixed"


def test_tracking_uri_resolution(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://example:5000")
    assert resolve_tracking_uri() == "http://example:5000"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_unreachable_tracking_is_a_clear_error_at_once(tmp_path):
    with pytest.raises(TrackingError, match="tracking server http://127.0.0.1:9 is unreachable"):
        check_tracking("http://127.0.0.1:9", timeout=2)
    with pytest.raises(TrackingError, match="does not exist"):
        check_tracking(f"sqlite:///{tmp_path}/missing/mlflow.db")
    check_tracking(f"sqlite:///{tmp_path}/mlflow.db")


@pytest.mark.parametrize(
    ("kind", "reference"),
    [
        ("mse", torch.nn.functional.mse_loss),
        ("mae", torch.nn.functional.l1_loss),
        ("huber", torch.nn.functional.huber_loss),
    ],
)
def test_training_losses_match_torch_on_the_observed_cells(kind, reference):
    generator = torch.Generator().manual_seed(3)
    yhat, y = torch.randn(4, 12, 2, generator=generator) * 2, torch.randn(4, 12, 2, generator=generator)
    mask = torch.rand(4, 12, 2, generator=generator) > 0.3
    assert masked_loss(kind, yhat, y, None).item() == pytest.approx(reference(yhat, y).item())
    assert masked_loss(kind, yhat, y, mask).item() == pytest.approx(reference(yhat[mask], y[mask]).item())


def test_an_unknown_training_loss_is_refused():
    config = {"lookback": 8, "horizon": 4, "n_targets": 1}
    with pytest.raises(ValueError, match="loss: unknown 'rmse'"):
        ForecastModule("dlinear", config, loss="rmse")
    assert ForecastModule("dlinear", config, loss="mae").hparams.loss == "mae"


def test_every_forecast_head_field_is_settable_from_yaml():
    from app.forecasting.config import ModelSection
    from app.forecasting.train import net_config
    from app.models.forecaster import ForecastHead

    assert set(ForecastHead.model_fields) <= set(ModelSection.model_fields)
    config = load_config(ExperimentConfig, DEMO, ["model.revin_affine=false", "model.dropout=0.1"])
    series = type("Series", (), {"n_targets": 1, "covariates": []})()
    kind, net = net_config(config, series)
    assert kind == "forecaster" and net["revin_affine"] is False and net["dropout"] == 0.1
    module = ForecastModule(kind, net)
    assert module.net.revin is not None and not module.net.revin.affine


def test_result_rows_are_named_by_one_scheme():
    from app.tracking import row_metrics

    forecast = {"model": "demo", "horizon": 48, "mse": 0.5, "mae": 0.25, "windows": 7}
    assert row_metrics(forecast, "test") == {"test_mse_h48": 0.5, "test_mae_h48": 0.25}
    genome = {"model": "markov (order 3, chosen on val)", "bits_per_base": 1.9, "bases": 1000}
    assert row_metrics(genome, "test") == {"test_bits_per_base": 1.9}
