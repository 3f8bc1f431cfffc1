"""Action clips where time is the whole story (sections 26.2 and 26.3).

Every clip shows one *actor* (a large elongated rectangle of a random saturated colour) doing one
of eight actions, on a random low-contrast textured background, among a few small moving
*distractor* discs, with a little per-frame pixel noise:

====  ==============  ==========================================================
 idx   name            what the actor does
====  ==============  ==========================================================
 0     move_left       translates leftwards (direction within ±30° of horizontal)
 1     move_right      the exact time reversal of ``move_left``
 2     rotate_cw       turns clockwise on screen about one end, like a clock hand
 3     rotate_ccw      the exact time reversal of ``rotate_cw``
 4     grow            scales up by a factor 1.8–2.8
 5     shrink          the exact time reversal of ``grow``
 6     appear          absent, then fades in over three frames at a random moment
 7     disappear       the exact time reversal of ``appear``
====  ==============  ==========================================================

The classes come in :data:`REVERSAL_PAIRS`: the second class of a pair is *defined* as the time
reversal of the first. :func:`make_clip` draws every random quantity for the first class of the
pair and flips the frame order for the second, so with the same generator state

    ``make_clip(b, rng_copy) == make_clip(a, rng)[::-1]``   exactly.

Because the distractors' velocities, the noise and the background are drawn from distributions
that are themselves symmetric under time reversal, a flipped clip of class ``a`` is a sample of
class ``b``. Consequences the chapter uses:

* the *set* of frames of a clip and of its reversal is the same, so any classifier that looks at
  frames one at a time and averages (a per-frame 2D CNN) gives *identical* scores to a clip and
  its reversal: it is at chance inside every reversal pair, whatever it learns;
* a model that sees the order of frames (3D CNN, SlowFast, video transformer) can be perfect.

:class:`ActionClips` is a map-style ``torch`` dataset generating clip ``i`` on the fly from
``(seed, i)`` (a few milliseconds on a CPU), labels balanced (``i % num_classes``).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["CLASSES", "REVERSAL_PAIRS", "make_clip", "ActionClips", "class_index"]

CLASSES: list[str] = [
    "move_left", "move_right",
    "rotate_cw", "rotate_ccw",
    "grow", "shrink",
    "appear", "disappear",
]

#: Class-index pairs ``(a, b)``: a clip of ``b`` is a clip of ``a`` played backwards.
REVERSAL_PAIRS: list[tuple[int, int]] = [(0, 1), (2, 3), (4, 5), (6, 7)]

_PARTNER = {a: b for a, b in REVERSAL_PAIRS} | {b: a for a, b in REVERSAL_PAIRS}
_FORWARD = {a for a, _ in REVERSAL_PAIRS}  # classes whose clips are drawn directly


def class_index(name_or_index) -> int:
    """The index in :data:`CLASSES` of a class name (or a valid index, returned unchanged)."""
    if isinstance(name_or_index, (int, np.integer)) and not isinstance(name_or_index, bool):
        i = int(name_or_index)
        if not 0 <= i < len(CLASSES):
            raise IndexError(f"class index {i} out of range: accepted 0..{len(CLASSES) - 1}")
        return i
    if isinstance(name_or_index, str):
        if name_or_index not in CLASSES:
            raise ValueError(f"unknown action class {name_or_index!r}; accepted: {CLASSES}")
        return CLASSES.index(name_or_index)
    raise TypeError(f"a class is a name (str) or an index (int), got {type(name_or_index).__name__}")


# --------------------------------------------------------------------------------------------
# Rendering helpers (all in pixel units of the output frame)
# --------------------------------------------------------------------------------------------


def _hsv_colour(rng: np.random.Generator, s_range=(0.65, 1.0), v_range=(0.85, 1.0)) -> np.ndarray:
    h = rng.uniform(0.0, 1.0)
    s = rng.uniform(*s_range)
    v = rng.uniform(*v_range)
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.asarray(rgb, dtype=np.float32)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random texture (bilinearly upsampled coarse noise) plus fine grain, (H, W, 3)."""
    coarse = int(rng.integers(3, 8))
    base = rng.uniform(0.15, 0.45, size=3).astype(np.float32)
    grid = rng.normal(0.0, 0.12, size=(coarse, coarse, 3)).astype(np.float32)
    # bilinear upsampling of the coarse grid to size x size
    pos = np.linspace(0, coarse - 1, size, dtype=np.float32)
    i0 = np.clip(np.floor(pos).astype(int), 0, coarse - 2) if coarse > 1 else np.zeros(size, int)
    w = (pos - i0)[:, None]
    rows = grid[i0] * (1 - w[..., None]) + grid[np.minimum(i0 + 1, coarse - 1)] * w[..., None]
    tex = rows[:, i0] * (1 - w.T[..., None]) + rows[:, np.minimum(i0 + 1, coarse - 1)] * w.T[..., None]
    fine = rng.normal(0.0, 0.04, size=(size, size, 3)).astype(np.float32)
    return np.clip(base + tex + fine, 0.0, 1.0).astype(np.float32)


def _paint_rect(frame: np.ndarray, cx: float, cy: float, half_len: float, half_wid: float,
                angle: float, colour: np.ndarray, alpha: float = 1.0) -> None:
    """Alpha-blend an anti-aliased rotated rectangle into ``frame`` (H, W, 3) in place.

    ``angle`` is measured from the +x axis towards +y (image rows grow downwards), so increasing
    it turns the rectangle *clockwise* on screen.
    """
    if alpha <= 0.0:
        return
    size = frame.shape[0]
    r = math.hypot(half_len, half_wid) + 1.5
    x0, x1 = max(0, int(math.floor(cx - r))), min(size, int(math.ceil(cx + r)) + 1)
    y0, y1 = max(0, int(math.floor(cy - r))), min(size, int(math.ceil(cy + r)) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    xs = np.arange(x0, x1, dtype=np.float32) + 0.5 - cx
    ys = np.arange(y0, y1, dtype=np.float32) + 0.5 - cy
    c, s = math.cos(angle), math.sin(angle)
    u = xs[None, :] * c + ys[:, None] * s      # along the long axis
    v = -xs[None, :] * s + ys[:, None] * c     # across it
    sdf = np.maximum(np.abs(u) - half_len, np.abs(v) - half_wid)
    a = np.clip(0.5 - sdf, 0.0, 1.0) * alpha
    patch = frame[y0:y1, x0:x1]
    patch += a[..., None] * (colour - patch)


def _paint_disc(frame: np.ndarray, cx: float, cy: float, radius: float, colour: np.ndarray) -> None:
    size = frame.shape[0]
    r = radius + 1.5
    x0, x1 = max(0, int(math.floor(cx - r))), min(size, int(math.ceil(cx + r)) + 1)
    y0, y1 = max(0, int(math.floor(cy - r))), min(size, int(math.ceil(cy + r)) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    xs = np.arange(x0, x1, dtype=np.float32) + 0.5 - cx
    ys = np.arange(y0, y1, dtype=np.float32) + 0.5 - cy
    d = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2) - radius
    a = np.clip(0.5 - d, 0.0, 1.0)
    patch = frame[y0:y1, x0:x1]
    patch += a[..., None] * (colour - patch)


def _bounce(p0: float, v: float, t: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Positions of a point moving at speed ``v`` from ``p0``, reflected inside [lo, hi]."""
    span = hi - lo
    q = (p0 - lo + v * t) % (2 * span)
    return lo + np.where(q > span, 2 * span - q, q)


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


def _forward_actor(family: int, rng: np.random.Generator, T: int, size: int):
    """Per-frame actor parameters (cx, cy, half_len, half_wid, angle, alpha) for the *first*
    class of reversal pair ``family`` (0 move_left, 1 rotate_cw, 2 grow, 3 appear)."""
    k = size / 64.0
    t = np.arange(T, dtype=np.float64)
    frac = t / max(T - 1, 1)
    half_len = rng.uniform(8.0, 12.0) * k
    half_wid = half_len / rng.uniform(1.8, 2.6)
    angle0 = rng.uniform(0.0, math.pi)
    ones = np.ones(T)
    if family == 0:  # move_left: a straight run, direction within ±30° of "left"
        direction = math.pi + rng.uniform(-math.pi / 6, math.pi / 6)
        dist = rng.uniform(0.35, 0.55) * size
        dx, dy = dist * math.cos(direction), dist * math.sin(direction)
        margin = 0.6 * half_len
        mx = rng.uniform(margin + abs(dx) / 2, size - margin - abs(dx) / 2)
        my = rng.uniform(margin + abs(dy) / 2, size - margin - abs(dy) / 2)
        cx = mx + dx * (frac - 0.5)
        cy = my + dy * (frac - 0.5)
        return cx, cy, half_len * ones, half_wid * ones, angle0 * ones, ones
    cx = rng.uniform(0.3, 0.7) * size * ones
    cy = rng.uniform(0.3, 0.7) * size * ones
    if family == 1:  # rotate_cw: a clock hand turning about one end; the angle grows (clockwise
        # on screen, rows pointing down)
        total = rng.uniform(0.7, 1.1) * math.pi
        ang = angle0 * 2 + total * frac  # any start direction
        px, py = cx[0] * 0.5 + 0.25 * size, cy[0] * 0.5 + 0.25 * size  # pivot in the central half
        hcx = px + half_len * np.cos(ang)
        hcy = py + half_len * np.sin(ang)
        return hcx, hcy, half_len * ones, half_wid * ones, ang, ones
    if family == 2:  # grow: geometric scaling from s0 to s0 * factor
        factor = rng.uniform(1.8, 2.8)
        s = factor ** (frac - 0.5) / math.sqrt(factor) * 1.1
        return cx, cy, half_len * s, half_wid * s, angle0 * ones, ones
    if family == 3:  # appear: absent, then a 3-frame fade-in starting at a random frame
        ramp = 3.0
        lo, hi = 0.2 * (T - 1), 0.8 * (T - 1) - ramp
        start = rng.uniform(lo, max(lo, hi))
        alpha = np.clip((t - start + 1.0) / ramp, 0.0, 1.0)
        return cx, cy, half_len * ones, half_wid * ones, angle0 * ones, alpha
    raise AssertionError(family)


def make_clip(label: int, rng: np.random.Generator, num_frames: int = 16, size: int = 64) -> np.ndarray:
    """One clip of action ``label`` (an index into :data:`CLASSES`), float32 (T, H, W, 3) in [0, 1].

    For a reversal pair ``(a, b)`` the random draws are identical, so with generators in the same
    state ``make_clip(b, rng2)`` equals ``make_clip(a, rng1)[::-1]`` exactly.
    """
    label = class_index(label)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__} "
                        "(use numpy.random.default_rng(seed))")
    if int(num_frames) != num_frames or num_frames < 2:
        raise ValueError(f"num_frames must be an integer >= 2, got {num_frames!r}")
    if int(size) != size or size < 16:
        raise ValueError(f"size must be an integer >= 16 pixels, got {size!r}")
    T, size = int(num_frames), int(size)
    forward = label if label in _FORWARD else _PARTNER[label]
    family = forward // 2

    bg = _background(rng, size)
    actor_colour = _hsv_colour(rng)
    cx, cy, hl, hw, ang, alpha = _forward_actor(family, rng, T, size)

    # distractors: small discs at constant velocity (isotropic, so symmetric under reversal)
    k = size / 64.0
    n_distract = int(rng.integers(2, 5))
    t = np.arange(T, dtype=np.float64)
    distractors = []
    for _ in range(n_distract):
        radius = rng.uniform(2.0, 4.0) * k
        speed = rng.uniform(0.0, 2.5) * k
        heading = rng.uniform(0.0, 2 * math.pi)
        lo, hi = radius, size - radius
        px = _bounce(rng.uniform(lo, hi), speed * math.cos(heading), t, lo, hi)
        py = _bounce(rng.uniform(lo, hi), speed * math.sin(heading), t, lo, hi)
        distractors.append((px, py, radius, _hsv_colour(rng)))
    actor_on_top = bool(rng.integers(0, 2))
    noise = rng.normal(0.0, 0.02, size=(T, size, size, 3)).astype(np.float32)

    clip = np.empty((T, size, size, 3), dtype=np.float32)
    for i in range(T):
        frame = clip[i]
        frame[:] = bg
        if not actor_on_top:
            _paint_rect(frame, cx[i], cy[i], hl[i], hw[i], ang[i], actor_colour, alpha[i])
        for px, py, radius, colour in distractors:
            _paint_disc(frame, px[i], py[i], radius, colour)
        if actor_on_top:
            _paint_rect(frame, cx[i], cy[i], hl[i], hw[i], ang[i], actor_colour, alpha[i])
    clip += noise
    np.clip(clip, 0.0, 1.0, out=clip)
    if label != forward:
        clip = np.ascontiguousarray(clip[::-1])
    return clip


def _resolve_classes(classes) -> list[int]:
    if classes is None:
        return list(range(len(CLASSES)))
    if isinstance(classes, (str, int)):
        raise TypeError("classes must be a sequence of class names or indices, e.g. "
                        "['move_left', 'move_right']")
    idx = [class_index(c) for c in classes]
    if len(idx) < 2:
        raise ValueError(f"need at least 2 classes, got {list(classes)!r}")
    if len(set(idx)) != len(idx):
        raise ValueError(f"classes contains duplicates: {list(classes)!r}")
    return idx


try:  # the dataset class is a torch Dataset when torch is importable (it always is here)
    from torch.utils.data import Dataset as _Dataset
except ImportError:  # pragma: no cover
    _Dataset = object


class ActionClips(_Dataset):
    """``n`` synthetic action clips generated on the fly, deterministic per ``(seed, i)``.

    ``ds[i]`` is ``(clip, label)``: ``clip`` a float32 tensor (C=3, T, H, W) in [0, 1], ``label``
    an ``int`` indexing ``ds.classes``. ``classes`` picks a subset of :data:`CLASSES` (names or
    indices; labels are renumbered 0..len-1 in the given order). Labels are balanced:
    ``label = i % len(classes)``. Use different seeds for training and held-out sets.

    ``cache=True`` keeps generated clips in memory (as float32, exact), which is worth it when a
    small set is read for many epochs.
    """

    def __init__(self, n: int, seed: int, num_frames: int = 16, size: int = 64,
                 classes: Sequence | None = None, *, cache: bool = False):
        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if int(num_frames) != num_frames or num_frames < 2:
            raise ValueError(f"num_frames must be an integer >= 2, got {num_frames!r}")
        if int(size) != size or size < 16:
            raise ValueError(f"size must be an integer >= 16, got {size!r}")
        self.n, self.seed = int(n), int(seed)
        self.num_frames, self.size = int(num_frames), int(size)
        self.class_ids = _resolve_classes(classes)
        self.classes = [CLASSES[c] for c in self.class_ids]
        self.cache = bool(cache)
        self._cache: dict[int, object] = {}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return self.n

    def label(self, i: int) -> int:
        """The label of item ``i`` without rendering it."""
        return int(i) % len(self.classes)

    @property
    def targets(self) -> list[int]:
        return [self.label(i) for i in range(self.n)]

    def clip_numpy(self, i: int) -> np.ndarray:
        """Item ``i`` as a NumPy array (T, H, W, 3)."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(i)]))
        return make_clip(self.class_ids[self.label(i)], rng, self.num_frames, self.size)

    def __getitem__(self, i):
        import torch

        if isinstance(i, (np.integer,)):
            i = int(i)
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError(f"index must be an int, got {type(i).__name__}")
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for ActionClips of length {self.n}")
        if self.cache and i in self._cache:
            clip = self._cache[i]
        else:
            clip = torch.from_numpy(self.clip_numpy(i)).permute(3, 0, 1, 2).contiguous()
            if self.cache:
                self._cache[i] = clip
        return clip, self.label(i)

    def __repr__(self) -> str:
        return (f"ActionClips(n={self.n}, seed={self.seed}, num_frames={self.num_frames}, "
                f"size={self.size}, classes={self.classes})")
