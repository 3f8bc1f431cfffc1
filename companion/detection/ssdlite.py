"""SSDLite (Sandler et al. 2018; SSD: Liu et al. 2016): MobileNetV2 + extra layers + light heads.

* **Backbone** (:mod:`companion.detection.mobilenet_v2`): maps at stride 16 (576 channels) and 32
  (1,280 channels).
* **Extra layers**: four more maps, each halving the resolution: a 1x1 bottleneck convolution,
  then a 3x3 stride-2 *depthwise* convolution and a 1x1 convolution (the "lite" part: SSD used
  full 3x3 convolutions here). Channels 512, 256, 256, 128.
* **Heads** (one ``BoxPredictor_i`` per map): for each of the map's ``k`` anchors per cell, a
  3x3 depthwise + 1x1 convolution predicts 4 box offsets, and another pair predicts
  ``num_classes + 1`` class logits (index 0 = background).

:meth:`SSDLite.forward` returns, for a ``(B, 3, H, W)`` batch scaled to [-1, 1], the box codes
``(B, N, 4)``, the class logits ``(B, N, C + 1)`` and the maps' sizes (for the anchors,
:mod:`companion.detection.anchors`). :func:`load_tf_weights` fills every layer from a frozen
TensorFlow graph's constants, by name: 404 tensors, each used exactly once.
"""

from __future__ import annotations

import torch
from torch import nn

from companion.detection.conv_bn import ConvBN
from companion.detection.mobilenet_v2 import SCOPE, MobileNetV2Backbone

#: (1x1 bottleneck channels, output channels) of the four extra layers (layer_19_*_Conv2d_2..5)
EXTRAS = ((256, 512), (128, 256), (128, 256), (64, 128))
#: channels and anchors per cell of the six detection maps
MAP_CHANNELS = (576, 1280, 512, 256, 256, 128)
ANCHORS_PER_CELL = (3, 6, 6, 6, 6, 6)


class ExtraLayer(nn.Module):
    def __init__(self, i: int, c_in: int, mid: int, c_out: int):
        super().__init__()
        self.reduce = ConvBN(f"{SCOPE}/layer_19_1_Conv2d_{i}_1x1_{mid}", c_in, mid)
        name = f"{SCOPE}/layer_19_2_Conv2d_{i}_3x3_s2_{c_out}"
        self.depthwise = ConvBN(f"{name}_depthwise", mid, mid, 3, 2, depthwise=True)
        self.pointwise = ConvBN(name, mid, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(self.reduce(x)))


class Predictor(nn.Module):
    """Depthwise-separable prediction of ``per_anchor`` numbers for each of ``k`` anchors a cell."""

    def __init__(self, name: str, channels: int, k: int, per_anchor: int):
        super().__init__()
        self.per_anchor = per_anchor
        self.depthwise = ConvBN(f"{name}_depthwise", channels, channels, 3, depthwise=True)
        self.pointwise = ConvBN(name, channels, k * per_anchor, relu6=False, batch_norm=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pointwise(self.depthwise(x))  # (B, k * per_anchor, h, w)
        return y.permute(0, 2, 3, 1).reshape(y.shape[0], -1, self.per_anchor)  # row, col, anchor


class BoxPredictor(nn.Module):
    def __init__(self, i: int, channels: int, k: int, num_classes: int):
        super().__init__()
        self.box = Predictor(f"BoxPredictor_{i}/BoxEncodingPredictor", channels, k, 4)
        self.cls = Predictor(f"BoxPredictor_{i}/ClassPredictor", channels, k, num_classes + 1)

    def forward(self, x):
        return self.box(x), self.cls(x)


class SSDLite(nn.Module):
    """SSDLite-MobileNetV2 with ``num_classes`` object classes (+ background)."""

    def __init__(self, num_classes: int = 1):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = MobileNetV2Backbone()
        extras, c = [], 1280
        for i, (mid, out) in enumerate(EXTRAS, start=2):
            extras.append(ExtraLayer(i, c, mid, out))
            c = out
        self.extras = nn.ModuleList(extras)
        self.heads = nn.ModuleList(BoxPredictor(i, ch, k, num_classes)
                                   for i, (ch, k) in enumerate(zip(MAP_CHANNELS, ANCHORS_PER_CELL)))

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = list(self.backbone(x))
        for layer in self.extras:
            maps.append(layer(maps[-1]))
        return maps

    def forward(self, x: torch.Tensor):
        maps = self.feature_maps(x)
        boxes, logits = zip(*(head(m) for head, m in zip(self.heads, maps)))
        sizes = [tuple(m.shape[-2:]) for m in maps]
        return torch.cat(boxes, 1), torch.cat(logits, 1), sizes

    def fuse(self) -> "SSDLite":
        """Fold every batch norm into its convolution (inference only)."""
        for m in self.modules():
            if isinstance(m, ConvBN):
                m.fuse()
        return self


def preprocess(rgb_uint8: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 RGB -> ``(B, 3, H, W)`` float in [-1, 1] (``x * 2 / 255 - 1``)."""
    return rgb_uint8.permute(0, 3, 1, 2).float().mul_(2.0 / 255.0).sub_(1.0)


def tf_tensor_names(model: nn.Module) -> list[str]:
    """Every graph constant the model takes, in load order."""
    return [name for m in model.modules() if isinstance(m, ConvBN) for name in m.tf_tensor_names()]


def load_tf_weights(model: SSDLite, tensors: dict) -> SSDLite:
    """Fill ``model`` from a frozen graph's constants (name -> array), every shape checked.

    Raises if a tensor is missing, has the wrong shape, or if the graph holds a
    ``FeatureExtractor/`` or ``BoxPredictor_`` weight the model does not take (one-to-one).
    """
    names = tf_tensor_names(model)
    if len(set(names)) != len(names):  # pragma: no cover - a wiring mistake in this file
        raise RuntimeError("two layers claim the same TensorFlow tensor")
    for m in model.modules():
        if isinstance(m, ConvBN):
            m.load_tf(tensors)
    graph_weights = {k for k, v in tensors.items()
                     if k.startswith(("FeatureExtractor/", "BoxPredictor_"))
                     and getattr(v, "dtype", None) is not None and v.dtype.kind == "f"
                     and v.ndim >= 1}
    unused = sorted(graph_weights - set(names))
    if unused:
        raise ValueError(f"the graph has {len(unused)} weight tensors the model does not use, "
                         f"e.g. {unused[0]!r}: it is not this SSDLite-MobileNetV2")
    return model
