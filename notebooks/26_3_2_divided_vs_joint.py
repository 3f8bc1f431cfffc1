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
# # 26.3.2 Divided vs joint space-time attention (TimeSformer)
#
# With `N` patches per frame and `T` frames there are `N·T` tokens. **Joint** attention lets every
# token look at every other one — `(N·T)²` comparisons per layer. TimeSformer's **divided**
# attention splits each block in two cheaper steps: first every patch looks at *the same place
# in the other frames* (`N` sequences of length `T`), then at *the other places in its own frame*
# (`T` sequences of length `N`) — `N·T·(N+T)` comparisons. This notebook:
#
# 1. writes attention out by hand and checks it against PyTorch;
# 2. draws which tokens a query may see under joint, divided and space-only attention;
# 3. builds a divided block inline — reshapes and all — and checks it against the companion;
# 4. verifies the zero-initialisation trick (an untrained divided model *is* the image model);
# 5. measures FLOPs, memory and time against `T`, with the theory overlaid, and finds where
#    divided becomes cheaper than joint;
# 6. trains a small TimeSformer on the synthetic actions, and a space-only control that cannot
#    tell an action from its reversal.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

import companion
from companion.config import scaled
from companion.models import DividedBlock, MultiHeadSelfAttention, explicit_attention, timesformer
from companion.models.attention import (attention_matrix_macs, cost_sweep, count_macs, first_below,
                                        plot_cost_sweep, predicted_crossover)
from companion.models.timesformer import (ACTIONS_MODEL, reversal_pair_accuracy, spatial_sequences,
                                          temporal_sequences, train_on_actions)

companion.seed_everything(0)
print("fast mode:", companion.FAST)

# %% [markdown]
# ## Attention, written out
#
# `softmax(Q Kᵀ / √d) V`: two matrix products and a softmax. Writing it by hand (instead of
# calling PyTorch's fused `scaled_dot_product_attention`) lets us look at the weights and count
# the work.

# %%
def attention(q, k, v):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5     # (..., Lq, Lk)
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


q, k, v = torch.randn(2, 4, 10, 16), torch.randn(2, 4, 10, 16), torch.randn(2, 4, 10, 16)
out, w = attention(q, k, v)
torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
torch.testing.assert_close(out, explicit_attention(q, k, v))
print("hand-written == F.scaled_dot_product_attention == companion ✓; rows of weights sum to",
      float(w.sum(-1).mean()))

# %% [markdown]
# With heads and projections it is `nn.MultiheadAttention`; the companion module has the same
# parameter layout, so PyTorch's weights load into it and the outputs agree:

# %%
mha = nn.MultiheadAttention(64, 4, batch_first=True).eval()
mine = MultiHeadSelfAttention(64, 4).load_from_torch(mha).eval()
x = torch.randn(2, 20, 64)
torch.testing.assert_close(mine(x), mha(x, x, x, need_weights=False)[0], rtol=1e-5, atol=1e-5)
print("companion MultiHeadSelfAttention == nn.MultiheadAttention ✓")

# %% [markdown]
# **Counting FLOPs.** `torch.utils.flop_counter.FlopCounterMode` counts matmuls and convolutions.
# On CPU it counts the fused `scaled_dot_product_attention` as **zero** — so attention must be
# computed explicitly to be measured:

# %%
L, D = 200, 64
a = MultiHeadSelfAttention(D, 4)
explicit = count_macs(a, torch.randn(1, L, D))
a.backend = "sdpa"
fused = count_macs(a, torch.randn(1, L, D))
print(f"explicit: {explicit:,} MACs   sdpa: {fused:,} MACs   difference {explicit - fused:,} "
      f"= 2·L²·D = {2 * L * L * D:,}")

# %% [markdown]
# ## Who may attend to whom
#
# Take a query token at frame 3, grid position (1, 2) of a 4×4 grid, in an 6-frame clip. Joint
# attention lets it see all 96 tokens; divided attention first lets it see the same position in
# every frame (temporal step), then every position in its own frame (spatial step); the
# space-only model never looks across frames.

# %%
T_, h_, w_ = 6, 4, 4
qt, qr, qc = 3, 1, 2
vis = {
    "joint": torch.ones(T_, h_, w_),
    "divided: time": torch.zeros(T_, h_, w_).index_put_((torch.arange(T_), torch.tensor(qr), torch.tensor(qc)), torch.tensor(1.0)),
    "divided: space": torch.zeros(T_, h_, w_).index_fill_(0, torch.tensor([qt]), 1.0),
    "space only": torch.zeros(T_, h_, w_).index_fill_(0, torch.tensor([qt]), 1.0),
}
fig, axes = plt.subplots(len(vis), T_, figsize=(1.3 * T_, 1.35 * len(vis)))
for r, (name, m) in enumerate(vis.items()):
    for t in range(T_):
        ax = axes[r, t]
        ax.imshow(m[t], vmin=0, vmax=1, cmap="Blues")
        if t == qt:
            ax.plot(qc, qr, "r*", ms=10)
        ax.set_xticks([]), ax.set_yticks([])
        if r == 0:
            ax.set_title(f"frame {t}", fontsize=8)
        if t == 0:
            ax.set_ylabel(name, fontsize=8)
fig.suptitle("tokens the red query can attend to (blue)", fontsize=10)
fig.tight_layout()
plt.show()
print("tokens seen per step: joint", N_all := T_ * h_ * w_, "| divided", T_, "+", h_ * w_,
      "| space only", h_ * w_)

# %% [markdown]
# ## A divided block by hand
#
# Tokens are laid out `[cls, frame 0 patches, frame 1 patches, …]`, shape `(B, 1 + T·N, D)`.
# The block (TimeSformer's order):
#
# 1. **time**: reshape the patches `(B, T·N, D) → (B·N, T, D)` — one sequence per position —
#    attend, project with `temporal_fc`, add back (residual);
# 2. **space**: reshape `(B, T·N, D) → (B·T, N, D)` — one sequence per frame — and put a copy of the
#    class token in front of each frame; attend; the `T` outputs of the class token are averaged
#    back into one; residual;
# 3. **MLP** with residual.
#
# The first reshape is the one people get wrong: a plain `reshape(B·N, T, D)` silently mixes up
# positions; the `N` axis has to be moved next to `B` first.

# %%
def divided_block_by_hand(blk, x, T, N):
    B, _, D = x.shape
    cls, patches = x[:, :1], x[:, 1:]
    # 1. temporal attention: (B, T, N, D) -> (B, N, T, D) -> (B·N, T, D)
    xt = patches.reshape(B, T, N, D).transpose(1, 2).reshape(B * N, T, D)
    xt = xt + blk.temporal_fc(blk.temporal_attn(blk.temporal_norm1(xt)))
    patches = xt.reshape(B, N, T, D).transpose(1, 2).reshape(B, T * N, D)
    # 2. spatial attention, class token copied into every frame
    xs = torch.cat([cls.repeat_interleave(T, dim=0), patches.reshape(B * T, N, D)], dim=1)
    ys = blk.attn(blk.norm1(xs))                                  # (B·T, 1 + N, D)
    cls_new = cls + ys[:, :1].reshape(B, T, 1, D).mean(1)
    patches_new = patches + ys[:, 1:].reshape(B, T * N, D)
    x = torch.cat([cls_new, patches_new], dim=1)
    # 3. MLP
    return x + blk.mlp(blk.norm2(x))


blk = DividedBlock(32, 4).eval()
with torch.no_grad():                         # give the (zero-initialised) temporal projection some weight
    nn.init.normal_(blk.temporal_fc.weight, std=0.1)
B, T, N = 2, 4, 9
x = torch.randn(B, 1 + T * N, 32)
torch.testing.assert_close(divided_block_by_hand(blk, x, T, N), blk(x, T, N), rtol=1e-5, atol=1e-5)
torch.testing.assert_close(temporal_sequences(x[:, 1:], T, N),
                           x[:, 1:].reshape(B, T, N, 32).transpose(1, 2).reshape(B * N, T, 32))
print("inline divided block == companion DividedBlock ✓")

# %% [markdown]
# Divided temporal attention is *joint attention with a mask*: over all `T·N` tokens, but token
# `(t, i)` may only attend to tokens `(t', i)`. Same numbers, `N` times fewer comparisons.

# %%
pos = torch.arange(T * N) % N
mask = pos[:, None] == pos[None, :]                               # same spatial position
patches = x[:, 1:]
via_reshape = blk.temporal_attn(temporal_sequences(patches, T, N))
via_reshape = via_reshape.reshape(B, N, T, 32).transpose(1, 2).reshape(B, T * N, 32)
torch.testing.assert_close(via_reshape, blk.temporal_attn(patches, mask), rtol=1e-5, atol=1e-6)
print("temporal step == masked joint attention ✓")

# %% [markdown]
# ## Zero-initialised time: an untrained video model *is* the image model
#
# TimeSformer starts its temporal position table and `temporal_fc` at zero. Then the temporal
# step adds nothing, every frame is processed by the spatial (image) weights, and — on a clip of
# one repeated frame, where all frames' class-token copies agree — the divided model gives exactly
# the output of the space-only model, i.e. of the image ViT. That is what lets training start from
# ImageNet weights without first being damaged by random temporal layers.

# %%
kw = dict(num_frames=4, img_size=32, patch_size=8, dim=32, depth=2, heads=4, num_classes=5)
div = timesformer(attention="divided", **kw).eval()
space = timesformer(attention="space", **kw).eval()
missing, unexpected = space.load_state_dict(div.state_dict(), strict=False)
print("weights only the divided model has:", sorted({k.split(".")[-2] for k in unexpected}))
frame = torch.rand(2, 3, 1, 32, 32)
static = frame.expand(2, 3, 4, 32, 32)
torch.testing.assert_close(div(static), space(static), rtol=1e-5, atol=1e-6)
moving = torch.rand(2, 3, 4, 32, 32)
print("static clip: divided == space-only ✓   moving clip: max |difference| of features",
      f"{float((div.forward_features(moving) - space.forward_features(moving)).abs().max()):.3g}")

# %% [markdown]
# ## What it costs: FLOPs, memory, time against the number of frames
#
# One layer of each kind at a fixed small width: 112² frames with 16² patches (`N = 49`), `D = 192`
# (ViT-B's ratio `N/D`), batch 1, explicit attention. **Factorised** is ViViT's encoder (26.3.3):
# one spatial layer per frame, then one temporal layer over one token per frame.
#
# Counting only the attention matrices, divided (`2·N·T·(N+T)·D`) is below joint (`2·(NT)²·D`) for
# any `T > 1`. But the divided block pays for an extra set of projections (temporal qkv, output and
# `temporal_fc`: `5·D²` per token), so the whole layer is cheaper only once
# `N·T − N − T > 2.5·D`. Here that is `T > 11.0`; for ViT-B at 224² it is `T > 10.9` — which is
# why at 8 frames joint attention is the cheaper one, and at 32 divided is far cheaper.

# %%
frames = scaled([2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32], [2, 12, 20])
rows = cost_sweep(frames, repeats=scaled(5, 1), memory=True, progress=True)
for r in rows:
    for kind in ("joint", "divided", "factorised"):
        assert r[f"macs_{kind}"] == r[f"analytic_{kind}"]           # the analytic count is exact
fig = plot_cost_sweep(rows)
plt.show()
print(f"{'T':>3} {'tokens':>6} {'GMACs joint':>11} {'divided':>8} {'factor.':>8} {'ms joint':>9} "
      f"{'divided':>8} {'factor.':>8}")
for r in rows:
    print(f"{r['T']:>3} {r['tokens']:>6} {r['macs_joint'] / 1e9:>11.3f} {r['macs_divided'] / 1e9:>8.3f} "
          f"{r['macs_factorised'] / 1e9:>8.3f} {r['ms_joint']:>9.1f} {r['ms_divided']:>8.1f} "
          f"{r['ms_factorised']:>8.1f}")
ts = [r["T"] for r in rows]
print("divided cheaper than joint (MACs) from T =",
      first_below(ts, [r["macs_divided"] for r in rows], [r["macs_joint"] for r in rows]),
      f"(predicted T > {predicted_crossover(49, 192):.1f});  faster (time) from T =",
      first_below(ts, [r["ms_divided"] for r in rows], [r["ms_joint"] for r in rows]))

# %% [markdown]
# The time panel is measured on a shared CPU (joint and divided alternate in the same process,
# median of repeats), so it is noisier than the FLOP count; `benchmarks/bench_attention_cost.py`
# runs the full sweep. The memory panel shows joint's `(NT)²` attention matrices taking over as
# `T` grows.
#
# ## Training on actions that only time can tell apart
#
# The synthetic actions come in reversal pairs (move left / right, rotate cw / ccw, grow / shrink,
# appear / disappear). A space-only model averages per-frame features, so a clip and its reversal
# get *identical* scores: it is at chance inside every pair, however long it trains. The divided
# model sees the order through its temporal attention and temporal position table, and so does the
# joint model — which attends over all space-time tokens at once.
#
# The full recipe (`scripts/train_timesformer_actions.py`, both CPU cores: one trains, a
# `DataLoader` worker renders the clips) trains on a *stream* of
# fresh clips — the generator makes a new clip in under 2 ms, so there is no reason to show the
# model the same clip twice — and feeds every clip a second time played backwards with the partner
# label (a reversed `grow` clip *is* a `shrink` clip). Training on a fixed set of 2,400 clips for
# 12–30 epochs over-fitted (train accuracy 1.00, held-out 63–73 %). The stream recipe uses a
# cheaper body (6 frames, 1 block, MLP ratio 2) so more clips fit in three minutes, and decays the
# learning rate on a cosine over a fixed 5,000 steps (about 170 s of wall time on 2 cores; a fixed
# step count, not a time budget, so a seed always gives the same weights). It trains three models with the same
# body and stream: **joint** attention (the recipe's model), **divided** attention and the
# **space-only** control. At 6 frames × 16 positions joint attention is cheap — we are far left of
# the crossover measured above. It is timed and checked by
# `benchmarks/bench_timesformer_actions.py`; in fast mode this cell trains a few steps to show the
# loop, then loads the shipped weights that script wrote.
#
# Four settings of the recipe (`ACTIONS_MODEL`) are there because a *tiny* transformer trained
# from scratch for a *few thousand steps* needs them — with ViT's defaults it sat at chance for the
# first 2–3 epochs in our runs:
#
# * the spatial position table starts with spread 1 instead of 0.02 — attention is blind to
#   position until the table is large enough to matter, and with 0.02 that takes a long plateau
#   (on a toy "which quadrant is the bright square in" task: ~170 steps vs ~50);
# * each clip is standardised per colour channel (the backgrounds have random colour casts that
#   otherwise dominate every token);
# * the classifier reads the mean of the patch tokens rather than the class token;
# * the temporal position table starts random (`time_std=1`) instead of at zero. TimeSformer's zero
#   start is right when the spatial weights come from a pretrained image model and training is
#   long; from scratch, with the table *and* `temporal_fc` at zero, order information has to grow
#   through two zero factors. In our 12-epoch run it did not: 41 % held-out accuracy with
#   within-pair accuracy 0.51 — the model had learned *which pair*, not *which direction*.
#
# None of the first three depends on the order of frames, so the space-only control stays blind
# to it (it has no temporal table at all); `temporal_fc` still starts at zero.

# %%
from companion.synthetic.actions import CLASSES, REVERSAL_PAIRS
from companion.training import predict

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "train_timesformer_actions", Path(companion.__file__).resolve().parents[1] / "scripts" / "train_timesformer_actions.py")
recipe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipe)
print("model:", recipe._model_cfg())
print("training:", recipe.STREAM_FIT)

trained = {}
for kind in recipe.KINDS:
    model, hist, report = recipe.train_stream(kind, max_clips=scaled(None, 64), n_val=scaled(800, 16),
                                              threads=None, progress=False, n_curve=scaled(200, 16))
    print(f"{kind:8s} held-out acc {report['held_out_acc']:.3f}, reversal-pair acc "
          f"{report['pair_acc']:.3f}, {report['wall_s']:.0f} s wall, {report['train_clips']} clips")
    trained[kind] = model

# %%
from pathlib import Path

import companion.models as cm

weights = Path(cm.__file__).resolve().parents[1] / "weights"
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for ax, kind in zip(axes, recipe.KINDS):
    path = weights / f"timesformer_actions_{kind}.pt"
    if path.exists():
        model, ckpt = recipe.load_shipped(kind)
        cfg, source = ckpt["model"], "shipped weights"
        if kind == "joint" and ckpt["history"]["val_acc"]:
            print("shipped joint model, held-out accuracy (first 200 clips) against training steps:",
                  list(zip(ckpt["history"]["step"], ckpt["history"]["val_acc"])))
    else:
        model, cfg, source = trained[kind], recipe._model_cfg(), "this run"
    val = recipe.val_clips(cfg, n_val=scaled(800, 96))
    logits, labels = predict(model, val, batch_size=100)
    acc = float((logits.argmax(1) == labels).float().mean())
    pair = reversal_pair_accuracy(logits, labels, REVERSAL_PAIRS)
    conf = torch.zeros(8, 8)
    conf.index_put_((labels, logits.argmax(1)), torch.ones(len(labels)), accumulate=True)
    ax.imshow(conf / conf.sum(1, keepdim=True), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(8), CLASSES, rotation=60, fontsize=7)
    ax.set_yticks(range(8), CLASSES, fontsize=7)
    ax.set_title(f"{kind} ({source})\nheld-out acc {acc:.2f}, within-pair {pair:.2f}", fontsize=9)
    print(f"{kind}: held-out accuracy {acc:.3f}, reversal-pair accuracy {pair:.3f} ({source})")
fig.tight_layout()
plt.show()

# %% [markdown]
# The space-only model's confusion matrix is made of 2×2 blocks: it knows *which pair* (moving,
# rotating, scaling, appearing) but not *which direction*. Its scores for a clip and the same clip
# reversed are equal to the last bit:

# %%
clip = val[0][0][None]
s_model = timesformer(attention="space", **ACTIONS_MODEL).eval()
torch.testing.assert_close(s_model(clip), s_model(clip.flip(2)), rtol=1e-5, atol=1e-6)
print("space-only: logits(clip) == logits(reversed clip) ✓")

# %% [markdown]
# The divided model's matrix has one 2×2 block left: **rotate cw vs ccw**, near chance — every
# other class is far above. The joint model has no such block. Why? The other three pairs can be
# told apart *without comparing frames*: "the actor is on the left in the early frames" is one
# token carrying both its position and its frame's time embedding, so the MLP after attention can
# read the answer off single tokens. The start angle of a rotation is random, so no single token
# says cw or ccw: the model has to *compare* frames — where the bar's end is now versus in the
# next frame — and that comparison is what the query–key product is for. Joint attention lets a
# token compare itself with any token of any frame; divided temporal attention only with the
# *same position* in other frames, and the rotating end leaves its patch between frames.
#
# One more setting made it learnable at all: the query and key weights start wider than ViT's
# (std 0.15 instead of 0.02, `qk_std`). With 0.02 every attention map starts uniform and the
# comparison sits on a flat saddle — trained on the rotation pair *alone*, the model stayed at loss
# ln 2 for 800 steps; with 0.15 it reached 93 % in 33 CPU s (`scripts/train_timesformer_actions.py`
# docstring has every run). A 3D CNN, whose filters compare neighbouring frames from the start,
# gets 98 % on the same task (26.2).

# %% [markdown]
# ## Exercises
#
# `q2`: the attention-cost formula for joint and divided attention. `q3`: the temporal reshape of
# divided attention.

# %%
from companion.exercises import ex26_3 as ex


def attention_cost(kind, N, T, D):
    raise NotImplementedError  # your code: MACs of Q K^T and A V in one layer


ex.q2.check(attention_cost)

# %%
def to_temporal(x, T, N):
    raise NotImplementedError  # your code: (B, T*N, D) -> (B*N, T, D)


ex.q3.check(to_temporal)
