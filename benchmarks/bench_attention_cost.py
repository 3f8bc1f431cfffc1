#!/usr/bin/env python3
"""Cost of joint, divided and factorised space-time attention against the number of frames (26.3).

    python benchmarks/bench_attention_cost.py           # T = 2..32, 7 timing repeats
    python benchmarks/bench_attention_cost.py --quick   # fewer T, 3 repeats

One layer of each kind at a fixed small width (112 x 112 frames, patch 16 -> N = 49 patches per
frame, D = 192, 3 heads: ViT-B's N/D ratio), batch 1, CPU, attention computed explicitly:

* MACs by ``FlopCounterMode`` (FLOPs / 2), checked against the exact analytic count of each
  model (``model.macs()``); SDPA would be counted as 0 on CPU, which is shown too;
* peak extra resident memory of a forward pass (``companion.bench.peak_memory``, median of 3);
* CPU time: joint vs divided and factorised vs divided alternating in the same process
  (``companion.bench.compare_speed``), median, reported as ratios and milliseconds.

Theoretical curves: attention-matrix MACs alone, joint ``2 (NT)^2 D`` and divided
``2 NT (N+T) D``; with the linear layers included the crossover is where the extra temporal
projections of the divided block (5 D^2 per token) cost as much as the attention joint adds:
``N T - N - T = 2.5 D`` (T ~ 10.9 here, ~10.9 for ViT-B at 224^2 too).

Targets (exit 1 if missed): counted MACs == analytic MACs for every model and T; joint is cheaper
than divided in MACs at T = 2 and dearer at T = 32; the MAC crossover lies within one step of the
analytic prediction; divided is faster than joint at T = 32 (time ratio joint/divided > 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from companion.bench import compare_speed, peak_memory
from companion.config import data_dir
from companion.models.attention import COST_KINDS, attention_matrix_macs, cost_model, count_macs

N_PATCHES, DIM, IMG, PATCH = 49, 192, 112, 16


def predicted_crossover(n: int = N_PATCHES, d: int = DIM) -> float:
    """Real T where joint and divided layer MACs are equal: N T - N - T = 2.5 D (cls tokens ignored)."""
    return (2.5 * d + n) / (n - 1)


def first_below(ts, a, b):
    """Smallest T from which a[T] < b[T] holds (for this T and all larger), or None."""
    for i, t in enumerate(ts):
        if all(x < y for x, y in zip(a[i:], b[i:])):
            return t
    return None


def sweep(ts, repeats: int = 7, *, time_it: bool = True, memory: bool = True, progress=None):
    rows = []
    it = progress(ts) if progress else ts
    for t in it:
        clip = torch.rand(1, 3, t, IMG, IMG)
        models = {k: cost_model(k, t, img_size=IMG, patch_size=PATCH, dim=DIM) for k in COST_KINDS}
        row = {"T": t, "tokens": N_PATCHES * t}
        with torch.no_grad():
            for k, m in models.items():
                row[f"macs_{k}"] = count_macs(m, clip)
                row[f"analytic_{k}"] = m.macs()
                row[f"attn_{k}"] = attention_matrix_macs(k, N_PATCHES, t, DIM)
                if memory:
                    row[f"mem_{k}"] = statistics.median(peak_memory(lambda m=m: m(clip)) for _ in range(3))
            if time_it:
                jd = compare_speed(lambda: models["joint"](clip), lambda: models["divided"](clip),
                                   repeats=repeats, names=("joint", "divided"))
                fd = compare_speed(lambda: models["factorised"](clip), lambda: models["divided"](clip),
                                   repeats=repeats, names=("factorised", "divided"))
                row.update(ms_joint=jd.median_a_s * 1e3, ms_divided=statistics.median(
                    [jd.median_b_s, fd.median_b_s]) * 1e3, ms_factorised=fd.median_a_s * 1e3,
                    ratio_joint=jd.ratio, ratio_factorised=fd.ratio)
        rows.append(row)
    return rows


def plot(rows, path=None):
    import matplotlib.pyplot as plt

    ts = [r["T"] for r in rows]
    colours = {"joint": "tab:red", "divided": "tab:blue", "factorised": "tab:green"}
    panels = [("macs", "GMACs (FlopCounterMode / 2)", 1e-9)]
    if "mem_joint" in rows[0]:
        panels.append(("mem", "peak extra RSS (MB)", 1e-6))
    if "ms_joint" in rows[0]:
        panels.append(("ms", "CPU time per clip (ms)", 1.0))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (key, label, scale) in zip(axes[0], panels):
        for k, c in colours.items():
            ax.plot(ts, [r[f"{key}_{k}"] * scale for r in rows], "o-", color=c, label=f"{k} (measured)")
        if key == "macs":
            # attention-only theory, scaled to meet the measured curve at the largest T
            last = rows[-1]
            for k in ("joint", "divided"):
                s = last[f"macs_{k}"] / last[f"attn_{k}"]
                ax.plot(ts, [r[f"attn_{k}"] * s * scale for r in rows], "--", color=colours[k], alpha=0.6,
                        label=f"∝ {'(NT)²' if k == 'joint' else 'NT(N+T)'}")
            x = predicted_crossover()
            ax.axvline(x, color="grey", ls=":", label=f"predicted crossover T≈{x:.1f}")
        ax.set_xlabel("frames T (N = 49 patches each)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_title(f"one layer, D = {DIM}")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=100)
    return fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frame counts and repeats")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    ts = [2, 4, 8, 12, 16, 24, 32] if args.quick else [2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32]
    rows = sweep(ts, repeats=3 if args.quick else 7)

    print(f"one layer, N={N_PATCHES} patches/frame, D={DIM}, batch 1, torch threads "
          f"{torch.get_num_threads()}")
    print(f"{'T':>3} {'tokens':>6} | {'GMACs joint':>11} {'divided':>8} {'factor.':>8} | "
          f"{'MB joint':>8} {'divided':>8} {'factor.':>8} | {'ms joint':>8} {'divided':>8} "
          f"{'factor.':>8} | {'t j/d':>6} {'t f/d':>6}")
    for r in rows:
        print(f"{r['T']:>3} {r['tokens']:>6} | {r['macs_joint'] / 1e9:>11.3f} {r['macs_divided'] / 1e9:>8.3f} "
              f"{r['macs_factorised'] / 1e9:>8.3f} | {r['mem_joint'] / 1e6:>8.1f} {r['mem_divided'] / 1e6:>8.1f} "
              f"{r['mem_factorised'] / 1e6:>8.1f} | {r['ms_joint']:>8.1f} {r['ms_divided']:>8.1f} "
              f"{r['ms_factorised']:>8.1f} | {r['ratio_joint']:>6.2f} {r['ratio_factorised']:>6.2f}")

    failures = []
    for r in rows:
        for k in COST_KINDS:
            if r[f"macs_{k}"] != r[f"analytic_{k}"]:
                failures.append(f"T={r['T']} {k}: counted {r[f'macs_{k}']} != analytic {r[f'analytic_{k}']}")
    # SDPA is invisible to FlopCounterMode on CPU
    t = ts[-1]
    sdpa = count_macs(cost_model("joint", t, backend="sdpa"), torch.rand(1, 3, t, IMG, IMG))
    print(f"\nFlopCounterMode at T={t}, joint: explicit attention {rows[-1]['macs_joint'] / 1e9:.3f} "
          f"GMACs, SDPA {sdpa / 1e9:.3f} GMACs (the attention matmuls are not counted)")

    j = [r["macs_joint"] for r in rows]
    d = [r["macs_divided"] for r in rows]
    cross = first_below(ts, d, j)
    pred = predicted_crossover()
    print(f"MAC crossover: divided cheaper than joint from T={cross} (analytic: T > {pred:.2f})")
    cross_t = first_below(ts, [r["ms_divided"] for r in rows], [r["ms_joint"] for r in rows])
    cross_m = first_below(ts, [r["mem_divided"] for r in rows], [r["mem_joint"] for r in rows])
    print(f"time crossover: divided faster than joint from T={cross_t}; "
          f"memory: divided below joint from T={cross_m}")
    print(f"at T={ts[-1]}: joint/divided MACs {j[-1] / d[-1]:.2f}, time {rows[-1]['ratio_joint']:.2f}; "
          f"factorised/divided MACs {rows[-1]['macs_factorised'] / d[-1]:.2f}, "
          f"time {rows[-1]['ratio_factorised']:.2f}")
    if not j[0] < d[0]:
        failures.append(f"joint should be cheaper than divided at T={ts[0]} (MACs {j[0]} vs {d[0]})")
    if not j[-1] > d[-1]:
        failures.append(f"joint should be dearer than divided at T={ts[-1]}")
    if cross is None:
        failures.append("no MAC crossover found")
    else:
        i = ts.index(cross)
        lo = ts[i - 1] if i else 0
        if not lo <= pred <= cross:
            failures.append(f"MAC crossover between T={lo} and {cross} but analytic {pred:.2f}")
    if not rows[-1]["ratio_joint"] > 1.0:
        failures.append(f"divided should be faster than joint at T={ts[-1]} "
                        f"(time ratio joint/divided {rows[-1]['ratio_joint']:.2f})")
    out = data_dir() / "bench_attention_cost.png"
    plot(rows, out)
    print(f"plot: {out}")
    for f in failures:
        print("TARGET MISSED:", f)
    print("OK" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
