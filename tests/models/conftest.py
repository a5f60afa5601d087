"""Fixtures for the model tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Run each test on one thread, then restore the count.

    The tiny models do thousands of small ops; on a busy machine every multi-threaded op waits for its
    worker threads to be scheduled, which made these tests a hundred times slower than on one thread.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
