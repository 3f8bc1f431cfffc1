#!/usr/bin/env python3
"""Train the small re-ID CNN shipped as ``companion/weights/reid_small.pt`` (DeepSORT's appearance).

Data: person crops (64x32, visibility >= 0.4, boxes jittered by up to 8 % like a detector's)
from ``--scenes`` synthetic street scenes (seeds 100, 101, ...; 150 frames, 12 random
pedestrians each); an identity is a (scene, person) pair. Held out: scenes with seeds 1000-1004.

Training: batch-hard triplet loss (margin 0.3) on P x K batches (16 identities x 4 crops),
Adam lr 2e-3 with cosine decay, random horizontal flips and brightness/contrast jitter,
``--steps`` steps, seed 0, one CPU thread.

Evaluation: rank-1 on the held-out scenes, early crops of each person as queries against late
crops of everybody in the same scene, for the trained CNN and the colour-histogram baseline.

Result of the shipped run (``python scripts/train_reid.py``: 40 scenes = 12,027 crops of 480
identities, 1000 steps, 528 s on one heavily shared CPU core): batch-hard loss 0.37 (step 0) ->
0.20 (100) -> 0.085 (300) -> 0.047 (500) -> 0.032 (800) -> 0.021 (1000); held-out rank-1
**CNN 0.992 vs colour histogram 0.952**. The curve is stored in the checkpoint under ``"log"``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from companion import seed_everything  # noqa: E402
from companion.synthetic.street import make_street_scene  # noqa: E402
from companion.tracking.reid import (ColorHistogramEmbedder, ReIDEmbedder, ReIDNet,  # noqa: E402
                                     batch_hard_triplet_loss, default_weights_path, rank1,
                                     split_query_gallery, street_crops)


def build_dataset(seeds, *, frames=150, people=12, stride=2, jitter=0.08):
    crops, labels = [], []
    for k, s in enumerate(seeds):
        scene = make_street_scene(int(s), num_frames=frames, num_people=people)
        c, i, _ = street_crops(scene, min_visibility=0.4, stride=stride, jitter=jitter,
                               rng=np.random.default_rng(s))
        crops.append(c)
        labels.append(i + 1000 * k)
    return np.concatenate(crops), np.concatenate(labels)


def evaluate(embedders: dict, seeds=range(1000, 1005)) -> dict:
    scores = {k: [] for k in embedders}
    for s in seeds:
        scene = make_street_scene(int(s), num_frames=150, num_people=12)
        c, ids, fr = street_crops(scene, min_visibility=0.5, jitter=0.05, rng=np.random.default_rng(s))
        q, g = split_query_gallery(ids, fr)
        for name, e in embedders.items():
            emb = e.embed_crops(c)
            scores[name].append(rank1(emb[q], ids[q], emb[g], ids[g]))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = len(x)
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    gain = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.3
    bias = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.1
    return (x * gain + bias).clamp(0, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=default_weights_path())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    t0 = time.time()
    crops, labels = build_dataset(range(100, 100 + args.scenes))
    uniq, inv = np.unique(labels, return_inverse=True)
    by_id = [np.flatnonzero(inv == k) for k in range(len(uniq))]
    ok = np.array([len(b) >= 4 for b in by_id])
    print(f"{len(crops)} crops of {len(uniq)} identities ({ok.sum()} with >= 4 crops), "
          f"built in {time.time() - t0:.0f}s", flush=True)
    X = torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()  # uint8
    net = ReIDNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    P, K = 16, 4
    eligible = np.flatnonzero(ok)
    curve = []
    net.train()
    for step in range(args.steps):
        ids = rng.choice(eligible, size=P, replace=False)
        idx = np.concatenate([rng.choice(by_id[i], size=K, replace=False) for i in ids])
        x = augment(X[idx].float() / 255.0, gen)
        y = torch.from_numpy(np.repeat(np.arange(P), K))
        loss = batch_hard_triplet_loss(net(x), y, margin=0.3)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        curve.append(float(loss.detach()))
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {np.mean(curve[-100:]):.4f}  ({time.time() - t0:.0f}s)", flush=True)
    net.eval()
    scores = evaluate({"reid_cnn": ReIDEmbedder(net=net), "colour_histogram": ColorHistogramEmbedder()})
    log = {"steps": args.steps, "scenes": args.scenes, "crops": int(len(crops)), "identities": int(len(uniq)),
           "loss_curve_every_50": [float(np.mean(curve[i:i + 50])) for i in range(0, len(curve), 50)],
           "heldout_rank1": scores, "seconds": round(time.time() - t0, 1)}
    print("held-out rank-1:", scores, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": net.state_dict(), "config": {"dim": net.dim}, "log": log}, args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e3:.0f} kB) in {log['seconds']}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
