"""Multi-object tracking metrics on MOT-challenge rows: CLEAR (MOTA, MOTP), identity (IDF1) and HOTA.

``mot_metrics(gt, hyp)`` takes two arrays of rows ``(frame, id, x, y, w, h, ...)`` — or paths to
MOT text files — and returns a dict. The definitions follow TrackEval (Luiten et al.), which
``trackers.eval`` mirrors and ``motmetrics`` agrees with on the CLEAR and identity numbers:

* per frame, ground truth and hypotheses are compared by IoU of their ``xywh`` boxes;
* **CLEAR**: a hypothesis matched to the same ground-truth id last time it was matched keeps
  priority (score +1000); the rest is an optimal assignment on IoU among pairs with
  IoU >= ``iou_threshold``. An **ID switch** is a ground-truth object matched to a different
  hypothesis id than the last time it was matched.
  ``MOTA = 1 - (FN + FP + IDSW) / num_gt``, ``MOTP`` = mean IoU of the matches (motmetrics
  prints ``1 - MOTP``, a distance);
* **IDF1**: one global one-to-one mapping of ground-truth ids to hypothesis ids maximising the
  number of frames in which the pair matches (IoU >= threshold);
  ``IDF1 = 2 IDTP / (num_gt + num_hyp)``;
* **HOTA** (Luiten et al., IJCV 2021): for each alpha in 0.05, 0.10, ..., 0.95, matches with
  IoU >= alpha chosen to maximise ``IoU x global alignment score``;
  ``DetA = TP / (TP + FN + FP)``, ``AssA`` = mean over matches of ``TPA / (TPA + FNA + FPA)``,
  ``HOTA_alpha = sqrt(DetA x AssA)``; the reported values are means over alpha.

Ground-truth rows whose column 7 (confidence / "consider" flag) is 0 are ignored, as in
MOT17's ``gt.txt``; hypothesis rows with a negative id (tentative tracks) are ignored. Distractor
classes are not treated specially (every remaining ground-truth row counts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["mot_metrics", "load_mot", "detections_to_mot_rows", "count_id_switches", "HOTA_ALPHAS"]

HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo(float).eps


def load_mot(path) -> np.ndarray:
    """A MOT text file (comma or whitespace separated) as a float (N, >=6) array."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"MOT file not found: {path}")
    text = path.read_text().strip()
    if not text:
        return np.zeros((0, 6))
    delim = "," if "," in text.splitlines()[0] else None
    return np.loadtxt(path, delimiter=delim, ndmin=2)


def _rows(a, name: str, *, is_gt: bool) -> np.ndarray:
    if isinstance(a, (str, Path)):
        a = load_mot(a)
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return np.zeros((0, 6))
    if a.ndim != 2 or a.shape[1] < 6:
        raise ValueError(f"{name} must be MOT rows (frame, id, x, y, w, h, ...) with >= 6 columns, got shape {a.shape}")
    core = a[:, :6]
    if not np.isfinite(core).all():
        i = int(np.argmin(np.isfinite(core).all(1)))
        raise ValueError(f"{name} row {i} has NaN/inf in frame, id or box: {a[i, :6].tolist()}")
    if (a[:, 0] != np.round(a[:, 0])).any() or (a[:, 1] != np.round(a[:, 1])).any():
        raise ValueError(f"{name}: frame and id columns must be integers")
    if (a[:, 4] < 0).any() or (a[:, 5] < 0).any():
        raise ValueError(f"{name}: box width and height (columns 5, 6) must be >= 0")
    if is_gt:
        if a.shape[1] > 6:
            a = a[a[:, 6] != 0]
    else:
        a = a[a[:, 1] >= 0]
    key = a[:, 0] * (a[:, 1].max(initial=0) + 1) + a[:, 1]
    if len(np.unique(key)) != len(key):
        raise ValueError(f"{name} has the same id twice in one frame")
    return a[:, :6]


def _iou_xywh(a, b):
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax1, ay1, ax2, ay2 = a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(ax1[:, None], bx1[None]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(ay1[:, None], by1[None]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > _EPS)
    return out


def _prepare(gt, hyp):
    """Per frame: dense gt ids, dense hyp ids, IoU matrix."""
    frames = np.union1d(gt[:, 0], hyp[:, 0]).astype(int)
    g_ids, g_inv = np.unique(gt[:, 1], return_inverse=True)
    h_ids, h_inv = np.unique(hyp[:, 1], return_inverse=True)
    g_order, h_order = np.argsort(gt[:, 0], kind="stable"), np.argsort(hyp[:, 0], kind="stable")
    g_starts = np.searchsorted(gt[g_order, 0], frames)
    g_ends = np.searchsorted(gt[g_order, 0], frames, side="right")
    h_starts = np.searchsorted(hyp[h_order, 0], frames)
    h_ends = np.searchsorted(hyp[h_order, 0], frames, side="right")
    seq = []
    for k in range(len(frames)):
        gi = g_order[g_starts[k]:g_ends[k]]
        hi = h_order[h_starts[k]:h_ends[k]]
        seq.append((g_inv[gi], h_inv[hi], _iou_xywh(gt[gi, 2:6], hyp[hi, 2:6])))
    return seq, len(g_ids), len(h_ids)


def count_id_switches(matches_per_frame) -> int:
    """CLEAR-MOT identity switches from the matches of every frame, in order.

    ``matches_per_frame``: one entry per frame, a (K, 2) array (or list) of matched
    ``(ground-truth id, hypothesis id)`` pairs. A switch is a ground-truth object matched to a
    different hypothesis id than the *last time it was matched* — frames in which it was not
    matched in between do not reset that memory, and its first match is never a switch.
    """
    last = {}  # ground-truth id -> hypothesis id of its most recent match
    switches = 0
    for pairs in matches_per_frame:
        for g, h in np.asarray(pairs).reshape(-1, 2).tolist():
            if g in last and last[g] != h:
                switches += 1
            last[g] = h
    return switches


def _clear(seq, G, T, th):
    tp = fn = fp = 0
    motp_sum = 0.0
    matched = []  # per frame: (gt, hyp) pairs, for the identity switches
    prev_step = np.full(G, np.nan)  # hypothesis it was matched to in the previous step
    gt_count = np.zeros(G)
    matched_count = np.zeros(G)
    frag = np.zeros(G)
    for g, h, sim in seq:
        if len(g) == 0:
            fp += len(h)
            continue
        if len(h) == 0:
            fn += len(g)
            gt_count[g] += 1
            continue
        score = (h[None, :] == prev_step[g][:, None]) * 1000.0 + sim
        score[sim < th - _EPS] = 0
        r, c = linear_sum_assignment(-score)
        ok = score[r, c] > _EPS
        r, c = r[ok], c[ok]
        mg, mh = g[r], h[c]
        matched.append(np.stack([mg, mh], axis=1))
        gt_count[g] += 1
        matched_count[mg] += 1
        was_tracked = ~np.isnan(prev_step)
        prev_step[:] = np.nan
        prev_step[mg] = mh
        frag += (~was_tracked & ~np.isnan(prev_step))
        tp += len(r)
        fn += len(g) - len(r)
        fp += len(h) - len(r)
        motp_sum += float(sim[r, c].sum())
    idsw = count_id_switches(matched)
    ratio = matched_count[gt_count > 0] / gt_count[gt_count > 0]
    n = max(1, tp + fn)
    return {
        "MOTA": (tp - fp - idsw) / n, "MOTP": motp_sum / max(1, tp), "MODA": (tp - fp) / n,
        "TP": int(tp), "FP": int(fp), "FN": int(fn), "IDSW": int(idsw),
        "Frag": int(np.sum(np.maximum(0, frag - 1)[gt_count > 0])),
        "MT": int(np.sum(ratio > 0.8)), "PT": int(np.sum((ratio >= 0.2) & (ratio <= 0.8))),
        "ML": int(np.sum(ratio < 0.2)),
        "Recall": tp / n, "Precision": tp / max(1, tp + fp), "num_gt": int(tp + fn),
    }


def _identity(seq, G, T, th):
    pot = np.zeros((G, T))
    gt_count, hyp_count = np.zeros(G), np.zeros(T)
    for g, h, sim in seq:
        r, c = np.nonzero(sim >= th)
        np.add.at(pot, (g[r], h[c]), 1)
        gt_count[g] += 1
        hyp_count[h] += 1
    n_gt, n_hyp = gt_count.sum(), hyp_count.sum()
    if G == 0 or T == 0:
        idtp = 0.0
    else:
        fp = np.zeros((G + T, G + T))
        fn = np.zeros((G + T, G + T))
        fp[G:, :T] = 1e10
        fn[:G, T:] = 1e10
        fn[np.arange(G), T + np.arange(G)] = gt_count
        fp[G + np.arange(T), np.arange(T)] = hyp_count
        fn[:G, :T] = gt_count[:, None] - pot
        fp[:G, :T] = hyp_count[None, :] - pot
        r, c = linear_sum_assignment(fn + fp)
        idfn = fn[r, c].sum()
        idtp = n_gt - idfn
    idfn, idfp = n_gt - idtp, n_hyp - idtp
    return {"IDF1": idtp / max(1.0, idtp + 0.5 * idfp + 0.5 * idfn), "IDP": idtp / max(1.0, idtp + idfp),
            "IDR": idtp / max(1.0, idtp + idfn), "IDTP": int(round(idtp)), "IDFP": int(round(idfp)),
            "IDFN": int(round(idfn))}


def _hota(seq, G, T):
    A = len(HOTA_ALPHAS)
    tp, fn, fp, loc = np.zeros(A), np.zeros(A), np.zeros(A), np.zeros(A)
    pot = np.zeros((G, T))
    gt_count, hyp_count = np.zeros((G, 1)), np.zeros((1, T))
    for g, h, sim in seq:
        if len(g) and len(h):
            denom = sim.sum(0)[None, :] + sim.sum(1)[:, None] - sim
            s = np.zeros_like(sim)
            np.divide(sim, denom, out=s, where=denom > _EPS)
            pot[g[:, None], h[None, :]] += s
        gt_count[g] += 1
        hyp_count[0, h] += 1
    align = pot / np.maximum(gt_count + hyp_count - pot, _EPS) if G and T else pot
    matches = np.zeros((A, G, T))
    for g, h, sim in seq:
        if len(g) == 0:
            fp += len(h)
            continue
        if len(h) == 0:
            fn += len(g)
            continue
        r, c = linear_sum_assignment(-(align[g[:, None], h[None, :]] * sim))
        s = sim[r, c]
        for a, alpha in enumerate(HOTA_ALPHAS):
            ok = s >= alpha - _EPS
            k = int(ok.sum())
            tp[a] += k
            fn[a] += len(g) - k
            fp[a] += len(h) - k
            if k:
                loc[a] += s[ok].sum()
                np.add.at(matches[a], (g[r[ok]], h[c[ok]]), 1)
    assa = np.zeros(A)
    for a in range(A):
        m = matches[a]
        ass = m / np.maximum(1, gt_count + hyp_count - m)
        assa[a] = (m * ass).sum() / max(1.0, tp[a])
    deta = tp / np.maximum(1, tp + fn + fp)
    hota = np.sqrt(deta * assa)
    loca = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
    return {"HOTA": float(hota.mean()), "DetA": float(deta.mean()), "AssA": float(assa.mean()),
            "LocA": float(loca.mean()), "HOTA(0)": float(hota[0]),
            "HOTA_per_alpha": hota}


def mot_metrics(gt, hyp, iou_threshold: float = 0.5, *, hota: bool = True) -> dict:
    """MOTA, MOTP, IDF1, HOTA (DetA, AssA, LocA), IDSW, FP, FN and friends of ``hyp`` against ``gt``.

    ``gt`` and ``hyp``: arrays of MOT rows ``(frame, id, x, y, w, h, ...)`` or paths to MOT text
    files. Frames may be missing from either (an empty frame); ids need not be contiguous.
    ``hota=False`` skips HOTA (the slowest part).
    """
    if not (0.0 < float(iou_threshold) <= 1.0):
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    g = _rows(gt, "gt", is_gt=True)
    h = _rows(hyp, "hyp", is_gt=False)
    seq, G, T = _prepare(g, h)
    out = {}
    out.update(_clear(seq, G, T, float(iou_threshold)))
    out.update(_identity(seq, G, T, float(iou_threshold)))
    if hota:
        out.update(_hota(seq, G, T))
    out["num_gt_ids"], out["num_hyp_ids"], out["num_frames"] = G, T, len(seq)
    return out


def detections_to_mot_rows(frame: int, detections) -> np.ndarray:
    """MOT rows ``(frame, id, x, y, w, h, conf, -1, -1, -1)`` for the detections of one frame that
    carry a ``tracker_id`` >= 0 (``frame`` is written as given: use 1-based numbers)."""
    tid = getattr(detections, "tracker_id", None)
    if tid is None or len(detections) == 0:
        return np.zeros((0, 10))
    tid = np.asarray(tid)
    keep = tid >= 0
    b = np.asarray(detections.xyxy, dtype=np.float64)[keep]
    conf = detections.confidence
    conf = np.ones(len(tid)) if conf is None or len(conf) != len(tid) else np.asarray(conf, dtype=np.float64)
    k = int(keep.sum())
    return np.column_stack([np.full(k, frame), tid[keep], b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1],
                            conf[keep], -np.ones(k), -np.ones(k), -np.ones(k)])
