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
# # 26.4.2 RAFT's all-pairs correlation volume
#
# Classical flow searches locally and coarse to fine. RAFT (Teed & Deng, 2020) instead compares
# **every** pixel of frame 1 with **every** pixel of frame 2 once, at 1/8 resolution, and keeps the
# result: a 4-D correlation volume. The rest of the network only *reads* from it.
#
# 1. the feature encoder: images → 1/8-resolution feature maps;
# 2. the volume `C[i, j, k, l] = ⟨f₁(i, j), f₂(k, l)⟩ / √D`, built inline and checked;
# 3. what one slice of it looks like — a heat map of "where did this pixel go?";
# 4. the 4-level pyramid (pooling frame 2's axes) — coarse levels for large motions;
# 5. the price: memory grows with the *square* of the pixel count, and a memory-lean alternative.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import companion
from companion.config import scaled
from companion.flow import (CorrBlock, OnDemandCorrBlock, all_pairs_correlation, correlation_pyramid,
                            raft_small)
from companion.flow.correlation import volume_bytes
from companion.synthetic.flow import make_pair

companion.seed_everything(0)
torch.set_num_threads(1)  # on a shared CPU one thread is faster than two that wait for each other
torch.set_grad_enabled(False)
H, W = scaled((256, 320), (192, 256))

# %% [markdown]
# ## 1. Features at 1/8 resolution
#
# The feature encoder is a small ResNet (RAFT-small: bottleneck blocks, 128 output channels) with
# three stride-2 steps: a 192×256 image becomes a 24×32 grid of 128-D descriptors. It uses
# instance normalisation, so every image's features are normalised on their own. We use the
# weights trained in 26.4.4 (`raft_small(pretrained=True)`) so the features mean something.
# Images go in scaled to [−1, 1].

# %%
model = raft_small(pretrained=True)
pair = make_pair(seed=7, size=(H, W))
to_input = lambda im: torch.from_numpy(im).permute(2, 0, 1)[None].float() / 127.5 - 1
im1, im2 = to_input(pair["img1"]), to_input(pair["img2"])
fmap1, fmap2 = model.feature_encoder(torch.cat([im1, im2])).chunk(2)
print("image", tuple(im1.shape), "→ features", tuple(fmap1.shape))

# %% [markdown]
# ## 2. The volume, inline
#
# Flatten the pixels and one matrix product gives all dot products at once. The 1/√D keeps the
# scale of the values independent of the feature width (as in attention).

# %%
def correlation_volume(f1, f2):
    b, d, h, w = f1.shape
    c = f1.reshape(b, d, h * w).transpose(1, 2) @ f2.reshape(b, d, h * w)  # (B, HW, HW)
    return c.view(b, h, w, h, w) / math.sqrt(d)


vol = correlation_volume(fmap1, fmap2)
torch.testing.assert_close(vol, all_pairs_correlation(fmap1, fmap2))
print("volume", tuple(vol.shape), f"= {vol.numel():,} numbers, {vol.numel() * 4 / 2**20:.1f} MB")

# %% [markdown]
# ## 3. One slice: where did this pixel go?
#
# Fix a pixel (i, j) of frame 1; `C[i, j]` is a map over frame 2. Its peak should sit where the
# pixel moved to. Below: three pixels, their true destination (green cross) and the arg-max of
# their slice (red circle).

# %%
gt = pair["flow"]
h8, w8 = fmap1.shape[-2:]
picks = [(h8 // 3, w8 // 3), (h8 // 2, 2 * w8 // 3), (2 * h8 // 3, w8 // 2)]
fig, axes = plt.subplots(1, len(picks) + 1, figsize=(4 * (len(picks) + 1), 3))
axes[0].imshow(pair["img1"])
axes[0].set_title("frame 1, picked pixels")
for n, (i, j) in enumerate(picks):
    axes[0].plot(8 * j + 3.5, 8 * i + 3.5, "o", mfc="none", mec="w", ms=10)
    s = vol[0, i, j]
    ki, kj = np.unravel_index(int(s.argmax()), s.shape)
    dx, dy = gt[:, 8 * i + 3, 8 * j + 3] / 8
    axes[n + 1].imshow(s, cmap="viridis")
    axes[n + 1].plot(j + dx, i + dy, "g+", ms=14, mew=2)
    axes[n + 1].plot(kj, ki, "o", mfc="none", mec="r", ms=12, mew=2)
    axes[n + 1].set_title(f"C[{i}, {j}] over frame 2")
for a in axes:
    a.set_axis_off()
plt.tight_layout()

# %% [markdown]
# The arg-max alone would already be a (coarse, noisy) flow. RAFT does not take it: it hands a
# neighbourhood of the volume to a recurrent network, which combines it with context and its own
# previous estimate (26.4.3).
#
# ## 4. The pyramid
#
# Average-pooling the frame-2 axes (not the frame-1 axes!) three times gives levels of size
# H/8·W/8 × (H/8 · W/8)/4ˡ. A window of radius r at level l spans r·2ˡ coarse pixels, so with
# r = 3 (small) the coarsest level sees motions up to ±3·8·8 = ±192 image pixels — without ever
# building a larger window.

# %%
def pyramid(volume, levels=4):
    b, h, w, _, _ = volume.shape
    out = [volume.reshape(b * h * w, 1, h, w)]
    for _ in range(levels - 1):
        out.append(F.avg_pool2d(out[-1], 2, stride=2))
    return out


mine = pyramid(vol)
for a, b in zip(mine, correlation_pyramid(vol, 4)):
    torch.testing.assert_close(a, b)
i, j = picks[0]
fig, axes = plt.subplots(1, 4, figsize=(13, 2.6))
for lvl, (a, p) in enumerate(zip(axes, mine)):
    a.imshow(p[i * w8 + j, 0], cmap="viridis")
    a.set_title(f"level {lvl}: {tuple(p.shape[-2:])}")
    a.set_axis_off()
plt.tight_layout()

# %% [markdown]
# ## 5. The price, and a memory-lean alternative
#
# The finest level holds (HW/64)² numbers. That is harmless at 192×256 and enormous at video
# resolutions:

# %%
for h, w in [(192, 256), (368, 496), (540, 960), (1088, 1920)]:
    print(f"{h:>5}×{w:<5} pyramid {volume_bytes(h, w) / 1e9:7.3f} GB (fp32)")

# %% [markdown]
# Two facts make the volume unnecessary: (a) pooling the volume over frame 2 equals correlating
# with pooled frame-2 *features* (the dot product is linear), and (b) bilinear interpolation of the
# volume equals the dot product with bilinearly interpolated features (also linear). So the
# window values RAFT reads can be computed on demand from f₁ and a feature pyramid of f₂ — memory
# O(HW·D) instead of O((HW)²), at the price of recomputing dot products every iteration (this is
# the "alternate" correlation of the RAFT paper). `OnDemandCorrBlock` does it; same features:

# %%
coords = torch.rand(1, 2, h8, w8) * torch.tensor([w8 - 1.0, h8 - 1.0]).view(1, 2, 1, 1)
full, lean = CorrBlock(num_levels=4, radius=3), OnDemandCorrBlock(num_levels=4, radius=3)
full.build_pyramid(fmap1, fmap2)
lean.build_pyramid(fmap1, fmap2)
diff = (full.index_pyramid(coords) - lean.index_pyramid(coords)).abs().max().item()
print(f"max difference of the looked-up features: {diff:.2e}")
assert diff < 1e-4

# %% [markdown]
# `benchmarks/bench_raft.py` measures the peak memory of a whole RAFT-small forward with each
# variant at growing resolutions (each in a fresh process).
#
# ## Exercises

# %%
from companion.exercises import ex26_4 as ex

ex.q1

# %%
def my_all_pairs(fmap1, fmap2):
    ...  # your code: (B, D, H, W) × 2 → (B, H, W, H, W), divided by √D


ex.q1.check(None)  # replace None with my_all_pairs
# ex.q1.hint(); ex.q1.hint(2); ex.q1.solution()

# %%
ex.q5

# %%
gigabytes = ...  # your number
ex.q5.check(gigabytes)
