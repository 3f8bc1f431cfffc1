"""Exercises for 26.3 video transformers: token counts, the cost of attention, the reshapes of
divided attention, tube masks, central-frame inflation.

    from companion.exercises import ex26_3 as ex
    ex.q1.check(answer); ex.q1.hint(); ex.q1.solution()
"""

from __future__ import annotations

import torch

from companion.exercises._core import ExerciseSet, FunctionExercise, ValueExercise
from companion.models.attention import attention_matrix_macs
from companion.models.timesformer import temporal_sequences
from companion.models.tubelets import central_frame_kernel, num_tokens
from companion.models.videomae import tube_mask_from_scores

q1 = ValueExercise(
    "q1",
    "How many space-time tokens (no class token) does a 16-frame 224x224 clip give with 16x16 "
    "patches and tubelets of 2 frames (VideoMAE's embedding)? Answer an int.",
    num_tokens, args=(16, 224, 16, 2),
    hints=["Count tubelets along each axis: time, height, width.",
           "(16 / 2) x (224 / 16) x (224 / 16)."])


def _attention_cases():
    return [("joint", 196, 8, 768), ("divided", 196, 8, 768), ("joint", 49, 32, 192),
            ("divided", 49, 32, 192), ("divided", 16, 2, 64), ("joint", 1, 1, 8)]


q2 = FunctionExercise(
    "q2",
    "Write attention_cost(kind, N, T, D): the multiply-accumulates of Q K^T and A V in ONE layer "
    "(no projections, no class token) for kind 'joint' or 'divided', N patches per frame, T frames, "
    "width D (summed over heads).",
    attention_matrix_macs, cases=_attention_cases,
    hints=["For one attention over L tokens of width D: Q K^T is L x L dot products of length D, "
           "A V is the same again: 2 L^2 D.",
           "Joint: L = N T once. Divided: N sequences of length T (temporal) plus T sequences of "
           "length N (spatial)."])


def _reshape_cases():
    g = torch.Generator().manual_seed(3)
    return [(torch.randn(2, 3 * 5, 4, generator=g), 3, 5), (torch.randn(1, 8 * 4, 6, generator=g), 8, 4),
            (torch.randn(3, 2 * 2, 1, generator=g), 2, 2)]


q3 = FunctionExercise(
    "q3",
    "Divided attention, temporal step: write to_temporal(x, T, N) taking tokens (B, T*N, D) laid "
    "out frame by frame (no class token) and returning (B*N, T, D): one sequence per spatial "
    "position, holding that position in every frame.",
    temporal_sequences, cases=_reshape_cases,
    hints=["First make the layout explicit: x.reshape(B, T, N, D).",
           "Bring N next to B (transpose(1, 2)) before merging them; a plain reshape to "
           "(B*N, T, D) mixes up positions."])


def _mask_cases():
    g = torch.Generator().manual_seed(4)
    return [(torch.rand(2, 16, generator=g), 4, 0.75), (torch.rand(3, 196, generator=g), 8, 0.9),
            (torch.rand(1, 10, generator=g), 2, 0.5)]


q4 = FunctionExercise(
    "q4",
    "Tube masking: write tube_mask(scores, T, ratio) taking one random score per spatial position "
    "(B, N) and returning a bool mask (B, T, N), True = masked, that masks the int(ratio*N) "
    "positions with the LOWEST scores, the same positions in every one of the T slots.",
    tube_mask_from_scores, cases=_mask_cases,
    hints=["scores.argsort(dim=1)[:, :k] are the k lowest positions of each clip.",
           "Build a (B, N) mask with scatter_, then repeat it over a new time axis: "
           "mask[:, None, :].expand(B, T, N)."])


def _kernel_cases():
    g = torch.Generator().manual_seed(5)
    return [(torch.randn(4, 3, 2, 2, generator=g), 2), (torch.randn(2, 1, 3, 3, generator=g), 3),
            (torch.randn(5, 3, 4, 4, generator=g), 4), (torch.randn(1, 3, 2, 2, generator=g), 1)]


q5 = FunctionExercise(
    "q5",
    "ViViT's central-frame initialisation: write inflate(w2d, t) turning a 2D patch kernel "
    "(D, C, p, p) into a tubelet kernel (D, C, t, p, p) that equals w2d in slot t // 2 and is zero "
    "elsewhere.",
    central_frame_kernel, cases=_kernel_cases,
    hints=["Start from zeros of shape (D, C, t, p, p).",
           "The central slot is t // 2 (slot 1 when t = 2)."])

EXERCISES = ExerciseSet("26.3 video transformers", q1=q1, q2=q2, q3=q3, q4=q4, q5=q5)


def _wrong_reshape(x, t, n):
    return x.reshape(x.shape[0] * n, t, x.shape[-1])                 # forgets the transpose


def _wrong_mask(scores, t, ratio):
    b, n = scores.shape
    k = int(ratio * n)
    g = torch.Generator().manual_seed(0)
    out = torch.zeros(b, t, n, dtype=torch.bool)
    for i in range(b):
        for s in range(t):                                           # new positions in every slot
            out[i, s, torch.randperm(n, generator=g)[:k]] = True
    return out


def _wrong_kernel(w, t):
    return (w / t).unsqueeze(2).expand(-1, -1, t, -1, -1).clone()   # averaging, not central


WRONG_ANSWERS = {
    "q1": 3136,                                                      # forgot the tubelet
    "q2": lambda kind, n, t, d: (n * t) ** 2 * d,                    # joint for both, no factor 2
    "q3": _wrong_reshape,
    "q4": _wrong_mask,
    "q5": _wrong_kernel,
}
