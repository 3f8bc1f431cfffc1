"""Detections with controlled noise, made from ground truth — a tracker benchmark without a detector.

A detector's mistakes, one knob each:

* ``drop`` — a visible object is missed;
* ``jitter`` — box centre and size wobble (fraction of the box size, Gaussian);
* occlusion — an object that is mostly hidden (visibility < ``occluded_visibility`` where the
  ground truth has a visibility column, otherwise a random ``occluded_share`` of the rows) is
  found with a *low* score (``low_score`` range) or missed (``drop_occluded``), as a real
  detector does; this is what ByteTrack's second stage exists for;
* ``fp_per_frame`` — Poisson-many false positives per frame, sized like the real boxes, with
  scores in ``fp_score``.

:func:`noisy_detections` returns one ``supervision.Detections`` per frame (index t = MOT frame
t + 1) with ``data["gt_id"]`` (-1 for false positives). :func:`run_tracker` feeds them to any
tracker with the ``update(detections) -> detections`` contract and returns MOT rows plus the time
spent inside ``update`` alone. :func:`tud_sequence` loads the TUD ground truth shipped with
``motmetrics``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

__all__ = ["noisy_detections", "run_tracker", "tud_sequence", "TUD_SEQUENCES"]

#: name -> (frame rate, (W, H)) of the TUD sequences shipped with motmetrics.
TUD_SEQUENCES = {"TUD-Campus": (25.0, (640, 480)), "TUD-Stadtmitte": (25.0, (640, 480))}


def tud_sequence(name: str = "TUD-Campus", which: str = "gt") -> np.ndarray:
    """Rows of motmetrics' shipped ``<name>/gt.txt`` (``which="gt"``) or ``test.txt``
    (``which="test"``, the reference hypotheses)."""
    import motmetrics

    if name not in TUD_SEQUENCES:
        raise ValueError(f"name must be one of {sorted(TUD_SEQUENCES)}, got {name!r}")
    if which not in ("gt", "test"):
        raise ValueError(f"which must be 'gt' or 'test', got {which!r}")
    path = Path(motmetrics.__file__).parent / "data" / name / f"{which}.txt"
    if not path.exists():
        raise FileNotFoundError(f"motmetrics' shipped data not found at {path}")
    return np.loadtxt(path, delimiter=",", ndmin=2)


def noisy_detections(gt, *, seed: int = 0, num_frames: int | None = None, drop: float = 0.05,
                     drop_occluded: float = 0.3, jitter: float = 0.04, occluded_share: float = 0.15,
                     occluded_visibility: float = 0.5, invisible: float = 0.1,
                     high_score=(0.55, 0.95), low_score=(0.15, 0.5), fp_per_frame: float = 0.5,
                     fp_score=(0.1, 0.65), image_size: tuple[int, int] | None = None):
    """One ``sv.Detections`` per frame (see the module docstring). ``gt`` rows are
    ``(frame, id, x, y, w, h[, conf, class, visibility])``; a visibility column in [0, 1] is used
    when present (rows with visibility < ``invisible`` are never detected)."""
    import supervision as sv

    gt = np.asarray(gt, dtype=np.float64)
    if gt.ndim != 2 or gt.shape[1] < 6:
        raise ValueError(f"gt must be MOT rows (frame, id, x, y, w, h, ...), got shape {gt.shape}")
    for name, v in (("drop", drop), ("drop_occluded", drop_occluded), ("occluded_share", occluded_share)):
        if not 0 <= v <= 1:
            raise ValueError(f"{name} must be a probability in [0, 1], got {v}")
    if jitter < 0 or fp_per_frame < 0:
        raise ValueError("jitter and fp_per_frame must be >= 0")
    rng = np.random.default_rng(seed)
    T = int(gt[:, 0].max()) if num_frames is None and len(gt) else int(num_frames or 0)
    has_vis = gt.shape[1] >= 9 and np.all((gt[:, 8] >= 0) & (gt[:, 8] <= 1))
    if has_vis:
        vis = gt[:, 8]
        occluded = vis < occluded_visibility
        hidden = vis < invisible
    else:
        occluded = rng.random(len(gt)) < occluded_share
        hidden = np.zeros(len(gt), bool)
    p_drop = np.where(occluded, drop_occluded, drop)
    keep = ~hidden & (rng.random(len(gt)) >= p_drop)
    score = np.where(occluded, rng.uniform(*low_score, size=len(gt)), rng.uniform(*high_score, size=len(gt)))
    w, h = gt[:, 4], gt[:, 5]
    cx = gt[:, 2] + w / 2 + rng.normal(0, jitter, len(gt)) * w
    cy = gt[:, 3] + h / 2 + rng.normal(0, jitter, len(gt)) * h
    w2 = w * np.exp(rng.normal(0, jitter, len(gt)))
    h2 = h * np.exp(rng.normal(0, jitter, len(gt)))
    boxes = np.column_stack([cx - w2 / 2, cy - h2 / 2, cx + w2 / 2, cy + h2 / 2])
    if image_size is not None:
        W, H = image_size
    else:
        W = float(np.max(gt[:, 2] + gt[:, 4])) if len(gt) else 640.0
        H = float(np.max(gt[:, 3] + gt[:, 5])) if len(gt) else 480.0
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, W)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, H)
    keep &= (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
    frame_of = gt[:, 0].astype(int) - 1
    sizes = gt[:, 4:6] if len(gt) else np.array([[40.0, 100.0]])
    out = []
    for t in range(T):
        sel = np.flatnonzero(keep & (frame_of == t))
        nfp = rng.poisson(fp_per_frame) if fp_per_frame > 0 else 0
        fb = np.zeros((nfp, 4))
        if nfp:
            wh = sizes[rng.integers(len(sizes), size=nfp)] * rng.uniform(0.7, 1.2, size=(nfp, 1))
            x0 = rng.uniform(0, np.maximum(1, W - wh[:, 0]))
            y0 = rng.uniform(0, np.maximum(1, H - wh[:, 1]))
            fb = np.column_stack([x0, y0, np.minimum(W, x0 + wh[:, 0]), np.minimum(H, y0 + wh[:, 1])])
        xyxy = np.concatenate([boxes[sel], fb]).astype(np.float32)
        conf = np.concatenate([score[sel], rng.uniform(*fp_score, size=nfp)]).astype(np.float32)
        gid = np.concatenate([gt[sel, 1].astype(int), -np.ones(nfp, int)])
        order = rng.permutation(len(xyxy))  # detectors do not sort by identity
        d = sv.Detections(xyxy=xyxy[order].reshape(-1, 4), confidence=conf[order],
                          class_id=np.zeros(len(xyxy), int), data={"gt_id": gid[order]})
        out.append(d)
    return out


def run_tracker(tracker, detections, frames=None, *, pass_frame: bool | None = None):
    """Feed ``detections`` (one ``sv.Detections`` per frame) to ``tracker.update``.

    Returns ``(rows, seconds)``: MOT rows ``(frame, id, x, y, w, h, conf, -1, -1, -1)`` of the
    detections with ``tracker_id >= 0`` (frames 1-based) and the wall time spent inside
    ``update`` only. ``frames`` (a sequence of images) is passed as ``frame=`` when given
    (``pass_frame`` overrides).
    """
    from companion.tracking.metrics import detections_to_mot_rows

    pass_frame = frames is not None if pass_frame is None else pass_frame
    if pass_frame and frames is None:
        raise ValueError("pass_frame=True needs frames")
    if frames is not None and len(frames) < len(detections):
        raise ValueError(f"{len(frames)} frames for {len(detections)} frames of detections")
    rows, total = [], 0.0
    upd = tracker.update
    for t, d in enumerate(detections):
        t0 = time.perf_counter()
        r = upd(d, frame=frames[t]) if pass_frame else upd(d)
        total += time.perf_counter() - t0
        rows.append(detections_to_mot_rows(t + 1, r))
    rows = np.concatenate(rows) if rows else np.zeros((0, 10))
    return rows, total
