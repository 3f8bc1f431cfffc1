"""A crop gallery of the counted crossings: who crossed, under which id — checkable by eye.

:func:`crossing_gallery` cuts, for every crossing event of a lab run, the tracked person's box
at the frame their feet crossed the line, and lays the crops out in time order, each labelled
with the frame, the direction and the lab's id (and, given a by-eye reference such as
:data:`companion.lab.street_reference.DEFAULT_LINE_CROSSINGS`, who it really is). One id going
from one person to another, or one person under two ids, shows at a glance.
"""

from __future__ import annotations

import numpy as np


def crossing_gallery(video, events, mot_rows, *, reference=None, columns: int = 11,
                     tile=(96, 150), path=None) -> np.ndarray:
    """RGB image of one crop per event; saved to ``path`` (PNG) when given.

    ``events``: ``CrossingEvent``s or their dict rows; ``mot_rows``: the run's MOT rows
    (frame and id 1-based, x, y, w, h, ...), as in ``LabResult.mot_rows``; ``video``: a path or
    a (T, H, W, 3) array. ``reference``: by-eye (frame, direction, person) tuples, or the name of
    a line in :data:`~companion.lab.street_reference.LINES` (then matched on the places too).
    Reference crossings matched to an event (see
    :func:`~companion.lab.street_reference.score_identities`) put the by-eye person under the
    crop, in red when that person's crossings carry more than one id or the id more than one
    person.
    """
    import cv2

    from companion.lab.street_reference import LINES, score_identities, score_line

    def get(e, k):
        return e[k] if isinstance(e, dict) else getattr(e, k)

    ev = sorted(events, key=lambda e: get(e, "cross_frame"))
    mot = np.asarray([r[:6] for r in mot_rows], float).reshape(-1, 6)
    frames_needed = sorted({int(get(e, "cross_frame")) for e in ev})
    if isinstance(video, np.ndarray):
        frames = {f: video[f] for f in frames_needed}
    else:
        from companion.io import read_clip

        clip = read_clip(video, frames_needed) if frames_needed else []
        frames = {f: clip[i].permute(1, 2, 0).numpy() for i, f in enumerate(frames_needed)}
    who, bad = {}, set()
    if reference is not None:
        if isinstance(reference, str):
            score, reference = score_line(ev, reference), LINES[reference][1]
        else:
            score = score_identities(ev, reference)
        ids_of, people_of = {}, {}
        for i, j in score.pairs:
            p, t = reference[i][2], int(get(ev[j], "track_id"))
            who[j] = p
            ids_of.setdefault(p, set()).add(t)
            people_of.setdefault(t, set()).add(p)
        bad = {j for j, p in who.items()
               if len(ids_of[p]) > 1 or len(people_of[int(get(ev[j], "track_id"))]) > 1}
    tw, th = tile
    tiles = []
    for j, e in enumerate(ev):
        f, tid = int(get(e, "cross_frame")), int(get(e, "track_id"))
        img = np.zeros((th + 30, tw, 3), np.uint8)
        rows = mot[mot[:, 1] == tid + 1]
        if len(rows):
            r = rows[np.argmin(np.abs(rows[:, 0] - 1 - f))]
            x, y, w, h = r[2:6]
            fr = frames[f]
            H, W = fr.shape[:2]
            pad_y, pad_x = 0.15 * h, max(0.4 * w, (h * 1.3 * tw / th - w) / 2)
            y0, y1 = int(max(0, y - pad_y)), int(min(H, y + h + pad_y))
            x0, x1 = int(max(0, x - pad_x)), int(min(W, x + w + pad_x))
            crop = np.ascontiguousarray(fr[y0:y1, x0:x1]).copy()
            cv2.rectangle(crop, (int(x - x0), int(y - y0)), (int(x + w - x0), int(y + h - y0)),
                          (255, 255, 0), 1)
            img[:th] = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_CUBIC)
        cv2.putText(img, f"{f} {get(e, 'direction')} id {tid}", (2, th + 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 1, cv2.LINE_AA)
        if j in who:
            cv2.putText(img, f"eye: {who[j]}", (2, th + 25), cv2.FONT_HERSHEY_SIMPLEX, 0.36,
                        (255, 80, 80) if j in bad else (120, 255, 120), 1, cv2.LINE_AA)
        tiles.append(img)
    if not tiles:
        tiles = [np.zeros((th + 30, tw, 3), np.uint8)]
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    out = np.vstack([np.hstack(tiles[k:k + columns]) for k in range(0, len(tiles), columns)])
    if path is not None:
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
    return out
