"""Shared test setup: fast mode, seeds, the NumPy-2 shim motmetrics 1.4 needs, and fixtures."""

import os

os.environ.setdefault("COMPANION_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest

# motmetrics 1.4.0 calls np.asfarray, removed in NumPy 2.
if not hasattr(np, "asfarray"):
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _seeded_single_thread():
    """Every test starts seeded and with one torch thread: on a busy 2-core machine (two pytest
    workers) a second intra-op thread only spins, making training-heavy tests up to 10x slower."""
    import torch

    from companion import seed_everything

    seed_everything(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def street_clip_path():
    """The real street clip, or a skip (never a silent pass) when it cannot be fetched."""
    from companion.data import street_clip
    from companion.errors import AssetUnavailableError

    try:
        return street_clip()
    except AssetUnavailableError as exc:
        pytest.skip(f"real street clip unavailable: {exc}")
