"""SORT (Bewley et al., ICIP 2016): Kalman prediction + Hungarian matching on IoU, nothing else.

One frame of :meth:`SORT.update`:

1. Predict every track with the 7-state filter ``[u, v, s, r, u', v', s']``; a track whose
   prediction became invalid (negative area) is dropped.
2. Cost = IoU between predicted boxes and detections; optimal assignment; pairs with
   IoU < ``iou_threshold`` (0.3) are rejected.
3. Matched tracks are corrected with their detection; every unmatched detection starts a track.
4. A track is *reported* while it was matched this frame and has been matched in ``min_hits``
   (3) consecutive frames — or during the first ``min_hits`` frames of the video. A track not
   matched for more than ``max_age`` (1) frames is deleted.

Note what is missing: no appearance and a one-frame memory, so a person hidden for two frames
comes back under a new id. That is the baseline DeepSORT and ByteTrack improve on.
Ids are allocated when a track is first reported (from 0, like ``trackers``); a track that is
not reported in a frame gives its detection ``tracker_id = -1``.
"""

from __future__ import annotations

import numpy as np

from companion.tracking._base import check_fraction, read_detections, scaled_frames, with_tracker_ids
from companion.tracking.assignment import linear_assignment
from companion.tracking.boxes import box_iou, xyxy_to_xysr, xysr_to_xyxy
from companion.tracking.kalman import SORTKalman

__all__ = ["SORT"]


class SORT:
    """SORT with the published defaults ``max_age=1, min_hits=3, iou_threshold=0.3``.

    ``max_age`` is in frames at 30 fps and scaled by ``frame_rate / 30`` (at least 1), so at the
    default ``frame_rate=30`` it is exactly the paper's. ``min_confidence`` (default 0: use every
    box, as the paper does) drops low-score detections before association.
    """

    def __init__(self, max_age: int = 1, min_hits: int = 3, iou_threshold: float = 0.3,
                 frame_rate: float = 30.0, *, min_confidence: float = 0.0):
        if int(min_hits) < 0:
            raise ValueError(f"min_hits must be >= 0, got {min_hits}")
        self.max_age = scaled_frames(int(max_age), frame_rate)
        self.min_hits = int(min_hits)
        self.iou_threshold = check_fraction("iou_threshold", iou_threshold)
        self.min_confidence = check_fraction("min_confidence", min_confidence)
        self.frame_rate = float(frame_rate)
        self.kf = SORTKalman()
        self.reset()

    def reset(self) -> None:
        self.frame_count = 0
        self._next_id = 0
        self.mean = np.zeros((0, 7))
        self.cov = np.zeros((0, 7, 7))
        self.hit_streak = np.zeros(0, np.int64)
        self.since_update = np.zeros(0, np.int64)
        self.tid = np.zeros(0, np.int64)

    def _keep(self, keep):
        for name in ("mean", "cov", "hit_streak", "since_update", "tid"):
            setattr(self, name, getattr(self, name)[keep])

    @property
    def tracked_objects(self):
        import supervision as sv

        m = (self.tid >= 0) & (self.since_update == 0)
        det = sv.Detections(xyxy=xysr_to_xyxy(self.mean[m, :4]).astype(np.float32).reshape(-1, 4))
        det.tracker_id = self.tid[m].astype(int)
        return det

    def update(self, detections, frame=None):
        """Associate one frame; returns the detections with ``tracker_id`` (-1 = not reported).
        ``frame`` is accepted and ignored."""
        xyxy, conf, usable = read_detections(detections)
        self.frame_count += 1
        n = len(xyxy)
        use = np.flatnonzero(usable & (conf >= self.min_confidence))

        # predict (and age) every track
        if len(self.mean):
            self.mean, self.cov = self.kf.predict(self.mean, self.cov)
            self.hit_streak[self.since_update > 0] = 0
            self.since_update += 1
        boxes = xysr_to_xyxy(self.mean[:, :4]) if len(self.mean) else np.zeros((0, 4))
        valid = np.isfinite(boxes).all(1)
        if not valid.all():
            self._keep(valid)
            boxes = boxes[valid]

        iou = box_iou(boxes, xyxy[use])
        matches, _, u_det = linear_assignment(1.0 - iou, 1.0 - self.iou_threshold)
        det_of = np.full(len(self.mean), -1, np.int64)
        if len(matches):
            t, d = matches[:, 0], use[matches[:, 1]]
            self.mean[t], self.cov[t] = self.kf.update(self.mean[t], self.cov[t], xyxy_to_xysr(xyxy[d]))
            self.since_update[t] = 0
            self.hit_streak[t] += 1
            det_of[t] = d
        new = use[u_det]
        if len(new):
            nm, nc = self.kf.initiate(xyxy_to_xysr(xyxy[new]))
            k = len(new)
            self.mean = np.concatenate([self.mean, nm])
            self.cov = np.concatenate([self.cov, nc])
            self.hit_streak = np.concatenate([self.hit_streak, np.zeros(k, np.int64)])
            self.since_update = np.concatenate([self.since_update, np.zeros(k, np.int64)])
            self.tid = np.concatenate([self.tid, np.full(k, -1, np.int64)])
            det_of = np.concatenate([det_of, new])

        reported = (self.since_update == 0) & ((self.hit_streak >= self.min_hits)
                                                | (self.frame_count <= self.min_hits))
        newly = np.flatnonzero(reported & (self.tid < 0))
        if len(newly):
            self.tid[newly] = np.arange(self._next_id, self._next_id + len(newly))
            self._next_id += len(newly)
        ids = np.full(n, -1, dtype=int)
        r = np.flatnonzero(reported)
        ids[det_of[r]] = self.tid[r]

        keep = self.since_update <= self.max_age
        if not keep.all():
            self._keep(keep)
        return with_tracker_ids(detections, ids)
