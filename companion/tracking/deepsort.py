"""DeepSORT (Wojke et al., ICIP 2017): SORT plus appearance, a longer memory and a matching cascade.

One frame of :meth:`DeepSORT.update`:

1. Drop detections below ``min_confidence``; embed the rest with the appearance model
   (``embedder(frame, xyxy)``, unit vectors) — or take ``detections.data["embedding"]``.
2. Predict every track with the 8-state Kalman filter ``[x, y, a, h, x', y', a', h']``.
3. **Matching cascade** over confirmed tracks, most recently seen first
   (``time_since_update = 1, 2, ..., max_age``): cost = smallest cosine distance between the
   detection and the track's feature gallery (its last ``nn_budget`` embeddings); pairs whose
   squared Mahalanobis distance exceeds ``chi2inv95(4) = 9.4877`` are gated out; pairs with
   cost > ``max_cosine_distance`` rejected.
4. **IoU stage** for what is left: unconfirmed tracks and tracks missed for exactly one frame
   vs remaining detections, cost 1 - IoU <= ``max_iou_distance`` (0.7).
5. Update matched tracks (a tentative track becomes confirmed after ``n_init`` hits); a
   tentative track that misses is deleted, a confirmed one after ``max_age`` misses; every
   unmatched detection starts a tentative track.

Tracks are reported (``tracker_id`` >= 0) when confirmed and matched in this frame; ids are
allocated at confirmation, from 0.

Calling convention, compatible with ``trackers``: ``tracker.update(detections, frame=frame)``
(``trackers.ByteTrackTracker.update`` accepts ``frame`` too and ignores it).
"""

from __future__ import annotations

import numpy as np

from companion.tracking._base import check_fraction, read_detections, scaled_frames, with_tracker_ids
from companion.tracking.assignment import INFTY_COST, linear_assignment
from companion.tracking.boxes import box_iou, xyah_to_xyxy, xyxy_to_xyah
from companion.tracking.kalman import CHI2INV95, XYAHKalman

__all__ = ["DeepSORT", "matching_cascade"]

_TENTATIVE, _CONFIRMED = 1, 2


def matching_cascade(cost, since_update, max_cost: float = 0.2, max_age: int = 30):
    """DeepSORT's matching cascade (step 3 of the module docstring).

    ``cost`` (N, M): appearance cost of N confirmed tracks vs M detections, gated pairs already
    set to ``inf`` (or ``INFTY_COST``); ``since_update`` (N,): frames since each track was last
    matched (1 = seen last frame). Tracks seen 1 frame ago choose first among all detections;
    then tracks seen 2 frames ago among the detections left; ... up to ``max_age``. Each level is
    an optimal assignment with pairs above ``max_cost`` rejected.

    Returns ``(matches, unmatched)``: (K, 2) int (track, detection) pairs sorted by track, and
    the sorted detections nobody took.
    """
    cost = np.asarray(cost, dtype=np.float64)
    since_update = np.asarray(since_update)
    unmatched = np.arange(cost.shape[1])
    matches = []
    for level in range(1, max_age + 1):
        if len(unmatched) == 0:
            break
        rows = np.flatnonzero(since_update == level)
        if len(rows) == 0:
            continue
        m, _, _ = linear_assignment(cost[np.ix_(rows, unmatched)], max_cost)
        matches += [(rows[r], unmatched[c]) for r, c in m]
        unmatched = np.delete(unmatched, m[:, 1])
    return np.array(sorted(matches), dtype=np.int64).reshape(-1, 2), unmatched


class _Track:
    __slots__ = ("mean", "cov", "hits", "age", "since_update", "state", "tid", "gallery", "det")

    def __init__(self, mean, cov, feature, budget):
        self.mean, self.cov = mean, cov
        self.hits, self.age, self.since_update = 1, 1, 0
        self.state = _TENTATIVE
        self.tid = -1
        self.gallery = np.zeros((0, len(feature)), np.float32) if feature is None else feature[None].copy()
        self.det = -1

    def add_feature(self, f, budget):
        if f is None:
            return
        g = np.concatenate([self.gallery, f[None]]) if len(self.gallery) else f[None].copy()
        self.gallery = g[-budget:] if budget else g


class DeepSORT:
    """DeepSORT with the defaults of the reference application (README command line):
    ``max_cosine_distance=0.2, nn_budget=100, max_iou_distance=0.7, max_age=30, n_init=3,
    min_confidence=0.3``; ``frame_rate`` scales ``max_age`` (given in 30-fps frames).

    ``embedder``: ``"reid"`` (the re-ID CNN shipped in ``companion/weights``), ``"histogram"``
    (colour-histogram baseline), or a callable ``(frame, xyxy) -> (N, D)`` of unit vectors.
    The network is loaded on first use.
    """

    def __init__(self, max_cosine_distance: float = 0.2, nn_budget: int | None = 100,
                 max_iou_distance: float = 0.7, max_age: int = 30, n_init: int = 3,
                 frame_rate: float = 30.0, *, min_confidence: float = 0.3, embedder="reid",
                 gating_threshold: float = CHI2INV95[4]):
        self.max_cosine_distance = check_fraction("max_cosine_distance", max_cosine_distance, 0.0, 2.0)
        self.max_iou_distance = check_fraction("max_iou_distance", max_iou_distance)
        self.min_confidence = check_fraction("min_confidence", min_confidence)
        if int(n_init) < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}")
        if nn_budget is not None and int(nn_budget) < 1:
            raise ValueError(f"nn_budget must be None or >= 1, got {nn_budget}")
        self.nn_budget = None if nn_budget is None else int(nn_budget)
        self.max_age = scaled_frames(int(max_age), frame_rate)
        self.n_init = int(n_init)
        self.frame_rate = float(frame_rate)
        self.gating_threshold = float(gating_threshold)
        self._embedder_spec = embedder
        self._embedder = None
        if not isinstance(embedder, str) and not callable(embedder):
            raise TypeError(f"embedder must be 'reid', 'histogram' or a callable (frame, xyxy) -> (N, D), "
                            f"got {type(embedder).__name__}")
        self.kf = XYAHKalman()
        self.reset()

    def reset(self) -> None:
        self.tracks: list[_Track] = []
        self._next_id = 0
        self.frame_count = 0

    @property
    def embedder(self):
        if self._embedder is None:
            from companion.tracking.reid import get_embedder

            self._embedder = get_embedder(self._embedder_spec)
        return self._embedder

    @property
    def tracked_objects(self):
        import supervision as sv

        ts = [t for t in self.tracks if t.state == _CONFIRMED and t.since_update == 0]
        xyxy = xyah_to_xyxy(np.array([t.mean[:4] for t in ts]).reshape(-1, 4)).astype(np.float32)
        det = sv.Detections(xyxy=xyxy)
        det.tracker_id = np.array([t.tid for t in ts], dtype=int)
        return det

    # ------------------------------------------------------------------------------------------
    def _features(self, detections, frame, xyxy, use):
        data = getattr(detections, "data", None) or {}
        if "embedding" in data:
            f = np.asarray(data["embedding"], dtype=np.float32)
            if f.ndim != 2 or len(f) != len(xyxy):
                raise ValueError(f"detections.data['embedding'] must be (N, D) with N = {len(xyxy)} boxes, "
                                 f"got shape {f.shape}")
            f = f[use]
            return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        if frame is None:
            raise ValueError("DeepSORT needs appearance: call update(detections, frame=frame) with the RGB "
                             "frame (H, W, 3), or put (N, D) features in detections.data['embedding']")
        if len(use) == 0:
            return np.zeros((0, 1), np.float32)
        f = np.asarray(self.embedder(frame, xyxy[use]), dtype=np.float32)
        if f.ndim != 2 or len(f) != len(use):
            raise ValueError(f"the embedder returned shape {f.shape} for {len(use)} boxes; expected (N, D)")
        return f

    def _cosine_cost(self, tracks, feats):
        cost = np.empty((len(tracks), len(feats)))
        for i, t in enumerate(tracks):
            if len(t.gallery) == 0:
                cost[i] = np.inf
            else:
                cost[i] = 1.0 - (t.gallery @ feats.T).max(0)
        return cost

    def update(self, detections, frame=None):
        """Associate one frame of detections; returns them with ``tracker_id`` (-1 = none)."""
        xyxy, conf, usable = read_detections(detections)
        self.frame_count += 1
        n = len(xyxy)
        use = np.flatnonzero(usable & (conf >= self.min_confidence))
        feats = self._features(detections, frame, xyxy, use)
        z = xyxy_to_xyah(xyxy[use])

        tracks = self.tracks
        if tracks:
            mean, cov = self.kf.predict(np.stack([t.mean for t in tracks]), np.stack([t.cov for t in tracks]))
            for k, t in enumerate(tracks):
                t.mean, t.cov = mean[k], cov[k]
                t.age += 1
                t.since_update += 1
                t.det = -1
        unmatched = np.arange(len(use))
        matches = []  # (track, local detection index)

        # matching cascade: confirmed tracks, by time since last update
        confirmed = [k for k, t in enumerate(tracks) if t.state == _CONFIRMED]
        if confirmed and len(use):
            gate = self.kf.gating_distance(np.stack([tracks[k].mean for k in confirmed]),
                                           np.stack([tracks[k].cov for k in confirmed]), z)
            app = self._cosine_cost([tracks[k] for k in confirmed], feats)
            app[gate > self.gating_threshold] = INFTY_COST
            since = np.array([tracks[k].since_update for k in confirmed])
            m, unmatched = matching_cascade(app, since, self.max_cosine_distance, self.max_age)
            matches += [(confirmed[r], c) for r, c in m]
        matched_tracks = {k for k, _ in matches}

        # IoU stage: unconfirmed tracks and tracks missed for just one frame
        cand = [k for k, t in enumerate(tracks) if k not in matched_tracks
                and (t.state != _CONFIRMED or t.since_update == 1)]
        if cand and len(unmatched):
            tb = xyah_to_xyxy(np.stack([tracks[k].mean[:4] for k in cand]))
            cost = 1.0 - box_iou(tb, xyxy[use[unmatched]])
            m, _, _ = linear_assignment(cost, self.max_iou_distance)
            for r, c in m:
                matches.append((cand[r], unmatched[c]))
            unmatched = np.delete(unmatched, m[:, 1])

        if matches:
            ti = np.array([k for k, _ in matches])
            di = np.array([d for _, d in matches])
            mean, cov = self.kf.update(np.stack([tracks[k].mean for k in ti]),
                                       np.stack([tracks[k].cov for k in ti]), z[di])
            for j, (k, d) in enumerate(matches):
                t = tracks[k]
                t.mean, t.cov = mean[j], cov[j]
                t.hits += 1
                t.since_update = 0
                t.det = int(use[d])
                t.add_feature(feats[d], self.nn_budget)
                if t.state == _TENTATIVE and t.hits >= self.n_init:
                    t.state = _CONFIRMED
                    t.tid = self._next_id
                    self._next_id += 1
        alive = []
        for t in tracks:
            if t.since_update > 0 and (t.state == _TENTATIVE or t.since_update > self.max_age):
                continue
            alive.append(t)
        if len(unmatched):
            nm, nc = self.kf.initiate(z[unmatched])
            for j, d in enumerate(unmatched):
                t = _Track(nm[j], nc[j], feats[d], self.nn_budget)
                t.det = int(use[d])
                if self.n_init <= 1:
                    t.state, t.tid = _CONFIRMED, self._next_id
                    self._next_id += 1
                alive.append(t)
        self.tracks = alive

        ids = np.full(n, -1, dtype=int)
        for t in alive:
            if t.state == _CONFIRMED and t.since_update == 0 and t.det >= 0:
                ids[t.det] = t.tid
        return with_tracker_ids(detections, ids)
