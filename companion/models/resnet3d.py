"""Video ResNets built from our own blocks: R3D, MC3 and R(2+1)D (Tran et al., CVPR 2018).

One residual network, three ways to spend a 3×3×3 budget:

* **R3D** — every convolution is a full 3×3×3 space-time kernel;
* **MCx** ("mixed convolutions") — 3D kernels in the first stage, then only spatial (1×3×3)
  kernels: motion is modelled early, appearance late (``mc3_18``: stage 1 is 3D);
* **R(2+1)D** — each 3×3×3 conv is factorised into a spatial (1×3×3) conv to ``mid`` channels,
  BatchNorm + ReLU, then a temporal (3×1×1) conv. ``mid`` is chosen so the pair has about the
  parameters of the 3D kernel it replaces, computed once per residual block:

      mid = (C_in · C_out · 27) // (C_in · 9 + 3 · C_out)

  with ``(C_in, C_out)`` the block's ``(inplanes, planes)``; both convolutions of the block use it.
  The extra ReLU doubles the non-linearities at the same parameter count.

Module names follow ``torchvision.models.video`` so its state dicts load with ``strict=True``
(``stem``, ``layer1..4`` of ``BasicBlock``-like units with ``conv1``/``conv2``/``downsample``,
``avgpool``, ``fc``); parameter counts: r3d_18 33,371,472, mc3_18 11,695,440, r2plus1d_18
31,505,325. :func:`video_resnet` builds small configurable variants for the synthetic data.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from companion.models._checks import check_clip

__all__ = ["VideoResNet", "video_resnet", "r3d_18", "mc3_18", "r2plus1d_18", "r2plus1d_mid_channels",
           "KINETICS_MEAN", "KINETICS_STD"]

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

_KINDS = ("3d", "2d", "2+1d")


def r2plus1d_mid_channels(in_channels: int, out_channels: int, kt: int = 3, k: int = 3) -> int:
    """Channels between the spatial and the temporal conv of an R(2+1)D factorisation.

    Matches the parameter count of a full ``kt×k×k`` kernel: ``(Cin·Cout·kt·k²) // (Cin·k² + kt·Cout)``.
    """
    for n, v in (("in_channels", in_channels), ("out_channels", out_channels), ("kt", kt), ("k", k)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{n} must be a positive int, got {v!r}")
    return (in_channels * out_channels * kt * k * k) // (in_channels * k * k + kt * out_channels)


def _conv(kind: str, cin: int, cout: int, stride: int, mid: int | None) -> nn.Module:
    """One "3×3×3-budget" convolution of the given kind (no bias: BatchNorm follows)."""
    if kind == "3d":
        return nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)
    if kind == "2d":
        return nn.Conv3d(cin, cout, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
    if kind == "2+1d":
        assert mid is not None
        return nn.Sequential(
            nn.Conv3d(cin, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, cout, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
        )
    raise ValueError(f"unknown conv kind {kind!r}; accepted: {_KINDS}")


def _downsample_stride(kind: str, stride: int):
    return (1, stride, stride) if kind == "2d" else (stride, stride, stride)


class ResBlock(nn.Module):
    """conv–BN–ReLU, conv–BN, add the (projected) input, ReLU."""

    def __init__(self, kind: str, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        mid = r2plus1d_mid_channels(inplanes, planes) if kind == "2+1d" else None
        self.conv1 = nn.Sequential(_conv(kind, inplanes, planes, stride, mid), nn.BatchNorm3d(planes),
                                   nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(_conv(kind, planes, planes, 1, mid), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv3d(inplanes, planes, 1, stride=_downsample_stride(kind, stride), bias=False),
                nn.BatchNorm3d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


def _stem(kind: str, width: int, kernel: Sequence[int], stride: Sequence[int], in_channels: int,
          mid: int | None) -> nn.Sequential:
    kt, kh, kw = kernel
    pad = (kt // 2, kh // 2, kw // 2)
    if kind == "2+1d":
        mid = mid if mid is not None else r2plus1d_mid_channels(in_channels, width, kt, kh)
        return nn.Sequential(
            nn.Conv3d(in_channels, mid, (1, kh, kw), stride=(1, stride[1], stride[2]),
                      padding=(0, pad[1], pad[2]), bias=False),
            nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
            nn.Conv3d(mid, width, (kt, 1, 1), stride=(stride[0], 1, 1), padding=(pad[0], 0, 0), bias=False),
            nn.BatchNorm3d(width), nn.ReLU(inplace=True))
    return nn.Sequential(
        nn.Conv3d(in_channels, width, tuple(kernel), stride=tuple(stride), padding=pad, bias=False),
        nn.BatchNorm3d(width), nn.ReLU(inplace=True))


class VideoResNet(nn.Module):
    """A 4-stage residual video network; ``kinds[i]`` picks the convolution of stage ``i``.

    Input (B, C, T, H, W) → logits (B, num_classes).
    """

    def __init__(self, kinds: Sequence[str], layers: Sequence[int] = (2, 2, 2, 2),
                 widths: Sequence[int] = (64, 128, 256, 512), *, num_classes: int = 400,
                 stem_kind: str = "3d", stem_width: int = 64, stem_kernel=(3, 7, 7), stem_stride=(1, 2, 2),
                 stem_mid: int | None = None, in_channels: int = 3, min_frames: int = 2,
                 dropout: float = 0.0, name: str = "VideoResNet"):
        super().__init__()
        if len(kinds) != 4 or len(layers) != 4 or len(widths) != 4:
            raise ValueError("kinds, layers and widths need one entry per stage (4 stages)")
        for k in list(kinds) + [stem_kind]:
            if k not in _KINDS:
                raise ValueError(f"unknown conv kind {k!r}; accepted: {_KINDS}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.name, self.in_channels, self.min_frames = name, in_channels, min_frames
        self.stem = _stem(stem_kind, stem_width, stem_kernel, stem_stride, in_channels, stem_mid)
        inplanes = stem_width
        for i, (kind, n, width) in enumerate(zip(kinds, layers, widths)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(ResBlock(kind, inplanes, width, stride))
                inplanes = width
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.fc = nn.Linear(inplanes, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, C, T', H', W') feature map before pooling."""
        check_clip(x, name=self.name, channels=self.in_channels, min_frames=self.min_frames, like=self)
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x)).flatten(1)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc(x)


def r3d_18(*, num_classes: int = 400) -> VideoResNet:
    """R3D-18: 3×3×3 convolutions everywhere (33,371,472 parameters at 400 classes)."""
    return VideoResNet(["3d"] * 4, num_classes=num_classes, name="r3d_18")


def mc3_18(*, num_classes: int = 400) -> VideoResNet:
    """MC3-18: 3D convolutions in stage 1, spatial-only 1×3×3 afterwards (11,695,440 parameters)."""
    return VideoResNet(["3d", "2d", "2d", "2d"], num_classes=num_classes, name="mc3_18")


def r2plus1d_18(*, num_classes: int = 400) -> VideoResNet:
    """R(2+1)D-18: every 3×3×3 conv factorised into 1×3×3 then 3×1×1 (31,505,325 parameters)."""
    return VideoResNet(["2+1d"] * 4, num_classes=num_classes, stem_kind="2+1d", stem_mid=45,
                       name="r2plus1d_18")


_FAMILIES = {"r3d": ["3d"] * 4, "mc3": ["3d", "2d", "2d", "2d"], "r2plus1d": ["2+1d"] * 4,
             "r2d": ["2d"] * 4}


def video_resnet(family: str = "r3d", *, num_classes: int = 8, layers: Sequence[int] = (1, 1, 1, 1),
                 widths: Sequence[int] = (16, 32, 64, 128), stem_width: int | None = None,
                 stem_kernel=(3, 5, 5), stem_stride=(1, 2, 2), dropout: float = 0.0) -> VideoResNet:
    """A small video ResNet for the synthetic clips.

    ``family``: ``"r3d"`` (3D everywhere), ``"mc3"`` (3D stage 1, then 2D), ``"r2plus1d"``
    (factorised everywhere, stem included) or ``"r2d"`` (no temporal kernel at all: a per-frame
    2D ResNet whose only temporal operation is the final average — the 2D baseline inside the
    same architecture).
    """
    if family not in _FAMILIES:
        raise ValueError(f"unknown family {family!r}; accepted: {sorted(_FAMILIES)}")
    kinds = _FAMILIES[family]
    stem_kind = {"r3d": "3d", "mc3": "3d", "r2plus1d": "2+1d", "r2d": "3d"}[family]
    kernel = tuple(stem_kernel)
    if family == "r2d":
        kernel = (1,) + kernel[1:]
    return VideoResNet(kinds, layers, widths, num_classes=num_classes, stem_kind=stem_kind,
                       stem_width=stem_width or widths[0], stem_kernel=kernel, stem_stride=stem_stride,
                       dropout=dropout, name=f"video_resnet({family!r})")
