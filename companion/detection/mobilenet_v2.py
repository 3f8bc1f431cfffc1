"""MobileNetV2 (Sandler et al., CVPR 2018) as the SSD's backbone, layer names as in TensorFlow.

The network is a 3x3 stride-2 convolution followed by 17 *inverted residual* blocks: a 1x1
**expand** convolution to ``t`` times the channels (ReLU6), a 3x3 **depthwise** convolution
(ReLU6; it carries the block's stride), and a 1x1 linear **project** back down; the input is
added when the shapes allow (stride 1, same channels). A final 1x1 convolution (``Conv_1``)
widens to 1,280 channels.

For detection (SSDLite, :mod:`companion.detection.ssdlite`) two maps are taken out: the
576-channel *expansion* of block 13 (stride 16: 19x19 at 300x300 input), before its stride-2
depthwise convolution, and the output of ``Conv_1`` (stride 32: 10x10).
"""

from __future__ import annotations

import torch
from torch import nn

from companion.detection.conv_bn import ConvBN

#: (expansion t, output channels, stride) of blocks expanded_conv, expanded_conv_1, ..., _16
BLOCKS = ((1, 16, 1),
          (6, 24, 2), (6, 24, 1),
          (6, 32, 2), (6, 32, 1), (6, 32, 1),
          (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
          (6, 96, 1), (6, 96, 1), (6, 96, 1),
          (6, 160, 2), (6, 160, 1), (6, 160, 1),
          (6, 320, 1))
#: the block whose expansion output is the first detection map
TAP_BLOCK = 13
SCOPE = "FeatureExtractor/MobilenetV2"


class InvertedResidual(nn.Module):
    def __init__(self, name: str, c_in: int, c_out: int, t: int, stride: int):
        super().__init__()
        hidden = c_in * t
        self.expand = ConvBN(f"{name}/expand", c_in, hidden) if t != 1 else None
        self.depthwise = ConvBN(f"{name}/depthwise", hidden, hidden, 3, stride, depthwise=True)
        self.project = ConvBN(f"{name}/project", hidden, c_out, relu6=False)
        self.residual = stride == 1 and c_in == c_out

    def expansion(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(x) if self.expand is not None else x

    def rest(self, x: torch.Tensor, expanded: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(expanded))
        return x + y if self.residual else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest(x, self.expansion(x))


class MobileNetV2Backbone(nn.Module):
    """``forward(x) -> (map at stride 16 with 576 channels, map at stride 32 with 1280)``."""

    def __init__(self):
        super().__init__()
        self.stem = ConvBN(f"{SCOPE}/Conv", 3, 32, 3, 2)
        blocks, c = [], 32
        for i, (t, c_out, s) in enumerate(BLOCKS):
            name = f"{SCOPE}/expanded_conv" + (f"_{i}" if i else "")
            blocks.append(InvertedResidual(name, c, c_out, t, s))
            c = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBN(f"{SCOPE}/Conv_1", c, 1280)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        tap = None
        for i, block in enumerate(self.blocks):
            e = block.expansion(x)
            if i == TAP_BLOCK:
                tap = e
            x = block.rest(x, e)
        return tap, self.head(x)
