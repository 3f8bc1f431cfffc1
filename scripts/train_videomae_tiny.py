#!/usr/bin/env python3
"""Pretrain a tiny VideoMAE on unlabelled synthetic action clips and measure, at snapshots along
the way, what the pretraining has bought: held-out reconstruction against two no-learning
baselines, a frozen linear probe with few labels, and (at the end) fine-tuning with few labels —
the pretrained encoder against the same encoder at its random initialisation.

    python scripts/train_videomae_tiny.py                      # writes companion/weights/videomae_tiny_actions.pt
    python scripts/train_videomae_tiny.py --steps 600 --no-save
    python scripts/train_videomae_tiny.py --from-weights       # redo only the evaluation

Recipe: ``companion.models.videomae.TINY_MAE`` (8 x 32 x 32 clips, tubelet 2x8x8 = 64 tokens, tube
masking at ``--mask-ratio`` (0.75), encoder width 64 x 3 blocks, decoder width 32 x 1 block).
Pretraining: 2,400 unlabelled clips (seed 11), AdamW lr 1.5e-3, betas (0.9, 0.95), wd 0.05, batch
32, 50 warm-up steps then cosine to ``--steps``; the weights are snapshotted (float16) at
:data:`CURVE_STEPS` and every measurement is made on the snapshot as saved. ``--target``:
``pixels`` (the masked tubelets' raw pixels) or ``norm`` (VideoMAE's per-tubelet normalised
pixels).

Evaluation, held-out seeds only (:func:`evaluate_snapshot`, :func:`finetune_curve`):

* **reconstruction** of 200 held-out clips (seed 2) under fixed tube masks (mask seed 0): masked-
  tubelet MSE in pixel units against two guesses that need no learning — every hidden pixel
  painted in the mean colour of the clip's visible pixels, and every hidden tubelet copied from
  the nearest visible tubelet of the same time slot (:func:`companion.models.videomae.copy_nearest_visible`),
  overall and split into tubelets at *moving* positions (where the clip changes: the actor, the
  discs) and *static* ones (background). With the ``norm`` target the errors are in normalised
  units and the mean guess is 0 (the tubelet mean);
* **linear probe** on frozen features of a labelled pool (512 clips, seed 12) scored on 400
  held-out clips (seed 2), ``k`` = 4 and 16 labelled clips per class, 3 disjoint draws (the
  probe's seeds); two poolings — ``tokens`` (the token average the classifier uses) and ``slots``
  (one average per time slot, concatenated in time order);
* **fine-tuning** (encoder + head, :class:`VideoMAEClassifier`, AdamW lr 1e-3, wd 0.05, 200 steps of
  batch 32) on the same draws, pretrained vs initial weights, held-out accuracy.

Measured (shipped run, defaults: 3,000 steps, 112 CPU s): held-out masked MSE 0.1385 (step 0) ->
0.0210 (250) -> 0.0168 (3,000) against 0.0171 for the mean colour and 0.0319 for the copy; on
moving tubelets 0.0301 vs 0.0308. Token-average probe 0.116-0.147 at every snapshot (chance
0.125); slot probe, k=16, 0.177 -> 0.255-0.297 (steps 250-2,000) -> 0.182; fine-tuning 0.147 vs
0.122 (k=4) and 0.145 vs 0.134 (k=16), pretrained vs step 0. 1,000-step runs (``--steps 1000
--no-finetune --no-save``): ratio 0.5 / 0.75 / 0.9 end at 0.0208 / 0.0206 / 0.0211 against
0.0166 / 0.0171 / 0.0184; ``--target norm`` at 0.9909 against 0.9922. ``--steps 6000 --no-finetune --no-save`` (241 CPU s):
0.0161 against 0.0171 (moving 0.0294 vs 0.0308), slot probe k=16 0.333, token probe 0.143.

The checkpoint holds ``{'snapshots': {step: state_dict (float16)}, 'losses', 'report'}``;
``report['curve']`` the per-snapshot measurements, ``report['finetune']`` the fine-tuning table.
``benchmarks/bench_videomae_probe.py`` re-measures both from the shipped snapshots.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from companion.config import seed_everything
from companion.models.videomae import (TINY_MAE, copy_nearest_visible, encoder_features, linear_probe,
                                       normalized_pixel_target, patchify, videomae, videomae_classifier)
from companion.synthetic.actions import ActionClips

WEIGHTS = Path(__file__).resolve().parents[1] / "companion" / "weights"
PATH = WEIGHTS / "videomae_tiny_actions.pt"
CURVE_STEPS = (0, 250, 500, 1000, 2000, 3000)
LABELS_PER_CLASS = (4, 16)
SEEDS = (0, 1, 2)
DATA = dict(n_unlabelled=2400, unlabelled_seed=11, pool=512, pool_seed=12, n_val=400, val_seed=2, n_recon=200)
FINETUNE = dict(steps=200, batch_size=32, lr=1e-3, weight_decay=0.05, warmup_steps=20)


def clips(n: int, seed: int, cache: bool = True) -> ActionClips:
    return ActionClips(n, seed=seed, num_frames=TINY_MAE["num_frames"], size=TINY_MAE["img_size"], cache=cache)


def load_snapshot(state: dict, recipe: dict = TINY_MAE, target: str = "pixels"):
    """A float32 VideoMAE from a (float16) snapshot."""
    m = videomae(**recipe, norm_pix_loss=target == "norm")
    m.load_state_dict({k: v.float() for k, v in state.items()})
    return m.eval()


#: A position "moves" when its pixels' standard deviation over the clip's frames, averaged over
#: the position's pixels and channels, exceeds twice the per-frame noise (0.02) of the clips.
MOVING_STD = 0.04


def moving_positions(batch: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Bool ``(B, h w)``: spatial positions where something moves or changes during the clip."""
    b, c, _, hh, ww = batch.shape
    std = batch.std(dim=2)                                                # (B, C, H, W) over time
    gh, gw = hh // patch_size, ww // patch_size
    per = std.reshape(b, c, gh, patch_size, gw, patch_size).mean(dim=(1, 3, 5))
    return per.reshape(b, gh * gw) > MOVING_STD


@torch.no_grad()
def reconstruction_errors(mae, n: int = DATA["n_recon"], seed: int = DATA["val_seed"]) -> dict:
    """Masked-tubelet MSE on ``n`` held-out clips under fixed tube masks (mask seed 0), in the
    model's target units, against the clip's visible mean colour (``visible_mean_mse``) and
    against copying the nearest visible tubelet of the same slot (``copy_mse``); the same three
    on the masked tubelets at moving positions only (``moving``: :func:`moving_positions`) and at
    static ones (``static``)."""
    val = clips(n, seed)
    batch = torch.stack([val[i][0] for i in range(n)])
    mask = mae.make_mask(batch, generator=torch.Generator().manual_seed(0))
    mae.eval()
    loss, pred, flat = mae(batch, mask)
    enc = mae.encoder
    pix = patchify(batch, enc.patch_size, enc.tubelet_size)               # (B, L, tpp*C), channel last
    if mae.norm_pix_loss:
        target = normalized_pixel_target(batch, enc.patch_size, enc.tubelet_size)
        guess = torch.zeros_like(target)                      # the visible mean is 0 in these units
    else:
        target, c = pix, enc.in_channels
        vis = pix.reshape(*pix.shape[:2], -1, c) * (~flat)[..., None, None]
        mean = vis.sum((1, 2)) / ((~flat).sum(1)[:, None] * vis.shape[2])   # (B, C) visible mean colour
        guess = mean[:, None, None, :].expand(-1, pix.shape[1], vis.shape[2], c).reshape(pix.shape)
    copy = copy_nearest_visible(target, flat, enc.grid)
    t = enc.grid[0]
    moving = moving_positions(batch, enc.patch_size)[:, None, :].expand(-1, t, -1).reshape(flat.shape)
    out = dict(n=n)
    for part, sel in (("all", flat), ("moving", flat & moving), ("static", flat & ~moving)):
        errs = {name: float(F.mse_loss(p[sel], target[sel])) for name, p in
                (("model_mse", pred), ("visible_mean_mse", guess), ("copy_mse", copy))}
        errs["ratio"] = errs["model_mse"] / min(errs["visible_mean_mse"], errs["copy_mse"])
        if part == "all":
            out.update(errs)
        else:
            out[part] = dict(errs, tubelets=int(sel.sum()))
    return out


def label_draws(labels: torch.Tensor, k: int, seeds=SEEDS) -> list[torch.Tensor]:
    """Disjoint draws of ``k`` clips per class from the pool, one per seed (seed ``s``: the
    ``s``-th block of ``k`` clips of every class)."""
    by_class = [torch.nonzero(labels == c).flatten() for c in range(int(labels.max()) + 1)]
    if min(len(i) for i in by_class) < k * len(seeds):
        raise ValueError(f"the pool has too few clips per class for {len(seeds)} disjoint draws of k={k}")
    return [torch.cat([i[s * k:(s + 1) * k] for i in by_class]) for s in seeds]


def probe_curve(encoders: dict, labels_per_class=LABELS_PER_CLASS, seeds=SEEDS,
                pool_n: int = DATA["pool"], n_val: int = DATA["n_val"]) -> dict:
    """Linear-probe held-out accuracy per encoder, pooling and label count: a list over ``seeds``
    (disjoint label draws) under ``out[name][pool][str(k)]``."""
    pool, val = clips(pool_n, DATA["pool_seed"]), clips(n_val, DATA["val_seed"])
    out = {}
    for name, enc in encoders.items():
        out[name] = {}
        for pooling in ("tokens", "slots"):
            px, py = encoder_features(enc, pool, pool=pooling)
            vx, vy = encoder_features(enc, val, pool=pooling)
            out[name][pooling] = {str(k): [round(linear_probe(px[idx], py[idx], vx, vy, num_classes=8), 4)
                                           for idx in label_draws(py, k, seeds)] for k in labels_per_class}
    return out


def evaluate_snapshot(state: dict, recipe: dict = TINY_MAE, target: str = "pixels", **probe_kw) -> dict:
    """Reconstruction errors and linear-probe accuracies of one snapshot."""
    m = load_snapshot(state, recipe, target)
    return dict(reconstruction=reconstruction_errors(m), probe=probe_curve({"m": m.encoder}, **probe_kw)["m"])


def finetune(state: dict, k: int, seed: int, recipe: dict = TINY_MAE, target: str = "pixels",
             pool_n: int = DATA["pool"], n_val: int = DATA["n_val"], **kw) -> float:
    """Held-out accuracy of :class:`VideoMAEClassifier` fine-tuned (all weights) from a snapshot's
    encoder on draw ``seed`` of ``k`` labelled clips per class."""
    from torch.utils.data import Subset

    from companion.training import evaluate, fit

    cfg = dict(FINETUNE, **kw)
    pool, val = clips(pool_n, DATA["pool_seed"]), clips(n_val, DATA["val_seed"])
    idx = label_draws(torch.tensor(pool.targets), k, tuple(range(seed + 1)))[seed]     # the probe's draw `seed`
    torch.manual_seed(seed)
    clf = videomae_classifier(encoder=load_snapshot(state, recipe, target).encoder, num_classes=8)
    train = Subset(pool, idx.tolist())
    per_epoch = max(1, len(train) // cfg["batch_size"])
    fit(clf, train, epochs=max(1, cfg["steps"] // per_epoch), batch_size=cfg["batch_size"], lr=cfg["lr"],
        seed=seed, weight_decay=cfg["weight_decay"], warmup_steps=cfg["warmup_steps"], progress=False)
    return round(evaluate(clf, val)["acc"], 4)


def finetune_curve(snapshots: dict, labels_per_class=LABELS_PER_CLASS, seeds=SEEDS, **kw) -> dict:
    """``out[name][str(k)]`` = held-out accuracies over ``seeds`` for each named snapshot."""
    return {name: {str(k): [finetune(st, k, s, **kw) for s in seeds] for k in labels_per_class}
            for name, st in snapshots.items()}


def pretrain_with_snapshots(mae, data, steps: int, snap_at=CURVE_STEPS, *, lr: float = 1.5e-3,
                            weight_decay: float = 0.05, warmup_steps: int = 50, batch_size: int = 32,
                            seed: int = 0, progress: bool = True):
    """The pretraining loop (AdamW, warm-up then cosine to ``steps``), returning the per-step losses
    and float16 snapshots ``{step: state_dict}`` at the steps of ``snap_at`` up to ``steps``, and at ``steps``."""
    from tqdm.auto import tqdm

    seed_everything(seed)
    xs = torch.stack([data[i][0] for i in range(len(data))])
    opt = torch.optim.AdamW(mae.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(seed)
    snaps, losses = {}, []
    half = lambda: {k: v.detach().half().clone() for k, v in mae.state_dict().items()}
    mae.train()
    for step in tqdm(range(steps + 1), desc="pretrain", disable=not progress):
        if step in snap_at or step == steps:
            snaps[step] = half()
        if step == steps:
            break
        scale = (step + 1) / warmup_steps if step < warmup_steps else \
            0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, steps - warmup_steps)))
        for group in opt.param_groups:
            group["lr"] = lr * scale
        batch = xs[torch.randint(0, len(xs), (batch_size,), generator=gen)]
        loss, _, _ = mae(batch, mae.make_mask(batch, generator=gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    mae.eval()
    return losses, snaps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=CURVE_STEPS[-1])
    ap.add_argument("--mask-ratio", type=float, default=TINY_MAE["mask_ratio"])
    ap.add_argument("--target", choices=("pixels", "norm"), default="pixels")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--from-weights", action="store_true",
                    help="skip pretraining: load the shipped snapshots and redo only the evaluation")
    ap.add_argument("--out", type=Path, default=PATH)
    ap.add_argument("--no-finetune", action="store_true", help="skip the fine-tuning table (ratio / target sweeps)")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    recipe = dict(TINY_MAE, mask_ratio=a.mask_ratio)
    cpu0 = time.process_time()
    if a.from_weights:
        ckpt = torch.load(PATH, weights_only=False)
        recipe, a.target = ckpt["report"]["recipe"], ckpt["report"]["target"]
        losses, snaps, pre_cpu = ckpt["losses"], ckpt["snapshots"], ckpt["report"]["pretrain_cpu_s"]
    else:
        seed_everything(0)
        mae = videomae(**recipe, norm_pix_loss=a.target == "norm")
        losses, snaps = pretrain_with_snapshots(mae, clips(DATA["n_unlabelled"], DATA["unlabelled_seed"]),
                                                a.steps, progress=not a.quiet)
        pre_cpu = time.process_time() - cpu0
    print(f"pretraining: {len(losses)} steps, loss {losses[0]:.4f} -> {sum(losses[-50:]) / len(losses[-50:]):.4f} "
          f"(last 50), {pre_cpu:.0f} CPU s", flush=True)
    curve = {}
    for step, st in snaps.items():
        curve[str(step)] = evaluate_snapshot(st, recipe, a.target)
        print(step, json.dumps(curve[str(step)]), flush=True)
    last = max(snaps)
    cpu1 = time.process_time()
    ft = None if a.no_finetune else finetune_curve({"pretrained": snaps[last], "scratch": snaps[0]},
                                                   recipe=recipe, target=a.target)
    print("fine-tune:", json.dumps(ft), f"({time.process_time() - cpu1:.0f} CPU s)", flush=True)
    report = dict(recipe=recipe, target=a.target, data=DATA, finetune_cfg=FINETUNE, pretrain_steps=len(losses),
                  pretrain_cpu_s=pre_cpu, curve=curve, finetune=ft)
    if not a.no_save:
        a.out.parent.mkdir(exist_ok=True, parents=True)
        torch.save({"snapshots": snaps, "losses": losses, "report": report}, a.out)
        print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
