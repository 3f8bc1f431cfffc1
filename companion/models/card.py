"""The small members of each 26.2 family that the card (notebook 26.2.6) compares, and their
shipped weights.

Every family gets the same data and loop (:data:`RECIPE`): 8-frame 32×32 synthetic action clips
(C3D: 16 frames, it pools time four times), 1,536 training clips from seed 0, ``fit`` with AdamW,
cosine schedule, batch 32, 6 epochs, seed 0; held-out accuracy on 512 clips from seed 1.
:func:`train_family` trains one (``scripts/train_card_26_2.py`` runs it for every family) and writes ``companion/weights/card26_2_<family>.pt``
(``state_dict``, ``history``, held-out ``acc`` / ``per_class`` / ``confusion``, CPU seconds);
:func:`load_card_model` rebuilds a family and loads its weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

__all__ = ["FAMILIES", "RECIPE", "build", "card_data", "weights_path", "load_card_model", "train_family"]

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
WIDTHS = (8, 16, 32, 64)
NUM_FLOWS = 6

#: The shared recipe (every family uses it unchanged; :data:`FAMILIES` could override it per family).
RECIPE = dict(frames=8, size=32, n_train=1536, train_seed=0, n_test=512, test_seed=1,
              epochs=6, batch_size=32, lr=3e-3, weight_decay=1e-4, seed=0)


def _frame2d():
    from companion.models.frame_cnn import frame_cnn
    return frame_cnn(num_classes=8, widths=WIDTHS)


def _c3d():
    from companion.models.c3d import c3d
    # the plain (BatchNorm-free) C3D stays at chance here; the card uses its BatchNorm variant, and no
    # dropout in the 128-wide head (chosen on validation clips of seed 2: see companion.models.c3d)
    return c3d(num_classes=8, width=8, fc_width=128, num_frames=16, size=32, batch_norm=True, dropout=0.0)


def _resnet(kind):
    def f():
        from companion.models.resnet3d import video_resnet
        return video_resnet(kind, num_classes=8, widths=WIDTHS)
    return f


def _i3d():
    from companion.models.frame_cnn import small_cnn2d
    from companion.models.inflate import inflate
    return inflate(small_cnn2d(num_classes=8, widths=WIDTHS), stem_time_kernel=3)


def _two_stream():
    from companion.models.two_stream import two_stream
    return two_stream(num_classes=8, num_flows=NUM_FLOWS, widths=WIDTHS)


def _slowfast():
    from companion.models.slowfast import slowfast
    # at widths 8-64, β = 1/8 would leave the fast pathway one channel wide: the small one uses β = 1/2
    return slowfast(num_classes=8, alpha=4, beta=1 / 2, widths=WIDTHS)


#: family key → (label on the card, builder, input kind, recipe overrides)
FAMILIES: dict[str, tuple] = {
    "frame2d": ("2D per-frame", _frame2d, "clip", {}),
    "c3d": ("C3D (+BatchNorm, no dropout)", _c3d, "clip16", {}),
    "r3d": ("R3D", _resnet("r3d"), "clip", {}),
    "mc3": ("MC3", _resnet("mc3"), "clip", {}),
    "r2plus1d": ("R(2+1)D", _resnet("r2plus1d"), "clip", {}),
    "i3d": ("I3D (inflated small 2D CNN)", _i3d, "clip", {}),
    "two_stream": (f"two-stream (DIS flow, L={NUM_FLOWS})", _two_stream, "flow", {}),
    "slowfast": ("SlowFast (α=4, β=1/2)", _slowfast, "clip", {}),
}


def _family(name: str) -> tuple:
    if name not in FAMILIES:
        raise ValueError(f"unknown card family {name!r}; accepted: {list(FAMILIES)}")
    return FAMILIES[name]


def recipe(name: str) -> dict:
    """The shared :data:`RECIPE` with the family's overrides applied."""
    return {**RECIPE, **_family(name)[3]}


def build(name: str) -> nn.Module:
    """A freshly initialised small model of family ``name``."""
    return _family(name)[1]()


def card_data(name: str, split: str, n: int | None = None):
    """The family's dataset: ``split`` "train" or "test" (held-out seed), first ``n`` clips."""
    from companion.models.two_stream import TwoStreamClips
    from companion.synthetic.actions import ActionClips

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    r, kind = recipe(name), _family(name)[2]
    n = n or r[f"n_{split}"]
    frames = 16 if kind == "clip16" else r["frames"]
    ds = ActionClips(n, r[f"{split}_seed"], frames, r["size"], cache=True)
    return TwoStreamClips(ds, NUM_FLOWS, "dis") if kind == "flow" else ds


def weights_path(name: str) -> Path:
    _family(name)
    return WEIGHTS_DIR / f"card26_2_{name}.pt"


def load_card_model(name: str) -> tuple[nn.Module, dict]:
    """``(model in eval mode, checkpoint)`` for family ``name`` from its shipped weights."""
    path = weights_path(name)
    if not path.exists():
        raise FileNotFoundError(f"no shipped weights for {name!r} at {path}; "
                                f"train them with: python scripts/train_card_26_2.py {name}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = build(name)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt


def train_family(name: str, save: bool = False, progress: bool = False) -> tuple[nn.Module, dict]:
    """Train family ``name`` with its recipe; returns ``(model, checkpoint dict)`` and, with
    ``save``, writes the checkpoint to :func:`weights_path`."""
    import time

    from companion.config import seed_everything
    from companion.models.cost import count_params, gmacs
    from companion.training import evaluate, fit

    r = recipe(name)
    train, test = card_data(name, "train"), card_data(name, "test")
    c0 = time.process_time()
    for i in range(len(train)):  # render (and, for two-stream, compute flow) once, outside the timing
        train[i]
    data_cpu = time.process_time() - c0
    seed_everything(r["seed"])
    model = build(name)
    c0, t0 = time.process_time(), time.perf_counter()
    hist = fit(model, train, None, epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"],
               weight_decay=r["weight_decay"], seed=r["seed"], progress=progress, desc=name)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    ev = evaluate(model, test)
    ckpt = {"family": name, "acc": ev["acc"], "per_class": ev["per_class"], "confusion": ev["confusion"],
            "params": count_params(model), "mmacs": gmacs(model, train[0][0][None]) * 1e3,
            "train_cpu_s": cpu, "train_wall_s": wall, "data_cpu_s": data_cpu, "recipe": r,
            "history": hist.as_dict()}
    if save:
        torch.save({"state_dict": model.state_dict(), **ckpt}, weights_path(name))
    return model.eval(), ckpt
