"""The long-context benchmark trains in its phases and evaluates at multiples of the longest one."""

from __future__ import annotations

import pytest

from benchmarks.long_context import Setting, run_preset


def test_second_phase_sets_the_unit_of_the_evaluation_lengths():
    setting = Setting(
        preset="titans-lmm",
        d_model=16,
        n_layers=1,
        window=8,
        chunk=4,
        pairs=2,
        queries=2,
        train_length=32,
        steps=2,
        batch=2,
        long_length=48,
        long_steps=2,
        long_batch=1,
        multipliers=(1, 2),
        eval_sequences=2,
        piece=40,
    )
    assert setting.phases == [(32, 2, 2), (48, 2, 1)]
    out = run_preset(setting)
    assert [row["length"] for row in out["eval"]] == [48, 96]
    assert all(row["scored"] == 2 * setting.queries for row in out["eval"])
    # 2 x 2 x 32 + 2 x 1 x 48 tokens went through training
    assert out["train"]["tokens_per_s"] * out["train"]["seconds"] == pytest.approx(2 * 2 * 32 + 2 * 48)


def test_without_a_second_phase_the_training_length_is_the_unit():
    setting = Setting(preset="swa", train_length=64, steps=3, long_length=512)
    assert setting.phases == [(64, 3, 32)]
    assert setting.longest_trained == 64
