"""Optimal one-to-one assignment of tracks to detections, with gating.

``linear_assignment(cost, max_cost)`` solves the rectangular assignment problem with
``scipy.optimize.linear_sum_assignment`` (a Jonker–Volgenant / Hungarian-type solver) and then
drops every pair whose cost exceeds ``max_cost``. Forbidden pairs may be marked with ``inf``
(gating): they are replaced by a finite "never" value before solving — scipy refuses a matrix in
which a row has no finite entry — and any pair that still lands on one is discarded. Because the
"never" value is larger than the sum of all allowed costs, the solver first maximises the number
of allowed pairs and only then minimises their total cost.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["linear_assignment", "gate_cost_matrix", "fuse_score", "INFTY_COST"]

#: The cost DeepSORT writes into gated-out cells.
INFTY_COST = 1e5


def linear_assignment(cost, max_cost: float = np.inf):
    """Minimum-cost matching of rows (tracks) to columns (detections).

    Returns ``(matches, unmatched_rows, unmatched_cols)``: ``matches`` an (K, 2) int array of
    (row, col) pairs with ``cost[row, col] <= max_cost``; the other two sorted int arrays.
    ``cost`` may contain ``+inf`` for forbidden pairs; NaN is rejected.
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"cost must be a 2-D (tracks x detections) matrix, got shape {c.shape}")
    n, m = c.shape
    if n == 0 or m == 0:
        return np.empty((0, 2), dtype=np.intp), np.arange(n), np.arange(m)
    if np.isnan(c).any():
        raise ValueError("cost contains NaN; use +inf for forbidden (gated) pairs")
    allowed = np.isfinite(c) & (c <= max_cost)
    if not allowed.any():
        return np.empty((0, 2), dtype=np.intp), np.arange(n), np.arange(m)
    work = c
    if not allowed.all():
        finite = c[allowed]
        big = (np.abs(finite).sum() + 1.0) * 2.0 + 1.0
        work = np.where(allowed, c, big)
    rows, cols = linear_sum_assignment(work)
    keep = allowed[rows, cols]
    rows, cols = rows[keep], cols[keep]
    un_r = np.ones(n, bool)
    un_r[rows] = False
    un_c = np.ones(m, bool)
    un_c[cols] = False
    return np.stack([rows, cols], axis=1).astype(np.intp), np.nonzero(un_r)[0], np.nonzero(un_c)[0]


def gate_cost_matrix(cost, gating_distance, threshold: float, gated_cost: float = np.inf):
    """Copy of ``cost`` with ``gated_cost`` where ``gating_distance > threshold``."""
    cost = np.array(cost, dtype=np.float64)
    g = np.asarray(gating_distance)
    if g.shape != cost.shape:
        raise ValueError(f"gating_distance shape {g.shape} does not match cost shape {cost.shape}")
    cost[g > threshold] = gated_cost
    return cost


def fuse_score(iou_cost, scores):
    """ByteTrack's score fusion: cost = 1 - IoU * detection score."""
    iou_cost = np.asarray(iou_cost, dtype=np.float64)
    if iou_cost.size == 0:
        return iou_cost
    return 1.0 - (1.0 - iou_cost) * np.asarray(scores, dtype=np.float64)[None, :]
