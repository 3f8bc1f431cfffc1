#!/usr/bin/env python3
"""Train the small TimeSformer (divided, and the space-only control) on the synthetic actions.

    python scripts/train_timesformer_actions.py                    # both, writes the weights
    python scripts/train_timesformer_actions.py --attention divided --no-save

Recipe (``companion.models.timesformer.ACTIONS_*``): 8 frames of 32x32, patch 8 (128 tokens),
width 64, 3 blocks, 4 heads (~0.16 M parameters), spatial and temporal position tables initialised
with std 1, clips standardised per channel, mean-pooled patch tokens classified; 2,400 training clips
(seed 1), 800 held-out (seed 2, the first 200 give the per-epoch curve); AdamW lr 1e-3, weight
decay 0.05, batch 16, 100 warm-up steps then cosine, 12 epochs, seed 0; one PyTorch thread.
Writes ``companion/weights/timesformer_actions_<attention>.pt`` with ``{'state_dict', 'history',
'report'}`` (~0.7 MB each).

Measured here (shared, heavily loaded 2-core machine, one PyTorch thread):

=========  ============  ================  ===========  =======  ========
model      held-out acc  within-pair acc   CPU seconds  wall s   epochs
=========  ============  ================  ===========  =======  ========
divided    0.632         0.825             169          392      12
space      0.166 (0.144 on reload)  0.501  121          702      12
=========  ============  ================  ===========  =======  ========

Held-out accuracy per epoch (divided, first 200 held-out clips): .135 .11 .24 .355 .445 .435 .495
.57 .62 .63 .65 .665. The issue's target (>= 90 % in <= 3 min) is NOT met by this recipe: it
reaches 63 % in 169 CPU s. With 30 epochs (404 CPU s): 73.4 % held-out, within-pair 0.878, train
accuracy 1.00 — limited by over-fitting 2,400 clips, not by time. Earlier recipes: ViT defaults (pos std 0.02, class token, raw pixels)
stayed at chance for 2+ epochs; with the temporal table at zero: 41 % held-out, within-pair 0.51.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from companion.models.timesformer import train_on_actions

WEIGHTS = Path(__file__).resolve().parents[1] / "companion" / "weights"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attention", choices=["divided", "space", "joint", "both"], default="both")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    kinds = ["divided", "space"] if args.attention == "both" else [args.attention]
    for kind in kinds:
        extra = {"lr": args.lr} if args.lr else {}
        model, hist, report = train_on_actions(kind, epochs=args.epochs, n_train=args.n_train,
                                               threads=args.threads, progress=not args.quiet, **extra)
        short = {k: v for k, v in report.items() if k != "confusion"}
        short["val_acc_per_epoch"] = [round(a, 4) for a in hist.val_acc]
        print(json.dumps(short), flush=True)
        if not args.no_save:
            WEIGHTS.mkdir(exist_ok=True)
            path = WEIGHTS / f"timesformer_actions_{kind}.pt"
            torch.save({"state_dict": model.state_dict(), "history": hist.as_dict(), "report": report}, path)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
