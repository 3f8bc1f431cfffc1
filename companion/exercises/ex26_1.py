"""Exercises for 26.1 "From frames to clips".

    from companion.exercises import ex26_1 as ex
    ex.q1.check((4, 3, 16, 112, 112)); ex.q1.hint(); ex.q1.solution()

=====  ==============================================================  ======================
 key   what you give                                                    notebook
=====  ==============================================================  ======================
 q1    the shape of a (B, C, T, H, W) batch (a tuple)                   26_1_1 video tensors
 q2    the bytes of the street clip decoded to uint8 (an int)           26_1_1 video tensors
 q3    ``frames_to_decode(keyframes, target)`` (a function)             26_1_2 decoding
 q4    ``frame_difference(clip)`` (a function)                          26_1_3 redundancy
 q5    ``uniform_indices(num_frames, n)`` (a function)                  26_1_4 sampling
 q6    ``dense_clip(num_frames, clip_len, stride, start)`` (a function) 26_1_4 sampling
 q7    ``clip_to_input(clip, mean, std)`` (a function)                  26_1_4 sampling
=====  ==============================================================  ======================

The references are the companion's own code (:mod:`companion.sampling`,
:mod:`companion.transforms`); the few small functions defined here exist only for an exercise
(the arithmetic of a shape, a byte count, a keyframe seek, a frame difference).
"""

from __future__ import annotations

import numpy as np
import torch

from companion import sampling, transforms
from companion.data import STREET_CLIP_INFO
from companion.exercises._core import ExerciseSet, FunctionExercise, ValueExercise

# --------------------------------------------------------------------------------------------
# References that exist only for an exercise
# --------------------------------------------------------------------------------------------


def batch_shape(batch: int, frames: int, height: int, width: int, channels: int = 3) -> tuple:
    """Video models take channels first, then time: (B, C, T, H, W)."""
    return (batch, channels, frames, height, width)


def raw_video_bytes(num_frames: int, height: int, width: int, channels: int = 3,
                    bytes_per_value: int = 1) -> int:
    """Every frame stores H * W pixels of C values; uint8 is one byte per value."""
    return num_frames * channels * height * width * bytes_per_value


def frames_to_decode(keyframes, target: int) -> int:
    """A decoder starting cold must begin at the last keyframe at or before ``target`` and decode
    every frame from there up to and including ``target``."""
    start = max(k for k in keyframes if k <= target)
    return target - start + 1


def frame_difference(clip: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference (grey levels, 0..255) between each frame of a uint8 (T, C, H, W)
    clip and the next one: a (T - 1,) float64 tensor. Subtract in a signed/float type — uint8
    subtraction wraps around (3 - 5 = 254)."""
    x = clip.to(torch.float64)
    return (x[1:] - x[:-1]).abs().mean(dim=(1, 2, 3))


def clip_to_input(clip: torch.Tensor, mean, std) -> torch.Tensor:
    """One (T, C, H, W) uint8 clip → a (1, C, T, H, W) float batch: [0, 1], normalised per channel
    with ``mean``/``std``, channels before time. No resize, no crop. (``transforms.to_model_input``
    does the same plus resize and crop; tests/test_26_1_transforms_data.py checks they agree.)"""
    x = clip.to(torch.float32) / 255.0                             # uint8 0..255 -> float 0..1
    m = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)  # one value per channel,
    s = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)   # broadcast over T, H, W
    x = (x - m) / s
    return x.permute(1, 0, 2, 3).unsqueeze(0)                      # (T, C, H, W) -> (1, C, T, H, W)


# --------------------------------------------------------------------------------------------
# Test cases
# --------------------------------------------------------------------------------------------

_STREET = STREET_CLIP_INFO  # 795 frames, 768 x 576


def _uniform_cases():
    cases = [(795, 8), (795, 16), (10, 4), (10, 10), (7, 3), (100, 1), (1, 1), (5, 8), (3, 10),
             (16, 16), (17, 16), (1000, 7)]
    rng = np.random.default_rng(261)
    cases += [(int(rng.integers(1, 400)), int(rng.integers(1, 40))) for _ in range(20)]
    return cases


def _dense_cases():
    cases = [(795, 16, 1, 0), (795, 16, 4, 100), (795, 8, 8, 700), (795, 16, 4, 750), (10, 4, 2, 0),
             (10, 4, 3, 5), (5, 8, 1, 0), (1, 3, 2, 0), (64, 32, 2, 1), (100, 10, 10, 99)]
    rng = np.random.default_rng(2611)
    for _ in range(15):
        n = int(rng.integers(1, 300))
        cases.append((n, int(rng.integers(1, 33)), int(rng.integers(1, 9)), int(rng.integers(0, n))))
    return cases


def _clip_cases():
    g = torch.Generator().manual_seed(26)
    clips = [torch.randint(0, 256, (t, 3, h, w), dtype=torch.uint8, generator=g)
             for t, h, w in ((4, 6, 8), (8, 16, 12), (1, 5, 5))]
    clips.append(torch.full((3, 3, 4, 4), 255, dtype=torch.uint8))
    return clips


def _difference_cases():
    clips = [(c,) for c in _clip_cases() if c.shape[0] > 1]
    ramp = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 3, 4, 4).flip(0).contiguous()
    clips.append((ramp,))  # brightness falls frame by frame: uint8 subtraction would wrap
    clips.append((torch.zeros(5, 3, 2, 2, dtype=torch.uint8),))
    return clips


def _input_cases():
    return [(c, transforms.KINETICS_MEAN, transforms.KINETICS_STD) for c in _clip_cases()] + \
           [(c, (0.5, 0.5, 0.5), (0.25, 0.5, 1.0)) for c in _clip_cases()[:2]]


# --------------------------------------------------------------------------------------------
# The exercises
# --------------------------------------------------------------------------------------------


class _ShapeExercise(ValueExercise):
    """A shape answer may come as a tuple, a list or a ``torch.Size`` (``batch.shape``)."""

    def _check(self, answer):
        if isinstance(answer, torch.Size):
            answer = tuple(answer)
        return super()._check(answer)


q1 = _ShapeExercise(
    "q1",
    "A batch holds B=4 clips of T=16 RGB frames, each 112 x 112 pixels. Give the batch's shape as "
    "a video model such as torchvision's r3d_18 expects it (a tuple).",
    batch_shape, args=(4, 16, 112, 112),
    hints=["Video models use the layout (B, C, T, H, W): batch, channels, time, height, width.",
           "Channels come BEFORE time, unlike what a decoder gives you per clip, (T, C, H, W). "
           "RGB means C = 3."])

q2 = ValueExercise(
    "q2",
    f"How many bytes does the whole street clip take once decoded to a uint8 (T, C, H, W) tensor? "
    f"It has {_STREET['num_frames']} frames of {_STREET['width']} x {_STREET['height']} RGB pixels "
    f"(an int).",
    raw_video_bytes, args=(_STREET["num_frames"], _STREET["height"], _STREET["width"]),
    hints=["Multiply the four sizes of the tensor: T * C * H * W values.",
           "uint8 stores one byte per value (a float32 tensor would take 4x more). The answer is "
           "about a gigabyte — compare it with the file size on disk."])

q3 = FunctionExercise(
    "q3",
    "Write frames_to_decode(keyframes, target): how many frames must a decoder decode to get frame "
    "`target` when it starts cold (keyframes is a sorted sequence of keyframe indices, always "
    "containing 0)?",
    frames_to_decode,
    cases=[((0, 250, 500, 750), t) for t in (0, 1, 49, 249, 250, 251, 499, 745, 750, 794)]
          + [((0, 12, 24, 36), t) for t in (0, 11, 12, 13, 35, 47)] + [((0,), 300)],
    hints=["A decoder can only start at a keyframe (an I-frame); every frame after it depends on the "
           "ones before.",
           "Find the last keyframe k with k <= target; the decoder then decodes k, k+1, ..., target. "
           "Count them — both ends included."])

q4 = FunctionExercise(
    "q4",
    "Write frame_difference(clip): for a uint8 (T, C, H, W) clip return a (T-1,) tensor whose "
    "entry t is the mean absolute difference, in grey levels, between frame t+1 and frame t.",
    frame_difference, cases=_difference_cases,
    hints=["Slice the clip against itself: clip[1:] - clip[:-1] pairs every frame with the next.",
           "Convert to float (or int16) BEFORE subtracting: uint8 arithmetic wraps around, so "
           "3 - 5 gives 254. Then .abs() and average over the channel and pixel dims (1, 2, 3)."])

q5 = FunctionExercise(
    "q5",
    "Write uniform_indices(num_frames, n): n frame indices evenly spread over the video — the "
    "centre frame (rounded down) of each of n equal parts. It must also work when n > num_frames.",
    sampling.uniform, cases=_uniform_cases,
    hints=["Part i covers the times [i, i+1) * num_frames / n; its centre is (i + 0.5) * num_frames / n.",
           "np.floor the centres and cast to int64. np.linspace(0, num_frames - 1, n) is NOT the same: "
           "it always takes the very first and the very last frame.",
           "With n > num_frames some parts are shorter than a frame, so some indices repeat; clip to "
           "num_frames - 1 to be safe."])

q6 = FunctionExercise(
    "q6",
    "Write dense_clip(num_frames, clip_len, stride, start): clip_len consecutive-with-stride "
    "frame indices from `start`; where the clip runs past the end of the video, repeat the last "
    "frame (padding).",
    sampling.dense, cases=_dense_cases,
    hints=["The indices are start, start + stride, start + 2*stride, ... (clip_len of them).",
           "Indices past the end become num_frames - 1: np.minimum(indices, num_frames - 1). "
           "Return int64 indices."])

q7 = FunctionExercise(
    "q7",
    "Write clip_to_input(clip, mean, std): turn one uint8 (T, C, H, W) clip into a float32 "
    "(1, C, T, H, W) batch — values scaled to [0, 1], then (x - mean) / std per channel. No resize, "
    "no crop.",
    clip_to_input, cases=_input_cases, atol=1e-5, rtol=1e-5, check_dtype=True,
    hints=["Three steps: clip.float() / 255; subtract mean and divide by std, both shaped (1, C, 1, 1) "
           "so they broadcast over (T, C, H, W); permute.",
           "(T, C, H, W) → (C, T, H, W) is .permute(1, 0, 2, 3); then .unsqueeze(0) adds the batch "
           "dim. companion.transforms.to_model_input does all of this (and resize/crop) for a list "
           "of clips."])

EXERCISES = ExerciseSet("26.1 From frames to clips", q1=q1, q2=q2, q3=q3, q4=q4, q5=q5, q6=q6, q7=q7)


# --------------------------------------------------------------------------------------------
# Plausible wrong answers (the tests prove each check rejects one)
# --------------------------------------------------------------------------------------------


def _wrong_uniform(num_frames, n):  # always hits both ends: off from the centres
    return np.round(np.linspace(0, num_frames - 1, n)).astype(np.int64)


def _wrong_frames_to_decode(keyframes, target):  # forgets to count the target itself
    return target - max(k for k in keyframes if k <= target)


def _wrong_dense(num_frames, clip_len, stride, start):  # no padding: indices run past the video
    return start + stride * np.arange(clip_len)


def _wrong_difference(clip):  # uint8 subtraction wraps around
    return (clip[1:] - clip[:-1]).to(torch.float64).mean(dim=(1, 2, 3))


def _wrong_input(clip, mean, std):  # (B, T, C, H, W): time before channels
    m = torch.as_tensor(mean).view(1, -1, 1, 1)
    s = torch.as_tensor(std).view(1, -1, 1, 1)
    return ((clip.float() / 255 - m) / s).unsqueeze(0)


WRONG_ANSWERS = {
    "q1": (4, 16, 3, 112, 112),
    "q2": 4 * raw_video_bytes(_STREET["num_frames"], _STREET["height"], _STREET["width"]),
    "q3": _wrong_frames_to_decode,
    "q4": _wrong_difference,
    "q5": _wrong_uniform,
    "q6": _wrong_dense,
    "q7": _wrong_input,
}
