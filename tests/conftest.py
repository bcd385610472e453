"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")


def _shared_data_dir() -> Path | None:
    env = os.environ.get("ASTROTORCH_SHARED_DATA")
    cand = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return cand if cand.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real survey data (../shared/data or $ASTROTORCH_SHARED_DATA); skips when absent."""
    path = _shared_data_dir()
    if path is None:
        pytest.skip("real survey data not found: set ASTROTORCH_SHARED_DATA or place it in ../shared/data")
    return path


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    # tests marked realdata skip cleanly on a fresh clone without the data
    if _shared_data_dir() is None:
        skip = pytest.mark.skip(reason="real survey data not found (../shared/data or $ASTROTORCH_SHARED_DATA)")
        for item in items:
            if "realdata" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a test module (``pytestmark = pytest.mark.usefixtures(...)``): on a shared,
    oversubscribed 2-core machine two OpenMP threads per process made light-curve training ~11x slower
    than one (42 s vs 481 s for the same fit, side by side; docs/results/lightcurves.md)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
