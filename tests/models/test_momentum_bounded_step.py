"""`memory.momentum_bounded_step`: theta scaled by (1 - eta), streaming still equal to one pass, only
for momentum memories, and the untrained Titans MAC on 4-letter tokens that diverged without it."""

from __future__ import annotations

import pytest
import torch

from app.memory import MemorySpec, NeuralMemory
from app.models import BackboneConfig
from app.models.backbone import Backbone


def memory_pair() -> tuple[NeuralMemory, NeuralMemory]:
    """The same Titans memory weights, without and with the bounded step."""
    spec = MemorySpec.preset("titans", dim_key=8, dim_value=8, chunk_size=4)
    torch.manual_seed(0)
    plain = NeuralMemory(16, spec, heads=2, momentum_bounded_step=False).double()
    bounded = NeuralMemory(16, spec, heads=2, momentum_bounded_step=True).double()
    bounded.load_state_dict(plain.state_dict())
    return plain, bounded


def test_theta_is_scaled_by_one_minus_eta_and_nothing_else_changes():
    plain, bounded = memory_pair()
    x = torch.randn(3, 11, 16, dtype=torch.float64)
    before, after = plain.gates(x), bounded.gates(x)
    torch.testing.assert_close(after["theta"], before["theta"] * (1 - before["eta"]), rtol=1e-15, atol=0)
    for name in ("eta", "alpha"):
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0)
    assert not torch.allclose(bounded(x)[0], plain(x)[0])


def test_streaming_equals_one_pass_with_the_bounded_step():
    _, memory = memory_pair()
    x = torch.randn(2, 23, 16, dtype=torch.float64)
    whole, _ = memory(x)
    outputs, state = [], None
    for start, stop in ((0, 3), (3, 9), (9, 23)):
        y, state = memory(x[:, start:stop], state)
        outputs.append(y)
    torch.testing.assert_close(torch.cat(outputs, dim=1), whole, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("preset", ["moneta", "yaad", "memora"])
def test_only_a_momentum_memory_takes_it(preset):
    with pytest.raises(
        ValueError, match=f"memory.momentum_bounded_step: the '{preset}' memory has no momentum"
    ):
        BackboneConfig.preset(preset, d_model=16, memory={"momentum_bounded_step": True})


def mac_on_four_letters(seed: int, bounded: bool) -> torch.Tensor:
    """An untrained Titans MAC (d_model 32, 2 layers, chunk = segment = 16) over 512 tokens drawn from
    a 4-letter alphabet: the repeated keys of a chunk add their gradients in one direction."""
    torch.manual_seed(seed)
    # The papers' plain step otherwise (no normalised step, no renorm), which the bound is measured on.
    memory = {"chunk_size": 16, "momentum_bounded_step": bounded, "step_norm": "none", "renorm": False}
    config = BackboneConfig.preset("titans-mac", d_model=32, n_layers=2, segment=16, memory=memory)
    net, embed = Backbone(config).eval(), torch.nn.Embedding(4, 32)
    with torch.no_grad():
        return net(embed(torch.randint(0, 4, (4, 512))))[0]


def test_the_bounded_step_keeps_an_untrained_mac_finite_where_the_plain_one_diverges():
    with pytest.raises(ValueError, match="NaN or Inf"):
        mac_on_four_letters(0, bounded=False)
    for seed in range(3):
        assert torch.isfinite(mac_on_four_letters(seed, bounded=True)).all()
