"""Online track stitching: one id per person across the short breaks of a tracker.

A tracker loses a person for a few frames when they are hidden (behind a post, behind another
person, inside a merged blob) and, if its motion model cannot bring the lost track back — the
person turned round, or their velocity estimate was spoiled by the merge — starts a new track,
with a new id, when they come out. For counting that is doubly wrong: the person is counted twice
in ``distinct``, and a crossing made while hidden is lost (neither track saw both sides).

:class:`TrackStitcher` sits between the tracker and the counter and gives every *new* track id
the id of a track that ended a moment ago nearby, when that is the only plausible explanation:

* the old track was last seen at most ``max_gap_s`` (1 s) ago, and is not seen in this frame —
  short breaks only: the longer the break, the likelier someone else stands where the lost
  person was expected (a stitch onto the wrong person can *invent* a crossing when the two stand
  on different sides of the line);
* its last box did not touch the border of the picture (``frame_size``): a track that ends at the
  border is someone who walked out, and a new one there is someone walking in;
* the new track's foot point is within ``(slack + speed * gap) x height`` of where the old one
  was last seen, or of where its recent velocity would have taken it (whichever is nearer: the
  person may have stopped or turned round while hidden) — ``speed`` is 0.1 of a body height per
  frame at 10 frames/s (one body height a second, a brisk walk; scaled by ``10 / fps``),
  ``slack`` 0.3 of a body height (box jitter, boxes cut out of merged blobs);
* their box heights differ by less than ``size_tol`` (30 %): the same person at the same depth;
* among several candidates, the pairs are chosen by an optimal assignment on the distance.

The same rule runs on every input (real clip and synthetic scenes) and with every tracker. The
old id is *continued*: the counter sees one trajectory with a gap, so a line crossed while hidden
is counted when the person reappears on the other side (the step from the last point before the
gap to the first one after it must still cut the segment). If the tracker later re-finds the old
track under its own id, that track gets a fresh id (the id now belongs to the stitched one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class _Seen:
    frame: int
    anchor: np.ndarray
    height: float
    at_border: bool = False
    history: list = field(default_factory=list)  # (frame, anchor) of the last few observations

    def velocity(self) -> np.ndarray:
        """Foot-point velocity (px / frame) over the last few observations."""
        if len(self.history) < 2:
            return np.zeros(2)
        (f0, a0), (f1, a1) = self.history[0], self.history[-1]
        return (a1 - a0) / max(1, f1 - f0)


class TrackStitcher:
    """Maps the tracker's ids to stitched ids, frame by frame (see the module docstring).

    ``update(frame_index, ids, xyxy) -> ids`` takes the tracker's ids (``-1`` = tentative, passed
    through) and boxes of one frame and returns the stitched ids. ``links`` lists every stitch as
    ``(frame, new tracker id, continued id, gap in frames)``.
    """

    def __init__(self, fps: float = 10.0, frame_size: tuple[int, int] | None = None, *,
                 max_gap_s: float = 1.0, speed: float = 0.1, slack: float = 0.3,
                 size_tol: float = 0.3, history: int = 5, border: float = 0.01):
        if not (fps and fps > 0):
            raise ValueError(f"fps must be > 0, got {fps!r}")
        if max_gap_s < 0 or speed < 0 or slack < 0 or not 0 <= size_tol < 1:
            raise ValueError("max_gap_s, speed and slack must be >= 0 and size_tol in [0, 1)")
        self.fps = float(fps)
        self.max_gap = int(round(max_gap_s * self.fps))
        self.speed = float(speed) * 10.0 / self.fps  # body heights per frame
        self.slack, self.size_tol, self.history = float(slack), float(size_tol), int(history)
        self.frame_size = None if frame_size is None else (float(frame_size[0]), float(frame_size[1]))
        self.border = float(border)
        self.reset()

    def reset(self) -> None:
        self._out: dict[int, int] = {}      # tracker id -> stitched id
        self._owner: dict[int, int] = {}    # stitched id -> the tracker id that now carries it
        self._seen: dict[int, _Seen] = {}   # stitched id -> last observation
        self._next = 0
        self.links: list[tuple[int, int, int, int]] = []

    def _fresh(self, raw: int) -> int:
        out = self._next
        self._next += 1
        self._out[raw], self._owner[out] = out, raw
        return out

    def update(self, frame_index: int, ids, xyxy) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        if len(ids) != len(boxes):
            raise ValueError(f"{len(ids)} ids but {len(boxes)} boxes")
        f = int(frame_index)
        anchors = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)
        heights = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        out = np.full(len(ids), -1, np.int64)
        if self.frame_size is None:
            at_border = np.zeros(len(ids), bool)
        else:
            W, H = self.frame_size
            m = self.border * max(W, H)
            at_border = ((boxes[:, 0] <= m) | (boxes[:, 1] <= m) | (boxes[:, 2] >= W - m)
                         | (boxes[:, 3] >= H - m))

        # tracker ids we already know and that still carry their stitched id
        new_rows = []
        for r, raw in enumerate(ids.tolist()):
            if raw < 0:
                continue
            o = self._out.get(raw)
            if o is None:
                new_rows.append(r)
            elif self._owner.get(o) != raw:  # re-found after its id was handed on
                out[r] = self._fresh(raw)
            else:
                out[r] = o
        active = set(out[out >= 0].tolist())

        # new tracker ids: continue a recently ended track if one fits
        if new_rows:
            dormant = [o for o, s in self._seen.items()
                       if o not in active and not s.at_border and 1 <= f - s.frame <= self.max_gap]
            pairs = self._match(f, new_rows, dormant, anchors, heights)
            for r, o in pairs:
                raw = int(ids[r])
                self.links.append((f, raw, o, f - self._seen[o].frame))
                self._out[raw], self._owner[o] = o, raw
                out[r] = o
            for r in new_rows:
                if out[r] < 0:
                    out[r] = self._fresh(int(ids[r]))

        for r in np.flatnonzero(out >= 0):
            o = int(out[r])
            s = self._seen.get(o)
            if s is None:
                s = self._seen[o] = _Seen(f, anchors[r], float(heights[r]))
            s.frame, s.anchor, s.height = f, anchors[r].copy(), float(heights[r])
            s.at_border = bool(at_border[r])
            s.history.append((f, anchors[r].copy()))
            del s.history[:-self.history]
        # forget tracks that ended too long ago
        for o in [o for o, s in self._seen.items() if f - s.frame > self.max_gap]:
            del self._seen[o]
        return out

    def _match(self, f, rows, dormant, anchors, heights):
        if not dormant:
            return []
        cost = np.full((len(rows), len(dormant)), np.inf)
        for j, o in enumerate(dormant):
            s = self._seen[o]
            gap = f - s.frame
            v = s.velocity()
            vmax = self.speed * s.height
            nv = float(np.hypot(*v))
            if nv > vmax:
                v = v * (vmax / nv)
            reach = (self.slack + self.speed * gap) * s.height
            for i, r in enumerate(rows):
                if abs(heights[r] / s.height - 1.0) > self.size_tol:
                    continue
                d = min(np.hypot(*(anchors[r] - s.anchor)),
                        np.hypot(*(anchors[r] - (s.anchor + v * gap))))
                if d <= reach:
                    cost[i, j] = d / s.height
        ok = np.isfinite(cost)
        if not ok.any():
            return []
        ri, ci = linear_sum_assignment(np.where(ok, cost, 1e6))
        return [(rows[i], dormant[j]) for i, j in zip(ri, ci) if ok[i, j]]
