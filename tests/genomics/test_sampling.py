"""Sampling from the streamed state: the region read in pieces, then one token step per base."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.genomics.sample import continue_stream
from app.models import NucleotideLM

from .helpers import tiny_config


@pytest.mark.parametrize("name", ["titans-lmm", "titans-mag"])
def test_streamed_prefix_continues_as_one_pass_does(name):
    torch.manual_seed(0)
    net = NucleotideLM(tiny_config(name)).double().eval()
    prefix = np.random.default_rng(1).integers(0, 5, 53)  # pieces of 7 cross memory chunks of 4
    streamed = continue_stream(net, prefix, 25, temperature=0, piece=7)
    whole = net.generate(torch.from_numpy(prefix), 25, temperature=0)  # the prefix in one call
    assert streamed.tolist() == whole.tolist()
    again = continue_stream(net, prefix, 25, temperature=1.0, seed=3, piece=7)
    assert again.tolist() == continue_stream(net, prefix, 25, temperature=1.0, seed=3, piece=53).tolist()
    assert set(again.tolist()) <= {0, 1, 2, 3} and len(again) == 25
