"""A small, seeded fit / evaluate loop that also runs, unchanged, on several processes.

    history = fit(model, train_ds, val_ds, epochs=10, batch_size=32, lr=2e-3, seed=0)
    evaluate(model, test_ds)            # {'acc': ..., 'per_class': [...], 'loss': ..., 'confusion': ...}
    history.plot()                      # loss / accuracy curves

Datasets are map-style: ``ds[i] -> (input, label)`` with ``input`` a tensor (or anything the model
takes after ``torch.stack``).

**Beyond one machine.** Launched by ``torchrun``, the same call trains with
``DistributedDataParallel`` (backend ``gloo``, CPU)::

    torchrun --standalone --nproc_per_node 2 -m companion.training --model tiny3d --epochs 2

Each epoch draws one permutation from ``seed + epoch`` (identical on every process), cuts it into
global batches of ``batch_size`` and gives process ``r`` the items ``r, r + world, ...`` of each
batch. Each process scales its summed loss by ``world / batch_size``; DDP averages gradients over
processes, so every step uses the gradient of the mean loss over the *global* batch — the same
step as the one-process run, up to floating-point summation order. (BatchNorm statistics are
per-process under DDP, so models with BatchNorm agree only approximately; convert them with
``torch.nn.SyncBatchNorm`` where that matters.)
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["History", "fit", "evaluate", "predict", "distributed_info", "count_params", "LONG_TRAINING"]

#: ``COMPANION_TRAIN=1``: the notebooks re-train their models in full (minutes to tens of minutes)
#: instead of loading the shipped weights; each notebook states its expected time at the top.
LONG_TRAINING: bool = os.environ.get("COMPANION_TRAIN", "0").strip().lower() in {"1", "true", "yes", "on"}


# --------------------------------------------------------------------------------------------
# Distributed plumbing
# --------------------------------------------------------------------------------------------


def distributed_info() -> tuple[int, int]:
    """``(rank, world_size)``; initialises the gloo process group when launched by torchrun."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available():
        if not dist.is_initialized():
            dist.init_process_group("gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_reduce(t: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(t)
    return t


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


@dataclass
class History:
    """Per-epoch curves of a :func:`fit` run."""

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    epoch_time_s: list = field(default_factory=list)
    world_size: int = 1
    steps: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        """The inverse of :meth:`as_dict` (a checkpoint stores its curves that way)."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @property
    def total_time_s(self) -> float:
        return float(sum(self.epoch_time_s))

    def as_dict(self) -> dict:
        return asdict(self)

    def plot(self, axes=None, label: str | None = None):
        """Loss (left) and accuracy (right) against epochs; returns the axes."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        ep = np.arange(1, len(self.train_loss) + 1)
        tag = f"{label} " if label else ""
        axes[0].plot(ep, self.train_loss, "-o", ms=3, label=f"{tag}train")
        axes[1].plot(ep, self.train_acc, "-o", ms=3, label=f"{tag}train")
        if self.val_loss:
            axes[0].plot(ep, self.val_loss, "--s", ms=3, label=f"{tag}held-out")
            axes[1].plot(ep, self.val_acc, "--s", ms=3, label=f"{tag}held-out")
        axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
        axes[1].set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
        for ax in axes:
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        return axes


# --------------------------------------------------------------------------------------------
# fit / evaluate
# --------------------------------------------------------------------------------------------


def _collate(ds, idx) -> tuple[torch.Tensor, torch.Tensor]:
    items = [ds[int(i)] for i in idx]
    xs = torch.stack([torch.as_tensor(x) for x, _ in items])
    ys = torch.tensor([int(y) for _, y in items], dtype=torch.long)
    return xs, ys


def _check_fit_args(epochs, batch_size, lr, train_ds):
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if len(train_ds) < 1:
        raise ValueError("train_ds is empty")


def fit(model: nn.Module, train_ds, val_ds=None, *, epochs: int, batch_size: int, lr: float, seed: int,
        weight_decay: float = 0.0, progress: bool = True, grad_clip: float | None = None,
        schedule: str = "cosine", warmup_steps: int = 0,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        desc: str | None = None) -> History:
    """Train ``model`` in place with AdamW; returns the :class:`History` (loss/accuracy per epoch).

    ``schedule``: ``"cosine"`` (per-step cosine decay to 0 after ``warmup_steps`` of linear
    warm-up) or ``"constant"``. Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
    ``DistributedDataParallel`` and the data sharded per global batch (see the module docstring).
    """
    _check_fit_args(epochs, batch_size, lr, train_ds)
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    from companion.config import seed_everything
    from tqdm.auto import tqdm

    rank, world = distributed_info()
    if batch_size < world:
        raise ValueError(f"batch_size {batch_size} is smaller than the number of processes {world}")
    seed_everything(seed)
    loss_fn = loss_fn or (lambda logits, y: F.cross_entropy(logits, y, reduction="sum"))
    net: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(train_ds)
    steps_per_epoch = max(1, n // batch_size)  # full global batches only
    total = steps_per_epoch * epochs

    def lr_at(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return lr * (step + 1) / warmup_steps
        if schedule == "constant":
            return lr
        p = (step - warmup_steps) / max(1, total - warmup_steps)
        return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

    hist = History(world_size=world)
    step = 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        perm = torch.randperm(n, generator=g)
        stats = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, count
        bar = tqdm(range(steps_per_epoch), desc=desc or f"epoch {epoch + 1}/{epochs}", leave=False,
                   disable=not progress or rank != 0)
        for b in bar:
            glob = perm[b * batch_size:(b + 1) * batch_size]
            local = glob[rank::world]
            x, y = _collate(train_ds, local)
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            logits = net(x)
            loss_sum = loss_fn(logits, y)
            loss = loss_sum * (world / len(glob))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            step += 1
            batch = torch.tensor([loss_sum.item(), (logits.argmax(1) == y).sum().item(), len(y)],
                                 dtype=torch.float64)
            stats += batch
            if rank == 0 and progress:
                bar.set_postfix(loss=f"{batch[0] / batch[2]:.3f}", acc=f"{batch[1] / batch[2]:.2f}")
        _all_reduce(stats, world)
        hist.train_loss.append(float(stats[0] / stats[2]))
        hist.train_acc.append(float(stats[1] / stats[2]))
        if val_ds is not None:
            ev = evaluate(model, val_ds, batch_size=batch_size)
            hist.val_loss.append(ev["loss"])
            hist.val_acc.append(ev["acc"])
        hist.epoch_time_s.append(time.perf_counter() - t0)
        hist.steps = step
        if progress and rank == 0:
            msg = f"epoch {epoch + 1}/{epochs}: loss {hist.train_loss[-1]:.3f} acc {hist.train_acc[-1]:.3f}"
            if val_ds is not None:
                msg += f" | held-out loss {hist.val_loss[-1]:.3f} acc {hist.val_acc[-1]:.3f}"
            tqdm.write(msg + f" ({hist.epoch_time_s[-1]:.1f} s)")
    model.eval()
    return hist


@torch.no_grad()
def predict(model: nn.Module, ds, batch_size: int = 32, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of the whole dataset (single process)."""
    from tqdm.auto import tqdm

    model.eval()
    outs, labels = [], []
    for s in tqdm(range(0, len(ds), batch_size), disable=not progress, leave=False, desc="predict"):
        x, y = _collate(ds, range(s, min(len(ds), s + batch_size)))
        outs.append(model(x))
        labels.append(y)
    return torch.cat(outs), torch.cat(labels)


@torch.no_grad()
def evaluate(model: nn.Module, ds, batch_size: int = 32, num_classes: int | None = None,
             progress: bool = False) -> dict:
    """``{'acc', 'per_class', 'loss', 'confusion', 'n'}`` on ``ds`` (sharded under torchrun)."""
    from tqdm.auto import tqdm

    if len(ds) < 1:
        raise ValueError("cannot evaluate on an empty dataset")
    rank, world = distributed_info()
    module = model.module if hasattr(model, "module") else model
    was_training = module.training
    module.eval()
    k = num_classes or getattr(ds, "num_classes", None) or len(getattr(ds, "classes", [])) or None
    idx = list(range(rank, len(ds), world))
    conf = None
    loss = torch.zeros(1, dtype=torch.float64)
    for s in tqdm(range(0, len(idx), batch_size), disable=not progress or rank != 0, leave=False, desc="evaluate"):
        x, y = _collate(ds, idx[s:s + batch_size])
        logits = module(x)
        if conf is None:
            k = k or logits.shape[1]
            conf = torch.zeros(k, k, dtype=torch.float64)
        loss += F.cross_entropy(logits, y, reduction="sum").double()
        pred = logits.argmax(1)
        conf.index_put_((y, pred), torch.ones(len(y), dtype=torch.float64), accumulate=True)
    if conf is None:  # this rank got no items
        k = k or 1
        conf = torch.zeros(k, k, dtype=torch.float64)
    _all_reduce(conf, world)
    _all_reduce(loss, world)
    module.train(was_training)
    n = conf.sum().item()
    per_class = (conf.diag() / conf.sum(1).clamp_min(1)).tolist()
    return {"acc": float(conf.diag().sum().item() / n), "per_class": per_class, "loss": float(loss.item() / n),
            "confusion": conf.numpy().astype(int), "n": int(n)}


# --------------------------------------------------------------------------------------------
# Command line: the torchrun entry point
# --------------------------------------------------------------------------------------------


def tiny3d(num_classes: int = 8, width: int = 8) -> nn.Module:
    """A BatchNorm-free 3D CNN (a few thousand parameters) for the multi-process agreement check."""
    return nn.Sequential(
        nn.Conv3d(3, width, 3, stride=(1, 2, 2), padding=1), nn.ReLU(),
        nn.Conv3d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(2 * width, num_classes))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Train a small model on synthetic action clips "
                                            "(1 process, or several under torchrun).")
    p.add_argument("--model", default="tiny3d", choices=["tiny3d", "r3d", "r2plus1d", "mc3", "frame2d"])
    p.add_argument("--clips", type=int, default=64, help="training clips")
    p.add_argument("--val-clips", type=int, default=0)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="save {'state_dict', 'history'} here (rank 0)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from companion.config import seed_everything
    from companion.synthetic.actions import ActionClips

    rank, world = distributed_info()
    seed_everything(a.seed)
    if a.model == "tiny3d":
        model = tiny3d()
    elif a.model == "frame2d":
        from companion.models.frame_cnn import frame_cnn

        model = frame_cnn()
    else:
        from companion.models.resnet3d import video_resnet

        model = video_resnet(a.model)
    train = ActionClips(a.clips, seed=a.seed, num_frames=a.frames, size=a.size)
    val = ActionClips(a.val_clips, seed=a.seed + 1, num_frames=a.frames, size=a.size) if a.val_clips else None
    hist = fit(model, train, val, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
               progress=not a.quiet)
    if rank == 0:
        print(f"world={world} final train loss {hist.train_loss[-1]:.6f} acc {hist.train_acc[-1]:.4f}")
        if a.out:
            torch.save({"state_dict": model.state_dict(), "history": hist.as_dict()}, a.out)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
