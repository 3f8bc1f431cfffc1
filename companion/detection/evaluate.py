"""Recall and precision of a detector against boxes drawn by hand.

A detection *matches* a hand-drawn box when their IoU is at least ``iou`` (0.4 by default: the
hand-drawn boxes are approximate); each box matches at most one detection (optimal one-to-one
assignment). Recall = matched / boxes drawn; precision = matched / detections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from companion.tracking.boxes import box_iou


@dataclass
class DetectionScore:
    truth: int
    detections: int
    matched: int

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else float("nan")

    @property
    def precision(self) -> float:
        return self.matched / self.detections if self.detections else float("nan")

    def __add__(self, other: "DetectionScore") -> "DetectionScore":
        return DetectionScore(self.truth + other.truth, self.detections + other.detections,
                              self.matched + other.matched)


def match_count(detected: np.ndarray, truth: np.ndarray, iou: float = 0.4) -> DetectionScore:
    """Score one frame: ``detected`` (K, 4) and ``truth`` (M, 4) xyxy boxes."""
    detected = np.asarray(detected, float).reshape(-1, 4)
    truth = np.asarray(truth, float).reshape(-1, 4)
    if len(detected) == 0 or len(truth) == 0:
        return DetectionScore(len(truth), len(detected), 0)
    overlap = box_iou(truth, detected)
    r, c = linear_sum_assignment(-overlap)
    return DetectionScore(len(truth), len(detected), int((overlap[r, c] >= iou).sum()))


def score_frames(detections: dict, truth: dict, iou: float = 0.4) -> DetectionScore:
    """Sum of :func:`match_count` over frames: ``{frame: boxes}`` for both (every truth frame)."""
    total = DetectionScore(0, 0, 0)
    for f, boxes in truth.items():
        total = total + match_count(detections.get(f, np.zeros((0, 4))), boxes, iou)
    return total
