"""Measuring helpers for benchmarks/ and the "where do I spend compute?" tables.

Time on a shared 2-core machine is noisy, so speed is always a *ratio* against a reference
measured in the same process, runs alternating, median of several repeats.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class SpeedComparison:
    name_a: str
    name_b: str
    median_a_s: float
    median_b_s: float

    @property
    def ratio(self) -> float:
        """time(a) / time(b): below 1 means ``a`` is faster."""
        return self.median_a_s / self.median_b_s

    def __str__(self) -> str:
        return (f"{self.name_a}: {self.median_a_s * 1e3:.2f} ms, {self.name_b}: "
                f"{self.median_b_s * 1e3:.2f} ms, ratio {self.ratio:.3f}")


def time_once(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare_speed(fn_a: Callable[[], object], fn_b: Callable[[], object], *, repeats: int = 7,
                  warmup: int = 1, names: tuple[str, str] = ("a", "b")) -> SpeedComparison:
    """Median wall time of ``fn_a`` and ``fn_b``, alternating a/b then b/a to cancel drift."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    ta, tb = [], []
    for i in range(repeats):
        if i % 2 == 0:
            ta.append(time_once(fn_a))
            tb.append(time_once(fn_b))
        else:
            tb.append(time_once(fn_b))
            ta.append(time_once(fn_a))
    return SpeedComparison(names[0], names[1], statistics.median(ta), statistics.median(tb))


def median_time(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    return statistics.median(time_once(fn) for _ in range(repeats))


def peak_memory(fn: Callable[[], object], *, interval_s: float = 0.0005) -> int:
    """Peak extra resident memory (bytes) while ``fn`` runs, above the level before it started.

    A background thread samples the process RSS; allocator caches are freed first with
    ``gc.collect()``. Compare values measured in the same process, as ratios.
    """
    import threading

    import psutil

    gc.collect()
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        stop.set()
        thread.join()
    peak = max(peak, proc.memory_info().rss)
    return max(0, peak - base)


def peak_tensor_bytes(fn) -> int:
    """Peak bytes of tensors created while ``fn()`` runs and still alive at the same time.

    Deterministic (unlike resident memory): every new tensor an op returns is added, and removed
    when Python frees it; views and in-place results are not counted twice. Tensors that existed
    before (inputs, parameters) are not counted.
    """
    import weakref

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class _Live(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.live, self.peak, self.ids = 0, 0, {}

        def _free(self, key):
            self.live -= self.ids.pop(key, 0)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            inputs = {id(a) for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)}
            for t in tree_flatten(out)[0]:
                if not isinstance(t, torch.Tensor) or id(t) in inputs or id(t) in self.ids:
                    continue
                if t._base is not None or func.is_view:
                    continue
                n = t.untyped_storage().nbytes()
                self.ids[id(t)] = n
                self.live += n
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._free, id(t))
            return out

    mode = _Live()
    with mode:
        fn()
    return mode.peak


def load_script(relative: str):
    """A script of this repository (``scripts/…``, ``benchmarks/…``; path from the repository
    root) loaded as a module, so benchmarks and tests reuse its recipe instead of copying it."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / relative
    if not path.is_file():
        raise FileNotFoundError(f"no script {relative!r} in this checkout ({path})")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
