"""Small real video files whose every frame says which frame it is (26.1 I/O tests).

Frame ``i`` of :func:`numbered_frames` carries its index twice, robust to lossy compression:

* a row of :data:`BITS` large black/white squares, the binary code of ``i`` (most significant
  first), read back by :func:`decode_frame_number`;
* a background colour that is a known function of ``i`` (:func:`frame_colour`).

So a decoder that returns the wrong frame, an off-by-one seek, or frames in the wrong order is
caught exactly, not by eye.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BITS = 10  # up to 1024 frames
CELL = 16  # pixel size of one code square


def frame_colour(i: int) -> tuple[int, int, int]:
    """The background colour of frame ``i`` (a slow walk through RGB, far from the code's grey)."""
    return (int(40 + (i * 37) % 170), int(40 + (i * 11) % 170), int(200 - (i * 23) % 160))


def numbered_frames(num_frames: int = 48, height: int = 64, width: int = 192) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 frames; frame ``i`` shows the binary code of ``i`` and colour ``i``."""
    if not 0 <= num_frames <= 2 ** BITS:
        raise ValueError(f"num_frames must be in 0..{2 ** BITS}, got {num_frames}")
    if width < BITS * CELL or height < 2 * CELL or height % 2 or width % 2:
        raise ValueError(f"need an even size of at least {BITS * CELL}x{2 * CELL} (WxH), got {width}x{height}")
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        frames[i] = frame_colour(i)
        for b in range(BITS):
            bit = (i >> (BITS - 1 - b)) & 1
            frames[i, :CELL * 2, b * CELL:(b + 1) * CELL] = 255 if bit else 0
    return frames


def decode_frame_number(frame) -> int:
    """Read the frame number back from a decoded frame (``(H, W, 3)`` or ``(3, H, W)``)."""
    a = frame.numpy() if hasattr(frame, "numpy") else np.asarray(frame)
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[-1] != 3:
        a = a.transpose(1, 2, 0)
    value = 0
    for b in range(BITS):
        patch = a[CELL // 2:CELL * 3 // 2, b * CELL + 4:(b + 1) * CELL - 4].astype(float).mean()
        value = (value << 1) | int(patch > 127)
    return value


def write_numbered_video(path, num_frames: int = 48, fps: float = 10.0, *, gop: int = 12,
                         height: int = 64, width: int = 192, overwrite: bool = True) -> Path:
    """Write :func:`numbered_frames` as an H.264 mp4 with a keyframe every ``gop`` frames."""
    from companion.io import write_video

    return write_video(path, numbered_frames(num_frames, height, width), fps, gop=gop,
                       overwrite=overwrite)
