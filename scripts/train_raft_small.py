#!/usr/bin/env python3
"""Train RAFT-small from scratch on synthetic FlyingChairs-like pairs, on CPU, in bounded time.

    nice -n 10 .venv/bin/python scripts/train_raft_small.py            # writes companion/weights/raft_small_synthetic.pt
    .venv/bin/python scripts/train_raft_small.py --steps 20 --out /tmp/w.pt   # a quick smoke run

Recipe (RAFT's, shrunk to a CPU budget):

* data: :func:`companion.synthetic.flow.make_pair`, a fresh pair per sample, pair ``i`` of step ``s``
  drawn from ``SeedSequence(seed).spawn`` — nothing is stored, nothing repeats; 128×160 images,
  2–6 shapes, motions up to 32 px (shapes) / 20 px (background), rotations ±10°, scales ×/÷1.08;
* augmentation: random horizontal / vertical flips (flow signs flipped to match), colour jitter
  (brightness, contrast, per-channel gain) shared by both frames plus a small asymmetric part,
  Gaussian noise;
* loss: RAFT's sequence loss ``Σ_i γ^(N−1−i) · mean|f_i − f_gt|₁`` with γ = 0.8 over the N = 6
  training iterations, pixels with |f_gt| > 400 px ignored;
* AdamW (lr 5e-4, weight decay 1e-4, eps 1e-8), one-cycle schedule (5 % linear warm-up then linear
  decay to 0), gradient clipping at norm 1.0, batch 2;
* one intra-op thread (``--threads 1``): on a CPU shared with other jobs, two OpenMP threads spend
  most of their share spinning while they wait for each other — measured here, a step cost ~20×
  more CPU with two threads than with one;
* bounded: stops after ``--steps`` steps or ``--max-minutes`` of wall time, whichever comes first,
  and the schedule follows the same budget (progress = max(step / steps, elapsed / max time)), so
  the learning rate reaches 0 when time runs out. Data order and initialisation depend only on the
  seed; on a shared CPU the number of steps reached depends on the machine's load (recorded in
  the checkpoint; ``--max-minutes 0`` switches the time budget off for a step-exact rerun). A
  checkpoint (fp16 state dict + settings + curve) is written every 25 steps and at the end.

The shipped weights came from ``--seed 0`` with the defaults below (45-min cap, one intra-op thread, run
with ``nice -n 10`` on a shared 2-core machine); the run's settings, wall time and the loss / EPE
curve are stored in the checkpoint; the data, augmentation and loss live in
:mod:`companion.flow.training` (``torch.load(path)["curve"]``) and plotted in notebook
26_4_4.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from companion import seed_everything  # noqa: E402
from companion.flow import raft_small  # noqa: E402
from companion.flow.training import GEN_KW, batch_for_step, one_cycle, sequence_loss  # noqa: E402,F401

DEFAULT_OUT = ROOT / "companion" / "weights" / "raft_small_synthetic.pt"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--iters", type=int, default=6, help="GRU iterations during training")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--gamma", type=float, default=0.8)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--max-minutes", type=float, default=45.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    torch.use_deterministic_algorithms(False)
    model = raft_small().train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4, eps=1e-8)
    budget_s = args.max_minutes * 60

    def progress(step: int) -> float:  # whichever budget (steps or wall time) runs out first
        return max(step / args.steps, (time.time() - t0) / budget_s if budget_s > 0 else 0.0)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    settings["generator"] = {k: list(v) if isinstance(v, tuple) else v for k, v in GEN_KW.items()}
    curve: dict[str, list] = {"step": [], "loss": [], "epe": [], "minutes": [], "lr": []}
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
    lr = 0.0
    for step in range(args.steps):
        if budget_s > 0 and time.time() - t0 > budget_s:
            stopped = "time"
            break
        lr = args.lr * one_cycle(min(1.0, progress(step)))
        for group in opt.param_groups:
            group["lr"] = lr
        img1, img2, gt = batch_for_step(step, args.batch, args.seed)
        preds = model(img1, img2, num_flow_updates=args.iters)
        loss = sequence_loss(preds, gt, args.gamma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        epe = (preds[-1].detach() - gt).norm(dim=1).mean().item()
        ema_loss = loss.item() if ema_loss is None else 0.9 * ema_loss + 0.1 * loss.item()
        ema_epe = epe if ema_epe is None else 0.9 * ema_epe + 0.1 * epe
        if step % 5 == 0 or step == args.steps - 1:
            mins = (time.time() - t0) / 60
            curve["step"].append(step)
            curve["loss"].append(round(ema_loss, 4))
            curve["epe"].append(round(ema_epe, 4))
            curve["minutes"].append(round(mins, 2))
            curve["lr"].append(lr)
            print(f"step {step:4d}  loss {ema_loss:7.3f}  train EPE {ema_epe:6.3f}  "
                  f"lr {lr:.2e}  {mins:5.1f} min", flush=True)
        if step % 25 == 24:
            save(step + 1)
    else:
        step = args.steps
    save(step if stopped == "time" else args.steps)
    print(f"done: {step} steps in {(time.time() - t0) / 60:.1f} min (stopped by {stopped}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
