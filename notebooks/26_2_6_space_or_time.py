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
# # 26.2.6 — Space or time: where do I spend? The measured card
#
# Every design of this section spends a compute budget differently between *space* (spatial
# kernels, channels, resolution) and *time* (temporal kernels, frames, flow). This notebook measures
# them side by side, live, on the same input:
#
# * **cost** of the full-size model on one 16×112×112 clip: parameters, FLOPs (counted by
#   `torch.utils.flop_counter`, reported as GMACs = FLOPs ÷ 2, torchvision's "GFLOPS" convention),
#   CPU latency and peak memory of a forward pass;
# * **benefit** on the synthetic action task (where time is the whole story): held-out accuracy of a
#   small member of each family, trained with the same loop, data and budget.
#
# Families: per-frame 2D CNN · C3D · R3D · MC3 · R(2+1)D · I3D (inflated 2D) · two-stream · SlowFast.

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torchvision
from tqdm.auto import tqdm
from torchvision.models import video as tv

import companion
from companion.bench import median_time, peak_memory
from companion.config import FAST, scaled
from companion.models import (SlowFast, TwoStreamClips, c3d, frame_cnn, inflate, mc3_18, r2plus1d_18, r3d_18,
                              slowfast, small_cnn2d, two_stream, video_resnet)
from companion.models.cost import count_params, gmacs
from companion.synthetic.actions import ActionClips
from companion.training import evaluate, fit

companion.seed_everything(0)
torch.set_num_threads(2)

# %% [markdown]
# ## 1. Cost of the full-size models
#
# All take a 16×112×112 RGB clip and output 400 classes. The per-frame 2D model is a ResNet-18 on
# each frame; I3D is that ResNet-18 inflated; two-stream is two ResNet-18s, one on the middle frame and
# one on 10 stacked flow fields (20 channels) — its FLOPs exclude computing the flow; SlowFast uses
# basic blocks (R18-like widths, α = 4, β = 1/8: slow 4 frames, fast 16).
#
# FLOPs are counted on the `meta` device for the true 16×112×112 input in both modes; latency and
# memory use a smaller clip in fast mode.

# %%
def full_models():
    r18 = torchvision.models.resnet18(num_classes=400)
    return {
        "2D per-frame (ResNet-18)": frame_cnn(num_classes=400, backbone="resnet18"),
        "C3D": c3d(num_classes=400, size=LAT_SIZE),
        "R3D-18": r3d_18(),
        "MC3-18": mc3_18(),
        "R(2+1)D-18": r2plus1d_18(),
        "I3D (inflated ResNet-18)": inflate(r18),
        "two-stream (2×ResNet-18, L=10)": two_stream(num_classes=400, num_flows=10, backbone="resnet18"),
        "SlowFast (R18-like, α=4, β=1/8)": SlowFast(num_classes=400, alpha=4, beta=1 / 8),
    }


def model_input(name, clip):
    """Two-stream takes the middle frame + 2L flow channels; every other model takes the clip."""
    if name.startswith("two-stream"):
        B, _, T, H, W = clip.shape
        return torch.cat([clip[:, :, T // 2], torch.randn(B, 20, H, W)], dim=1)
    return clip


LAT_T, LAT_SIZE, REPEATS = 16, scaled(112, 32), scaled(5, 1)
flop_clip = torch.zeros(1, 3, 16, 112, 112)
lat_clip = torch.rand(1, 3, LAT_T, LAT_SIZE, LAT_SIZE)
rows = []
for name, model in tqdm(full_models().items(), desc="full-size models"):
    model.eval()
    g_model = model if not name.startswith("C3D") else c3d(num_classes=400)
    g = gmacs(g_model, model_input(name, flop_clip))
    x = model_input(name, lat_clip)
    with torch.no_grad():
        lat = median_time(lambda: model(x), repeats=REPEATS, warmup=scaled(1, 0))
        mem = peak_memory(lambda: model(x))
    rows.append({"family": name, "params (M)": count_params(g_model) / 1e6, "GMACs (16×112²)": g,
                 f"CPU latency (ms, {LAT_T}×{LAT_SIZE}²)": lat * 1e3, "peak memory (MB)": mem / 2**20})
cost = pd.DataFrame(rows).set_index("family")
cost.round(2)

# %% [markdown]
# The FLOP counter reproduces torchvision's published figures for its three video ResNets exactly:

# %%
for name, w in [("R3D-18", tv.R3D_18_Weights), ("MC3-18", tv.MC3_18_Weights), ("R(2+1)D-18", tv.R2Plus1D_18_Weights)]:
    ours, theirs = cost.loc[name, "GMACs (16×112²)"], w.KINETICS400_V1.meta["_ops"]
    print(f"{name:<11} counted {ours:.3f} GMACs, torchvision metadata {theirs}")
    assert abs(ours - theirs) < 1e-3

# %% [markdown]
# ## 2. Benefit on the synthetic task
#
# A small member of each family (widths 8–64, one block per stage) is trained on the same 8-frame
# 32×32 clips with the same loop (`companion.training.fit`: AdamW, cosine schedule, same epochs,
# same seed), then scored on held-out clips. Two-stream gets its flow (DIS, L = 6) precomputed.

# %%
T, SIZE, L = 8, 32, 6
N_TRAIN, N_TEST, EPOCHS = scaled(1536, 32), scaled(512, 32), scaled(6, 1)
W = (8, 16, 32, 64)
small = {
    "2D per-frame (ResNet-18)": lambda: frame_cnn(num_classes=8, widths=W),
    "C3D": lambda: c3d(num_classes=8, width=8, fc_width=128, num_frames=16, size=SIZE),
    "R3D-18": lambda: video_resnet("r3d", num_classes=8, widths=W),
    "MC3-18": lambda: video_resnet("mc3", num_classes=8, widths=W),
    "R(2+1)D-18": lambda: video_resnet("r2plus1d", num_classes=8, widths=W),
    "I3D (inflated ResNet-18)": lambda: inflate(small_cnn2d(num_classes=8, widths=W), stem_time_kernel=3),
    "two-stream (2×ResNet-18, L=10)": lambda: two_stream(num_classes=8, num_flows=L, widths=W),
    # at these tiny widths β = 1/8 would leave the fast pathway one channel wide: use β = 1/2
    "SlowFast (R18-like, α=4, β=1/8)": lambda: slowfast(num_classes=8, alpha=4, beta=1 / 2, widths=W),
}
data = {"clip": (ActionClips(N_TRAIN, 0, T, SIZE, cache=True), ActionClips(N_TEST, 1, T, SIZE, cache=True)),
        # C3D pools time four times: it needs 16 frames
        "clip16": (ActionClips(N_TRAIN, 0, 16, SIZE, cache=True), ActionClips(N_TEST, 1, 16, SIZE, cache=True))}
data["flow"] = (TwoStreamClips(data["clip"][0], L, "dis", progress=True), TwoStreamClips(data["clip"][1], L, "dis", progress=True))

results, histories = [], {}
for name, build in small.items():
    kind = "flow" if name.startswith("two-stream") else ("clip16" if name == "C3D" else "clip")
    train, test = data[kind]
    companion.seed_everything(0)
    model = build()
    cpu0, t0 = time.process_time(), time.perf_counter()
    histories[name] = fit(model, train, None, epochs=EPOCHS, batch_size=32, lr=3e-3, weight_decay=1e-4, seed=0,
                          desc=name.split(" (")[0])
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    ev = evaluate(model, test, num_classes=8)
    x = train[0][0][None]
    results.append({"family": name, "small params (k)": count_params(model) / 1e3,
                    "small MMACs / clip": gmacs(model, x) * 1e3, "held-out acc": ev["acc"],
                    "train wall (s)": wall, "train CPU (s)": cpu})
bench = pd.DataFrame(results).set_index("family")
bench.round(3)

# %% [markdown]
# ## 3. The card

# %%
card = cost.join(bench)
card.round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for name, r in bench.iterrows():
    axes[0].scatter(r["small MMACs / clip"], r["held-out acc"], s=40)
    axes[0].annotate(name.split(" (")[0], (r["small MMACs / clip"], r["held-out acc"]), fontsize=8,
                     xytext=(4, 3), textcoords="offset points")
axes[0].set(xscale="log", xlabel="MMACs per 8×32×32 clip (small variants)", ylabel="held-out accuracy",
            title="synthetic task: accuracy vs FLOPs", ylim=(0, 1.05))
axes[0].axhline(1 / 8, ls=":", c="gray")
for name, r in cost.iterrows():
    axes[1].scatter(r["GMACs (16×112²)"], r[f"CPU latency (ms, {LAT_T}×{LAT_SIZE}²)"], s=40)
    axes[1].annotate(name.split(" (")[0], (r["GMACs (16×112²)"], r[f"CPU latency (ms, {LAT_T}×{LAT_SIZE}²)"]),
                     fontsize=8, xytext=(4, 3), textcoords="offset points")
axes[1].set(xlabel="GMACs (16×112×112)", ylabel="CPU latency (ms)", title="full-size models: cost")
for ax in axes:
    ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()

# %% [markdown]
# Reading the card:
#
# * **Time is not optional.** The per-frame model is capped at the pair level on this task
#   (≈ 50%): it spends everything on space. Any design that spends *something* on time — 3D kernels
#   (C3D, R3D, I3D), factorised kernels (R(2+1)D), early-only 3D (MC3), a flow input (two-stream) or
#   a second frame rate (SlowFast) — can separate the reversal pairs.
# * **Where time is spent changes the bill.** MC3 keeps 3D kernels only in the first stage and
#   costs a third of R3D's parameters for similar FLOPs; R(2+1)D has R3D's parameters and FLOPs but
#   two non-linearities per kernel; SlowFast's fast pathway adds motion for a small fraction of the
#   FLOPs; two-stream's motion comes from an optical-flow algorithm whose cost is not in its FLOPs.
# * **Normalisation matters as much as kernels.** In our full-mode run the small C3D — a plain stack
#   of eight 3×3×3 convolutions *without* BatchNorm — did not train at all under the shared recipe
#   (chance, 0.125), while every BatchNorm family did: measured held-out accuracies were 2D 0.375,
#   R3D 0.984, R(2+1)D 0.963, SlowFast 0.908, MC3 0.859, I3D 0.813, two-stream 0.650.
# * **FLOPs are not latency.** Small-channel 3D convolutions and the (2+1)D split run at lower
#   arithmetic efficiency on a CPU than their FLOP count suggests — measure.
#
# ## Exercise
#
# Use the SlowFast lateral shape (q4) to check that the card's SlowFast pathways line up: with
# α = 4 and a 16-frame input, what shape leaves the first lateral for fast features (1, 8, 16, 28, 28)?

# %%
from companion.exercises import ex26_2 as ex

answer = ...  # e.g. your my_lateral_shape((1, 8, 16, 28, 28), 4) from notebook 26.2.5, as a function
ex.q4.check(answer)
