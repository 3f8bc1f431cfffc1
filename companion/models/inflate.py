"""I3D by inflation (Carreira & Zisserman, CVPR 2017): turn a trained 2D network into a 3D one.

Every ``k×k`` 2D kernel ``W`` becomes a ``t×k×k`` 3D kernel whose ``t`` time slices are all
``W / t``. On a "boring" clip — one frame repeated — each time slice sees the same image, the
``t`` contributions add up to exactly the 2D response, and the whole 3D network computes, at
every time step, what the 2D network computed on the frame. That is the *static-clip test*:
the inflated network's logits on a repeated frame equal the 2D network's logits on that frame.

One detail makes the test exact: **time is padded by replication**, not with zeros. A zero-
padded first/last time step would see ``(t−1)/t`` of a black frame and drift away from the 2D
response; with replication the padded frames equal their neighbours, and a static clip stays
static at every depth.

Rules used here: ``Conv2d`` with a spatial kernel > 1 → time kernel ``time_kernel`` (``stem_time_kernel``
for the very first conv); 1×1 convs stay 1 in time; BatchNorm2d → BatchNorm3d with the same
statistics; max/avg pooling → 1×k×k pooling; the global pool averages over time too. Temporal
stride is 1 everywhere, so the clip's length is kept until the final average.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from companion.models._checks import check_clip

__all__ = ["inflate", "inflate_weight", "InflatedConv3d", "I3D"]


def inflate_weight(weight2d: torch.Tensor, time_kernel: int) -> torch.Tensor:
    """(C_out, C_in, kH, kW) → (C_out, C_in, t, kH, kW): repeat over time, divide by ``t``."""
    if not isinstance(weight2d, torch.Tensor) or weight2d.dim() != 4:
        raise ValueError("weight2d must be a 4-D tensor (C_out, C_in, kH, kW), got "
                         f"{tuple(weight2d.shape) if isinstance(weight2d, torch.Tensor) else type(weight2d).__name__}")
    if not isinstance(time_kernel, int) or isinstance(time_kernel, bool) or time_kernel < 1:
        raise ValueError(f"time_kernel must be a positive int, got {time_kernel!r}")
    return weight2d.unsqueeze(2).repeat(1, 1, time_kernel, 1, 1) / time_kernel


class InflatedConv3d(nn.Conv3d):
    """A Conv3d that pads time by replication (``time_pad`` frames each side) and space with zeros."""

    def __init__(self, *args, time_pad: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_pad = int(time_pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.time_pad:
            x = F.pad(x, (0, 0, 0, 0, self.time_pad, self.time_pad), mode="replicate")
        return super().forward(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", time_pad={self.time_pad} (replicate)"


def _inflate_conv(conv: nn.Conv2d, t: int) -> InflatedConv3d:
    if isinstance(conv.padding, str):
        raise ValueError(f"cannot inflate a Conv2d with padding={conv.padding!r}; numeric padding needed")
    if conv.padding_mode != "zeros":
        raise ValueError(f"cannot inflate a Conv2d with padding_mode={conv.padding_mode!r}")
    new = InflatedConv3d(conv.in_channels, conv.out_channels, (t,) + tuple(conv.kernel_size),
                         stride=(1,) + tuple(conv.stride), padding=(0,) + tuple(conv.padding),
                         dilation=(1,) + tuple(conv.dilation), groups=conv.groups,
                         bias=conv.bias is not None, time_pad=t // 2)
    with torch.no_grad():
        new.weight.copy_(inflate_weight(conv.weight, t))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new.to(conv.weight.device, conv.weight.dtype)


def _inflate_bn(bn: nn.BatchNorm2d) -> nn.BatchNorm3d:
    new = nn.BatchNorm3d(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                         track_running_stats=bn.track_running_stats)
    new.load_state_dict(bn.state_dict())
    new.train(bn.training)
    return new


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _inflate_module(m: nn.Module, t: int, stem_t: int, first: list) -> nn.Module:
    if isinstance(m, nn.Conv2d):
        tk = stem_t if first[0] else (t if max(m.kernel_size) > 1 else 1)
        first[0] = False
        return _inflate_conv(m, tk)
    if isinstance(m, nn.BatchNorm2d):
        return _inflate_bn(m)
    if isinstance(m, nn.MaxPool2d):
        return nn.MaxPool3d((1,) + _pair(m.kernel_size), (1,) + _pair(m.stride), (0,) + _pair(m.padding),
                            (1,) + _pair(m.dilation), ceil_mode=m.ceil_mode)
    if isinstance(m, nn.AvgPool2d):
        return nn.AvgPool3d((1,) + _pair(m.kernel_size), (1,) + _pair(m.stride), (0,) + _pair(m.padding),
                            ceil_mode=m.ceil_mode, count_include_pad=m.count_include_pad)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return nn.AdaptiveAvgPool3d((1,) + _pair(m.output_size))
    if type(m).__module__.startswith("torch.nn") and type(m).__name__.lower().endswith("2d"):
        raise ValueError(f"inflate() does not know how to inflate {type(m).__name__}; supported 2D "
                         "modules: Conv2d, BatchNorm2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d")
    for name, child in list(m.named_children()):
        setattr(m, name, _inflate_module(child, t, stem_t, first))
    return m


class I3D(nn.Module):
    """An inflated 2D network taking clips (B, C, T, H, W); ``self.net`` is the inflated copy."""

    def __init__(self, net: nn.Module, in_channels: int, min_frames: int = 2):
        super().__init__()
        self.net, self.in_channels, self.min_frames = net, in_channels, min_frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_clip(x, name="I3D", channels=self.in_channels, min_frames=self.min_frames, like=self)
        return self.net(x)


def inflate(model2d: nn.Module, *, time_kernel: int = 3, stem_time_kernel: int = 5,
            min_frames: int = 2) -> I3D:
    """An I3D copy of a 2D CNN (tested on torchvision ``resnet18``/``resnet50``); the original is untouched.

    The 2D network's own ``forward`` is reused, so any network built from Conv2d/BatchNorm2d/
    pooling/Linear whose forward does not assume 4-D tensors can be inflated.
    """
    if not isinstance(model2d, nn.Module):
        raise TypeError(f"inflate() expects a 2D torch.nn.Module, got {type(model2d).__name__}")
    for name, v in (("time_kernel", time_kernel), ("stem_time_kernel", stem_time_kernel)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1 or v % 2 == 0:
            raise ValueError(f"{name} must be a positive odd int (so time is padded symmetrically), got {v!r}")
    convs = [m for m in model2d.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("inflate() found no Conv2d in the model: nothing to inflate")
    if any(isinstance(m, (nn.Conv3d, nn.BatchNorm3d)) for m in model2d.modules()):
        raise ValueError("the model already contains 3D layers; inflate() expects a 2D network")
    net = _inflate_module(copy.deepcopy(model2d), time_kernel, stem_time_kernel, [True])
    if hasattr(net, "input_rank"):  # networks that validate their input rank (companion's SmallCNN2d)
        net.input_rank = 5
    return I3D(net, convs[0].in_channels, min_frames)
