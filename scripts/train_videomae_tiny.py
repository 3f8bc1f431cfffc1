#!/usr/bin/env python3
"""Pretrain a tiny VideoMAE on unlabelled synthetic action clips, then measure what the pretraining
bought: a frozen-feature linear probe, pretrained encoder vs the same encoder at its random
initialisation, over label counts from 1 to 64 clips per class.

    python scripts/train_videomae_tiny.py                      # writes companion/weights/videomae_tiny_actions.pt
    python scripts/train_videomae_tiny.py --pretrain-seconds 20 --no-save
    python scripts/train_videomae_tiny.py --from-weights       # redo only the evaluation

Recipe: ``companion.models.videomae.TINY_MAE`` (8 x 32 x 32 clips, tubelet 2x8x8 = 64 tokens, tube
masking at 0.75, encoder width 64 x 3 blocks, decoder width 32 x 1 block). Pretraining: 2,400
unlabelled clips (seed 11), AdamW lr 1.5e-3, betas (0.9, 0.95), wd 0.05, batch 32, cosine over
``--pretrain-epochs`` epochs (stops early after ``--pretrain-seconds`` CPU seconds). ``--target``:
``pixels`` (default: the masked tubelets' raw pixels) or ``norm`` (VideoMAE's per-tubelet
normalised pixels).

Evaluation, held-out seeds only:

* **reconstruction** of 200 held-out clips (seed 2) under fixed tube masks: the masked-tubelet MSE
  of the model against a guess that needs no learning — each masked pixel painted in the mean
  colour of the clip's visible pixels (tube masking hides a position in every frame, so there is
  no neighbouring frame to copy from);
* **linear probe**: encoder features (all tokens, averaged) of a labelled pool (512 clips, seed 12)
  and of 800 held-out clips (seed 2); for ``k`` = 1, 2, 4, ..., 64 labelled clips per class a
  logistic regression is fitted on disjoint draws from the pool (up to 4 draws, averaged) and
  scored on the held-out clips — for the pretrained encoder and for the same encoder before
  pretraining. ``<encoder>_pair`` is the same probe's accuracy at naming the reversal *pair*
  (move, rotate, scale, appear) whatever the direction: chance 0.25.

Measured (shipped run, defaults: 60 CPU s, 1,269 steps, pixel target): masked-tubelet loss 0.105 ->
0.021; held-out masked MSE 0.0209 (initial weights 0.1385, mean-visible-colour guess 0.0171: not yet
past the trivial guess); linear probe, pretrained vs initial encoder, k = 1..64: 0.117-0.173 vs
0.122-0.161 (chance 0.125), naming the pair 0.25-0.28 for both (chance 0.25) — no benefit in this
regime. Earlier runs with the normalised target (3,000 steps, 155 CPU s): loss 1.000 -> 0.991 and
fine-tuning with 160 labels at chance for both pretrained and scratch (0.123 vs 0.114).

The checkpoint holds ``{'state_dict' (the VideoMAE), 'losses', 'report'}``; ``report['probe']`` has
the curve, ``report['reconstruction']`` the held-out reconstruction errors. The numbers of the
shipped run are in the report and printed by ``benchmarks/bench_videomae_probe.py``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from companion.config import seed_everything
from companion.models.videomae import (TINY_MAE, encoder_features, linear_probe, normalized_pixel_target,
                                       patchify, pretrain, videomae)
from companion.synthetic.actions import ActionClips

WEIGHTS = Path(__file__).resolve().parents[1] / "companion" / "weights"
PATH = WEIGHTS / "videomae_tiny_actions.pt"
LABELS_PER_CLASS = (1, 2, 4, 8, 16, 32, 64)
DATA = dict(n_unlabelled=2400, unlabelled_seed=11, pool=512, pool_seed=12, n_val=800, val_seed=2, n_recon=200)


def clips(n: int, seed: int, cache: bool = True) -> ActionClips:
    return ActionClips(n, seed=seed, num_frames=TINY_MAE["num_frames"], size=TINY_MAE["img_size"], cache=cache)


@torch.no_grad()
def reconstruction_errors(mae, n: int = DATA["n_recon"], seed: int = DATA["val_seed"]) -> dict:
    """Masked-tubelet MSE on ``n`` held-out clips under fixed tube masks (mask seed 0), in the
    model's own target units, against predicting the clip's visible mean colour."""
    val = clips(n, seed)
    batch = torch.stack([val[i][0] for i in range(n)])
    mask = mae.make_mask(batch, generator=torch.Generator().manual_seed(0))
    mae.eval()
    loss, _, flat = mae(batch, mask)
    enc = mae.encoder
    if mae.norm_pix_loss:
        target = normalized_pixel_target(batch, enc.patch_size, enc.tubelet_size)
        baseline = float((target[flat] ** 2).mean())          # the visible mean is 0 in these units
    else:
        pix = patchify(batch, enc.patch_size, enc.tubelet_size)          # (B, L, tpp*C), channel last
        c = enc.in_channels
        vis = pix.reshape(*pix.shape[:2], -1, c) * (~flat)[..., None, None]
        mean = vis.sum((1, 2)) / ((~flat).sum(1)[:, None] * vis.shape[2])   # (B, C) visible mean colour
        guess = mean[:, None, None, :].expand(-1, pix.shape[1], vis.shape[2], c).reshape(pix.shape)
        baseline = float(F.mse_loss(guess[flat], pix[flat]))
    return dict(model_mse=float(loss), visible_mean_mse=baseline, ratio=float(loss) / baseline, n=n)


def probe_curve(encoders: dict, labels_per_class=LABELS_PER_CLASS, max_draws: int = 4,
                pool_n: int = DATA["pool"], n_val: int = DATA["n_val"]) -> dict:
    """Linear-probe held-out accuracy per encoder and label count (mean over disjoint draws)."""
    pool, val = clips(pool_n, DATA["pool_seed"]), clips(n_val, DATA["val_seed"])
    out = {"labels_per_class": list(labels_per_class)}
    for name, enc in encoders.items():
        px, py = encoder_features(enc, pool)
        vx, vy = encoder_features(enc, val)
        by_class = [torch.nonzero(py == c).flatten() for c in range(8)]
        accs, family = [], []
        for k in labels_per_class:
            draws = max(1, min(max_draws, min(len(i) for i in by_class) // k))
            runs, fam = [], []
            for d in range(draws):
                idx = torch.cat([i[d * k:(d + 1) * k] for i in by_class])
                acc, pred = linear_probe(px[idx], py[idx], vx, vy, num_classes=8, return_pred=True)
                runs.append(acc)
                fam.append(float((pred // 2 == vy // 2).float().mean()))   # right pair, either direction
            accs.append(round(sum(runs) / len(runs), 4))
            family.append(round(sum(fam) / len(fam), 4))
        out[name] = accs
        out[f"{name}_pair"] = family
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain-epochs", type=int, default=40)
    ap.add_argument("--pretrain-seconds", type=float, default=60.0)
    ap.add_argument("--target", choices=("pixels", "norm"), default="pixels")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--from-weights", action="store_true",
                    help="skip pretraining: load the shipped VideoMAE and redo only the evaluation")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    seed_everything(0)
    mae = videomae(**TINY_MAE, norm_pix_loss=a.target == "norm")
    initial = copy.deepcopy(mae)               # the same initial weights, never pretrained
    cpu0 = time.process_time()
    if a.from_weights:
        ckpt = torch.load(PATH, weights_only=False)
        mae = videomae(**ckpt["report"]["recipe"], norm_pix_loss=ckpt["report"]["target"] == "norm")
        mae.load_state_dict(ckpt["state_dict"])
        initial.load_state_dict(ckpt["initial_state_dict"])
        losses, pre_cpu = ckpt["losses"], ckpt["report"]["pretrain_cpu_s"]
    else:
        losses = pretrain(mae, clips(DATA["n_unlabelled"], DATA["unlabelled_seed"]), epochs=a.pretrain_epochs,
                          max_seconds=a.pretrain_seconds, progress=not a.quiet)
        pre_cpu = time.process_time() - cpu0
    first, last = sum(losses[:20]) / min(20, len(losses)), sum(losses[-20:]) / min(20, len(losses))
    print(f"pretraining: {len(losses)} steps, loss {first:.4f} (first 20) -> {last:.4f} (last 20), "
          f"{pre_cpu:.0f} CPU s", flush=True)
    recon = {"pretrained": reconstruction_errors(mae), "initial": reconstruction_errors(initial)}
    print("reconstruction:", json.dumps(recon), flush=True)
    cpu1 = time.process_time()
    probe = probe_curve({"pretrained": mae.encoder, "scratch": initial.encoder})
    print("probe:", json.dumps(probe), f"({time.process_time() - cpu1:.0f} CPU s)", flush=True)
    report = dict(recipe=TINY_MAE, target=a.target, data=DATA, pretrain_steps=len(losses),
                  pretrain_cpu_s=pre_cpu, pretrain_loss_first=first, pretrain_loss_last=last,
                  reconstruction=recon, probe=probe)
    if not a.no_save:
        WEIGHTS.mkdir(exist_ok=True)
        torch.save({"state_dict": mae.state_dict(), "initial_state_dict": initial.state_dict(),
                    "losses": losses, "report": report}, PATH)
        print(f"wrote {PATH} ({PATH.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
