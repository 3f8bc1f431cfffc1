"""What a video model costs: parameters, FLOPs, CPU latency, peak memory (the 26.2 card).

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode`, which records every
matmul/convolution the forward pass dispatches. Its total counts a multiply-add as 2 FLOPs;
torchvision's "GFLOPS" metadata for its video models is that total ÷ 2 (multiply-accumulates),
so :func:`count_flops` returns both. Counting runs on the ``meta`` device when the model allows
it (no arithmetic is done, so even a 40-GFLOP network is counted instantly).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["count_params", "count_flops", "gmacs"]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, x, *, meta: bool = True) -> int:
    """Total FLOPs (multiply-add = 2) of ``model(x)`` in eval mode, as counted by FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    m = model
    if meta:
        try:
            m = copy.deepcopy(model).to("meta")
            x = x.to("meta") if isinstance(x, torch.Tensor) else type(x)(t.to("meta") for t in x)
        except Exception:  # pragma: no cover - fall back to a real forward
            m, meta = model, False
    was = m.training
    m.eval()
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            m(x)
    finally:
        m.train(was)
    return int(counter.get_total_flops())


def gmacs(model: nn.Module, x) -> float:
    """Giga multiply-accumulates = FlopCounterMode total / 2 / 1e9 (torchvision's "GFLOPS")."""
    return count_flops(model, x) / 2e9
