#!/usr/bin/env python3
"""Train RAFT-small from scratch on synthetic FlyingChairs-like pairs, on CPU, in bounded time.

    nice -n 10 .venv/bin/python scripts/train_raft_small.py --out /tmp/stage1.pt     # stage 1
    nice -n 10 .venv/bin/python scripts/train_raft_small.py --stage mixed --init /tmp/stage1.pt \
        --steps 5000 --lr 2.5e-4 --max-minutes 32 --out /tmp/stage2.pt          # stage 2
    nice -n 5 .venv/bin/python scripts/train_raft_small.py --stage photos --init /tmp/stage2.pt \
        --steps 8000 --lr 2.5e-4 --max-minutes 60 --out /tmp/stage3.pt   # stage 3
    python scripts/train_raft_small.py --stage large --init /tmp/stage3.pt --device cuda --workers 5 \
        --batch 8 --iters 8 --lr 2.5e-4 --steps 100000 --max-minutes 6.3  # stage 4 -> the shipped weights
    .venv/bin/python scripts/train_raft_small.py --steps 20 --out /tmp/w.pt   # a quick smoke run

Four stages, like RAFT's FlyingChairs -> FlyingThings -> fine-tuning schedule (the data recipes
are ``companion.flow.training.STAGES``):

* **stage 1, "chairs"** (from scratch, 45-min cap, lr 5e-4): :func:`companion.synthetic.flow.make_pair`
  128x160 pairs, 2-6 textured shapes, motions up to 32 px (shapes) / 20 px (background),
  rotations +-10 deg, scales x/÷1.08; every background moves.
* **stage 2, "mixed"** (from stage 1's weights, 32-min cap, 5,000 steps, lr 2.5e-4): motions up to
  40 / 24 px, 1-6 shapes, a **still background** in a fifth of the pairs, **nearly textureless
  layers** (flat colour, faint gradient, sometimes clipped to white: walls, sky, over-exposed
  pavement) for 15 % of the layers, 25 % greyscale pairs, contrast jitter down to x0.5. Why: stage 1's weights
  invented flow on real footage — between two *identical* frames of the street clip they returned
  4.4 px on average and up to ~35 px over the bright, textureless pavement, so people did not stand
  out from the static street. Stage 1 had never seen a flat region or a still camera.
* **stage 3, "photos"** (from stage 2's weights, 60-min cap, lr 2.5e-4; 7,311 steps reached):
  **half of the layers are crops of real photographs** bundled with scikit-image
  (:func:`companion.synthetic.flow.photo_texture`: astronaut, coffee, rocket, brick, gravel, ...;
  never the stereo pair used for evaluation), randomly rescaled, rotated, mirrored and
  channel-shuffled; background motions as large as the shapes' (up to 40 px); still background in
  15 % of the pairs, flat layers 10 %, greyscale 25 %. Why: stage 2 traded the real stereo pair
  for the street clip (below) — it had learned "weak texture, probably still" from procedural
  textures. Real photographs carry the edges, shading and smooth patches of real scenes, which is
  why FlyingChairs pastes its chairs over Flickr photos.
* **stage 4, "large"** (from stage 3's weights, 6.3 minutes on a lent H200 GPU, batch 8, 8 training
  iterations, 1,794 steps, the pairs rendered by 5 worker processes; ``scripts/gpu_runs.sh``): 320x448
  pairs, motions up to 96 px (shapes) / 80 px (background), 1-8 shapes, 60 % photo layers, still
  background 10 %. Why: the real stereo pair at full resolution (500x741) has disparities of 7-60 px
  (median 39) and stage 3 had never seen a motion over 40 px, nor an image larger than 128x160: at full
  resolution it lost to TV-L1 (8.62 vs 7.28 px). The evaluation protocol (full resolution, 12
  updates, EPE on the pixels with a disparity) was written down before this stage was trained, and
  the weights were scored once. On a CPU the same command with ``--device cpu`` runs about 40x slower.

Common to all:

* data: a fresh pair per sample, pair ``i`` of step ``s`` drawn from ``SeedSequence`` of the seed
  and step (and the stage) — nothing is stored, nothing repeats;
* augmentation: random horizontal / vertical flips (flow signs flipped to match), colour jitter
  (brightness, contrast, per-channel gain) shared by both frames plus a small asymmetric part,
  Gaussian noise;
* loss: RAFT's sequence loss ``Σ_i γ^(N−1−i) · mean|f_i − f_gt|₁`` with γ = 0.8 over the N = 6
  training iterations, pixels with |f_gt| > 400 px ignored;
* AdamW (weight decay 1e-4, eps 1e-8), one-cycle schedule (5 % linear warm-up then linear decay to
  0), gradient clipping at norm 1.0, batch 2;
* one intra-op thread (``--threads 1``): on a CPU shared with other jobs, two OpenMP threads spend
  most of their share spinning while they wait for each other — measured here, a step cost ~20x
  more CPU with two threads than with one;
* bounded: stops after ``--steps`` steps or ``--max-minutes`` of wall time, whichever comes first,
  and the schedule follows the same budget (progress = max(step / steps, elapsed / max time)), so
  the learning rate reaches 0 when time runs out. Data order and initialisation depend only on the
  seed; on a shared CPU the number of steps reached depends on the machine's load (recorded in
  the checkpoint; ``--max-minutes 0`` switches the time budget off for a step-exact rerun). A
  checkpoint (fp16 state dict + settings + curve, and stage 1's settings and curve under
  ``previous_stage``) is written every 25 steps and at the end.

Measured (``benchmarks/bench_flow_eval.py``; street: frames 200/201 at half size, mean |flow| on
changed ÷ static pixels; "identical": mean |flow| between frame 200 and itself):

==========================================  =========  ==========  ============  =========
weights                                     synthetic  motorcycle  street ratio  identical
==========================================  =========  ==========  ============  =========
stage 1 (45 min, 2,749 steps)               2.19       7.27        0.9x          4.4 px
stage 2, first try (54 min, 8,000 steps;    1.66 (8)   15.8        25.3x         0.01 px
  still bg 33 %, flat layers 30 %,
  contrast down to x0.35)
stage 2 (31 min, 5,000 steps;               1.74       12.78       7.5x          0.18 px
  still bg 20 %, flat layers 15 %,
  contrast down to x0.5)
stage 3, shipped (60 min, 7,311 steps;      1.49       6.63        5.7x          0.39 px
  half the layers real photographs)
stage 3, second run (52 min, 8,000 steps;   1.49       6.16        7.4x          0.25 px
  still bg 25 %, flat 15 %, photos 60 %)
stage 4, shipped (GPU, 6.3 min, 1,794       1.45       3.72 full   5.1x          0.30 px
  steps of 8; motions up to 96 px)                     5.72 x0.5
TV-L1 / DIS / Farneback                     2.46 / 2.27 / 5.45   7.28 / 2.64 / 25.52   DIS 23.5x
==========================================  =========  ==========  ============  =========

Stage 2 fixed the street clip and improved the synthetic EPE, but it made the real stereo pair
*worse*: the network read weak texture as "probably still" and underestimated the disparity of
the floor (median shift about half the truth). Less still / flat data in its second try moved it
back only part of the way. Stage 3 keeps still and flat data but cuts half of the layers from
real photographs: the stereo pair drops from 12.78 to **6.63 px, below TV-L1's 7.28**, the
synthetic EPE improves too (1.74 -> 1.49), and the street clip still separates walkers from the
static street (5.7x; identical frames 0.39 px). Along the stage-3 run (one evaluation every ~20
minutes, not used to pick anything — the last checkpoint is shipped): stereo 7.80 / 7.46 / 6.34
px after 1,125 / 2,300 / 3,600 steps. A second stage-3 run, started half an hour later to see how
much the result depends on the mix (``STAGES["photos"]`` with still backgrounds 25 %, flat layers
15 %, photos 60 %), ended at 6.16 px and 7.4x: the gain held in both runs. The shipped weights are
the first run's, decided before either finished. Still behind DIS (2.64) on the real pair, and on
the share of stereo pixels off by more than 3 px it is behind TV-L1 (57 % vs 42 %): it is less
often far off, more often a little off.

The shipped weights came from ``--seed 0`` with the three commands above, run with ``nice`` on a
shared 2-core machine; the runs' settings, wall times and loss / EPE curves are stored in the
checkpoint (``torch.load(path)["curve"]``, ``["previous_stage"]["curve"]``,
``["previous_stage"]["previous_stage"]["curve"]``) and plotted in notebook 26_4_4.
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
from companion.flow.training import STAGES, StepBatches, one_cycle, sequence_loss  # noqa: E402

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
    p.add_argument("--stage", choices=sorted(STAGES), default="chairs",
                   help="data recipe (companion.flow.training.STAGES)")
    p.add_argument("--init", type=Path, default=None,
                   help="start from this checkpoint (stage 2 starts from stage 1's weights)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--workers", type=int, default=0,
                   help="processes that render the next steps' pairs (same batches, same order)")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    torch.use_deterministic_algorithms(False)
    model = raft_small()
    if args.init is not None:
        init = torch.load(args.init, map_location="cpu", weights_only=True)
        model.load_state_dict({k: v.float() for k, v in init["state_dict"].items()})
    model.to(args.device).train()
    previous = None if args.init is None else {k: init.get(k) for k in ("settings", "curve", "steps_done", "minutes",
                                                                     "previous_stage")}
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4, eps=1e-8)
    budget_s = args.max_minutes * 60

    def progress(step: int) -> float:  # whichever budget (steps or wall time) runs out first
        return max(step / args.steps, (time.time() - t0) / budget_s if budget_s > 0 else 0.0)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    settings["recipe"] = {k: (dict((a, list(b) if isinstance(b, tuple) else b) for a, b in v.items())
                              if isinstance(v, dict) else list(v) if isinstance(v, tuple) else v)
                          for k, v in STAGES[args.stage].items()}
    curve: dict[str, list] = {"step": [], "loss": [], "epe": [], "minutes": [], "lr": []}
    t0 = time.time()
    stopped = "steps"

    def save(step_done: int) -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        torch.save({"state_dict": {k: v.detach().cpu().half() for k, v in model.state_dict().items()},
                    "settings": settings, "curve": curve, "steps_done": step_done,
                    "minutes": (time.time() - t0) / 60, "stopped_by": stopped,
                    "previous_stage": previous}, tmp)
        tmp.replace(args.out)

    ema_loss = ema_epe = None
    step = 0
    lr = 0.0
    loader = torch.utils.data.DataLoader(StepBatches(args.steps, args.batch, args.seed, args.stage),
                                         batch_size=None, shuffle=False, num_workers=args.workers,
                                         prefetch_factor=4 if args.workers else None,
                                         pin_memory=args.device != "cpu")
    batches = iter(loader)
    for step in range(args.steps):
        if budget_s > 0 and time.time() - t0 > budget_s:
            stopped = "time"
            break
        lr = args.lr * one_cycle(min(1.0, progress(step)))
        for group in opt.param_groups:
            group["lr"] = lr
        img1, img2, gt = (x.to(args.device, non_blocking=True) for x in next(batches))
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
