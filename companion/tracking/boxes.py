"""Box formats and vectorised IoU.

Formats (all float arrays with the four numbers in the last axis):

* ``xyxy`` — corners (x1, y1, x2, y2), what detectors and ``supervision.Detections`` use;
* ``xywh`` — top-left corner and size (x, y, w, h), the MOT-challenge file format;
* ``xyah`` — centre, aspect ratio w/h and height (cx, cy, a, h): DeepSORT's and ByteTrack's
  Kalman measurement;
* ``xysr`` — centre, area and aspect ratio (cx, cy, s, r): SORT's Kalman measurement.

IoU is computed on continuous coordinates (area = (x2 - x1) * (y2 - y1), no "+1"), like
``torchvision.ops.box_iou``; a pair whose union is empty (two degenerate boxes) has IoU 0 where
torchvision returns NaN.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_boxes", "xyxy_to_xywh", "xywh_to_xyxy", "xyxy_to_xyah", "xyah_to_xyxy", "xyxy_to_xysr",
    "xysr_to_xyxy", "box_area", "box_iou", "iou_distance",
]


def as_boxes(boxes, name: str = "boxes", *, allow_degenerate: bool = True) -> np.ndarray:
    """``boxes`` as a float64 (N, 4) xyxy array, or a ValueError saying what is wrong.

    Rejected: a wrong shape, NaN or infinite coordinates, x2 < x1 or y2 < y1. Degenerate
    (zero-width or zero-height) boxes are accepted unless ``allow_degenerate=False``.
    """
    a = np.asarray(boxes, dtype=np.float64)
    if a.size == 0:
        return a.reshape(0, 4)
    if a.ndim == 1 and a.shape[0] == 4:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) (x1, y1, x2, y2), got {a.shape}")
    bad = ~np.isfinite(a).all(1)
    if bad.any():
        raise ValueError(f"{name} contains NaN or infinite coordinates (row {int(np.argmax(bad))}: "
                         f"{a[int(np.argmax(bad))].tolist()}); drop those detections first")
    inv = (a[:, 2] < a[:, 0]) | (a[:, 3] < a[:, 1])
    if inv.any():
        i = int(np.argmax(inv))
        raise ValueError(f"{name} row {i} is not an xyxy box (x2 < x1 or y2 < y1): {a[i].tolist()}; "
                         "expected (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2")
    if not allow_degenerate:
        deg = (a[:, 2] == a[:, 0]) | (a[:, 3] == a[:, 1])
        if deg.any():
            raise ValueError(f"{name} row {int(np.argmax(deg))} has zero width or height")
    return a


def xyxy_to_xywh(b):
    b = np.asarray(b, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def xywh_to_xyxy(b):
    b = np.asarray(b, dtype=np.float64)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xyah(b):
    """(x1, y1, x2, y2) -> (cx, cy, w/h, h). A zero-height box gives a = inf (reject it first)."""
    b = np.asarray(b, dtype=np.float64)
    out = np.empty(b.shape)
    out[..., :2] = (b[..., :2] + b[..., 2:]) * 0.5
    out[..., 3] = b[..., 3] - b[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[..., 2] = (b[..., 2] - b[..., 0]) / out[..., 3]
    return out


def xyah_to_xyxy(z):
    z = np.asarray(z, dtype=np.float64)
    half = np.empty(z.shape[:-1] + (2,))
    half[..., 1] = z[..., 3] * 0.5
    half[..., 0] = z[..., 2] * half[..., 1]
    return np.concatenate([z[..., :2] - half, z[..., :2] + half], axis=-1)


def xyxy_to_xysr(b):
    """(x1, y1, x2, y2) -> (cx, cy, s = w*h, r = w/h): SORT's measurement."""
    b = np.asarray(b, dtype=np.float64)
    w, h = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = w / h
    return np.stack([b[..., 0] + w / 2, b[..., 1] + h / 2, w * h, r], axis=-1)


def xysr_to_xyxy(z):
    """Inverse of :func:`xyxy_to_xysr`; a negative area (possible after a Kalman predict) -> NaN."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        w = np.sqrt(z[..., 2] * z[..., 3])
        h = z[..., 2] / w
    return np.stack([z[..., 0] - w / 2, z[..., 1] - h / 2, z[..., 0] + w / 2, z[..., 1] + h / 2], axis=-1)


def box_area(b):
    b = np.asarray(b, dtype=np.float64)
    return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])


def box_iou(a, b) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: (N, 4) x (M, 4) -> (N, M), float64, no Python loop."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None] + \
        ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def iou_distance(a, b) -> np.ndarray:
    """1 - IoU: the association cost of SORT/ByteTrack."""
    return 1.0 - box_iou(a, b)
