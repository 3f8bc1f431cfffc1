#!/usr/bin/env python3
"""Do the lab's identities mean people? Crossings and identities against a by-eye reference.

On the street clip, with the default line, the lab's crossing events are matched to the 33
crossings read by eye (``companion.lab.street_reference``: frame, direction and *who*, 10
people). Reported (and required):

* events matched (frame within 6, same direction) / 33, and events matched to nothing;
* ``distinct`` = the by-eye number of people (10);
* every returning person (>= 2 matched crossings) keeps one id, and no id is shared by two people.

Long-term re-identification has one free parameter, the similarity threshold. It is chosen on the
**first half** of the clip (crossings before frame 400) and the figures are printed for the whole
clip and for the **second half alone** (never used to choose anything). Section 4 chooses the
lab's offline identity stage the same way, embedder included (colour histogram, ImageNet
MobileNetV2 + histogram, the learned street embedding + histogram; rule at ``OFFLINE_GRID``).

Measured (§4, the lab's default, whole clip; second half alone in brackets): default line
matched 33/33 with no extra, 10 distinct for 10 people (8 for 7), returning people keeping one
id 6/7 (4/5), 1 shared id (0); left 19/19, 9 / 9 (6 / 6), 3/6 (2/5), 3 (3); diagonal 29/30,
10 / 10 (8 / 8), 5/6 (3/4), 1 (1). Trimming the tracker's handovers (a new track born on a box
an old one still holds) took the default line from 11 distinct, 5/7 and 1 extra, and the
diagonal from 11 distinct, to these. Step 3 counts the crossings again on the people's
trajectories (plus the tracker's own crossings none of those explains); renaming the tracker's events instead gave
matched 28/33, 17/19, 27/30 and 11, 5/7, 1; 10, 2/5, 2; 11, 5/6, 1 (the grid chose the same
parameters under both rules). Before the learned embedding, the crops of half-hidden boxes and
the whole-clip selection rule: 16, 2/7, 1; 11, 2/5, 1; 13, 3/6, 1.

Printed for information, not chosen: pieces shorter than 0.5 s (or 1 s) kept out of the
clustering and attached afterwards (``min_piece_s``, ``identities.attach_short``), the rest as
chosen: default 33/33, 10 / 10, 7/7, 0 shared (second half 7 / 7, 5/5, 0); left 10 / 9, 3/6, 3;
diagonal 11 / 10, 5/6, 0 (30 people over the whole clip; 27 with 1 s). Offered to the grid
(``--offer-min-piece``, 5,184 combinations, 176 tie at 0 first-half errors), the rule takes the
ImageNet + histogram embedding with pieces < 1 s attached, 23 people: default 8 / 10, 6/7, 3
shared; left 7 / 9, 3/6, 5; diagonal 8 / 10, 5/6, 3 — the tie-break on the fewest people rewards
merging once short pieces no longer stand alone, so the option is not offered by default.

Printed for information with ``--whole-clip-head`` (a few CPU-minutes more): the learned part
retrained, without labels, on the whole clip's tracklets — a much better descriptor of these
people (rank-1 0.93 vs 0.79 on the crops from frame 400, ``bench_street_reid.py``) — at weights
0.3-1.0 and thresholds 0.3-0.5, the rest as chosen: 10-16 identity errors over the three lines
against the chosen combination's 10 (best: 10 at weight 0.3, threshold 0.3; default 11 / 10, 6/7,
0 shared; left 9 / 9, 3/6, 3; diagonal 10 / 10, 5/6, 1). The descriptor is not what fails: the
pieces are (P7's pieces of frames 571-591 and 762-794 stay apart from his main person: they are
joined by two-frame pieces, at frames 223-224 and 482-483, that coexist with pieces of it).

    python benchmarks/bench_lab_identity.py            # whole clip (a few minutes)
    python benchmarks/bench_lab_identity.py --embedder pretrained
    python benchmarks/bench_lab_identity.py --offline-only --detections /tmp/dets.pkl  # iterate
    python benchmarks/bench_lab_identity.py --offline-only --jobs 2    # the grid in 2 processes
    python benchmarks/bench_lab_identity.py --offline-only --whole-clip-head  # + a whole-clip head

Exits 1 when the whole-clip targets are missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import sys
import time

import numpy as np

from companion.data import street_clip
from companion.lab.count import DEFAULT_DEAD_BAND, LineCounter
from companion.lab.pipeline import STREET_CLIP_LINE, run_lab
from companion.lab.reidentify import ReIdentifier, make_embedder
from companion.lab import identities as offline
from companion.lab.street_reference import DEFAULT_LINE_CROSSINGS, LINES, score_identities, score_lines

SPLIT = 400  # the threshold is chosen on crossings before this frame
GRID = np.round(np.arange(0.60, 0.96, 0.02), 2)


class _Recorder:
    """Stands in for the ReIdentifier inside run_lab: records the stitched tracks, changes nothing."""

    merges: list = []

    def __init__(self):
        self.rows = []

    def reset(self):
        self.rows = []

    def update(self, f, frame, ids, xyxy):
        self.rows.append((f, np.asarray(ids).copy(), np.asarray(xyxy, float).copy(), frame))
        return np.asarray(ids)


class _Replay:
    """Hands out recorded detections frame by frame (detect once, study the rest quickly)."""

    def __init__(self, dets):
        self.name, self.boxes, self.i = dets["name"], dets["boxes"], 0

    def __call__(self, frame):
        self.i += 1
        return self.boxes[self.i - 1]


class _Cached:
    """An embedder that remembers: (frame index, box) -> embedding."""

    def __init__(self, embedder, frames):
        self.embedder, self.frames, self.cache = embedder, frames, {}

    def __call__(self, f, boxes):
        keys = [(f, tuple(np.round(b, 2))) for b in boxes]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            v = self.embedder(self.frames[f], np.asarray(boxes)[todo])
            for i, e in zip(todo, v):
                self.cache[keys[i]] = e
        return np.stack([self.cache[k] for k in keys])


def replay(rows, cached, threshold, line, height, mot=None):
    """The lab's re-identification and counting, replayed on recorded tracks; ``mot`` (a list)
    receives MOT rows under the final ids."""
    reid = ReIdentifier(cached, fps=10.0, threshold=threshold)
    counter = LineCounter(line, dead_band=DEFAULT_DEAD_BAND * height)
    for f, ids, boxes, _ in rows:
        n = len(reid.merges)
        out = reid.update(f, f, ids, boxes) if len(ids) else ids
        for _, prov, person, _ in reid.merges[n:]:
            counter.relabel(prov, person)
        keep = out >= 0
        counter.update_points(out[keep], np.c_[(boxes[keep, 0] + boxes[keep, 2]) / 2, boxes[keep, 3]], f)
        if mot is not None:
            mot += [(f + 1, int(t) + 1, b[0], b[1], b[2] - b[0], b[3] - b[1]) for t, b in zip(out[keep], boxes[keep])]
    if mot is not None and reid.merges:
        final = {prov + 1: person + 1 for _, prov, person, _ in reid.merges}

        def resolve(t):
            while t in final:
                t = final[t]
            return t

        mot[:] = [(r[0], resolve(r[1]), *r[2:]) for r in mot]
    return counter, reid


class _CropCache:
    """An embedder that remembers crops it has embedded (the grid below re-embeds the same crops)."""

    def __init__(self, embedder):
        self.embedder, self.cache = embedder, {}

    def embed_crops(self, crops):
        keys = [hash(c.tobytes()) for c in crops]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            for i, v in zip(todo, self.embedder.embed_crops(np.asarray(crops)[todo])):
                self.cache[keys[i]] = v
        return np.stack([self.cache[k] for k in keys])


def tracker_events(rows, line, height, until=None):
    """Crossing events of the stitched tracks (the tracker's ids), as the lab counts them."""
    counter = LineCounter(line, dead_band=DEFAULT_DEAD_BAND * height)
    for f, ids, boxes, _ in rows:
        if until is not None and f >= until:
            break
        keep = ids >= 0
        counter.update_points(ids[keep], np.c_[(boxes[keep, 0] + boxes[keep, 2]) / 2, boxes[keep, 3]], f)
    return counter.events


def person_events(ident, line, height, tracker, until=None):
    """The lab's step 3 (:func:`companion.lab.identities.recount` and ``merge_crossings``): the
    crossings counted again on the people's trajectories, plus the tracker's own (``tracker``:
    its events, from :func:`tracker_events`) that those do not explain; as dicts."""
    counter = offline.recount(ident, LineCounter(line, dead_band=DEFAULT_DEAD_BAND * height), until=until)
    offline.merge_crossings([dataclasses.replace(e) for e in tracker], counter, ident)
    return [dict(cross_frame=e.cross_frame, direction=e.direction, track_id=e.track_id) for e in counter.events]


def id_errors(s) -> int:
    """Identity errors of a score: |distinct - people| + returning people split + shared ids."""
    return abs(s.distinct - s.people) + (s.returning - s.kept) + s.shared


def halves(events, crossings):
    """(whole, second half) scores; the second half: crossings at >= SPLIT, events from SPLIT - 6."""
    whole = score_identities(events, crossings)
    second = score_identities([e for e in events if (e["cross_frame"] if isinstance(e, dict) else
                                                     e.cross_frame) >= SPLIT - 6],
                              [r for r in crossings if r[0] >= SPLIT])
    return whole, second


#: the offline stage's grid, in order of preference on the last ties (cheaper embedding, fewer
#: cuts, more cautious linking first). The rule (:func:`choose`): fewest first-half identity errors,
#: counted twice — under the clustering of the first half alone and under the whole clip's (the
#: lab always resolves the whole clip; the second half's tracklets take part unlabelled, its
#: crossings are never read); ties -> the fewest people over the whole clip (label-free
#: parsimony: the stage's known failure is splitting people, and the first-half labels guard
#: against wrong merges); then grid order. The first half alone cannot choose: 40 of the 1,728
#: combinations make no first-half error either way.
OFFLINE_EMBEDDERS = ("histogram", "fused", "learned+histogram")
OFFLINE_GRID = [dict(embedder=e, linkage=ln, near=n, change=c, min_crops=m, threshold=t, continuity=k,
                     max_cover=mc, min_piece_s=offline.DEFAULT_MIN_PIECE_S)
                for e in OFFLINE_EMBEDDERS for ln in ("centroid", "average")
                for t in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35)
                for k in (0.0, 0.1) for n in (0.3, 0.5) for c in (0.75, 0.8, 0.85) for m in (0, 2)
                for mc in (0.5, 1.0)]  # TrackLog(max_cover=): boxes covered that much are not cropped
#: ``--offer-min-piece``: the grid with short pieces kept out of the clustering as a further choice
#: (``TrackLog.resolve(min_piece_s=)``; 5,184 combinations): the rule then picks the ImageNet +
#: histogram embedding with pieces < 1 s attached afterwards, which merges most (23 people over the
#: whole clip) and does worse on every line (see the module docstring), so it is not offered.
MIN_PIECE_CHOICES = (0.0, 0.5, 1.0)

_GRID_WORK: dict = {}


def _grid_key(i: int):
    """(first-half identity errors, people over the whole clip) of grid entry ``i`` (a worker)."""
    run, first_errors, grid = _GRID_WORK["run"], _GRID_WORK["first_errors"], _GRID_WORK["grid"]
    idw = run(grid[i])
    return first_errors(run(grid[i], until=SPLIT)) + first_errors(idw), idw.num_people


def _one_thread():
    import torch

    torch.set_num_threads(1)


def grid_keys(run, first_errors, grid, jobs: int = 1):
    """:func:`_grid_key` of every grid entry, in ``jobs`` forked processes (each with its own
    embedding caches); same results in any number of processes."""
    _GRID_WORK.update(run=run, first_errors=first_errors, grid=grid)
    from tqdm.auto import tqdm

    bar = dict(total=len(grid), desc="offline grid", leave=False, disable=None)
    if jobs <= 1:
        return [_grid_key(i) for i in tqdm(range(len(grid)), **bar)]
    import multiprocessing as mp

    with mp.get_context("fork").Pool(jobs, initializer=_one_thread) as pool:
        return list(tqdm(pool.imap(_grid_key, range(len(grid)), chunksize=8), **bar))


def offline_section(rec_rows, frames, H, embedders=OFFLINE_EMBEDDERS, jobs: int = 1,
                    offer_min_piece: bool = False, whole_clip_head: bool = False):
    """Section 4: the offline identity stage, chosen on the first half of every by-eye line."""
    import time as _time

    t0 = _time.process_time()
    log = offline.TrackLog()
    for f, ids, boxes, fr in rec_rows:
        log.update(f, fr, ids, boxes)
    t_log = _time.process_time() - t0
    logs = {log.max_cover: log}
    for mc in sorted({p["max_cover"] for p in OFFLINE_GRID} - {log.max_cover}):
        logs[mc] = offline.TrackLog(max_cover=mc)
        for f, ids, boxes, fr in rec_rows:
            logs[mc].update(f, fr, ids, boxes)
    t0 = _time.process_time()
    default = dict(embedder=offline.DEFAULT_EMBEDDER, near=offline.DEFAULT_NEAR,
                   change=offline.DEFAULT_CHANGE, min_crops=offline.DEFAULT_MIN_CROPS,
                   threshold=offline.DEFAULT_THRESHOLD, continuity=offline.DEFAULT_CONTINUITY,
                   linkage=offline.DEFAULT_LINKAGE, max_cover=log.max_cover,
                   min_piece_s=offline.DEFAULT_MIN_PIECE_S)
    fresh = make_embedder(default["embedder"])
    ident = log.resolve(fresh, **{k: v for k, v in default.items() if k not in ("embedder", "max_cover")})
    t_resolve = _time.process_time() - t0
    print("\n## 4. offline identities (companion.lab.identities): cut at encounters and appearance "
          "changes, link by constrained clustering")
    print(f"cost: collecting boxes and crops {t_log:.2f} CPU-s, cutting + embedding + linking "
          f"{t_resolve:.2f} CPU-s ({len(ident.tracklets)} tracklets from "
          f"{len({t.track for t in ident.tracklets})} tracks)")
    embs = {name: _CropCache(make_embedder(name)) for name in embedders}
    hist = _CropCache(make_embedder("histogram"))  # the appearance cuts' histograms, computed once
    grid = [p for p in OFFLINE_GRID if p["embedder"] in embedders]
    if offer_min_piece:
        grid = [dict(p, min_piece_s=mp) for p in grid for mp in MIN_PIECE_CHOICES]
    grid += [dict(p, embedder=e) for e in embedders if e not in OFFLINE_EMBEDDERS
             for p in OFFLINE_GRID if p["embedder"] == OFFLINE_EMBEDDERS[0]]
    ev_first = {name: tracker_events(rec_rows, line, H, until=SPLIT) for name, (line, _) in LINES.items()}
    ev_all = {name: tracker_events(rec_rows, line, H) for name, (line, _) in LINES.items()}
    ref_first = {name: [r for r in cr if r[0] < SPLIT - 10] for name, (_, cr) in LINES.items()}

    def run(p, **kw):
        return logs[p["max_cover"]].resolve(embs[p["embedder"]], histogram=hist, **kw,
                                            **{k: v for k, v in p.items() if k not in ("embedder", "max_cover")})

    def first_errors(ident):
        return sum(id_errors(score_identities([e for e in person_events(ident, LINES[n][0], H, ev_first[n], until=SPLIT)
                                               if e["cross_frame"] < SPLIT], ref_first[n])) for n in LINES)

    keys = grid_keys(run, first_errors, grid, jobs)
    best = min(range(len(grid)), key=lambda i: keys[i])  # the first (grid order) of the smallest key
    chosen, (err, people) = grid[best], keys[best]
    tied = sum(k[0] == err for k in keys)
    print(f"chosen on the first half of the {len(LINES)} by-eye lines (crossings < frame {SPLIT}; "
          f"{len(grid)} combinations; fewest first-half identity errors under the first half's and "
          f"the whole clip's clustering ({tied} combinations tie at {err}), then the fewest people "
          f"over the whole clip ({people}), then the cheaper / more cautious one): {chosen}")
    print(f"the lab's defaults {'ARE' if chosen == default else 'are NOT'} this choice: {default}")
    idw = run(chosen)
    idh = run(chosen, until=SPLIT)
    out = {}
    print("| line | part | offline identities | tracker's ids (no re-identification) |\n|---|---|---|---|")
    for name, (line, crossings) in LINES.items():
        ev = ev_all[name]
        plain_ev = [dict(cross_frame=e.cross_frame, direction=e.direction, track_id=e.track_id) for e in ev]
        w, sec = halves(person_events(idw, line, H, ev), crossings)
        pw, psec = halves(plain_ev, crossings)
        first = score_identities(person_events(idh, line, H, ev_first[name], until=SPLIT), ref_first[name])
        pfirst = score_identities([dict(cross_frame=e.cross_frame, direction=e.direction, track_id=e.track_id)
                                   for e in ev_first[name]], ref_first[name])
        print(f"| {name} | first half (chosen here) | {first.row()} | {pfirst.row()} |")
        print(f"| {name} | second half (held out) | {sec.row()} | {psec.row()} |")
        print(f"| {name} | whole clip | {w.row()} | {pw.row()} |")
        out[name] = w
    print("\nfor information only (not used for choosing), the default line, whole clip, at other "
          "linking thresholds (the rest as chosen):")
    line, crossings = LINES["default"]
    ev = ev_all["default"]
    for t in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        idt = run(dict(chosen, threshold=t))
        print(f"  threshold {t:.2f}: {score_identities(person_events(idt, line, H, ev), crossings).row()} "
              f"({idt.num_people} people over the whole clip)")
    print("\nfor information only (not used for choosing): pieces shorter than min_piece_s kept out of "
          "the clustering and attached afterwards (identities.attach_short), the rest as chosen")
    for mp in MIN_PIECE_CHOICES:
        if mp == chosen["min_piece_s"]:
            continue
        idm = run(dict(chosen, min_piece_s=mp))
        print(f"  min_piece_s {mp}: {idm.num_people} people over the whole clip")
        for name, (line, crossings) in LINES.items():
            w, sec = halves(person_events(idm, line, H, ev_all[name]), crossings)
            print(f"    {name}: whole clip {w.row()}; second half {sec.row()}")
    if whole_clip_head:
        whole_clip_head_section(run, embs, chosen, ev_all, H)
    return out, idw


def whole_clip_head_section(run, embs, chosen, ev_all, H):
    """For information: the learned part of the embedding retrained (same recipe, seed 0, no
    labels) on tracklets mined from the *whole* clip instead of frames 0-399 — a far better
    descriptor of these people (``bench_street_reid.py``: rank-1 0.93 vs 0.79 on the crops of
    frames >= 400, which it has now seen unlabelled) — at the learned part's weight 0.3 (the
    lab's) to 1.0 and linking thresholds 0.3-0.5, the rest as chosen. Nothing here is chosen."""
    from companion.data import STREET_CLIP_INFO
    from companion.lab.reidentify import FusedEmbedder
    from companion.tracking import reid_learned as rl

    n = STREET_CLIP_INFO["num_frames"]
    head, _, _ = rl.train_on_street(0, mined=rl.mine_tracklets(stop=n))
    learned = _CropCache(rl.LearnedEmbedder(head=head))
    hist = _CropCache(make_embedder("histogram"))

    class _Weighted:  # FusedEmbedder's weighting over the two cached parts
        def __init__(self, w):
            self.w = w

        def embed_crops(self, crops):
            return np.concatenate([learned.embed_crops(crops) * np.sqrt(self.w),
                                   hist.embed_crops(crops) * np.sqrt(1 - self.w)], 1)

    assert FusedEmbedder(0.3).weight == 0.3  # the same weighting as the lab's fused embedder
    print(f"\nfor information only: the learned part retrained on the whole clip's tracklets (frames 0-{n - 1}, "
          "no labels, seed 0); identity errors over the three lines (|distinct - people| + returning "
          "people split + shared ids; the chosen combination's in brackets)")
    base = sum(id_errors(score_identities(person_events(run(chosen), line, H, ev_all[name]), crossings))
               for name, (line, crossings) in LINES.items())
    for w in (0.3, 0.5, 0.7, 1.0):
        embs[f"whole-clip head {w}"] = _Weighted(w)
        for t in (0.3, 0.35, 0.4, 0.5):
            idt = run(dict(chosen, embedder=f"whole-clip head {w}", threshold=t))
            sc = {name: score_identities(person_events(idt, line, H, ev_all[name]), crossings)
                  for name, (line, crossings) in LINES.items()}
            err = sum(id_errors(v) for v in sc.values())
            print(f"  weight {w:.1f}, threshold {t:.2f}: {err} ({base}); "
                  + "; ".join(f"{k} {v.distinct}/{v.people}, {v.kept}/{v.returning} kept, {v.shared} shared"
                              for k, v in sc.items()) + f" ({idt.num_people} people)")


#: a diagonal line through the spot where the man in the black pea coat (P1) stands on the phone,
#: frames ~545-615 (his feet at about (655, 405)); with jittering boxes, hysteresis alone counts him
#: again and again
PHONE_LINE = (600.0, 470.0, 710.0, 346.0)
PHONE_FRAMES = (520, 640)


def loiterer(detector=None):
    """Crossings of PHONE_LINE by the track standing at the phone spot, with and without the
    dead-band (the learned detector, frames 520-640 in memory)."""
    from companion.io import iter_frames

    clip = np.stack(list(iter_frames(street_clip(verbose=False), start=PHONE_FRAMES[0], stop=PHONE_FRAMES[1])))
    out = {}
    for band in (0.0, None):
        kw = {} if detector is None else {"detector": detector}
        r = run_lab(clip, line=PHONE_LINE, write_files=False, progress=False, dead_band=band,
                    reidentify=False, **kw)
        mot = np.asarray([m[:6] for m in r.mot_rows], float)
        near = mot[(mot[:, 0] - 1 + PHONE_FRAMES[0] >= 560) & (mot[:, 0] - 1 + PHONE_FRAMES[0] <= 600)]
        foot = np.c_[near[:, 2] + near[:, 4] / 2, near[:, 3] + near[:, 5]]
        ids = set(near[np.hypot(foot[:, 0] - 655, foot[:, 1] - 405) < 30, 1].astype(int) - 1)
        ev = [(e.cross_frame + PHONE_FRAMES[0], e.direction) for e in r.counter.events if e.track_id in ids]
        out["off" if band == 0.0 else f"{r.summary['dead_band_px']:.0f} px"] = ev
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedder", default=None, help="histogram | pretrained | fused (default: the lab's)")
    ap.add_argument("--detector", default=None, help="default: the lab's default detector")
    ap.add_argument("--gallery", nargs="?", const="notebooks/figures/lab_crossings_gallery.png",
                    default=None, metavar="PNG", help="write the crossing crop gallery (default path "
                    "notebooks/figures/lab_crossings_gallery.png)")
    ap.add_argument("--detections", default=None, metavar="PKL",
                    help="cache of the detector's boxes: read if it exists, else written")
    ap.add_argument("--no-phone", action="store_true", help="skip the loitering-on-the-line case")
    ap.add_argument("--offline-embedders", default=",".join(OFFLINE_EMBEDDERS), metavar="NAMES",
                    help="embeddings the offline stage's grid may choose (make_embedder names, comma-"
                         f"separated; default {','.join(OFFLINE_EMBEDDERS)}; 'learned' is h-reid's)")
    ap.add_argument("--jobs", type=int, default=1, help="processes for the offline grid (same results)")
    ap.add_argument("--offer-min-piece", action="store_true",
                    help="let the offline grid also choose min_piece_s (MIN_PIECE_CHOICES; 3x the grid)")
    ap.add_argument("--whole-clip-head", action="store_true",
                    help="for information: also the learned part retrained on the whole clip's tracklets")
    ap.add_argument("--offline-only", action="store_true",
                    help="only section 4 (the offline identity stage, the lab's default) and the targets")
    args = ap.parse_args(argv)
    path = street_clip()
    from companion.io import iter_frames
    from companion.lab.detect import make_detector

    t0 = time.perf_counter()
    clip = np.stack(list(iter_frames(path)))
    dets = None
    if args.detections and os.path.exists(args.detections):
        with open(args.detections, "rb") as f:
            dets = pickle.load(f)
        print(f"(detections read from {args.detections})")
    if dets is None:
        det = make_detector() if args.detector is None else make_detector(args.detector)
        dets = [det(fr) for fr in clip]
        dets = dict(name=getattr(det, "name", type(det).__name__), boxes=dets)
        if args.detections:
            with open(args.detections, "wb") as f:
                pickle.dump(dets, f)
    t_det = time.perf_counter() - t0
    rec = _Recorder()
    res = run_lab(clip, fps=10.0, detector=_Replay(dets), write_files=False, progress=False, reidentify=rec,
                  identities=False)
    det_name = dets["name"]
    print(f"# identities on {path.name}: detector {det_name} ({t_det:.0f} s), tracker "
          f"{res.summary['tracker']} (+ stitching), {len(rec.rows)} frames")
    frames = {f: fr for f, _, _, fr in rec.rows}
    H = frames[0].shape[0]
    cached = _Cached(make_embedder(args.embedder), frames)
    if args.offline_only:
        return _offline_and_gallery(args, rec.rows, frames, H, path, det_name)

    print("\n## 1. choosing the re-identification threshold on the first half (crossings < "
          f"frame {SPLIT})")
    print("| threshold | matched | distinct (eye) | returning kept | shared ids |\n|---|---|---|---|---|")
    first = [r for r in DEFAULT_LINE_CROSSINGS if r[0] < SPLIT - 10]
    best = None
    for thr in GRID:
        counter, _ = replay([r for r in rec.rows if r[0] < SPLIT], cached, float(thr), STREET_CLIP_LINE, H)
        s = score_identities(counter.events, first)
        err = abs(s.distinct - s.people) + (s.returning - s.kept) + s.shared
        print(f"| {thr:.2f} | {s.matched}/{s.reference} | {s.distinct} ({s.people}) | "
              f"{s.kept}/{s.returning} | {s.shared} |")
        if best is None or err <= best[0]:
            best = (err, float(thr))
    thr = best[1]
    print(f"chosen threshold: {thr:.2f} (fewest identity errors on the first half; ties -> the "
          "higher, more cautious threshold: a wrong merge costs more than a missed one)")

    print("\n## 2. the default line, whole clip and second half (never used for choosing)")
    mot = []
    counter, reid = replay(rec.rows, cached, thr, STREET_CLIP_LINE, H, mot)
    whole = score_identities(counter.events)
    second_ref = [r for r in DEFAULT_LINE_CROSSINGS if r[0] >= SPLIT]
    second_ev = [e for e in counter.events if e.cross_frame >= SPLIT - 6]
    second = score_identities(second_ev, second_ref)
    no_reid, _ = replay(rec.rows, cached, 1.0, STREET_CLIP_LINE, H)  # similarity 1: never merges
    plain = score_identities(no_reid.events)
    print(f"whole clip, re-identification on : {whole.row()}")
    print(f"whole clip, re-identification off: {plain.row()}")
    print(f"second half only (frames >= {SPLIT}): {second.row()}")
    print(f"re-identifications made: {len(reid.merges)}")
    print("\nfor information only (not used for choosing), the whole clip at other thresholds:")
    for t in (0.70, 0.75, 0.80, 0.85, 0.90):
        c, _ = replay(rec.rows, cached, t, STREET_CLIP_LINE, H)
        print(f"  threshold {t:.2f}: {score_identities(c.events).row()}")
    print("\n## 2b. every by-eye line (companion.lab.street_reference.LINES), same threshold")
    for name, sc in score_lines(lambda line: replay(rec.rows, cached, thr, line, H)[0].events).items():
        print(f"{name:8s}: {sc.row()}")
    if not args.no_phone:
        print("\n## 3. a man standing on the phone on a diagonal line (frames 520-640, line "
              f"{PHONE_LINE})")
        for band, ev in loiterer(args.detector).items():
            print(f"dead-band {band}: his crossings {ev}")
    return _offline_and_gallery(args, rec.rows, frames, H, path, det_name)


def _offline_and_gallery(args, rows, frames, H, path, det_name) -> int:
    """Section 4, the gallery of the crossings under its identities (``--gallery``), the targets."""
    scores, ident = offline_section(rows, frames, H, args.offline_embedders.split(","), args.jobs,
                                    args.offer_min_piece, args.whole_clip_head)
    if args.gallery:  # the crossings under the lab's default (offline) identities
        import cv2

        from companion.lab.gallery import crossing_gallery

        events = person_events(ident, STREET_CLIP_LINE, H, tracker_events(rows, STREET_CLIP_LINE, H))
        mot = [(f + 1, ident.person_of(t, f) + 1, b[0], b[1], b[2] - b[0], b[3] - b[1])
               for f, ids, boxes, _ in rows for t, b in zip(ids.tolist(), boxes) if t >= 0]
        g = crossing_gallery(path, events, mot, reference=DEFAULT_LINE_CROSSINGS)
        head = np.zeros((22, g.shape[1], 3), np.uint8)
        cv2.putText(head, f"{det_name} + ByteTrack + stitching + offline identities vs by eye: "
                    f"{scores['default'].row()}", (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1)
        cv2.imwrite(args.gallery, cv2.cvtColor(np.vstack([head, g]), cv2.COLOR_RGB2BGR))
        print(f"gallery written to {args.gallery}")
    return _targets(scores)


def _targets(scores) -> int:
    print("\n(targets: the lab's default, offline identities, whole clip)")
    all_ok = True
    for name, sc in scores.items():
        ok = sc.matched >= sc.reference - 2 and sc.distinct == sc.people
        ok = ok and sc.kept == sc.returning and sc.shared == 0
        all_ok = all_ok and ok
        print(f"{'OK' if ok else 'TARGET MISSED'} [{name}]: matched {sc.matched}/{sc.reference} "
              f"(target >= {sc.reference - 2}), extra {sc.extra}, distinct {sc.distinct} (target "
              f"{sc.people}), returning people keeping one id {sc.kept}/{sc.returning}, shared ids "
              f"{sc.shared} (target 0)")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
