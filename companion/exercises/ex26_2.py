"""Exercises for 26.2 action recognition.

* ``q1`` — the output shape of a 3D convolution (T', H', W') for given kernel/stride/padding/dilation;
* ``q2`` — the R(2+1)D mid-channel count that matches a 3×3×3 kernel's parameters;
* ``q3`` — inflate a 2D kernel into a 3D one (I3D);
* ``q4`` — the shape after a SlowFast lateral connection;
* ``q5`` — the cross-modality initialisation of a two-stream network's flow stream.
"""

from __future__ import annotations

import torch

from companion.exercises._core import ExerciseSet, FunctionExercise
from companion.models.conv3d import conv3d_output_shape
from companion.models.inflate import inflate_weight
from companion.models.resnet3d import r2plus1d_mid_channels
from companion.models.slowfast import lateral_output_shape
from companion.models.two_stream import cross_modality_init


def _inflate_cases():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 3, 3, 3, generator=g), 3), (torch.randn(2, 5, 7, 7, generator=g), 5),
            (torch.randn(6, 2, 1, 1, generator=g), 1)]


q1 = FunctionExercise(
    "q1", "Write conv3d_output_shape(in_size, kernel_size, stride, padding, dilation) returning "
          "(T', H', W') for a 3D convolution; each argument is a 3-tuple.",
    conv3d_output_shape,
    hints=["Each axis is independent: the same formula as for a 2D convolution, applied to t, h and w.",
           "A dilated kernel spans dilation·(k−1)+1 samples; out = (in + 2·pad − span) // stride + 1."],
    cases=[((16, 112, 112), (3, 7, 7), (1, 2, 2), (1, 3, 3), (1, 1, 1)),
           ((8, 56, 56), (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1)),
           ((16, 28, 28), (3, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1)),
           ((9, 20, 21), (3, 3, 2), (2, 3, 1), (2, 1, 0), (2, 1, 3))],
)

q2 = FunctionExercise(
    "q2", "Write r2plus1d_mid_channels(c_in, c_out) — the channels between the 1×3×3 and 3×1×1 convs "
          "of an R(2+1)D block, chosen so the pair has (about) the parameters of one 3×3×3 conv.",
    r2plus1d_mid_channels,
    hints=["Set c_in·c_out·27 (the 3D kernel) equal to mid·(c_in·9) + mid·(3·c_out) (the two factors).",
           "mid = (c_in·c_out·27) // (c_in·9 + 3·c_out) — integer division, computed once per block."],
    cases=[(64, 64), (64, 128), (128, 256), (256, 512), (3, 64), (45, 64)],
)

q3 = FunctionExercise(
    "q3", "Write inflate_weight(w2d, t): turn a (C_out, C_in, k, k) 2D kernel into a (C_out, C_in, t, k, k) "
          "3D kernel that gives the same response on a clip of one repeated frame.",
    inflate_weight,
    hints=["Copy the 2D kernel into each of the t time slices.",
           "t identical copies would multiply the response by t: divide by t. "
           "w2d.unsqueeze(2).repeat(1, 1, t, 1, 1) / t"],
    cases=_inflate_cases,
)

q4 = FunctionExercise(
    "q4", "Write lateral_output_shape(fast_shape, alpha, kernel, channel_ratio): the shape of the fast "
          "features (B, C, αT, H, W) after a SlowFast time-strided lateral conv (kernel k×1×1, stride α, "
          "padding k//2, channels ×ratio).",
    lateral_output_shape,
    hints=["Only time and channels change; apply the convolution output formula along time.",
           "T' = (T_fast + 2·(k//2) − k) // α + 1, channels × ratio."],
    cases=[((2, 8, 32, 56, 56), 8, 5, 2), ((1, 4, 16, 28, 28), 4, 5, 2), ((3, 16, 12, 7, 7), 4, 3, 2),
           ((1, 8, 64, 14, 14), 8, 7, 1)],
)

def _cross_cases():
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 3, 5, 5, generator=g), 20), (torch.randn(4, 3, 7, 7, generator=g), 4),
            (torch.randn(2, 3, 3, 3, generator=g), 1)]


q5 = FunctionExercise(
    "q5", "Write cross_modality_init(w_rgb, channels): the first-layer kernel of the temporal (flow) stream "
          "from the RGB stream's (C_out, 3, k, k) kernel — shape (C_out, channels, k, k).",
    cross_modality_init,
    hints=["Average over the colour axis (dim 1), keeping it.",
           "w_rgb.mean(dim=1, keepdim=True).repeat(1, channels, 1, 1)"],
    cases=_cross_cases,
)

EXERCISES = ExerciseSet("26.2 action recognition", q1=q1, q2=q2, q3=q3, q4=q4, q5=q5)


def _wrong_q1(in_size, kernel_size, stride, padding, dilation):  # forgets the dilation
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(in_size, kernel_size, stride, padding))


def _wrong_q2(c_in, c_out):  # per-conv formula with the output channels only
    return (c_out * c_out * 27) // (c_out * 9 + 3 * c_out)


def _wrong_q3(w2d, t):  # repeats without dividing by t
    return w2d.unsqueeze(2).repeat(1, 1, t, 1, 1)


def _wrong_q4(fast_shape, alpha, kernel=5, channel_ratio=2):  # forgets to double the channels
    B, C, T, H, W = fast_shape
    return (B, C, (T + 2 * (kernel // 2) - kernel) // alpha + 1, H, W)


def _wrong_q5(w_rgb, channels):  # sums instead of averaging
    return w_rgb.sum(dim=1, keepdim=True).repeat(1, channels, 1, 1)


WRONG_ANSWERS = {"q1": _wrong_q1, "q2": _wrong_q2, "q3": _wrong_q3, "q4": _wrong_q4, "q5": _wrong_q5}
