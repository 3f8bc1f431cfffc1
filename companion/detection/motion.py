"""Detect where things move: spend the detector's compute on the parts of the frame that changed.

On a static camera most of a street scene is the same from one frame to the next, and where
the pixels have not changed the detector's answer would not change either.
:class:`MotionGatedDetector` keeps a *reference* picture (what the detector last saw, per pixel)
and, between full-frame runs every ``every`` frames, runs the detector only on crops around the
regions that differ from it:

1. grey, 4x smaller frame; changed = ``|frame - reference| > threshold``, dilated a little;
2. connected regions of change -> rectangles grown by ``margin`` pixels (a person whose legs
   moved is inside, whole), merged where they overlap;
3. the detector runs on each crop at the whole-frame scale (the SSD's anchors are in pixels, so
   a crop is just a smaller input); boxes found there replace the old boxes centred there (and
   any old box a fresh one overlaps); old boxes elsewhere are kept; the reference takes the
   crops' pixels.

If more than ``max_changed`` of the picture changed (a moving or shaking camera, a light
switched on) the whole frame is detected, so the gate never makes a moving camera worse; it
only stops helping.

The crops of one frame are independent, so with ``workers=2`` (the default) they run side by
side in two threads: on a 2-core machine a frame where several people move costs about the
largest crop, not the sum (the answer is the same as one by one, in the same order). A whole
frame is one big input instead, so its passes run on ``full_threads=2`` PyTorch threads (the
setting is put back afterwards): on the street clip 120-123 against 197-235 ms a pass on 2
cores, boxes within 1.2e-4 px of the one-thread pass (the sums are split differently), and the
lab's counts and by-eye scores unchanged (``benchmarks/bench_lab_ssd.py``).
"""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv
import torch
import torchvision

from companion.detection.detector import SSDPersonDetector, _check_frame
from companion.tracking.boxes import box_iou


class MotionGatedDetector:
    """A :class:`~companion.detection.detector.SSDPersonDetector` run where the frame changed.

    ``stats`` counts full-frame runs, crop runs and the share of pixels the detector looked at.
    """

    def __init__(self, detector: SSDPersonDetector, *, every: int = 10, threshold: int = 18,
                 margin: int = 48, max_changed: float = 0.4, down: int = 4, workers: int = 2,
                 full_threads: int | None = 2):
        if int(every) < 1:
            raise ValueError(f"every must be >= 1 frame, got {every}")
        if not 0.0 < float(max_changed) <= 1.0:
            raise ValueError(f"max_changed must be in (0, 1], got {max_changed}")
        self.detector = detector
        self.name = f"{detector.name}-motion"
        self.every, self.threshold, self.margin = int(every), int(threshold), int(margin)
        self.max_changed, self.down = float(max_changed), int(down)
        if int(workers) < 1:
            raise ValueError(f"workers must be >= 1 thread, got {workers}")
        self.workers = int(workers)
        if full_threads is not None and int(full_threads) < 1:
            raise ValueError(f"full_threads must be >= 1 thread or None, got {full_threads}")
        self.full_threads = None if full_threads is None else int(full_threads)
        self._pool = None
        self.reset()

    def _detect_crops(self, frame: np.ndarray, rects) -> list[sv.Detections]:
        """The detector on each crop; with ``workers > 1`` crops run side by side in threads
        (the network releases Python's lock), the results in the order of ``rects``."""
        if self.workers == 1 or len(rects) < 2:
            return [self.detector.detect_crop(frame, r) for r in rects]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ssd-crop")
        return list(self._pool.map(lambda r: self.detector.detect_crop(frame, r), rects))

    def reset(self) -> None:
        self._ref: np.ndarray | None = None
        self._boxes = np.zeros((0, 4), np.float32)
        self._scores = np.zeros(0, np.float32)
        self._i = 0
        self.stats = {"frames": 0, "full": 0, "crops": 0, "pixels": 0.0}

    def _small(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        return cv2.resize(g, (max(1, w // self.down), max(1, h // self.down)),
                          interpolation=cv2.INTER_AREA).astype(np.int16)

    def _full(self, frame: np.ndarray, small: np.ndarray) -> sv.Detections:
        before = torch.get_num_threads()
        if self.full_threads:
            torch.set_num_threads(self.full_threads)
        try:
            det = self.detector(frame)
        finally:
            torch.set_num_threads(before)
        self._ref = small
        self._boxes, self._scores = det.xyxy, det.confidence
        self.stats["full"] += 1
        self.stats["pixels"] += 1.0
        return det

    def changed_regions(self, small: np.ndarray, H: int, W: int) -> list[tuple[int, int, int, int]] | None:
        """Rectangles (x1, y1, x2, y2, frame pixels) to look at again; None = the whole frame."""
        mask = (np.abs(small - self._ref) > self.threshold).astype(np.uint8)
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        if mask.mean() > self.max_changed:
            return None
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        d, m = self.down, self.margin
        rects = [[x * d - m, y * d - m, (x + w) * d + m, (y + h) * d + m]
                 for x, y, w, h, area in stats[1:] if area >= 2]
        merged = True
        while merged and len(rects) > 1:  # merge overlapping rectangles until none overlap
            merged = False
            for i in range(len(rects)):
                for j in range(i + 1, len(rects)):
                    a, b = rects[i], rects[j]
                    if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                        rects[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                        rects.pop(j)
                        merged = True
                        break
                if merged:
                    break
        return [(max(0, x1), max(0, y1), min(W, x2), min(H, y2)) for x1, y1, x2, y2 in rects]

    def __call__(self, frame: np.ndarray) -> sv.Detections:
        frame = _check_frame(frame)
        H, W = frame.shape[:2]
        small = self._small(frame)
        self.stats["frames"] += 1
        i, self._i = self._i, self._i + 1
        if self._ref is None or self._ref.shape != small.shape or i % self.every == 0:
            return self._full(frame, small)
        rects = self.changed_regions(small, H, W)
        if rects is None:
            return self._full(frame, small)
        keep = np.ones(len(self._boxes), bool)
        new_boxes, new_scores = [], []
        d = self.down
        for (x1, y1, x2, y2), det in zip(rects, self._detect_crops(frame, rects)):
            self.stats["crops"] += 1
            self.stats["pixels"] += (x2 - x1) * (y2 - y1) / (H * W)
            new_boxes.append(det.xyxy)
            new_scores.append(det.confidence)
            if len(self._boxes):  # old boxes whose centre lies in the crop are replaced
                cx = (self._boxes[:, 0] + self._boxes[:, 2]) / 2
                cy = (self._boxes[:, 1] + self._boxes[:, 3]) / 2
                keep &= ~((cx >= x1) & (cx < x2) & (cy >= y1) & (cy < y2))
            self._ref[y1 // d:-(-y2 // d), x1 // d:-(-x2 // d)] = small[y1 // d:-(-y2 // d), x1 // d:-(-x2 // d)]
        old_b, old_s = self._boxes[keep], self._scores[keep]
        new_b = np.concatenate([np.zeros((0, 4), np.float32), *new_boxes]).reshape(-1, 4)
        new_s = np.concatenate([np.zeros(0, np.float32), *new_scores])
        if len(new_b) > 1 and len(rects) > 1:  # a person where two crops meet may be found twice
            order = torchvision.ops.nms(torch.from_numpy(new_b), torch.from_numpy(new_s),
                                        self.detector.nms_iou).numpy()
            new_b, new_s = new_b[order], new_s[order]
        if len(old_b) and len(new_b):  # an old box that a fresh one overlaps is replaced by it
            stale = box_iou(old_b, new_b).max(axis=1) > self.detector.nms_iou
            old_b, old_s = old_b[~stale], old_s[~stale]
        boxes = np.concatenate([old_b, new_b]).astype(np.float32)
        scores = np.concatenate([old_s, new_s]).astype(np.float32)
        order = np.argsort(-scores, kind="stable")
        boxes, scores = boxes[order], scores[order]
        self._boxes, self._scores = boxes, scores
        return sv.Detections(xyxy=boxes, confidence=scores, class_id=np.zeros(len(scores), int))
