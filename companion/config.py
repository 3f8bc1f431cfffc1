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


#: ``mallopt`` parameters of glibc (``malloc.h``)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_kept: bool | None = None


def keep_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Let this process keep the memory its big tensors free, instead of handing it back to the
    operating system after every layer (glibc on Linux; elsewhere a no-op returning False).

    By default glibc serves a request over 32 MB with a fresh ``mmap`` and unmaps it when it is
    freed; in other threads a whole private heap is dropped once it is empty. A CNN forward pass
    allocates and frees the same few large activations every frame, so the kernel zeroes and maps
    them in again every time: measured on the lab's detector (the street clip, 795 frames,
    detected in a second thread), 3.9 million page faults and 15 s of system time, against
    0.1 million and 3.5 s with this setting, the same numbers out. It raises the thresholds for giving memory back to
    ``limit_bytes`` and has every thread share the main heap (so the first rule holds there too).
    Set once, for the whole process; calling it again does nothing. ``COMPANION_KEEP_FREED_MEMORY=0``
    in the environment leaves glibc's defaults alone.
    """
    global _kept
    if _kept is not None:
        return _kept
    _kept = False
    if os.environ.get("COMPANION_KEEP_FREED_MEMORY", "1").strip().lower() in {"0", "false", "no", "off"}:
        return False
    import ctypes
    import platform
    import sys

    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        _kept = all(libc.mallopt(p, v) == 1 for p, v in
                    ((_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, int(limit_bytes)),
                     (_M_TRIM_THRESHOLD, int(limit_bytes))))
    except (OSError, AttributeError):
        _kept = False
    return _kept
