#!/usr/bin/env python3
"""The 26.2 claim, measured: a per-frame 2D CNN is at chance on time-reversal pairs, a 3D CNN is not.

    python benchmarks/bench_time_matters.py          # full: the notebook 26.2.1 setting
    python benchmarks/bench_time_matters.py --quick  # a smaller run (claims reported, not enforced)

Same data (8-frame 32×32 synthetic clips, ``companion.synthetic.actions``), same loop
(``companion.training.fit``: AdamW, cosine, batch 32), same seed for both models. Targets
(full mode): 2D held-out accuracy inside every reversal pair ≤ 0.60; 3D held-out accuracy ≥ 0.95;
each training ≤ 180 s on 2 CPU cores. On a shared machine wall time includes waiting for the CPU,
so the time target is checked on process CPU time ÷ 2 (the wall time of 2 fully available cores);
both are printed. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from companion.config import seed_everything
from companion.models import frame_cnn, video_resnet
from companion.synthetic.actions import CLASSES, REVERSAL_PAIRS, ActionClips
from companion.training import evaluate, fit, predict

FULL = dict(n_train=1536, n_test=512, epochs=6)
QUICK = dict(n_train=128, n_test=128, epochs=2)


def pair_accuracy(model, ds) -> dict:
    logits, y = predict(model, ds, batch_size=64)
    out = {}
    for a, b in REVERSAL_PAIRS:
        sel = (y == a) | (y == b)
        pick = logits[sel][:, [a, b]].argmax(1)
        out[f"{CLASSES[a]}/{CLASSES[b]}"] = (pick == (y[sel] == b).long()).float().mean().item()
    return out


def run(n_train: int, n_test: int, epochs: int, threads: int = 2) -> dict:
    torch.set_num_threads(threads)
    train = ActionClips(n_train, seed=0, num_frames=8, size=32, cache=True)
    test = ActionClips(n_test, seed=1, num_frames=8, size=32, cache=True)
    out = {}
    for name, build in [("3D (r3d)", lambda: video_resnet("r3d", num_classes=8, widths=(8, 16, 32, 64))),
                        ("2D per-frame", lambda: frame_cnn(num_classes=8, widths=(8, 16, 32, 64)))]:
        seed_everything(0)
        model = build()
        c0, t0 = time.process_time(), time.perf_counter()
        hist = fit(model, train, None, epochs=epochs, batch_size=32, lr=3e-3, weight_decay=1e-4, seed=0,
                   desc=name)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        ev = evaluate(model, test)
        out[name] = dict(acc=ev["acc"], pairs=pair_accuracy(model, test), cpu_s=cpu, wall_s=wall,
                         train_acc=hist.train_acc[-1])
        print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out[name].items()}, flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    cfg = QUICK if a.quick else FULL
    res = run(**cfg)
    print(f"config {cfg}, 2 threads")
    print(f"{'model':<14}{'held-out acc':>13}{'worst pair':>11}{'best pair':>10}{'train wall s':>13}{'CPU s / 2':>10}")
    for name, r in res.items():
        pv = list(r["pairs"].values())
        print(f"{name:<14}{r['acc']:>13.3f}{min(pv):>11.3f}{max(pv):>10.3f}{r['wall_s']:>13.1f}{r['cpu_s'] / 2:>10.1f}")
    for name, r in res.items():
        print(name, "pair accuracies:", {k: round(v, 3) for k, v in r["pairs"].items()})
    ok = True
    if not a.quick:
        two, three = res["2D per-frame"], res["3D (r3d)"]
        checks = {"2D ≤ 0.60 on every reversal pair": max(two["pairs"].values()) <= 0.60,
                  "3D ≥ 0.95 held-out": three["acc"] >= 0.95,
                  "2D training ≤ 180 s on 2 cores": two["cpu_s"] / 2 <= 180,
                  "3D training ≤ 180 s on 2 cores": three["cpu_s"] / 2 <= 180}
        for k, v in checks.items():
            print(f"{'ok    ' if v else 'MISSED'} {k}")
        ok = all(checks.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
