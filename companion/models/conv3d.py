"""The 3D convolution from first principles: gather every space-time window, then one matmul.

A 3D convolution slides a ``(kT, kH, kW)`` box over a clip ``(B, C, T, H, W)``; at each output
position it takes the dot product of the box's ``C·kT·kH·kW`` values with each filter. Written
as "unfold, then multiply" it is exactly the 2D im2col trick with one more axis:

1. zero-pad the three axes;
2. ``Tensor.unfold`` each axis with its (dilated) window and stride, giving
   ``(B, C, T', H', W', kT, kH, kW)`` — a *view*, no copy yet;
3. flatten each window to a column and multiply by the filters ``(C_out, C_in/g · kT·kH·kW)``,
   group by group.

:func:`conv3d` reproduces :func:`torch.nn.functional.conv3d` for every stride, padding, dilation
and group count; :func:`conv3d_output_shape` is the formula behind it.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["conv3d", "conv3d_output_shape", "Conv3dUnfold", "triple"]


def triple(v, name: str = "value") -> tuple[int, int, int]:
    """``3 -> (3, 3, 3)``; a length-3 sequence is returned as a tuple of ints."""
    if isinstance(v, bool):
        raise TypeError(f"{name} must be an int or 3 ints, got {v!r}")
    if isinstance(v, int):
        return (v, v, v)
    if isinstance(v, Sequence) and len(v) == 3 and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(int(x) for x in v)  # type: ignore[return-value]
    raise TypeError(f"{name} must be an int or a sequence of 3 ints (t, h, w), got {v!r}")


def conv3d_output_shape(in_size, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int, int]:
    """Output ``(T', H', W')`` of a 3D convolution (or pooling) on an input of ``(T, H, W)``.

    Per axis: ``out = floor((in + 2·pad − dil·(k − 1) − 1) / stride) + 1``.
    """
    size, k = triple(in_size, "in_size"), triple(kernel_size, "kernel_size")
    s, p, d = triple(stride, "stride"), triple(padding, "padding"), triple(dilation, "dilation")
    out = []
    for n, kk, ss, pp, dd in zip(size, k, s, p, d):
        span = dd * (kk - 1) + 1
        if n + 2 * pp < span:
            raise ValueError(f"input extent {n} (+2·{pp} padding) is smaller than the dilated kernel "
                             f"extent {span}; accepted: in + 2·padding ≥ dilation·(kernel−1)+1")
        out.append((n + 2 * pp - span) // ss + 1)
    return tuple(out)  # type: ignore[return-value]


def conv3d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1,
           padding=0, dilation=1, groups: int = 1) -> torch.Tensor:
    """3D convolution by explicit sliding windows (``unfold``) and a matrix product.

    ``x``: (B, C_in, T, H, W); ``weight``: (C_out, C_in/groups, kT, kH, kW); returns
    (B, C_out, T', H', W') equal to ``F.conv3d`` with the same arguments.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 5:
        raise ValueError(f"x must be a 5-D tensor (B, C, T, H, W), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 5:
        raise ValueError("weight must be a 5-D tensor (C_out, C_in/groups, kT, kH, kW)")
    s, p, d = triple(stride, "stride"), triple(padding, "padding"), triple(dilation, "dilation")
    if min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(f"stride and dilation must be ≥ 1 and padding ≥ 0, got stride={s}, "
                         f"padding={p}, dilation={d}")
    B, C, T, H, W = x.shape
    C_out, C_per_group, kT, kH, kW = weight.shape
    if groups < 1 or C % groups or C_out % groups:
        raise ValueError(f"groups={groups} must divide both input channels {C} and output channels {C_out}")
    if C_per_group * groups != C:
        raise ValueError(f"weight expects {C_per_group * groups} input channels "
                         f"({C_per_group} per group × {groups} groups), x has {C}")
    if bias is not None and bias.shape != (C_out,):
        raise ValueError(f"bias must have shape ({C_out},), got {tuple(bias.shape)}")
    To, Ho, Wo = conv3d_output_shape((T, H, W), (kT, kH, kW), s, p, d)

    xp = nn.functional.pad(x, (p[2], p[2], p[1], p[1], p[0], p[0]))
    # window along each axis: size d·(k−1)+1, step = stride; then keep every d-th tap (dilation)
    cols = xp
    for axis, (k, ss, dd) in zip((2, 3, 4), zip((kT, kH, kW), s, d)):
        cols = cols.unfold(axis, dd * (k - 1) + 1, ss)
    cols = cols[..., ::d[0], :, :][..., ::d[1], :][..., ::d[2]]  # (B, C, To, Ho, Wo, kT, kH, kW)
    # -> (B, groups, C/g·kT·kH·kW, To·Ho·Wo)
    cols = cols.permute(0, 1, 5, 6, 7, 2, 3, 4).reshape(B, groups, C_per_group * kT * kH * kW, To * Ho * Wo)
    w = weight.reshape(groups, C_out // groups, C_per_group * kT * kH * kW)
    out = torch.matmul(w.unsqueeze(0), cols)  # (B, groups, C_out/g, L)
    out = out.reshape(B, C_out, To, Ho, Wo)
    if bias is not None:
        out = out + bias.view(1, C_out, 1, 1, 1)
    return out


class Conv3dUnfold(nn.Conv3d):
    """An ``nn.Conv3d`` (same parameters, same state dict) whose forward is :func:`conv3d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D401
        if self.padding_mode != "zeros":
            raise ValueError("Conv3dUnfold supports padding_mode='zeros' only")
        if isinstance(self.padding, str):
            raise ValueError("Conv3dUnfold needs numeric padding, not 'same'/'valid'")
        return conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
