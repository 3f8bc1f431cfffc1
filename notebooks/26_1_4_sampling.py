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
# # 26.1.4 Sampling frames and building a batch
#
# A model sees a handful of frames — 8, 16, 32 — out of hundreds. *Which* frames is a design
# decision with consequences: consecutive frames show fine motion over a short time; spread-out
# frames cover the whole video but miss what happens in between. `companion.sampling` implements
# the usual strategies; each returns frame **indices**, and `companion.io.read_clip` decodes them.
#
# | sampler | returns | used for |
# |---|---|---|
# | `dense(n, clip_len, stride, start)` | `clip_len` frames, `stride` apart | 3D CNNs (C3D, I3D, R(2+1)D) |
# | `random_clip(n, clip_len, stride, rng=)` | a dense clip at a random start | training those |
# | `uniform(n, k)` | the centres of `k` equal parts | covering a whole video |
# | `segment(n, k, train=, rng=)` | TSN: one frame per equal segment, random when training | TSN, TSM, TimeSformer |
# | `multi_clip(n, clip_len, stride, num_clips)` | several dense clips spread over the video | test-time averaging |
# | `time_based(fps, seconds)` / `every_seconds` | the frames at given times (through the average fps; on a variable-frame-rate file use `companion.io.frame_times`) | summaries, subsampling by time |
#
# Random samplers take an explicit generator (`rng=np.random.default_rng(seed)` or an int), so a
# run is reproducible.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import companion
from companion import sampling
from companion.config import scaled
from companion.data import street_clip
from companion.io import read_clip, video_info
from companion.transforms import KINETICS_MEAN, KINETICS_STD, to_model_input
from companion.viz import explorer, preview_frames, show_strip

companion.seed_everything(0)
path = street_clip()
info = video_info(path)
n = info.num_frames
print(f"{path.name}: {n} frames at {info.fps:g} fps ({info.duration:.1f} s)")

# %% [markdown]
# ## Every strategy on one timeline
#
# Eight frames each. The dense clip uses a stride of 4 (8 frames span 29 frames = 2.9 s); the
# multi-clip sampler takes 4 such clips; the time-based one takes a frame every 10 seconds.

# %%
K, STRIDE = 8, 4
rng = np.random.default_rng(0)
strategies = {
    "dense (start 300)": sampling.dense(n, K, STRIDE, start=300),
    "random_clip": sampling.random_clip(n, K, STRIDE, rng=rng),
    "uniform": sampling.uniform(n, K),
    "segment (train)": sampling.segment(n, K, train=True, rng=rng),
    "segment (test)": sampling.segment(n, K, train=False),
    "multi_clip (4 clips)": sampling.multi_clip(n, K, STRIDE, num_clips=4).ravel(),
    "every 10 s": sampling.every_seconds(info.fps, n, 10.0),
}
for name, idx in strategies.items():
    print(f"{name:22s} {idx.tolist()}")

# %%
def plot_timeline(strategies, num_frames, segments=K, ax=None):
    ax = ax or plt.subplots(figsize=(9, 0.45 * len(strategies) + 1))[1]
    for edge in np.arange(segments + 1) * num_frames / segments:
        ax.axvline(edge, color="#bbbbbb", lw=0.7, zorder=0)
    for row, (name, idx) in enumerate(strategies.items()):
        ax.scatter(idx, np.full(len(idx), row), s=22, zorder=2)
    ax.set_yticks(range(len(strategies)), list(strategies))
    ax.invert_yaxis()
    ax.set_xlim(-5, num_frames + 5)
    ax.set_xlabel(f"frame index (grey lines: {segments} equal segments)")
    ax.figure.tight_layout()
    return ax


plot_timeline(strategies, n)
plt.show()

# %% [markdown]
# Dense and random clips see under 3 seconds; uniform and TSN cover all 80 s with one frame per
# 10 s. At *test* time TSN takes each segment's centre (identical to `uniform`); at *training*
# time it draws one random frame inside each segment, so over many epochs the model sees every
# frame while each clip still covers the whole video.
#
# ### TSN sampling, built by hand
#
# Segment `i` covers frames `[floor(i·n/k), ceil((i+1)·n/k))`. One random integer per segment,
# drawn with the same generator calls, must give the companion's indices exactly.

# %%
def tsn_train(num_frames, k, rng):
    edges = np.arange(k + 1) * num_frames / k
    lo = np.floor(edges[:-1]).astype(np.int64)
    hi = np.maximum(np.ceil(edges[1:]).astype(np.int64), lo + 1)
    return np.minimum(rng.integers(lo, hi), num_frames - 1)


for seed in range(5):
    mine = tsn_train(n, K, np.random.default_rng(seed))
    ref = sampling.segment(n, K, train=True, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(mine, ref)
print("hand-built TSN training sampler == companion.sampling.segment(train=True) for 5 seeds")

# %% [markdown]
# ## What each strategy shows
#
# The frames themselves, decoded with `read_clip`. Look at how much the dense clip repeats itself
# compared with the uniform one.

# %%
for name in ["dense (start 300)", "uniform", "segment (train)"]:
    idx = strategies[name]
    show_strip(read_clip(path, idx), titles=[f"{i}" for i in idx], ax_width=1.6, suptitle=name)
    plt.show()

# %% [markdown]
# ## Explore
#
# Pick a strategy and its parameters; the timeline and the frames redraw when you release a
# slider. The clip is decoded once, at preview size (`preview_frames`, cached), so a redraw only
# indexes an array. (Without a Jupyter front end — in the tests, or in the rendered book — this
# shows one static example.)

# %%
def sample(strategy, frames, stride, seed):
    r = np.random.default_rng(seed)
    if strategy == "dense":
        return sampling.dense(n, frames, stride, start=int(r.integers(0, n)))
    if strategy == "random_clip":
        return sampling.random_clip(n, frames, stride, rng=r)
    if strategy == "uniform":
        return sampling.uniform(n, frames)
    if strategy == "segment (train)":
        return sampling.segment(n, frames, train=True, rng=r)
    if strategy == "multi_clip":
        return sampling.multi_clip(n, max(1, frames // 4), stride, num_clips=4).ravel()
    return sampling.every_seconds(info.fps, n, max(1.0, info.duration / frames))[:frames]


preview = preview_frames(path)  # (795, 144, 192, 3) uint8, decoded once


def draw(strategy="uniform", frames=8, stride=4, seed=0):
    idx = sample(strategy, frames, stride, seed)
    plot_timeline({strategy: idx}, n, segments=frames)
    plt.show()
    show_strip(preview[idx[:8]], titles=[str(i) for i in idx[:8]], ax_width=1.6,
               suptitle=f"{strategy}: first {min(8, len(idx))} of {len(idx)} frames")
    plt.show()


explorer(draw, strategy=["uniform", "dense", "random_clip", "segment (train)", "multi_clip", "time"],
         frames=(4, 32, 4), stride=(1, 16, 1), seed=(0, 20, 1),
         static=dict(strategy="segment (train)", frames=8, stride=4, seed=3))

# %% [markdown]
# ## When the clip is longer than the video
#
# A 64-frame clip at stride 4 needs 253 frames; a 10-second video at 10 fps has 100. `dense`
# decides with `overflow`: `"pad"` (default) repeats the last frame, `"loop"` wraps to the start,
# `"error"` refuses. `uniform` and `segment` never overflow: with more samples than frames some
# frames simply repeat.

# %%
short = 100
print("pad :", sampling.dense(short, 12, 10, overflow="pad").tolist())
print("loop:", sampling.dense(short, 12, 10, overflow="loop").tolist())
try:
    sampling.dense(short, 12, 10, overflow="error")
except ValueError as exc:
    print("error:", exc)
print("uniform(5 frames, 8 samples):", sampling.uniform(5, 8).tolist())

# %% [markdown]
# ## From indices to a `(B, C, T, H, W)` batch
#
# Test-time multi-clip sampling gives several clips per video; the model scores each and the scores
# are averaged. Here: `B` clips of 8 frames at stride 4, decoded, then the preprocessing that
# torchvision's Kinetics video models (r3d_18, R(2+1)D) expect:
#
# 1. uint8 → float in [0, 1];
# 2. resize every frame to 128×171;
# 3. centre-crop 112×112;
# 4. normalise per channel with the Kinetics mean and standard deviation;
# 5. `(T, C, H, W)` → `(C, T, H, W)` and stack into `(B, C, T, H, W)`.
#
# We write it inline, then check it against `companion.transforms.to_model_input`.

# %%
B = scaled(4, 2)
clip_idx = sampling.multi_clip(n, 8, 4, num_clips=B)
clips = [read_clip(path, idx) for idx in clip_idx]
print("clip indices:\n", clip_idx)
print("one decoded clip:", tuple(clips[0].shape), clips[0].dtype)


def preprocess(clip, size=(128, 171), crop=112, mean=KINETICS_MEAN, std=KINETICS_STD):
    x = clip.float() / 255.0
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    top, left = (size[0] - crop) // 2, (size[1] - crop) // 2
    x = x[:, :, top:top + crop, left:left + crop]
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return x.permute(1, 0, 2, 3)  # (C, T, H, W)


batch = torch.stack([preprocess(c) for c in clips])
reference = to_model_input(clips)
torch.testing.assert_close(batch, reference)
print("batch:", tuple(batch.shape), batch.dtype, "== to_model_input(clips)")
print(f"per-channel mean after normalising: {batch.mean(dim=(0, 2, 3, 4)).tolist()}")

# %% [markdown]
# The batch now has the layout every 3D convolution expects. A tiny video network — one 3D
# convolution, global average pooling, a linear layer — accepts it and returns one score vector
# per clip; averaging over the clips gives the video-level prediction.

# %%
tiny = torch.nn.Sequential(torch.nn.Conv3d(3, 16, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3)),
                           torch.nn.ReLU(), torch.nn.AdaptiveAvgPool3d(1), torch.nn.Flatten(),
                           torch.nn.Linear(16, 5))
with torch.no_grad():
    scores = tiny(batch)
print("scores per clip:", tuple(scores.shape), "-> video score:", tuple(scores.mean(0).shape))

# %% [markdown]
# ## Exercises

# %%
from companion.exercises import ex26_1 as ex

ex.q5


# %%
def uniform_indices(num_frames, n):
    """n frame indices: the centre frame of each of n equal parts of the video."""
    raise NotImplementedError  # your code


ex.q5.check(uniform_indices)

# %%
# ex.q5.hint(); ex.q5.hint(2); ex.q5.solution()

# %%
ex.q6


# %%
def dense_clip(num_frames, clip_len, stride, start):
    """clip_len indices `stride` apart from `start`, padded with the last frame."""
    raise NotImplementedError  # your code


ex.q6.check(dense_clip)

# %%
ex.q7


# %%
def clip_to_input(clip, mean, std):
    """(T, C, H, W) uint8 -> (1, C, T, H, W) float32, scaled to [0, 1] and normalised."""
    raise NotImplementedError  # your code


ex.q7.check(clip_to_input)

# %%
# ex.q7.hint(); ex.q7.solution()
