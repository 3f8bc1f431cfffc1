"""Training pieces for RAFT on synthetic pairs (used by ``scripts/train_raft_small.py`` and 26.4.4).

* :func:`sequence_loss` — RAFT's loss over all iterations, later ones weighted more (γ = 0.8);
* :func:`augment`       — flips (with matching flow sign changes), colour jitter, noise;
* :func:`batch_for_step` — the augmented batch of one step, a pure function of (seed, step, stage);
* :func:`one_cycle`     — the learning-rate factor over training progress.
"""

from __future__ import annotations

import numpy as np
import torch

from companion.synthetic.flow import make_pair

GEN_KW = dict(size=(128, 160), n_shapes=(2, 6), max_shift=32.0, bg_max_shift=20.0)

# Two stages, like RAFT's Chairs → Things schedule. Stage 1 ("chairs") learns flow from scratch on
# colourful pairs whose background always moves. Stage 2 ("mixed") fine-tunes from stage 1 on a
# wider mix closer to real footage: larger motions, a still background in a fifth of the pairs
# (a fixed camera must give zero flow there), nearly textureless layers (walls, sky, over-exposed
# pavement: stage 1's weights invent tens of pixels of flow there, even between two identical
# frames of the street clip), greyscale pairs and low-contrast pairs. Stage 3 ("photos") fine-tunes
# from stage 2 with half of the layers cut from real photographs bundled with scikit-image
# (real edges, shading and textureless patches) and background motions as large as the shapes'.
STAGES = {
    "chairs": dict(gen=GEN_KW, static_p=0.0, grey_p=0.0, contrast=(0.7, 1.3), seed_key=None),
    "mixed": dict(gen=dict(size=(128, 160), n_shapes=(1, 6), max_shift=40.0, bg_max_shift=24.0, flat_p=0.15),
                  static_p=0.2, grey_p=0.25, contrast=(0.5, 1.3), seed_key=2),
    "photos": dict(gen=dict(size=(128, 160), n_shapes=(1, 6), max_shift=40.0, bg_max_shift=40.0, flat_p=0.1,
                            photo_p=0.5),
                   static_p=0.15, grey_p=0.25, contrast=(0.5, 1.3), seed_key=3),
    # stage 4 ("large", fine-tuned from stage 3): the real stereo pair at full resolution has
    # disparities of 7-60 px (median 39), beyond stages 1-3's 40 px at 128x160; this stage sees
    # motions up to 96 px on 320x448 pairs (more context for the same 1/8 feature grid).
    "large": dict(gen=dict(size=(320, 448), n_shapes=(1, 8), max_shift=96.0, bg_max_shift=80.0, flat_p=0.1,
                           photo_p=0.6),
                  static_p=0.1, grey_p=0.25, contrast=(0.5, 1.3), seed_key=4),
}  # seed_key: the extra word of a stage's seed sequence, so the stages draw different pairs


def augment(img1: np.ndarray, img2: np.ndarray, flow: np.ndarray, rng: np.random.Generator, *,
            grey_p: float = 0.0, contrast_range: tuple[float, float] = (0.7, 1.3)):
    """Photometric jitter + flips. Images uint8 (H, W, 3) → float (3, H, W) in [-1, 1].
    ``grey_p``: chance that both frames become grey (equal channels)."""
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
    contrast = rng.uniform(*contrast_range)
    bias = rng.uniform(-0.1, 0.1)

    def jitter(x, g, c, d):
        m = x.mean()
        return np.clip((x * g - m) * c + m + d, 0, 1)

    a = jitter(a, gain, contrast, bias)
    asym = rng.uniform(0.95, 1.05, 3) if rng.random() < 0.2 else np.ones(3)
    b = jitter(b, gain * asym, contrast, bias)
    if grey_p > 0 and rng.random() < grey_p:
        a = np.repeat(a.mean(2, keepdims=True), 3, 2)
        b = np.repeat(b.mean(2, keepdims=True), 3, 2)
    sigma = rng.uniform(0, 0.02)
    a = a + rng.normal(0, sigma, a.shape)
    b = b + rng.normal(0, sigma, b.shape)
    to_t = lambda x: torch.from_numpy(np.ascontiguousarray(np.clip(x, 0, 1).transpose(2, 0, 1))).float() * 2 - 1
    return to_t(a), to_t(b), torch.from_numpy(np.ascontiguousarray(f)).float()


def batch_for_step(step: int, batch: int, seed: int, stage: str = "chairs"):
    """The augmented batch of one step: a pure function of (seed, step, stage)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {sorted(STAGES)}, got {stage!r}")
    cfg = STAGES[stage]
    key = cfg["seed_key"]
    seqs = np.random.SeedSequence([seed, step] if key is None else [seed, step, key]).spawn(batch)
    out = []
    for sq in seqs:
        rng = np.random.default_rng(sq)
        static = cfg["static_p"] > 0 and rng.random() < cfg["static_p"]
        s = make_pair(rng=rng, static_background=static, **cfg["gen"])
        out.append(augment(s["img1"], s["img2"], s["flow"], rng, grey_p=cfg["grey_p"],
                           contrast_range=cfg["contrast"]))
    return [torch.stack(x) for x in zip(*out)]


class StepBatches(torch.utils.data.Dataset):
    """Item ``s`` is the batch of step ``s`` (:func:`batch_for_step`): a DataLoader with workers
    renders the next steps' batches in other processes and gives the same batches in the same order."""

    def __init__(self, steps: int, batch: int, seed: int, stage: str):
        self.steps, self.batch, self.seed, self.stage = steps, batch, seed, stage

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int):
        return batch_for_step(step, self.batch, self.seed, self.stage)


def sequence_loss(predictions: list[torch.Tensor], gt: torch.Tensor, gamma: float = 0.8,
                  max_flow: float = 400.0) -> torch.Tensor:
    """Σ_i γ^(N−1−i) · mean over valid pixels of |f_i − gt|₁ (later iterations weigh more)."""
    valid = (gt.norm(dim=1, keepdim=True) < max_flow).float()
    n = len(predictions)
    total = gt.new_zeros(())
    for i, pred in enumerate(predictions):
        total = total + gamma ** (n - 1 - i) * ((pred - gt).abs() * valid).sum() / (2 * valid.sum() + 1e-8)
    return total


def one_cycle(progress: float, warmup: float = 0.05) -> float:
    """LR factor at ``progress`` ∈ [0, 1]: linear warm-up over the first 5 %, then linear decay."""
    if progress < warmup:
        return (progress + 1e-3) / warmup
    return max(0.0, (1 - progress) / (1 - warmup))
