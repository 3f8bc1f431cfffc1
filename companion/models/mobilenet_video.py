"""An ImageNet MobileNetV2 as a small video classifier: per frame (2D) or inflated (I3D).

:func:`mobilenet_v2_classifier` cuts ``companion.pretrained.imagenet_mobilenet_v2()`` after
``depth`` of its 19 feature blocks (``depth=14``: 96 channels at 1/16 of the input), adds the
ImageNet normalisation in front and a global-pool + linear head behind. It is an ordinary 2D
network, so :func:`companion.models.inflate` turns it into an I3D: every 3×3 *depthwise* kernel
(and the stem) becomes 3×3×3 with its time slices ``W / 3`` and time padded by replication; the
1×1 *pointwise* kernels become 1×1×1 (their time kernel is 1, exactly as in the paper's rule for
1×1 convolutions). The static-clip identity holds for the whole pretrained network
(``tests/test_26_2_inflate.py``).

``pretrained=False`` gives the same architecture with PyTorch's default initialisation: the
control that shows what the ImageNet weights are worth.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from companion.pretrained import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["ImageNetNormalize", "mobilenet_v2_classifier", "i3d_mobilenet_v2"]


class ImageNetNormalize(nn.Module):
    """(x - mean) / std over channel axis 1, for images (B, 3, H, W) and clips (B, 3, T, H, W)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN))
        self.register_buffer("std", torch.tensor(IMAGENET_STD))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, 3) + (1,) * (x.dim() - 2)
        return (x - self.mean.view(shape)) / self.std.view(shape)


def mobilenet_v2_classifier(num_classes: int = 8, *, depth: int = 14, pretrained: bool = True,
                            dropout: float = 0.0) -> nn.Sequential:
    """MobileNetV2 feature blocks ``[:depth]`` (ImageNet weights or random) + pool + linear head.

    Takes RGB in [0, 1] (it normalises with the ImageNet mean / std itself).
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if not isinstance(depth, int) or not 2 <= depth <= 19:
        raise ValueError(f"depth must be an int in 2..19 (MobileNetV2 has 19 feature blocks), got {depth!r}")
    if pretrained:
        from companion.pretrained import imagenet_mobilenet_v2

        features = imagenet_mobilenet_v2()
    else:
        from torchvision.models import mobilenet_v2

        features = mobilenet_v2().features
    features = features[:depth].train()
    with torch.no_grad():
        width = features(torch.zeros(1, 3, 32, 32)).shape[1] if not pretrained else None
    if width is None:
        last = [m for m in features.modules() if isinstance(m, nn.BatchNorm2d)][-1]
        width = last.num_features
    head = nn.Linear(width, num_classes)
    nn.init.normal_(head.weight, 0, 0.01)
    nn.init.zeros_(head.bias)
    return nn.Sequential(OrderedDict([
        ("normalize", ImageNetNormalize()), ("features", features), ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()), ("dropout", nn.Dropout(dropout) if dropout else nn.Identity()),
        ("fc", head)]))


def i3d_mobilenet_v2(num_classes: int = 8, *, depth: int = 14, pretrained: bool = True,
                     time_kernel: int = 3, stem_time_kernel: int = 3):
    """The inflated :func:`mobilenet_v2_classifier`: clips (B, 3, T, H, W) → logits."""
    from companion.models.inflate import inflate

    return inflate(mobilenet_v2_classifier(num_classes, depth=depth, pretrained=pretrained),
                   time_kernel=time_kernel, stem_time_kernel=stem_time_kernel)
