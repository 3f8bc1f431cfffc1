#!/usr/bin/env python3
"""Companion video ResNets vs torchvision: forward time on the same input, alternating runs.

    python benchmarks/bench_video_cnns.py            # 16×112×112 clip, 7 alternating repeats
    python benchmarks/bench_video_cnns.py --quick    # 8×112×112, 3 repeats

Target: companion ``r2plus1d_18`` and ``r3d_18`` forward ≤ 1.05× torchvision's (eval mode,
no_grad, same weights, same input). Prints a table of ratios; exits 1 if a target is missed.
Also prints the max |difference| of the outputs (parity) and the FLOPs (÷2 = torchvision GFLOPS).
"""

from __future__ import annotations

import argparse
import sys

import torch
from torchvision.models import video as tv

from companion.bench import compare_speed
from companion.models import mc3_18, r2plus1d_18, r3d_18
from companion.models.cost import gmacs

TARGET = 1.05
MODELS = {"r3d_18": (r3d_18, tv.r3d_18, True), "r2plus1d_18": (r2plus1d_18, tv.r2plus1d_18, True),
          "mc3_18": (mc3_18, tv.mc3_18, False)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter clip, fewer repeats")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    p.add_argument("--models", nargs="*", default=["r3d_18", "r2plus1d_18"], choices=list(MODELS))
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    frames, repeats = (8, 3) if a.quick else (16, 7)
    torch.manual_seed(0)
    x = torch.randn(1, 3, frames, 112, 112)
    rows, ok = [], True
    for name in a.models:
        ours_fn, ref_fn, has_target = MODELS[name]
        ref = ref_fn().eval()
        ours = ours_fn().eval()
        ours.load_state_dict(ref.state_dict(), strict=True)
        with torch.no_grad():
            diff = (ours(x) - ref(x)).abs().max().item()

            def run_ours():
                with torch.no_grad():
                    ours(x)

            def run_ref():
                with torch.no_grad():
                    ref(x)

            cmp = compare_speed(run_ours, run_ref, repeats=repeats, warmup=1, names=(f"companion {name}", f"torchvision {name}"))
        passed = (cmp.ratio <= TARGET) or not has_target
        ok &= passed
        rows.append((name, cmp.median_a_s * 1e3, cmp.median_b_s * 1e3, cmp.ratio, diff, gmacs(ours, x),
                     "ok" if passed else "MISSED"))
    print(f"forward, eval, no_grad, input (1, 3, {frames}, 112, 112), {torch.get_num_threads()} threads, "
          f"{repeats} alternating repeats (median)")
    print(f"{'model':<13}{'companion ms':>14}{'torchvision ms':>16}{'ratio':>8}{'max |diff|':>12}{'GMACs':>8}  target ≤{TARGET}")
    for name, a_ms, b_ms, ratio, diff, g, status in rows:
        print(f"{name:<13}{a_ms:>14.1f}{b_ms:>16.1f}{ratio:>8.3f}{diff:>12.2e}{g:>8.2f}  {status}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
