"""The per-frame baseline: a 2D CNN applied to every frame, its logits averaged over time.

Averaging is a symmetric function of the frames: the network gives the same answer to a clip and
to any shuffle of its frames — in particular to the clip played backwards. However well it is
trained, it cannot tell ``move_left`` from ``move_right`` when the frames are the same set.
That is the point of this model in the chapter: the baseline that shows what "time" adds.

:func:`small_cnn2d` is the small 2D network used per frame (and by the two-stream model);
``frame_cnn(backbone="resnet18")`` uses torchvision's ResNet-18 instead.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from companion.models._checks import check_clip, check_image

__all__ = ["SmallCNN2d", "small_cnn2d", "FrameCNN", "frame_cnn"]


def _conv_bn(cin: int, cout: int, k: int, s: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride=s, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class SmallCNN2d(nn.Module):
    """conv(5×5, stride 2) stem, then per stage two 3×3 convs (the first with stride 2 after
    stage 1), global average pool, linear head. ``conv1`` is the first convolution."""

    def __init__(self, in_channels: int = 3, num_classes: int = 8, widths: Sequence[int] = (16, 32, 64, 128),
                 dropout: float = 0.0):
        super().__init__()
        self.in_channels = in_channels
        self.input_rank = 4  # inflate() sets 5: the same network then takes clips
        self.conv1 = nn.Conv2d(in_channels, widths[0], 5, stride=2, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        layers: list[nn.Module] = []
        cin = widths[0]
        for i, w in enumerate(widths):
            layers += _conv_bn(cin, w, 3, 1 if i == 0 else 2) + _conv_bn(w, w, 3, 1)
            cin = w
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_rank == 5:
            check_clip(x, name="SmallCNN2d (inflated)", channels=self.in_channels, like=self)
        else:
            check_image(x, name="SmallCNN2d", channels=self.in_channels, like=self)
        x = self.body(self.relu(self.bn1(self.conv1(x))))
        return self.fc(self.dropout(self.pool(x).flatten(1)))


def small_cnn2d(*, in_channels: int = 3, num_classes: int = 8, widths: Sequence[int] = (16, 32, 64, 128),
                dropout: float = 0.0) -> SmallCNN2d:
    return SmallCNN2d(in_channels, num_classes, widths, dropout)


class FrameCNN(nn.Module):
    """Apply ``backbone`` (a 2D classifier) to each of the T frames; average the T logit vectors."""

    def __init__(self, backbone: nn.Module, in_channels: int = 3, min_frames: int = 1):
        super().__init__()
        self.backbone, self.in_channels, self.min_frames = backbone, in_channels, min_frames

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) → per-frame logits (B, T, num_classes)."""
        check_clip(x, name="FrameCNN", channels=self.in_channels, min_frames=self.min_frames, like=self)
        B, C, T, H, W = x.shape
        frames = x.transpose(1, 2).reshape(B * T, C, H, W)
        return self.backbone(frames).reshape(B, T, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.frame_logits(x).mean(dim=1)


def frame_cnn(*, num_classes: int = 8, backbone: str | nn.Module = "small",
              widths: Sequence[int] = (16, 32, 64, 128), dropout: float = 0.0) -> FrameCNN:
    """Per-frame 2D baseline. ``backbone``: ``"small"`` (:class:`SmallCNN2d`), ``"resnet18"``
    (torchvision, random init) or any 2D ``nn.Module`` mapping (N, 3, H, W) to logits."""
    if isinstance(backbone, nn.Module):
        net = backbone
    elif backbone == "small":
        net = small_cnn2d(num_classes=num_classes, widths=widths, dropout=dropout)
    elif backbone == "resnet18":
        import torchvision

        net = torchvision.models.resnet18(num_classes=num_classes)
    else:
        raise ValueError(f"unknown backbone {backbone!r}; accepted: 'small', 'resnet18' or an nn.Module")
    return FrameCNN(net)
