#!/usr/bin/env python3
"""The lab's default pipeline against exact ground truth on the scripted synthetic street scenes.

Loops every scene kind (:data:`companion.lab.scenarios.KINDS`) over seeds ``0..N-1`` and prints,
per scene, the true and counted ``in / out / distinct`` and whether they are exactly equal; the
last line is the score (exact scenes / all scenes). The tests assert exactness on seeds 0-2
(``tests/test_lab_pipeline.py``); this script shows how far it generalises.

    python benchmarks/bench_lab_synthetic.py              # seeds 0-7 (32 scenes)
    python benchmarks/bench_lab_synthetic.py --seeds 12   # seeds 0-11
    python benchmarks/bench_lab_synthetic.py --quick      # seeds 0-2 (the tested set)

Exits 1 when a scene of the tested set (seeds 0-2) is not exact.

Measured (2-core machine, ~0.7 s a scene): exact on 12 of 12 tested scenes, 30 of 32 over seeds
0-7, 28 of 32 over seeds 8-15 and 30 of 32 over seeds 16-23. Before the tracker's predictions were
used to cut merged blobs, tracks were stitched across short breaks and the height model stopped
extrapolating, the same loops gave 10 / 27 / 27 / 26. The misses left are id swaps between two
people who pass each other near the line while turning round (turnbacks) or behind an occluder.
"""

from __future__ import annotations

import argparse
import sys
import time

from companion.lab.pipeline import run_lab
from companion.lab.scenarios import KINDS, ground_truth, make_scene

TESTED_SEEDS = 3


def score(kinds=KINDS, seeds=range(8), tracker="bytetrack", detector="bgsub", verbose=True):
    rows = []
    for kind in kinds:
        for seed in seeds:
            scene, line = make_scene(kind, seed)
            gt = ground_truth(scene, line)
            t0 = time.perf_counter()
            res = run_lab(scene.frames, line=line, fps=scene.fps, detector=detector,
                          tracker=tracker, write_files=False, progress=False)
            dt = time.perf_counter() - t0
            true = (gt.in_count, gt.out_count, gt.distinct)
            got = (res.in_count, res.out_count, res.distinct)
            rows.append((kind, seed, true, got, true == got))
            if verbose:
                print(f"{kind:<11s} seed {seed:2d}  true {true[0]}/{true[1]}/{true[2]}  "
                      f"counted {got[0]}/{got[1]}/{got[2]}  {'exact' if true == got else 'WRONG'}"
                      f"  ({len(scene.frames)} frames, {dt:.1f} s)", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=8, help="seeds 0..N-1 of every kind (default 8)")
    ap.add_argument("--quick", action="store_true", help="only the tested seeds 0-2")
    ap.add_argument("--tracker", default="bytetrack")
    ap.add_argument("--detector", default="bgsub")
    args = ap.parse_args(argv)
    n = TESTED_SEEDS if args.quick else args.seeds
    rows = score(seeds=range(n), tracker=args.tracker, detector=args.detector)
    exact = sum(r[4] for r in rows)
    tested = [r for r in rows if r[1] < TESTED_SEEDS]
    print(f"\nexact on {exact} of {len(rows)} scenes (seeds 0-{n - 1} x {len(KINDS)} kinds); "
          f"tested set (seeds 0-{TESTED_SEEDS - 1}): {sum(r[4] for r in tested)} of {len(tested)}")
    return 0 if all(r[4] for r in tested) else 1


if __name__ == "__main__":
    sys.exit(main())
