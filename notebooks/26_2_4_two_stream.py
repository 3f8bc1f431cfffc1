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
# # 26.2.4 — Two streams: appearance from a frame, motion from optical flow
#
# Before 3D CNNs worked well, Simonyan & Zisserman (2014) made a 2D network see motion by *handing
# it the motion*: a **temporal stream** classifies a stack of $L$ optical-flow fields ($2L$ input
# channels: horizontal and vertical displacement for each of $L$ frame pairs), next to a **spatial
# stream** that classifies one RGB frame. Their class scores are averaged (**late fusion**).
#
# On our synthetic clips the spatial stream is a per-frame model — blind to the direction of time —
# while the flow stack says "this bar moved left" in its very input.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from torchvision.utils import flow_to_image

import companion
from companion.config import FAST, scaled
from companion.synthetic.actions import CLASSES, REVERSAL_PAIRS, ActionClips

companion.seed_everything(0)
torch.set_num_threads(2)

# %% [markdown]
# ## Optical flow from a classical method
#
# OpenCV's DIS (dense inverse search) gives a dense flow field per frame pair in a fraction of a
# millisecond at this size. `companion.models.flow_stack` makes the $2L$-channel input: channels
# $(u_1, v_1, u_2, v_2, \dots)$, in pixels, with each field's mean removed (the paper's crude
# camera-motion compensation). The flow function is pluggable: `"dis"`, `"farneback"`, `"raft"`
# (the companion's RAFT from 26.4, once its weights ship), or any `f(frame0, frame1) -> (H, W, 2)`.

# %%
from companion.models import flow_stack

L = 6
clips = ActionClips(8, seed=4, num_frames=8, size=64)
fig, axes = plt.subplots(4, 4, figsize=(8, 8))
for row, c in enumerate([0, 1, 2, 4]):
    clip, _ = clips[c]
    fl = flow_stack(clip, num_flows=L, method="dis")          # (2L, H, W)
    pair = fl.reshape(L, 2, 64, 64)
    axes[row, 0].imshow(clip[:, 1].permute(1, 2, 0))
    axes[row, 0].set_ylabel(CLASSES[c], fontsize=8)
    for j, k in enumerate([0, 2, 5]):
        axes[row, j + 1].imshow(flow_to_image(pair[k]).permute(1, 2, 0))
        axes[row, j + 1].set_title(f"flow {k}→{k + 1}", fontsize=8)
for ax in axes.flat:
    ax.set_xticks([]), ax.set_yticks([])
plt.tight_layout()
plt.show()
print("flow stack shape:", tuple(fl.shape))

# %% [markdown]
# Colour encodes direction (Middlebury wheel), saturation the speed. `move_left` and `move_right`
# give opposite colours on the actor: the flow stack separates the reversal pair that a per-frame RGB
# model cannot.
#
# ## Cross-modality initialisation
#
# The temporal stream is the same 2D architecture as the spatial one, but its first convolution takes
# $2L$ channels instead of 3. TSN (Wang et al., 2016) initialised it from the RGB network anyway:
# average the first-layer kernel over its three colour channels and copy that average to each of the
# $2L$ flow channels; all later layers are copied as they are.

# %%
from companion.models import cross_modality_init, two_stream


def my_cross_modality(w_rgb, channels):
    return w_rgb.mean(dim=1, keepdim=True).repeat(1, channels, 1, 1)


model = two_stream(num_classes=8, num_flows=L, widths=(8, 16, 32, 64))
torch.testing.assert_close(my_cross_modality(model.rgb.conv1.weight, 2 * L), model.flow.conv1.weight)
torch.testing.assert_close(my_cross_modality(model.rgb.conv1.weight, 2 * L),
                           cross_modality_init(model.rgb.conv1.weight, 2 * L))
print("flow stream conv1:", tuple(model.flow.conv1.weight.shape), "= RGB conv1 averaged over colour, copied", 2 * L, "times")

# %% [markdown]
# ## Late fusion, checked by hand
#
# The model returns the log of the weighted average of the two streams' softmax scores:

# %%
rgb, flow = torch.rand(2, 3, 32, 32), torch.randn(2, 2 * L, 32, 32)
model.eval()
with torch.no_grad():
    fused = model(rgb, flow).exp()
    by_hand = 0.5 * model.rgb(rgb).softmax(1) + 0.5 * model.flow(flow).softmax(1)
torch.testing.assert_close(fused, by_hand)
print("fused scores sum to", fused.sum(1).tolist())

# %% [markdown]
# ## Training on the synthetic clips
#
# `TwoStreamClips` wraps the clip data set: the middle frame of the flow window plus the $2L$ flow
# channels, computed once. We train the fused network end to end, then score each stream alone and the
# fusion on held-out clips.

# %%
from companion.models import TwoStreamClips
from companion.training import evaluate, fit, predict

N_TRAIN, N_TEST, EPOCHS = scaled(768, 48), scaled(512, 48), scaled(8, 1)
train = TwoStreamClips(ActionClips(N_TRAIN, seed=0, num_frames=8, size=32), L, "dis", progress=True)
test = TwoStreamClips(ActionClips(N_TEST, seed=1, num_frames=8, size=32), L, "dis", progress=True)
companion.seed_everything(0)
model = two_stream(num_classes=8, num_flows=L, widths=(8, 16, 32, 64))
hist = fit(model, train, test, epochs=EPOCHS, batch_size=32, lr=3e-3, weight_decay=1e-4, seed=0, desc="two-stream")
hist.plot(label="two-stream")
plt.tight_layout()
plt.show()

# %%
class Stream(torch.nn.Module):
    def __init__(self, model, which):
        super().__init__()
        self.model, self.which = model, which

    def forward(self, x):
        return self.model.stream_logits(x)[self.which]


scores = {"spatial stream (RGB frame)": evaluate(Stream(model, 0), test, num_classes=8),
          "temporal stream (flow)": evaluate(Stream(model, 1), test, num_classes=8),
          "late fusion": evaluate(model, test, num_classes=8)}
for k, v in scores.items():
    print(f"{k:<28} held-out accuracy {v['acc']:.3f}")

# %% [markdown]
# The spatial stream alone is at best at pair level (it sees one frame); the temporal stream carries
# the direction of time, and the fusion keeps the best of both.
#
# ## RAFT instead of DIS
#
# Section 26.4 builds RAFT. When its trained weights are present, `flow_method="raft"` swaps it in
# (frames are upsampled to RAFT's minimum of 128 pixels and the flow scaled back):

# %%
try:
    fl_raft = flow_stack(clips[0][0], num_flows=2, method="raft")
    fl_dis = flow_stack(clips[0][0], num_flows=2, method="dis")
    print("RAFT flow stack:", tuple(fl_raft.shape), "| mean |RAFT − DIS| (px):",
          f"{(fl_raft - fl_dis).abs().mean():.3f}")
except (FileNotFoundError, ValueError, ImportError) as exc:
    print("RAFT not available here:", exc)

# %% [markdown]
# ## Exercise
#
# Write the cross-modality initialisation (without peeking at `my_cross_modality` above!).

# %%
from companion.exercises import ex26_2 as ex


def my_cross(w_rgb, channels):
    # your code: (C_out, 3, k, k) -> (C_out, channels, k, k)
    raise NotImplementedError


ex.q5.check(my_cross)
