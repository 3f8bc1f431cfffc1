"""ByteTrack (Zhang et al., ECCV 2022): associate *every* detection box, low scores included.

One frame of :meth:`ByteTrack.update`:

1. Split the detections by score: **high** = score > ``track_thresh``, **low** =
   ``low_thresh`` < score <= ``track_thresh`` (boxes below ``low_thresh`` are ignored).
2. Predict every confirmed track and every lost track with the 8-state Kalman filter.
3. **Stage 1** — all those tracks vs the high boxes, cost = 1 - IoU * score (score fusion),
   matched if cost <= ``match_thresh`` (0.8). A lost track that matches is re-found with its id.
4. **Stage 2** — tracks still unmatched (and not already lost) vs the low boxes, cost = 1 - IoU,
   matched if IoU >= 0.5. This is what recovers people behind other people, whose detector score
   drops. Tracks still unmatched are marked *lost*.
5. **Unconfirmed** tracks (born last frame) vs the high boxes left over, fused cost <= 0.7; an
   unconfirmed track that fails is removed.
6. A high box left over starts a new (unconfirmed) track if its score >= ``track_thresh + 0.1``.
7. Lost tracks older than ``track_buffer * frame_rate / 30`` frames are removed; a tracked and a
   lost track overlapping with IoU > 0.85 are duplicates and the younger one goes.

Tracks live in NumPy arrays (one row per track), so predict and update run once per frame for
all tracks: no Python object per track. Returns the input detections with ``tracker_id``
(``-1`` for boxes not on a confirmed track), like ``trackers.ByteTrackTracker``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from companion.tracking._base import check_fraction, read_detections, with_tracker_ids
from companion.tracking.boxes import xyah_to_xyxy
from companion.tracking.kalman import XYAHKalman

__all__ = ["ByteTrack"]

_EMPTY = np.zeros(0, np.int64)


def _nz(mask):
    return mask.nonzero()[0]

_F8 = np.eye(8)
_F8[:4, 4:] = np.eye(4)
_KRON_FT = np.kron(_F8, _F8).T.copy()
_DIAG64 = np.arange(0, 64, 9)


def _match(iou, rows, cols, scores, max_cost):
    """Optimal matching of tracks ``rows`` to boxes ``cols`` on cost 1 - IoU (x score if given),
    pairs above ``max_cost`` forbidden. Returns matched rows, matched cols, unmatched rows,
    unmatched cols (all as global indices)."""
    if iou is None or len(rows) == 0 or len(cols) == 0:
        return _EMPTY, _EMPTY, rows, cols
    sim = iou[rows][:, cols]
    if scores is not None:
        sim = sim * scores[cols]
    allowed = sim >= 1.0 - max_cost
    if not allowed.any():
        return _EMPTY, _EMPTY, rows, cols
    r, c = linear_sum_assignment(np.where(allowed, 1.0 - sim, 2.0 + min(sim.shape)))
    ok = allowed[r, c]
    r, c = r[ok], c[ok]
    ur = np.ones(len(rows), bool)
    ur[r] = False
    uc = np.ones(len(cols), bool)
    uc[c] = False
    return rows[r], cols[c], rows[ur], cols[uc]


def _kf_predict(kf, mean, cov):
    """XYAHKalman.predict without the input checks (hot path): vec(F P F^T) = (F kron F) vec(P)."""
    n = len(mean)
    P = cov.reshape(n, 64) @ _KRON_FT
    P[:, _DIAG64] += (mean[:, 3:4] * kf._q_scale + kf._q_const) ** 2
    m = mean.copy()
    m[:, :4] += mean[:, 4:]
    return m, P.reshape(n, 8, 8)


def _kf_update(kf, mean, cov, z):
    """XYAHKalman.update without the input checks (hot path)."""
    S = cov[:, :4, :4] + _diag4((mean[:, 3:4] * kf._r_scale + kf._r_const) ** 2)
    PHt = cov[:, :, :4]
    K = np.linalg.solve(S, PHt.transpose(0, 2, 1)).transpose(0, 2, 1)
    mean = mean + (K @ (z - mean[:, :4])[:, :, None])[:, :, 0]
    return mean, cov - K @ PHt.transpose(0, 2, 1)


def _iou(a, b):
    """IoU of boxes with positive area (the tracker's own boxes and usable detections)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    wh = np.minimum(a[:, None, 2:], b[None, :, 2:]) - lt
    np.maximum(wh, 0.0, out=wh)
    inter = wh[..., 0] * wh[..., 1]
    sa = a[:, 2:] - a[:, :2]
    sb = b[:, 2:] - b[:, :2]
    return inter / ((sa[:, 0] * sa[:, 1])[:, None] + (sb[:, 0] * sb[:, 1])[None, :] - inter)


def _to_xyxy(z):
    hw = z[:, 2:4] * 0.5
    hw[:, 0] *= z[:, 3]
    c = z[:, :2]
    return np.concatenate((c - hw, c + hw), axis=1)


def _to_xyah(b):
    out = np.empty((len(b), 4))
    out[:, :2] = (b[:, :2] + b[:, 2:]) * 0.5
    wh = b[:, 2:] - b[:, :2]
    out[:, 2] = wh[:, 0] / wh[:, 1]
    out[:, 3] = wh[:, 1]
    return out


def _diag4(v):
    out = np.zeros((len(v), 4, 4))
    out[:, [0, 1, 2, 3], [0, 1, 2, 3]] = v
    return out

_TRACKED, _LOST = 1, 2


class ByteTrack:
    """ByteTrack with the published defaults.

    ``track_thresh`` 0.5 (high/low split), ``track_buffer`` 30 (frames at 30 fps a lost track is
    kept), ``match_thresh`` 0.8 (stage-1 fused cost), ``frame_rate`` 30 (scales the buffer),
    ``mot20`` False (True turns score fusion off, as the authors did on MOT20),
    ``low_thresh`` 0.1, ``second_match_thresh`` 0.5, ``unconfirmed_match_thresh`` 0.7,
    ``new_track_thresh`` ``track_thresh + 0.1``, ``duplicate_iou`` 0.85.

    ``second_stage=False`` switches stage 2 off (low-score boxes are then ignored: SORT-like
    association on the high boxes only), for ablations.
    ``second_stage_lost=True`` (not in the paper) also offers *lost* tracks to the low-score
    boxes of stage 2, so a person whose occluded detections flicker on and off is not lost for
    good after the first missing box; the reference implementation leaves lost tracks to stage 1.
    """

    def __init__(self, track_thresh: float = 0.5, track_buffer: int = 30, match_thresh: float = 0.8,
                 frame_rate: float = 30.0, *, mot20: bool = False, low_thresh: float = 0.1,
                 second_match_thresh: float = 0.5, unconfirmed_match_thresh: float = 0.7,
                 new_track_thresh: float | None = None, duplicate_iou: float = 0.85,
                 second_stage_lost: bool = False, second_stage: bool = True):
        self.track_thresh = check_fraction("track_thresh", track_thresh)
        self.low_thresh = check_fraction("low_thresh", low_thresh)
        if self.low_thresh > self.track_thresh:
            raise ValueError(f"low_thresh ({low_thresh}) must not exceed track_thresh ({track_thresh})")
        self.match_thresh = check_fraction("match_thresh", match_thresh)
        self.second_match_thresh = check_fraction("second_match_thresh", second_match_thresh)
        self.unconfirmed_match_thresh = check_fraction("unconfirmed_match_thresh", unconfirmed_match_thresh)
        self.new_track_thresh = (self.track_thresh + 0.1 if new_track_thresh is None
                                 else check_fraction("new_track_thresh", new_track_thresh))
        self.duplicate_iou = check_fraction("duplicate_iou", duplicate_iou)
        if not (isinstance(frame_rate, (int, float)) and np.isfinite(frame_rate) and frame_rate > 0):
            raise ValueError(f"frame_rate must be a positive number of frames per second, got {frame_rate!r}")
        if int(track_buffer) < 0:
            raise ValueError(f"track_buffer must be >= 0 frames, got {track_buffer}")
        self.track_buffer = int(track_buffer)
        self.frame_rate = float(frame_rate)
        self.max_time_lost = int(self.frame_rate / 30.0 * self.track_buffer)
        self.fuse = not mot20
        self.second_stage_lost = bool(second_stage_lost)
        self.second_stage = bool(second_stage)
        self.kf = XYAHKalman()
        self.reset()

    # ------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all tracks and restart ids at 0 (call between videos)."""
        self.frame_id = 0
        self._next_id = 0
        self.mean = np.zeros((0, 8))
        self.cov = np.zeros((0, 8, 8))
        self.state = np.zeros(0, np.int8)
        self.activated = np.zeros(0, bool)
        self.tid = np.zeros(0, np.int64)
        self.start = np.zeros(0, np.int64)
        self.last = np.zeros(0, np.int64)
        self.score = np.zeros(0)

    def _keep(self, keep: np.ndarray) -> None:
        for name in ("mean", "cov", "state", "activated", "tid", "start", "last", "score"):
            setattr(self, name, getattr(self, name)[keep])

    @property
    def tracked_objects(self):
        """Confirmed, currently tracked tracks with their Kalman boxes (like ``trackers``)."""
        import supervision as sv

        m = (self.state == _TRACKED) & self.activated
        det = sv.Detections(xyxy=xyah_to_xyxy(self.mean[m, :4]).astype(np.float32).reshape(-1, 4))
        det.tracker_id = self.tid[m].astype(int)
        return det

    # ------------------------------------------------------------------------------------------
    def update(self, detections, frame=None):
        """Associate one frame of detections; returns them with ``tracker_id`` (-1 = no confirmed track).

        ``frame`` is accepted (and ignored) so that code written for appearance trackers runs
        unchanged.
        """
        xyxy, conf, usable = read_detections(detections)
        self.frame_id += 1
        fid = self.frame_id
        n = len(xyxy)
        state, activated = self.state, self.activated
        N = len(state)
        if n == 0 and N == 0:
            return with_tracker_ids(detections, np.zeros(0, int))

        high = usable & (conf > self.track_thresh)
        hi_idx = _nz(high)
        lo_idx = _nz(usable & (conf > self.low_thresh) & ~high) if self.second_stage else _EMPTY

        tracked = state == _TRACKED
        in_pool = activated | ~tracked  # confirmed (tracked or lost) tracks
        pool_idx = _nz(in_pool)
        unconf_idx = _nz(~in_pool)

        if len(pool_idx):
            m = self.mean[pool_idx]
            m[~tracked[pool_idx], 7] = 0.0  # a lost track's height stops changing
            self.mean[pool_idx], self.cov[pool_idx] = _kf_predict(self.kf, m, self.cov[pool_idx])
        iou = _iou(_to_xyxy(self.mean[:, :4]), xyxy) if N and n else None

        # stage 1: confirmed + lost tracks vs high-score boxes, score-fused IoU cost
        t1, d1, u_trk, u_det = _match(iou, pool_idx, hi_idx, conf if self.fuse else None, self.match_thresh)

        # stage 2: the still-tracked leftovers vs low-score boxes, plain IoU
        r_idx = u_trk if self.second_stage_lost else u_trk[tracked[u_trk]]
        t2, d2, u_trk2, _ = _match(iou, r_idx, lo_idx, None, self.second_match_thresh)
        newly_lost = u_trk2[tracked[u_trk2]]

        # stage 3: unconfirmed tracks vs the high boxes nobody took
        t3, d3, u_unc, u_det3 = _match(iou, unconf_idx, u_det, conf if self.fuse else None,
                                       self.unconfirmed_match_thresh)

        upd_t = np.concatenate([t1, t2, t3])
        upd_d = np.concatenate([d1, d2, d3])
        det_of = np.full(N, -1, np.int64)
        if len(upd_t):
            self.mean[upd_t], self.cov[upd_t] = _kf_update(self.kf, self.mean[upd_t], self.cov[upd_t],
                                                           _to_xyah(xyxy[upd_d]))
            state[upd_t] = _TRACKED
            activated[upd_t] = True
            self.last[upd_t] = fid
            self.score[upd_t] = conf[upd_d]
            det_of[upd_t] = upd_d
        state[newly_lost] = _LOST

        keep = (state != _LOST) | (fid - self.last <= self.max_time_lost)
        keep[u_unc] = False  # an unconfirmed track gets one chance only

        # new tracks from confident leftovers
        new_d = u_det3[conf[u_det3] >= self.new_track_thresh]
        if len(new_d):
            nm, nc = self.kf.initiate(_to_xyah(xyxy[new_d]))
            k = len(new_d)
            self.mean = np.concatenate([self.mean, nm])
            self.cov = np.concatenate([self.cov, nc])
            self.state = state = np.concatenate([state, np.full(k, _TRACKED, np.int8)])
            self.activated = activated = np.concatenate([activated, np.full(k, fid == 1)])
            self.tid = np.concatenate([self.tid, np.full(k, -1, np.int64)])
            self.start = np.concatenate([self.start, np.full(k, fid, np.int64)])
            self.last = np.concatenate([self.last, np.full(k, fid, np.int64)])
            self.score = np.concatenate([self.score, conf[new_d]])
            det_of = np.concatenate([det_of, new_d])
            keep = np.concatenate([keep, np.ones(k, bool)])

        # duplicates: a tracked and a lost track on the same spot -> keep the older one
        trk = _nz(keep & (state == _TRACKED))
        lst = _nz(keep & (state == _LOST))
        if len(trk) and len(lst):
            p, q = np.nonzero(_iou(_to_xyxy(self.mean[trk, :4]), _to_xyxy(self.mean[lst, :4])) > self.duplicate_iou)
            if len(p):
                age_p = self.last[trk[p]] - self.start[trk[p]]
                age_q = self.last[lst[q]] - self.start[lst[q]]
                keep[np.where(age_p > age_q, lst[q], trk[p])] = False

        if not keep.all():
            det_of = det_of[keep]
            self._keep(keep)

        # ids: allocated the first time a track is confirmed, in track order
        newly = _nz(self.activated & (self.tid < 0))
        if len(newly):
            self.tid[newly] = np.arange(self._next_id, self._next_id + len(newly))
            self._next_id += len(newly)

        ids = np.full(n, -1, dtype=int)
        out = _nz((det_of >= 0) & self.activated & (self.last == fid))
        ids[det_of[out]] = self.tid[out]
        return with_tracker_ids(detections, ids)
