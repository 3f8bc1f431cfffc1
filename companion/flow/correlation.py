"""The all-pairs correlation volume, its pyramid, and the lookup around the current estimate.

RAFT compares every pixel of frame 1's feature map with every pixel of frame 2's:
``C[b, i, j, k, l] = <f1[b, :, i, j], f2[b, :, k, l]> / sqrt(D)`` — a 4-D volume of size
(H/8 · W/8)², built once. The last two dimensions are average-pooled 3 times (×2 each) to get a
4-level pyramid: coarse levels see large motions, fine levels see detail.

At every iteration the current estimate ``coords1`` (where each frame-1 pixel is believed to be
in frame 2, in 1/8-resolution pixels) is used to *look up* a (2r+1)×(2r+1) window of
correlations around it at each level (``coords1 / 2**level`` there), bilinearly, with
``grid_sample(align_corners=True)`` in absolute pixel coordinates. Those L·(2r+1)² numbers per
pixel are the "correlation features" the update operator sees.

Pitfall kept on purpose: the window offsets are built as ``meshgrid(d, d, indexing="ij")`` and the
first component is used as the *x* offset, so inside one level's (2r+1)² channels the x offset is
the slow index. Swapping that order gives a network that runs but disagrees with every trained
RAFT checkpoint.

:class:`OnDemandCorrBlock` gives the same features without the volume: pooling the volume's last
two axes equals correlating with pooled frame-2 features, and bilinear interpolation of a dot
product equals the dot product with bilinearly interpolated features, so each window value can be
computed from ``f1`` and a sampled ``f2`` when it is needed. Memory is O(H·W·D) instead of
O((H·W)²).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def all_pairs_correlation(fmap1: torch.Tensor, fmap2: torch.Tensor) -> torch.Tensor:
    """(B, D, H, W) × (B, D, H, W) → (B, H, W, H, W): dot products of all pixel pairs / √D."""
    if fmap1.shape != fmap2.shape:
        raise ValueError(f"feature maps must have the same shape, got {tuple(fmap1.shape)} "
                         f"and {tuple(fmap2.shape)}")
    b, d, h, w = fmap1.shape
    corr = torch.matmul(fmap1.reshape(b, d, h * w).transpose(1, 2), fmap2.reshape(b, d, h * w))
    return corr.view(b, h, w, h, w) / math.sqrt(d)


def correlation_pyramid(corr: torch.Tensor, num_levels: int = 4) -> list[torch.Tensor]:
    """Pool the frame-2 axes of a (B, H, W, H, W) volume: a list of (B·H·W, 1, H/2^l, W/2^l)."""
    b, h, w, h2, w2 = corr.shape
    level = corr.reshape(b * h * w, 1, h2, w2)
    pyramid = [level]
    for _ in range(num_levels - 1):
        level = F.avg_pool2d(level, kernel_size=2, stride=2)
        pyramid.append(level)
    return pyramid


def window_offsets(radius: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(2r+1, 2r+1, 2) offsets; ``[..., 0]`` (used as x) varies along the FIRST axis."""
    d = torch.linspace(-radius, radius, 2 * radius + 1, device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(d, d, indexing="ij"), dim=-1)


def sample_at(img: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """``grid_sample`` with absolute pixel coordinates ``coords[..., (x, y)]``, align_corners=True,
    zeros outside."""
    h, w = img.shape[-2:]
    x, y = coords.unbind(-1)
    x = 2 * x / (w - 1) - 1
    y = 2 * y / (h - 1) - 1 if h > 1 else y
    return F.grid_sample(img, torch.stack([x, y], dim=-1), mode="bilinear", align_corners=True)


def lookup(pyramid: list[torch.Tensor], coords: torch.Tensor, radius: int) -> torch.Tensor:
    """Correlation features around ``coords`` (B, 2, H, W; x then y): (B, L·(2r+1)², H, W)."""
    b, _, h, w = coords.shape
    delta = window_offsets(radius, coords.device, coords.dtype).view(1, 2 * radius + 1, 2 * radius + 1, 2)
    centre = coords.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 2)
    feats = []
    for level, corr in enumerate(pyramid):
        window = sample_at(corr, centre / 2 ** level + delta)  # (BHW, 1, 2r+1, 2r+1)
        feats.append(window.view(b, h, w, -1))
    return torch.cat(feats, dim=-1).permute(0, 3, 1, 2).contiguous()


def _check_pyramid_size(fmap: torch.Tensor, num_levels: int) -> None:
    smallest = 2 * 2 ** (num_levels - 1)
    if min(fmap.shape[-2:]) < smallest:
        raise ValueError(f"feature maps of {tuple(fmap.shape[-2:])} are too small for a {num_levels}-level "
                         f"pyramid: need at least {smallest} per side, i.e. images of at least "
                         f"{8 * smallest}×{8 * smallest}")


class CorrBlock(nn.Module):
    """Full all-pairs volume + pyramid (``build_pyramid``), windowed lookup (``index_pyramid``)."""

    def __init__(self, *, num_levels: int = 4, radius: int = 4):
        super().__init__()
        self.num_levels, self.radius = num_levels, radius
        self.out_channels = num_levels * (2 * radius + 1) ** 2
        self.corr_pyramid: list[torch.Tensor] = []

    def build_pyramid(self, fmap1: torch.Tensor, fmap2: torch.Tensor) -> None:
        _check_pyramid_size(fmap1, self.num_levels)
        self.corr_pyramid = correlation_pyramid(all_pairs_correlation(fmap1, fmap2), self.num_levels)

    def index_pyramid(self, centroids_coords: torch.Tensor) -> torch.Tensor:
        return lookup(self.corr_pyramid, centroids_coords, self.radius)


class OnDemandCorrBlock(CorrBlock):
    """Same features as :class:`CorrBlock`, computed from features at lookup time.

    Keeps ``f1`` and a pyramid of average-pooled ``f2`` (O(H·W·D) memory). For each window row it
    samples the pooled ``f2`` at the 2r+1 positions of that row and takes dot products with ``f1``.
    """

    def build_pyramid(self, fmap1: torch.Tensor, fmap2: torch.Tensor) -> None:
        if fmap1.shape != fmap2.shape:
            raise ValueError(f"feature maps must have the same shape, got {tuple(fmap1.shape)} "
                             f"and {tuple(fmap2.shape)}")
        _check_pyramid_size(fmap1, self.num_levels)
        self.fmap1 = fmap1 / math.sqrt(fmap1.shape[1])  # fold the 1/√D scale into f1 once
        self.f2_pyramid = [fmap2]
        for _ in range(self.num_levels - 1):
            self.f2_pyramid.append(F.avg_pool2d(self.f2_pyramid[-1], kernel_size=2, stride=2))

    def index_pyramid(self, centroids_coords: torch.Tensor) -> torch.Tensor:
        b, _, h, w = centroids_coords.shape
        side = 2 * self.radius + 1
        delta = window_offsets(self.radius, centroids_coords.device, centroids_coords.dtype)
        centre = centroids_coords.permute(0, 2, 3, 1)  # (B, H, W, 2)
        f1 = self.fmap1.unsqueeze(2)  # (B, D, 1, H, W)
        feats = []
        for level, f2 in enumerate(self.f2_pyramid):
            c = centre / 2 ** level
            for i in range(side):  # one row of the window (fixed x offset) at a time
                pts = c.unsqueeze(1) + delta[i].view(1, side, 1, 1, 2)  # (B, side, H, W, 2)
                sampled = sample_at(f2, pts.reshape(b, side * h, w, 2)).view(b, -1, side, h, w)
                feats.append((sampled * f1).sum(1))  # (B, side, H, W)
        return torch.cat(feats, dim=1)


def volume_bytes(height: int, width: int, bytes_per_value: int = 4, num_levels: int = 4) -> int:
    """Bytes of the all-pairs volume *and* its pooled levels for an image of height × width
    (features at 1/8 resolution): N = (H/8)(W/8) frame-1 pixels, each with a pyramid of
    N, N/4, N/16, ... frame-2 entries."""
    h, w = height // 8, width // 8
    total = 0
    for level in range(num_levels):
        total += (h * w) * (h // 2 ** level) * (w // 2 ** level)
    return total * bytes_per_value
