#!/usr/bin/env python3
"""Train the small factorised-encoder ViViT (26.3.3) on the synthetic actions, with the TimeSformer
recipe's stream (``train_stream`` in ``scripts/train_timesformer_actions.py``: fresh clips, each
also fed time-reversed with the partner label, a fixed number of steps, cosine lr, a DataLoader
worker rendering the clips).

    python scripts/train_vivit_actions.py              # writes companion/weights/vivit_actions.pt
    python scripts/train_vivit_actions.py --steps 100 --no-save

Model (``VIVIT_MODEL``): 8 frames of 32x32, tubelets 2x8x8 (4 time slots x 16 positions), width 64,
4 heads, MLP ratio 2, one spatial and one temporal block; the small-data settings of the TimeSformer
recipe (position table std 1, each clip standardised per channel, token means instead of class
tokens: with class tokens the first run sat at chance, loss 2.08 = ln 8 after 400 steps) — none
tells the model the order of frames. Held-out: ``ActionClips(800, seed=2)`` at 8 frames. The checkpoint holds
``{'state_dict', 'model', 'history', 'report'}`` (the report has the confusion matrix).
The measured run is recorded in the checkpoint's report and shown by notebook 26_3_3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "companion" / "weights"
PATH = WEIGHTS / "vivit_actions.pt"

VIVIT_MODEL = dict(num_frames=8, img_size=32, patch_size=8, tubelet_size=2, dim=64, spatial_depth=1,
                   temporal_depth=1, heads=4, mlp_ratio=2.0, num_classes=8, pos_std=1.0, input_norm="clip",
                   pool="mean")
#: Steps of the shipped run (the stream's other settings are the TimeSformer recipe's).
STEPS = 2000


def recipe():
    """``scripts/train_timesformer_actions.py`` as a module (its ``train_stream``, ``val_clips``)."""
    from companion.bench import load_script

    return load_script("scripts/train_timesformer_actions.py")


def build(cfg: dict):
    from companion.models.vivit import vivit

    return vivit(**cfg)


def train(steps: int = STEPS, **kw):
    """``(model, history, report)`` of a ViViT run on the stream (keywords go to ``train_stream``)."""
    return recipe().train_stream("vivit", steps=steps, build=build, model_cfg=VIVIT_MODEL, **kw)


def load_shipped():
    """The shipped ViViT (eval mode) and its checkpoint dict."""
    ckpt = torch.load(PATH, weights_only=False)
    model = build(ckpt["model"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    model, hist, report = train(a.steps, seed=a.seed, progress=not a.quiet)
    print(json.dumps({k: v for k, v in report.items() if k != "confusion"}), flush=True)
    if not a.no_save:
        WEIGHTS.mkdir(exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "model": report["model"], "history": hist,
                    "report": report}, PATH)
        print(f"wrote {PATH} ({PATH.stat().st_size / 1e6:.2f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
