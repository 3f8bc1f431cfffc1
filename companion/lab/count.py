"""Counting the people who cross a line segment — jitter-proof, direction-aware, per track.

**Definitions** (the tests and the synthetic ground truth use exactly these):

* The *anchor* of a box is its bottom-centre, the point where the person stands (the foot point):
  a line drawn on the ground is crossed when the feet cross it, whatever the perspective.
* The *side* of a point P with respect to the directed segment A→B is the sign of the 2D cross
  product ``(B - A) x (P - A) = (Bx-Ax)(Py-Ay) - (By-Ay)(Px-Ax)``. In image coordinates (x to
  the right, y **down**) a positive side is the **right-hand side of the arrow A→B as seen on the
  screen**. Points exactly on the line (side 0) are ignored.
* **Direction convention:** ``in`` = the anchor moves from the negative (left-of-arrow) side to
  the positive (right-of-arrow) side; ``out`` = the opposite. For a line drawn from bottom to top
  (A below B), ``in`` is left-to-right on the screen. :func:`describe_direction` says it in words
  for any line, and the lab prints it.
* **Hysteresis:** a track's side is *established* only once its anchor has been observed on that
  side ``min_frames`` times in a row. A crossing is counted when the established side changes —
  so jitter around the line that never stays ``min_frames`` frames on the new side counts nothing,
  and jitter can never count the same passage twice.
* **Dead-band:** with ``dead_band = d`` pixels, a point closer than ``d`` to the line (measured
  perpendicular to it) is *on the line*: it says nothing about the side. A track's side can
  therefore only change once its foot point has travelled at least ``d`` past the line, so a
  person loitering *on* the line (feet and box jittering by a few pixels for seconds, the classic
  double-count) is counted at most once, however long they stand there; hysteresis alone does
  not stop that when the jitter is slow. ``d = 0`` turns the band off. The lab uses
  :data:`DEFAULT_DEAD_BAND` of the frame height.
* **Extent:** the step that entered the new side (last point on the old side → first point of
  the run on the new side) must cut the line *within the segment* (0 ≤ t ≤ 1 along A→B). A person
  walking around the end of the segment changes side without being counted.
* **Tentative tracks** (``tracker_id == -1``) are never counted and never fed to the counter.
* ``distinct`` = the number of distinct track ids with at least one counted crossing (a person
  who crosses and comes back counts once in ``distinct``, once in ``in`` and once in ``out``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

IN, OUT = "in", "out"

#: The lab's dead-band: 2.5 % of the frame height (14 px on the 576-row street clip, about a
#: fifth of a person's height there; a walker covers it in 2-4 frames at 10 frames/s).
DEFAULT_DEAD_BAND = 0.025


# ----------------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------------


def as_line(line) -> tuple[np.ndarray, np.ndarray]:
    """``(x1, y1, x2, y2)`` or ``((x1, y1), (x2, y2))`` -> two float arrays; rejects bad lines."""
    try:
        a = np.asarray(line, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"a line must be 4 numbers x1 y1 x2 y2, got {line!r}") from None
    if a.shape != (4,):
        raise ValueError(f"a line must be 4 numbers x1 y1 x2 y2, got {a.size} numbers")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"a line's coordinates must be finite, got {a.tolist()}")
    p1, p2 = a[:2], a[2:]
    if np.hypot(*(p2 - p1)) < 1e-9:
        raise ValueError(f"the line has zero length: both ends are at ({p1[0]:g}, {p1[1]:g}); "
                         "give two different points x1 y1 x2 y2")
    return p1, p2


def cross_value(points, p1, p2) -> np.ndarray:
    """The 2D cross product (B - A) x (P - A) for every point (shape (..., 2) -> (...))."""
    p = np.asarray(points, dtype=np.float64)
    a, b = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    d = b - a
    return d[0] * (p[..., 1] - a[1]) - d[1] * (p[..., 0] - a[0])


def side_of_line(points, p1, p2, dead_band: float = 0.0) -> np.ndarray:
    """+1 / -1 / 0 for points right of / left of / on the arrow p1→p2 (image coords, y down).

    Points closer than ``dead_band`` pixels to the (infinite) line, and NaN points (no
    observation), give 0.
    """
    c = cross_value(points, p1, p2)
    a, b = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    dist = np.abs(c) / np.hypot(*(b - a))
    on = np.isnan(c) | (dist < dead_band) if dead_band > 0 else np.isnan(c)
    return np.where(on, 0, np.sign(np.nan_to_num(c))).astype(np.int64)


def crossing_parameter(q0, q1, p1, p2) -> float:
    """Where the step q0→q1 cuts the infinite line through p1, p2: the position ``t`` along
    p1→p2 (0 at p1, 1 at p2). NaN when the step is parallel to the line."""
    q0, q1 = np.asarray(q0, np.float64), np.asarray(q1, np.float64)
    a, b = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    d, e = b - a, q1 - q0
    denom = d[0] * e[1] - d[1] * e[0]
    if abs(denom) < 1e-12:
        return float("nan")
    w = q0 - a
    return float((w[0] * e[1] - w[1] * e[0]) / denom)


def describe_direction(p1, p2) -> str:
    """The in/out convention for this line, in words (which screen direction is ``in``)."""
    a, b = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    d = b - a
    normal = np.array([-d[1], d[0]])  # points to the positive (right-of-arrow) side on screen
    names = []
    if abs(normal[0]) > 0.38 * np.hypot(*normal):
        names.append("rightward" if normal[0] > 0 else "leftward")
    if abs(normal[1]) > 0.38 * np.hypot(*normal):
        names.append("downward" if normal[1] > 0 else "upward")
    way = " and ".join(names)
    return (f"line ({a[0]:g},{a[1]:g})->({b[0]:g},{b[1]:g}): 'in' = anchor (foot point) crosses "
            f"from the left to the right of the arrow, i.e. moving {way} on screen; "
            f"'out' = the opposite")


def segment_intersects_rect(p1, p2, width: float, height: float) -> bool:
    """True if any part of the segment lies inside the image rectangle [0, W] x [0, H]."""
    return clip_segment_to_rect(p1, p2, width, height) is not None


def clip_segment_to_rect(p1, p2, width: float, height: float):
    """The part of the segment inside [0, W] x [0, H] as two float arrays (Liang–Barsky
    clipping), or None when it misses the rectangle. Any finite coordinates, however large."""
    a, b = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    d = b - a
    t0, t1 = 0.0, 1.0
    for p, q in ((-d[0], a[0]), (d[0], width - a[0]), (-d[1], a[1]), (d[1], height - a[1])):
        if p == 0:
            if q < 0:
                return None
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 > t1:
            return None
    return a + t0 * d, a + t1 * d


def anchors_of(xyxy) -> np.ndarray:
    """Bottom-centre foot points of (N, 4) boxes."""
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3]], axis=1)


# ----------------------------------------------------------------------------------------------
# one trajectory
# ----------------------------------------------------------------------------------------------


@dataclass
class CrossingEvent:
    frame: int          # frame at which the crossing was confirmed (min_frames on the new side)
    track_id: int
    direction: str      # "in" or "out"
    cross_frame: int    # frame of the first observation on the new side (when the feet crossed)
    t: float            # where along the segment it was crossed (0 = start, 1 = end)
    time_s: float | None = None

    def as_row(self) -> dict:
        return {"frame": self.frame, "time_s": self.time_s, "track_id": self.track_id,
                "direction": self.direction, "cross_frame": self.cross_frame,
                "position_on_line": round(self.t, 4)}


@dataclass
class _TrackState:
    established: int = 0           # 0 until a side was seen min_frames times in a row
    run_side: int = 0              # side of the current run of observations
    run_len: int = 0
    run_start_point: np.ndarray | None = None
    run_start_frame: int = -1
    before_run_point: np.ndarray | None = None  # last point before the current run began
    last_point: np.ndarray | None = None
    raw_side: int = 0              # side of the last point, ignoring the dead-band
    flip: tuple | None = None      # (frame, t, new side) of the last step that changed raw_side


class LineCounter:
    """Counts crossings of the segment ``line`` by tracked anchors, with hysteresis.

    Feed it once per frame with :meth:`update` (``supervision.Detections`` with ``tracker_id``)
    or :meth:`update_points` (ids and anchor points). Read ``in_count``, ``out_count``,
    ``distinct`` and ``events``.
    """

    def __init__(self, line, *, min_frames: int = 3, dead_band: float = 0.0):
        self.p1, self.p2 = as_line(line)
        if int(min_frames) != min_frames or min_frames < 1:
            raise ValueError(f"min_frames must be a positive integer, got {min_frames!r}")
        if not (np.isfinite(dead_band) and dead_band >= 0):
            raise ValueError(f"dead_band must be a distance in pixels >= 0, got {dead_band!r}")
        self.min_frames = int(min_frames)
        self.dead_band = float(dead_band)
        self.reset()

    def reset(self) -> None:
        self._tracks: dict[int, _TrackState] = {}
        self.events: list[CrossingEvent] = []
        self.in_count = 0
        self.out_count = 0
        self._crossed_ids: set[int] = set()

    @property
    def line(self) -> tuple[float, float, float, float]:
        return (*map(float, self.p1), *map(float, self.p2))

    @property
    def distinct(self) -> int:
        return len(self._crossed_ids)

    @property
    def crossed_ids(self) -> set[int]:
        return set(self._crossed_ids)

    def describe(self) -> str:
        return describe_direction(self.p1, self.p2)

    def summary(self) -> dict:
        return {"in_count": self.in_count, "out_count": self.out_count, "distinct": self.distinct,
                "line": list(self.line), "min_frames": self.min_frames,
                "dead_band_px": self.dead_band, "direction_convention": self.describe()}

    def relabel(self, src: int, dst: int) -> None:
        """Track ``src`` turned out to be ``dst`` (long-term re-identification): its events and
        its current state now belong to ``dst`` (``dst``'s older state, from before it left the
        picture, is dropped: a step from there to here was never observed)."""
        src, dst = int(src), int(dst)
        for ev in self.events:
            if ev.track_id == src:
                ev.track_id = dst
        if src in self._crossed_ids:
            self._crossed_ids.discard(src)
            self._crossed_ids.add(dst)
        if src in self._tracks:
            self._tracks[dst] = self._tracks.pop(src)

    def rename(self, person_of) -> None:
        """Give every event the id ``person_of(track_id, cross_frame)`` (offline identities,
        :mod:`companion.lab.identities`): frames and directions stay, ``distinct`` follows."""
        for ev in self.events:
            ev.track_id = int(person_of(ev.track_id, ev.cross_frame))
        self._crossed_ids = {ev.track_id for ev in self.events}

    # -- feeding --------------------------------------------------------------------------------
    def update(self, detections, frame_index: int, time_s: float | None = None) -> list[CrossingEvent]:
        """One frame of tracked detections (needs ``tracker_id``; -1 = tentative, ignored)."""
        ids = getattr(detections, "tracker_id", None)
        if ids is None:
            if len(detections) == 0:
                return []
            raise ValueError("the detections carry no tracker_id: run a tracker before counting")
        return self.update_points(np.asarray(ids), anchors_of(detections.xyxy), frame_index, time_s)

    def update_points(self, ids, points, frame_index: int,
                      time_s: float | None = None) -> list[CrossingEvent]:
        ids = np.asarray(ids).reshape(-1)
        points = np.asarray(points, np.float64).reshape(-1, 2)
        if len(ids) != len(points):
            raise ValueError(f"{len(ids)} ids but {len(points)} points")
        sides = side_of_line(points, self.p1, self.p2, self.dead_band)
        raw = side_of_line(points, self.p1, self.p2)
        new: list[CrossingEvent] = []
        for tid, pt, side, rs in zip(ids.tolist(), points, sides.tolist(), raw.tolist()):
            if tid < 0 or not np.all(np.isfinite(pt)):
                continue
            ev = self._step(int(tid), pt, side, rs, int(frame_index), time_s)
            if ev is not None:
                new.append(ev)
        return new

    def _step(self, tid: int, pt: np.ndarray, side: int, raw: int, frame: int,
              time_s) -> CrossingEvent | None:
        st = self._tracks.setdefault(tid, _TrackState())
        if raw != 0 and raw != st.raw_side:
            if st.raw_side != 0 and st.last_point is not None:  # the feet stepped over the line
                st.flip = (frame, crossing_parameter(st.last_point, pt, self.p1, self.p2), raw)
            st.raw_side = raw
        if side == 0:  # on the line (or inside the dead-band): no information about the side
            st.last_point = pt
            return None
        if side == st.run_side:
            st.run_len += 1
        else:
            st.run_side, st.run_len = side, 1
            st.before_run_point = st.last_point
            st.run_start_point, st.run_start_frame = pt, frame
        st.last_point = pt
        if st.run_len < self.min_frames or st.established == side:
            return None
        old, st.established = st.established, side
        if old == 0 or st.before_run_point is None:  # first established side: nothing crossed
            return None
        if self.dead_band > 0:
            # where the feet last stepped over the line onto this side (the dead-band run may
            # have begun a few frames later)
            if st.flip is None or st.flip[2] != side:
                return None
            cross_frame, t = st.flip[0], st.flip[1]
        else:
            cross_frame = st.run_start_frame
            t = crossing_parameter(st.before_run_point, st.run_start_point, self.p1, self.p2)
        if not (0.0 <= t <= 1.0):  # went around the end of the segment
            return None
        direction = IN if side > 0 else OUT
        ev = CrossingEvent(frame, tid, direction, cross_frame, t, time_s)
        self.events.append(ev)
        if direction == IN:
            self.in_count += 1
        else:
            self.out_count += 1
        self._crossed_ids.add(tid)
        return ev


# ----------------------------------------------------------------------------------------------
# whole trajectories (ground truth)
# ----------------------------------------------------------------------------------------------


def count_trajectories(tracks: Mapping[int, np.ndarray], line, *, min_frames: int = 3,
                       dead_band: float = 0.0) -> LineCounter:
    """Run the counting definition over whole trajectories ``{id: (T, 2) anchor points}``
    (NaN rows = not visible). This is how synthetic ground truth counts are computed."""
    counter = LineCounter(line, min_frames=min_frames, dead_band=dead_band)
    arrays = {int(k): np.asarray(v, np.float64).reshape(-1, 2) for k, v in tracks.items()}
    if not arrays:
        return counter
    T = max(len(v) for v in arrays.values())
    for t in range(T):
        ids, pts = [], []
        for k, v in arrays.items():
            if t < len(v) and np.all(np.isfinite(v[t])):
                ids.append(k)
                pts.append(v[t])
        counter.update_points(np.asarray(ids, int), np.asarray(pts).reshape(-1, 2), t)
    return counter


def crossings_with_hysteresis(sides: Sequence[int], min_frames: int = 3) -> list[tuple[int, int]]:
    """The side-change logic alone, on one sequence of sides (+1/-1, 0 = ignored).

    Returns ``(index, new_side)`` for every change of the established side after the first —
    the index is where the run on the new side began. (No extent check: that needs points.)
    """
    out, established, run_side, run_len, run_start = [], 0, 0, 0, -1
    for i, s in enumerate(int(v) for v in sides):
        if s == 0:
            continue
        if s == run_side:
            run_len += 1
        else:
            run_side, run_len, run_start = s, 1, i
        if run_len >= min_frames and established != s:
            if established != 0:
                out.append((run_start, s))
            established = s
    return out


def count_distinct(events: Sequence) -> int:
    """Distinct track ids among crossing events (objects with ``track_id`` or ``(frame, id, ...)``
    tuples / dicts with a ``track_id`` key); tentative ids (< 0) never count."""
    ids = set()
    for ev in events:
        if isinstance(ev, Mapping):
            tid = ev["track_id"]
        elif hasattr(ev, "track_id"):
            tid = ev.track_id
        else:
            tid = ev[1]
        if int(tid) >= 0:
            ids.add(int(tid))
    return len(ids)
