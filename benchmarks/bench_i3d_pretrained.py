#!/usr/bin/env python3
"""I3D from a real ImageNet network (26.2): inflated-pretrained vs inflated-random vs 2D-pretrained.

    python benchmarks/bench_i3d_pretrained.py            # re-trains the three arms (a few CPU-minutes)
    python benchmarks/bench_i3d_pretrained.py --weights  # the shipped run's figures, re-measured weights
    python benchmarks/bench_i3d_pretrained.py --quick    # 1 epoch on 64 clips per arm: runs, no targets

Recipe: ``scripts/train_i3d_mobilenet.py`` (MobileNetV2 blocks [:14], 8-frame 32×32 synthetic action
clips, 512 training clips, 3 epochs, AdamW lr 1e-3, batch 16, one thread; the 2D arm gets twice the steps).
Targets (exit 1 if missed): the inflated-pretrained network's held-out accuracy (512 clips of seed 1)
beats the inflated-random one and the per-frame 2D-pretrained one (which gets twice the steps).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _recipe():
    spec = importlib.util.spec_from_file_location("train_i3d_mobilenet", ROOT / "scripts" / "train_i3d_mobilenet.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
        setup = dict(rec.SETUP, n_train=64, n_curve=32, n_test=64, epochs=1) if a.quick else rec.SETUP
        arms = {name: rec.run_arm(name, setup)[1] for name in rec.ARMS}
    print(f"{'arm':<20}{'held-out acc':>14}{'train CPU s':>13}{'steps':>7}   curve (held-out acc per epoch)")
    for name, r in arms.items():
        print(f"{name:<20}{r['acc']:>14.4f}{r['train_cpu_s']:>13.1f}{r['history']['steps']:>7}   "
              + " ".join(f"{v:.3f}" for v in r["history"]["val_acc"]))
    if a.quick:
        return 0
    ok = (arms["i3d_pretrained"]["acc"] > arms["i3d_random"]["acc"]
          and arms["i3d_pretrained"]["acc"] > arms["frame2d_pretrained"]["acc"])
    print("target (inflated-pretrained beats both):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
