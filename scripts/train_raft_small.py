#!/usr/bin/env python3
"""Train RAFT-small from scratch on synthetic FlyingChairs-like pairs, on CPU, in bounded time.

    nice -n 10 .venv/bin/python scripts/train_raft_small.py            # writes companion/weights/raft_small_synthetic.pt
    .venv/bin/python scripts/train_raft_small.py --steps 20 --out /tmp/w.pt   # a quick smoke run

Recipe (RAFT's, shrunk to a CPU budget):

* data: :func:`companion.synthetic.flow.make_pair`, a fresh pair per sample, pair ``i`` of step ``s``
  drawn from ``SeedSequence(seed).spawn`` — nothing is stored, nothing repeats; 160×224 crops,
  2–7 shapes, motions up to 40 px (shapes) / 24 px (background), rotations ±10°, scales ×/÷1.08;
* augmentation: random horizontal / vertical flips (flow signs flipped to match), colour jitter
  (brightness, contrast, per-channel gain) shared by both frames plus a small asymmetric part,
  Gaussian noise;
* loss: RAFT's sequence loss ``Σ_i γ^(N−1−i) · mean|f_i − f_gt|₁`` with γ = 0.8 over the N = 6
  training iterations, pixels with |f_gt| > 400 px ignored;
* AdamW (lr 4e-4, weight decay 1e-4, eps 1e-8), one-cycle schedule (5 % linear warm-up then linear
  decay), gradient clipping at norm 1.0, batch 4;
* bounded: stops after ``--steps`` steps or ``--max-minutes`` of wall time, whichever first; a
  checkpoint (fp16 state dict + settings + curve) is written every 25 steps and at the end.

The shipped weights came from ``--seed 0`` with the defaults below (600 steps, 35-min cap, run
with ``nice -n 10`` on a shared 2-core machine); the run's settings, wall time and the loss / EPE
curve are stored in the checkpoint (``torch.load(path)["curve"]``) and plotted in notebook
26_4_4.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from companion import seed_everything  # noqa: E402
from companion.flow import raft_small  # noqa: E402
from companion.synthetic.flow import make_pair  # noqa: E402

DEFAULT_OUT = ROOT / "companion" / "weights" / "raft_small_synthetic.pt"
GEN_KW = dict(size=(160, 224), n_shapes=(2, 7), max_shift=40.0, bg_max_shift=24.0)


def augment(img1: np.ndarray, img2: np.ndarray, flow: np.ndarray, rng: np.random.Generator):
    """Photometric jitter + flips. Images uint8 (H, W, 3) → float (3, H, W) in [-1, 1]."""
    a = img1.astype(np.float32) / 255.0
    b = img2.astype(np.float32) / 255.0
    f = flow.copy()
    if rng.random() < 0.5:  # horizontal flip: x-flow changes sign
        a, b, f = a[:, ::-1], b[:, ::-1], f[:, :, ::-1]
        f[0] = -f[0]
    if rng.random() < 0.1:  # vertical flip: y-flow changes sign
        a, b, f = a[::-1], b[::-1], f[:, ::-1]
        f[1] = -f[1]
    gain = rng.uniform(0.7, 1.3) * rng.uniform(0.85, 1.15, 3)
    contrast = rng.uniform(0.7, 1.3)
    bias = rng.uniform(-0.1, 0.1)

    def jitter(x, g, c, d):
        m = x.mean()
        return np.clip((x * g - m) * c + m + d, 0, 1)

    a = jitter(a, gain, contrast, bias)
    asym = rng.uniform(0.95, 1.05, 3) if rng.random() < 0.2 else np.ones(3)
    b = jitter(b, gain * asym, contrast, bias)
    sigma = rng.uniform(0, 0.02)
    a = a + rng.normal(0, sigma, a.shape)
    b = b + rng.normal(0, sigma, b.shape)
    to_t = lambda x: torch.from_numpy(np.ascontiguousarray(np.clip(x, 0, 1).transpose(2, 0, 1))).float() * 2 - 1
    return to_t(a), to_t(b), torch.from_numpy(np.ascontiguousarray(f)).float()


def batch_for_step(step: int, batch: int, seed: int):
    """The augmented batch of one step: a pure function of (seed, step)."""
    seqs = np.random.SeedSequence([seed, step]).spawn(batch)
    out = []
    for sq in seqs:
        rng = np.random.default_rng(sq)
        s = make_pair(rng=rng, **GEN_KW)
        out.append(augment(s["img1"], s["img2"], s["flow"], rng))
    return [torch.stack(x) for x in zip(*out)]


def sequence_loss(predictions: list[torch.Tensor], gt: torch.Tensor, gamma: float = 0.8,
                  max_flow: float = 400.0) -> torch.Tensor:
    """Σ_i γ^(N−1−i) · mean over valid pixels of |f_i − gt|₁ (later iterations weigh more)."""
    valid = (gt.norm(dim=1, keepdim=True) < max_flow).float()
    n = len(predictions)
    total = gt.new_zeros(())
    for i, pred in enumerate(predictions):
        total = total + gamma ** (n - 1 - i) * ((pred - gt).abs() * valid).sum() / (2 * valid.sum() + 1e-8)
    return total


def one_cycle(step: int, total: int, warmup: float = 0.05) -> float:
    w = max(1, int(total * warmup))
    return (step + 1) / w if step < w else max(0.0, (total - step) / (total - w))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--iters", type=int, default=6, help="GRU iterations during training")
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--gamma", type=float, default=0.8)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--max-minutes", type=float, default=35.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    torch.use_deterministic_algorithms(False)
    model = raft_small().train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4, eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: one_cycle(s, args.steps))
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    settings["generator"] = {k: list(v) if isinstance(v, tuple) else v for k, v in GEN_KW.items()}
    curve: dict[str, list] = {"step": [], "loss": [], "epe": [], "minutes": []}
    t0 = time.time()
    stopped = "steps"

    def save(step_done: int) -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        torch.save({"state_dict": {k: v.half() for k, v in model.state_dict().items()},
                    "settings": settings, "curve": curve, "steps_done": step_done,
                    "minutes": (time.time() - t0) / 60, "stopped_by": stopped}, tmp)
        tmp.replace(args.out)

    ema_loss = ema_epe = None
    step = 0
    for step in range(args.steps):
        if (time.time() - t0) / 60 > args.max_minutes:
            stopped = "time"
            break
        img1, img2, gt = batch_for_step(step, args.batch, args.seed)
        preds = model(img1, img2, num_flow_updates=args.iters)
        loss = sequence_loss(preds, gt, args.gamma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        sched.step()
        epe = (preds[-1].detach() - gt).norm(dim=1).mean().item()
        ema_loss = loss.item() if ema_loss is None else 0.9 * ema_loss + 0.1 * loss.item()
        ema_epe = epe if ema_epe is None else 0.9 * ema_epe + 0.1 * epe
        if step % 5 == 0 or step == args.steps - 1:
            mins = (time.time() - t0) / 60
            curve["step"].append(step)
            curve["loss"].append(round(ema_loss, 4))
            curve["epe"].append(round(ema_epe, 4))
            curve["minutes"].append(round(mins, 2))
            print(f"step {step:4d}  loss {ema_loss:7.3f}  train EPE {ema_epe:6.3f}  "
                  f"lr {sched.get_last_lr()[0]:.2e}  {mins:5.1f} min", flush=True)
        if step % 25 == 24:
            save(step + 1)
    else:
        step = args.steps
    save(step if stopped == "time" else args.steps)
    print(f"done: {step} steps in {(time.time() - t0) / 60:.1f} min (stopped by {stopped}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
