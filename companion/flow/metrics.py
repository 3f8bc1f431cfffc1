"""Flow accuracy: end-point error (EPE) and the share of pixels off by more than 3 px.

EPE at a pixel is the Euclidean distance between the predicted and the true displacement vector,
``‖f_pred − f_gt‖₂``; a method's EPE is its mean over the valid pixels. Pixels whose ground truth
is missing (``inf``/``nan``, e.g. no disparity in a stereo pair) or masked out are skipped.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a NumPy array or torch.Tensor, got {type(x).__name__}")
    return x.double()


def endpoint_errors(pred, gt, valid=None) -> torch.Tensor:
    """Per-pixel EPE of the valid pixels (1-D). Flows are (2, H, W) or (B, 2, H, W), x then y."""
    p, g = _as_tensor(pred, "pred"), _as_tensor(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {tuple(p.shape)} and {tuple(g.shape)}")
    if p.ndim not in (3, 4) or p.shape[-3] != 2:
        raise ValueError(f"flows must be (2, H, W) or (B, 2, H, W), got {tuple(p.shape)}")
    mask = torch.isfinite(g).all(dim=-3)
    if valid is not None:
        v = _as_tensor(valid, "valid").bool()
        if v.shape != mask.shape:
            raise ValueError(f"valid must have shape {tuple(mask.shape)}, got {tuple(v.shape)}")
        mask &= v
    err = torch.linalg.vector_norm(torch.nan_to_num(p - g, nan=0.0, posinf=0.0, neginf=0.0), dim=-3)
    return err[mask]


def epe(pred, gt, valid=None) -> float:
    """Mean end-point error (px) over valid pixels with finite ground truth."""
    e = endpoint_errors(pred, gt, valid)
    if e.numel() == 0:
        raise ValueError("no valid pixels to score")
    return float(e.mean())


def outlier_share(pred, gt, valid=None, threshold: float = 3.0) -> float:
    """Share (0–1) of valid pixels whose end-point error exceeds ``threshold`` px."""
    e = endpoint_errors(pred, gt, valid)
    if e.numel() == 0:
        raise ValueError("no valid pixels to score")
    return float((e > threshold).double().mean())


def flow_metrics(pred, gt, valid=None) -> dict[str, float]:
    """``{"epe": ..., "px3": ...}`` (px3 = share of pixels with EPE > 3 px, in %)."""
    e = endpoint_errors(pred, gt, valid)
    return {"epe": float(e.mean()), "px3": 100.0 * float((e > 3).double().mean())}
