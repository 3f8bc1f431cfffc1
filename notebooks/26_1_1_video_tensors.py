# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 26.1.1 What a video tensor is
#
# A video is a sequence of images taken at a fixed rate. Once decoded, it is nothing more exotic
# than a 4-D array of numbers — but *which* four dimensions, in which order, and how many bytes
# they take, decide what a model can consume and what your machine can hold.
#
# This notebook:
#
# 1. reads a few frames of the chapter's real street clip and looks at the tensor it gets;
# 2. contrasts the decoder's layout `(T, C, H, W)` with the model's layout `(B, C, T, H, W)`;
# 3. measures how much memory raw (decoded) video takes, against the size of the compressed file.
#
# Series: **26.1.1 video tensors** → 26.1.2 decoding → 26.1.3 temporal redundancy → 26.1.4 sampling
# and batching.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

import companion
from companion.config import scaled
from companion.data import street_clip
from companion.io import read_clip, video_info
from companion.viz import show_strip

companion.seed_everything(0)
print("fast mode:", companion.FAST)

# %% [markdown]
# ## The street clip
#
# OpenCV's sample `vtest.avi`: a static camera looking down on a pedestrian street.
# `companion.data.street_clip()` finds or fetches it and verifies its checksum;
# `companion.io.video_info` reads the container's metadata without decoding any picture.

# %%
path = street_clip()
info = video_info(path)
print(f"{path.name}: {info.num_frames} frames, {info.fps:g} fps, {info.width}x{info.height}, "
      f"{info.duration:.1f} s, codec {info.codec}")

# %% [markdown]
# ## One clip = a `(T, C, H, W)` tensor
#
# `read_clip(path, indices)` returns the frames you ask for as `torch.uint8`, shaped
# **T** (time, one entry per requested frame) × **C** (3 colour channels, RGB) × **H** × **W**.
# Pixel values are integers 0..255.

# %%
indices = [0, 100, 200, 300, 400, 500]
clip = read_clip(path, indices)
print("shape", tuple(clip.shape), "dtype", clip.dtype, "min", int(clip.min()), "max", int(clip.max()))
show_strip(clip, titles=[f"frame {i}\n t={i / info.fps:.0f} s" for i in indices], ax_width=2.2,
           suptitle="six frames of the street clip, 10 s apart")
plt.show()

# %% [markdown]
# Each axis is a different kind of thing. Indexing makes it concrete:
#
# * `clip[t]` is one picture, `(C, H, W)`;
# * `clip[:, c]` is one colour channel of every frame, `(T, H, W)`;
# * `clip[:, :, y, x]` is **one pixel through time**, `(T, C)` — the view a temporal model takes.

# %%
y, x = 300, 400
pixel_over_time = clip[:, :, y, x]
print("frame 0, channels at (300, 400):", clip[0, :, y, x].tolist())
print("that pixel through time (T, C):\n", pixel_over_time.numpy())

# %% [markdown]
# ## Decoders give `(T, C, H, W)`; video models want `(B, C, T, H, W)`
#
# A 3-D convolution (`torch.nn.Conv3d`) slides its kernel over **three** dimensions — time, height,
# width — and mixes channels. PyTorch's convention puts the channels right after the batch, so a
# video network takes `(B, C, T, H, W)`: batch, channels, *then* time. Two things change on the
# way from the decoder to the model: add a batch dimension, and swap time and channels.
#
# The bug to watch for is feeding `(B, T, C, H, W)`: a `Conv3d(3, ...)` then sees *T* "channels".
# When T happens to be 3 it runs silently and computes nonsense.

# %%
conv = torch.nn.Conv3d(in_channels=3, out_channels=8, kernel_size=(3, 3, 3), padding=1)
small = torch.nn.functional.interpolate(clip.float() / 255, size=(72, 96))  # (T, C, 72, 96)
batch = small.permute(1, 0, 2, 3).unsqueeze(0)  # (1, C, T, H, W)
print("model layout (B, C, T, H, W):", tuple(batch.shape), "->", tuple(conv(batch).shape))

wrong = small.unsqueeze(0)  # (1, T, C, H, W): time where the channels should be
try:
    conv(wrong)
except RuntimeError as exc:
    print("(B, T, C, H, W) is rejected:", str(exc).splitlines()[0][:120])

# %% [markdown]
# `permute` does not move any data; it only changes the *strides* (how far to jump in memory for a
# step along each axis). Models run faster on contiguous memory, so batching code usually calls
# `.contiguous()` once at the end — which *does* copy.

# %%
print("strides (T, C, H, W):", small.stride())
print("strides after permute to (C, T, H, W):", small.permute(1, 0, 2, 3).stride(),
      "contiguous:", small.permute(1, 0, 2, 3).is_contiguous())

# %% [markdown]
# ## How big is raw video?
#
# Decoded video is huge. Every frame stores `C·H·W` values; uint8 takes one byte each. The
# compressed file is small because the codec stores a full picture rarely (a keyframe) and only
# *changes* in between (26.1.2 and 26.1.3 look at this).
#
# We decode the first frames, measure the tensor's bytes per frame, and extrapolate to the
# whole clip — checked against the formula `T·C·H·W` (the exercise q2 below asks you for it).

# %%
n_measure = scaled(200, 40)
first = read_clip(path, range(n_measure))
bytes_per_frame = first.numel() * first.element_size() / n_measure
raw_uint8 = bytes_per_frame * info.num_frames
assert raw_uint8 == info.num_frames * 3 * info.height * info.width  # formula == measurement
file_bytes = os.path.getsize(path)
print(f"decoded {n_measure} frames: {first.numel() * first.element_size() / 1e6:.1f} MB "
      f"({bytes_per_frame / 1e6:.3f} MB per frame)")
print(f"whole clip as uint8:   {raw_uint8 / 1e9:.3f} GB")
print(f"whole clip as float32: {4 * raw_uint8 / 1e9:.3f} GB")
print(f"file on disk:          {file_bytes / 1e6:.2f} MB  -> compression {raw_uint8 / file_bytes:.0f}x")
del first

# %%
sizes = {"file on disk": file_bytes, "decoded uint8": raw_uint8, "decoded float32": 4 * raw_uint8}
fig, ax = plt.subplots(figsize=(6, 2.4))
ax.barh(list(sizes), [v / 1e6 for v in sizes.values()], color=["#4c72b0", "#dd8452", "#c44e52"])
ax.set_xscale("log")
ax.set_xlim(1, 40 * max(sizes.values()) / 1e6)
ax.set_xlabel("MB (log scale)")
for i, v in enumerate(sizes.values()):
    ax.text(v / 1e6, i, f" {v / 1e6:,.0f} MB", va="center")
ax.set_title(f"the {info.duration:.0f} s street clip")
fig.tight_layout()
plt.show()

# %% [markdown]
# That is why nobody decodes a whole video to feed a model. A model sees a **clip**: a few frames,
# resized small. Typical inputs, in float32:

# %%
rows = [("r3d_18 / R(2+1)D, 16x112x112", 16, 112, 112), ("I3D / SlowFast, 32x224x224", 32, 224, 224),
        ("TimeSformer, 8x224x224", 8, 224, 224), ("the street clip, 795x576x768", 795, 576, 768)]
print(f"{'input (one clip)':34s} {'values':>12s} {'float32 MB':>11s} {'batch of 8 (GB)':>16s}")
for name, t, h, w in rows:
    values = 3 * t * h * w
    print(f"{name:34s} {values:12,d} {values * 4 / 1e6:11.1f} {8 * values * 4 / 1e9:16.2f}")

# %% [markdown]
# Activations multiply this again by the network's width, so the *input* size drives the memory
# of training. Fewer frames, or fewer pixels — 26.1.3 measures which of the two is cheaper to give
# up on this clip.
#
# ## Exercises
#
# Run a check with your answer; `ex.q1.hint()`, `ex.q1.hint(2)` and `ex.q1.solution()` help.

# %%
from companion.exercises import ex26_1 as ex

ex.q1

# %%
# q1: the shape of a batch of 4 clips of 16 RGB frames, 112 x 112, in the layout video models use.
answer_q1 = ...  # your answer, e.g. (4, ?, ?, ?, ?)
ex.q1.check(answer_q1)

# %%
# ex.q1.hint()
# ex.q1.solution()

# %%
ex.q2

# %%
# q2: bytes of the whole street clip decoded to uint8 (T, C, H, W).
answer_q2 = ...  # your answer (an int)
ex.q2.check(answer_q2)

# %%
# ex.q2.hint()
