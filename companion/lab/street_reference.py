"""What a person sees on the street clip: crossings of a line *and who made them*, read by eye.

The lab is judged against these lists (``benchmarks/bench_lab_identity.py``, the lab notebook's
crop gallery). They were written by looking at the frames, never from the pipeline's output:

* **frames** — for the default line (x = 560, y = 150..470) the frames where a person's feet
  cross it come from a slit-scan (the pixel column under the line stacked over time; see
  ``benchmarks/bench_lab.py``);
* **direction** — ``"in"`` = walking rightward across this bottom-to-top line;
* **person** — who it is, from crops of each crossing and sequences of frames around them
  (clothes, hair, what they carry, where they walked between two crossings). Ten people make
  the 33 crossings. Most cross more than once: the man in the black pea coat walks back and
  forth all clip long (nine crossings; he also stands on the phone right of the line, frames
  ~545-615); the couple in the red/navy jacket and the black coat leave at the right edge around
  frame 370 and come back from the bottom left around 540; the woman in the red jacket leaves at
  the left around frame 500 and comes back at the top around 700.

Two assignments rest on appearance alone, not on a continuous view of the walk in between:
the man in the dark jacket and jeans at frames 494 / 602 / 776 (``P7``) and the balding man at
507 / 735 (``P8``) — both are the only people in the clip who match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: who is who (short descriptions of the people who cross the default line)
PEOPLE = {
    "P1": "man, black pea coat, black trousers (walks back and forth; phones standing, ~545-615)",
    "P2": "woman, blonde, black coat, jeans (with P3)",
    "P3": "man, red-and-navy jacket, jeans, white papers (with P2)",
    "P4": "woman, light-blue hooded jacket, jeans, bag",
    "P5": "man, navy striped sweater, jeans",
    "P6": "man, glasses, black leather jacket, black trousers, white papers",
    "P7": "man, dark jacket, jeans, dark hair",
    "P8": "man, balding, black jacket, jeans",
    "P9": "woman, red jacket, jeans",
    "P10": "person, blue anorak, grey trousers",
}

#: the default line's crossings: (frame, direction, person)
DEFAULT_LINE_CROSSINGS = (
    (10, "out", "P1"), (43, "out", "P3"), (50, "out", "P2"), (108, "in", "P2"), (115, "in", "P3"),
    (123, "in", "P1"), (135, "out", "P4"), (155, "out", "P5"), (173, "in", "P6"), (187, "in", "P7"),
    (192, "out", "P8"), (225, "out", "P7"), (250, "out", "P1"), (258, "out", "P6"),
    (360, "in", "P8"), (375, "in", "P6"), (382, "in", "P1"), (420, "out", "P1"),
    (452, "out", "P9"), (470, "in", "P1"), (494, "in", "P7"), (507, "out", "P8"),
    (602, "out", "P7"), (610, "in", "P3"), (633, "out", "P1"), (672, "out", "P10"),
    (675, "out", "P3"), (718, "in", "P9"), (723, "out", "P6"), (729, "in", "P1"),
    (735, "in", "P8"), (743, "out", "P1"), (776, "in", "P7"),
)


@dataclass
class IdentityScore:
    reference: int            # crossings in the reference (within the frames run)
    matched: int              # reference crossings matched by a pipeline event (frame + direction)
    extra: int                # pipeline events matched to nothing
    people: int               # distinct people in the reference
    distinct: int             # the pipeline's distinct ids over all its events
    returning: int            # reference people with >= 2 matched crossings
    kept: int                 # ... of whom all matched crossings carry one pipeline id
    shared: int               # pipeline ids given to matched crossings of two or more people
    pairs: list               # (reference index, event index) matched

    @property
    def ok(self) -> bool:
        return (self.matched == self.reference and self.extra == 0 and self.distinct == self.people
                and self.kept == self.returning and self.shared == 0)

    def row(self) -> str:
        return (f"matched {self.matched}/{self.reference}, extra {self.extra}, distinct "
                f"{self.distinct} (by eye {self.people}), returning people keeping one id "
                f"{self.kept}/{self.returning}, ids shared by two people {self.shared}")


def score_identities(events, reference=DEFAULT_LINE_CROSSINGS, *, limit: int | None = None,
                     tol: int = 6) -> IdentityScore:
    """Match pipeline crossing events to a by-eye reference and score the identities.

    ``events``: objects or dicts with ``cross_frame``, ``direction`` and ``track_id``.
    A reference crossing and an event match when their directions agree and their frames are at
    most ``tol`` apart (optimal one-to-one assignment on the frame difference). ``limit`` drops
    reference crossings at frames >= limit - 3 (for runs that stop early).
    """
    from scipy.optimize import linear_sum_assignment

    def get(e, k):
        return e[k] if isinstance(e, dict) else getattr(e, k)

    ref = [r for r in reference if limit is None or r[0] < limit - 3]
    ev = [(int(get(e, "cross_frame")), str(get(e, "direction")), int(get(e, "track_id"))) for e in events]
    pairs = []
    if ref and ev:
        cost = np.full((len(ref), len(ev)), 1e6)
        for i, (f, d, _) in enumerate(ref):
            for j, (g, dd, _) in enumerate(ev):
                if d == dd and abs(f - g) <= tol:
                    cost[i, j] = abs(f - g)
        ri, ci = linear_sum_assignment(cost)
        pairs = [(int(i), int(j)) for i, j in zip(ri, ci) if cost[i, j] < 1e6]
    ids_of: dict[str, set] = {}
    people_of: dict[int, set] = {}
    for i, j in pairs:
        ids_of.setdefault(ref[i][2], set()).add(ev[j][2])
        people_of.setdefault(ev[j][2], set()).add(ref[i][2])
    counts = {p: sum(1 for i, _ in pairs if ref[i][2] == p) for p in ids_of}
    returning = [p for p, n in counts.items() if n >= 2]
    return IdentityScore(
        reference=len(ref), matched=len(pairs), extra=len(ev) - len(pairs),
        people=len({r[2] for r in ref}), distinct=len({e[2] for e in ev if e[2] >= 0}),
        returning=len(returning), kept=sum(1 for p in returning if len(ids_of[p]) == 1),
        shared=sum(1 for s in people_of.values() if len(s) > 1), pairs=pairs)


#: One box per by-eye crossing of the default line (frame, x0, y0, x1, y1): the person at (or
#: within 3 frames of) the crossing, boxes from a tracking run checked by eye on a crop sheet, for
#: re-identification experiments on real crops (26.5.4). The crossing at frame 43 (P3, walking in
#: step with P2, one blob) has no clean box and is left out.
REFERENCE_BOXES = {
    10: (11, 544, 238, 566, 324), 50: (52, 546, 212, 572, 300), 108: (111, 550, 140, 574, 202),
    115: (118, 550, 132, 574, 196), 123: (125, 552, 218, 576, 300), 135: (138, 540, 194, 576, 272),
    155: (156, 532, 224, 576, 308), 173: (174, 546, 214, 578, 302), 187: (188, 546, 236, 588, 332),
    192: (190, 542, 136, 568, 210), 225: (225, 538, 286, 578, 398), 250: (251, 544, 188, 568, 258),
    258: (260, 528, 244, 570, 340), 360: (362, 556, 194, 576, 286), 375: (377, 542, 264, 580, 366),
    382: (383, 550, 160, 574, 228), 420: (422, 543, 150, 563, 208), 452: (454, 542, 236, 574, 328),
    470: (472, 548, 232, 578, 316), 494: (498, 558, 242, 598, 386), 507: (509, 538, 224, 572, 326),
    602: (605, 532, 196, 566, 276), 610: (611, 540, 282, 584, 396), 633: (634, 542, 260, 574, 356),
    672: (673, 530, 262, 562, 362), 675: (676, 548, 158, 568, 228), 718: (719, 552, 126, 570, 168),
    723: (724, 526, 192, 568, 282), 729: (730, 558, 190, 586, 266), 735: (735, 546, 210, 580, 312),
    743: (743, 546, 182, 568, 252), 776: (776, 546, 242, 578, 338),
}


def reference_crops(video, size=(128, 64)):
    """Crops of :data:`REFERENCE_BOXES`: ``(crops (N, h, w, 3) uint8, people (N,) str, frames (N,))``."""
    from companion.io import read_clip
    from companion.tracking.reid import crop_boxes

    person = {f: p for f, _, p in DEFAULT_LINE_CROSSINGS}
    keys = sorted(REFERENCE_BOXES)
    frames = [REFERENCE_BOXES[k][0] for k in keys]
    clip = read_clip(video, frames)
    crops = np.concatenate([crop_boxes(clip[i].permute(1, 2, 0).numpy(), [REFERENCE_BOXES[k][1:]], size)
                            for i, k in enumerate(keys)])
    return crops, np.array([person[k] for k in keys]), np.array(frames)
