"""Appearance descriptors for DeepSORT: a small re-identification CNN and a colour-histogram baseline.

Both are *embedders*: ``embedder(frame, xyxy) -> (N, D) float32`` rows of unit length, one per
box, so the cosine distance between two detections is ``1 - a @ b``.

* :class:`ReIDEmbedder` — :class:`ReIDNet`, a four-convolution CNN (~0.07 M parameters) on
  64x32 person crops, trained here with a batch-hard triplet loss on crops cut from the
  synthetic street scenes (``scripts/train_reid.py``); the weights ship as
  ``companion/weights/reid_small.pt``.
* :class:`PretrainedEmbedder` — ImageNet-pretrained MobileNetV2 features
  (:func:`companion.pretrained.imagenet_mobilenet_v2`, not trained here at all) on 128x64 crops,
  average-pooled over the upper and the lower half of the body separately and concatenated
  (2 x 1280 = 2560-d): features learned on real photographs, so they describe real clothes
  (texture, shape, colour together) where the histogram sees only colour counts.
* :class:`ColorHistogramEmbedder` — HSV histograms of the upper and lower half of the box
  (shirt and trousers), square-rooted so that the dot product is the Bhattacharyya coefficient.

Helpers for training and evaluation: :func:`crop_boxes`, :func:`street_crops`,
:func:`batch_hard_triplet_loss`, :func:`rank1`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "CROP_SIZE", "crop_boxes", "ReIDNet", "ReIDEmbedder", "PretrainedEmbedder", "ColorHistogramEmbedder",
    "street_crops",
    "batch_hard_triplet_loss", "rank1", "separation", "split_query_gallery", "default_weights_path", "get_embedder",
]

#: (height, width) of the crops the re-ID network sees.
CROP_SIZE = (64, 32)


def default_weights_path() -> Path:
    from companion.config import PACKAGE_DIR

    return PACKAGE_DIR / "weights" / "reid_small.pt"


def _check_frame(frame) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim != 3 or f.shape[2] != 3:
        raise ValueError(f"frame must be an (H, W, 3) RGB image, got shape {f.shape}")
    if f.dtype != np.uint8:
        if np.issubdtype(f.dtype, np.floating) and f.size and f.max() <= 1.0:
            f = (f * 255).round()
        f = np.clip(f, 0, 255).astype(np.uint8)
    return f


def crop_boxes(frame, xyxy, size: tuple[int, int] = CROP_SIZE) -> np.ndarray:
    """Crops of ``frame`` (H, W, 3) under the xyxy boxes, resized to ``size`` = (h, w):
    (N, h, w, 3) uint8. Boxes are clipped to the image; a box with nothing inside gives zeros."""
    import cv2

    f = _check_frame(frame)
    H, W = f.shape[:2]
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(b), size[0], size[1], 3), np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(b):
        if not np.isfinite([x0, y0, x1, y1]).all():
            continue
        xa, ya = int(max(0, np.floor(x0))), int(max(0, np.floor(y0)))
        xb, yb = int(min(W, np.ceil(x1))), int(min(H, np.ceil(y1)))
        if xb - xa < 1 or yb - ya < 1:
            continue
        out[i] = cv2.resize(f[ya:yb, xa:xb], (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return out


# ----------------------------------------------------------------------------------------------
# The learned embedding
# ----------------------------------------------------------------------------------------------


def _torch_net(dim: int = 64, width: int = 16):
    import torch
    from torch import nn

    def conv(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class ReIDNet(nn.Module):
        """Four 3x3 convolutions (16-32-64-64 channels) with three 2x poolings -> global
        average + max pooling -> linear -> L2-normalised ``dim``-vector (~0.07 M parameters)."""

        def __init__(self):
            super().__init__()
            self.dim = dim
            self.features = nn.Sequential(*conv(3, width), nn.MaxPool2d(2), *conv(width, 2 * width), nn.MaxPool2d(2),
                                          *conv(2 * width, 4 * width), *conv(4 * width, 4 * width), nn.MaxPool2d(2))
            self.head = nn.Linear(8 * width, dim)
            self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))

        def forward(self, x):  # x: (N, 3, 64, 32) float in [0, 1]
            x = (x - self.mean) / self.std
            f = self.features(x)
            f = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)
            return nn.functional.normalize(self.head(f), dim=1)

    return ReIDNet()


def ReIDNet(dim: int = 64, width: int = 16):  # noqa: N802 - a factory that reads like a class
    """A fresh (untrained) re-ID network; see :func:`_torch_net`."""
    return _torch_net(dim, width)


class ReIDEmbedder:
    """The shipped re-ID CNN as an embedder: ``ReIDEmbedder()(frame, xyxy) -> (N, 64)``."""

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", net=None):
        import torch

        self.device = torch.device(device)
        if net is None:
            path = Path(weights) if weights is not None else default_weights_path()
            if not path.exists():
                raise FileNotFoundError(f"re-ID weights not found at {path}; train them with "
                                        "`python scripts/train_reid.py` or pass weights=... / net=...")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            net = ReIDNet(**ckpt.get("config", {}))
            net.load_state_dict(ckpt["state_dict"])
        self.net = net.to(self.device).eval()
        self.dim = self.net.dim

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """(N, h, w, 3) uint8 crops -> (N, D) float32 unit vectors."""
        import torch

        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        # a frame's handful of crops is too small a job to split across threads: on a busy CPU the
        # thread hand-off costs far more than the convolutions (measured: 0.59 s vs 0.02 s for 12 crops)
        threads = torch.get_num_threads()
        single = self.device.type == "cpu" and len(crops) <= 256 and threads > 1
        if single:
            torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                return self.net(x).cpu().numpy().astype(np.float32)
        finally:
            if single:
                torch.set_num_threads(threads)

    def __call__(self, frame, xyxy) -> np.ndarray:
        return self.embed_crops(crop_boxes(frame, xyxy))


class PretrainedEmbedder:
    """ImageNet MobileNetV2 features as an appearance embedding:
    ``PretrainedEmbedder()(frame, xyxy) -> (N, 2560)`` unit rows.

    Each crop is resized to ``size`` = (128, 64) (h, w), normalised with the ImageNet mean / std
    and run through ``mobilenet_v2().features`` (stride 32: a 4 x 2 grid of 1280-d cells). The
    grid's top two rows (head and torso) and bottom two rows (legs) are average-pooled separately
    and concatenated, each half L2-normalised first so that both weigh the same; the whole vector
    is then L2-normalised. Nothing is trained: these are the ImageNet weights as shipped.
    ``net`` replaces the backbone (any module mapping (N, 3, h, w) to (N, C, h', w')).
    """

    SIZE = (128, 64)

    def __init__(self, device: str = "cpu", net=None, size: tuple[int, int] = SIZE):
        import torch

        from companion.pretrained import IMAGENET_MEAN, IMAGENET_STD

        self.device = torch.device(device)
        if net is None:
            from companion.pretrained import imagenet_mobilenet_v2

            net = imagenet_mobilenet_v2()
        self.net = net.to(self.device).eval()
        self.size = (int(size[0]), int(size[1]))
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        with torch.inference_mode():
            c = self.net(torch.zeros(1, 3, *self.size, device=self.device)).shape[1]
        self.dim = 2 * int(c)

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """(N, h, w, 3) uint8 crops (resized to ``size`` if needed) -> (N, dim) unit vectors."""
        import cv2
        import torch

        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        crops = np.asarray(crops)
        if crops.shape[1:3] != self.size:
            crops = np.stack([cv2.resize(c, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)
                              for c in crops])
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).permute(0, 3, 1, 2).float()
        x = (x / 255.0 - self.mean) / self.std
        threads = torch.get_num_threads()
        single = self.device.type == "cpu" and len(crops) <= 64 and threads > 1
        if single:  # see ReIDEmbedder.embed_crops: a frame's few crops run faster on one thread
            torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                f = self.net(x)
        finally:
            if single:
                torch.set_num_threads(threads)
        half = max(1, f.shape[2] // 2)
        parts = [torch.nn.functional.normalize(p.mean((2, 3)), dim=1) for p in (f[:, :, :half], f[:, :, half:])]
        v = torch.nn.functional.normalize(torch.cat(parts, 1), dim=1)
        return v.cpu().numpy().astype(np.float32)

    def __call__(self, frame, xyxy) -> np.ndarray:
        return self.embed_crops(crop_boxes(frame, xyxy, self.size))


class ColorHistogramEmbedder:
    """Upper/lower-half HSV histograms (``bins`` for H, S, V), square-rooted and L2-normalised."""

    def __init__(self, bins: tuple[int, int, int] = (12, 4, 4)):
        self.bins = tuple(int(b) for b in bins)
        self.dim = 2 * int(np.prod(self.bins))

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        import cv2

        out = np.zeros((len(crops), self.dim), np.float32)
        h = crops.shape[1] if len(crops) else 0
        cut = int(round(h * 0.55))
        for i, c in enumerate(crops):
            hsv = cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_RGB2HSV)
            parts = []
            for part in (hsv[int(0.12 * h):cut], hsv[cut:]):
                hist = cv2.calcHist([np.ascontiguousarray(part)], [0, 1, 2], None, list(self.bins),
                                    [0, 180, 0, 256, 0, 256]).ravel()
                parts.append(np.sqrt(hist / max(hist.sum(), 1.0)))
            v = np.concatenate(parts)
            out[i] = v / max(np.linalg.norm(v), 1e-12)
        return out

    def __call__(self, frame, xyxy) -> np.ndarray:
        return self.embed_crops(crop_boxes(frame, xyxy))


def get_embedder(embedder):
    """``"reid"`` (shipped CNN), ``"pretrained"`` (ImageNet MobileNetV2), ``"histogram"``,
    ``"learned"`` (:class:`companion.tracking.reid_learned.LearnedEmbedder`, adapted to the street
    clip), or any callable ``(frame, xyxy) -> (N, D)``."""
    if isinstance(embedder, str):
        if embedder == "learned":
            from companion.tracking.reid_learned import LearnedEmbedder

            return LearnedEmbedder()
        if embedder == "reid":
            return ReIDEmbedder()
        if embedder in ("pretrained", "mobilenet", "imagenet"):
            return PretrainedEmbedder()
        if embedder in ("histogram", "hist", "color", "colour"):
            return ColorHistogramEmbedder()
        raise ValueError("embedder must be 'reid', 'pretrained', 'histogram', 'learned' or a callable "
                         f"(frame, xyxy) -> (N, D), got {embedder!r}")
    if not callable(embedder):
        raise TypeError("embedder must be 'reid', 'pretrained', 'histogram' or a callable, got "
                        f"{type(embedder).__name__}")
    return embedder


# ----------------------------------------------------------------------------------------------
# Training and evaluation helpers
# ----------------------------------------------------------------------------------------------


def street_crops(scene, *, min_visibility: float = 0.5, stride: int = 1, jitter: float = 0.0,
                 rng: np.random.Generator | None = None, size=CROP_SIZE):
    """Crops of every ground-truth person in a :class:`~companion.synthetic.street.StreetScene`
    with visibility >= ``min_visibility``, every ``stride`` frames. Returns
    ``(crops (N, h, w, 3) uint8, ids (N,), frames (N,))``. ``jitter`` shifts/scales each box by up
    to that fraction of its size (detector noise)."""
    rng = np.random.default_rng(0) if rng is None else rng
    crops, ids, frames = [], [], []
    gt = scene.gt
    sel = (gt[:, 8] >= min_visibility) & ((gt[:, 0] - 1) % stride == 0)
    rows = gt[sel]
    for t in np.unique(rows[:, 0]).astype(int):
        r = rows[rows[:, 0] == t]
        b = np.column_stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]])
        if jitter > 0:
            w, h = r[:, 4:5], r[:, 5:6]
            b = b + rng.uniform(-jitter, jitter, size=b.shape) * np.hstack([w, h, w, h])
        crops.append(crop_boxes(scene.frames[t - 1], b, size))
        ids.append(r[:, 1].astype(int))
        frames.append(np.full(len(r), t - 1))
    if not crops:
        return np.zeros((0, size[0], size[1], 3), np.uint8), np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(crops), np.concatenate(ids), np.concatenate(frames)


def batch_hard_triplet_loss(emb, labels, margin: float = 0.3):
    """Batch-hard triplet loss (Hermans et al. 2017): for each anchor, the farthest positive and
    the closest negative in the batch; ``mean(relu(d_pos - d_neg + margin))`` on Euclidean
    distances of the (unit) embeddings."""
    import torch

    d = torch.cdist(emb, emb)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    pos = (same & ~eye)
    d_pos = torch.where(pos, d, torch.zeros_like(d)).amax(1)
    d_neg = torch.where(~same, d, torch.full_like(d, float("inf"))).amin(1)
    valid = pos.any(1) & (~same).any(1)
    if not valid.any():
        return emb.sum() * 0.0
    return torch.relu(d_pos - d_neg + margin)[valid].mean()


def rank1(emb_query: np.ndarray, id_query: np.ndarray, emb_gallery: np.ndarray, id_gallery: np.ndarray) -> float:
    """Share of queries whose nearest gallery embedding (cosine) has the same identity."""
    if len(emb_query) == 0 or len(emb_gallery) == 0:
        raise ValueError("rank1 needs at least one query and one gallery embedding")
    sim = emb_query @ emb_gallery.T
    return float(np.mean(id_gallery[np.argmax(sim, 1)] == id_query))


def separation(emb: np.ndarray, people) -> tuple[float, float]:
    """How well unit embeddings tell labelled crops apart: ``(rank1, auc)``.

    rank-1: over crops whose person appears at least twice, the share whose most similar *other*
    crop is the same person. AUC: the chance that a same-person pair is more similar than a
    different-people pair (ties count as misses)."""
    E, people = np.asarray(emb, np.float64), np.asarray(people)
    if len(E) != len(people) or len(E) < 2:
        raise ValueError(f"separation needs >= 2 embeddings and one label each, got {len(E)} / {len(people)}")
    S = E @ E.T
    np.fill_diagonal(S, -np.inf)
    again = np.array([(people == p).sum() > 1 for p in people])
    if not again.any():
        raise ValueError("separation needs a person with at least two crops")
    r1 = float(np.mean(people[np.argmax(S, 1)][again] == people[again]))
    iu = np.triu_indices(len(E), 1)
    same = (people[:, None] == people[None, :])[iu]
    s = S[iu]
    auc = float(np.mean(s[same][:, None] > s[~same][None, :])) if (~same).any() else float("nan")
    return r1, auc


def split_query_gallery(ids: np.ndarray, frames: np.ndarray):
    """Per identity, the earlier half of its crops are queries and the later half the gallery
    (so a query's nearest neighbour is never the same person one frame later)."""
    q, g = np.zeros(len(ids), bool), np.zeros(len(ids), bool)
    for i in np.unique(ids):
        idx = np.flatnonzero(ids == i)
        if len(idx) < 4:
            continue
        order = idx[np.argsort(frames[idx])]
        half = len(order) // 2
        q[order[:half // 2 + 1]] = True  # the first quarter...
        g[order[half + half // 2:]] = True  # ...against the last quarter
    return q, g
