"""Scripted street scenes for checking the lab's counts against exact ground truth.

Each builder returns ``(scene, line)``: a :class:`~companion.synthetic.street.StreetScene` (384x288,
10 fps) whose people are scripted around a vertical counting segment, and that segment. The
seed changes who walks, where, when, how fast and what they wear. The ground truth is the
counting definition (:func:`companion.lab.count.count_trajectories`) applied to the generator's
true foot points — never to anything the pipeline saw.

* ``crossings``  — people walking across the frame both ways at different depths (some pass
  each other, one in front of the other).
* ``turnbacks``  — people who walk up to the line and turn back before it (must not count),
  and people who cross, walk on, and come back (count ``in`` and ``out`` but once in ``distinct``).
* ``groups``     — pairs and triples walking together, side by side and one behind the other.
* ``occlusions`` — a lamp post and a tree next to the line that people pass behind, and two
  people meeting head-on away from the line.
"""

from __future__ import annotations

import numpy as np

W, H, FPS = 384, 288, 10.0
LINE = (W / 2, 0.98 * H, W / 2, 0.2 * H)  # the pipeline's default line for 384x288, bottom -> top
KINDS = ("crossings", "turnbacks", "groups", "occlusions")
#: frames between two (groups of) people reaching the line: people pass each other, overlap and
#: hide behind occluders anywhere, but nobody is completely hidden *while* crossing the line
GAP = 14.0


def _rows(rng, k, lo=150.0, hi=270.0, gap=22.0):
    """k foot rows in [lo, hi] at least ``gap`` apart (people at clearly different depths)."""
    for _ in range(200):
        ys = np.sort(rng.uniform(lo, hi, size=k))
        if k < 2 or np.min(np.diff(ys)) >= gap:
            return ys
    return np.linspace(lo, hi, k)


def _across(rng, y, leftward: bool, start: float, speed: float | None = None, **kw):
    from companion.synthetic.street import random_person

    m = 30.0
    dy = float(rng.normal(0, 6))
    wp = [(W + m, y), (-m, y + dy)] if leftward else [(-m, y), (W + m, y + dy)]
    sp = float(rng.uniform(3.0, 5.0)) if speed is None else speed
    return random_person(rng, wp, speeds=sp, start_frame=start, **kw)


def _start_for(t_cross: float, speed: float) -> float:
    """Start frame of a walk across the frame that reaches the line at ``t_cross``."""
    return t_cross - (W / 2 + 30.0) / speed


def scene_crossings(seed: int = 0):
    rng = np.random.default_rng(1000 + seed)
    k = int(rng.integers(4, 6))
    ys = rng.permutation(_rows(rng, k, gap=28.0))
    people = []
    t = 40.0
    for y in ys:  # line crossings at least GAP frames apart; people still meet elsewhere
        sp = float(rng.uniform(3.0, 5.0))
        people.append(_across(rng, float(y), bool(rng.random() < 0.5), start=_start_for(t, sp), speed=sp))
        t += GAP + float(rng.uniform(0, 8))
    return _render(seed, people, int(t) + 40)


def scene_turnbacks(seed: int = 0):
    from companion.synthetic.street import random_person

    rng = np.random.default_rng(2000 + seed)
    ys = rng.permutation(_rows(rng, 4))
    people = []
    cx = LINE[0]
    for i, y in enumerate(ys):
        y = float(y)
        from_left = bool(rng.random() < 0.5)
        s = -1.0 if from_left else 1.0
        x_in = -30.0 if from_left else W + 30.0
        if i % 2 == 0:  # turns back before the line: never counts
            turn = cx + s * float(rng.uniform(15, 40))
        else:  # crosses, walks on, comes back: in + out, one distinct person
            turn = cx - s * float(rng.uniform(35, 70))
        people.append(random_person(rng, [(x_in, y), (turn, y + rng.normal(0, 4)), (x_in, y)],
                                    speeds=float(rng.uniform(3.0, 4.5)),
                                    start_frame=float(i * 12 + rng.uniform(0, 6)),
                                    pauses=[0.0, float(rng.integers(0, 8)), 0.0]))
    return _render(seed, people, 200)


def scene_groups(seed: int = 0):
    from companion.synthetic.street import walking_group

    rng = np.random.default_rng(3000 + seed)
    people = []
    ys = _rows(rng, 2, 165.0, 255.0, gap=50.0)
    for j, y in enumerate(rng.permutation(ys)):
        sp = float(rng.uniform(3.0, 4.0))
        leader = _across(rng, float(y), bool(j % 2), start=_start_for(50.0 + 45.0 * j, sp), speed=sp)
        if j == 0:  # side by side at the same depth, shoulders almost touching
            offsets = [(float(rng.choice([-1, 1]) * rng.uniform(26, 32)), float(rng.uniform(-4, 4)))]
        else:  # a triple: one a little behind and to the side (silhouettes overlap), one further back
            offsets = [(float(rng.uniform(22, 28)), float(rng.uniform(-14, -10))),
                       (float(rng.uniform(-34, -28)), float(rng.uniform(-30, -24)))]
        people += walking_group(leader, offsets, rng)
    return _render(seed, people, 150)


def scene_occlusions(seed: int = 0):
    from companion.synthetic.street import Occluder, random_person

    rng = np.random.default_rng(4000 + seed)
    cx = LINE[0]
    post_x = cx + float(rng.choice([-1, 1]) * rng.uniform(30, 45))
    occluders = [Occluder("post", post_x, 275.0, 12.0, 110.0, (70, 75, 80)),
                 Occluder("tree", cx - (post_x - cx) * 1.6, 285.0, 40.0, 120.0, (40, 110, 45))]
    people = []
    ys = rng.permutation(_rows(rng, 3, 150.0, 250.0, gap=30.0))
    t = 40.0
    for i, y in enumerate(ys):  # they pass behind the post and the tree next to the line
        sp = float(rng.uniform(3.0, 5.0))
        people.append(_across(rng, float(y), bool(i % 2), start=_start_for(t, sp), speed=sp))
        t += GAP + 2 + float(rng.uniform(0, 6))
    # two people walking head-on at different depths who meet (one passes in front of the
    # other) 80-110 px to one side of the line, after the others have crossed
    side = float(rng.choice([-1, 1]))
    meet = cx + side * float(rng.uniform(80, 110))
    y, dy, sp = float(rng.uniform(175, 200)), float(rng.uniform(22, 30)), float(rng.uniform(3.5, 4.5))
    # whoever reaches the line first (before the meeting) does so GAP frames after the last crosser
    t_meet = t + abs(meet - cx) / sp
    a = random_person(rng, [(-30.0, y), (W + 30.0, y)], speeds=sp, start_frame=t_meet - (meet + 30) / sp)
    b = random_person(rng, [(W + 30.0, y + dy), (-30.0, y + dy)], speeds=sp,
                      start_frame=t_meet - (W + 30 - meet) / sp)
    people += [a, b]
    return _render(seed, people, int(t_meet + abs(meet - cx) / sp) + 40, occluders=occluders)


def _render(seed, people, num_frames, occluders=False):
    from companion.synthetic.street import make_street_scene

    scene = make_street_scene(seed=int(seed), num_frames=num_frames, size=(W, H), people=people,
                              occluders=occluders, fps=FPS)
    return scene, LINE


BUILDERS = {"crossings": scene_crossings, "turnbacks": scene_turnbacks, "groups": scene_groups,
            "occlusions": scene_occlusions}


def make_scene(kind: str, seed: int = 0):
    """``(scene, line)`` for one of :data:`KINDS`."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown scenario {kind!r}; choose from {', '.join(KINDS)}")
    return BUILDERS[kind](seed)


def ground_truth(scene, line, *, min_frames: int = 3, dead_band: float | None = None):
    """The counting definition applied to the scene's true foot points (with the lab's default
    dead-band for the scene's height unless ``dead_band`` (pixels) is given)."""
    from companion.lab.count import DEFAULT_DEAD_BAND, count_trajectories

    if dead_band is None:
        dead_band = DEFAULT_DEAD_BAND * scene.size[1]
    return count_trajectories(scene.anchor_tracks, line, min_frames=min_frames, dead_band=dead_band)
