"""Fixtures for every test under tests/: each starts from the same random state and thread count.

A test's outcome should not depend on the tests that ran before it (they draw from the global
random generators) nor on how many threads torch happens to use (the order of floating-point
sums, hence a short training run's numbers, changes with it). Tests that need other seeds set
them themselves; ``Trainer`` seeds from ``train.seed``.

``VID2VID_TEST_SEED`` and ``VID2VID_TEST_THREADS`` (default 0 and 1: one thread, as the root
conftest's ``OMP_NUM_THREADS=1``) run the suite under another seed or thread count, to check that
an assertion holds beyond the one run it was written on.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

SEED = int(os.environ.get("VID2VID_TEST_SEED", "0"))
THREADS = int(os.environ.get("VID2VID_TEST_THREADS", "1"))


@pytest.fixture(autouse=True)
def same_seed_and_threads():
    """Seed ``random``, numpy's and torch's global generators with ``SEED`` and run torch on
    ``THREADS`` intra-op threads; afterwards put back the thread count and the generators' states."""
    threads = torch.get_num_threads()
    # numpy's legacy global generator: the package uses seeded Generators, but libraries may not
    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()  # noqa: NPY002
    if threads != THREADS:
        torch.set_num_threads(THREADS)
    random.seed(SEED)
    np.random.seed(SEED)  # noqa: NPY002
    torch.manual_seed(SEED)  # the CPU generator and every CUDA device's
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    random.setstate(states[0])
    np.random.set_state(states[1])  # noqa: NPY002
    torch.random.set_rng_state(states[2])


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """Two 8-frame training videos and one test video of the synthetic dataset at 32 x 64 (seed 3),
    made once per test module: what the ``tiny`` preset trains on in a second or two."""
    from vid2vid.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("tiny_data")
    write_dataset(root, n_train=2, n_test=1, frames=8, height=32, width=64, seed=3, progress=False)
    return root


@pytest.fixture
def generate_fails_at_frame_3(monkeypatch):
    """Make ``vid2vid.inference.generate_frames`` yield three frames, then raise the DataError of an
    unreadable fourth input: a video write that fails halfway."""
    from vid2vid import inference
    from vid2vid.data.layout import DataError

    real_generate_frames = inference.generate_frames

    def fails_after_three(*args, **kwargs):
        for i, item in enumerate(real_generate_frames(*args, **kwargs)):
            if i == 3:
                raise DataError("frame 3: unreadable or truncated image")
            yield item

    monkeypatch.setattr(inference, "generate_frames", fails_after_three)
