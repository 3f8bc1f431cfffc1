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

**Two more lines** (:data:`LINES`; issue 13 asks for the default line and two more), read the
same way and with the same people, so one person keeps one name on all three lines:

* ``"left"`` — :data:`LEFT_LINE`, x = 240 from the bottom edge up to the tape (y 576..170), on the
  left part of the pavement and across the lawn; ``"in"`` = rightward (drawn bottom to top).
  19 crossings by 9 people (everyone but ``P6``).
* ``"diagonal"`` — :data:`DIAGONAL_LINE`, from the bottom edge at x = 500 up-left to the tape at
  (250, 180), 32 degrees off vertical, passing left of the lamp post and the tripod;
  ``"in"`` = rightward and upward (the right-hand side of the arrow). 30 crossings by all 10 people.

How they were made: a slit-scan of the pixels under each line stacked over time (minus its
temporal median) showed when something passes the line and where along it; for every such
passage, frame sequences of the neighbourhood (1:1 strips, and 2-3x zooms with a 10-pixel grid
wherever it was close) gave the foot points (midpoint of the two feet) frame by frame —
:data:`FOOT_POINTS` keeps one before and one after each crossing — and who it is (crops compared
with the default line's people, and the walk followed from one line to the next). A crossing is
written down when the feet get clearly (>= 10 px) to the other side; the written frame is where
the foot point passes the line. Passages that touch the line without getting clearly across are
*not* written down: on the left line ``P3`` comes within ~9 px at 750-756, and ``P6``, walking
slowly away, is only ~7 px past it when the clip ends (frame 794). Turning back counts when the
feet got across: on the diagonal ``P1`` walks ~15 px past it (frames 76-84) and turns back —
'out' at 75, 'in' at 87. The man in the dark jacket and jeans (``P7``) stands *on* the diagonal
(feet within 3 px of it) from frame 406 to 448 after crossing it 'out' at 381: one crossing 'in',
at 450, when he steps off to the right. Several crossings are simultaneous in opposite directions
(left line 671: ``P7`` out, ``P8`` in; diagonal 727: ``P3`` out, ``P7`` in; diagonal 770: ``P6``
out, ``P2`` in). The lists were written before any lab run was scored on these lines; a lab run
compared afterwards, for information, disagreed in one place that was not a missed crossing —
this turn of ``P1``, first read off a downscaled picture as only touching the line — and that
place was measured again by eye (3x zoom, pixel grid) and corrected.

Assignments that rest on appearance and timing rather than a continuous view: on the left line,
``P8`` at 591 / 671 (balding, beard, black jacket, jeans; he walks out of view on the left in
between) and ``P9`` at 521 / 650 (the only red jacket); on the diagonal, ``P6`` at frame 9 (black
leather jacket, black trousers, white papers; not followed frame by frame until his next
crossing, of the default line at 173). The other links between lines follow a walk seen from one
line to the next.
:func:`reference_gallery` draws one crop per crossing around the by-eye foot point (no pipeline
involved): ``notebooks/figures/lab_line_left_eye.png`` and ``lab_line_diagonal_eye.png``, written by
``python -m companion.lab.street_reference``. :func:`score_lines` scores a pipeline on all three.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: who is who (short descriptions of the people who cross the lines)
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

#: the line the default list was read for (the lab's ``STREET_CLIP_LINE``; a test keeps them equal)
DEFAULT_LINE = (560.0, 470.0, 560.0, 150.0)

#: a vertical line on the left part of the pavement, down across the lawn to the bottom edge
#: (bottom -> top, so ``in`` = rightward)
LEFT_LINE = (240.0, 576.0, 240.0, 170.0)

#: a diagonal from the bottom edge up-left to the tape (``in`` = rightward and upward)
DIAGONAL_LINE = (500.0, 576.0, 250.0, 180.0)

#: the left line's crossings: (frame, direction, person)
LEFT_LINE_CROSSINGS = (
    (177, "out", "P4"), (200, "out", "P5"), (243, "out", "P8"), (303, "out", "P1"),
    (307, "in", "P8"), (325, "in", "P1"), (521, "out", "P9"), (543, "out", "P3"),
    (556, "out", "P2"), (578, "in", "P3"), (584, "in", "P2"), (591, "out", "P8"),
    (650, "in", "P9"), (671, "out", "P7"), (671, "in", "P8"), (673, "out", "P2"),
    (706, "out", "P10"), (709, "in", "P7"), (762, "in", "P2"),
)

#: the diagonal's crossings: (frame, direction, person)
DIAGONAL_LINE_CROSSINGS = (
    (9, "in", "P6"), (75, "out", "P1"), (87, "in", "P1"), (171, "out", "P4"),
    (188, "out", "P5"), (235, "out", "P8"), (267, "out", "P7"), (295, "in", "P7"),
    (296, "out", "P1"), (305, "out", "P6"), (314, "in", "P8"), (332, "in", "P6"),
    (334, "in", "P1"), (381, "out", "P7"), (450, "in", "P7"), (505, "out", "P9"),
    (523, "out", "P3"), (527, "out", "P2"), (585, "out", "P8"), (595, "in", "P3"),
    (659, "in", "P9"), (662, "out", "P7"), (680, "in", "P8"), (697, "out", "P10"),
    (727, "out", "P3"), (727, "in", "P7"), (770, "out", "P6"), (770, "in", "P2"),
    (780, "in", "P3"), (786, "out", "P1"),
)

#: by-eye foot points (midpoint of the two feet, frame pixels) shortly before and after each
#: crossing of the two new lines: {line: {(frame, person): ((f0, x0, y0), (f1, x1, y1))}}
FOOT_POINTS = {
    "left": {
        (177, "P4"): ((174, 255, 230), (178, 230, 230)),
        (200, "P5"): ((197, 255, 237), (201, 228, 237)),
        (243, "P8"): ((239, 261, 230), (247, 223, 230)),
        (303, "P1"): ((300, 257, 220), (305, 220, 220)),
        (307, "P8"): ((302, 208, 231), (310, 258, 231)),
        (325, "P1"): ((318, 206, 238), (327, 256, 238)),
        (521, "P9"): ((516, 253, 246), (526, 225, 246)),
        (543, "P3"): ((539, 278, 518), (548, 210, 518)),
        (556, "P2"): ((548, 267, 500), (560, 227, 500)),
        (578, "P3"): ((572, 222, 463), (581, 258, 463)),
        (584, "P2"): ((580, 220, 565), (588, 270, 565)),
        (591, "P8"): ((588, 258, 212), (594, 226, 212)),
        (650, "P9"): ((645, 208, 217), (654, 255, 217)),
        (671, "P7"): ((666, 262, 225), (676, 218, 228)),
        (671, "P8"): ((663, 200, 230), (676, 272, 230)),
        (673, "P2"): ((669, 256, 461), (678, 202, 461)),
        (706, "P10"): ((703, 272, 285), (709, 218, 285)),
        (709, "P7"): ((703, 220, 248), (714, 256, 252)),
        (762, "P2"): ((756, 230, 267), (766, 267, 255)),
    },
    "diagonal": {
        (9, "P6"): ((6, 309, 293), (10, 336, 290)),
        (75, "P1"): ((72, 291, 232), (80, 269, 239)),
        (87, "P1"): ((82, 277, 243), (90, 305, 250)),
        (171, "P4"): ((168, 305, 232), (176, 252, 232)),
        (188, "P5"): ((185, 332, 283), (191, 296, 283)),
        (235, "P8"): ((231, 303, 233), (239, 255, 233)),
        (267, "P7"): ((262, 332, 292), (271, 296, 278)),
        (295, "P7"): ((292, 280, 238), (298, 301, 232)),
        (296, "P1"): ((292, 295, 221), (298, 260, 220)),
        (305, "P6"): ((298, 343, 295), (310, 291, 285)),
        (314, "P8"): ((310, 250, 235), (319, 310, 244)),
        (332, "P6"): ((328, 290, 278), (337, 335, 286)),
        (334, "P1"): ((328, 259, 242), (337, 311, 242)),
        (381, "P7"): ((379, 302, 247), (385, 279, 250)),
        (450, "P7"): ((397, 283, 277), (454, 340, 286)),
        (505, "P9"): ((500, 323, 260), (508, 286, 257)),
        (523, "P3"): ((520, 526, 570), (524, 475, 563)),
        (527, "P2"): ((524, 492, 530), (528, 445, 525)),
        (585, "P8"): ((582, 292, 214), (588, 257, 214)),
        (595, "P3"): ((590, 370, 433), (596, 420, 428)),
        (659, "P9"): ((654, 255, 217), (663, 305, 215)),
        (662, "P7"): ((657, 300, 224), (666, 262, 225)),
        (680, "P8"): ((675, 256, 230), (684, 306, 228)),
        (697, "P10"): ((696, 330, 291), (702, 280, 284)),
        (727, "P3"): ((720, 313, 239), (738, 292, 272)),
        (727, "P7"): ((720, 278, 261), (732, 331, 273)),
        (770, "P6"): ((762, 315, 243), (774, 271, 244)),
        (770, "P2"): ((766, 273, 240), (774, 304, 245)),
        (780, "P3"): ((772, 331, 336), (784, 395, 364)),
        (786, "P1"): ((780, 322, 240), (790, 263, 247)),
    },
}

#: every by-eye list with the line it was read for: name -> (line, crossings)
LINES = {
    "default": (DEFAULT_LINE, DEFAULT_LINE_CROSSINGS),
    "left": (LEFT_LINE, LEFT_LINE_CROSSINGS),
    "diagonal": (DIAGONAL_LINE, DIAGONAL_LINE_CROSSINGS),
}


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


def crossing_points(name: str) -> list:
    """Where each by-eye crossing of line ``name`` happened: one foot point ``(x, y)`` per entry of
    ``LINES[name][1]`` (same order), or ``None`` where it was not written down. The two extra lines:
    :func:`crossing_foot_point`. The default line: the bottom centre of the crossing's
    :data:`REFERENCE_BOXES` box (taken within 3 frames of the crossing; frame 43 has none)."""
    if name not in LINES:
        raise ValueError(f"unknown line {name!r}; lines with a by-eye list: {sorted(LINES)}")
    crossings = LINES[name][1]
    if name in FOOT_POINTS:
        return [crossing_foot_point(name, f, p) for f, _, p in crossings]
    out = []
    for f, _, _ in crossings:
        box = REFERENCE_BOXES.get(f) if name == "default" else None
        out.append(None if box is None else ((box[1] + box[3]) / 2.0, float(box[4])))
    return out


def score_identities(events, reference=None, *, limit: int | None = None, tol: int = 6,
                     line=None, points=None) -> IdentityScore:
    """Match pipeline crossing events to a by-eye reference and score the identities.

    ``events``: objects or dicts with ``cross_frame``, ``direction`` and ``track_id`` (and ``t``,
    where along the line it was crossed, as :class:`~companion.lab.count.CrossingEvent` has it).
    ``reference``: (frame, direction, person) tuples; ``None`` is the default line's list with its
    line and places (:data:`DEFAULT_LINE_CROSSINGS`, :func:`crossing_points`).
    A reference crossing and an event match when their directions agree and their frames are at
    most ``tol`` apart — and, where the ``line`` (x1, y1, x2, y2) and the crossing's by-eye foot
    point (``points``, aligned with ``reference``, ``None`` for unknown) are given and the event
    has a ``t``, when the event crossed the line within one body height (:func:`person_box` at the
    foot point) of that point: two people crossing the same line the same way at nearly the same
    frame, far apart along it (the left line's 671 and 673), are not confused. The assignment is
    optimal one-to-one on the frame difference plus the distance along the line in body heights.
    ``limit`` drops reference crossings at frames >= limit - 3 (for runs that stop early).
    """
    from scipy.optimize import linear_sum_assignment

    def get(e, k, default=None):
        return e.get(k, default) if isinstance(e, dict) else getattr(e, k, default)

    if reference is None:
        reference, line, points = DEFAULT_LINE_CROSSINGS, DEFAULT_LINE, crossing_points("default")
    if points is not None and len(points) != len(reference):
        raise ValueError(f"points must give one foot point (or None) per reference crossing: "
                         f"{len(points)} points for {len(reference)} crossings")
    keep = [i for i, r in enumerate(reference) if limit is None or r[0] < limit - 3]
    ref = [reference[i] for i in keep]
    places = [None] * len(ref)
    if line is not None and points is not None:
        a, b = np.asarray(line[:2], float), np.asarray(line[2:], float)
        length = float(np.linalg.norm(b - a))
        for k, i in enumerate(keep):
            if points[i] is not None:
                x, y = points[i]
                along = float((np.array([x, y]) - a) @ (b - a)) / length
                h = person_box(x, y)[3] - person_box(x, y)[1]
                places[k] = (along, h)
    ev = [(int(get(e, "cross_frame")), str(get(e, "direction")), int(get(e, "track_id")), get(e, "t"))
          for e in events]
    pairs = []
    if ref and ev:
        cost = np.full((len(ref), len(ev)), 1e6)
        for i, (f, d, _) in enumerate(ref):
            for j, (g, dd, _, t) in enumerate(ev):
                if d != dd or abs(f - g) > tol:
                    continue
                off = 0.0
                if places[i] is not None and t is not None:
                    off = abs(float(t) * length - places[i][0]) / places[i][1]
                    if off > 1.0:
                        continue
                cost[i, j] = abs(f - g) + off
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


def score_line(events, name: str = "default", *, limit: int | None = None, tol: int = 6,
               since: int | None = None, before: int | None = None) -> IdentityScore:
    """:func:`score_identities` against the by-eye list of line ``name`` (:data:`LINES`), with its
    line and places (:func:`crossing_points`); ``since`` / ``before`` keep only the reference
    crossings at frames ``since <= frame < before`` (the events are taken as given)."""
    if name not in LINES:
        raise ValueError(f"unknown line {name!r}; lines with a by-eye list: {sorted(LINES)}")
    line, crossings = LINES[name]
    points = crossing_points(name)
    keep = [i for i, r in enumerate(crossings)
            if (since is None or r[0] >= since) and (before is None or r[0] < before)]
    return score_identities(events, [crossings[i] for i in keep], limit=limit, tol=tol, line=line,
                            points=[points[i] for i in keep])


def score_lines(events_for_line, *, limit: int | None = None, tol: int = 6) -> dict:
    """Score a pipeline on every by-eye line: ``{name: IdentityScore}`` (:func:`score_line`).

    ``events_for_line(line)`` runs (or replays) the pipeline with that counting line — four
    numbers x1 y1 x2 y2, see :data:`LINES` — and returns its crossing events.
    """
    return {name: score_line(events_for_line(line), name, limit=limit, tol=tol)
            for name, (line, _) in LINES.items()}


def crossing_foot_point(name: str, frame: int, person: str) -> tuple[float, float]:
    """The by-eye foot point of ``person`` at their crossing of line ``name`` at ``frame``
    (linear between the two :data:`FOOT_POINTS` around it)."""
    (f0, x0, y0), (f1, x1, y1) = FOOT_POINTS[name][(frame, person)]
    w = (frame - f0) / (f1 - f0)
    return x0 + w * (x1 - x0), y0 + w * (y1 - y0)


def person_box(x: float, y: float) -> tuple[float, float, float, float]:
    """A box for a person standing at foot point (x, y) on the street clip: height 0.23 y + 23
    pixels (the perspective of this camera, a least-squares fit to 19 tracked boxes checked by
    eye; 75 px on the far pavement, 150 px at the bottom edge), width 0.4 of the height."""
    h = 0.23 * y + 23.0
    return (x - 0.2 * h, y - h, x + 0.2 * h, y)


def reference_gallery(video, name: str, *, columns: int = 10, path=None) -> np.ndarray:
    """One crop per by-eye crossing of line ``name`` (``"left"`` or ``"diagonal"``), around the
    by-eye foot point at the crossing frame, labelled with frame, direction and person (``id k`` =
    ``Pk``); a header gives the line and its direction convention. RGB array; PNG at ``path``."""
    import cv2

    from companion.lab.count import describe_direction
    from companion.lab.gallery import crossing_gallery

    if name not in FOOT_POINTS:
        raise ValueError(f"no by-eye foot points for line {name!r}; lines with foot points: "
                         f"{sorted(FOOT_POINTS)}")
    line, crossings = LINES[name]
    events, rows = [], []
    for f, d, p in crossings:
        x0, y0, x1, y1 = person_box(*crossing_foot_point(name, f, p))
        k = int(p[1:])
        events.append(dict(cross_frame=f, direction=d, track_id=k))
        rows.append((f + 1, k + 1, x0, y0, x1 - x0, y1 - y0))
    gal = crossing_gallery(video, events, rows, reference=crossings, columns=columns)
    head = np.zeros((40, gal.shape[1], 3), np.uint8)
    people = len({p for _, _, p in crossings})
    cv2.putText(head, f"'{name}' line, by eye: {len(crossings)} crossings by {people} people "
                "(crop around the by-eye foot point at the crossing frame; id k = Pk)", (4, 15),
                cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    convention = describe_direction(line[:2], line[2:]).split("; 'out'")[0]
    cv2.putText(head, convention, (4, 33), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                cv2.LINE_AA)
    out = np.vstack([head, gal])
    if path is not None:
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
    return out


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


def main(argv=None) -> int:
    """Write the by-eye crop galleries of the two extra lines (``notebooks/figures``)."""
    import argparse

    from companion.data import street_clip

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--out-dir", default="notebooks/figures")
    args = ap.parse_args(argv)
    video = street_clip()
    for name in FOOT_POINTS:
        path = f"{args.out_dir}/lab_line_{name}_eye.png"
        reference_gallery(video, name, path=path)
        print(f"{name}: {len(LINES[name][1])} crossings -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
