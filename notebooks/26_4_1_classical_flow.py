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
# # 26.4.1 Optical flow, the classical way
#
# Optical flow assigns every pixel of frame 1 a 2-D vector: where that bit of the scene went in
# frame 2. It is the motion signal behind two-stream action recognition (26.2), video
# interpolation, stabilisation and much of tracking. This notebook sets up the vocabulary and the
# baselines the rest of 26.4 measures RAFT against:
#
# 1. a pair with **exact ground truth** (our FlyingChairs-like generator) and how to draw flow —
#    the Middlebury colour wheel and arrows;
# 2. **brightness constancy** and a Lucas–Kanade solver written here in a few lines — and why it
#    breaks on large motions;
# 3. the production classical methods (Farnebäck, DIS, TV-L1, iterative LK) and the
#    **end-point error**;
# 4. **backward warping**: checking a flow without ground truth by rebuilding frame 1 from frame 2.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

import companion
from companion.config import scaled
from companion.flow import classical
from companion.flow.metrics import epe, flow_metrics
from companion.flow.viz import flow_to_color, quiver, show_flow, warp_backward
from companion.synthetic.flow import make_pair

companion.seed_everything(0)
torch.set_num_threads(1)  # on a shared CPU one thread is faster than two that wait for each other
H, W = scaled((256, 320), (192, 256))

# %% [markdown]
# ## 1. A pair with exact flow
#
# `make_pair` pastes textured shapes over a textured background and moves every layer by its own
# random affine map (shift, rotation, scale). Because we made the motion, the flow of every pixel
# of frame 1 is known exactly: `A_k(p) − p` for the layer k it belongs to. `valid` is False where
# the point is hidden in frame 2 (occluded by a nearer layer, or gone out of the frame).

# %%
pair = make_pair(seed=0, size=(H, W))
img1, img2, gt, valid = pair["img1"], pair["img2"], pair["flow"], pair["valid"]
print("flow", gt.shape, "max |flow| %.1f px" % np.linalg.norm(gt, axis=0).max(),
      "| occluded %.1f%%" % (100 * (1 - valid.mean())))

fig, axes = plt.subplots(1, 4, figsize=(14, 3))
axes[0].imshow(img1); axes[0].set_title("frame 1")
axes[1].imshow(img2); axes[1].set_title("frame 2")
show_flow(gt, axes[2], title="ground-truth flow (colour wheel)")
axes[3].imshow(~valid, cmap="gray"); axes[3].set_title("occluded (white)")
for a in axes:
    a.set_axis_off()
plt.tight_layout()

# %% [markdown]
# **Reading the colours.** The Middlebury convention: hue = direction, saturation = speed, white =
# still. Below, the wheel itself (flow pointing away from the centre), and arrows on the pair.
# `companion.flow.viz.flow_to_color` is written from the description of the wheel (55 hues: red →
# yellow → green → cyan → blue → magenta) — we check it pixel for pixel against torchvision's.

# %%
from torchvision.utils import flow_to_image

ys, xs = np.mgrid[-1:1:129j, -1:1:129j]
wheel_flow = torch.from_numpy(np.stack([xs, ys])).float() * (np.hypot(xs, ys) <= 1)
assert torch.equal(flow_to_color(wheel_flow), flow_to_image(wheel_flow))
assert torch.equal(flow_to_color(torch.from_numpy(gt)), flow_to_image(torch.from_numpy(gt)))

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
show_flow(wheel_flow, axes[0], title="the colour wheel: flow = position")
quiver(axes[1], gt, step=16, image=img1)
axes[1].set_title("arrows: where each pixel goes")
plt.tight_layout()

# %% [markdown]
# ## 2. Brightness constancy and Lucas–Kanade
#
# If a point keeps its brightness as it moves, `I₂(x + u, y + v) = I₁(x, y)`. A first-order Taylor
# expansion gives one linear equation per pixel, `I_x u + I_y v + I_t = 0` — one equation, two
# unknowns (the *aperture problem*: along an edge, only the motion across it is visible).
# Lucas–Kanade assumes the flow is constant in a small window and solves the 2×2 least-squares
# system there:
#
# ```
# [Σ I_x²   Σ I_x I_y] [u]     [Σ I_x I_t]
# [Σ I_x I_y Σ I_y² ] [v] = − [Σ I_y I_t]
# ```
#
# Written out in a few lines of NumPy (one window size, one step, no pyramid):

# %%
def lucas_kanade(gray1, gray2, radius=7, sigma=1.5):
    # pre-blur: finite differences underestimate the slope of fine texture (→ flow too large)
    g1 = ndimage.gaussian_filter(gray1.astype(np.float64), sigma)
    g2 = ndimage.gaussian_filter(gray2.astype(np.float64), sigma)
    iy, ix = np.gradient((g1 + g2) / 2)
    it = g2 - g1
    box = lambda a: ndimage.uniform_filter(a, size=2 * radius + 1)
    sxx, syy, sxy = box(ix * ix), box(iy * iy), box(ix * iy)
    sxt, syt = box(ix * it), box(iy * it)
    det = sxx * syy - sxy ** 2
    det = np.where(np.abs(det) < 1e-9, np.inf, det)  # flat regions: no information → 0 flow
    u = -(syy * sxt - sxy * syt) / det
    v = -(sxx * syt - sxy * sxt) / det
    return np.stack([u, v]).astype(np.float32)


def gray(img):
    return img.astype(np.float64) @ [0.299, 0.587, 0.114] / 255


# a small, known motion: the whole texture shifted by (1.2, −0.6) px
small = make_pair(seed=1, size=(H, W), n_shapes=(0, 0), max_shift=0.0, max_rot_deg=0.0, max_scale=1.0)
shift = np.array([1.2, -0.6])
moved = ndimage.shift(small["img1"].astype(float), (shift[1], shift[0], 0), order=3, mode="reflect")
moved = np.clip(moved, 0, 255).astype(np.uint8)
lk = lucas_kanade(gray(small["img1"]), gray(moved))
inner = (slice(None), slice(16, -16), slice(16, -16))
print("inline LK median flow:", np.median(lk[inner], axis=(1, 2)).round(3), " truth:", shift)
ilk = classical.ilk(small["img1"], moved)
print("skimage ILK median flow:", np.median(ilk[inner], axis=(1, 2)).round(3))
assert np.allclose(np.median(lk[inner], axis=(1, 2)), shift, atol=0.15)
assert np.allclose(np.median(lk[inner], axis=(1, 2)), np.median(ilk[inner], axis=(1, 2)), atol=0.15)

# %% [markdown]
# On a 1-px motion both recover the shift. On our pair, where shapes move up to tens of pixels, the
# Taylor expansion is meaningless: one-step LK only sees motions of about a pixel. Classical methods
# fix this **coarse to fine** (solve on a blurred, downsampled pyramid, then refine) and iterate
# with warping — the same two ideas RAFT builds in with its correlation pyramid and its iterations.

# %%
lk_big = lucas_kanade(gray(img1), gray(img2))
print(f"inline one-step LK on the big-motion pair: EPE {epe(lk_big, gt):.2f} px "
      f"(zero flow: {epe(np.zeros_like(gt), gt):.2f} px)")

# %% [markdown]
# ## 3. Production classical flow and the end-point error
#
# `companion.flow.classical` wraps OpenCV's **Farnebäck** (polynomial expansion) and **DIS**
# (dense inverse search: fast patch matching + variational refinement) and scikit-image's
# **TV-L1** (total-variation regularised, robust L1 data term) and **ILK** (iterative pyramidal
# Lucas–Kanade) behind one convention: (2, H, W), x first. scikit-image returns (row, col) —
# forgetting that swap is the most common bug with it.
#
# The **end-point error** (EPE) is the mean Euclidean distance between predicted and true vectors;
# "> 3 px" is the share of pixels that are badly wrong.

# %%
from tqdm.auto import tqdm

preds, rows = {}, {}
for name, fn in tqdm(classical.METHODS.items()):
    preds[name] = fn(img1, img2)
    rows[name] = flow_metrics(preds[name], gt)
for name, m in rows.items():
    print(f"{name:<14} EPE {m['epe']:6.2f} px   >3px {m['px3']:5.1f} %")

fig, axes = plt.subplots(1, len(preds) + 1, figsize=(3 * (len(preds) + 1), 2.6))
mx = float(np.linalg.norm(gt, axis=0).max())
show_flow(gt, axes[0], max_flow=mx, title="truth")
for a, (name, f) in zip(axes[1:], preds.items()):
    show_flow(f, a, max_flow=mx, title=f"{name}\nEPE {rows[name]['epe']:.2f}")
plt.tight_layout()

# %% [markdown]
# ## 4. Backward warping: checking a flow without ground truth
#
# If `f` is right, frame 2 sampled at `p + f(p)` looks like frame 1 — except where the point is
# occluded. `grid_sample` does the bilinear sampling; it wants coordinates in [−1, 1], x first, and
# with `align_corners=True` −1 and +1 are the *centres* of the first and last pixels. Written
# inline and checked against the companion's:

# %%
def warp(frame2, flow):
    c, h, w = frame2.shape
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    gx = 2 * (xx + flow[0]) / (w - 1) - 1
    gy = 2 * (yy + flow[1]) / (h - 1) - 1
    grid = torch.stack([gx, gy], dim=-1)[None]
    return F.grid_sample(frame2[None], grid, mode="bilinear", align_corners=True)[0]


t1 = torch.from_numpy(img1).permute(2, 0, 1).float()
t2 = torch.from_numpy(img2).permute(2, 0, 1).float()
rec_gt = warp(t2, torch.from_numpy(gt))
torch.testing.assert_close(rec_gt, warp_backward(t2, torch.from_numpy(gt)))
rec_dis = warp(t2, torch.from_numpy(preds["DIS (medium)"]))
err_gt = (rec_gt - t1).abs().mean(0)
err_dis = (rec_dis - t1).abs().mean(0)
print(f"photometric error, mean |I1 - warp(I2)|: true flow {err_gt[torch.from_numpy(valid)].mean():.1f} "
      f"(visible pixels), {err_gt.mean():.1f} (all); DIS {err_dis.mean():.1f}; no flow {(t2 - t1).abs().mean():.1f}")

fig, axes = plt.subplots(1, 4, figsize=(14, 3))
axes[0].imshow(rec_gt.permute(1, 2, 0).clamp(0, 255).byte()); axes[0].set_title("frame 2 warped by the true flow")
axes[1].imshow(err_gt, cmap="magma", vmax=80); axes[1].set_title("|frame 1 − warped|: true flow")
axes[2].imshow(err_dis, cmap="magma", vmax=80); axes[2].set_title("… DIS flow")
axes[3].imshow((t2 - t1).abs().mean(0), cmap="magma", vmax=80); axes[3].set_title("… no flow")
for a in axes:
    a.set_axis_off()
plt.tight_layout()

# %% [markdown]
# Even the *true* flow leaves error where points are occluded (the bright outlines trailing the
# shapes): no flow can explain a pixel that is not there in frame 2. Photometric error is a useful
# self-check and the basis of unsupervised flow training, but it cannot replace ground truth.
#
# ## Exercises

# %%
from companion.exercises import ex26_4 as ex

ex.q3

# %%
def my_warp(img, flow):
    ...  # your code: sample img (C, H, W) at p + flow(p) with F.grid_sample, align_corners=True


ex.q3.check(None)  # replace None with my_warp when it is written
# ex.q3.hint(); ex.q3.hint(2); ex.q3.solution()

# %%
ex.q4

# %%
def my_epe(pred, gt):
    ...  # your code: mean Euclidean length of pred − gt over the channel axis


ex.q4.check(None)  # replace None with my_epe
# ex.q4.hint(); ex.q4.solution()
