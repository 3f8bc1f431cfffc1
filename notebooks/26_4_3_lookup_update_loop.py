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
# # 26.4.3 The lookup and the update loop
#
# RAFT keeps one running estimate of where every (1/8-resolution) pixel of frame 1 lands in
# frame 2, `coords1`, and improves it a fixed number of times:
#
# 1. **look up** a (2r+1)×(2r+1) window of the correlation pyramid around `coords1` at every level;
# 2. **encode motion**: convolutions over those correlations and the current flow;
# 3. **ConvGRU**: update a hidden state from [context, motion features];
# 4. **flow head**: read a residual Δf and move `coords1` by it;
# 5. **upsample** the flow ×8 (bilinear for RAFT-small, learned convex weights for RAFT-large).
#
# We write each step inline, assemble the loop, and show that it reproduces torchvision's
# `raft_small` to the last digit once torchvision's weights are loaded into the companion model.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.optical_flow import raft_small as tv_raft_small

import companion
from companion.config import scaled
from companion.flow import lookup, raft_large, raft_small, window_offsets
from companion.flow.metrics import epe
from companion.flow.raft import pixel_grid
from companion.flow.update import ConvGRU
from companion.flow.viz import show_flow
from companion.synthetic.flow import make_pair

companion.seed_everything(0)
torch.set_num_threads(1)  # on a shared CPU one thread is faster than two that wait for each other
torch.set_grad_enabled(False)
H, W = scaled((256, 320), (128, 160))

# %% [markdown]
# ## 1. The lookup window — and a famous pitfall
#
# Offsets d ∈ {−r, …, r} in both directions, sampled with `grid_sample(align_corners=True)` at
# `coords1 / 2ˡ + d` (absolute pixel positions converted to [−1, 1]). The order of the (2r+1)²
# values matters: trained RAFT weights expect them built as `meshgrid(d, d, indexing="ij")` with
# the **first** component used as x, so x is the slow index. It looks like a bug ("shouldn't that be
# (dy, dx)?"); "fixing" it gives a network that runs and is wrong by many pixels (RAFT issues
# #80, #192).

# %%
def my_lookup(pyramid, coords, r):
    b, _, h, w = coords.shape
    d = torch.linspace(-r, r, 2 * r + 1)
    delta = torch.stack(torch.meshgrid(d, d, indexing="ij"), dim=-1)  # [..., 0] used as x!
    centre = coords.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 2)
    out = []
    for level, corr in enumerate(pyramid):
        p = centre / 2 ** level + delta
        hh, ww = corr.shape[-2:]
        grid = torch.stack([2 * p[..., 0] / (ww - 1) - 1, 2 * p[..., 1] / (hh - 1) - 1], dim=-1)
        out.append(F.grid_sample(corr, grid, align_corners=True).view(b, h, w, -1))
    return torch.cat(out, dim=-1).permute(0, 3, 1, 2)


g = torch.Generator().manual_seed(0)
vol = torch.randn(1, 16, 24, 16, 24, generator=g)
pyr = [vol.reshape(16 * 24, 1, 16, 24)]
for _ in range(3):
    pyr.append(F.avg_pool2d(pyr[-1], 2))
coords = pixel_grid(1, 16, 24) + torch.tensor([2.5, -1.25]).view(1, 2, 1, 1)  # at an offset
torch.testing.assert_close(my_lookup(pyr, coords, 3), lookup(pyr, coords, 3))
print("features per pixel:", my_lookup(pyr, coords, 3).shape[1], "= 4 levels × 7²")
print("offset (x, y) of the first few window entries:", window_offsets(3).reshape(-1, 2)[:3].tolist())

# %% [markdown]
# ## 2. The ConvGRU
#
# A GRU whose matrix products are 3×3 convolutions, so the hidden state is a feature *map*:
# z (update gate) and r (reset gate) from [h, x]; candidate q from [r·h, x];
# h' = (1 − z)·h + z·q. Checked against the companion module with the same weights:

# %%
def my_conv_gru(h, x, convz, convr, convq):
    hx = torch.cat([h, x], dim=1)
    z = torch.sigmoid(convz(hx))
    r = torch.sigmoid(convr(hx))
    q = torch.tanh(convq(torch.cat([r * h, x], dim=1)))
    return (1 - z) * h + z * q


gru = ConvGRU(input_size=20, hidden_size=8, kernel_size=3, padding=1)
h0, x0 = torch.randn(1, 8, 6, 7), torch.randn(1, 20, 6, 7)
torch.testing.assert_close(my_conv_gru(h0, x0, gru.convz, gru.convr, gru.convq), gru(h0, x0))

# %% [markdown]
# ## 3. The whole loop, inline, on the companion's modules
#
# The context encoder's output is split: the first `hidden` channels (tanh) initialise the GRU
# state, the rest (ReLU) are context, fed again at every iteration. `coords1` is detached before
# each lookup: the network learns from each prediction's error, not through the sampling positions.

# %%
def raft_forward(model, image1, image2, iters=12):
    fmap1, fmap2 = model.feature_encoder(torch.cat([image1, image2])).chunk(2)
    model.corr_block.build_pyramid(fmap1, fmap2)
    ctx = model.context_encoder(image1)
    hs = model.update_block.hidden_state_size
    hidden, context = torch.tanh(ctx[:, :hs]), torch.relu(ctx[:, hs:])
    b, _, h8, w8 = fmap1.shape
    coords0 = pixel_grid(b, h8, w8)
    coords1 = coords0.clone()
    flows = []
    for _ in range(iters):
        corr = model.corr_block.index_pyramid(coords1.detach())
        hidden, delta = model.update_block(hidden, context, corr, coords1 - coords0)
        coords1 = coords1 + delta
        mask = None if model.mask_predictor is None else model.mask_predictor(hidden)
        if mask is None:  # RAFT-small: bilinear ×8 (and ×8 the vectors)
            up = 8 * F.interpolate(coords1 - coords0, scale_factor=8, mode="bilinear", align_corners=True)
        else:
            from companion.flow.upsample import upsample_convex
            up = upsample_convex(coords1 - coords0, mask)
        flows.append(up)
    return flows


tv = tv_raft_small().eval()  # random init: parity does not need trained weights
ours = raft_small().eval()
ours.load_state_dict(tv.state_dict(), strict=True)
pair = make_pair(seed=2, size=(H, W))
to_input = lambda im: torch.from_numpy(im).permute(2, 0, 1)[None].float() / 127.5 - 1
im1, im2 = to_input(pair["img1"]), to_input(pair["img2"])
inline = raft_forward(ours, im1, im2, iters=6)
theirs = tv(im1, im2, num_flow_updates=6)
diffs = [(a - b).abs().max().item() for a, b in zip(inline, theirs)]
print("max |inline − torchvision| per iteration:", [f"{d:.1e}" for d in diffs])
assert max(diffs) <= 1e-3
big_tv = __import__("torchvision").models.optical_flow.raft_large().eval()
big = raft_large().eval()
big.load_state_dict(big_tv.state_dict(), strict=True)
d_large = (big(im1, im2, num_flow_updates=3)[-1] - big_tv(im1, im2, num_flow_updates=3)[-1]).abs().max().item()
print(f"raft_large, companion vs torchvision: {d_large:.1e} px")
assert d_large <= 1e-3

# %% [markdown]
# ## 4. Watching the iterations (our trained weights)
#
# With the weights trained in 26.4.4, each iteration refines the estimate. Early iterations get
# the large motions roughly right, later ones sharpen the boundaries.

# %%
model = raft_small(pretrained=True)
iters = scaled(16, 8)
flows = model(im1, im2, num_flow_updates=iters)
errs = [epe(f[0], pair["flow"]) for f in flows]
show = [0, 1, iters // 2 - 1, iters - 1]
fig, axes = plt.subplots(1, len(show) + 2, figsize=(3.2 * (len(show) + 2), 2.6))
mx = float(np.linalg.norm(pair["flow"], axis=0).max())
axes[0].imshow(pair["img1"]); axes[0].set_title("frame 1"); axes[0].set_axis_off()
for a, k in zip(axes[1:], show):
    show_flow(flows[k][0], a, max_flow=mx, title=f"iteration {k + 1}: EPE {errs[k]:.2f}")
show_flow(pair["flow"], axes[-1], max_flow=mx, title="truth")
plt.tight_layout()
plt.figure(figsize=(4, 2.5))
plt.plot(range(1, iters + 1), errs, "o-")
plt.xlabel("iteration"); plt.ylabel("EPE (px)"); plt.title("error per iteration")
plt.tight_layout()

# %% [markdown]
# ## Exercise

# %%
from companion.exercises import ex26_4 as ex

ex.q2

# %%
def my_window_lookup(pyramid, coords, radius):
    ...  # your code (hint: watch the offset order)


ex.q2.check(None)  # replace None with my_window_lookup
# ex.q2.hint(); ex.q2.hint(2); ex.q2.solution()
