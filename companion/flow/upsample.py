"""From the 1/8-resolution flow to full resolution.

* bilinear (RAFT-small): interpolate with ``align_corners=True`` and multiply by 8 (a displacement
  of 1 coarse pixel is 8 fine pixels);
* convex (RAFT-large): every fine pixel is a learned convex combination (softmax over 9 weights)
  of the 3×3 coarse neighbours' flows; the 8·8·9 weights per coarse pixel come from the mask head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def upsample_bilinear(flow: torch.Tensor, factor: int = 8) -> torch.Tensor:
    h, w = flow.shape[-2:]
    return factor * F.interpolate(flow, size=(h * factor, w * factor), mode="bilinear", align_corners=True)


def upsample_convex(flow: torch.Tensor, mask: torch.Tensor, factor: int = 8) -> torch.Tensor:
    b, c, h, w = flow.shape
    weights = torch.softmax(mask.view(b, 1, 9, factor, factor, h, w), dim=2)
    neighbours = F.unfold(factor * flow, kernel_size=3, padding=1).view(b, c, 9, 1, 1, h, w)
    up = (weights * neighbours).sum(dim=2)  # (B, C, f, f, H, W)
    return up.permute(0, 1, 4, 2, 5, 3).reshape(b, c, h * factor, w * factor)


def upsample_flow(flow: torch.Tensor, mask: torch.Tensor | None = None, factor: int = 8) -> torch.Tensor:
    return upsample_bilinear(flow, factor) if mask is None else upsample_convex(flow, mask, factor)
