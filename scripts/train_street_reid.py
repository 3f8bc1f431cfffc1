#!/usr/bin/env python3
"""Train the street re-ID head shipped as ``companion/weights/reid_street_head.pt``.

Follows the protocol in :mod:`companion.tracking.reid_learned` (no labels; tracklets mined from
frames 0-399 of the street clip only):

1. mine tracklets (:func:`~companion.tracking.reid_learned.mine_tracklets`, cached in the data
   cache: the lab's SSD detector + ByteTrack, clean boxes only);
2. stripe descriptors of every crop in ``--views`` views (the crop itself and ``views - 1``
   augmented copies: crop jitter, flip, mild blur) from the frozen ImageNet MobileNetV2;
3. the identity-initialised linear head trained with InfoNCE (positives: one track a few frames
   apart; negatives: tracks visible in the same frame), ``--steps`` steps of Adam, one thread.

The hyper-parameters (``tau``, ``reg``, ``steps``) were chosen on a two-fold split of the mined
tracks (odd / even track ids), never on the by-eye identities: ``--choose`` reruns that choice.

    python scripts/train_street_reid.py            # writes the shipped head (about 1 CPU-minute)
    python scripts/train_street_reid.py --choose   # the validation grid
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from companion.tracking import reid_learned as rl  # noqa: E402

#: the shipped configuration (chosen by ``--choose`` on the mined-track split)
CONFIG = dict(tau=0.2, reg=1e-3, steps=300, groups=8)
GRID = [dict(tau=t, reg=r, steps=s, groups=8) for t in (0.1, 0.2) for r in (1e-4, 1e-3, 1e-2)
        for s in (300, 1000)]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def descriptors(mined: dict, features, *, views: int = 3, seed: int = 0) -> np.ndarray:
    """(views, N, D) stripe descriptors: the crops, then ``views - 1`` augmented copies."""
    rng = np.random.default_rng(seed)
    crops = mined["crops"]
    out = [rl.stripe_features(crops, features)]
    out += [rl.stripe_features(rl.augment_crops(crops, rng), features) for _ in range(views - 1)]
    return np.stack(out)


def validation(F, mined, cfg: dict, seed: int = 0) -> float:
    """Two-fold score on the mined tracks: train on even ids, score odd ones, and vice versa."""
    tr, fr, vis = mined["track"], mined["frame"], mined["visible"]
    scores = []
    for fold in (0, 1):
        val = tr % 2 == fold
        head, _ = rl.train_head(F[:, ~val], tr[~val], fr[~val], vis, seed=seed, **cfg)
        E = rl.LearnedEmbedder(head=head, features=_features()).embed_features(F[0][val])
        scores.append(rl.track_separation(E, tr[val], fr[val], vis, gap=40)[0])
    return float(np.mean(scores))


_FEATURES = None


def _features():
    global _FEATURES
    if _FEATURES is None:
        _FEATURES = rl.StripeFeatures()
    return _FEATURES


def train(seed: int = 0, *, views: int = 3, progress: bool = False, **cfg):
    """Mine (cached), describe, train: ``(head, curve, info)``."""
    cfg = {**CONFIG, **cfg}
    t0 = cpu_seconds()
    mined = rl.mine_tracklets(progress=progress)
    t1 = cpu_seconds()
    F = descriptors(mined, _features(), views=views, seed=seed)
    t2 = cpu_seconds()
    head, curve = rl.train_head(F, mined["track"], mined["frame"], mined["visible"], seed=seed, **cfg)
    t3 = cpu_seconds()
    info = dict(crops=int(len(mined["track"])), tracks=int(len(np.unique(mined["track"]))),
                last_frame=int(mined["frame"].max()), config=cfg, seed=seed, views=views,
                cpu_s=dict(mine=round(t1 - t0, 1), describe=round(t2 - t1, 1), train=round(t3 - t2, 1)))
    return head, curve, info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=rl.default_head_path())
    ap.add_argument("--choose", action="store_true", help="print the validation grid, write nothing")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.choose:
        mined = rl.mine_tracklets()
        F = descriptors(mined, _features(), seed=0)
        E0 = F[0] / np.linalg.norm(F[0], axis=1, keepdims=True)
        base = np.mean([rl.track_separation(E0[mined["track"] % 2 == k], mined["track"][mined["track"] % 2 == k],
                                            mined["frame"][mined["track"] % 2 == k], mined["visible"], gap=40)[0]
                        for k in (0, 1)])
        print(f"untrained stripes: validation {base:.3f}")
        for cfg in GRID:
            print(f"{cfg}: validation {validation(F, mined, cfg):.3f}", flush=True)
        return 0
    head, curve, info = train(args.seed, progress=True)
    info["loss_every_10"] = [round(float(np.mean(curve[i:i + 10])), 4) for i in range(0, len(curve), 10)]
    print(f"{info['crops']} crops of {info['tracks']} tracks (frames 0-{info['last_frame']}); "
          f"InfoNCE {np.mean(curve[:10]):.3f} -> {np.mean(curve[-10:]):.3f}; CPU s {info['cpu_s']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"head": head.weight.detach().clone(), "taps": list(rl.TAPS), "stripes": rl.STRIPES,
                "log": info}, args.out)
    from companion.data import sha256sum

    print(f"saved {args.out} ({args.out.stat().st_size / 1e3:.0f} kB), sha256 {sha256sum(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
