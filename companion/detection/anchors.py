"""SSD's anchor boxes: a grid of boxes of a few sizes and shapes on every feature map.

Each cell of a detection map predicts its boxes *relative to* fixed anchor boxes centred on the
cell. The SSDLite graph's anchor generator (TensorFlow Object Detection API,
``ssd_anchor_generator``) uses, for ``num_layers = 6`` maps:

* scales evenly spaced from ``min_scale = 0.2`` to ``max_scale = 0.95``
  (0.2, 0.35, 0.5, 0.65, 0.8, 0.95), and 1.0 after the last;
* on every map but the first, one box per aspect ratio in ``(1, 2, 0.5, 3, 0.3333)`` at the
  map's scale ``s`` (height ``s / sqrt(r)``, width ``s * sqrt(r)``) plus one square box of the
  interpolated scale ``sqrt(s * s_next)``: 6 boxes per cell;
* on the first (finest) map only 3 boxes, ``(0.1, 1), (0.2, 2), (0.2, 0.5)``;
* box centres at the cell centres, ``((i + 0.5) * H / h, (j + 0.5) * W / w)``, ordered by row,
  column, then box, which is the order of the predictors' outputs (NHWC flattened).

At 300x300 the maps are 19, 10, 5, 3, 2, 1 cells wide: 19*19*3 + (10*10 + 5*5 + 3*3 + 2*2 + 1)*6
= **1,917 anchors**.

Scales are fractions of a *unit* length in pixels. TensorFlow uses the shorter image side (the
network was trained on 300x300 inputs, so a scale of 0.2 is a 60-pixel box). Run on a larger
image, the convolutions still see objects at their pixel size, so anchors of the *same pixel
size* as in training (``unit=300``) describe what the predictors learnt; the grid simply gets
more cells.
"""

from __future__ import annotations

import math

import torch

MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
LOWEST_LAYER = ((0.1, 1.0), (MIN_SCALE, 2.0), (MIN_SCALE, 0.5))
#: the pixel size of a scale-1 anchor during training (the network's input was 300x300)
TRAIN_UNIT = 300.0


def layer_shapes(num_layers: int = 6, min_scale: float = MIN_SCALE, max_scale: float = MAX_SCALE,
                 aspect_ratios=ASPECT_RATIOS) -> list[list[tuple[float, float]]]:
    """Per map, its anchors' ``(scale, aspect ratio)`` pairs (height s/sqrt(r), width s*sqrt(r))."""
    scales = [min_scale + (max_scale - min_scale) * i / (num_layers - 1) for i in range(num_layers)]
    scales.append(1.0)
    out = []
    for i in range(num_layers):
        if i == 0:
            out.append(list(LOWEST_LAYER))
        else:
            pairs = [(scales[i], r) for r in aspect_ratios]
            pairs.append((math.sqrt(scales[i] * scales[i + 1]), 1.0))
            out.append(pairs)
    return out


def feature_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Sizes of the six detection maps for an input of ``height x width`` (stride 16, 32, then
    four stride-2 layers; "SAME" padding rounds every halving up, and ceil(ceil(n/a)/b) =
    ceil(n/(a*b)))."""
    def down(n, s):
        return math.ceil(n / s)
    sizes = [(down(height, 16), down(width, 16))]
    h, w = down(height, 32), down(width, 32)
    sizes.append((h, w))
    for _ in range(4):
        h, w = down(h, 2), down(w, 2)
        sizes.append((h, w))
    return sizes


def grid_anchors(sizes, image_hw: tuple[int, int], unit: float | None = None,
                 shapes=None) -> torch.Tensor:
    """All anchors as ``(N, 4)`` rows ``(cy, cx, h, w)`` in pixels of an ``image_hw`` input.

    ``sizes`` are the maps' ``(h, w)`` (from :func:`feature_sizes` or the network's outputs);
    ``unit`` is the pixel length of scale 1 (default: the shorter image side, TensorFlow's rule;
    :data:`TRAIN_UNIT` keeps the training pixel sizes on any input).
    """
    H, W = image_hw
    unit = float(min(H, W) if unit is None else unit)
    shapes = layer_shapes(len(sizes)) if shapes is None else shapes
    if len(shapes) != len(sizes):
        raise ValueError(f"{len(sizes)} feature maps but anchor shapes for {len(shapes)}")
    out = []
    for (h, w), pairs in zip(sizes, shapes):
        cy = (torch.arange(h, dtype=torch.float64) + 0.5) * (H / h)
        cx = (torch.arange(w, dtype=torch.float64) + 0.5) * (W / w)
        s = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
        r = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
        ah, aw = unit * s / torch.sqrt(r), unit * s * torch.sqrt(r)
        k = len(pairs)
        yy = cy.reshape(h, 1, 1).expand(h, w, k)
        xx = cx.reshape(1, w, 1).expand(h, w, k)
        out.append(torch.stack([yy, xx, ah.expand(h, w, k), aw.expand(h, w, k)], -1).reshape(-1, 4))
    return torch.cat(out).float()
