"""Exercises for 26.4 (optical flow and RAFT).

    from companion.exercises import ex26_4 as ex
    ex.q1.check(my_all_pairs_correlation)   # a function (fmap1, fmap2) -> (B, H, W, H, W)
    ex.q1.hint(); ex.q1.solution()

q1  the all-pairs correlation volume
q2  the pyramid lookup around the current estimate (window at an offset, bilinear)
q3  backward warping of frame 2 with ``grid_sample``
q4  the end-point error (EPE)
q5  memory of the all-pairs pyramid at 1088×1920 (a number)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from companion.exercises._core import ExerciseSet, FunctionExercise, ValueExercise
from companion.flow.correlation import all_pairs_correlation, lookup, volume_bytes
from companion.flow.viz import warp_backward


def _corr_cases():
    g = torch.Generator().manual_seed(11)
    return [(torch.randn(1, 8, 4, 5, generator=g), torch.randn(1, 8, 4, 5, generator=g)),
            (torch.randn(2, 16, 3, 3, generator=g), torch.randn(2, 16, 3, 3, generator=g))]


def _lookup_cases():
    g = torch.Generator().manual_seed(12)
    corr = torch.randn(1, 6, 8, 6, 8, generator=g)
    pyramid = [corr.reshape(48, 1, 6, 8), F.avg_pool2d(corr.reshape(48, 1, 6, 8), 2)]
    ys, xs = torch.meshgrid(torch.arange(6.0), torch.arange(8.0), indexing="ij")
    offset = torch.tensor([1.5, -0.75]).view(2, 1, 1)  # the current flow estimate
    coords = (torch.stack([xs, ys]) + offset)[None]
    return [(pyramid, coords, 1), (pyramid[:1], coords, 2)]


def _warp_cases():
    g = torch.Generator().manual_seed(13)
    img = torch.rand(3, 12, 16, generator=g)
    return [(img, torch.randn(2, 12, 16, generator=g) * 2),
            (img, torch.full((2, 12, 16), 1.0))]


def _epe_cases():
    g = torch.Generator().manual_seed(14)
    gt = torch.randn(2, 10, 12, generator=g) * 3
    return [(gt + torch.randn(2, 10, 12, generator=g), gt), (gt * 0 + torch.tensor([3.0, 4.0]).view(2, 1, 1), gt * 0)]


def epe(pred, gt) -> float:
    """Mean end-point error: the Euclidean length of pred - gt over the channel axis (x, y),
    averaged over the pixels whose ground truth is finite. (companion.flow.metrics.epe also takes
    a validity mask; tests/test_26_4_flow_tools.py checks the two agree.)"""
    pred, gt = torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(gt, dtype=torch.float64)
    valid = torch.isfinite(gt).all(dim=-3)                    # e.g. no disparity in a stereo pair
    err = (pred - gt).pow(2).sum(dim=-3).sqrt()               # (H, W) end-point errors
    return float(err[valid].mean())


def _gigabytes_1088x1920() -> float:
    """The all-pairs pyramid of a 1088 x 1920 frame pair in float32 (4 bytes), 4 levels.
    Features are at 1/8 resolution: N = 136 x 240 frame-1 pixels, each correlated with all of
    frame 2 at every pyramid level: N, N/4, N/16, N/64 entries (companion.flow.correlation.
    volume_bytes computes this for any size)."""
    h, w = 1088 // 8, 1920 // 8
    n = h * w
    entries = sum(n * (h // 2 ** level) * (w // 2 ** level) for level in range(4))
    return entries * 4 / 1e9


EXERCISES = ExerciseSet(
    "26.4",
    q1=FunctionExercise(
        "q1", "Write all_pairs(fmap1, fmap2): (B, D, H, W) feature maps → (B, H, W, H, W) volume of "
              "dot products between every pixel of frame 1 and every pixel of frame 2, divided by √D.",
        all_pairs_correlation, hints=[
            "Flatten the pixels: (B, D, H·W). One batched matrix product gives every pair at once.",
            "torch.matmul(f1.transpose(1, 2), f2) is (B, HW, HW); reshape to (B, H, W, H, W) and divide "
            "by math.sqrt(D).",
        ], cases=_corr_cases, atol=1e-5),
    q2=FunctionExercise(
        "q2", "Write lookup(pyramid, coords, radius): for each pixel, the (2r+1)² correlations around "
              "coords (x, y) at every level (coords / 2**level there), bilinear with "
              "grid_sample(align_corners=True), zeros outside. Output (B, L·(2r+1)², H, W); inside one "
              "level the x offset is the slow index.",
        lookup, hints=[
            "Offsets: d = torch.linspace(-r, r, 2r+1); delta = stack(meshgrid(d, d, indexing='ij'), -1) "
            "and use delta[..., 0] as the x offset (that is how trained RAFT weights expect it).",
            "Reshape coords to (B·H·W, 1, 1, 2), add delta (1, 2r+1, 2r+1, 2), convert to [-1, 1] with "
            "2·x/(W−1) − 1, grid_sample each level (shape (B·H·W, 1, h, w)), view as (B, H, W, −1), "
            "concatenate levels on the last axis and permute to channels-first.",
        ], cases=_lookup_cases, atol=1e-5),
    q3=FunctionExercise(
        "q3", "Write warp(img, flow): sample frame 2 (C, H, W) at p + flow(p) for every pixel p with "
              "F.grid_sample (bilinear, zeros outside, align_corners=True) so that, where the flow is "
              "right, the result looks like frame 1.",
        warp_backward, hints=[
            "Build the pixel grid with meshgrid(arange(H), arange(W), indexing='ij'); add flow[0] to x and "
            "flow[1] to y.",
            "grid_sample wants (N, H, W, 2) in [-1, 1] with x first: x' = 2·x/(W−1) − 1, y' = 2·y/(H−1) − 1; "
            "add a batch axis and remove it afterwards.",
        ], cases=_warp_cases, atol=1e-4),
    q4=FunctionExercise(
        "q4", "Write epe(pred, gt): the mean end-point error in pixels of two (2, H, W) flows.",
        epe, hints=["The per-pixel error is the Euclidean length of pred − gt over the channel axis.",
                    "torch.linalg.vector_norm(pred - gt, dim=0).mean()"],
        cases=_epe_cases, atol=1e-4),
    q5=ValueExercise(
        "q5", "How many gigabytes (1e9 bytes) does the fp32 all-pairs pyramid (4 levels) take for one "
              "1088×1920 image pair? (features at 1/8 resolution)",
        _gigabytes_1088x1920, hints=[
            "N = (1088/8)·(1920/8) feature pixels; level l has N · (136/2^l)·(240/2^l) entries.",
            "The finest level alone is N² · 4 bytes ≈ 4.26 GB; the pooled levels add about a third."],
        rtol=1e-3),
)

q1, q2, q3, q4, q5 = (EXERCISES.q1, EXERCISES.q2, EXERCISES.q3, EXERCISES.q4, EXERCISES.q5)


def _corr_unscaled(f1, f2):
    b, d, h, w = f1.shape
    return torch.matmul(f1.reshape(b, d, -1).transpose(1, 2), f2.reshape(b, d, -1)).view(b, h, w, h, w)


def _lookup_xy_swapped(pyramid, coords, radius):
    d = torch.linspace(-radius, radius, 2 * radius + 1)
    delta = torch.stack(torch.meshgrid(d, d, indexing="xy"), dim=-1).view(1, 2 * radius + 1, 2 * radius + 1, 2)
    b, _, h, w = coords.shape
    centre = coords.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 2)
    out = []
    for level, corr in enumerate(pyramid):
        p = centre / 2 ** level + delta
        hh, ww = corr.shape[-2:]
        grid = torch.stack([2 * p[..., 0] / (ww - 1) - 1, 2 * p[..., 1] / (hh - 1) - 1], -1)
        out.append(F.grid_sample(corr, grid, align_corners=True).view(b, h, w, -1))
    return torch.cat(out, -1).permute(0, 3, 1, 2)


def _warp_no_align(img, flow):
    h, w = img.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    grid = torch.stack([(xs + flow[0]) / (w - 1) * 2 - 1, (ys + flow[1]) / (h - 1) * 2 - 1], -1)
    return F.grid_sample(img[None].float(), grid[None].float(), align_corners=False)[0]


WRONG_ANSWERS = {
    "q1": _corr_unscaled,
    "q2": _lookup_xy_swapped,
    "q3": _warp_no_align,
    "q4": lambda pred, gt: float((pred - gt).abs().sum(0).mean()),  # L1, not Euclidean
    "q5": volume_bytes(1088, 1920, 4, num_levels=1) / 1e9,  # the finest level only
}
