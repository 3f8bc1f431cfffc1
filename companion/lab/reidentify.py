"""Long-term re-identification: a person who leaves and comes back keeps their id.

The tracker (26.5) keeps a lost track for a couple of seconds and the stitcher
(:mod:`companion.lab.stitch`) bridges breaks of up to a second by motion. Someone who walks out
of the picture, or stands hidden behind others for longer, comes back as a *new* track — and
"distinct people" counts them twice. Motion cannot help after a long gap; appearance can.

:class:`ReIdentifier` keeps a **gallery** per person: appearance embeddings
(:class:`FusedEmbedder`: ImageNet MobileNetV2 features beside a colour histogram) taken
every few frames while the person is seen *alone* (their box overlaps no other box, so the crop
shows one person). When a new track appears, it collects a few clean embeddings of it (at most
``decide_s`` seconds), then compares them with the galleries of the people who are **not in the
picture now** and were last seen before the new track began (one person cannot be in two
places) and at most ``max_age_s`` ago:

* similarity of two people = the mean, over the new track's embeddings, of the best cosine
  similarity to the gallery;
* the new track takes the best person's id when that similarity is at least ``threshold`` and
  beats the runner-up by ``margin``; otherwise it is a new person.

``threshold`` is chosen on the **first half** of the street clip (its by-eye crossings before
frame 400) and the lab is judged on the whole clip *and* on the second half alone
(``benchmarks/bench_lab_identity.py`` prints both and the choice). Synthetic scenes do not
transfer: :func:`calibrate_threshold` finds 0.88 for no false merge between cartoon people with
the ImageNet features, where real same-person similarities sit around 0.84.
Renaming after the decision is reported through ``merges`` so that the line counter can move
the few frames it saw under the new id onto the old one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Cosine-similarity threshold of the fused embedding, chosen on the first half of the street clip
#: only (``benchmarks/bench_lab_identity.py`` prints the choice; the second half is held out).
DEFAULT_THRESHOLD = 0.84

#: The lab's appearance embedding (see :func:`make_embedder`).
DEFAULT_EMBEDDER = "fused"


class FusedEmbedder:
    """ImageNet MobileNetV2 features and the colour histogram side by side: each part
    L2-normalised, weighted by ``sqrt(w)`` / ``sqrt(1 - w)`` so that the cosine similarity of
    two fused vectors is ``w * cos_pretrained + (1 - w) * cos_histogram``. ``pretrained`` may be
    any embedder with unit rows (``make_embedder("learned+histogram")`` puts the street-adapted
    :class:`~companion.tracking.reid_learned.LearnedEmbedder` there)."""

    def __init__(self, weight: float = 0.3, pretrained=None, histogram=None):
        from companion.tracking.reid import ColorHistogramEmbedder, PretrainedEmbedder

        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight!r}")
        self.weight = float(weight)
        self.pretrained = PretrainedEmbedder() if pretrained is None else pretrained
        self.histogram = ColorHistogramEmbedder() if histogram is None else histogram
        self.dim = self.pretrained.dim + self.histogram.dim

    @property
    def size(self) -> tuple[int, int]:
        return getattr(self.pretrained, "size", (128, 64))

    def embed_crops(self, crops) -> np.ndarray:
        a = self.pretrained.embed_crops(crops) * np.sqrt(self.weight)
        b = self.histogram.embed_crops(crops) * np.sqrt(1.0 - self.weight)
        return np.concatenate([a, b], 1).astype(np.float32)

    def __call__(self, frame, xyxy) -> np.ndarray:
        a = self.pretrained(frame, xyxy) * np.sqrt(self.weight)
        b = self.histogram(frame, xyxy) * np.sqrt(1.0 - self.weight)
        return np.concatenate([a, b], 1).astype(np.float32)


#: the embedder names :func:`make_embedder` accepts
EMBEDDERS = ("fused", "pretrained", "histogram", "learned", "learned+histogram")


def make_embedder(name: str | None = None):
    """``"fused"`` (default), ``"pretrained"`` (ImageNet MobileNetV2), ``"histogram"``,
    ``"learned"`` (mid-level MobileNetV2 stripes + a head trained on the street clip's own
    tracklets, :class:`companion.tracking.reid_learned.LearnedEmbedder`) or
    ``"learned+histogram"`` (that learned embedding in place of the ImageNet features of
    :class:`FusedEmbedder`, same weights 0.3 / 0.7: the offline identity stage's default)."""
    from companion.tracking.reid import ColorHistogramEmbedder, PretrainedEmbedder

    name = DEFAULT_EMBEDDER if name is None else name
    if name in ("learned", "learned+histogram"):
        from companion.tracking.reid_learned import LearnedEmbedder

        return LearnedEmbedder() if name == "learned" else FusedEmbedder(pretrained=LearnedEmbedder())
    if name == "fused":
        return FusedEmbedder()
    if name == "pretrained":
        return PretrainedEmbedder()
    if name == "histogram":
        return ColorHistogramEmbedder()
    raise ValueError(f"embedder must be one of {', '.join(repr(e) for e in EMBEDDERS)}, got {name!r}")


@dataclass
class _Person:
    gallery: list = field(default_factory=list)   # embeddings (unit rows)
    first: int = 0
    last: int = 0
    last_embedded: int = -10**9


@dataclass
class _Pending:
    person: int                    # the provisional id it carries until decided
    first: int
    feats: list = field(default_factory=list)


def clean_boxes(xyxy: np.ndarray, max_overlap: float = 0.05) -> np.ndarray:
    """True for boxes whose area overlaps every other box by less than ``max_overlap`` of itself."""
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    n = len(b)
    ok = np.ones(n, bool)
    if n < 2:
        return ok
    x0 = np.maximum(b[:, None, 0], b[None, :, 0])
    y0 = np.maximum(b[:, None, 1], b[None, :, 1])
    x1 = np.minimum(b[:, None, 2], b[None, :, 2])
    y1 = np.minimum(b[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    np.fill_diagonal(inter, 0)
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-9)
    return (inter / area[:, None]).max(1) < max_overlap


class ReIdentifier:
    """Maps track ids to person ids, frame by frame (see the module docstring).

    ``update(frame_index, frame, ids, xyxy) -> ids``: ``ids`` are the tracker's (stitched) ids,
    -1 = tentative (passed through). Every merge is appended to ``merges`` as
    ``(frame, provisional id, person id, similarity)``; ``decisions`` lists every decision
    ``(frame, provisional id, best person or -1, best similarity, runner-up similarity)``.
    """

    def __init__(self, embedder=None, fps: float = 10.0, *, threshold: float = DEFAULT_THRESHOLD,
                 margin: float = 0.03, max_age_s: float = 120.0, decide_s: float = 1.0,
                 min_feats: int = 3, every: int = 4, gallery_size: int = 30,
                 min_height: float = 24.0):
        if not (fps and fps > 0):
            raise ValueError(f"fps must be > 0, got {fps!r}")
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a cosine similarity in [-1, 1], got {threshold!r}")
        self.embedder = make_embedder() if embedder is None else embedder
        self.fps = float(fps)
        self.threshold, self.margin = float(threshold), float(margin)
        self.max_age = int(round(max_age_s * self.fps))
        self.decide = max(1, int(round(decide_s * self.fps)))
        self.min_feats, self.every = int(min_feats), max(1, int(every))
        self.gallery_size, self.min_height = int(gallery_size), float(min_height)
        self.reset()

    def reset(self) -> None:
        self._map: dict[int, int] = {}          # track id -> person id
        self._people: dict[int, _Person] = {}
        self._pending: dict[int, _Pending] = {}  # track id -> pending decision
        self._next = 0
        self.merges: list[tuple[int, int, int, float]] = []
        self.decisions: list[tuple[int, int, int, float, float]] = []

    @property
    def num_people(self) -> int:
        return len(self._people)

    def update(self, frame_index: int, frame, ids, xyxy) -> np.ndarray:
        f = int(frame_index)
        ids = np.asarray(ids, np.int64).reshape(-1)
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        if len(ids) != len(boxes):
            raise ValueError(f"{len(ids)} ids but {len(boxes)} boxes")
        out = np.full(len(ids), -1, np.int64)
        for r, tid in enumerate(ids.tolist()):
            if tid < 0:
                continue
            if tid not in self._map:  # a new track: a provisional person until decided
                p = self._new_person(f)
                self._map[tid] = p
                self._pending[tid] = _Pending(p, f)
            out[r] = self._map[tid]
        # embeddings of confirmed people seen alone, every few frames
        conf = out >= 0
        clean = clean_boxes(boxes) & conf & ((boxes[:, 3] - boxes[:, 1]) >= self.min_height)
        want = [r for r in np.flatnonzero(clean)
                if int(ids[r]) in self._pending
                or f - self._people[int(out[r])].last_embedded >= self.every]
        if want:
            feats = self.embedder(frame, boxes[want])
            for r, v in zip(want, feats):
                tid, p = int(ids[r]), int(out[r])
                pend = self._pending.get(tid)
                if pend is not None:
                    pend.feats.append(v)
                person = self._people[p]
                person.gallery.append(v)
                del person.gallery[:-self.gallery_size]
                person.last_embedded = f
        for r in np.flatnonzero(conf):
            self._people[int(out[r])].last = f
        # decide the pending tracks that have enough views (or waited long enough)
        for tid, pend in list(self._pending.items()):
            if len(pend.feats) >= self.min_feats or f - pend.first >= self.decide:
                target = self._decide(f, tid, pend)
                del self._pending[tid]
                if target is not None:
                    out[ids == tid] = target
        return out

    def _new_person(self, f: int) -> int:
        p = self._next
        self._next += 1
        self._people[p] = _Person(first=f, last=f)
        return p

    def _decide(self, f: int, tid: int, pend: _Pending) -> int | None:
        if not pend.feats:
            self.decisions.append((f, pend.person, -1, float("nan"), float("nan")))
            return None
        active = {p for t, p in self._map.items() if t != tid and self._people[p].last == f}
        q = np.stack(pend.feats)
        scores = []
        for p, person in self._people.items():
            if p == pend.person or p in active or not person.gallery:
                continue
            if person.last >= pend.first or pend.first - person.last > self.max_age:
                continue  # seen at the same time as the new track, or too long ago
            sim = float((q @ np.stack(person.gallery).T).max(1).mean())
            scores.append((sim, p))
        scores.sort(reverse=True)
        best, second = (scores[0] if scores else (float("nan"), -1)), (scores[1][0] if len(scores) > 1 else -1.0)
        self.decisions.append((f, pend.person, best[1], best[0], second))
        if not scores or best[0] < self.threshold or best[0] - second < self.margin:
            return None
        target = best[1]
        mine = self._people.pop(pend.person)
        person = self._people[target]
        person.gallery.extend(mine.gallery)
        del person.gallery[:-self.gallery_size]
        person.last = max(person.last, mine.last)
        self._map[tid] = target
        self.merges.append((f, pend.person, target, best[0]))
        return target


def calibrate_threshold(embedder=None, seeds=(100, 101, 102, 103), *, num_frames: int = 200,
                        num_people: int = 14) -> dict:
    """Similarities of re-appearing vs different people on synthetic street scenes.

    For every scene, each person's crops (visibility >= 0.8) are split into the first and the
    second half of their walk; the "gallery" similarity of a query half to a gallery half is
    computed as in :meth:`ReIdentifier._decide` (mean over 3 query crops of the best match).
    Returns the same-person and different-person similarities and the lowest threshold (on a
    0.01 grid) at which no different-person pair would be merged.
    """
    from companion.synthetic.street import make_street_scene
    from companion.tracking.reid import PretrainedEmbedder, street_crops

    emb = PretrainedEmbedder() if embedder is None else embedder
    same, diff = [], []
    for seed in seeds:
        scene = make_street_scene(int(seed), num_frames=num_frames, num_people=num_people)
        crops, ids, frames = street_crops(scene, min_visibility=0.8, stride=2,
                                          size=getattr(emb, "size", (128, 64)))
        E = emb.embed_crops(crops)
        halves = {}
        for i in np.unique(ids):
            idx = np.flatnonzero(ids == i)
            if len(idx) < 8:
                continue
            idx = idx[np.argsort(frames[idx])]
            h = len(idx) // 2
            halves[int(i)] = (E[idx[:3]], E[idx[h:]])
        for a, (qa, _) in halves.items():
            for b, (_, gb) in halves.items():
                s = float((qa @ gb.T).max(1).mean())
                (same if a == b else diff).append(s)
    same, diff = np.asarray(same), np.asarray(diff)
    thr = float(np.ceil((diff.max() + 1e-9) * 100) / 100) if len(diff) else 0.5
    return {"same": same, "different": diff, "threshold": thr,
            "same_above": float(np.mean(same >= thr)) if len(same) else float("nan")}
