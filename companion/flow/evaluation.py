"""One table: trained RAFT against classical flow, on held-out synthetic pairs and on a real pair.

Real ground truth offline: scikit-image ships the Middlebury 2014 "motorcycle" stereo pair with
its disparity map. A rectified stereo pair is a flow problem with purely horizontal motion:
the pixel at x in the left view appears at x − d in the right view, so the left→right flow is
(−d, 0); pixels without disparity (``inf``) are not scored. It is a *test* pair only — never
used for training or for choosing training settings.

    from companion.flow.evaluation import evaluation_table
    print(evaluation_table().to_string())
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from companion.flow import classical
from companion.flow.metrics import endpoint_errors

HELDOUT_SEED = 20_260_426  # never used by scripts/train_raft_small.py (it seeds with [seed, step])
HELDOUT_KW = dict(size=(192, 256), n_shapes=(2, 6), max_shift=32.0, bg_max_shift=20.0)


def motorcycle_pair(half: bool = False) -> dict:
    """The Middlebury motorcycle stereo pair: uint8 images (500, 741, 3), flow (2, H, W) with
    ``inf`` where the disparity is unknown, and ``valid``. ``half=True``: both images 2×2-averaged
    (250×370) and the disparity averaged over the same blocks and halved (unknown if any of the
    four is unknown) — a cheaper version of the same test for fast mode."""
    from skimage.data import stereo_motorcycle

    left, right, disp = stereo_motorcycle()
    if half:
        h, w = disp.shape[0] // 2 * 2, disp.shape[1] // 2 * 2
        pool = lambda a: a[:h, :w].reshape(h // 2, 2, w // 2, 2, *a.shape[2:]).astype(np.float64).mean((1, 3))
        left = np.rint(pool(left)).astype(np.uint8)
        right = np.rint(pool(right)).astype(np.uint8)
        disp = (pool(disp) / 2).astype(np.float32)  # inf stays inf
    flow = np.stack([-disp, np.zeros_like(disp)]).astype(np.float32)
    flow[:, ~np.isfinite(disp)] = np.inf
    return {"img1": left, "img2": right, "flow": flow, "valid": np.isfinite(disp)}


def heldout_synthetic(n: int = 16, seed: int = HELDOUT_SEED) -> list[dict]:
    from companion.synthetic.flow import make_dataset

    return make_dataset(n, seed=seed, **HELDOUT_KW)


TRAIN_SIDE = 384  # "auto" scale: longer image side at most this many pixels


def raft_flow_fn(model=None, *, num_flow_updates: int = 12, scale: float | str = 1.0) -> Callable:
    """A ``(img1, img2) -> (2, H, W)`` function running RAFT, optionally on images resized by
    ``scale`` (the flow is resized back and multiplied by 1/scale). ``scale="auto"`` shrinks
    images whose longer side exceeds :data:`TRAIN_SIDE` px to that size: our weights were trained
    on 128×160 images with motions up to ~32 px, and large images with large motions fall outside
    what they have seen."""
    from companion.flow.raft import predict_flow, raft_small

    model = raft_small(pretrained=True) if model is None else model

    def run(img1, img2):
        a, b = np.asarray(img1), np.asarray(img2)
        h, w = a.shape[:2]
        s = min(1.0, TRAIN_SIDE / max(h, w)) if scale == "auto" else float(scale)
        if s != 1.0:
            import cv2

            size = (max(1, round(w * s)), max(1, round(h * s)))
            a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
            b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
        f = predict_flow(model, a, b, num_flow_updates=num_flow_updates)
        if s != 1.0:
            f = F.interpolate(f[None], size=(h, w), mode="bilinear", align_corners=False)[0]
            f = f * torch.tensor([w / f.new_tensor(a.shape[1]), h / f.new_tensor(a.shape[0])]).view(2, 1, 1)
        return f.numpy()

    return run


def score(method: Callable, pairs: list[dict], *, use_valid: bool = False,
          keep: list | None = None) -> dict[str, float]:
    """EPE (px) and share of pixels with EPE > 3 px (%) pooled over all scored pixels.

    Synthetic pairs are scored on every pixel (their flow is defined everywhere, occluded or not),
    like FlyingChairs; the stereo pair on pixels with a finite disparity.
    """
    errs = []
    for p in pairs:
        pred = method(p["img1"], p["img2"])
        if keep is not None:
            keep.append(pred)
        errs.append(endpoint_errors(pred, p["flow"], p["valid"] if use_valid else None))
    e = torch.cat(errs)
    return {"epe": float(e.mean()), "px3": 100.0 * float((e > 3).double().mean())}


RAFT_NAME = "RAFT-small (ours)"


def default_methods(model=None, *, num_flow_updates: int = 12) -> dict[str, Callable]:
    """Our RAFT (``scale="auto"``), the same at full resolution, and the classical baselines."""
    from companion.flow.raft import raft_small

    model = raft_small(pretrained=True) if model is None else model
    methods = {RAFT_NAME: raft_flow_fn(model, num_flow_updates=num_flow_updates, scale="auto"),
               RAFT_NAME + ", full resolution": raft_flow_fn(model, num_flow_updates=num_flow_updates)}
    methods.update(classical.METHODS)
    return methods


def evaluation_table(methods: dict[str, Callable] | None = None, *, n_synthetic: int = 16,
                     progress: bool = True, half_motorcycle: bool = False,
                     predictions: dict | None = None):
    """pandas DataFrame: rows = methods, columns = (synthetic EPE, >3px %, motorcycle EPE, >3px %).

    Pass a dict as ``predictions`` to get every flow back: ``predictions[name]["synthetic"]`` (list)
    and ``predictions[name]["motorcycle"]``."""
    import pandas as pd
    from tqdm.auto import tqdm

    methods = default_methods() if methods is None else methods
    synth = heldout_synthetic(n_synthetic)
    moto = [motorcycle_pair(half=half_motorcycle)]
    rows = {}
    for name, fn in tqdm(methods.items(), desc="methods", disable=not progress):
        ks, km = [], []
        s, m = score(fn, synth, keep=ks), score(fn, moto, keep=km)
        if predictions is not None:
            predictions[name] = {"synthetic": ks, "motorcycle": km[0]}
        rows[name] = {"synthetic EPE": s["epe"], "synthetic >3px %": s["px3"],
                      "motorcycle EPE": m["epe"], "motorcycle >3px %": m["px3"]}
    return pd.DataFrame.from_dict(rows, orient="index").round(2)
