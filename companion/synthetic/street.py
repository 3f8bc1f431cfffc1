"""Static-camera street scenes with exact multi-object-tracking ground truth (26.5 and the lab).

Pedestrians of varied appearance (shirt, trousers, hair, height, build, an optional bag or hat)
walk along piecewise-linear paths on a street seen by a fixed camera. They enter and leave the
frame, cross and occlude each other, may turn back, pause, or walk in groups, and may pass behind
static occluders (a lamp post, a tree, a parked van). Everything is drawn with NumPy/OpenCV, so a
200-frame 384x288 clip renders in well under a second.

Ground truth
------------
* ``scene.gt`` — MOT rows ``(frame, id, x, y, w, h, 1, 1, visibility)`` (frame and id 1-based,
  box = the full body clipped to the image, visibility = fraction of the body's pixels that are
  inside the image and not hidden by a person or an occluder in front). A row is written for
  every frame in which some part of the body's box lies inside the image, including fully
  occluded frames (visibility 0), as in MOT17.
* ``scene.anchor_tracks[id]`` — (T, 2) float array with the true foot point (x, y), unclipped,
  NaN in frames where the person is not in the image.
* ``scene.boxes[id]`` — (T, 4) xyxy boxes (clipped to the image), NaN when absent.
* ``scene.visibility[id]`` — (T,) visibility, NaN when absent.

Scripting people
----------------
:class:`PersonSpec` describes one pedestrian: a list of foot-point waypoints, a speed per segment
(pixels per frame) *or* the frame at which each waypoint is reached, optional pauses. A path can
turn back (``waypoints=[(0, 200), (180, 200), (0, 200)]``). :func:`walking_group` copies one
spec into a group walking side by side; :func:`turn_back` builds an out-and-back path;
:func:`crossing_pair` two people crossing head-on. Pass ``people=[...]`` to
:func:`make_street_scene` for a fully scripted scene (the random pedestrians are then left out
unless ``num_people`` extra ones are asked for with ``add_random=True``).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = [
    "PersonSpec", "StreetScene", "Occluder", "make_street_scene", "walking_group", "turn_back",
    "crossing_pair", "random_person", "MOT_COLUMNS",
]

#: Column names of ``StreetScene.gt``.
MOT_COLUMNS = ("frame", "id", "x", "y", "w", "h", "conf", "class", "visibility")

Colour = tuple[int, int, int]


# ----------------------------------------------------------------------------------------------
# People
# ----------------------------------------------------------------------------------------------


@dataclass
class PersonSpec:
    """One scripted pedestrian.

    ``waypoints``  foot points (x, y) in pixels, at least two; they may lie outside the image
                   (the person then enters / leaves the frame) and may repeat (turn back).
    ``speeds``     pixels per frame, one number for the whole path or one per segment
                   (``len(waypoints) - 1``). Ignored when ``times`` is given.
    ``times``      optional frame index at which each waypoint is reached (non-decreasing);
                   overrides ``speeds``/``start_frame``/``pauses``. Equal consecutive times with
                   equal waypoints are a pause; equal times with different waypoints are rejected.
    ``start_frame`` frame at which the walk starts at ``waypoints[0]`` (may be negative: the person
                   is already under way when the clip begins).
    ``pauses``     frames spent standing at each waypoint (scalar or one per waypoint).
    ``height``     body height in pixels at the bottom of the image (perspective scales it).
    ``build``      box width as a fraction of the height (0.3 slim ... 0.45 broad).
    ``shirt``, ``trousers``, ``hair``, ``skin`` RGB colours; ``bag`` an RGB colour or None;
    ``hat`` an RGB colour or None.
    """

    waypoints: Sequence[tuple[float, float]]
    speeds: float | Sequence[float] = 6.0
    times: Sequence[float] | None = None
    start_frame: float = 0.0
    pauses: float | Sequence[float] = 0.0
    height: float = 80.0
    build: float = 0.38
    shirt: Colour = (200, 40, 40)
    trousers: Colour = (40, 40, 90)
    hair: Colour = (40, 25, 10)
    skin: Colour = (230, 190, 160)
    bag: Colour | None = None
    hat: Colour | None = None

    def __post_init__(self) -> None:
        wp = np.asarray(self.waypoints, dtype=np.float64)
        if wp.ndim != 2 or wp.shape[1] != 2 or len(wp) < 2:
            raise ValueError(f"PersonSpec.waypoints must be a list of at least two (x, y) points, "
                             f"got an array of shape {wp.shape}")
        if not np.isfinite(wp).all():
            raise ValueError("PersonSpec.waypoints must be finite numbers")
        if not (self.height > 4):
            raise ValueError(f"PersonSpec.height must be > 4 pixels, got {self.height}")
        if not (0.1 <= self.build <= 1.0):
            raise ValueError(f"PersonSpec.build (width/height) must be in [0.1, 1], got {self.build}")
        self.timeline()  # validates speeds / times / pauses

    def timeline(self) -> tuple[np.ndarray, np.ndarray]:
        """Knots ``(times, points)`` of the piecewise-linear trajectory (pauses as repeated points)."""
        wp = np.asarray(self.waypoints, dtype=np.float64)
        n = len(wp)
        if self.times is not None:
            t = np.asarray(self.times, dtype=np.float64)
            if t.shape != (n,):
                raise ValueError(f"PersonSpec.times needs one frame per waypoint ({n}), got {t.shape}")
            if not np.isfinite(t).all() or np.any(np.diff(t) < 0):
                raise ValueError("PersonSpec.times must be finite and non-decreasing")
            jump = (np.diff(t) == 0) & (np.linalg.norm(np.diff(wp, axis=0), axis=1) > 0)
            if jump.any():
                raise ValueError("PersonSpec.times: two different waypoints reached at the same frame "
                                 f"(segment {int(np.argmax(jump))}); people cannot teleport")
            return t, wp
        sp = np.broadcast_to(np.asarray(self.speeds, dtype=np.float64), (n - 1,)) \
            if np.ndim(self.speeds) == 0 else np.asarray(self.speeds, dtype=np.float64)
        if sp.shape != (n - 1,):
            raise ValueError(f"PersonSpec.speeds must be a number or one per segment ({n - 1}), "
                             f"got {len(sp)} values")
        if not np.all(sp > 0):
            raise ValueError("PersonSpec.speeds must be > 0 pixels per frame")
        pz = np.broadcast_to(np.asarray(self.pauses, dtype=np.float64), (n,)) \
            if np.ndim(self.pauses) == 0 else np.asarray(self.pauses, dtype=np.float64)
        if pz.shape != (n,) or np.any(pz < 0):
            raise ValueError(f"PersonSpec.pauses must be >= 0, a number or one per waypoint ({n})")
        seg = np.linalg.norm(np.diff(wp, axis=0), axis=1) / sp
        times, points = [], []
        t = float(self.start_frame)
        for i in range(n):
            times.append(t)
            points.append(wp[i])
            if pz[i] > 0:
                t += float(pz[i])
                times.append(t)
                points.append(wp[i])
            if i < n - 1:
                t += float(seg[i])
        return np.asarray(times), np.asarray(points)


def _positions(spec: PersonSpec, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Foot point per frame (NaN outside the walk) and the walked distance (for the gait phase)."""
    kt, kp = spec.timeline()
    f = np.arange(num_frames, dtype=np.float64)
    inside = (f >= kt[0]) & (f <= kt[-1])
    xy = np.full((num_frames, 2), np.nan)
    # np.interp needs increasing knots; nudge equal times (pauses have equal points anyway)
    kt2 = kt + np.arange(len(kt)) * 1e-9
    xy[inside, 0] = np.interp(f[inside], kt2, kp[:, 0])
    xy[inside, 1] = np.interp(f[inside], kt2, kp[:, 1])
    seglen = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(kp, axis=0), axis=1))]
    dist = np.full(num_frames, np.nan)
    dist[inside] = np.interp(f[inside], kt2, seglen)
    return xy, dist


def _random_colour(rng: np.random.Generator, s=(0.35, 0.95), v=(0.35, 0.95)) -> Colour:
    h = rng.random()
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*s), rng.uniform(*v))
    return (int(r * 255), int(g * 255), int(b * 255))


_SKINS = [(241, 194, 160), (224, 172, 130), (198, 134, 96), (141, 85, 54), (92, 58, 40)]
_HAIRS = [(20, 15, 10), (60, 40, 20), (110, 70, 30), (200, 170, 90), (120, 120, 120), (150, 40, 20)]


def random_person(rng: np.random.Generator, waypoints, *, speeds: float | Sequence[float] | None = None,
                  start_frame: float = 0.0, **overrides) -> PersonSpec:
    """A pedestrian of random appearance on the given path (``overrides`` fix any field)."""
    kw = dict(
        waypoints=waypoints,
        speeds=float(rng.uniform(3.5, 7.5)) if speeds is None else speeds,
        start_frame=start_frame,
        height=float(rng.uniform(62, 96)),
        build=float(rng.uniform(0.32, 0.44)),
        shirt=_random_colour(rng),
        trousers=_random_colour(rng, s=(0.1, 0.7), v=(0.15, 0.6)),
        hair=_HAIRS[int(rng.integers(len(_HAIRS)))],
        skin=_SKINS[int(rng.integers(len(_SKINS)))],
        bag=_random_colour(rng) if rng.random() < 0.3 else None,
        hat=_random_colour(rng) if rng.random() < 0.2 else None,
    )
    kw.update(overrides)
    return PersonSpec(**kw)


def walking_group(leader: PersonSpec, offsets: Sequence[tuple[float, float]],
                  rng: np.random.Generator | int | None = 0, *, same_look: bool = False) -> list[PersonSpec]:
    """The leader plus one follower per ``(dx, dy)`` offset, walking the same path in step.

    Followers get their own random appearance (``same_look=True`` keeps the leader's colours:
    a hard case for appearance-based re-identification).
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    group = [leader]
    for dx, dy in offsets:
        wp = [(x + dx, y + dy) for x, y in leader.waypoints]
        times = None if leader.times is None else list(leader.times)
        if same_look:
            group.append(replace(leader, waypoints=wp, times=times))
        else:
            follower = random_person(rng, wp, speeds=leader.speeds, start_frame=leader.start_frame)
            group.append(replace(follower, times=times, pauses=leader.pauses))
    return group


def turn_back(start: tuple[float, float], turn: tuple[float, float], *, end=None, speed: float = 5.0,
              start_frame: float = 0.0, pause: float = 0.0,
              rng: np.random.Generator | int | None = 0, **look) -> PersonSpec:
    """Walk from ``start`` to ``turn``, optionally stand ``pause`` frames, and walk back
    (to ``end``, default ``start``)."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    end = start if end is None else end
    return random_person(rng, [start, turn, end], speeds=speed, start_frame=start_frame,
                         pauses=[0.0, float(pause), 0.0], **look)


def crossing_pair(y: float, width: int, *, dy: float = 0.0, speed: float = 5.0, start_frame: float = 0.0,
                  margin: float = 30.0, rng: np.random.Generator | int | None = 0,
                  same_look: bool = False) -> list[PersonSpec]:
    """Two people walking head-on along the same line ``y`` (one ``dy`` lower), meeting mid-frame:
    the textbook occlusion that makes a motion-only tracker swap identities."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    a = random_person(rng, [(-margin, y), (width + margin, y + dy)], speeds=speed, start_frame=start_frame)
    b = random_person(rng, [(width + margin, y + dy), (-margin, y)], speeds=speed, start_frame=start_frame)
    if same_look:
        b = replace(a, waypoints=b.waypoints)
    return [a, b]


# ----------------------------------------------------------------------------------------------
# Static occluders
# ----------------------------------------------------------------------------------------------


@dataclass
class Occluder:
    """A static object standing on the ground at foot row ``base_y``; kind is 'post', 'tree' or 'van'."""

    kind: str
    x: float
    base_y: float
    width: float
    height: float
    colour: Colour = (90, 90, 95)

    @property
    def box(self) -> np.ndarray:
        return np.array([self.x - self.width / 2, self.base_y - self.height,
                         self.x + self.width / 2, self.base_y])


def _draw_occluder(o: Occluder) -> tuple[np.ndarray, np.ndarray, int, int]:
    import cv2

    x0, y0 = int(math.floor(o.x - o.width / 2)), int(math.floor(o.base_y - o.height))
    w, h = int(math.ceil(o.width)) + 1, int(math.ceil(o.height)) + 1
    img = np.zeros((h, w, 3), np.uint8)
    m = np.zeros((h, w), np.uint8)
    c = tuple(int(v) for v in o.colour)
    if o.kind == "post":
        pw = max(2, w // 6)
        cx = w // 2
        for a in (img, m):
            col = c if a is img else 1
            cv2.rectangle(a, (cx - pw // 2, int(h * 0.08)), (cx + pw // 2, h - 1), col, -1)
            cv2.rectangle(a, (cx - w // 2 + 1, 0), (cx + w // 2 - 1, int(h * 0.1)), col, -1)
    elif o.kind == "tree":
        tw = max(3, w // 6)
        cx = w // 2
        for a in (img, m):
            trunk = (95, 65, 40) if a is img else 1
            crown = c if a is img else 1
            cv2.rectangle(a, (cx - tw // 2, int(h * 0.45)), (cx + tw // 2, h - 1), trunk, -1)
            cv2.ellipse(a, (cx, int(h * 0.3)), (w // 2 - 1, int(h * 0.3)), 0, 0, 360, crown, -1)
    elif o.kind == "van":
        for a in (img, m):
            body = c if a is img else 1
            cv2.rectangle(a, (0, int(h * 0.15)), (w - 1, int(h * 0.85)), body, -1)
            cv2.rectangle(a, (int(w * 0.05), 0), (int(w * 0.7), int(h * 0.2)), body, -1)
            wheel = (25, 25, 25) if a is img else 1
            r = max(2, int(h * 0.15))
            cv2.circle(a, (int(w * 0.2), h - r - 1), r, wheel, -1)
            cv2.circle(a, (int(w * 0.8), h - r - 1), r, wheel, -1)
        cv2.rectangle(img, (int(w * 0.1), int(h * 0.25)), (int(w * 0.35), int(h * 0.45)), (150, 190, 210), -1)
    else:
        raise ValueError(f"Occluder.kind must be 'post', 'tree' or 'van', got {o.kind!r}")
    return img, m.astype(bool), x0, y0


def _random_occluders(rng: np.random.Generator, W: int, H: int, horizon: float) -> list[Occluder]:
    out = []
    kinds = ["post", "tree", "van"]
    n = int(rng.integers(1, 4))
    xs = np.sort(rng.choice(np.linspace(0.12, 0.88, 7), size=n, replace=False)) * W
    for x in xs:
        kind = kinds[int(rng.integers(3))]
        base = float(rng.uniform(horizon + 0.35 * (H - horizon), H - 6))
        s = _depth_scale(base, H, horizon)
        if kind == "post":
            out.append(Occluder("post", float(x), base, 14 * s, 120 * s, (70, 75, 80)))
        elif kind == "tree":
            out.append(Occluder("tree", float(x), base, 46 * s, 125 * s, (40, 110, 45)))
        else:
            out.append(Occluder("van", float(x), base, 95 * s, 55 * s, _random_colour(rng, v=(0.5, 0.9))))
    return out


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


def _depth_scale(y: float, H: int, horizon: float) -> float:
    """Apparent size factor of something standing at image row y (1 at the bottom edge)."""
    return float(np.clip(0.35 + 0.65 * (y - horizon) / (H - horizon), 0.3, 1.2))


def _background(rng: np.random.Generator, W: int, H: int, horizon: float) -> np.ndarray:
    import cv2

    img = np.zeros((H, W, 3), np.uint8)
    hz = int(horizon)
    # buildings behind the street
    img[:hz] = (150, 165, 185)
    x = 0
    while x < W:
        bw = int(rng.integers(30, 80))
        bh = int(rng.integers(hz // 3, hz))
        col = tuple(int(c) for c in rng.integers(90, 200, size=3))
        cv2.rectangle(img, (x, hz - bh), (x + bw, hz), col, -1)
        for wy in range(hz - bh + 6, hz - 8, 14):
            for wx in range(x + 5, x + bw - 8, 12):
                cv2.rectangle(img, (wx, wy), (wx + 5, wy + 7), (60, 70, 90), -1)
        x += bw + int(rng.integers(0, 6))
    # far sidewalk, road, near sidewalk
    road0, road1 = hz + int(0.12 * (H - hz)), hz + int(0.45 * (H - hz))
    img[hz:road0] = (170, 165, 155)
    img[road0:road1] = (95, 95, 100)
    img[road1:] = (175, 170, 160)
    for xx in range(0, W, 40):  # lane markings
        cv2.rectangle(img, (xx, (road0 + road1) // 2 - 1), (xx + 20, (road0 + road1) // 2 + 1), (220, 220, 210), -1)
    for yy in range(road1 + 12, H, 18):  # paving joints
        cv2.line(img, (0, yy), (W, yy), (160, 155, 145), 1)
    tex = rng.normal(0, 4, size=(H, W, 1))
    return np.clip(img.astype(np.float32) + tex, 0, 255).astype(np.uint8)


def _draw_person(spec: PersonSpec, h: float, phase: float, facing: float):
    """Colour image and mask of one pedestrian in a local canvas whose bottom-centre is the foot
    point. Returns (img, mask, w, h) with canvas size (round(h), round(w))."""
    import cv2

    H = max(6, int(round(h)))
    W = max(3, int(round(spec.build * h)))
    img = np.zeros((H, W, 3), np.uint8)
    m = np.zeros((H, W), np.uint8)
    cx = W / 2.0
    head_r = max(1.5, 0.085 * H)
    head_c = (cx, head_r + 0.5)
    shoulder_y, hip_y = 0.2 * H, 0.56 * H
    torso_w = 0.52 * W
    leg_w = max(1, int(round(0.13 * W)))
    arm_w = max(1, int(round(0.1 * W)))
    swing = math.sin(phase)
    stride = 0.32 * W * swing
    arm_sw = 0.3 * W * swing

    def poly(a, pts, col):
        cv2.fillPoly(a, [np.round(np.asarray(pts)).astype(np.int32)], col)

    def seg(a, p, q, col, t):
        cv2.line(a, (int(round(p[0])), int(round(p[1]))), (int(round(q[0])), int(round(q[1]))), col, t)

    for a, mask in ((img, False), (m, True)):
        c = (lambda col: 1) if mask else (lambda col: tuple(int(v) for v in col))
        hip_l, hip_r = (cx - 0.15 * W, hip_y), (cx + 0.15 * W, hip_y)
        foot_l = (cx - 0.12 * W - stride, H - 2)
        foot_r = (cx + 0.12 * W + stride, H - 2)
        seg(a, hip_l, foot_l, c(spec.trousers), leg_w)
        seg(a, hip_r, foot_r, c(spec.trousers), leg_w)
        shoe = c((30, 25, 25))
        seg(a, foot_l, (foot_l[0] + facing * 0.08 * W, H - 1), shoe, leg_w)
        seg(a, foot_r, (foot_r[0] + facing * 0.08 * W, H - 1), shoe, leg_w)
        # back arm, torso, front arm
        seg(a, (cx - 0.22 * W, shoulder_y + 2), (cx - 0.25 * W - arm_sw, hip_y + 0.04 * H), c(spec.shirt), arm_w)
        poly(a, [(cx - torso_w / 2, shoulder_y), (cx + torso_w / 2, shoulder_y),
                 (cx + torso_w * 0.42, hip_y + 0.03 * H), (cx - torso_w * 0.42, hip_y + 0.03 * H)], c(spec.shirt))
        seg(a, (cx + 0.22 * W, shoulder_y + 2), (cx + 0.25 * W + arm_sw, hip_y + 0.04 * H), c(spec.shirt), arm_w)
        hand = c(spec.skin)
        cv2.circle(a, (int(round(cx + 0.25 * W + arm_sw)), int(round(hip_y + 0.05 * H))), max(1, arm_w // 2 + 1), hand, -1)
        if spec.bag is not None:
            bx = cx - facing * 0.3 * W
            cv2.rectangle(a, (int(bx - 0.12 * W), int(hip_y - 0.08 * H)), (int(bx + 0.12 * W), int(hip_y + 0.1 * H)),
                          c(spec.bag), -1)
        # neck, head, hair
        cv2.circle(a, (int(round(head_c[0])), int(round(head_c[1]))), int(round(head_r)), c(spec.skin), -1)
        cv2.ellipse(a, (int(round(head_c[0])), int(round(head_c[1] - head_r * 0.25))),
                    (int(round(head_r)), max(1, int(round(head_r * 0.75)))), 0, 180, 360,
                    c(spec.hat if spec.hat is not None else spec.hair), -1)
        if spec.hat is not None:
            seg(a, (head_c[0] - head_r * 1.3, head_c[1] - head_r * 0.3),
                (head_c[0] + head_r * 1.3, head_c[1] - head_r * 0.3), c(spec.hat), max(1, int(head_r * 0.35)))
    return img, m.astype(bool)


@dataclass
class StreetScene:
    """A rendered street clip with its ground truth (see the module docstring)."""

    frames: np.ndarray
    fps: float
    gt: np.ndarray
    anchor_tracks: dict[int, np.ndarray]
    boxes: dict[int, np.ndarray]
    visibility: dict[int, np.ndarray]
    people: list[PersonSpec]
    occluders: list[Occluder] = field(default_factory=list)
    seed: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) like OpenCV."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def __len__(self) -> int:
        return self.num_frames

    def gt_frame(self, t: int) -> np.ndarray:
        """Ground-truth rows of 0-based frame ``t`` (the MOT column is 1-based)."""
        return self.gt[self.gt[:, 0] == t + 1]

    def write_mot(self, path) -> Path:
        """Write ``gt`` as a MOT-challenge ``gt.txt`` (comma separated, 9 columns)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            for r in self.gt:
                f.write(f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},"
                        f"{int(r[6])},{int(r[7])},{r[8]:.4f}\n")
        return path

    def write_video(self, path, *, crf: int = 18, codec: str = "libx264") -> Path:
        """Encode the frames as an H.264 mp4 (yuv420p) with PyAV."""
        import av

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        T, H, W, _ = self.frames.shape
        if W % 2 or H % 2:
            raise ValueError(f"yuv420p video needs an even width and height, got {W}x{H}")
        from fractions import Fraction

        with av.open(str(path), mode="w") as container:
            stream = container.add_stream(codec, rate=Fraction(self.fps).limit_denominator(1000))
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            stream.options = {"crf": str(crf)}
            for fr in self.frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(fr), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path


def _random_people(rng: np.random.Generator, n: int, T: int, W: int, H: int, horizon: float,
                   fps: float = 10.0) -> list[PersonSpec]:
    """Random walkers at 35-75 pixels per *second* (so a higher ``fps`` means smaller steps)."""
    people = []
    y_lo, y_hi = horizon + 0.2 * (H - horizon), H - 4
    for _ in range(n):
        kind = rng.random()
        m = 40.0
        if kind < 0.7:  # walk along the street, left<->right, slight drift
            y0 = rng.uniform(y_lo, y_hi)
            y1 = float(np.clip(y0 + rng.normal(0, 0.08 * H), y_lo, y_hi))
            wp = [(-m, y0), (W + m, y1)] if rng.random() < 0.5 else [(W + m, y0), (-m, y1)]
        elif kind < 0.9:  # cross the street diagonally, leaving at the bottom or top
            x0 = rng.uniform(0.1 * W, 0.9 * W)
            x1 = float(np.clip(x0 + rng.normal(0, 0.4 * W), 0.05 * W, 0.95 * W))
            wp = [(x0, y_lo - 2), (x1, H + 1.2 * 90)]
            if rng.random() < 0.5:
                wp = wp[::-1]
        else:  # walk in, turn back, walk out
            y0 = rng.uniform(y_lo, y_hi)
            side = rng.random() < 0.5
            x_in = -m if side else W + m
            x_turn = rng.uniform(0.3 * W, 0.7 * W)
            wp = [(x_in, y0), (x_turn, y0 + rng.normal(0, 6)), (x_in, y0 + rng.normal(0, 6))]
        spec = random_person(rng, wp, speeds=float(rng.uniform(35.0, 75.0)) / fps)
        length = float(np.sum(np.linalg.norm(np.diff(np.asarray(wp), axis=0), axis=1)))
        dur = length / float(np.mean(spec.speeds))
        spec.start_frame = float(rng.uniform(-0.7 * dur, max(1.0, T - 0.3 * dur)))
        spec.pauses = [0.0] * len(wp)
        people.append(spec)
    return people


def make_street_scene(seed: int = 0, num_frames: int = 200, size: tuple[int, int] = (384, 288),
                      num_people: int = 8, people: list[PersonSpec] | None = None,
                      occluders: bool | list[Occluder] = True, fps: float = 10.0, *,
                      perspective: bool = True, noise: float = 2.0, add_random: bool = False,
                      horizon: float | None = None) -> StreetScene:
    """Render a seeded street clip with MOT ground truth.

    ``size`` is (W, H). ``people`` scripts the pedestrians (ids 1..len(people) in that order);
    without it ``num_people`` random ones enter, cross and leave. With both and
    ``add_random=True`` the random ones are appended after the scripted ones. ``occluders`` is
    True (1–3 random static occluders), False, or a list of :class:`Occluder`. ``perspective``
    shrinks people standing higher in the image (``PersonSpec.height`` is the height at the bottom
    edge). ``noise`` is the camera noise standard deviation in grey levels.
    """
    import cv2

    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if int(num_frames) < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    try:
        W, H = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (W, H), got {size!r}") from None
    if W < 32 or H < 32:
        raise ValueError(f"size (W, H) must be at least 32x32, got {W}x{H}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if people is not None and not all(isinstance(p, PersonSpec) for p in people):
        raise TypeError("people must be a list of PersonSpec")
    T = int(num_frames)
    rng = np.random.default_rng(int(seed))
    hz = 0.28 * H if horizon is None else float(horizon)
    bg = _background(rng, W, H, hz)

    specs: list[PersonSpec] = list(people) if people is not None else []
    if people is None or add_random:
        specs += _random_people(rng, int(num_people), T, W, H, hz, float(fps))
    if len(specs) > 254:
        raise ValueError(f"at most 254 people per scene, got {len(specs)}")
    if occluders is True:
        occ = _random_occluders(rng, W, H, hz)
    elif occluders is False or occluders is None:
        occ = []
    else:
        occ = list(occluders)

    # trajectories
    n = len(specs)
    feet = np.full((n, T, 2), np.nan)
    dist = np.full((n, T), np.nan)
    for i, s in enumerate(specs):
        feet[i], dist[i] = _positions(s, T)
    heights = np.array([s.height for s in specs])[:, None] * (
        np.vectorize(lambda y: _depth_scale(y, H, hz) if np.isfinite(y) else np.nan)(feet[..., 1])
        if perspective and n else 1.0)
    if n and not perspective:
        heights = np.broadcast_to(heights, (n, T)).astype(float)
    widths = np.array([s.build for s in specs])[:, None] * heights if n else np.zeros((0, T))
    facing = np.sign(np.gradient(np.nan_to_num(feet[..., 0]), axis=1)) if n else np.zeros((0, T))
    facing[facing == 0] = 1

    # occluder sprites, rendered once
    occ_sprites = [_draw_occluder(o) for o in occ]
    noise_bank = [rng.normal(0, noise, size=(H, W, 1)).astype(np.float32) for _ in range(4)] if noise > 0 else []

    frames = np.empty((T, H, W, 3), np.uint8)
    box_arr = np.full((n, T, 4), np.nan)
    vis_arr = np.full((n, T), np.nan)
    anchors = np.full((n, T, 2), np.nan)
    idmap = np.zeros((H, W), np.uint8)
    shadow = np.array([0.75], np.float32)
    for t in range(T):
        frame = bg.copy()
        idmap[:] = 0
        items = []  # (depth y, kind, index)
        full_area = np.zeros(n)
        for i in range(n):
            fx, fy = feet[i, t]
            if not np.isfinite(fx):
                continue
            h, w = heights[i, t], widths[i, t]
            x0, y0, x1, y1 = fx - w / 2, fy - h, fx + w / 2, fy
            if x1 <= 0 or y1 <= 0 or x0 >= W or y0 >= H:
                continue
            items.append((fy, 1, i))
        for k, o in enumerate(occ):
            items.append((o.base_y, 0, k))
        items.sort(key=lambda it: (it[0], it[1]))
        for depth, kind, idx in items:
            if kind == 0:
                img, m, ox, oy = occ_sprites[idx]
                code = 255
            else:
                s = specs[idx]
                fx, fy = feet[idx, t]
                phase = 0.0 if not np.isfinite(dist[idx, t]) else dist[idx, t] / max(2.0, 0.45 * heights[idx, t]) * math.pi
                img, m = _draw_person(s, heights[idx, t], phase, facing[idx, t])
                hh, ww = m.shape
                ox, oy = int(round(fx - ww / 2)), int(round(fy)) - hh
                full_area[idx] = m.sum()
                # soft shadow under the feet
                sx0, sx1 = max(0, ox - 2), min(W, ox + ww + 2)
                sy0, sy1 = max(0, int(fy) - 2), min(H, int(fy) + 1)
                if sx1 > sx0 and sy1 > sy0:
                    frame[sy0:sy1, sx0:sx1] = (frame[sy0:sy1, sx0:sx1] * shadow).astype(np.uint8)
                code = idx + 1
            hh, ww = m.shape
            cx0, cy0 = max(0, ox), max(0, oy)
            cx1, cy1 = min(W, ox + ww), min(H, oy + hh)
            if cx1 <= cx0 or cy1 <= cy0:
                continue
            mm = m[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox]
            frame[cy0:cy1, cx0:cx1][mm] = img[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox][mm]
            idmap[cy0:cy1, cx0:cx1][mm] = code
        if noise_bank:
            frame = np.clip(frame.astype(np.float32) + noise_bank[t % len(noise_bank)], 0, 255).astype(np.uint8)
        frames[t] = frame
        # ground truth for this frame
        counts = np.bincount(idmap.ravel(), minlength=256)
        for depth, kind, idx in items:
            if kind == 0:
                continue
            fx, fy = feet[idx, t]
            h, w = heights[idx, t], widths[idx, t]
            x0, y0, x1, y1 = max(0.0, fx - w / 2), max(0.0, fy - h), min(float(W), fx + w / 2), min(float(H), fy)
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            box_arr[idx, t] = (x0, y0, x1, y1)
            anchors[idx, t] = (fx, fy)
            vis_arr[idx, t] = counts[idx + 1] / full_area[idx] if full_area[idx] > 0 else 0.0

    rows = []
    for i in range(n):
        ok = np.isfinite(box_arr[i, :, 0])
        ts = np.nonzero(ok)[0]
        b = box_arr[i, ts]
        rows.append(np.column_stack([ts + 1, np.full(len(ts), i + 1), b[:, 0], b[:, 1], b[:, 2] - b[:, 0],
                                     b[:, 3] - b[:, 1], np.ones(len(ts)), np.ones(len(ts)), vis_arr[i, ts]]))
    gt = np.concatenate(rows) if rows else np.zeros((0, 9))
    gt = gt[np.lexsort((gt[:, 1], gt[:, 0]))] if len(gt) else gt
    return StreetScene(
        frames=frames, fps=float(fps), gt=gt,
        anchor_tracks={i + 1: anchors[i] for i in range(n)},
        boxes={i + 1: box_arr[i] for i in range(n)},
        visibility={i + 1: vis_arr[i] for i in range(n)},
        people=specs, occluders=occ, seed=int(seed),
    )
