"""SORT (Bewley et al., ICIP 2016): Kalman prediction + Hungarian matching on IoU, nothing else.

One frame of :meth:`SORT.update`:

1. Predict every track with the 7-state filter ``[u, v, s, r, u', v', s']``; a track whose
   prediction became invalid (negative area) is dropped.
2. Cost = 1 - IoU between predicted boxes and detections; optimal assignment over all pairs;
   *then* the matched pairs with IoU < ``iou_threshold`` (0.3) are rejected (solve, then drop).
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

__all__ = ["SORT", "sort_step"]


def sort_step(track_boxes, hit_streak, since_update, det_boxes, frame: int, *, max_age: int = 1,
              min_hits: int = 3, iou_threshold: float = 0.3) -> dict:
    """SORT's decisions for one frame, after the Kalman predict (steps 2-4 of the module docstring).

    ``track_boxes`` (N, 4): the tracks' predicted xyxy boxes; ``hit_streak`` and ``since_update``
    (N,): their counters *before* this frame; ``det_boxes`` (M, 4): this frame's detections;
    ``frame``: this frame's number, from 1. Returns a dict of NumPy arrays:

    * ``matches`` (K, 2) int: (track, detection) pairs, sorted by track;
    * ``new`` int: the detections that start a track (appended after the N old tracks);
    * ``hit_streak``, ``since_update`` (N + len(new),): the counters after this frame;
    * ``reported`` (N + len(new),) bool: tracks whose box is reported with an id this frame;
    * ``keep`` (N + len(new),) bool: tracks that survive into the next frame.
    """
    streak = np.where(np.asarray(since_update) > 0, 0, hit_streak).astype(np.int64)  # a miss breaks the streak
    since = np.asarray(since_update, dtype=np.int64) + 1
    iou = box_iou(track_boxes, det_boxes)
    # associate: optimal matching on 1 - IoU over ALL pairs, then drop pairs with IoU < threshold
    # (SORT's rule, also ``trackers``'): gating before solving would make the solver match as
    # many pairs as it can and could trade one excellent match for two poor ones
    matches, _, _ = linear_assignment(1.0 - iou)
    matches = matches[iou[matches[:, 0], matches[:, 1]] >= iou_threshold] if len(matches) else matches
    new = np.setdiff1d(np.arange(iou.shape[1]), matches[:, 1])
    matched = matches[:, 0]
    since[matched] = 0  # update the matched tracks
    streak[matched] += 1
    streak = np.concatenate([streak, np.zeros(len(new), np.int64)])  # every leftover box starts a track
    since = np.concatenate([since, np.zeros(len(new), np.int64)])
    reported = (since == 0) & ((streak >= min_hits) | (frame <= min_hits))
    return {"matches": matches.astype(np.int64).reshape(-1, 2), "new": new.astype(np.int64),
            "hit_streak": streak, "since_update": since, "reported": reported, "keep": since <= max_age}


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

        # predict every track; drop those whose prediction became invalid (negative area)
        if len(self.mean):
            self.mean, self.cov = self.kf.predict(self.mean, self.cov)
        boxes = xysr_to_xyxy(self.mean[:, :4]) if len(self.mean) else np.zeros((0, 4))
        valid = np.isfinite(boxes).all(1)
        if not valid.all():
            self._keep(valid)
            boxes = boxes[valid]

        step = sort_step(boxes, self.hit_streak, self.since_update, xyxy[use], self.frame_count,
                         max_age=self.max_age, min_hits=self.min_hits, iou_threshold=self.iou_threshold)
        det_of = np.full(len(self.mean), -1, np.int64)
        t, d = step["matches"][:, 0], use[step["matches"][:, 1]]
        if len(t):
            self.mean[t], self.cov[t] = self.kf.update(self.mean[t], self.cov[t], xyxy_to_xysr(xyxy[d]))
            det_of[t] = d
        new = use[step["new"]]
        if len(new):
            nm, nc = self.kf.initiate(xyxy_to_xysr(xyxy[new]))
            self.mean = np.concatenate([self.mean, nm])
            self.cov = np.concatenate([self.cov, nc])
            self.tid = np.concatenate([self.tid, np.full(len(new), -1, np.int64)])
            det_of = np.concatenate([det_of, new])
        self.hit_streak, self.since_update = step["hit_streak"], step["since_update"]

        reported = step["reported"]
        newly = np.flatnonzero(reported & (self.tid < 0))
        if len(newly):
            self.tid[newly] = np.arange(self._next_id, self._next_id + len(newly))
            self._next_id += len(newly)
        ids = np.full(n, -1, dtype=int)
        r = np.flatnonzero(reported)
        ids[det_of[r]] = self.tid[r]

        if not step["keep"].all():
            self._keep(step["keep"])
        return with_tracker_ids(detections, ids)
