"""Pictures of tracking: boxes with ids on frames, ground-truth timelines with ID switches, cost matrices."""

from __future__ import annotations

import numpy as np

__all__ = ["id_colour", "draw_boxes", "draw_tracks_on_clip", "match_timeline", "plot_timeline",
           "plot_cost_matrix"]


def id_colour(i: int) -> tuple[int, int, int]:
    """A stable, well-spread RGB colour per track id (grey for -1)."""
    if i < 0:
        return (160, 160, 160)
    import colorsys

    h = (i * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_boxes(frame, xyxy, ids=None, *, thickness: int = 1, labels: bool = True, colour=None) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3 RGB uint8) with the xyxy boxes drawn, coloured and labelled by id."""
    import cv2

    out = np.ascontiguousarray(np.array(frame, dtype=np.uint8, copy=True))
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    ids = np.full(len(b), -1) if ids is None else np.asarray(ids).reshape(-1)
    for (x0, y0, x1, y1), i in zip(b, ids):
        if not np.isfinite([x0, y0, x1, y1]).all():
            continue
        c = colour if colour is not None else id_colour(int(i))
        cv2.rectangle(out, (int(round(x0)), int(round(y0))), (int(round(x1)), int(round(y1))), c, thickness)
        if labels and i >= 0:
            cv2.putText(out, str(int(i)), (int(x0), max(8, int(y0) - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, c, 1,
                        cv2.LINE_AA)
    return out


def draw_tracks_on_clip(frames, rows, *, trail: int = 15, every: int = 1) -> list[np.ndarray]:
    """Frames with the tracked boxes of MOT ``rows`` (frame 1-based) and a short trail of foot points."""
    import cv2

    rows = np.asarray(rows, dtype=np.float64).reshape(-1, max(6, np.shape(rows)[-1] if np.size(rows) else 6))
    out = []
    feet = {}
    for t in range(0, len(frames)):
        r = rows[rows[:, 0] == t + 1]
        for x, y, w, h, i in zip(r[:, 2], r[:, 3], r[:, 4], r[:, 5], r[:, 1]):
            feet.setdefault(int(i), []).append((t, x + w / 2, y + h))
        if t % every:
            continue
        img = draw_boxes(frames[t], np.column_stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]]),
                         r[:, 1].astype(int))
        for i, pts in feet.items():
            p = [(int(x), int(y)) for (tt, x, y) in pts if t - trail <= tt <= t]
            if len(p) > 1:
                cv2.polylines(img, [np.array(p, np.int32)], False, id_colour(i), 1, cv2.LINE_AA)
        out.append(img)
    return out


def match_timeline(gt, hyp, iou_threshold: float = 0.5):
    """For each ground-truth id, the hypothesis id matched in every frame (NaN when missed), with
    the same CLEAR matching ``mot_metrics`` uses. Returns ``(frames, {gt_id: array})``."""
    from scipy.optimize import linear_sum_assignment

    from companion.tracking.metrics import _iou_xywh, _rows

    g = _rows(gt, "gt", is_gt=True)
    h = _rows(hyp, "hyp", is_gt=False)
    frames = np.arange(1, int(max(g[:, 0].max(initial=0), h[:, 0].max(initial=0))) + 1)
    gids = np.unique(g[:, 1]).astype(int)
    out = {i: np.full(len(frames), np.nan) for i in gids}
    prev = {}
    for k, f in enumerate(frames):
        gr, hr = g[g[:, 0] == f], h[h[:, 0] == f]
        if len(gr) == 0 or len(hr) == 0:
            continue
        sim = _iou_xywh(gr[:, 2:6], hr[:, 2:6])
        keep_bonus = np.array([[prev.get(int(a)) == int(b) for b in hr[:, 1]] for a in gr[:, 1]], float)
        score = keep_bonus * 1000 + sim
        score[sim < iou_threshold] = 0
        r, c = linear_sum_assignment(-score)
        ok = score[r, c] > 0
        prev = {}
        for a, b in zip(gr[r[ok], 1].astype(int), hr[c[ok], 1].astype(int)):
            out[a][k] = b
            prev[a] = b
    return frames, out


def plot_timeline(gt, hyp, *, ax=None, title: str | None = None, iou_threshold: float = 0.5):
    """One row per ground-truth person, coloured by the hypothesis id that covers it; ID switches
    (a different hypothesis than the last one) marked with red crosses."""
    import matplotlib.pyplot as plt

    frames, tl = match_timeline(gt, hyp, iou_threshold)
    g = np.asarray(gt, dtype=np.float64)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.35 * len(tl) + 1))
    n_sw = 0
    for row, (gid, hid) in enumerate(sorted(tl.items())):
        present = np.isin(frames, g[g[:, 1] == gid, 0])
        ax.plot(frames[present], np.full(present.sum(), row), "|", color="0.85", ms=8)
        last = None
        for f, h in zip(frames, hid):
            if np.isnan(h):
                continue
            c = np.array(id_colour(int(h))) / 255
            ax.plot(f, row, "s", color=c, ms=4)
            if last is not None and h != last:
                ax.plot(f, row, "x", color="red", ms=9, mew=2)
                n_sw += 1
            last = h
    ax.set_yticks(range(len(tl)))
    ax.set_yticklabels([f"gt {i}" for i in sorted(tl)], fontsize=7)
    ax.set_xlabel("frame")
    ax.set_title((title + " — " if title else "") + f"{n_sw} ID switches (red x); grey = present but missed",
                 fontsize=9)
    return ax


def plot_cost_matrix(cost, matches=None, *, ax=None, title: str | None = None, fmt: str = "{:.2f}"):
    """Heat map of a tracks x detections cost matrix with the chosen pairs outlined."""
    import matplotlib.pyplot as plt

    c = np.asarray(cost, dtype=np.float64)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * c.shape[1] + 1.5, 0.5 * c.shape[0] + 1))
    shown = np.where(np.isfinite(c), c, np.nan)
    ax.imshow(shown, cmap="viridis_r")
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            ax.text(j, i, "inf" if not np.isfinite(c[i, j]) else fmt.format(c[i, j]), ha="center", va="center",
                    fontsize=7, color="w" if np.isfinite(c[i, j]) and c[i, j] < np.nanmean(shown) else "k")
    if matches is not None:
        for i, j in np.asarray(matches).reshape(-1, 2):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
    ax.set_xlabel("detection")
    ax.set_ylabel("track")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
