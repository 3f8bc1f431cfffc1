"""From predicted offsets to boxes: SSD's "faster R-CNN" box coder with scales 10, 10, 5, 5.

The network does not output boxes. For each anchor ``(cy_a, cx_a, h_a, w_a)`` it outputs
``(ty, tx, th, tw)``, trained as ``ty = 10 * (cy - cy_a) / h_a``, ``tx = 10 * (cx - cx_a) / w_a``,
``th = 5 * log(h / h_a)``, ``tw = 5 * log(w / w_a)``. The scales (the inverse of Caffe-SSD's
"variances" 0.1, 0.1, 0.2, 0.2) bring the four targets to similar ranges. Decoding inverts it.
"""

from __future__ import annotations

import torch

SCALES = (10.0, 10.0, 5.0, 5.0)


def decode(codes: torch.Tensor, anchors: torch.Tensor, scales=SCALES) -> torch.Tensor:
    """``(..., N, 4)`` codes ``(ty, tx, th, tw)`` + ``(N, 4)`` anchors ``(cy, cx, h, w)`` ->
    ``(..., N, 4)`` boxes ``(x1, y1, x2, y2)`` in the anchors' units."""
    ty, tx, th, tw = (codes[..., i] / scales[i] for i in range(4))
    cy_a, cx_a, h_a, w_a = anchors.unbind(-1)
    cy, cx = ty * h_a + cy_a, tx * w_a + cx_a
    h, w = torch.exp(th) * h_a, torch.exp(tw) * w_a
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def encode(boxes: torch.Tensor, anchors: torch.Tensor, scales=SCALES) -> torch.Tensor:
    """The inverse of :func:`decode` (boxes ``x1, y1, x2, y2`` -> codes ``ty, tx, th, tw``)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    cy_a, cx_a, h_a, w_a = anchors.unbind(-1)
    h, w = y2 - y1, x2 - x1
    cy, cx = y1 + h / 2, x1 + w / 2
    return torch.stack([scales[0] * (cy - cy_a) / h_a, scales[1] * (cx - cx_a) / w_a,
                        scales[2] * torch.log(h / h_a), scales[3] * torch.log(w / w_a)], -1)
