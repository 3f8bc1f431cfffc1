"""Exercises for 26.5 multi-object tracking.

    from companion.exercises import ex26_5 as ex
    ex.q1.check(my_iou_matrix)   # q1 IoU matrix          (a function)
    ex.q2.check(my_predict)      # q2 Kalman predict      (a function)
    ex.q3.check(my_associate)    # q3 gated association   (a function)
    ex.q4.check(my_split)        # q4 ByteTrack's split   (a function)
    ex.q5.check(my_sort_step)    # q5 one SORT frame      (a function, notebook 26_5_3)
    ex.q6.check(my_cascade)      # q6 DeepSORT's cascade  (a function, notebook 26_5_4)
    ex.q7.check(my_id_switches)  # q7 CLEAR ID switches   (a function, notebook 26_5_6)
    ex.q1.hint(), ex.q1.hint(2), ex.q1.solution()
"""

from __future__ import annotations

import numpy as np

from companion.exercises._core import ExerciseSet, FunctionExercise
from companion.tracking.assignment import linear_assignment
from companion.tracking.boxes import box_iou
from companion.tracking.deepsort import matching_cascade
from companion.tracking.kalman import XYAHKalman
from companion.tracking.metrics import count_id_switches
from companion.tracking.sort import sort_step

# ---- references: companion.tracking's own functions where they read as the algorithm ------------
# q1 box_iou, q5 sort_step, q6 matching_cascade, q7 count_id_switches are the functions the
# trackers and metrics run; q2 is the textbook form of XYAHKalman.predict (whose block-sum form is
# faster), tested equal to it in tests/test_26_5_kalman_assignment.py.

iou_matrix = box_iou  # the name the notebooks use


def kalman_predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One DeepSORT/ByteTrack predict step for a single track: state (8,) = (x, y, a, h) and their
    velocities, covariance (8, 8). Constant velocity; process noise scaled by the box height."""
    F = np.eye(8)
    F[:4, 4:] = np.eye(4)  # position += velocity
    h = mean[3]  # the height before the step
    std = np.array([h / 20, h / 20, 1e-2, h / 20, h / 160, h / 160, 1e-5, h / 160])
    Q = np.diag(std ** 2)
    return F @ mean, F @ cov @ F.T + Q


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

def _sort_step_cases():
    """Predicted track boxes, their counters, detections, the frame number (and the defaults)."""
    rng = np.random.default_rng(5)
    tracks = _boxes(rng, 5)
    dets = np.vstack([tracks[[4, 0, 2]] + rng.normal(0, 1.5, size=(3, 4)), _boxes(rng, 2) + 300])
    streak, since = np.array([3, 0, 5, 1, 2]), np.array([0, 1, 0, 0, 1])
    return [(tracks, streak, since, dets, 10),            # matches, misses, a broken streak, births
            (tracks, streak, since, dets, 2),             # still inside the first min_hits frames
            (tracks[:0], np.zeros(0, int), np.zeros(0, int), dets, 1),   # first frame: all new
            (tracks, streak, since, dets[:0], 7),         # no detections: everyone ages
            (tracks[:2], np.array([2, 2]), np.array([0, 0]), tracks[[1, 0]] + 1.0, 5)]


def _cascade_cases():
    inf = np.inf
    rng = np.random.default_rng(6)
    # an old track (5 frames) with a near-perfect match that a recent track also wants
    steal = (np.array([[0.15, 0.19], [0.01, inf]]), np.array([1, 5]))
    rand = rng.uniform(0, 0.3, size=(6, 5))
    rand[rng.random((6, 5)) < 0.3] = inf
    return [steal, (rand, np.array([2, 1, 3, 1, 2, 30])), (rand, np.array([1, 1, 1, 1, 1, 1])),
            (rand, np.array([4, 31, 2, 7, 1, 3])), (np.zeros((0, 3)), np.zeros(0, int)),
            (np.array([[0.1, 0.25, 0.05]]), np.array([2]))]


def _id_switch_cases():
    A = np.array
    return [([A([[1, 10], [2, 20]]), A([[1, 10], [2, 20]]), A([[1, 20], [2, 10]])],),   # a swap: 2
            ([A([[1, 10]]), A([]).reshape(0, 2), A([[1, 11]]), A([[1, 11]])],),          # a gap, new id: 1
            ([A([[1, 10]]), A([]).reshape(0, 2), A([[1, 10]])],),                        # a gap, same id: 0
            ([A([[1, 10]]), A([[1, 11], [2, 10]]), A([[2, 12], [1, 10]]), A([[3, 10]])],),
            ([],)]


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


def _wrong_sort_step(track_boxes, hit_streak, since_update, det_boxes, frame, *, max_age=1, min_hits=3,
                     iou_threshold=0.3):  # forgets that a miss breaks the hit streak
    out = sort_step(track_boxes, np.asarray(hit_streak), np.zeros_like(since_update), det_boxes, frame,
                    max_age=max_age, min_hits=min_hits, iou_threshold=iou_threshold)
    since = np.concatenate([np.asarray(since_update) + 1, np.zeros(len(out["new"]), np.int64)])
    since[out["matches"][:, 0]] = 0
    out["since_update"], out["keep"] = since, since <= max_age
    out["reported"] = (since == 0) & ((out["hit_streak"] >= min_hits) | (frame <= min_hits))
    return out


def _wrong_cascade(cost, since_update, max_cost=0.2, max_age=30):  # one global assignment, no levels
    cost = np.asarray(cost, dtype=np.float64)
    keep = (np.asarray(since_update) >= 1) & (np.asarray(since_update) <= max_age)
    c = np.where(keep[:, None], cost, np.inf)
    m, _, unmatched = linear_assignment(c, max_cost)
    return m[np.argsort(m[:, 0])].astype(np.int64).reshape(-1, 2), unmatched


def _wrong_id_switches(matches_per_frame):  # forgets a person while they are unmatched
    prev, switches = {}, 0
    for pairs in matches_per_frame:
        now = {g: h for g, h in np.asarray(pairs).reshape(-1, 2).tolist()}
        switches += sum(g in prev and prev[g] != h for g, h in now.items())
        prev = now
    return switches


q1 = FunctionExercise(
    "q1", "Write iou_matrix(a, b): the (N, M) IoU of xyxy boxes, vectorised (no Python loops).",
    box_iou, hints=[
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

q5 = FunctionExercise(
    "q5", "Write sort_step(track_boxes, hit_streak, since_update, det_boxes, frame, *, max_age=1, min_hits=3, "
          "iou_threshold=0.3): SORT's decisions for one frame after the Kalman predict. Return a dict with "
          "'matches' ((K, 2) int, sorted by track), 'new' (detections that start tracks), and for the old tracks "
          "followed by the new ones 'hit_streak', 'since_update', 'reported' (bool) and 'keep' (bool).",
    sort_step, hints=[
        "Age first: a track that missed last frame (since_update > 0) loses its hit streak; every since_update "
        "grows by one. Then associate exactly as in q3 and reset since_update / grow the streak of the matched.",
        "New tracks start with streak 0 and since_update 0. reported = matched this frame and (streak >= min_hits "
        "or frame <= min_hits); keep = since_update <= max_age.",
    ], cases=_sort_step_cases)

q6 = FunctionExercise(
    "q6", "Write matching_cascade(cost, since_update, max_cost=0.2, max_age=30): DeepSORT's cascade over a gated "
          "(N tracks, M detections) appearance cost (inf = gated out). Return (matches (K, 2) int sorted by track, "
          "unmatched detections sorted).",
    matching_cascade, hints=[
        "Loop level = 1, 2, ..., max_age: the tracks with since_update == level are matched (optimal assignment, "
        "cost <= max_cost) against the detections still free; matched detections leave the pool.",
        "One global assignment is not the same: a track lost for 5 frames could then take the detection that a "
        "track seen last frame needs.",
    ], cases=_cascade_cases)

q7 = FunctionExercise(
    "q7", "Write id_switches(matches_per_frame): the CLEAR-MOT number of identity switches, given for every frame "
          "the (K, 2) matched (ground-truth id, track id) pairs.",
    count_id_switches, hints=[
        "Remember, per ground-truth id, the track id of its most recent match; a match to another track id is a "
        "switch. The first match of a person is not a switch.",
        "Frames in which a person is not matched do not reset the memory: coming back under a new id after a gap "
        "is a switch, coming back under the same id is not.",
    ], cases=_id_switch_cases)

EXERCISES = ExerciseSet("26.5 multi-object tracking", q1=q1, q2=q2, q3=q3, q4=q4, q5=q5, q6=q6, q7=q7)
WRONG_ANSWERS = {"q1": _wrong_iou, "q2": _wrong_predict, "q3": _wrong_associate, "q4": _wrong_split,
                 "q5": _wrong_sort_step, "q6": _wrong_cascade, "q7": _wrong_id_switches}
