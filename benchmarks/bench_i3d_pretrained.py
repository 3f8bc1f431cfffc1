#!/usr/bin/env python3
"""I3D from a real ImageNet network (26.2): inflated-pretrained vs inflated-random vs 2D-pretrained.

    python benchmarks/bench_i3d_pretrained.py            # re-trains the three arms (~10 CPU-minutes)
    python benchmarks/bench_i3d_pretrained.py --weights  # the shipped run's figures, re-measured weights
    python benchmarks/bench_i3d_pretrained.py --quick    # 1 epoch on 64 clips per arm: runs, no targets

Recipe: ``scripts/train_i3d_mobilenet.py`` (MobileNetV2 blocks [:14], 8-frame 48×48 synthetic action
clips, 512 training clips, 4 epochs, batch 16, AdamW with each arm's learning rate chosen on validation
clips of another seed, one thread; the 2D arm gets three times the steps for about the same CPU).
Targets (exit 1 if missed): the inflated-pretrained network's held-out accuracy (512 clips of seed 1)
beats the inflated-random one and the per-frame 2D-pretrained one by at least the recipe's
``MARGIN``, and the 2D arm's training CPU is at least ``BUDGET_RATIO`` of the inflated-pretrained
arm's (equal budgets).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BUDGET_RATIO = 0.8


def _recipe():
    from companion.bench import load_script

    return load_script("scripts/train_i3d_mobilenet.py")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", action="store_true", help="report the shipped run, re-measuring its weights")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    rec = _recipe()
    if a.weights:
        from companion.models.mobilenet_video import i3d_mobilenet_v2
        from companion.synthetic.actions import ActionClips
        from companion.training import evaluate

        ck = torch.load(rec.OUT, map_location="cpu", weights_only=False)
        arms, s = ck["arms"], ck["setup"]
        model = i3d_mobilenet_v2(8, depth=s["depth"], pretrained=False)
        model.load_state_dict(ck["state_dict"])
        acc = evaluate(model, ActionClips(s["n_test"], s["test_seed"], s["frames"], s["size"]))["acc"]
        print(f"shipped inflated-pretrained weights re-measured: {acc:.4f} (stored {arms['i3d_pretrained']['acc']:.4f})")
    else:
        setup = dict(rec.SETUP, n_train=64, n_val=32, n_test=64, epochs=1) if a.quick else rec.SETUP
        arms = {name: rec.run_arm(name, setup)[1] for name in rec.ARMS}
    print(f"{'arm':<20}{'lr':>7}{'held-out acc':>14}{'train CPU s':>13}{'steps':>7}   curve (validation acc per epoch)")
    for name, r in arms.items():
        print(f"{name:<20}{r['lr']:>7.0e}{r['acc']:>14.4f}{r['train_cpu_s']:>13.1f}{r['history']['steps']:>7}   "
              + " ".join(f"{v:.3f}" for v in r["history"]["val_acc"]))
    for name, by_seed in (ck.get("repeats", {}) if a.weights else {}).items():
        print(f"{name:<20} other training seeds: "
              + ", ".join(f"seed {k} {v['acc']:.4f}" for k, v in sorted(by_seed.items())))
    if a.quick:
        return 0
    best, ok, MARGIN = arms["i3d_pretrained"], True, rec.MARGIN
    for other in ("i3d_random", "frame2d_pretrained"):
        gap = best["acc"] - arms[other]["acc"]
        hit = gap >= MARGIN
        ok &= hit
        print(f"target: inflated-pretrained beats {other} by >= {MARGIN}: {gap:+.4f}", "met" if hit else "MISSED")
    ratio = arms["frame2d_pretrained"]["train_cpu_s"] / best["train_cpu_s"]
    hit = ratio >= BUDGET_RATIO
    ok &= hit
    print(f"target: 2D arm's training CPU >= {BUDGET_RATIO} x the inflated arm's: {ratio:.2f}", "met" if hit else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
