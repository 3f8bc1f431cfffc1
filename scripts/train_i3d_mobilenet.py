#!/usr/bin/env python3
"""I3D from a real ImageNet network: inflated-pretrained vs inflated-random vs 2D-pretrained.

    python scripts/train_i3d_mobilenet.py            # the three arms, writes the shipped weights
    python scripts/train_i3d_mobilenet.py --no-save

Arms (``companion.models.mobilenet_video``; MobileNetV2 feature blocks [:14], 96 channels):

* ``i3d_pretrained`` — ImageNet MobileNetV2 inflated (depthwise 3×3 → 3×3×3, pointwise 1×1 → 1×1×1);
* ``i3d_random``     — the same inflated architecture, PyTorch's default initialisation;
* ``frame2d_pretrained`` — the ImageNet MobileNetV2 applied per frame, logits averaged over time.

Same data and loop for all: 8-frame 32×32 synthetic action clips, 512 training clips (seed 0),
``fit`` with AdamW lr 1e-3, weight decay 1e-4, cosine, batch 16, seed 0, one thread; held-out
accuracy on 128 clips of seed 1 after every epoch (the curve; nothing is selected on it) and the
final figure on 512 held-out clips of seed 1. The 2D arm costs less than half as much per step,
so it gets twice the epochs (measured: 68 CPU-s against 94 for the inflated arms). Writes
``companion/weights/i3d_mobilenet_v2_actions.pt`` (the inflated-pretrained weights) with every
arm's curve, held-out accuracy, confusion matrix and CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from companion.config import seed_everything
from companion.models.frame_cnn import FrameCNN
from companion.models.mobilenet_video import i3d_mobilenet_v2, mobilenet_v2_classifier
from companion.synthetic.actions import ActionClips
from companion.training import evaluate, fit

OUT = Path(__file__).resolve().parents[1] / "companion" / "weights" / "i3d_mobilenet_v2_actions.pt"
SETUP = dict(frames=8, size=32, n_train=512, train_seed=0, n_curve=128, n_test=512, test_seed=1,
             epochs=3, batch_size=16, lr=1e-3, weight_decay=1e-4, seed=0, depth=14)
ARMS = {
    "i3d_pretrained": (lambda d: i3d_mobilenet_v2(8, depth=d, pretrained=True), 1),
    "i3d_random": (lambda d: i3d_mobilenet_v2(8, depth=d, pretrained=False), 1),
    "frame2d_pretrained": (lambda d: FrameCNN(mobilenet_v2_classifier(8, depth=d, pretrained=True)), 2),
}


def run_arm(name: str, s: dict = SETUP, progress: bool = False) -> tuple[torch.nn.Module, dict]:
    train = ActionClips(s["n_train"], s["train_seed"], s["frames"], s["size"], cache=True)
    curve = ActionClips(s["n_curve"], s["test_seed"], s["frames"], s["size"], cache=True)
    test = ActionClips(s["n_test"], s["test_seed"], s["frames"], s["size"], cache=True)
    build, epoch_factor = ARMS[name]
    seed_everything(s["seed"])
    model = build(s["depth"])
    c0 = time.process_time()
    hist = fit(model, train, curve, epochs=s["epochs"] * epoch_factor, batch_size=s["batch_size"], lr=s["lr"],
               weight_decay=s["weight_decay"], seed=s["seed"], progress=progress, desc=name)
    cpu = time.process_time() - c0
    ev = evaluate(model, test)
    steps_per_epoch = s["n_train"] // s["batch_size"]
    return model, {"arm": name, "acc": ev["acc"], "per_class": ev["per_class"], "confusion": ev["confusion"],
                   "history": hist.as_dict(), "steps": [steps_per_epoch * (i + 1) for i in range(len(hist.val_acc))],
                   "train_cpu_s": cpu}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("arms", nargs="*", default=list(ARMS))
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    results, keep = {}, None
    for name in a.arms:
        model, rep = run_arm(name)
        results[name] = rep
        if name == "i3d_pretrained":
            keep = model
        print(json.dumps({"arm": name, "acc": round(rep["acc"], 4), "curve": [round(v, 3) for v in rep["history"]["val_acc"]],
                          "train_cpu_s": round(rep["train_cpu_s"], 1)}), flush=True)
    if not a.no_save and keep is not None:
        torch.save({"state_dict": keep.state_dict(), "setup": SETUP, "arms": results}, OUT)
        print("wrote", OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
