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
# 6. trains a small TimeSformer on the synthetic actions (a short live run; the full runs are
#    loaded from shipped weights), compares joint, divided and a space-only control that cannot
#    tell an action from its reversal, and measures what holds the divided model back (not
#    TimeSformer's zero start, not its block order: in 5,000 steps it reaches 0.82–0.88 against
#    joint's 0.95; on an eight times longer schedule it breaks through to 0.995 or more for every seed).
#
# **Run time:** about 55 CPU-seconds as opened (measured: 54.9 CPU-s; the trained models are loaded from
# `companion/weights/`). `COMPANION_TRAIN=1` retrains the five 8-class models and the four
# diagnostic models with `scripts/train_timesformer_actions.py`'s recipe: about 22 minutes of wall
# time on 2 quiet cores.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

import companion
from companion.viz import plot_live_training
from companion.config import scaled
from companion.models import DividedBlock, MultiHeadSelfAttention, explicit_attention, timesformer
from companion.models.attention import (attention_matrix_macs, cost_sweep, count_macs, first_below,
                                        plot_cost_sweep, predicted_crossover)
from companion.models.timesformer import (ACTIONS_MODEL, reversal_pair_accuracy, spatial_sequences,
                                          temporal_sequences, train_on_actions)

companion.seed_everything(0)
torch.set_num_threads(1)   # small layers: one thread, and the timings below are per-core CPU time
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
frames = scaled([2, 4, 8, 12, 16, 24, 32], [2, 12, 20])      # benchmarks/bench_attention_cost.py: every T
rows = cost_sweep(frames, repeats=scaled(3, 1), memory=True, progress=True)
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
# The recipe (`scripts/train_timesformer_actions.py`) trains on a *stream* of fresh clips (the
# generator makes one in under 2 ms, so no clip is shown twice) and feeds every clip a second time
# played backwards with the partner label (a reversed `grow` clip *is* a `shrink` clip). Body:
# 6 frames of 32², patch 8 (96 tokens), width 64, **one** block, MLP ratio 2; AdamW, cosine
# learning rate over a fixed 5,000 steps of 16 clips (+16 reversals); one core trains while a
# `DataLoader` worker renders clips on the other. The settings a *tiny* transformer trained from
# scratch needs (the script's docstring has every variant tried and its score): position tables
# with spread 1 instead of 0.02, each clip standardised per colour channel, the classifier reading
# the mean of the patch tokens, query/key weights starting wider (`qk_std=0.15`). None of them
# tells the model the order of frames.
#
# **What this notebook runs.** By default it *loads* the weights that script wrote (a few seconds)
# and trains the divided model live for 300 steps so you can watch its loss fall. To train every
# model yourself, start Jupyter with `COMPANION_TRAIN=1`: the cells then run the full 5,000-step
# recipe for each of the five 8-class models (about 3 minutes of wall time each on 2 quiet cores)
# and the four short diagnostic models, and use those instead of the shipped weights.

# %%
import importlib.util
import os
from pathlib import Path

from companion.synthetic.actions import CLASSES, REVERSAL_PAIRS
from companion.training import predict

TRAIN = os.environ.get("COMPANION_TRAIN", "0") == "1"
_spec = importlib.util.spec_from_file_location(
    "train_timesformer_actions", Path(companion.__file__).resolve().parents[1] / "scripts" / "train_timesformer_actions.py")
recipe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipe)
print("model:", recipe._model_cfg())
print("training:", recipe.STREAM_FIT)
print("train the models here:", TRAIN)

live_steps = recipe.STREAM_FIT["steps"] if TRAIN else scaled(300, 20)
live = dict(curve_every=200, n_curve=200) if TRAIN else dict(curve_every=scaled(50, 10), n_curve=scaled(100, 16),
                                                             n_val=scaled(200, 32))
div_changes, _ = recipe.SHIPPED["divided"]          # the shipped divided model's settings
model, hist, report = recipe.train_stream("divided", steps=live_steps, progress=False,
                                          model_changes=div_changes, **live)
plot_live_training(hist, f"divided TimeSformer, {live_steps} steps live", n_curve=live["n_curve"])
print(f"live run: loss {hist['train_loss'][0]:.3f} -> {hist['train_loss'][-1]:.3f} over {live_steps} steps, "
      f"held-out accuracy {report['held_out_acc']:.3f} on {report['n_val']} clips, "
      f"{report['cpu_s']:.0f} CPU s (+ {report['worker_cpu_s']:.0f} s rendering)")

# %% [markdown]
# ## The shipped models: curves and confusion matrices
#
# Three models with the same tokens, body and stream: **joint** attention, **divided** attention
# (TimeSformer's block — time, then space — with its zero start of `temporal_fc`) and the
# **space-only** control. Each checkpoint stores its training curve (held-out accuracy on the
# first 200 held-out clips every 200 steps) and its confusion matrix on 800 held-out clips (seed
# 2 — the stream uses seed 1). The next cell re-scores every model on those 800 clips and prints
# the stored figure next to it.

# %%
def load_or_train(name):
    """The shipped model ``name`` — or, with COMPANION_TRAIN=1, the same recipe trained here."""
    if TRAIN and name == "divided":          # trained in the cell above
        return model, dict(history=hist, report=report)
    if TRAIN:
        changes, fit_changes = recipe.SHIPPED[name]
        m, h, rep = recipe.train_stream(recipe.kind_of(name), progress=False, model_changes=changes, **fit_changes)
        return m.eval(), dict(history=h, report=rep)
    return recipe.load_shipped(name)


def score(name, m, ckpt, val, ax):
    """Accuracy, within-pair accuracy and confusion matrix of ``m`` on ``val``, drawn on ``ax``."""
    names = val.classes
    k = len(names)
    logits, labels = predict(m, val, batch_size=100)
    acc = float((logits.argmax(1) == labels).float().mean())
    pair = reversal_pair_accuracy(logits, labels, REVERSAL_PAIRS)
    conf = torch.zeros(k, k)
    conf.index_put_((labels, logits.argmax(1)), torch.ones(len(labels)), accumulate=True)
    ax.imshow(conf / conf.sum(1, keepdim=True).clamp(min=1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), names, rotation=60, fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_title(f"{name}\nheld-out acc {acc:.3f}, within-pair {pair:.3f}", fontsize=9)
    r = [names.index(c) for c in ("rotate_cw", "rotate_ccw")]    # the rotation pair's rows
    rot = int(conf[r[0], r[0]] + conf[r[1], r[1]]), int(conf[r].sum())
    print(f"{name:18s} held-out accuracy {acc:.3f} (checkpoint: {ckpt['report']['held_out_acc']:.3f}), "
          f"within-pair {pair:.3f}; rotate cw/ccw right: {rot[0]}/{rot[1]}")
    return acc


val = recipe.val_clips(n_val=scaled(800, 96))
models = {name: load_or_train(name) for name in ("joint", "divided", "space")}
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
scores = {name: score(name, m, ckpt, val, ax) for ax, (name, (m, ckpt)) in zip(axes, models.items())}
fig.tight_layout()
plt.show()
plt.figure(figsize=(6, 3))
for name, (m, ckpt) in models.items():
    plt.plot(ckpt["history"]["step"], ckpt["history"]["val_acc"], label=name)
plt.xlabel("step"), plt.ylabel("held-out accuracy (first 200)"), plt.legend(fontsize=8)
plt.title("training curves (stored in the checkpoints)", fontsize=9)
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
# ## What holds the divided model back?
#
# Joint attention learns the whole task; divided attention, with the same tokens and budget, does
# not (with a longer budget it can: last section). The first suspect is TimeSformer's zero start: `temporal_fc` starts at zero so that an
# untrained divided model *is* the image model (checked above). The price: the temporal attention's
# output is multiplied by a zero matrix, so at step 0 **no gradient reaches the temporal attention
# at all** — its queries, keys and values cannot start learning until `temporal_fc` has grown, while
# the spatial path (with the time embedding) can already learn the classes that single tokens tell
# apart. Measured on one batch:

# %%
batch = torch.stack([val[i][0] for i in range(16)])
targets = torch.tensor([val[i][1] for i in range(16)])
for std in (0.0, 0.02):
    companion.seed_everything(0)
    m = timesformer(attention="divided", **{**recipe._model_cfg(), "temporal_fc_std": std})
    F.cross_entropy(m(batch), targets).backward()
    blk = m.blocks[0]
    print(f"temporal_fc start std {std:<5}: |grad| temporal q/k/v {float(blk.temporal_attn.qkv.weight.grad.norm()):.2e}, "
          f"temporal_fc {float(blk.temporal_fc.weight.grad.norm()):.2e}, spatial q/k/v {float(blk.attn.qkv.weight.grad.norm()):.2e}")

# %% [markdown]
# Does that matter for what the model learns? TimeSformer's divided model above has one 2×2 block
# left: **rotate cw vs ccw**. The other three pairs can be told apart *without comparing frames*
# ("the actor is on the left in the early frames" is one token carrying both its position and its
# frame's time embedding); the start angle of a rotation is random, so no single token says cw or
# ccw — the model has to *compare* frames, which is what temporal attention's query–key product is
# for. Four diagnostics, shipped checkpoints re-scored on 800 held-out clips of their classes:
#
# * the first four classes only (move left / right, rotate cw / ccw), 1,200 steps of the same
#   stream: the divided model with the zero start, with `temporal_fc` started random
#   (`temporal_fc_std=0.02`, the std of every other linear layer), and — the control the first
#   version of this notebook lacked — the **joint** model;
# * the rotation pair **alone**, 800 steps, the divided model with the zero start.

# %%
diag = {name: load_or_train(name) for name in ("rotate_move_zero", "rotate_move_fc002", "rotate_move_joint",
                                                "rotate_only_zero")}
fig, axes = plt.subplots(1, 5, figsize=(20, 3.9))
for ax, (name, (m, ckpt)) in zip(axes, diag.items()):
    score(name, m, ckpt, recipe.shipped_val_clips(ckpt, n_val=scaled(800, 96)), ax)
for name, (m, ckpt) in diag.items():
    axes[4].plot(ckpt["history"]["step"], ckpt["history"]["val_acc"], label=name)
    if ckpt["history"]["temporal_fc_norm"]:
        print(f"{name}: ‖temporal_fc‖ at steps {ckpt['history']['step'][:3]}: {ckpt['history']['temporal_fc_norm'][:3]}")
axes[4].set_xlabel("step"), axes[4].set_ylabel("held-out accuracy (first 200)"), axes[4].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# Read together:
#
# * On move + rotate all three name at most half of the rotation clips right — **joint included**, and
#   joint learns rotation on the full task (its curve above jumps after ~2,200 steps). At 1,200
#   steps this diagnostic cannot tell a model that will learn rotation from one that will not, so on
#   its own it says nothing about the zero start. (The zero-started `temporal_fc` is not stuck: by
#   step 200 its norm matches the random one's — the printed norms.)
# * On the rotation pair **alone**, the divided model — zero start, TimeSformer's block order —
#   learns cw vs ccw. So neither the zero start nor comparing a patch only with itself in other
#   frames puts rotation out of reach; what fails is learning it *next to* the other classes.
#
# So the question has to be asked on the full task itself: 8 classes, 5,000 steps, the same
# stream. Two candidate fixes, shipped and re-scored here: `temporal_fc` started random
# (std 0.02), and the block's two steps swapped — spatial attention first, so that the temporal
# step compares patches that already know their frame (in a one-block model TimeSformer's order
# has the temporal step compare raw patches; `block_order="space_time"`, same weights and MACs).

# %%
full = {name: load_or_train(name) for name in ("divided", "divided_fc002", "divided_space_first")}
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
for ax, (name, (m, ckpt)) in zip(axes, full.items()):
    score(name, m, ckpt, val, ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# Neither is the fix: with the random start the divided model reaches 0.876 (TimeSformer's zero
# start: 0.861) and the swapped block 0.819, rotation at chance in all three (seed 0). Seeds 1 and 2
# of the swapped block (`python scripts/train_timesformer_actions.py --attention divided_space_first
# --seed 1 --no-save`) gave 0.859 and 0.844, rotation again at chance, and TimeSformer's block
# gave 0.871 and 0.868 on seeds 1 and 2 (`bench_timesformer_actions.py --model divided --seeds 1 2`)
# — it is not a bad seed.
#
# | divided model, full task, 5,000 steps | held-out | rotation clips right |
# |---|---|---|
# | TimeSformer (time → space, zero `temporal_fc`), seeds 0 / 1 / 2 | 0.861 / 0.871 / 0.868 | chance (100 / 200, seed 0) |
# | two TimeSformer blocks (twice the cost per step), seed 0 | 0.864 | chance (0.49) |
# | random `temporal_fc` start (std 0.02), seed 0 | 0.876 | chance (0.53) |
# | space → time, seeds 0 / 1 / 2 | 0.819 / 0.859 / 0.844 | chance (0.44 / 0.49 / 0.49) |
#
# Two more suspects, measured. *The actor jumps from patch to patch, so a patch compared with
# itself sees nothing consistent?* No more in a rotation than in a move — which is learned: of the
# patches the actor covers, the share it still covers in the next frame (next cell, the generator's
# actor drawn alone). *What do the temporal heads actually do?* In the 8-class divided model they
# have become near-fixed lookups by frame index — sharp (entropy far below uniform) and about half
# as content-dependent — while the same model trained on the rotation pair alone keeps broader,
# more content-dependent temporal attention, which is what telling cw from ccw takes (attend to
# the frame where the bar has turned a little further):

# %%
print("patch still covered in the next frame:",
      {k: round(v, 2) for k, v in recipe.patch_persistence(n=scaled(300, 40)).items()})
for name, (m, ckpt) in (("divided", models["divided"]), ("rotate_only_zero", diag["rotate_only_zero"])):
    clips = torch.stack([recipe.shipped_val_clips(ckpt, n_val=32)[i][0] for i in range(32)])
    st = recipe.temporal_attention_stats(m, clips)
    print(f"{name:17s} temporal heads: entropy {[round(e, 2) for e in st['entropy']]} "
          f"(uniform {st['uniform_entropy']:.2f}), content-dependence {[round(c, 3) for c in st['content_dependence']]}")

# %% [markdown]
# What holds the one-block divided model back at 5,000 steps is therefore not the zero start, not
# the order of its two steps, not how far the actor moves per patch: on the mixed task its temporal
# heads settle on "look at frame k" lookups that solve move, grow and appear (compare now with the
# end), and within 5,000 steps they do not become the content-dependent comparison that rotation
# needs — which the same model does learn when rotation is all it sees. Joint attention does not
# need that detour: its query can look for the bar at *any* position of another frame, with the
# spatial position embeddings (spread 1) ready-made to say where it went.
#
# ## More clips: the plateau breaks
#
# So is it only a matter of budget? The same divided model, same stream, same recipe, but with a
# cosine schedule eight times as long (40,000 steps, 640,000 fresh clips) — about 2,300 CPU-seconds
# a seed on one thread, far too long for this notebook, so the three shipped runs were trained
# beforehand (`python scripts/train_timesformer_actions.py --attention divided_long --workers 0`,
# and `divided_long_seed1`, `divided_long_seed2`). A first try on a lent GPU with a 20,000-step
# schedule, each run stopped at about step 16,000, broke through for seeds 0 and 2 only (0.994 and
# 0.993) while seed 1 was still on its plateau (0.883) with its learning rate down to a tenth of
# the peak; the longer schedule keeps the learning rate high for longer.
# The curves below are the held-out accuracy on 200 clips every 200 steps, stored in the checkpoints.

# %%
long_runs = {name: recipe.load_shipped(name) for name in ("divided_long", "divided_long_seed1", "divided_long_seed2")}
fig, ax = plt.subplots(figsize=(9, 4))
for name, (m, ckpt) in long_runs.items():
    h = ckpt["history"]
    ax.plot(h["step"], h["val_acc"], label=f"divided, seed {ckpt['report']['fit']['seed']}, 40k schedule")
h5 = models["divided"][1]["history"]
ax.plot(h5["step"], h5["val_acc"], "k--", label="divided, seed 0, 5k schedule (above)")
ax.axhline(0.875, color="grey", lw=0.8, ls=":")
ax.text(200, 0.885, "7 of 8 classes right (rotation at chance)", fontsize=8, color="grey")
ax.set(xlabel="step (16 fresh clips + their reversals)", ylabel="held-out accuracy (200 clips)", ylim=(0.2, 1.02))
ax.legend(fontsize=8)
plt.show()
long_scores = {}
for name, (m, ckpt) in long_runs.items():
    logits, labels = predict(m, val, batch_size=100)
    rot = (labels == 2) | (labels == 3)
    long_scores[name] = (float((logits.argmax(1) == labels).float().mean()),
                         reversal_pair_accuracy(logits[rot], labels[rot], [(2, 3)]))
    print(f"{name:19s} seed {ckpt['report']['fit']['seed']}: held-out {long_scores[name][0]:.3f} on {len(val)} clips, "
          f"rotate cw vs ccw {long_scores[name][1]:.3f} (stored, 800 clips: {ckpt['report']['held_out_acc']:.3f}), "
          f"steps {ckpt['report']['steps']}, off the plateau (200 clips >= 0.95) at step "
          f"{next(st for st, v in zip(ckpt['history']['step'], ckpt['history']['val_acc']) if v >= 0.95)}")

# %% [markdown]
# Each curve climbs fast to the plateau of the other six classes, sits there for thousands of
# steps with rotation at chance — and then breaks: in about 2,000 steps (seed 0 around step
# 15,400, seed 2 around 14,800, seed 1 last, around 19,400) the temporal heads find the
# comparison rotation needs, and every seed ends at 0.995 held-out or better (800 clips;
# rotate cw vs ccw 1.000 / 0.995 / 0.995). The divided model *can* learn the whole task;
# it leaves the plateau only after three to four times the clips of the whole 5,000-step recipe
# (on a schedule eight times as long), and when it leaves varies from seed to seed by thousands
# of steps.
#
# | divided model, full task | seed 0 | seed 1 | seed 2 |
# |---|---|---|---|
# | 5,000 steps (the recipe) | 0.861 | 0.871 | 0.868 |
# | 5,000 steps after 800 steps on the rotation pair alone (a curriculum) | 0.864 | 0.906 | 0.878 |
# | 20,000-step schedule, stopped at ~16,000 (GPU) | 0.994 | 0.883 | 0.993 |
# | 40,000-step schedule (CPU, shipped) | **0.998** | **0.995** | **0.996** |
#
# The curriculum row (GPU, `scripts/gpu_runs.sh`, not shipped) helps a little and only for one
# seed: the rotation-pair start is mostly forgotten once the other six classes arrive. Two blocks
# on the 20,000-step schedule (GPU, same script, stopped at step 12,000 by the call's time limit, no
# weights kept) broke through at the same point for seeds 0 and 2 (0.975 and 0.980 on 200 clips)
# and not for seed 1 (0.845). So the section's compute lesson gets a second half: at 6 frames joint
# attention is the cheaper model per step (divided is cheaper only from `T` ≈ 12) *and* it needs
# far fewer clips (0.91-0.95 held-out within the 5,000-step recipe, where the divided model leaves its
# plateau only after 14,000-20,000 steps) — the factorisation that saves multiply-adds also makes the motion
# harder to find, and that cost is paid in training data, not in FLOPs. A 3D CNN, whose filters
# compare neighbouring frames from the start, gets 98 % in 5,000 steps (26.2); ViViT's factorised
# encoder (26.3.3), which compares frames only after summarising each one, fails on the same pair.

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
