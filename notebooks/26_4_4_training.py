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
# # 26.4.4 Training RAFT-small on synthetic flow
#
# Real video has no flow labels. RAFT was trained first on **FlyingChairs** — rendered chairs
# flying over photos, with exact flow because the motion was generated — and then on harder
# rendered data. We do the same at CPU scale:
#
# 1. a FlyingChairs-like generator with exact flow and occlusions (`companion.synthetic.flow`);
# 2. augmentation that keeps image and flow consistent;
# 3. RAFT's **sequence loss**: every iteration's prediction is supervised, later ones weighted more;
# 4. a short training run here (fast mode: a few steps), then the **shipped weights** trained by
#    `scripts/train_raft_small.py` and their training curve.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

import companion
from companion.config import scaled
from companion.flow import raft_small
from companion.flow.metrics import epe
from companion.flow.raft import WEIGHTS_DIR
from companion.flow.training import GEN_KW, augment, batch_for_step, sequence_loss
from companion.flow.viz import show_flow, warp_backward
from companion.synthetic.flow import make_pair

companion.seed_everything(0)
torch.set_num_threads(1)  # on a shared CPU one thread is faster than two that wait for each other

# %% [markdown]
# ## 1. The data
#
# Every training sample is a fresh pair: a textured background and 2–6 textured shapes
# (ellipses, rotated rectangles, polygons), each moved by its own random affine map. Shifts are
# skewed towards small values but reach 32 px for shapes; the flow of every frame-1 pixel is exact.

# %%
fig, axes = plt.subplots(3, 4, figsize=(13, 6.5))
for k in range(4):
    s = make_pair(seed=100 + k, **GEN_KW)
    axes[0, k].imshow(s["img1"]); axes[1, k].imshow(s["img2"])
    show_flow(s["flow"], axes[2, k])
    axes[0, k].set_title(f"pair {k}: max |f| {np.linalg.norm(s['flow'], axis=0).max():.0f} px", fontsize=9)
for a in axes.ravel():
    a.set_axis_off()
axes[0, 0].text(-10, 60, "frame 1", rotation=90, ha="right"); axes[1, 0].text(-10, 60, "frame 2", rotation=90, ha="right")
plt.tight_layout()

# %% [markdown]
# ## 2. Augmentation that keeps the flow right
#
# Photometric changes (brightness, contrast, per-channel gain, noise) leave the flow alone. A
# horizontal flip mirrors the images *and* negates the x component of the flow (a pixel moving right
# now moves left). The check: warping the augmented frame 2 by the augmented flow still rebuilds
# the augmented frame 1.

# %%
s = make_pair(seed=3, **GEN_KW)
rng = np.random.default_rng(1)
while True:  # draw until the augmentation includes a horizontal flip, to show it
    state = rng.bit_generator.state
    if rng.random() < 0.5:
        break
rng.bit_generator.state = state
a1, a2, af = augment(s["img1"], s["img2"], s["flow"], rng)
valid = torch.from_numpy(np.ascontiguousarray(s["valid"][:, ::-1]))
err_aug = (warp_backward(a2, af) - a1).abs().mean(0)[valid].mean().item()
err_bad = (warp_backward(a2, af * torch.tensor([-1.0, 1.0]).view(2, 1, 1)) - a1).abs().mean(0)[valid].mean().item()
print(f"photometric error after a flip: flow negated in x {err_aug:.3f}, flow NOT negated {err_bad:.3f}")
assert err_aug < 0.5 * err_bad

# %% [markdown]
# ## 3. The sequence loss
#
# RAFT returns N predictions f₁ … f_N. All are supervised, with weights γ^(N−i):
# `L = Σᵢ γ^(N−i) · mean|fᵢ − f_gt|₁`, γ = 0.8 — early iterations are asked to be roughly right,
# late ones to be exact. Pixels with a true flow above 400 px are ignored (not an issue here).
# Inline, checked against the training code:

# %%
def my_sequence_loss(preds, gt, gamma=0.8):
    n = len(preds)
    return sum(gamma ** (n - 1 - i) * (p - gt).abs().mean() for i, p in enumerate(preds))


g = torch.Generator().manual_seed(0)
gt_ = torch.randn(2, 2, 16, 16, generator=g)
preds_ = [gt_ + torch.randn(2, 2, 16, 16, generator=g) / (i + 1) for i in range(4)]
torch.testing.assert_close(my_sequence_loss(preds_, gt_), sequence_loss(preds_, gt_))

# %% [markdown]
# ## 4. A few training steps here
#
# The recipe of `scripts/train_raft_small.py`: AdamW, one-cycle learning rate, gradient clipping at
# norm 1.0, batch of fresh augmented pairs. On a CPU one step takes seconds, so here we only take a
# handful — enough to see the loss move, not enough to learn flow.

# %%
model = raft_small().train()
opt = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=1e-4)
steps = scaled(20, 2)
losses = []
t0 = time.time()
for step in tqdm(range(steps), desc="training"):
    img1, img2, gt = batch_for_step(step, 1, seed=123)
    preds = model(img1, img2, num_flow_updates=4)
    loss = sequence_loss(preds, gt)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    losses.append(loss.item())
print(f"{steps} steps in {time.time() - t0:.1f} s; loss {losses[0]:.2f} → {losses[-1]:.2f}")

# %% [markdown]
# ## 5. The shipped weights and their training curves
#
# `raft_small(pretrained=True)` loads `companion/weights/raft_small_synthetic.pt`, trained in four
# stages by `scripts/train_raft_small.py` (seed 0), like RAFT's FlyingChairs → FlyingThings →
# fine-tuning schedule. **Stage 1** learns flow from scratch on the colourful pairs above.
# **Stage 2** fine-tunes on a wider mix (`STAGES["mixed"]`): larger motions, a *still* background
# in a fifth of the pairs, nearly textureless layers, greyscale and low-contrast pairs. Stage 1
# alone had never seen a flat region or a still camera, and on real footage it invented flow —
# between two identical frames of the street clip it returned several pixels on average (26.4.5
# measures it). Stage 2 fixed that but learned "weak texture, probably still", and got *worse* on
# the real stereo pair. **Stage 3** (`STAGES["photos"]`) cuts half of the layers from real
# photographs that ship with scikit-image (never the stereo pair we evaluate on) — the reason
# FlyingChairs pastes its chairs over Flickr photos — and moves backgrounds as far as shapes.
# **Stage 4** (`STAGES["large"]`) exists because of one number: the real stereo pair at its full
# 500×741 resolution has disparities of 7–60 px (median 39), and stages 1–3 had never seen a motion
# over 40 px, nor an image larger than 128×160 — at full resolution stage 3 lost to TV-L1 (8.62 vs
# 7.28 px). Stage 4 fine-tunes on 320×448 pairs with motions up to 96 px (60 % photo layers). It
# was run on a lent GPU (batch 8, 6.3 minutes, 1,794 steps: `scripts/gpu_runs.sh`; the same script
# runs on a CPU, about 40× slower); the evaluation protocol — full resolution, 12 updates, EPE on
# the pixels with a disparity — was fixed before the run and scored once (26.4.5).
# A few stage-3 training pairs:

# %%
from companion.flow.training import STAGES

fig, axes = plt.subplots(2, 4, figsize=(13, 4.6))
for k in range(4):
    a, b, f = batch_for_step(k, 1, seed=0, stage="photos")
    axes[0, k].imshow((a[0].permute(1, 2, 0).numpy() + 1) / 2); axes[0, k].set_title(f"stage-3 pair {k}: frame 1")
    show_flow(f[0].numpy(), axes[1, k], max_flow=40, title="true flow")
for ax in axes.ravel():
    ax.set_axis_off()
plt.tight_layout()
print("stage 2 recipe:", {k: v for k, v in STAGES["mixed"].items()})
print("stage 3 recipe:", {k: v for k, v in STAGES["photos"].items()})
print("stage 4 recipe:", {k: v for k, v in STAGES["large"].items()})

# %%
ckpt = torch.load(WEIGHTS_DIR / "raft_small_synthetic.pt", weights_only=True)
chain, part = [], ckpt            # each checkpoint keeps the settings and curve of the stage before
while part:
    chain.insert(0, part)
    part = part.get("previous_stage")
stages = [(f"stage {i + 1} ({part['settings'].get('stage', 'chairs')})", part) for i, part in enumerate(chain)]
fig, axes = plt.subplots(1, 3, figsize=(13, 3))
offset = 0
for label, part in stages:
    if not part or not part.get("curve"):
        continue
    st = part["settings"]
    print(f"{label}: {({k: v for k, v in st.items() if k not in ('out', 'recipe', 'generator', 'init')})}")
    print(f"   steps done {part['steps_done']}, wall time {part['minutes']:.1f} min")
    c = part["curve"]
    steps = [offset + x for x in c["step"]]
    axes[0].plot(steps, c["loss"], label=label); axes[1].plot(steps, c["epe"], label=label)
    axes[2].plot(steps, c["lr"], label=label)
    offset += part["steps_done"]
for ax, title in zip(axes, ("sequence loss (running mean)", "training EPE, last iteration (px)", "learning rate")):
    ax.set_xlabel("step (all stages)"); ax.set_title(title); ax.legend()
plt.tight_layout()

# %% [markdown]
# Stage 2's training EPE starts *higher* than where stage 1 ended: its pairs are harder (larger
# motions, flat layers whose motion can only be inferred from their edges); so does stage 3's
# (backgrounds moving up to 40 px, photographs with large smooth areas), and stage 4's starts far
# higher again (motions up to 96 px; its steps are batches of 8, not 2, so its part of the x-axis
# covers four times the pairs per step).

# %% [markdown]
# And on pairs the training never saw (a different seed), with different numbers of iterations at
# test time (training used 6):

# %%
from companion.flow.evaluation import heldout_synthetic
from companion.flow.raft import predict_flow

trained = raft_small(pretrained=True)
pairs = heldout_synthetic(scaled(8, 1))
for iters in scaled((1, 6, 12, 24), (1, 6)):
    flows = [predict_flow(trained, p["img1"], p["img2"], iters) for p in pairs]
    e = np.mean([epe(f, p["flow"]) for f, p in zip(flows, pairs)])
    print(f"{iters:>2} iterations: held-out EPE {e:.2f} px")
p, f = pairs[0], flows[0]
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
axes[0].imshow(p["img1"]); axes[0].set_axis_off(); axes[0].set_title("held-out frame 1")
mx = float(np.linalg.norm(p["flow"], axis=0).max())
show_flow(f, axes[1], max_flow=mx, title=f"RAFT-small (ours): EPE {epe(f, p['flow']):.2f}")
show_flow(p["flow"], axes[2], max_flow=mx, title="truth")
plt.tight_layout()

# %% [markdown]
# ## Exercise
#
# The EPE is what the curve above tracks; write it yourself.

# %%
from companion.exercises import ex26_4 as ex

def my_epe(pred, gt):
    ...  # your code


ex.q4.check(None)  # replace None with my_epe
