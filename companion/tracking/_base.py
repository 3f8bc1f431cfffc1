"""What the three trackers share: reading ``supervision.Detections`` safely and writing the result.

The contract is the one of ``trackers.ByteTrackTracker`` (trackers 2.6):
``update(detections) -> detections`` with ``tracker_id`` set, ``-1`` for detections that are
not (yet) part of a confirmed track, ids counted from 0 in the order tracks get confirmed.
Unlike ``trackers``, the returned detections keep the *input order* (row i of the output is
row i of the input), so the output can be zipped with the input.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["read_detections", "with_tracker_ids", "scaled_frames"]


def read_detections(detections):
    """``(xyxy float64 (N, 4), confidence float64 (N,), usable bool (N,))`` from an
    ``sv.Detections``; raises TypeError / ValueError naming the problem.

    Missing confidences count as 1.0 (as in ``trackers``). Boxes with NaN/inf coordinates or
    x2 < x1 are rejected; zero-width/zero-height boxes are accepted but never tracked (their
    ``tracker_id`` is -1) because a Kalman state cannot be built from them.
    """
    xyxy = getattr(detections, "xyxy", None)
    if xyxy is None:
        raise TypeError("update() expects a supervision.Detections (with .xyxy, .confidence), got "
                        f"{type(detections).__name__}; build one with sv.Detections(xyxy=..., confidence=...)")
    xyxy = np.asarray(xyxy, dtype=np.float64)
    if xyxy.size == 0:
        xyxy = xyxy.reshape(0, 4)
    if xyxy.ndim != 2 or xyxy.shape[1] != 4:
        raise ValueError(f"detections.xyxy must have shape (N, 4), got {xyxy.shape}")
    n = len(xyxy)
    conf = getattr(detections, "confidence", None)
    if conf is None or (np.size(conf) == 0 and n > 0):
        conf = np.ones(n)
    else:
        conf = np.asarray(conf, dtype=np.float64).reshape(-1)
        if conf.shape != (n,):
            raise ValueError(f"detections.confidence has {conf.shape[0]} values for {n} boxes; "
                             "expected one score per box")
        if n and not np.isfinite(conf).all():
            raise ValueError("detections.confidence contains NaN or infinite scores")
    if n:
        wh = xyxy[:, 2:] - xyxy[:, :2]
        if not (np.isfinite(xyxy).all() and (wh >= 0).all()):
            finite = np.isfinite(xyxy).all(1)
            if not finite.all():
                i = int(np.argmin(finite))
                raise ValueError(f"detections.xyxy row {i} has NaN or infinite coordinates ({xyxy[i].tolist()}); "
                                 "filter such boxes out before tracking")
            i = int(np.argmax((wh < 0).any(1)))
            raise ValueError(f"detections.xyxy row {i} is not (x1, y1, x2, y2) with x1 <= x2, y1 <= y2: "
                             f"{xyxy[i].tolist()}")
        usable = (wh > 0).all(1)
    else:
        usable = np.zeros(0, bool)
    return xyxy, conf, usable


def with_tracker_ids(detections, ids: np.ndarray):
    """A shallow copy of ``detections`` with ``tracker_id`` set (input order kept)."""
    out = object.__new__(type(detections))
    out.__dict__.update(detections.__dict__)
    data = out.__dict__.get("data")
    out.data = dict(data) if data is not None else {}
    out.tracker_id = np.asarray(ids, dtype=int)
    return out


def empty_result():
    import supervision as sv

    r = sv.Detections.empty()
    r.tracker_id = np.array([], dtype=int)
    return r


def scaled_frames(frames_at_30: float, frame_rate: float) -> int:
    """A duration given in 30-fps frames, converted to frames at ``frame_rate`` (at least 1)."""
    if not (isinstance(frame_rate, (int, float)) and math.isfinite(frame_rate) and frame_rate > 0):
        raise ValueError(f"frame_rate must be a finite positive number of frames per second, got {frame_rate!r}")
    if frames_at_30 < 0:
        raise ValueError(f"a track lifetime must be >= 0 frames, got {frames_at_30}")
    if frames_at_30 == 0:
        return 0
    return max(1, int(math.ceil(frames_at_30 * frame_rate / 30.0 - 1e-9)))


def check_fraction(name: str, value: float, lo: float = 0.0, hi: float = 1.0) -> float:
    v = float(value)
    if not (lo <= v <= hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v
