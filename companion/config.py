"""Settings shared by the whole companion: fast mode, seeding, the data cache.

Fast mode (``COMPANION_FAST=1``) is what the test suite sets when it executes the notebooks:
every cell still runs, but training loops, dataset sizes and sweeps shrink. Use
:func:`scaled` to pick a size for both modes in one expression.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

FAST: bool = os.environ.get("COMPANION_FAST", "0").strip().lower() in {"1", "true", "yes", "on"}

#: Repository root when running from a checkout; the data cache lives in ``<root>/data``.
PACKAGE_DIR = Path(__file__).resolve().parent
_ROOT = PACKAGE_DIR.parent


def data_dir() -> Path:
    """The cache folder for fetched and generated assets (``COMPANION_DATA`` overrides it)."""
    env = os.environ.get("COMPANION_DATA")
    path = Path(env).expanduser() if env else _ROOT / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def scaled(full, fast):
    """``fast`` in fast mode, ``full`` otherwise: ``epochs = scaled(20, 2)``."""
    return fast if FAST else full


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch, and ask PyTorch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
