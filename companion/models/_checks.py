"""Input checks shared by the 26.2 video models: clear errors before a tensor reaches a layer."""

from __future__ import annotations

import torch


def check_clip(x, *, name: str, channels: int, min_frames: int = 1, min_size: int = 1,
               frames_divisible_by: int = 1) -> None:
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


def check_image(x, *, name: str, channels: int, min_size: int = 1) -> None:
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
