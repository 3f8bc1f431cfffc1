"""26.1 From decoded frames to model input: ``(T, C, H, W)`` uint8 clips → ``(B, C, T, H, W)`` float.

Video models take channels first, then time: ``(B, C, T, H, W)``. Decoders give ``(T, C, H, W)``
uint8. :func:`to_model_input` does the whole trip — scale to [0, 1], resize the short side (or to
an exact size), crop, normalise with the training set's mean/std, permute to ``C, T`` and stack —
the way torchvision's Kinetics models expect (resize (128, 171), centre crop 112).
"""

from __future__ import annotations

import numbers
from typing import Sequence

import torch
import torch.nn.functional as F

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check_clip(clip: torch.Tensor, what: str = "clip") -> torch.Tensor:
    if not isinstance(clip, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor shaped (T, C, H, W), got {type(clip).__name__}")
    if clip.ndim != 4:
        raise ValueError(f"{what} must be 4-D (T, C, H, W), got shape {tuple(clip.shape)}")
    if clip.shape[1] not in (1, 3):
        raise ValueError(f"{what} must have 1 or 3 channels in dim 1 (T, C, H, W), got shape "
                         f"{tuple(clip.shape)}; a (T, H, W, C) array needs .permute(0, 3, 1, 2)")
    return clip


def to_float(clip: torch.Tensor) -> torch.Tensor:
    """Integer frames [0, 255] (uint8, or any integer dtype holding 0..255) → float32 [0, 1];
    float input is returned as float32 unchanged. Integers outside 0..255 and booleans are refused."""
    if clip.dtype == torch.bool:
        raise TypeError("frames must be uint8 [0, 255] or float, got a bool tensor")
    if clip.is_floating_point() or clip.is_complex():
        if clip.is_complex():
            raise TypeError(f"frames must be uint8 [0, 255] or float, got {clip.dtype}")
        return clip.float()
    if clip.dtype != torch.uint8 and clip.numel():
        lo, hi = int(clip.min()), int(clip.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"integer frames must hold 0..255 (8-bit pixel values), got {clip.dtype} "
                             f"values in {lo}..{hi}; scale them to [0, 1] floats yourself")
    return clip.float().div_(255.0)


def _check_size(name: str, size) -> tuple[int, int] | int:
    """An int (>= 1) or a pair (H, W) of ints (>= 1)."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        pair = (size, size)
    else:
        try:
            pair = tuple(size)
        except TypeError:
            raise TypeError(f"{name} must be an int or a pair (H, W) of ints, got {size!r}") from None
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in pair):
        raise ValueError(f"{name} must be >= 1 pixel: an int or a pair (H, W) of ints, got {size!r}")
    return int(size) if len(pair) == 2 and pair[0] is size else (int(pair[0]), int(pair[1]))


def resize(clip: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Resize every frame: an int resizes the short side keeping the aspect ratio, a pair is (H, W)."""
    clip = _check_clip(clip)
    size = _check_size("resize size", size)
    h, w = clip.shape[-2:]
    if isinstance(size, int):
        scale = size / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
    size = (int(size[0]), int(size[1]))
    if size == (h, w):
        return to_float(clip)
    return F.interpolate(to_float(clip), size=size, mode="bilinear", align_corners=False, antialias=True)


def center_crop(clip: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """The central ``size`` (int: square, or (H, W)) of every frame; at least 1 pixel."""
    size = _check_size("crop", size)
    h, w = clip.shape[-2:]
    ch, cw = (size, size) if isinstance(size, int) else size
    if ch > h or cw > w:
        raise ValueError(f"crop {ch}x{cw} is larger than the frames ({h}x{w}); resize first")
    top, left = (h - ch) // 2, (w - cw) // 2
    return clip[..., top:top + ch, left:left + cw]


def normalize(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Per-channel ``(x - mean) / std`` on a ``(T, C, H, W)`` float clip."""
    m = torch.as_tensor(mean, dtype=clip.dtype).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=clip.dtype).view(1, -1, 1, 1)
    return (clip - m) / s


def to_model_input(clips: torch.Tensor | Sequence[torch.Tensor], *, resize_to: int | Sequence[int] | None = (128, 171),
                   crop: int | Sequence[int] | None = 112, mean: Sequence[float] | None = KINETICS_MEAN,
                   std: Sequence[float] | None = KINETICS_STD) -> torch.Tensor:
    """Stack decoded clips into a float ``(B, C, T, H, W)`` batch.

    ``clips`` is one ``(T, C, H, W)`` tensor or a sequence of them (same T). Defaults follow
    torchvision's Kinetics video models; pass ``None`` to skip a step.
    """
    if isinstance(clips, torch.Tensor):
        clips = [clips]
    if len(clips) == 0:
        raise ValueError("clips is empty: give at least one (T, C, H, W) clip")
    out = []
    for i, clip in enumerate(clips):
        x = to_float(_check_clip(clip, f"clips[{i}]"))
        if resize_to is not None:
            x = resize(x, resize_to)
        if crop is not None:
            x = center_crop(x, crop)
        if mean is not None and std is not None:
            x = normalize(x, mean, std)
        out.append(x.permute(1, 0, 2, 3))  # (C, T, H, W)
    shapes = {tuple(x.shape) for x in out}
    if len(shapes) > 1:
        raise ValueError(f"clips differ in shape after resize/crop: {sorted(shapes)}; give clips of "
                         f"the same length, or set crop/resize_to")
    return torch.stack(out).contiguous()
