#!/usr/bin/env python3
"""SORT, DeepSORT and ByteTrack against the production ``trackers`` package on the very same detections (26.5).

    python benchmarks/bench_trackers.py           # 2 TUD + 2 street (25 fps) + 3 crossing scenes, 7 timing repeats
    python benchmarks/bench_trackers.py --quick   # 2 TUD + 1 street + 2 crossing scenes, 3 repeats

Detections come from ground truth with controlled noise (``companion.tracking.noisy_detections``:
5 % drops, 4 % jitter, occluded objects found with a low score (0.15-0.5) or missed (30 %),
0.5 false positives per frame with scores 0.1-0.65), one draw per sequence, seeded:

* **TUD-Campus / TUD-Stadtmitte** — the ground truth shipped with ``motmetrics`` (25 fps, no
  images: DeepSORT cannot run there);
* **street-25fps** — synthetic street scenes (12 random pedestrians, 25 fps, 300 frames);
* **crossings-10fps** — synthetic scenes at 10 fps with scripted head-on crossings, a meeting
  pair that turns back and a group, plus random walkers: where appearance matters.

Every tracker sees identical ``sv.Detections``; metrics by ``companion.tracking.mot_metrics``
(TrackEval definitions, checked against motmetrics and ``trackers.eval`` — the parity table
at the top repeats that check on the TUD reference hypotheses). Tracker-only frames per second
count the time inside ``update`` (DeepSORT's includes computing the embeddings on CPU, torch
limited to one thread).
The speed ratio is measured with ``companion.bench.compare_speed`` (alternating runs, median)
over all sequences: ``time(trackers.ByteTrackTracker) / time(companion ByteTrack)``.

Targets (exit 1 if missed):
1. companion ``ByteTrack()`` (published defaults) >= ``trackers.ByteTrackTracker()`` on MOTA and
   on IDF1, averaged over the TUD and street-25fps sequences;
2. speed ratio >= 1.0 (aim: 2);
3. DeepSORT with the learned embedding has fewer ID switches than SORT on the crossing scenes.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from companion.bench import compare_speed
from companion.synthetic.street import crossing_pair, make_street_scene, random_person, turn_back, walking_group
from companion.tracking import (SORT, ByteTrack, DeepSORT, mot_metrics, noisy_detections, run_tracker,
                                tud_sequence)

if not hasattr(np, "asfarray"):  # motmetrics 1.4 on NumPy 2
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]


def crossing_scene(seed: int, num_frames: int = 150):
    rng = np.random.default_rng(seed)
    people = crossing_pair(175 + 10 * (seed % 3), 384, speed=2.0, rng=rng)
    people += crossing_pair(250, 384, dy=4, speed=3.0, start_frame=30, rng=rng)
    people += [turn_back((-30, 215), (175, 215), speed=4, pause=3, start_frame=10, rng=rng),
               turn_back((414, 217), (191, 217), speed=4, pause=3, start_frame=10, rng=rng)]
    people += walking_group(random_person(rng, [(414, 270), (-40, 262)], speeds=4.0, start_frame=50),
                            [(16, 4)], rng=rng)
    return make_street_scene(seed, num_frames=num_frames, people=people, add_random=True, num_people=4,
                             occluders=False, fps=10)


def sequences(quick: bool):
    seqs = []
    for name in ("TUD-Campus", "TUD-Stadtmitte"):
        gt = tud_sequence(name)
        seqs.append(dict(name=name, group="target", gt=gt, fps=25.0, frames=None,
                         dets=noisy_detections(gt, seed=0, image_size=(640, 480))))
    for seed in ([0] if quick else [0, 1]):
        s = make_street_scene(seed, num_frames=300, num_people=12, fps=25)
        seqs.append(dict(name=f"street-25fps-{seed}", group="target", gt=s.gt, fps=25.0, frames=s.frames,
                         dets=noisy_detections(s.gt, seed=seed, image_size=s.size)))
    for seed in ([10, 11] if quick else [10, 11, 12]):
        s = crossing_scene(seed)
        seqs.append(dict(name=f"crossings-10fps-{seed}", group="crossings", gt=s.gt, fps=10.0, frames=s.frames,
                         dets=noisy_detections(s.gt, seed=seed, image_size=s.size)))
    return seqs


def trackers_for(fps: float, with_frames: bool):
    import trackers

    out = [("SORT", lambda: SORT(frame_rate=fps), False),
           ("ByteTrack", lambda: ByteTrack(frame_rate=fps), False),
           ("ByteTrack+lost", lambda: ByteTrack(frame_rate=fps, second_stage_lost=True), False),
           ("trackers.SORTTracker", lambda: trackers.SORTTracker(frame_rate=fps), False),
           ("trackers.ByteTrackTracker", lambda: trackers.ByteTrackTracker(frame_rate=fps), False)]
    if with_frames:
        out.insert(1, ("DeepSORT(reid)", lambda: DeepSORT(frame_rate=fps, embedder="reid"), True))
        out.insert(2, ("DeepSORT(hist)", lambda: DeepSORT(frame_rate=fps, embedder="histogram"), True))
    return out


def parity_table():
    """Max |difference| of our metrics vs motmetrics and trackers.eval on the TUD reference hypotheses."""
    import tempfile
    from pathlib import Path

    import motmetrics as mm
    import pandas as pd
    from trackers.eval import evaluate_mot_sequence

    rows = []
    for name in ("TUD-Campus", "TUD-Stadtmitte"):
        gt, hyp = tud_sequence(name), tud_sequence(name, "test")
        ours = mot_metrics(gt, hyp)

        def frame(r):
            df = pd.DataFrame(r[:, :6], columns=["FrameId", "Id", "X", "Y", "Width", "Height"])
            df[["FrameId", "Id"]] = df[["FrameId", "Id"]].astype(int)
            return df.set_index(["FrameId", "Id"])

        acc = mm.utils.compare_to_groundtruth(frame(gt), frame(hyp), "iou", distth=0.5)
        m = mm.metrics.create().compute(acc, metrics=["mota", "motp", "idf1"], name=name).iloc[0]
        with tempfile.TemporaryDirectory() as d:
            g = np.column_stack([gt[:, :6], np.ones((len(gt), 3))])
            np.savetxt(Path(d) / "gt.txt", g, delimiter=",", fmt="%.4f")
            np.savetxt(Path(d) / "hyp.txt", np.column_stack([hyp[:, :6], np.ones(len(hyp))]), delimiter=",", fmt="%.4f")
            te = evaluate_mot_sequence(Path(d) / "gt.txt", Path(d) / "hyp.txt", metrics=["CLEAR", "HOTA", "Identity"])
        d_mm = max(abs(ours["MOTA"] - m["mota"]), abs(ours["IDF1"] - m["idf1"]), abs(1 - ours["MOTP"] - m["motp"]))
        d_te = max(abs(ours["MOTA"] - te.CLEAR.MOTA), abs(ours["IDF1"] - te.Identity.IDF1),
                   abs(ours["MOTP"] - te.CLEAR.MOTP), abs(ours["HOTA"] - te.HOTA.HOTA),
                   abs(ours["DetA"] - te.HOTA.DetA), abs(ours["AssA"] - te.HOTA.AssA))
        rows.append((name, ours, d_mm, d_te))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)  # DeepSORT embeds a handful of crops per frame: one thread is fastest
    t_start = time.time()

    print("Metric parity on motmetrics' TUD reference hypotheses (max |diff| over MOTA/MOTP/IDF1[/HOTA/DetA/AssA])")
    for name, m, d_mm, d_te in parity_table():
        print(f"  {name:15s} MOTA {m['MOTA']:.6f} IDF1 {m['IDF1']:.6f} HOTA {m['HOTA']:.4f} FP {m['FP']} FN {m['FN']} "
              f"IDSW {m['IDSW']} | vs motmetrics {d_mm:.1e} | vs trackers.eval {d_te:.1e}")
    parity_ok = all(d_mm < 1e-3 and d_te < 1e-3 for *_, d_mm, d_te in parity_table())

    seqs = sequences(args.quick)
    print(f"\n{'sequence':22s} {'tracker':26s} {'MOTA':>6s} {'IDF1':>6s} {'HOTA':>6s} {'IDSW':>5s} {'FPS':>8s}")
    results = {}
    for s in seqs:
        for name, make, needs_frames in trackers_for(s["fps"], s["frames"] is not None):
            rows, sec = run_tracker(make(), s["dets"], s["frames"] if needs_frames else None)
            m = mot_metrics(s["gt"], rows)
            fps = len(s["dets"]) / max(sec, 1e-9)
            results[(s["name"], name)] = dict(m, FPS=fps)
            print(f"{s['name']:22s} {name:26s} {m['MOTA']:6.3f} {m['IDF1']:6.3f} {m['HOTA']:6.3f} {m['IDSW']:5d} {fps:8.0f}")
        print()

    target = [s["name"] for s in seqs if s["group"] == "target"]
    cross = [s["name"] for s in seqs if s["group"] == "crossings"]

    def mean(tracker, key, names):
        return float(np.mean([results[(n, tracker)][key] for n in names]))

    def total(tracker, key, names):
        return int(np.sum([results[(n, tracker)][key] for n in names]))

    print("Averages over the target sequences (TUD + street-25fps):")
    for tr in ("SORT", "ByteTrack", "ByteTrack+lost", "trackers.SORTTracker", "trackers.ByteTrackTracker"):
        print(f"  {tr:26s} MOTA {mean(tr, 'MOTA', target):.4f}  IDF1 {mean(tr, 'IDF1', target):.4f}  "
              f"HOTA {mean(tr, 'HOTA', target):.4f}  IDSW {total(tr, 'IDSW', target)}")
    print("ID switches summed over the crossing scenes:")
    for tr in ("SORT", "DeepSORT(reid)", "DeepSORT(hist)", "ByteTrack", "trackers.ByteTrackTracker"):
        print(f"  {tr:26s} IDSW {total(tr, 'IDSW', cross):3d}  IDF1 {mean(tr, 'IDF1', cross):.4f}")

    # speed: the whole benchmark's detections through both ByteTracks, alternating, median
    import trackers

    def run_all(make_tracker):
        def go():
            for s in seqs:
                trk = make_tracker(s["fps"])
                for d in s["dets"]:
                    trk.update(d)
        return go

    n_frames = sum(len(s["dets"]) for s in seqs)
    sp = compare_speed(run_all(lambda f: trackers.ByteTrackTracker(frame_rate=f)),
                       run_all(lambda f: ByteTrack(frame_rate=f)),
                       repeats=3 if args.quick else 7, names=("trackers.ByteTrackTracker", "companion ByteTrack"))
    sp_sort = compare_speed(run_all(lambda f: trackers.SORTTracker(frame_rate=f)),
                            run_all(lambda f: SORT(frame_rate=f)),
                            repeats=3 if args.quick else 7, names=("trackers.SORTTracker", "companion SORT"))
    print(f"\nSpeed over {n_frames} frames (tracker only, median of alternating runs):")
    print(f"  ByteTrack: trackers {n_frames / sp.median_a_s:,.0f} fps, companion {n_frames / sp.median_b_s:,.0f} fps, "
          f"ratio time(trackers)/time(companion) = {sp.ratio:.2f}")
    print(f"  SORT:      trackers {n_frames / sp_sort.median_a_s:,.0f} fps, companion {n_frames / sp_sort.median_b_s:,.0f} "
          f"fps, ratio = {sp_sort.ratio:.2f}")

    checks = [
        ("metric parity < 1e-3 vs motmetrics and trackers.eval", parity_ok),
        ("ByteTrack MOTA >= trackers.ByteTrackTracker (mean over target sequences)",
         mean("ByteTrack", "MOTA", target) >= mean("trackers.ByteTrackTracker", "MOTA", target)),
        ("ByteTrack IDF1 >= trackers.ByteTrackTracker (mean over target sequences)",
         mean("ByteTrack", "IDF1", target) >= mean("trackers.ByteTrackTracker", "IDF1", target)),
        ("ByteTrack speed ratio >= 1.0", sp.ratio >= 1.0),
        ("DeepSORT(reid) IDSW < SORT IDSW on crossings", total("DeepSORT(reid)", "IDSW", cross) < total("SORT", "IDSW", cross)),
    ]
    print()
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    print(f"\n(total {time.time() - t_start:.0f} s)")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
