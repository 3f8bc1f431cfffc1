"""Input checks shared by the video models: clear errors before a tensor reaches a layer.

Dtype policy: a model takes inputs of its weights' dtype (float32 unless you called
``model.double()`` / ``.half()`` / ``.to(torch.bfloat16)``). Any other float dtype is refused with a
``TypeError`` saying which conversion to make, never converted silently; inside ``torch.autocast``
(mixed precision) lower-precision inputs are accepted, as autocast casts them per layer.
An empty batch (B = 0) is a ``ValueError``.
"""

from __future__ import annotations

import torch


def check_model_input(x: torch.Tensor, *, name: str, like=None) -> None:
    """Non-empty batch; same dtype and device as the weights of ``like`` (the model), if given."""
    if x.shape[0] == 0:
        raise ValueError(f"{name} got an empty batch (B=0, shape {tuple(x.shape)}); give at least one sample")
    if like is None:
        return
    ref = next((t for t in like.parameters() if t.is_floating_point()), None)
    if ref is None:
        return
    if x.dtype != ref.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(f"{name} has {ref.dtype} weights but got a {x.dtype} input; convert the input with "
                        f"x.to({ref.dtype}) (or the model with model.to({x.dtype}); for mixed precision "
                        f"run the model under torch.autocast)")
    if x.device != ref.device:
        raise ValueError(f"{name} has its weights on {ref.device} but got an input on {x.device}; "
                         f"move it with x.to('{ref.device}')")


def check_clip(x, *, name: str, channels: int, min_frames: int = 1, min_size: int = 1,
               frames_divisible_by: int = 1, like=None) -> None:
    """Raise a clear error unless ``x`` is a float tensor (B, C, T, H, W) the model accepts."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor clip (B, C, T, H, W), got {type(x).__name__}")
    if x.dim() != 5:
        hint = ""
        if x.dim() == 4:
            hint = " (a single clip? add the batch axis with x.unsqueeze(0); a batch of images? use a 2D model)"
        raise ValueError(f"{name} expects a 5-D clip (B, C, T, H, W), got a {x.dim()}-D tensor of shape "
                         f"{tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects a floating-point clip, got dtype {x.dtype} "
                        "(convert uint8 frames with x.float() / 255)")
    B, C, T, H, W = x.shape
    if C != channels:
        hint = " (channels-last clip (B, T, H, W, C)? use x.permute(0, 4, 1, 2, 3))" if W == channels else ""
        raise ValueError(f"{name} expects {channels} channels on axis 1 of (B, C, T, H, W), got {C} "
                         f"(shape {tuple(x.shape)}){hint}")
    if T < min_frames:
        raise ValueError(f"{name} needs clips of at least {min_frames} frames, got T={T} "
                         f"(shape {tuple(x.shape)})")
    if frames_divisible_by > 1 and T % frames_divisible_by:
        raise ValueError(f"{name} needs a frame count divisible by {frames_divisible_by}, got T={T}")
    if H < min_size or W < min_size:
        raise ValueError(f"{name} needs frames of at least {min_size}×{min_size} pixels, got {H}×{W}")
    check_model_input(x, name=name, like=like)


def check_image(x, *, name: str, channels: int, min_size: int = 1, like=None) -> None:
    """Raise a clear error unless ``x`` is a float tensor (B, C, H, W) with ``channels`` channels."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor (B, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} expects a 4-D tensor (B, C, H, W), got a {x.dim()}-D tensor of shape "
                         f"{tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects a floating-point tensor, got dtype {x.dtype}")
    if x.shape[1] != channels:
        raise ValueError(f"{name} expects {channels} channels on axis 1 of (B, C, H, W), got "
                         f"{x.shape[1]} (shape {tuple(x.shape)})")
    if min(x.shape[2:]) < min_size:
        raise ValueError(f"{name} needs images of at least {min_size}×{min_size} pixels, got "
                         f"{x.shape[2]}×{x.shape[3]}")
    check_model_input(x, name=name, like=like)
