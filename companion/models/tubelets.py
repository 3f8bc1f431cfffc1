"""Tubelet embedding: how a clip becomes a sequence of tokens (26.3).

A clip ``(B, C, T, H, W)`` is cut into non-overlapping tubelets of ``t x p x p`` pixels; each
tubelet is flattened and mapped linearly to ``dim`` numbers. "Flatten then multiply by a matrix"
over non-overlapping blocks is exactly a :class:`torch.nn.Conv3d` whose stride equals its kernel,
which is how it is written here. With ``t = 1`` it is the per-frame 2D patch embedding of ViT /
TimeSformer; ViViT and VideoMAE use ``t = 2``.

The token count is ``(T / t) * (H / p) * (W / p)``: for 16 frames of 224 x 224 with 16 x 16
patches that is 3,136 tokens with ``t = 1`` (1,568 with ``t = 2``), against 196 for one image.

Position embeddings are learned and *separable*: a spatial table over the ``h x w`` patch grid
plus a temporal table over the ``T / t`` slots. Both can be resized for other clip lengths or
frame sizes (:func:`resize_spatial_pos` bicubic over the grid, :func:`resize_temporal_pos` linear
over time), so a model trained at 8 frames can be run on 16.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from companion.models._checks import check_model_input

__all__ = ["TubeletEmbedding", "SpaceTimePositionEmbedding", "check_clip", "token_grid",
           "num_tokens", "inflate_patch_embedding", "resize_spatial_pos", "resize_temporal_pos",
           "sincos_table", "central_frame_kernel"]


def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = (v, v)
    if (not isinstance(v, (tuple, list)) or len(v) != 2
            or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v)):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {v!r}")
    return int(v[0]), int(v[1])


def _positive_int(v, name: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return v


def token_grid(num_frames: int, img_size, patch_size, tubelet_size: int = 1) -> tuple[int, int, int]:
    """``(T/t, H/p, W/p)``; a clear ``ValueError`` if a size does not divide."""
    num_frames = _positive_int(num_frames, "num_frames")
    tubelet_size = _positive_int(tubelet_size, "tubelet_size")
    (h, w), (ph, pw) = _pair(img_size, "img_size"), _pair(patch_size, "patch_size")
    if num_frames % tubelet_size:
        lo = (num_frames // tubelet_size) * tubelet_size
        near = f"{lo} or {lo + tubelet_size}" if lo else f"{tubelet_size}"
        raise ValueError(f"a clip of {num_frames} frames cannot be cut into tubelets of "
                         f"{tubelet_size} frames: the frame count must be a multiple of "
                         f"{tubelet_size} (e.g. {near})")
    for size, patch, axis in ((h, ph, "height"), (w, pw, "width")):
        if size % patch:
            raise ValueError(f"frame {axis} {size} is not divisible by the patch size {patch}: "
                             f"use a {axis} that is a multiple of {patch} (e.g. "
                             f"{max(patch, size // patch * patch)}) or resize the clip")
    return num_frames // tubelet_size, h // ph, w // pw


def num_tokens(num_frames: int, img_size, patch_size, tubelet_size: int = 1) -> int:
    """Number of space-time tokens of a clip (no class token): ``(T/t)(H/p)(W/p)``."""
    t, h, w = token_grid(num_frames, img_size, patch_size, tubelet_size)
    return t * h * w


def check_clip(x, *, in_channels: int, patch_size, tubelet_size: int = 1) -> tuple[int, int, int]:
    """Validate a clip tensor ``(B, C, T, H, W)`` and return its token grid ``(T', h, w)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a clip tensor of shape (B, C, T, H, W), got {type(x).__name__}")
    if x.dim() != 5:
        raise ValueError(f"expected a clip of shape (B, C, T, H, W) (5 dims), got shape "
                         f"{tuple(x.shape)}; add a batch dimension with clip[None] for one clip")
    if x.shape[1] != in_channels:
        raise ValueError(f"expected {in_channels} channels in dim 1 of (B, C, T, H, W), got shape "
                         f"{tuple(x.shape)}; a (B, T, C, H, W) clip needs .transpose(1, 2)")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating-point clip (e.g. float32 in [0, 1]), got {x.dtype}")
    return token_grid(x.shape[2], (x.shape[3], x.shape[4]), patch_size, tubelet_size)


class TubeletEmbedding(nn.Module):
    """Conv3d with kernel = stride = ``(t, p, p)``: clip ``(B,C,T,H,W)`` -> tokens ``(B, T/t, h*w, dim)``."""

    def __init__(self, in_channels: int = 3, dim: int = 192, patch_size=16, tubelet_size: int = 1):
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.patch_size = _pair(patch_size, "patch_size")
        self.tubelet_size = _positive_int(tubelet_size, "tubelet_size")
        self.dim = _positive_int(dim, "dim")
        kernel = (self.tubelet_size, *self.patch_size)
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=kernel, stride=kernel)

    def grid(self, x: torch.Tensor) -> tuple[int, int, int]:
        grid = check_clip(x, in_channels=self.in_channels, patch_size=self.patch_size,
                          tubelet_size=self.tubelet_size)
        check_model_input(x, name="the tubelet embedding (ViViT / TimeSformer / VideoMAE)", like=self)
        return grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, h, w = self.grid(x)
        y = self.proj(x)                              # (B, D, T', h, w)
        return y.flatten(3).permute(0, 2, 3, 1)       # (B, T', h*w, D), row-major over the grid

    @classmethod
    def from_2d(cls, conv2d: nn.Conv2d, tubelet_size: int, mode: str = "central") -> "TubeletEmbedding":
        return inflate_patch_embedding(conv2d, tubelet_size, mode)


def central_frame_kernel(weight2d: torch.Tensor, tubelet_size: int) -> torch.Tensor:
    """A 2D kernel ``(D, C, p, p)`` placed in the central slot ``t // 2`` of a zero 3D kernel
    ``(D, C, t, p, p)`` (ViViT's "central frame" initialisation)."""
    tubelet_size = _positive_int(tubelet_size, "tubelet_size")
    if weight2d.dim() != 4:
        raise ValueError(f"expected a 2D conv kernel (D, C, p, p), got shape {tuple(weight2d.shape)}")
    w3 = weight2d.new_zeros(weight2d.shape[0], weight2d.shape[1], tubelet_size, *weight2d.shape[2:])
    w3[:, :, tubelet_size // 2] = weight2d
    return w3


def inflate_patch_embedding(conv2d: nn.Conv2d, tubelet_size: int, mode: str = "central") -> TubeletEmbedding:
    """A tubelet embedding built from a 2D patch embedding (a ``Conv2d`` with stride = kernel).

    ``mode="central"`` (ViViT's choice): the 2D kernel goes into the central temporal slot
    (index ``t // 2``), every other slot is zero, so on a static clip each tubelet's embedding
    equals the 2D embedding of the frame. ``mode="average"`` (I3D-style): the 2D kernel repeated
    over ``t`` and divided by ``t`` — also exact on a static clip, but it mixes frames from the
    start.
    """
    if not isinstance(conv2d, nn.Conv2d):
        raise TypeError(f"expected an nn.Conv2d patch embedding, got {type(conv2d).__name__}")
    if tuple(conv2d.stride) != tuple(conv2d.kernel_size) or conv2d.padding not in ((0, 0), 0, "valid"):
        raise ValueError(f"a patch embedding has stride = kernel and no padding; got kernel "
                         f"{conv2d.kernel_size}, stride {conv2d.stride}, padding {conv2d.padding}")
    if mode not in ("central", "average"):
        raise ValueError(f"mode must be 'central' or 'average', got {mode!r}")
    tubelet_size = _positive_int(tubelet_size, "tubelet_size")
    emb = TubeletEmbedding(conv2d.in_channels, conv2d.out_channels, tuple(conv2d.kernel_size),
                           tubelet_size)
    w2 = conv2d.weight.detach()
    with torch.no_grad():
        if mode == "central":
            w3 = central_frame_kernel(w2, tubelet_size)
        else:
            w3 = (w2 / tubelet_size).unsqueeze(2).expand_as(emb.proj.weight)
        emb.proj.weight.copy_(w3)
        if conv2d.bias is not None:
            emb.proj.bias.copy_(conv2d.bias.detach())
        else:
            emb.proj.bias.zero_()
    return emb


def resize_spatial_pos(pos: torch.Tensor, old_grid, new_grid) -> torch.Tensor:
    """Resize a spatial table ``(..., h*w, D)`` to ``(..., h'*w', D)`` by bicubic interpolation."""
    (oh, ow), (nh, nw) = _pair(old_grid, "old_grid"), _pair(new_grid, "new_grid")
    if pos.shape[-2] != oh * ow:
        raise ValueError(f"position table has {pos.shape[-2]} entries, expected {oh}x{ow}={oh * ow}")
    if (oh, ow) == (nh, nw):
        return pos
    lead, d = pos.shape[:-2], pos.shape[-1]
    grid = pos.reshape(-1, oh, ow, d).permute(0, 3, 1, 2)          # (k, D, h, w)
    grid = F.interpolate(grid, size=(nh, nw), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(*lead, nh * nw, d)


def resize_temporal_pos(pos: torch.Tensor, new_len: int) -> torch.Tensor:
    """Resize a temporal table ``(..., T, D)`` to ``(..., T', D)`` by linear interpolation."""
    new_len = _positive_int(new_len, "new_len")
    old = pos.shape[-2]
    if old == new_len:
        return pos
    lead, d = pos.shape[:-2], pos.shape[-1]
    seq = pos.reshape(-1, old, d).transpose(1, 2)                    # (k, D, T)
    seq = F.interpolate(seq, size=new_len, mode="linear", align_corners=False)
    return seq.transpose(1, 2).reshape(*lead, new_len, d)


def sincos_table(n: int, dim: int) -> torch.Tensor:
    """Fixed 1D sine/cosine table ``(n, dim)`` (Transformer style, base 10000)."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / max(half, 1))
    ang = pos * freq[None]
    table = torch.zeros(n, dim, dtype=torch.float64)
    table[:, 0:2 * half:2], table[:, 1:2 * half:2] = torch.sin(ang), torch.cos(ang)
    return table.float()


class SpaceTimePositionEmbedding(nn.Module):
    """Separable position embedding: ``tokens (B, T', N, D) + spatial[N] + temporal[T']``.

    ``temporal_init="zeros"`` starts the temporal table at zero (TimeSformer), so an untrained
    model cannot tell frames apart; ``"normal"`` draws it like the spatial one (std 0.02);
    ``"sincos"`` fills both with fixed sine/cosine tables (not trained; VideoMAE style);
    ``"none"`` has no temporal table at all (a space-only model that must be blind to order).
    ``std`` is the spread of the learned tables at initialisation (ViT: 0.02; small models trained
    briefly on little data find positions much sooner with ~1).
    Clips with another token grid get the tables resized on the fly.
    """

    def __init__(self, num_slots: int, grid, dim: int, temporal_init: str = "normal", std: float = 0.02):
        super().__init__()
        self.grid_hw = _pair(grid, "grid")
        self.num_slots = _positive_int(num_slots, "num_slots")
        n = self.grid_hw[0] * self.grid_hw[1]
        if temporal_init not in ("zeros", "normal", "sincos", "none"):
            raise ValueError(f"temporal_init must be 'zeros', 'normal', 'sincos' or 'none', "
                             f"got {temporal_init!r}")
        if temporal_init == "sincos":
            gh, gw = self.grid_hw
            rows = sincos_table(gh, dim - dim // 2)[:, None, :].expand(gh, gw, -1)
            cols = sincos_table(gw, dim // 2)[None, :, :].expand(gh, gw, -1)
            self.register_buffer("spatial", torch.cat([rows, cols], -1).reshape(1, 1, n, dim))
            self.register_buffer("temporal", sincos_table(num_slots, dim).reshape(1, num_slots, 1, dim))
        else:
            self.spatial = nn.Parameter(torch.zeros(1, 1, n, dim))
            nn.init.trunc_normal_(self.spatial, std=std, a=-2 * std, b=2 * std)
            if temporal_init == "none":
                self.temporal = None
                return
            self.temporal = nn.Parameter(torch.zeros(1, num_slots, 1, dim))
            if temporal_init == "normal":
                nn.init.trunc_normal_(self.temporal, std=std, a=-2 * std, b=2 * std)

    def tables(self, num_slots: int, grid) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The (possibly resized) spatial ``(1,1,N,D)`` and temporal ``(1,T',1,D)`` tables."""
        gh, gw = _pair(grid, "grid")
        spatial = resize_spatial_pos(self.spatial, self.grid_hw, (gh, gw))
        if self.temporal is None:
            return spatial, None
        temporal = resize_temporal_pos(self.temporal.squeeze(2), num_slots).unsqueeze(2)
        return spatial, temporal

    def forward(self, tokens: torch.Tensor, grid=None) -> torch.Tensor:
        if tokens.dim() != 4:
            raise ValueError(f"expected tokens (B, T', N, D), got shape {tuple(tokens.shape)}")
        if grid is None:
            if tokens.shape[2] != self.grid_hw[0] * self.grid_hw[1]:
                raise ValueError(f"tokens have {tokens.shape[2]} positions per slot but the table is "
                                 f"{self.grid_hw[0]}x{self.grid_hw[1]}; pass grid=(h, w)")
            grid = self.grid_hw
        spatial, temporal = self.tables(tokens.shape[1], grid)
        tokens = tokens + spatial
        return tokens if temporal is None else tokens + temporal
