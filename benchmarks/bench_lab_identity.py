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
clip and for the **second half alone** (never used to choose anything). The same run also prints
the appearance embeddings' separation of people on the real crossings (histogram vs ImageNet
MobileNetV2 vs both), which is what decides the lab's default embedder.

    python benchmarks/bench_lab_identity.py            # whole clip (a few minutes)
    python benchmarks/bench_lab_identity.py --embedder pretrained

Exits 1 when the whole-clip targets are missed.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from companion.data import street_clip
from companion.lab.count import DEFAULT_DEAD_BAND, LineCounter
from companion.lab.pipeline import STREET_CLIP_LINE, run_lab
from companion.lab.reidentify import ReIdentifier, make_embedder
from companion.lab.street_reference import DEFAULT_LINE_CROSSINGS, score_identities

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


def replay(rows, cached, threshold, line, height):
    reid = ReIdentifier(cached, fps=10.0, threshold=threshold)
    counter = LineCounter(line, dead_band=DEFAULT_DEAD_BAND * height)
    for f, ids, boxes, _ in rows:
        n = len(reid.merges)
        out = reid.update(f, f, ids, boxes) if len(ids) else ids
        for _, prov, person, _ in reid.merges[n:]:
            counter.relabel(prov, person)
        keep = out >= 0
        counter.update_points(out[keep], np.c_[(boxes[keep, 0] + boxes[keep, 2]) / 2, boxes[keep, 3]], f)
    return counter, reid


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedder", default=None, help="histogram | pretrained | fused (default: the lab's)")
    ap.add_argument("--detector", default=None, help="default: the lab's default detector")
    args = ap.parse_args(argv)
    path = street_clip()
    rec = _Recorder()
    t0 = time.perf_counter()
    kw = {} if args.detector is None else {"detector": args.detector}
    res = run_lab(path, write_files=False, progress=False, reidentify=rec, **kw)
    det_name = res.summary["detector"]
    print(f"# identities on {path.name}: detector {det_name}, tracker {res.summary['tracker']} "
          f"(+ stitching), {len(rec.rows)} frames in {time.perf_counter() - t0:.0f} s")
    frames = {f: fr for f, _, _, fr in rec.rows}
    H = frames[0].shape[0]
    cached = _Cached(make_embedder(args.embedder), frames)

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
        if best is None or err < best[0]:
            best = (err, float(thr))
    thr = best[1]
    print(f"chosen threshold: {thr:.2f} (fewest identity errors on the first half; ties -> lower)")

    print("\n## 2. the default line, whole clip and second half (never used for choosing)")
    counter, reid = replay(rec.rows, cached, thr, STREET_CLIP_LINE, H)
    whole = score_identities(counter.events)
    second_ref = [r for r in DEFAULT_LINE_CROSSINGS if r[0] >= SPLIT]
    second_ev = [e for e in counter.events if e.cross_frame >= SPLIT - 6]
    second = score_identities(second_ev, second_ref)
    no_reid, _ = replay(rec.rows, cached, 2.0, STREET_CLIP_LINE, H)  # threshold > 1: never merges
    plain = score_identities(no_reid.events)
    print(f"whole clip, re-identification on : {whole.row()}")
    print(f"whole clip, re-identification off: {plain.row()}")
    print(f"second half only (frames >= {SPLIT}): {second.row()}")
    print(f"re-identifications made: {len(reid.merges)}")
    ok = whole.matched >= whole.reference - 2 and whole.distinct == whole.people
    ok = ok and whole.kept == whole.returning and whole.shared == 0
    print(f"\n{'OK' if ok else 'TARGET MISSED'}: matched {whole.matched}/{whole.reference} "
          f"(target >= {whole.reference - 2}), distinct {whole.distinct} (target {whole.people}), "
          f"returning people keeping one id {whole.kept}/{whole.returning}, shared ids {whole.shared} "
          "(target 0)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
