"""Training pieces for RAFT on synthetic pairs (used by ``scripts/train_raft_small.py`` and 26.4.4).

* :func:`sequence_loss` — RAFT's loss over all iterations, later ones weighted more (γ = 0.8);
* :func:`augment`       — flips (with matching flow sign changes), colour jitter, noise;
* :func:`batch_for_step` — the augmented batch of one step, a pure function of (seed, step);
* :func:`one_cycle`     — the learning-rate factor over training progress.
"""

from __future__ import annotations

import numpy as np
import torch

from companion.synthetic.flow import make_pair

GEN_KW = dict(size=(128, 160), n_shapes=(2, 6), max_shift=32.0, bg_max_shift=20.0)


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


def one_cycle(progress: float, warmup: float = 0.05) -> float:
    """LR factor at ``progress`` ∈ [0, 1]: linear warm-up over the first 5 %, then linear decay."""
    if progress < warmup:
        return (progress + 1e-3) / warmup
    return max(0.0, (1 - progress) / (1 - warmup))
