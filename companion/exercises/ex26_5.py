"""Exercises for 26.5 multi-object tracking.

    from companion.exercises import ex26_5 as ex
    ex.q1.check(my_iou_matrix)   # q1 IoU matrix          (a function)
    ex.q2.check(my_predict)      # q2 Kalman predict      (a function)
    ex.q3.check(my_associate)    # q3 gated association   (a function)
    ex.q4.check(my_split)        # q4 ByteTrack's split   (a function)
    ex.q1.hint(), ex.q1.hint(2), ex.q1.solution()
"""

from __future__ import annotations

import numpy as np

from companion.exercises._core import ExerciseSet, FunctionExercise
from companion.tracking.assignment import linear_assignment
from companion.tracking.boxes import box_iou
from companion.tracking.kalman import XYAHKalman


# ---- references (thin wrappers over companion.tracking: one source of truth) -------------------

def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy boxes -> (N, M) IoU, no Python loops."""
    return box_iou(a, b)


def kalman_predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One DeepSORT/ByteTrack predict step for a single track: state (8,), covariance (8, 8)."""
    m, c = XYAHKalman().predict(mean, cov)
    return m, c


def associate(track_boxes: np.ndarray, det_boxes: np.ndarray, iou_threshold: float = 0.3) -> np.ndarray:
    """SORT's association step: the optimal matching on cost 1 - IoU over all pairs, then the
    matched pairs with IoU < ``iou_threshold`` dropped; returns the (K, 2) array of
    (track, detection) pairs sorted by track."""
    iou = box_iou(track_boxes, det_boxes)
    matches, _, _ = linear_assignment(1.0 - iou)  # nothing forbidden before solving
    matches = matches[iou[matches[:, 0], matches[:, 1]] >= iou_threshold]
    return matches[np.argsort(matches[:, 0])].astype(np.int64)


def bytetrack_split(scores: np.ndarray, track_thresh: float = 0.5, low_thresh: float = 0.1):
    """ByteTrack's split of detection indices as the paper states it: high = score >
    track_thresh, low = low_thresh < score <= track_thresh. Returns (high_idx, low_idx) as int64
    arrays."""
    scores = np.asarray(scores, dtype=np.float64)
    high = scores > track_thresh
    low = (scores > low_thresh) & ~high
    return np.flatnonzero(high).astype(np.int64), np.flatnonzero(low).astype(np.int64)


def bytetrack_split_released_code(scores: np.ndarray, track_thresh: float = 0.5,
                                  low_thresh: float = 0.1):
    """The same split as ByteTrack's released code writes it, strict on both sides: low =
    low_thresh < score < track_thresh (a score exactly at track_thresh is in neither set)."""
    scores = np.asarray(scores, dtype=np.float64)
    low = (scores > low_thresh) & (scores < track_thresh)
    return np.flatnonzero(scores > track_thresh).astype(np.int64), np.flatnonzero(low).astype(np.int64)


# ---- test cases --------------------------------------------------------------------------------

def _boxes(rng, n):
    xy = rng.uniform(0, 200, size=(n, 2))
    return np.hstack([xy, xy + rng.uniform(5, 60, size=(n, 2))])


def _iou_cases():
    rng = np.random.default_rng(0)
    same = np.array([[0, 0, 10, 10.0], [20, 20, 30, 40]])
    return [(same, same), (_boxes(rng, 4), _boxes(rng, 6)), (_boxes(rng, 1), _boxes(rng, 3)),
            (np.array([[0, 0, 10, 10.0]]), np.array([[10, 0, 20, 10.0], [5, 5, 15, 15]]))]


def _predict_cases():
    kf = XYAHKalman()
    out = []
    for z, v in [((100, 50, 0.5, 80), (2, -1, 0, 0.5)), ((10, 20, 0.4, 30), (0, 0, 0, 0)),
                 ((300, 200, 0.6, 120), (-5, 3, 0.01, -1))]:
        m, c = kf.initiate(np.array(z, float))
        m = m[0].copy()
        m[4:] = v
        out.append((m, c[0]))
    return out


def _assoc_cases():
    rng = np.random.default_rng(1)
    tracks = _boxes(rng, 5)
    dets = tracks[[3, 0, 4]] + rng.normal(0, 2, size=(3, 4))
    crowded = np.array([[0, 0, 10, 20.0], [6, 0, 16, 20]])
    crowded_dets = np.array([[5, 0, 15, 20.0], [11, 0, 21, 20]])
    far = np.array([[500, 500, 520, 540.0]])
    # greedy (best pair first) takes (1, 0) and strands track 0; the optimum pairs (0,0), (1,1)
    trap = np.array([[10, 0, 20, 20.0], [3, 0, 13, 20]])
    trap_dets = np.array([[5, 0, 15, 20.0], [1, 0, 11, 20]])
    # `crowded`: solving first keeps the one excellent pair (IoU 0.82); forbidding pairs below
    # the threshold before solving would force two poor ones (IoU 0.33 each) instead
    return [(tracks, dets), (tracks, np.vstack([dets, far])), (crowded, crowded_dets),
            (tracks[:0], dets), (tracks, far), (trap, trap_dets)]


def _split_cases():
    return [(np.array([0.9, 0.5, 0.1, 0.3, 0.51, 0.05, 0.7]),), (np.array([0.2, 0.2]),), (np.zeros(0),),
            (np.array([0.55, 0.6, 0.11]),)]


# ---- plausible wrong answers (tests/test_exercises.py checks they fail) --------------------------

def _wrong_iou(a, b):  # the old "+1 pixel" convention
    a, b = np.asarray(a, float), np.asarray(b, float)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1, 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1, 0, None)
    area = lambda x: (x[:, 2] - x[:, 0] + 1) * (x[:, 3] - x[:, 1] + 1)  # noqa: E731
    inter = iw * ih
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def _wrong_predict(mean, cov):  # forgets the process noise Q
    F = np.eye(8)
    F[:4, 4:] = np.eye(4)
    return F @ mean, F @ cov @ F.T


def _wrong_associate(track_boxes, det_boxes, iou_threshold=0.3):  # greedy, best pair first
    iou = box_iou(track_boxes, det_boxes).copy()
    out = []
    while iou.size and iou.max() >= iou_threshold:
        t, d = np.unravel_index(np.argmax(iou), iou.shape)
        out.append((t, d))
        iou[t, :] = -1
        iou[:, d] = -1
    out = np.array(sorted(out), dtype=np.int64).reshape(-1, 2)
    return out


def _wrong_split(scores, track_thresh=0.5, low_thresh=0.1):  # >= at the boundary, keeps very low boxes
    scores = np.asarray(scores, dtype=np.float64)
    return np.flatnonzero(scores >= track_thresh), np.flatnonzero(scores < track_thresh)


q1 = FunctionExercise(
    "q1", "Write iou_matrix(a, b): the (N, M) IoU of xyxy boxes, vectorised (no Python loops).",
    iou_matrix, hints=[
        "Broadcast: a[:, None, :] against b[None, :, :]. The intersection is the overlap of the x-intervals "
        "times the overlap of the y-intervals, each clipped at 0.",
        "union = area(a)[:, None] + area(b)[None, :] - intersection; continuous coordinates, no +1.",
    ], cases=_iou_cases, atol=1e-9)

q2 = FunctionExercise(
    "q2", "Write kalman_predict(mean, cov) for the 8-state filter (x, y, a, h and velocities): "
          "constant velocity, process noise std = h/20 for x, y, h; h/160 for their velocities; 1e-2 and 1e-5 "
          "for a and its velocity.",
    kalman_predict, hints=[
        "F is the 8x8 identity with an identity block in the top right (position += velocity).",
        "Q = diag(std**2) with std built from the height *before* the step; cov' = F cov F^T + Q.",
    ], cases=_predict_cases, atol=1e-9)

q3 = FunctionExercise(
    "q3", "Write associate(track_boxes, det_boxes, iou_threshold=0.3), SORT's association step: the "
          "optimal matching on cost 1 - IoU over all pairs, then drop the matched pairs whose IoU is below "
          "the threshold; return (K, 2) int pairs sorted by track.",
    associate, hints=[
        "scipy.optimize.linear_sum_assignment on 1 - IoU (it solves rectangular problems too), then drop the "
        "pairs whose IoU is below the threshold, then sort the pairs by track.",
        "Greedy (best pair first) is not optimal: two tracks competing for two boxes can both lose.",
        "Solve first, drop afterwards (SORT's rule): forbidding the low pairs before solving makes the solver "
        "match as many pairs as it can, and can trade one excellent match for two poor ones.",
    ], cases=_assoc_cases)

q4 = FunctionExercise(
    "q4", "Write bytetrack_split(scores, track_thresh=0.5, low_thresh=0.1) -> (high_idx, low_idx).",
    bytetrack_split, hints=[
        "High: score > track_thresh. Low: low_thresh < score <= track_thresh. Boxes at or below low_thresh "
        "are background and take part in neither stage.",
        "The paper puts a score equal to track_thresh in the low set; ByteTrack's released code writes "
        "score < track_thresh, so such a box is in neither set. Both are accepted; it is never high.",
    ], cases=_split_cases,
    alternatives={"ByteTrack's released code (low: low_thresh < score < track_thresh)":
                  bytetrack_split_released_code})

EXERCISES = ExerciseSet("26.5 multi-object tracking", q1=q1, q2=q2, q3=q3, q4=q4)
WRONG_ANSWERS = {"q1": _wrong_iou, "q2": _wrong_predict, "q3": _wrong_associate, "q4": _wrong_split}
