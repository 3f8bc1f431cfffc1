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

Where to look is decided from the frames alone (step 1-2 never read a box), so the network
passes need not run in frame order. Called frame by frame, the crops of one frame run side by
side in ``workers=2`` threads and a whole frame on ``full_threads=2`` PyTorch threads (the setting
is put back afterwards). :meth:`MotionGatedDetector.stream`, which the lab uses, goes further:
every pass of the next few frames is a job for the two worker threads, and the boxes are merged
frame by frame in order, so a frame where one small crop changed no longer leaves a core idle.
Same boxes as one by one; on the street clip (795 frames, 2 cores, with
:func:`companion.config.keep_freed_memory`, the network on PyTorch) 48.8 s against 71.0 s frame
by frame; with the network on ONNX Runtime (the default) the lab's whole detection stage takes
16.2 s (``benchmarks/bench_lab_ssd.py``).
"""

from __future__ import annotations

from typing import Iterable, Iterator

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

    # --- one frame: plan (which pixels to look at), run the network, merge the boxes ----------
    def _plan(self, frame: np.ndarray) -> list[tuple[int, int, int, int]] | None:
        """Decide what the detector looks at in ``frame`` (None: the whole frame; else the
        rectangles that changed) and move the reference picture on. No network runs here, and
        what is decided depends only on the frames, never on boxes: so the network passes of
        several frames can run at once (:meth:`stream`) and still give the one-by-one answer.
        ``frame`` has been checked by the caller."""
        H, W = frame.shape[:2]
        small = self._small(frame)
        self.stats["frames"] += 1
        i, self._i = self._i, self._i + 1
        rects = None
        if not (self._ref is None or self._ref.shape != small.shape or i % self.every == 0):
            rects = self.changed_regions(small, H, W)
        if rects is None:
            self._ref = small
            self.stats["full"] += 1
            self.stats["pixels"] += 1.0
            return None
        d = self.down
        for x1, y1, x2, y2 in rects:
            self.stats["crops"] += 1
            self.stats["pixels"] += (x2 - x1) * (y2 - y1) / (H * W)
            self._ref[y1 // d:-(-y2 // d), x1 // d:-(-x2 // d)] = small[y1 // d:-(-y2 // d), x1 // d:-(-x2 // d)]
        return rects

    def _full_pass(self, frame: np.ndarray) -> sv.Detections:
        """The whole frame, on ``full_threads`` PyTorch threads (the setting is put back)."""
        before = torch.get_num_threads()
        if self.full_threads:
            torch.set_num_threads(self.full_threads)
        try:
            return self.detector(frame)
        finally:
            torch.set_num_threads(before)

    def _merge(self, rects, dets: list[sv.Detections]) -> sv.Detections:
        """The frame's boxes: a whole-frame answer as it is; else fresh boxes from the crops
        replace the old boxes centred in them (or overlapping them), old boxes elsewhere stay."""
        if rects is None:
            det = dets[0]
            self._boxes, self._scores = det.xyxy, det.confidence
            return det
        keep = np.ones(len(self._boxes), bool)
        if len(self._boxes):  # old boxes whose centre lies in a crop are replaced
            cx = (self._boxes[:, 0] + self._boxes[:, 2]) / 2
            cy = (self._boxes[:, 1] + self._boxes[:, 3]) / 2
            for x1, y1, x2, y2 in rects:
                keep &= ~((cx >= x1) & (cx < x2) & (cy >= y1) & (cy < y2))
        old_b, old_s = self._boxes[keep], self._scores[keep]
        new_b = np.concatenate([np.zeros((0, 4), np.float32), *(d.xyxy for d in dets)]).reshape(-1, 4)
        new_s = np.concatenate([np.zeros(0, np.float32), *(d.confidence for d in dets)])
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

    def __call__(self, frame: np.ndarray) -> sv.Detections:
        frame = _check_frame(frame)
        rects = self._plan(frame)
        if rects is None:
            return self._merge(None, [self._full_pass(frame)])
        return self._merge(rects, self._detect_crops(frame, rects) if rects else [])

    # --- many frames: the network passes of the next frames run while this one is merged ------
    def stream(self, frames: Iterable[np.ndarray], ahead: int = 4) -> Iterator[tuple[np.ndarray, sv.Detections]]:
        """``(frame, detections)`` for each frame, in order: the same answer as calling the
        gate frame by frame, but faster on several cores.

        One by one, a frame whose one small crop changed keeps one core busy and leaves the
        other idle. Here every network pass (a crop, or a whole frame) is a job for a pool of
        ``workers`` threads, and the jobs of up to ``ahead`` frames are queued before the
        oldest frame's boxes are merged: the cores stay busy whatever each frame needs. What
        to look at is decided frame by frame first (:meth:`_plan` needs no boxes) and the
        boxes are merged frame by frame in order, so nothing depends on which job finished
        first. Whole frames run on the PyTorch threads set for the process (one in the lab),
        not ``full_threads``: two jobs already run side by side.

        Closing the iterator early (``break``, an error) cancels the queued jobs and waits for
        the running ones.
        """
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        if int(ahead) < 1:
            raise ValueError(f"ahead must be >= 1 frame, got {ahead}")
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ssd-job")
        pending: deque = deque()
        try:
            for frame in frames:
                frame = _check_frame(frame)
                rects = self._plan(frame)
                jobs = ([pool.submit(self.detector, frame)] if rects is None else
                        [pool.submit(self.detector.detect_crop, frame, r) for r in rects])
                pending.append((frame, rects, jobs))
                if len(pending) > int(ahead):
                    f, r, js = pending.popleft()
                    yield f, self._merge(r, [j.result() for j in js])
            while pending:
                f, r, js = pending.popleft()
                yield f, self._merge(r, [j.result() for j in js])
        finally:
            for _, _, js in pending:
                for j in js:
                    j.cancel()
            pool.shutdown(wait=True)
