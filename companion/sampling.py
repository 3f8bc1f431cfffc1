"""26.1 Sampling: which frames does a model see?

Every sampler returns frame *indices* (``numpy.int64``) for a video of ``num_frames`` frames;
decoding them is :func:`companion.io.read_clip`'s job. Random samplers take an explicit
``rng`` (a :class:`numpy.random.Generator` or an int seed), so a run is reproducible.

=================  ==========================================================================
sampler            what it returns
=================  ==========================================================================
``dense``          ``clip_len`` frames, ``stride`` apart, from ``start``
``random_clip``    a ``dense`` clip at a random start (training)
``uniform``        ``n`` frames evenly spread over the whole video (centres of n equal parts)
``segment``        TSN: one frame per equal segment — random in training, central at test
``multi_clip``     ``num_clips`` dense clips with evenly spread starts, shape (num_clips, clip_len)
``time_based``     frames at given times in seconds (nearest frame)
=================  ==========================================================================

When a dense clip needs more frames than the video has, ``overflow`` decides:
``"pad"`` (default) repeats the last frame, ``"loop"`` wraps to the start, ``"error"`` raises.
``uniform`` and ``segment`` never overflow: with ``n > num_frames`` some frames simply repeat.
All samplers but ``"loop"`` return non-decreasing indices.
"""

from __future__ import annotations

import numpy as np

OVERFLOW_MODES = ("pad", "loop", "error")


def _check_count(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError("random sampling needs an explicit generator: pass rng=np.random.default_rng(seed) "
                    f"or an int seed, got {type(rng).__name__}")


def _fit(indices: np.ndarray, num_frames: int, overflow: str) -> np.ndarray:
    if overflow not in OVERFLOW_MODES:
        raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, got {overflow!r}")
    if indices.size and indices.max() >= num_frames:
        if overflow == "error":
            raise ValueError(f"the clip needs frame {int(indices.max())} but the video has only "
                             f"{num_frames} frames (use overflow='pad' or 'loop')")
        indices = np.minimum(indices, num_frames - 1) if overflow == "pad" else indices % num_frames
    return indices.astype(np.int64)


def clip_span(clip_len: int, stride: int = 1) -> int:
    """How many consecutive frames a dense clip covers: ``(clip_len - 1) * stride + 1``."""
    return (clip_len - 1) * stride + 1


def dense(num_frames: int, clip_len: int, stride: int = 1, start: int = 0,
          overflow: str = "pad") -> np.ndarray:
    """``clip_len`` frames ``stride`` apart starting at ``start``."""
    num_frames = _check_count("num_frames", num_frames)
    clip_len, stride = _check_count("clip_len", clip_len), _check_count("stride", stride)
    start = _check_count("start", start, minimum=0)
    if start >= num_frames:
        raise ValueError(f"start={start} is beyond the video (valid 0..{num_frames - 1})")
    return _fit(start + stride * np.arange(clip_len), num_frames, overflow)


def random_clip(num_frames: int, clip_len: int, stride: int = 1, *, rng,
                overflow: str = "pad") -> np.ndarray:
    """A dense clip at a uniformly random start (every start that fits is equally likely)."""
    num_frames = _check_count("num_frames", num_frames)
    span = clip_span(_check_count("clip_len", clip_len), _check_count("stride", stride))
    start = int(_rng(rng).integers(0, max(num_frames - span, 0) + 1))
    return dense(num_frames, clip_len, stride, start, overflow)


def uniform(num_frames: int, n: int) -> np.ndarray:
    """``n`` frames evenly spread: the centre frame of each of ``n`` equal parts of the video."""
    num_frames, n = _check_count("num_frames", num_frames), _check_count("n", n)
    centres = (np.arange(n) + 0.5) * num_frames / n
    return np.minimum(np.floor(centres), num_frames - 1).astype(np.int64)


def segment(num_frames: int, num_segments: int, *, train: bool = False, rng=None) -> np.ndarray:
    """TSN sampling: split the video into ``num_segments`` equal parts and take one frame of each,
    uniformly at random within the part when ``train`` (needs ``rng``), its centre otherwise."""
    num_frames = _check_count("num_frames", num_frames)
    num_segments = _check_count("num_segments", num_segments)
    edges = np.arange(num_segments + 1) * num_frames / num_segments
    lo = np.floor(edges[:-1]).astype(np.int64)
    hi = np.maximum(np.ceil(edges[1:]).astype(np.int64), lo + 1)  # exclusive, never empty
    if not train:
        return uniform(num_frames, num_segments)
    return np.minimum(_rng(rng).integers(lo, hi), num_frames - 1).astype(np.int64)


def multi_clip(num_frames: int, clip_len: int, stride: int = 1, num_clips: int = 10,
               overflow: str = "pad") -> np.ndarray:
    """Test-time multi-clip sampling: ``num_clips`` dense clips whose starts are evenly spread so
    the clips together cover the video. Shape ``(num_clips, clip_len)``; average the model's
    predictions over the clips."""
    num_frames = _check_count("num_frames", num_frames)
    clip_len, stride = _check_count("clip_len", clip_len), _check_count("stride", stride)
    num_clips = _check_count("num_clips", num_clips)
    room = max(num_frames - clip_span(clip_len, stride), 0)
    starts = np.round(np.linspace(0, room, num_clips)).astype(np.int64) if num_clips > 1 \
        else np.array([room // 2])
    return np.stack([dense(num_frames, clip_len, stride, int(s), overflow) for s in starts])


def _check_seconds(name: str, value, *, positive: bool) -> float:
    """A finite real number of seconds (or frames per second), > 0 or >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v) or (v <= 0 if positive else v < 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return v


def time_based(fps: float, times_s, num_frames: int | None = None) -> np.ndarray:
    """Frames at the given times (seconds): frame ``round(t * fps)``, clipped to the video when
    ``num_frames`` is given. Times outside ``[0, duration)`` raise ``ValueError``; ``fps`` must be
    finite and > 0. (A variable frame rate file has no single fps: use
    :func:`companion.io.frame_times` and ``np.searchsorted`` there.)"""
    fps = _check_seconds("fps", fps, positive=True)
    try:
        t = np.atleast_1d(np.asarray(times_s, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"times_s must be a number or a sequence of numbers (seconds), got {times_s!r}") from None
    if not np.isfinite(t).all() or (t < 0).any():
        bad = t[~np.isfinite(t) | (t < 0)][0]
        raise ValueError(f"times must be finite, non-negative seconds, got {bad!r}")
    if num_frames is not None:
        num_frames = _check_count("num_frames", num_frames)
    idx = np.floor(t * fps + 0.5).astype(np.int64)
    if num_frames is not None:
        duration = num_frames / fps
        if (t >= duration).any():
            raise ValueError(f"time {float(t[t >= duration][0])} s is past the end of the video "
                             f"({duration:.3f} s)")
        idx = np.minimum(idx, num_frames - 1)
    return idx


def every_seconds(fps: float, num_frames: int, step_s: float, start_s: float = 0.0) -> np.ndarray:
    """One frame every ``step_s`` seconds from ``start_s`` to the end (e.g. 1 frame/s for a summary)."""
    num_frames = _check_count("num_frames", num_frames)
    fps = _check_seconds("fps", fps, positive=True)
    step_s = _check_seconds("step_s", step_s, positive=True)
    start_s = _check_seconds("start_s", start_s, positive=False)
    times = np.arange(start_s, num_frames / fps, step_s)
    return time_based(fps, times, num_frames)
