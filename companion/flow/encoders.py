"""The two convolutional encoders of RAFT: the *feature* encoder (run on both frames, its
outputs are correlated) and the *context* encoder (run on frame 1 only, it seeds the GRU's
hidden state and feeds it context at every iteration).

Both downsample by 8: a stride-2 7×7 stem, then three stages of two residual blocks each (the
second and third stage start with stride 2), then a 1×1 projection. RAFT-large uses plain
residual blocks; RAFT-small uses bottleneck blocks (1×1 squeeze to ¼ of the channels, 3×3,
1×1 expand). The feature encoder uses InstanceNorm without learnable affine parameters, so its
features are normalised per image; RAFT-large's context encoder uses BatchNorm, RAFT-small's none.

Module names follow torchvision's layout (``convnormrelu``, ``layer1.0.convnormrelu1.0`` ...) so
that its state dicts load with ``strict=True``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

NormFactory = Callable[[int], nn.Module] | None


class ConvNormAct(nn.Sequential):
    """conv (with bias) → optional norm → optional ReLU, children named ``0``, ``1``, ``2``."""

    def __init__(self, cin: int, cout: int, kernel_size: int, *, stride: int = 1,
                 norm: NormFactory = None, relu: bool = True):
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel_size, stride=stride,
                                             padding=(kernel_size - 1) // 2, bias=True)]
        if norm is not None:
            layers.append(norm(cout))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Two 3×3 conv-norm-ReLU with a skip (projected by a 1×1 conv when the stride is 2)."""

    def __init__(self, cin: int, cout: int, *, norm: NormFactory, stride: int = 1):
        super().__init__()
        self.convnormrelu1 = ConvNormAct(cin, cout, 3, stride=stride, norm=norm)
        self.convnormrelu2 = ConvNormAct(cout, cout, 3, norm=norm)
        self.downsample = (nn.Identity() if stride == 1
                           else ConvNormAct(cin, cout, 1, stride=stride, norm=norm, relu=False))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convnormrelu2(self.convnormrelu1(x))
        return self.relu(self.downsample(x) + y)


class BottleneckBlock(nn.Module):
    """1×1 squeeze to cout/4 → 3×3 (carries the stride) → 1×1 expand, plus a skip."""

    def __init__(self, cin: int, cout: int, *, norm: NormFactory, stride: int = 1):
        super().__init__()
        mid = cout // 4
        self.convnormrelu1 = ConvNormAct(cin, mid, 1, norm=norm)
        self.convnormrelu2 = ConvNormAct(mid, mid, 3, stride=stride, norm=norm)
        self.convnormrelu3 = ConvNormAct(mid, cout, 1, norm=norm)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Identity() if stride == 1
                           else ConvNormAct(cin, cout, 1, stride=stride, norm=norm, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convnormrelu3(self.convnormrelu2(self.convnormrelu1(x)))
        return self.relu(self.downsample(x) + y)


class Encoder(nn.Module):
    """Stem (7×7, stride 2) → 3 stages of 2 blocks (strides 1, 2, 2) → 1×1 conv: H/8 × W/8.

    ``widths`` = (stem, stage1, stage2, stage3, output) channels.
    """

    def __init__(self, widths: tuple[int, int, int, int, int], *, block: type = ResidualBlock,
                 norm: NormFactory = None):
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"widths must list 5 channel counts (stem, 3 stages, output), got {widths}")
        stem, c1, c2, c3, out = widths
        self.convnormrelu = ConvNormAct(3, stem, 7, stride=2, norm=norm)
        self.layer1 = self._stage(block, stem, c1, norm, stride=1)
        self.layer2 = self._stage(block, c1, c2, norm, stride=2)
        self.layer3 = self._stage(block, c2, c3, norm, stride=2)
        self.conv = nn.Conv2d(c3, out, kernel_size=1)
        self.output_dim = out
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _stage(block: type, cin: int, cout: int, norm: NormFactory, stride: int) -> nn.Sequential:
        return nn.Sequential(block(cin, cout, norm=norm, stride=stride),
                             block(cout, cout, norm=norm, stride=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convnormrelu(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.conv(x)


def instance_norm(c: int) -> nn.Module:
    """InstanceNorm without learnable parameters (nothing to save in the state dict)."""
    return nn.InstanceNorm2d(c)


def batch_norm(c: int) -> nn.Module:
    return nn.BatchNorm2d(c)
