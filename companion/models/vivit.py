"""ViViT, factorised encoder (26.3, "model 2" of Arnab et al. 2021).

Two transformers in a row:

1. **spatial** — tubelet tokens ``(B, T', N, D)`` (tubelet ``t x p x p``, Conv3d stride = kernel);
   every time slot goes through a ViT of its own with a class token: ``B T'`` sequences of
   length ``1 + N``. Its class output is the slot's summary ``(B, T', D)``.
2. **temporal** — the ``T'`` summaries (+ a temporal position table and a second class token)
   go through a small transformer: ``B`` sequences of length ``1 + T'``; its class token is
   classified.

Cost per spatial layer is ``T' N^2`` and per temporal layer ``T'^2`` — far below joint attention,
at the price of mixing time only after space has been summarised ("late fusion" of frames).

The tubelet embedding can start from a 2D (image) patch embedding: ``init_from=conv2d`` puts the
2D kernel in the central temporal slot (zeros elsewhere), so on a static clip each tubelet
embeds exactly like the image patch.
"""

from __future__ import annotations

import torch
from torch import nn

from companion.models.attention import Block
from companion.models.timesformer import _init_linear
from companion.models.tubelets import (SpaceTimePositionEmbedding, TubeletEmbedding,
                                       inflate_patch_embedding, resize_temporal_pos, token_grid)

__all__ = ["ViViT", "vivit"]


class ViViT(nn.Module):
    """Factorised-encoder ViViT: clip ``(B, C, T, H, W)`` -> logits ``(B, num_classes)``."""

    def __init__(self, *, num_frames: int = 16, img_size=224, patch_size=16, tubelet_size: int = 2,
                 in_channels: int = 3, dim: int = 768, spatial_depth: int = 12,
                 temporal_depth: int = 4, heads: int = 12, mlp_ratio: float = 4.0,
                 num_classes: int = 400, backend: str = "explicit",
                 init_from: nn.Conv2d | None = None, pos_std: float = 0.02,
                 input_norm: str | None = None, pool: str = "cls"):
        super().__init__()
        if input_norm not in (None, "clip"):
            raise ValueError(f"input_norm must be None or 'clip', got {input_norm!r}")
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        self.input_norm, self.pool = input_norm, pool
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        t, gh, gw = token_grid(num_frames, img_size, patch_size, tubelet_size)
        self.num_frames, self.dim = num_frames, dim
        self.patch_embed = TubeletEmbedding(in_channels, dim, patch_size, tubelet_size)
        self.pos = SpaceTimePositionEmbedding(t, (gh, gw), dim, temporal_init="none", std=pos_std)
        self.spatial_cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.temporal_cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.temporal_pos = nn.Parameter(torch.zeros(1, t, dim))
        for p in (self.spatial_cls, self.temporal_cls, self.temporal_pos):
            nn.init.trunc_normal_(p, std=0.02)
        self.spatial = nn.ModuleList(Block(dim, heads, mlp_ratio, backend) for _ in range(spatial_depth))
        self.spatial_norm = nn.LayerNorm(dim, eps=1e-6)
        self.temporal = nn.ModuleList(Block(dim, heads, mlp_ratio, backend) for _ in range(temporal_depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)
        self.apply(_init_linear)
        if init_from is not None:
            if (init_from.out_channels, init_from.in_channels) != (dim, in_channels) or tuple(
                    init_from.kernel_size) != self.patch_embed.patch_size:
                raise ValueError(
                    f"init_from must be a Conv2d {in_channels}->{dim} with kernel "
                    f"{self.patch_embed.patch_size}, got {init_from.in_channels}->"
                    f"{init_from.out_channels} kernel {tuple(init_from.kernel_size)}")
            self.patch_embed = inflate_patch_embedding(init_from, tubelet_size, "central")

    def slot_features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-time-slot summaries ``(B, T', D)`` from the spatial transformer."""
        if self.input_norm == "clip":   # standardise each clip per channel, as TimeSformer's option
            self.patch_embed.grid(x)
            x = (x - x.mean((2, 3, 4), keepdim=True)) / (x.std((2, 3, 4), keepdim=True) + 1e-6)
        tokens = self.patch_embed(x)                                     # (B, T', N, D)
        b, t, n, d = tokens.shape
        tokens = self.pos(tokens, self.patch_embed.grid(x)[1:])
        z = torch.cat([self.spatial_cls.expand(b * t, 1, d), tokens.reshape(b * t, n, d)], dim=1)
        for blk in self.spatial:
            z = blk(z)
        summary = z[:, 1:].mean(dim=1) if self.pool == "mean" else z[:, 0]
        return self.spatial_norm(summary).reshape(b, t, d)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        s = self.slot_features(x)
        b, t, d = s.shape
        z = torch.cat([self.temporal_cls.expand(b, 1, d), s + resize_temporal_pos(self.temporal_pos, t)],
                      dim=1)
        for blk in self.temporal:
            z = blk(z)
        return self.norm(z)[:, 1:].mean(dim=1) if self.pool == "mean" else self.norm(z)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def macs(self, num_frames: int | None = None, img_size=None) -> int:
        """Exact multiply-accumulates of one forward pass on one clip (linear/conv/attention matmuls)."""
        num_frames = num_frames or self.num_frames
        tt = self.patch_embed.tubelet_size
        ph, pw = self.patch_embed.patch_size
        img = img_size or (self.pos.grid_hw[0] * ph, self.pos.grid_hw[1] * pw)
        t, gh, gw = token_grid(num_frames, img, (ph, pw), tt)
        n, d, c = gh * gw, self.dim, self.patch_embed.in_channels
        hidden = (self.spatial[0] if len(self.spatial) else self.temporal[0]).mlp.fc1.out_features
        lin = 4 * d * d + 2 * d * hidden
        total = t * n * d * c * tt * ph * pw + d * self.head.out_features
        total += len(self.spatial) * t * ((n + 1) * lin + 2 * (n + 1) ** 2 * d)
        total += len(self.temporal) * ((t + 1) * lin + 2 * (t + 1) ** 2 * d)
        return total


def vivit(*, num_frames: int = 16, img_size=224, patch_size=16, tubelet_size: int = 2,
          dim: int = 768, spatial_depth: int = 12, temporal_depth: int = 4, heads: int = 12,
          num_classes: int = 400, in_channels: int = 3, mlp_ratio: float = 4.0,
          backend: str = "explicit", init_from: nn.Conv2d | None = None, pos_std: float = 0.02,
          input_norm: str | None = None, pool: str = "cls") -> ViViT:
    """Build a factorised-encoder :class:`ViViT` (defaults: ViViT-B/16x2 FE, 12 spatial + 4 temporal).
    ``pos_std``, ``input_norm="clip"`` and ``pool="mean"`` (summaries and the final feature are means
    of tokens instead of class tokens) mean what they mean for
    :func:`~companion.models.timesformer.timesformer` (the small-data settings of the companion)."""
    return ViViT(num_frames=num_frames, img_size=img_size, patch_size=patch_size,
                 tubelet_size=tubelet_size, in_channels=in_channels, dim=dim,
                 spatial_depth=spatial_depth, temporal_depth=temporal_depth, heads=heads,
                 mlp_ratio=mlp_ratio, num_classes=num_classes, backend=backend, init_from=init_from,
                 pos_std=pos_std, input_norm=input_norm, pool=pool)
