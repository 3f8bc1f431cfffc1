"""FlyingChairs-like image pairs with exact dense optical flow, for training and testing RAFT.

A pair is a stack of layers: a textured background filling the frame and a few textured shapes
(ellipses, rotated rectangles, random polygons) pasted on top. Every layer moves by its own
random affine map ``A_k(p) = c_k + t_k + R(θ_k)·s_k·(p − c_k)``. Frame 1 shows the layers in place,
frame 2 shows each layer warped by its map, composited in the same depth order.

Because every pixel of frame 1 belongs to exactly one visible layer k, its true flow is exactly
``A_k(p) − p`` — no estimation involved. Pixels whose destination in frame 2 is hidden by a
layer nearer the camera (or leaves the frame) are *occluded*; ``valid`` marks the others.

    from companion.synthetic.flow import make_pair
    s = make_pair(seed=3, size=(192, 256))
    s["img1"], s["img2"]   # uint8 (H, W, 3)
    s["flow"]              # float32 (2, H, W), x then y, pixels: frame 1 → frame 2
    s["valid"]             # bool (H, W), False where occluded / out of frame
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np


def _rng(seed=None, rng: np.random.Generator | None = None) -> np.random.Generator:
    if rng is not None and seed is not None:
        raise ValueError("pass either seed= or rng=, not both")
    return rng if rng is not None else np.random.default_rng(seed)


def random_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A colourful multi-scale texture (uint8 (h, w, 3)): coloured value noise over 3–5 octaves,
    sometimes mixed with stripes or a checkerboard, so there is detail at every scale."""
    out = np.zeros((h, w, 3), np.float32)
    octaves = rng.integers(3, 6)
    base = rng.uniform(2, 10)
    for o in range(octaves):
        cells = base * 2 ** o
        gh, gw = max(2, int(h / max(1.0, h / cells))), max(2, int(w / max(1.0, h / cells)))
        gh, gw = min(gh, h), min(gw, w)
        noise = rng.standard_normal((gh, gw, 3)).astype(np.float32)
        noise = noise @ rng.uniform(-1, 1, (3, 3)).astype(np.float32)  # correlated colours
        out += rng.uniform(0.3, 1.0) / (1 + 0.4 * o) * cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    kind = rng.integers(0, 4)
    if kind == 1:  # stripes
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ang, period = rng.uniform(0, math.pi), rng.uniform(4, 24)
        s = np.sin(2 * math.pi * (xx * math.cos(ang) + yy * math.sin(ang)) / period)
        out += rng.uniform(0.5, 1.5) * s[..., None] * rng.uniform(-1, 1, 3).astype(np.float32)
    elif kind == 2:  # checkerboard
        yy, xx = np.mgrid[0:h, 0:w]
        c = rng.integers(6, 30)
        s = (((yy // c) + (xx // c)) % 2).astype(np.float32) * 2 - 1
        out += rng.uniform(0.5, 1.5) * s[..., None] * rng.uniform(-1, 1, 3).astype(np.float32)
    sub = out[::4, ::4].reshape(-1, 3)
    mean = rng.uniform(60, 200, 3).astype(np.float32)
    contrast = rng.uniform(25, 60) / (sub.std(0) + 1e-6)
    out *= contrast.astype(np.float32)
    out += mean - contrast * sub.mean(0)
    return np.clip(out, 0, 255).astype(np.uint8)


def flat_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A nearly textureless layer (uint8 (h, w, 3)): one colour, sometimes clipped to white or
    black, with a faint gradient and a little noise — like a wall, sky or an over-exposed pavement,
    where matching has nothing to hold on to."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    colour = rng.uniform(0, 300, 3).astype(np.float32)  # > 255 clips: over-exposed
    grad = rng.uniform(-20, 20, 2).astype(np.float32)
    out = colour + (grad[0] * xx / w + grad[1] * yy / h)[..., None]
    out = out + rng.normal(0, rng.uniform(0, 3), (h, w, 3)).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


#: Photographs bundled with scikit-image (no download) used by :func:`photo_texture`. The stereo
#: pair ``stereo_motorcycle`` is deliberately NOT among them: it is the real evaluation pair.
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "brick", "grass", "gravel", "coins",
          "clock", "moon", "page", "text", "hubble_deep_field", "immunohistochemistry", "retina", "cell")


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    import skimage.data

    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; accepted: {PHOTOS}")
    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def photo_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random crop of one of the :data:`PHOTOS` (uint8 (h, w, 3)): random scale (x0.4-1.6),
    rotation by a multiple of 90°, mirror, channel order and a tint for grey photos — real-world
    edges, gradients and textureless patches, the statistics procedural noise lacks (FlyingChairs
    pastes chairs over Flickr photos for the same reason)."""
    img = _photo(PHOTOS[int(rng.integers(len(PHOTOS)))])
    img = np.rot90(img, int(rng.integers(4)))
    if rng.random() < 0.5:
        img = img[:, ::-1]
    s = max(rng.uniform(0.4, 1.6), 1.05 * h / img.shape[0], 1.05 * w / img.shape[1])
    img = cv2.resize(np.ascontiguousarray(img), (round(img.shape[1] * s), round(img.shape[0] * s)),
                     interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y = int(rng.integers(0, img.shape[0] - h + 1))
    x = int(rng.integers(0, img.shape[1] - w + 1))
    out = img[y:y + h, x:x + w][..., rng.permutation(3)].astype(np.float32)
    if np.ptp(out.reshape(-1, 3).mean(0)) < 1.0:  # a grey photo: tint it
        out = out * rng.uniform(0.6, 1.2, 3).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _affine(rng: np.random.Generator, centre, max_shift: float, max_rot_deg: float,
            max_scale: float) -> np.ndarray:
    """2×3 matrix of p ↦ c + t + R·s·(p − c); shift magnitude is skewed towards small values."""
    mag = max_shift * rng.uniform(0, 1) ** 1.5
    ang = rng.uniform(0, 2 * math.pi)
    t = np.array([mag * math.cos(ang), mag * math.sin(ang)])
    th = math.radians(rng.uniform(-max_rot_deg, max_rot_deg))
    s = math.exp(rng.uniform(-math.log(max_scale), math.log(max_scale)))
    rs = s * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    c = np.asarray(centre, np.float64)
    return np.hstack([rs, (c + t - rs @ c)[:, None]])


def _shape_mask(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, tuple[float, float]]:
    mask = np.zeros((h, w), np.uint8)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    r = rng.uniform(0.08, 0.3) * min(h, w)
    kind = rng.integers(0, 3)
    if kind == 0:
        axes = (int(r), int(r * rng.uniform(0.4, 1.0)))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1, -1)
    elif kind == 1:
        box = cv2.boxPoints(((cx, cy), (2 * r, 2 * r * rng.uniform(0.3, 1.0)), rng.uniform(0, 180)))
        cv2.fillPoly(mask, [box.astype(np.int32)], 1)
    else:
        n = rng.integers(3, 9)
        angs = np.sort(rng.uniform(0, 2 * math.pi, n))
        rad = r * rng.uniform(0.5, 1.2, n)
        pts = np.stack([cx + rad * np.cos(angs), cy + rad * np.sin(angs)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
    return mask.astype(bool), (cx, cy)


def make_pair(seed: int | None = None, *, rng: np.random.Generator | None = None,
              size: tuple[int, int] = (192, 256), n_shapes: tuple[int, int] = (3, 8),
              max_shift: float = 24.0, bg_max_shift: float | None = None, max_rot_deg: float = 10.0,
              max_scale: float = 1.08, static_background: bool = False, flat_p: float = 0.0,
              photo_p: float = 0.0) -> dict:
    """One pair with exact flow. ``size`` = (H, W); shapes move up to ``max_shift`` px, the
    background up to ``bg_max_shift`` (default: the same). ``static_background=True`` keeps the
    background still (a fixed camera: zero flow wherever the background shows); the random
    stream is the same either way, so the shapes of a seed do not change. ``flat_p``: chance that
    a layer gets a nearly textureless :func:`flat_texture` instead; ``photo_p``: chance that it
    gets a crop of a real photograph, :func:`photo_texture` (0 for either draws nothing extra, so
    the stream of earlier seeds is unchanged)."""
    if len(size) != 2 or min(size) < 16:
        raise ValueError(f"size must be (H, W) with both ≥ 16, got {size}")
    if n_shapes[0] < 0 or n_shapes[1] < n_shapes[0]:
        raise ValueError(f"n_shapes must be (min, max) with 0 ≤ min ≤ max, got {n_shapes}")
    g = _rng(seed, rng)
    h, w = size
    bg_max_shift = max_shift if bg_max_shift is None else bg_max_shift

    def texture():
        if flat_p > 0 and g.random() < flat_p:
            return flat_texture(g, h, w)
        if photo_p > 0 and g.random() < photo_p:
            return photo_texture(g, h, w)
        return random_texture(g, h, w)

    textures = [texture()]
    masks = [np.ones((h, w), bool)]
    maps = [_affine(g, (w / 2, h / 2), bg_max_shift, max_rot_deg / 2, max_scale)]
    if static_background:
        maps[0] = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    for _ in range(int(g.integers(n_shapes[0], n_shapes[1] + 1))):
        m, c = _shape_mask(g, h, w)
        if not m.any():
            continue
        textures.append(texture())
        masks.append(m)
        maps.append(_affine(g, c, max_shift, max_rot_deg, max_scale))

    img1 = np.zeros((h, w, 3), np.uint8)
    img2 = np.zeros((h, w, 3), np.uint8)
    label1 = np.zeros((h, w), np.int16)
    label2 = np.full((h, w), -1, np.int16)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    flow = np.zeros((2, h, w), np.float64)
    for k, (tex, m, a) in enumerate(zip(textures, masks, maps)):
        img1[m] = tex[m]
        label1[m] = k
        border = cv2.BORDER_REFLECT_101 if k == 0 else cv2.BORDER_CONSTANT
        t2 = cv2.warpAffine(tex, a, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
        m2 = cv2.warpAffine(m.astype(np.float32), a, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=border) > 0.5
        img2[m2] = t2[m2]
        label2[m2] = k
        fx = a[0, 0] * xx + a[0, 1] * yy + a[0, 2] - xx
        fy = a[1, 0] * xx + a[1, 1] * yy + a[1, 2] - yy
        flow[0][m], flow[1][m] = fx[m], fy[m]

    qx, qy = np.rint(xx + flow[0]).astype(int), np.rint(yy + flow[1]).astype(int)
    inside = (qx >= 0) & (qx < w) & (qy >= 0) & (qy < h)
    valid = inside.copy()
    valid[inside] = label2[qy[inside], qx[inside]] == label1[inside]
    return {"img1": img1, "img2": img2, "flow": flow.astype(np.float32), "valid": valid,
            "labels": label1, "affines": np.stack(maps)}


def make_dataset(n: int, seed: int = 0, **kwargs) -> list[dict]:
    """``n`` pairs from one seed (pair i uses a child generator of ``seed``, so it is reproducible
    on its own)."""
    children = np.random.SeedSequence(seed).spawn(n)
    return [make_pair(rng=np.random.default_rng(c), **kwargs) for c in children]
