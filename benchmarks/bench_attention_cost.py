#!/usr/bin/env python3
"""Cost of joint, divided and factorised space-time attention against the number of frames (26.3).

    python benchmarks/bench_attention_cost.py           # T = 2..32, 7 timing repeats
    python benchmarks/bench_attention_cost.py --quick   # fewer T, 3 repeats

One layer of each kind at a fixed small width (112 x 112 frames, patch 16 -> N = 49 patches per
frame, D = 192, 3 heads: ViT-B's N/D ratio), batch 1, CPU, attention computed explicitly:

* MACs by ``FlopCounterMode`` (FLOPs / 2), checked against the exact analytic count of each
  model (``model.macs()``); SDPA would be counted as 0 on CPU, which is shown too;
* memory of a forward pass: peak bytes of live activations (deterministic, counted per op) and
  the peak extra resident memory (``companion.bench.peak_memory``, median of 3 — noisy, the
  allocator reuses freed pages);
* time: median CPU time of the calling thread (one PyTorch thread by default, so other processes
  on a shared machine barely disturb it), and the wall-time ratios joint/divided and
  factorised/divided alternating in the same process (``companion.bench.compare_speed``).

Theoretical curves: attention-matrix MACs alone, joint ``2 (NT)^2 D`` and divided
``2 NT (N+T) D``; with the linear layers included the crossover is where the extra temporal
projections of the divided block (5 D^2 per token) cost as much as the attention joint adds:
``N T - N - T = 2.5 D`` (T > 11.0 here; T > 10.9 for ViT-B at 224^2).

Targets (exit 1 if missed): counted MACs == analytic MACs for every model and T; joint is cheaper
than divided in MACs at T = 2 and dearer at T = 32; the MAC crossover lies within one step of the
analytic prediction; at T = 32 divided takes less CPU time than joint and joint holds more than
twice the live activations of divided.
"""

from __future__ import annotations

import argparse
import sys

import torch

from companion.config import data_dir
from companion.models.attention import (COST_KINDS, cost_model, cost_sweep, count_macs, first_below,
                                        plot_cost_sweep, predicted_crossover)

N_PATCHES, DIM, IMG, PATCH = 49, 192, 112, 16


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frame counts and repeats")
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads (1: CPU time is clean)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    ts = [2, 4, 8, 12, 16, 24, 32] if args.quick else [2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32]
    rows = cost_sweep(ts, img_size=IMG, patch_size=PATCH, dim=DIM, heads=3,
                      repeats=3 if args.quick else 7)

    print(f"one layer, N={N_PATCHES} patches/frame, D={DIM}, batch 1, torch threads "
          f"{torch.get_num_threads()}; j = joint, d = divided, f = factorised")
    print(f"{'T':>3} {'tokens':>6} | {'GMACs j':>8} {'d':>7} {'f':>7} | {'act MB j':>8} {'d':>6} {'f':>6} | "
          f"{'RSS MB j':>8} {'d':>6} {'f':>6} | {'CPU ms j':>8} {'d':>7} {'f':>7} | {'wall j/d':>8} {'f/d':>5}")
    for r in rows:
        print(f"{r['T']:>3} {r['tokens']:>6} | {r['macs_joint'] / 1e9:>8.3f} {r['macs_divided'] / 1e9:>7.3f} "
              f"{r['macs_factorised'] / 1e9:>7.3f} | {r['act_joint'] / 1e6:>8.1f} {r['act_divided'] / 1e6:>6.1f} "
              f"{r['act_factorised'] / 1e6:>6.1f} | {r['mem_joint'] / 1e6:>8.1f} {r['mem_divided'] / 1e6:>6.1f} "
              f"{r['mem_factorised'] / 1e6:>6.1f} | {r['cpu_ms_joint']:>8.1f} {r['cpu_ms_divided']:>7.1f} "
              f"{r['cpu_ms_factorised']:>7.1f} | {r['ratio_joint']:>8.2f} {r['ratio_factorised']:>5.2f}")

    failures = []
    for r in rows:
        for k in COST_KINDS:
            if r[f"macs_{k}"] != r[f"analytic_{k}"]:
                failures.append(f"T={r['T']} {k}: counted {r[f'macs_{k}']} != analytic {r[f'analytic_{k}']}")
    t = ts[-1]
    sdpa = count_macs(cost_model("joint", t, backend="sdpa"), torch.rand(1, 3, t, IMG, IMG))
    print(f"\nFlopCounterMode at T={t}, joint: explicit attention {rows[-1]['macs_joint'] / 1e9:.3f} "
          f"GMACs, SDPA {sdpa / 1e9:.3f} GMACs (the attention matmuls are not counted)")

    j = [r["macs_joint"] for r in rows]
    d = [r["macs_divided"] for r in rows]
    pred = predicted_crossover(N_PATCHES, DIM)
    cross = first_below(ts, d, j)
    cross_cpu = first_below(ts, [r["cpu_ms_divided"] for r in rows], [r["cpu_ms_joint"] for r in rows])
    cross_act = first_below(ts, [r["act_divided"] for r in rows], [r["act_joint"] for r in rows])
    print(f"crossover, divided below joint from: MACs T={cross} (analytic T > {pred:.2f}); "
          f"CPU time T={cross_cpu}; live activations T={cross_act}")
    last = rows[-1]
    print(f"at T={t}: joint/divided MACs {j[-1] / d[-1]:.2f}, activations "
          f"{last['act_joint'] / last['act_divided']:.2f}, CPU time {last['cpu_ms_joint'] / last['cpu_ms_divided']:.2f}, "
          f"wall time {last['ratio_joint']:.2f}; factorised/divided MACs {last['macs_factorised'] / d[-1]:.2f}, "
          f"CPU time {last['cpu_ms_factorised'] / last['cpu_ms_divided']:.2f}")
    if not j[0] < d[0]:
        failures.append(f"joint should be cheaper than divided at T={ts[0]} (MACs {j[0]} vs {d[0]})")
    if not j[-1] > d[-1]:
        failures.append(f"joint should be dearer than divided at T={t}")
    if cross is None:
        failures.append("no MAC crossover found")
    else:
        i = ts.index(cross)
        lo = ts[i - 1] if i else 0
        if not lo <= pred <= cross:
            failures.append(f"MAC crossover between T={lo} and {cross} but analytic {pred:.2f}")
    if not last["cpu_ms_joint"] > last["cpu_ms_divided"]:
        failures.append(f"divided should take less CPU time than joint at T={t}")
    if not last["act_joint"] > 2 * last["act_divided"]:
        failures.append(f"joint should hold > 2x the activations of divided at T={t}")
    out = data_dir() / "bench_attention_cost.png"
    plot_cost_sweep(rows, out)
    print(f"plot: {out}")
    for f in failures:
        print("TARGET MISSED:", f)
    print("OK" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
