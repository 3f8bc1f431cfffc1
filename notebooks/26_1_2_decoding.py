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
# # 26.1.2 Decoding: from a file to frames
#
# A video file is not a stack of pictures: it is a compressed bit stream. A **decoder** rebuilds
# the pictures, and how it does so decides what reading frame 600 costs. This notebook:
#
# 1. decodes the real street clip with every decoder installed here, times them and checks they
#    return the same pixels;
# 2. looks at **keyframes** — the only places where decoding can start — and what that means for
#    reading a few frames (sparse) versus all of them;
# 3. proves *frame accuracy* (frame `i` really is frame `i`) on a generated video whose frames carry
#    their own number.
#
# Three decoders are wrapped by `companion.io.read_clip(path, indices, backend=...)`:
# **TorchCodec** (PyTorch's decoder, on top of FFmpeg), **decord** (a C++ reader made for deep
# learning) and **PyAV** (Python bindings of FFmpeg). They all return `(T, C, H, W)` uint8 RGB.

# %%
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

import companion
from companion.config import scaled
from companion.data import street_clip
from companion.io import available_backends, iter_frames, read_clip, video_info
from companion.sampling import uniform
from companion.synthetic.video import decode_frame_number, write_numbered_video
from companion.viz import show_strip

companion.seed_everything(0)
path = street_clip()
info = video_info(path)
backends = available_backends()
print("decoders usable here (fastest first):", backends)
print(f"{path.name}: {info.num_frames} frames, {info.width}x{info.height}, codec {info.codec}")

# %% [markdown]
# ## Every backend, the same frames
#
# We decode the first `N` frames with each backend (the whole clip would be a gigabyte per
# backend; fast mode reads fewer) and time it. Then we compare every backend with the first one,
# pixel by pixel. Different decoders may round the YUV→RGB colour conversion differently, so we
# allow up to one grey level of mean absolute difference.

# %%
N = scaled(300, 60)
times, frames = {}, {}
for name in tqdm(backends, desc="decoding"):
    read_clip(path, [0], backend=name)  # warm-up: load the library, open the file once
    t0 = time.perf_counter()
    frames[name] = read_clip(path, range(N), backend=name)
    times[name] = time.perf_counter() - t0

ref_name = backends[0]
for name in backends:
    diff = (frames[name].to(torch.int16) - frames[ref_name].to(torch.int16)).abs()
    mad, worst = diff.float().mean().item(), int(diff.max())
    print(f"{name:10s} {times[name] * 1e3 / N:6.2f} ms/frame   vs {ref_name}: mean |diff| {mad:.3f}, "
          f"max |diff| {worst} grey levels")
    assert mad <= 1.0, f"{name} disagrees with {ref_name}"

# %%
fig, ax = plt.subplots(figsize=(5, 2.2))
ax.barh(backends, [times[b] * 1e3 / N for b in backends], color="#4c72b0")
ax.set_xlabel("ms per frame (decode + RGB conversion)")
ax.set_title(f"decoding the first {N} frames of {path.name}")
fig.tight_layout()
plt.show()

# %% [markdown]
# Timings on a shared machine wobble by tens of percent from run to run; what matters is the order
# of magnitude (a few ms per 768×576 frame) and that the pixels agree. `benchmarks/bench_io.py`
# measures speed properly (alternating runs, medians, ratios).
#
# ## Decoding it yourself, and checking against the companion
#
# PyAV exposes the decoding loop directly: open the container, pick the video stream, iterate over
# decoded frames, convert each to an RGB array. That is all a decoder wrapper does for a
# sequential read.

# %%
import av


def decode_first(path, n):
    """The first n frames as a (n, 3, H, W) uint8 tensor, decoded with PyAV."""
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            out.append(torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1))
            if len(out) == n:
                break
    return torch.stack(out)


mine = decode_first(path, 20)
torch.testing.assert_close(mine, frames["pyav"][:20], atol=0, rtol=0)  # identical pixels
print("own PyAV loop == companion.io.read_clip(backend='pyav') on the first 20 frames")
del frames

# %% [markdown]
# ## Keyframes: where decoding can start
#
# Codecs save space by storing most frames as the **difference** from an earlier one (P-frames;
# B-frames may also use later ones). Only **keyframes** (I-frames) are self-contained. To get
# frame `t`, a decoder must start at the last keyframe at or before `t` and decode every frame up to
# `t`. The distance between keyframes is the *GOP* (group of pictures) length.
#
# `video_info` finds the keyframes by reading packet headers, without decoding anything.

# %%
keys = np.asarray(info.keyframes)
print("keyframes:", keys.tolist(), f"-> a GOP of {np.diff(keys).mean():.0f} frames "
      f"= {np.diff(keys).mean() / info.fps:.0f} s at {info.fps:g} fps")

t = np.arange(info.num_frames)
start = keys[np.searchsorted(keys, t, side="right") - 1]
cost = t - start + 1  # frames decoded to reach frame t from a cold start
fig, ax = plt.subplots(figsize=(8, 2.6))
ax.plot(t, cost, lw=1.2)
ax.vlines(keys, 0, cost.max(), colors="#c44e52", linestyles="--", label="keyframes")
ax.set_xlabel("frame index t")
ax.set_ylabel("frames to decode")
ax.set_title("cost of reading one frame with a cold decoder")
ax.legend(loc="upper left")
fig.tight_layout()
plt.show()

# %% [markdown]
# This clip is an extreme case: a keyframe every 25 seconds (streaming video typically uses
# 1–10 s). Let us count what reading 8 uniformly spaced frames needs. A good reader decodes
# forward through a GOP without seeking again, so the frames that must be decoded are, per GOP,
# from its keyframe up to the last wanted frame inside it.

# %%
idx8 = uniform(info.num_frames, 8)
gop_of = np.searchsorted(keys, idx8, side="right") - 1
needed = sum(int(idx8[gop_of == g].max() - keys[g] + 1) for g in np.unique(gop_of))
print("8 uniform indices:", idx8.tolist())
print(f"frames that must be decoded: {needed} of {info.num_frames} ({needed / info.num_frames:.0%}); "
      f"frames converted to RGB: 8")

# %% [markdown]
# So on this clip a sparse read still *decodes* most of the video. What it saves is everything
# after decoding: converting a frame from YUV to RGB, copying it out, storing it. Measure the two
# parts separately with PyAV: decode every frame (no conversion), and decode + convert every frame.

# %%
def full_pass(convert: bool) -> float:
    t0 = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if convert:
                frame.to_ndarray(format="rgb24")
    return time.perf_counter() - t0


def sparse_read() -> float:
    t0 = time.perf_counter()
    read_clip(path, idx8)
    return time.perf_counter() - t0


reps = scaled(3, 1)  # median of a few runs: the machine may be busy
t_decode = float(np.median([full_pass(False) for _ in range(reps)]))
t_full = float(np.median([full_pass(True) for _ in range(reps)]))
t_sparse = float(np.median([sparse_read() for _ in range(reps)]))
print(f"decode all {info.num_frames} frames, no RGB: {t_decode * 1e3:7.0f} ms")
print(f"decode + RGB all frames:         {t_full * 1e3:7.0f} ms")
print(f"read_clip of the 8 frames:        {t_sparse * 1e3:7.0f} ms  "
      f"({t_full / t_sparse:.1f}x faster than decoding the whole clip)")

# %%
fig, ax = plt.subplots(figsize=(6, 2.2))
labels = ["all frames: decode + RGB", "all frames: decode only", "8 frames: read_clip"]
ax.barh(labels, [t_full * 1e3, t_decode * 1e3, t_sparse * 1e3], color=["#c44e52", "#dd8452", "#55a868"])
ax.set_xlabel("ms")
ax.invert_yaxis()
fig.tight_layout()
plt.show()

# %% [markdown]
# With a short GOP (say one keyframe a second) a sparse read would skip most of the decoding too,
# and the gap grows by another large factor. Frames *inside* one GOP are cheap to read together;
# frames scattered over many GOPs each pay for a seek.
#
# ## Frame accuracy, proven
#
# Does `read_clip(path, [17])` really return frame 17? Decoders have shipped off-by-one seeks
# before, and a timestamp rounding error is easy to make. `companion.synthetic.video` writes an
# H.264 file whose frame `i` shows the binary code of `i` as black and white squares (robust to
# compression); `decode_frame_number` reads it back. We ask each backend for shuffled indices,
# duplicates and negative indices, and check every decoded number.

# %%
tmp = Path(tempfile.mkdtemp(prefix="companion-26-1-2-"))
numbered = write_numbered_video(tmp / "numbered.mp4", num_frames=60, fps=10, gop=12)
ninfo = video_info(numbered)
print(f"numbered clip: {ninfo.num_frames} frames, keyframes {list(ninfo.keyframes)}")

rng = np.random.default_rng(0)
ask = [int(i) for i in rng.permutation(ninfo.num_frames)[:20]] + [5, 5, -1, 0, 59]
expected = [i % ninfo.num_frames for i in ask]
for name in backends:
    got = [decode_frame_number(f) for f in read_clip(numbered, ask, backend=name)]
    assert got == expected, f"{name}: asked {expected}, got {got}"
    print(f"{name:10s} returned exactly the frames asked for ({len(ask)} reads)")

shown = [13, 0, 47, 12, -1]
clip = read_clip(numbered, shown)
show_strip(clip, titles=[f"asked {i}\nreads {decode_frame_number(f)}" for i, f in zip(shown, clip)],
           ax_width=2.4, suptitle="frames carry their own number")
plt.show()

# %% [markdown]
# ## Exercise
#
# How expensive is a cold read of one frame? Write the function behind the saw-tooth plot above.

# %%
from companion.exercises import ex26_1 as ex

ex.q3


# %%
def frames_to_decode(keyframes, target):
    """How many frames a cold decoder decodes to return frame `target`."""
    raise NotImplementedError  # your code


ex.q3.check(frames_to_decode)

# %%
# ex.q3.hint()
# ex.q3.hint(2)
# ex.q3.solution()
