"""Exercises of the capstone lab: which side of the line, crossing with hysteresis, distinct ids.

    from companion.exercises import ex_lab as ex
    ex.q1.check(my_side_of_line); ex.q1.hint(); ex.q1.solution()
"""

from __future__ import annotations

import numpy as np

from companion.exercises._core import ExerciseSet, FunctionExercise
from companion.lab.count import count_distinct, crossings_with_hysteresis


def side_of_line(points, p1, p2) -> np.ndarray:
    """+1 / -1 / 0 for points right of / left of / on the arrow p1 -> p2 (image coords, y down);
    NaN points give 0. The sign of the 2D cross product (p2 - p1) x (point - p1).
    (companion.lab.count.side_of_line, which the counter runs; tests/test_lab_count.py checks
    the two agree.)"""
    p = np.asarray(points, dtype=np.float64)
    (ax, ay), (bx, by) = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    cross = (bx - ax) * (p[..., 1] - ay) - (by - ay) * (p[..., 0] - ax)
    return np.where(np.isnan(cross), 0, np.sign(cross)).astype(np.int64)


def _side_cases():
    rng = np.random.default_rng(7)
    pts = rng.uniform(0, 100, size=(12, 2))
    pts[0] = (50.0, 30.0)  # exactly on the line below -> 0
    return [
        (pts, np.array([50.0, 100.0]), np.array([50.0, 0.0])),  # vertical, drawn bottom -> top
        (pts, np.array([0.0, 40.0]), np.array([100.0, 60.0])),  # slanted, left -> right
        (np.array([[10.0, 10.0], [10.0, -10.0]]), np.array([0.0, 0.0]), np.array([1.0, 0.0])),
    ]


def _hysteresis_cases():
    jitter = [-1, 1, -1, 1, 1, -1, 1, -1, -1]              # dithering on the line: nothing
    clean = [-1] * 5 + [1] * 5                               # one clean crossing
    late = [-1, -1, -1, 1, 1, -1, 1, 1, 1, 1]                # steps over, back, then over for good
    back = [1] * 4 + [-1] * 4 + [1] * 4                      # over and back: two crossings
    on_line = [-1, -1, -1, 0, 0, 1, 1, 1]                    # zeros are ignored
    split = [-1, -1, -1, 1, 0, 1, 1, 0, 1]                   # ... even inside a run: it goes on
    settle = [1, 0, 1, 0, 1, -1, -1, -1]                     # the first side is set across zeros
    return [(jitter, 3), (clean, 3), (late, 3), (back, 3), (on_line, 3), (back, 5), (jitter, 1),
            (split, 3), (settle, 3)]


def _distinct_cases():
    ev1 = [(10, 3, "in"), (14, 5, "out"), (30, 3, "out"), (31, 3, "in")]
    ev2 = [(5, -1, "in"), (6, -1, "out"), (9, 2, "in")]   # tentative tracks never count
    ev3 = []
    ev4 = [(1, 0, "in"), (2, 1, "in"), (3, 2, "out"), (4, 0, "out")]
    return [(ev1,), (ev2,), (ev3,), (ev4,)]


q1 = FunctionExercise(
    "q1",
    "Write `side(points, p1, p2)`: for (N, 2) points return +1 / -1 / 0 for right of / left of / on "
    "the arrow p1 -> p2 as seen on screen (image coordinates: y points DOWN).",
    side_of_line,
    cases=_side_cases,
    hints=[
        "The sign of the 2D cross product (p2 - p1) x (P - p1) = dx * (Py - y1) - dy * (Px - x1) "
        "tells the side.",
        "With y pointing down, a positive cross product is on the right-hand side of the arrow on "
        "screen. np.sign gives -1/0/+1; return integers.",
    ],
)

q2 = FunctionExercise(
    "q2",
    "Write `crossings(sides, min_frames)`: given a track's side per frame (+1/-1, 0 = on the line, "
    "ignored), return the list of (index, new_side) where the *established* side changes; a side "
    "is established after `min_frames` consecutive observations on it, and the index is where that "
    "run began. The first established side is not a crossing.",
    crossings_with_hysteresis,
    cases=_hysteresis_cases,
    hints=[
        "Keep four numbers: the established side (0 at first), the side of the current run, its "
        "length and the index where it began. Skip zeros: a zero neither ends nor extends a run.",
        "When the run reaches min_frames and differs from the established side, record (run_start, "
        "side) unless nothing was established yet, then establish it.",
    ],
)

q3 = FunctionExercise(
    "q3",
    "Write `distinct(events)`: events are (frame, track_id, direction) tuples; return how many "
    "different people crossed — distinct track ids, tentative ids (-1) excluded.",
    count_distinct,
    cases=_distinct_cases,
    hints=["A set of ids; skip negative ids (tentative tracks)."],
)


def _wrong_side(points, p1, p2):
    return -side_of_line(points, p1, p2)  # the y-up convention: every side flipped


def _wrong_crossings(sides, min_frames):
    return crossings_with_hysteresis(sides, 1)  # no hysteresis: jitter counts


def _wrong_distinct(events):
    return len(events)  # counts crossings, not people


EXERCISES = ExerciseSet("capstone lab", q1=q1, q2=q2, q3=q3)
WRONG_ANSWERS = {"q1": _wrong_side, "q2": _wrong_crossings, "q3": _wrong_distinct}
