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
# # 26.3.1 Tubelets and the token explosion
#
# A Vision Transformer reads an image as a *sequence*: cut it into 16×16 patches, flatten each,
# multiply by one matrix, add a position vector. A video transformer does the same with a clip,
# except that the blocks it cuts are **tubelets** — `t` frames × `p` × `p` pixels. This notebook:
#
# 1. builds the tubelet embedding by hand (reshape + one matrix) and shows that it *is* a `Conv3d`
#    whose stride equals its kernel;
# 2. counts tokens, and sees how fast the count — and the size of a full attention matrix — grows
#    with the number of frames (the "token explosion");
# 3. adds learned, separable space + time position embeddings and resizes them for other clip
#    lengths and sizes;
# 4. initialises a tubelet embedding from a 2D (image) patch embedding — ViViT's *central frame*
#    trick — and checks that on a static clip it reproduces the image embedding exactly.
#
# Series: **26.3.1 tubelets** → 26.3.2 divided vs joint attention → 26.3.3 ViViT → 26.3.4 VideoMAE.
#
# **Run time:** about 11 CPU-seconds as opened (measured: 11.3 s user + sys); nothing here trains.

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

import companion
from companion.config import scaled
from companion.models import (SpaceTimePositionEmbedding, TubeletEmbedding, inflate_patch_embedding,
                              num_tokens, resize_temporal_pos)
from companion.synthetic.actions import CLASSES, ActionClips
from companion.viz import show_strip

companion.seed_everything(0)
print("fast mode:", companion.FAST)

# %% [markdown]
# ## A clip from the synthetic action set
#
# The chapter's synthetic actions (26.2) are made so that *time is the whole story*: "move left"
# is "move right" played backwards, "grow" is "shrink" backwards, and so on. A clip is a float
# tensor `(C, T, H, W)` in [0, 1].

# %%
ds = ActionClips(8, seed=0, num_frames=8, size=64)
clip, label = ds[2]
print("clip", tuple(clip.shape), clip.dtype, "label", CLASSES[label])
show_strip(clip.permute(1, 0, 2, 3), titles=[f"t={i}" for i in range(8)], suptitle=CLASSES[label])
plt.show()

# %% [markdown]
# ## Tubelet embedding by hand
#
# Cut the clip `(B, C, T, H, W)` into non-overlapping blocks of `t × p × p`: reshape so each axis
# splits into *(number of blocks, block size)*, move the block-size axes to the end, flatten them.
# Each block becomes a vector of `C·t·p·p` numbers; one linear map turns it into a `D`-dim token.

# %%
def tubelets_by_hand(x, t, p):
    b, c, T, H, W = x.shape
    x = x.reshape(b, c, T // t, t, H // p, p, W // p, p)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)          # B, T', h, w | C, t, p, p
    return x.reshape(b, T // t, (H // p) * (W // p), c * t * p * p)


t, p, D = 2, 16, 96
blocks = tubelets_by_hand(clip[None], t, p)
print("blocks:", tuple(blocks.shape), "= (batch, time slots, positions per slot, pixels per tubelet)")
linear = nn.Linear(3 * t * p * p, D)
tokens_by_hand = linear(blocks)
print("tokens:", tuple(tokens_by_hand.shape))

# %% [markdown]
# Multiplying every non-overlapping block by the same matrix is exactly what a convolution does
# when its stride equals its kernel. So the embedding is written as a `Conv3d(C, D, kernel=(t,p,p),
# stride=(t,p,p))`, and the companion's `TubeletEmbedding` is that. Copy our linear map into it and
# compare:

# %%
emb = TubeletEmbedding(3, D, patch_size=p, tubelet_size=t)
with torch.no_grad():
    emb.proj.weight.copy_(linear.weight.reshape(D, 3, t, p, p))
    emb.proj.bias.copy_(linear.bias)
torch.testing.assert_close(emb(clip[None]), tokens_by_hand, rtol=1e-5, atol=1e-5)
print("Conv3d(stride = kernel) == reshape + Linear  ✓")

# %% [markdown]
# The companion refuses sizes that do not divide, before PyTorch would silently drop the remainder:

# %%
try:
    emb(torch.rand(1, 3, 7, 64, 64))
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# ## The token explosion
#
# An image at 224² with 16² patches is 196 tokens. A clip multiplies that by the number of time
# slots `T/t`. Full (joint) self-attention compares every token with every token, so its matrix has
# `L²` entries per head — quadratic in the number of frames.

# %%
frames = [1, 2, 4, 8, 16, 32, 64]
rows = []
for T in frames:
    for tt in (1, 2):
        if T % tt:
            continue
        L = num_tokens(T, 224, 16, tt)
        rows.append((T, tt, L, L * L * 12 * 4 / 2**20))          # 12 heads, float32, MiB
print(f"{'T':>3} {'t':>2} {'tokens':>7} {'joint attention matrix (ViT-B, 12 heads)':>42}")
for T, tt, L, mib in rows:
    print(f"{T:>3} {tt:>2} {L:>7} {mib:>36,.0f} MiB")

fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
for tt, style in ((1, "o-"), (2, "s--")):
    sel = [r for r in rows if r[1] == tt]
    ax[0].plot([r[0] for r in sel], [r[2] for r in sel], style, label=f"tubelet t={tt}")
    ax[1].plot([r[0] for r in sel], [r[3] for r in sel], style, label=f"tubelet t={tt}")
ax[0].set(xscale="log", yscale="log", xlabel="frames T", ylabel="tokens (224², patch 16)", title="tokens ∝ T")
ax[1].set(xscale="log", yscale="log", xlabel="frames T", ylabel="MiB per layer, per clip",
          title="joint attention matrix ∝ T²")
for a in ax:
    a.grid(alpha=0.3, which="both")
    a.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# At 32 frames a single layer's attention matrices for one clip take ~1.8 GiB in float32. That is
# why video transformers either use tubelets (`t = 2` halves the tokens, quarters the matrix),
# factorise attention (26.3.2, 26.3.3), or drop most tokens (VideoMAE, 26.3.4).
#
# ## Position embeddings: where and when
#
# Tokens carry no notion of position, so a learned vector is added to each. Rather than one
# vector per (slot, row, column) — `T'·h·w` of them — the companion uses a *separable* table: a
# spatial one over the `h × w` grid plus a temporal one over the `T'` slots. The total is
# `(h·w + T')·D` numbers, and the two can be resized independently.

# %%
pe = SpaceTimePositionEmbedding(num_slots=4, grid=(4, 4), dim=8, temporal_init="normal")
z = torch.zeros(1, 4, 16, 8)
out = pe(z)
torch.testing.assert_close(out, pe.spatial + pe.temporal)       # the sum of the two tables
print("per token: spatial[(row, col)] + temporal[slot]; parameters:",
      sum(p.numel() for p in pe.parameters()), "instead of", 4 * 16 * 8)

# %% [markdown]
# A model trained on 8 frames can still take 16: the temporal table is interpolated linearly
# (and the spatial one bicubically over the grid for other frame sizes).

# %%
table = torch.randn(1, 8, 3).cumsum(1)          # a smooth-ish 8-slot table, 3 channels
longer = resize_temporal_pos(table, 16)
plt.figure(figsize=(6, 2.8))
for c in range(3):
    plt.plot(torch.linspace(0, 1, 8), table[0, :, c], "o", color=f"C{c}")
    plt.plot(torch.linspace(0, 1, 16), longer[0, :, c].detach(), ".-", color=f"C{c}", alpha=0.6)
plt.title("temporal position table: 8 slots (dots) resized to 16 (line)")
plt.xlabel("relative time")
plt.show()

# %% [markdown]
# ## Starting from an image model: central-frame initialisation
#
# Video transformers are rarely trained from scratch; their weights come from an image ViT. The
# image patch embedding is a `Conv2d(3, D, p, stride=p)`; the tubelet one needs a `t × p × p`
# kernel. ViViT puts the 2D kernel in the **central** temporal slot (`t // 2`) and zeros
# elsewhere. On a clip whose frames are all the same, each tubelet then embeds exactly like the
# image patch, so the video model starts out as the image model.

# %%
def inflate_central_by_hand(conv2d, t):
    w = torch.zeros(conv2d.out_channels, conv2d.in_channels, t, *conv2d.kernel_size)
    w[:, :, t // 2] = conv2d.weight.detach()
    emb = TubeletEmbedding(conv2d.in_channels, conv2d.out_channels, conv2d.kernel_size, t)
    with torch.no_grad():
        emb.proj.weight.copy_(w)
        emb.proj.bias.copy_(conv2d.bias)
    return emb


conv2d = nn.Conv2d(3, D, kernel_size=16, stride=16)
mine = inflate_central_by_hand(conv2d, t=2)
frame = clip[:, 0]                                                     # (C, H, W)
static = frame[:, None].expand(3, 8, 64, 64)[None]                     # the frame repeated 8 times
image_tokens = conv2d(frame[None]).flatten(2).transpose(1, 2)          # (1, 16, D)
video_tokens = mine(static)                                            # (1, 4 slots, 16, D)
for s in range(4):
    torch.testing.assert_close(video_tokens[:, s], image_tokens, rtol=1e-5, atol=1e-5)
ref = inflate_patch_embedding(conv2d, 2, "central")
torch.testing.assert_close(ref(static), video_tokens)
torch.testing.assert_close(ref(clip[None]), mine(clip[None]))
print("static clip: every tubelet token == the image patch token ✓ (and matches the companion)")

# %% [markdown]
# On a *moving* clip the central-frame embedding only looks at one frame of each tubelet — the
# other frame's weights start at zero and must be learned. The alternative (I3D-style) spreads
# the kernel evenly over time (`w / t` in every slot): also exact on a static clip, but it blurs
# motion from the start. ViViT found central-frame initialisation to work better.

# %%
avg = inflate_patch_embedding(conv2d, 2, "average")
print("moving clip, |central − average| max:", float((ref(clip[None]) - avg(clip[None])).abs().max()))

# %% [markdown]
# ## Exercises
#
# `q1`: the token count of a clip. `q5`: the central-frame kernel. Replace `...` with your answer;
# `ex.q1.hint()` and `ex.q1.solution()` help.

# %%
from companion.exercises import ex26_3 as ex

answer_q1 = ...  # your code: tokens of 16 frames at 224x224, patch 16, tubelet 2
ex.q1.check(answer_q1)

# %%
def inflate(w2d, t):
    raise NotImplementedError  # your code: (D, C, p, p) -> (D, C, t, p, p), w2d in slot t // 2


ex.q5.check(inflate)
