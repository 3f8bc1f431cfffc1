#!/usr/bin/env python3
"""26.4 evaluation: our trained RAFT-small vs classical flow, one table.

    python benchmarks/bench_flow_eval.py            # 16 held-out synthetic pairs + the stereo pair
    python benchmarks/bench_flow_eval.py --quick    # 4 synthetic pairs

Columns: EPE (px) and share of pixels with EPE > 3 px (%), on held-out synthetic pairs
(:func:`companion.flow.evaluation.heldout_synthetic`, a seed the training never uses) and on the
real Middlebury "motorcycle" stereo pair shipped by scikit-image (flow = (−disparity, 0), pixels
without disparity skipped; never used for training). Target: RAFT beats Farneback and TV-L1 on
both EPEs; DIS is reported as it comes. Exits 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--iters", type=int, default=24)
    args = ap.parse_args(argv)
    import pandas as pd
    import torch

    from companion.flow.evaluation import default_methods, evaluation_table, raft_flow_fn

    torch.set_num_threads(1)
    pd.set_option("display.width", 160)
    t0 = time.time()
    methods = default_methods(num_flow_updates=args.iters)
    methods["RAFT-small (ours), run at ½ resolution"] = raft_flow_fn(num_flow_updates=args.iters, scale=0.5)
    table = evaluation_table(methods, n_synthetic=4 if args.quick else 16, progress=False)
    print(table.to_string())
    print(f"({time.time() - t0:.0f} s)")
    ours = table.loc["RAFT-small (ours, synthetic)"]
    ok = True
    for col in ("synthetic EPE", "motorcycle EPE"):
        for rival in ("Farneback", "TV-L1"):
            hit = ours[col] < table.loc[rival, col]
            ok &= hit
            print(f"{col}: RAFT {ours[col]:.2f} vs {rival} {table.loc[rival, col]:.2f}: {'beats' if hit else 'MISSED'}")
        dis = table.loc["DIS (medium)", col]
        print(f"{col}: RAFT {ours[col]:.2f} vs DIS {dis:.2f}: {'RAFT better' if ours[col] < dis else 'DIS better'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
