"""SlowFast networks (Feichtenhofer et al., ICCV 2019): two pathways at two frame rates.

* The **slow** pathway sees ``T`` frames (a large temporal stride) with many channels: it
  carries appearance. Its early stages use no temporal kernel (1×3×3), only the late ones do.
* The **fast** pathway sees ``α·T`` frames (``α`` = 4 or 8) with ``β`` (= 1/8) of the channels:
  it carries motion cheaply — about 20% of the compute for α = 8, β = 1/8. It uses temporal
  kernels everywhere and never downsamples time.
* **Lateral connections** fuse fast → slow after the stem and after stages 1–3: a time-strided
  convolution (kernel ``k×1×1``, stride ``α``, padding ``k//2``; ``k`` = 5 in the paper) turns
  the fast features (B, βC, αT, H, W) into (B, 2βC, T, H, W), which are concatenated to the slow
  features along channels.

Because the lateral stride is exactly ``α``, the fast pathway must have exactly ``α`` times the
slow pathway's frames; anything else is rejected with an error saying what is expected (the
most common SlowFast crash). Give the model either one clip (the fast input; the slow input is
every ``α``-th frame of it) or the pair ``[slow, fast]``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from companion.models._checks import check_clip

__all__ = ["SlowFast", "slowfast", "lateral_output_shape"]


def lateral_output_shape(fast_shape: Sequence[int], alpha: int, kernel: int = 5,
                         channel_ratio: int = 2) -> tuple[int, int, int, int, int]:
    """Shape after a lateral connection: (B, C, αT, H, W) → (B, ratio·C, T', H, W).

    ``T' = floor((αT + 2·(k//2) − k) / α) + 1`` (= T for odd ``k``).
    """
    if len(fast_shape) != 5:
        raise ValueError(f"fast_shape must be (B, C, T, H, W), got {tuple(fast_shape)}")
    B, C, T, H, W = (int(v) for v in fast_shape)
    t_out = (T + 2 * (kernel // 2) - kernel) // alpha + 1
    return (B, channel_ratio * C, t_out, H, W)


class _Block(nn.Module):
    """Basic residual block with a (kt×3×3) then (1×3×3) convolution."""

    def __init__(self, cin: int, cout: int, kt: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, (kt, 3, 3), (1, stride, stride), (kt // 2, 1, 1), bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, (1, 3, 3), 1, (0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv3d(cin, cout, 1, (1, stride, stride), bias=False),
                                            nn.BatchNorm3d(cout))

    def forward(self, x):
        s = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + s)


class _Lateral(nn.Module):
    def __init__(self, c_fast: int, alpha: int, kernel: int, ratio: int):
        super().__init__()
        self.conv = nn.Conv3d(c_fast, ratio * c_fast, (kernel, 1, 1), (alpha, 1, 1), (kernel // 2, 0, 0), bias=False)
        self.bn = nn.BatchNorm3d(ratio * c_fast)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


def _stage(cin: int, cout: int, n: int, kt: int, stride: int) -> nn.Sequential:
    return nn.Sequential(*[_Block(cin if i == 0 else cout, cout, kt, stride if i == 0 else 1) for i in range(n)])


class SlowFast(nn.Module):
    """A SlowFast ResNet with basic blocks.

    ``widths`` are the slow pathway's stage widths; the fast pathway uses ``round(β·w)``.
    ``slow_temporal`` gives the slow pathway's temporal kernel per stage (paper: only the last
    two stages are temporal); the fast pathway uses ``fast_temporal`` everywhere.
    """

    def __init__(self, num_classes: int = 400, *, alpha: int = 4, beta: float = 1 / 8,
                 widths: Sequence[int] = (64, 128, 256, 512), layers: Sequence[int] = (2, 2, 2, 2),
                 stem_width: int | None = None, stem_kernel: int = 7, stem_stride: int = 2,
                 stem_pool: bool = True, fusion_kernel: int = 5, fusion_ratio: int = 2,
                 slow_temporal: Sequence[int] = (1, 1, 3, 3), fast_temporal: int = 3,
                 fast_stem_temporal: int = 5, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        if not isinstance(alpha, int) or isinstance(alpha, bool) or alpha < 1:
            raise ValueError(f"alpha (frame-rate ratio) must be a positive int, got {alpha!r}")
        if not 0 < beta <= 1:
            raise ValueError(f"beta (channel ratio of the fast pathway) must be in (0, 1], got {beta!r}")
        if fusion_kernel % 2 == 0:
            raise ValueError(f"fusion_kernel must be odd, got {fusion_kernel}")
        self.alpha, self.beta, self.in_channels = alpha, beta, in_channels
        self.fusion_kernel, self.fusion_ratio = fusion_kernel, fusion_ratio
        sw = stem_width or widths[0]
        fw = [max(1, round(beta * w)) for w in widths]
        fsw = max(1, round(beta * sw))
        pad = stem_kernel // 2
        self.slow_stem = nn.Sequential(
            nn.Conv3d(in_channels, sw, (1, stem_kernel, stem_kernel), (1, stem_stride, stem_stride), (0, pad, pad), bias=False),
            nn.BatchNorm3d(sw), nn.ReLU(inplace=True))
        self.fast_stem = nn.Sequential(
            nn.Conv3d(in_channels, fsw, (fast_stem_temporal, stem_kernel, stem_kernel), (1, stem_stride, stem_stride),
                      (fast_stem_temporal // 2, pad, pad), bias=False),
            nn.BatchNorm3d(fsw), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)) if stem_pool else nn.Identity()
        self.laterals = nn.ModuleList()
        self.slow_stages = nn.ModuleList()
        self.fast_stages = nn.ModuleList()
        c_slow, c_fast = sw, fsw
        for i, (w, f, n) in enumerate(zip(widths, fw, layers)):
            self.laterals.append(_Lateral(c_fast, alpha, fusion_kernel, fusion_ratio))
            stride = 1 if i == 0 else 2
            self.slow_stages.append(_stage(c_slow + fusion_ratio * c_fast, w, n, slow_temporal[i], stride))
            self.fast_stages.append(_stage(c_fast, f, n, fast_temporal, stride))
            c_slow, c_fast = w, f
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(c_slow + c_fast, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def split(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate and return ``(slow, fast)`` from a clip or a ``[slow, fast]`` pair."""
        a = self.alpha
        if isinstance(x, (list, tuple)):
            if len(x) != 2:
                raise ValueError(f"SlowFast expects one clip or a pair [slow, fast], got {len(x)} tensors")
            slow, fast = x
            check_clip(slow, name="SlowFast slow pathway", channels=self.in_channels, min_frames=1, like=self)
            check_clip(fast, name="SlowFast fast pathway", channels=self.in_channels, min_frames=a, like=self)
            Ts, Tf = slow.shape[2], fast.shape[2]
            if Tf != a * Ts:
                raise ValueError(f"SlowFast(alpha={a}) needs the fast pathway to have exactly alpha × "
                                 f"slow frames: slow has T={Ts}, so fast must have T={a * Ts}; got T={Tf}. "
                                 f"(Or pass one clip of {a}·k frames and let the model sample the slow one.)")
            if slow.shape[0] != fast.shape[0] or slow.shape[3:] != fast.shape[3:]:
                raise ValueError(f"slow {tuple(slow.shape)} and fast {tuple(fast.shape)} must share batch and H×W")
            return slow, fast
        check_clip(x, name="SlowFast", channels=self.in_channels, min_frames=a, like=self)
        if x.shape[2] % a:
            raise ValueError(f"SlowFast(alpha={a}) samples the slow pathway as every {a}th frame, so the "
                             f"clip length must be a multiple of {a}; got T={x.shape[2]} "
                             f"(use {x.shape[2] - x.shape[2] % a} or {x.shape[2] + a - x.shape[2] % a} frames)")
        return x[:, :, ::a], x

    def forward(self, x) -> torch.Tensor:
        slow, fast = self.split(x)
        slow = self.pool(self.slow_stem(slow))
        fast = self.pool(self.fast_stem(fast))
        for lateral, s_stage, f_stage in zip(self.laterals, self.slow_stages, self.fast_stages):
            slow = s_stage(torch.cat([slow, lateral(fast)], dim=1))
            fast = f_stage(fast)
        feats = torch.cat([self.avgpool(slow).flatten(1), self.avgpool(fast).flatten(1)], dim=1)
        return self.fc(self.dropout(feats))


def slowfast(*, num_classes: int = 8, alpha: int = 4, beta: float = 1 / 4,
             widths: Sequence[int] = (16, 32, 64, 128), layers: Sequence[int] = (1, 1, 1, 1),
             stem_kernel: int = 5, stem_pool: bool = False, dropout: float = 0.0, **kw) -> SlowFast:
    """A small SlowFast for the synthetic clips (``SlowFast(...)`` defaults give an R18-sized one)."""
    return SlowFast(num_classes, alpha=alpha, beta=beta, widths=widths, layers=layers,
                    stem_kernel=stem_kernel, stem_pool=stem_pool, dropout=dropout, **kw)
