"""DDP through Lightning's own strategy: 2 CPU processes, gloo backend, gradients kept in sync."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from app.forecasting import build_datamodule, build_module
from app.training import TrainerConfig, build_trainer

from .conftest import tiny_config


class RecordRank(Callback):
    """Each process writes its rank, world size, backend, the rows it trained on and a hash of its
    final weights (the parent cannot see the spawned processes' state otherwise)."""

    def __init__(self, folder: str):
        self.folder = folder
        self.rows: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.rows += batch["index"].tolist()

    def on_train_end(self, trainer, pl_module):
        weights = torch.cat([p.detach().flatten() for p in pl_module.parameters()])
        record = {
            "rank": trainer.global_rank,
            "world": trainer.world_size,
            "backend": torch.distributed.get_backend(),
            "rows": self.rows,
            "weights": hashlib.sha256(weights.numpy().tobytes()).hexdigest(),
        }
        (Path(self.folder) / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


def test_two_cpu_processes_with_gloo(slice_csv, tmp_path):
    config = tiny_config(slice_csv, tmp_path, None, "trainer.limit_train_batches=2")
    datamodule = build_datamodule(config)
    module = build_module(config, datamodule)
    ddp = TrainerConfig(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        progress_bar=False,
        patience=0,
    )
    trainer = build_trainer(ddp, output_dir=tmp_path, callbacks=[RecordRank(str(tmp_path))])
    trainer.fit(module, datamodule=datamodule)
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in records] == [0, 1]
    assert all(r["world"] == 2 and r["backend"] == "gloo" for r in records)
    assert not set(records[0]["rows"]) & set(records[1]["rows"])  # each process its own windows
    assert records[0]["weights"] == records[1]["weights"]  # synchronised gradients, identical steps
    assert Path(trainer.checkpoint_callback.best_model_path).is_file()
