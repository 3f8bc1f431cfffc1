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
# # 26.2.2 — R3D, MC3 and R(2+1)D: three ways to spend a 3×3×3 budget
#
# Tran et al. (CVPR 2018) took an 18-layer ResNet and asked where temporal modelling should live:
#
# * **R3D** — every 3×3 spatial kernel becomes a full 3×3×3 space-time kernel;
# * **MC3** (*mixed convolutions*) — 3D kernels only in the first stage, spatial-only 1×3×3 after;
# * **R(2+1)D** — each 3×3×3 kernel is *factorised*: a 1×3×3 spatial conv to `mid` channels,
#   BatchNorm + ReLU, then a 3×1×1 temporal conv. Same parameter budget, twice the non-linearities,
#   and an easier optimisation; it was the most accurate of the three on Kinetics (67.5 vs 63.2 top-1
#   for the torchvision 18-layer versions).
#
# We build R(2+1)D-18 here in a few dozen lines, with module names chosen so that torchvision's
# state dict loads with `strict=True`, and prove it computes the same function.

# %%
import torch
from torch import nn
from torchvision.models import video as tv

import companion
from companion.config import scaled

companion.seed_everything(0)
torch.set_num_threads(2)

# %% [markdown]
# ## The mid-channel formula
#
# A 3×3×3 conv from $C_{in}$ to $C_{out}$ channels has $27\,C_{in}C_{out}$ weights. The factorised
# pair has $9\,C_{in}M$ (spatial) $+\ 3\,M C_{out}$ (temporal). Setting them equal:
#
# $$M = \left\lfloor \frac{27\,C_{in} C_{out}}{9\,C_{in} + 3\,C_{out}} \right\rfloor .$$
#
# One subtlety decides whether the parameter count comes out right: torchvision computes $M$ **once
# per residual block** from the block's `(inplanes, planes)` and uses it for *both* of the block's
# convolutions — also the second one, whose input is `planes`, not `inplanes`. A per-conv formula
# gives a different network.

# %%
def mid_channels(cin, cout):
    return (cin * cout * 27) // (cin * 9 + 3 * cout)


for cin, cout in [(64, 64), (64, 128), (128, 128), (128, 256), (256, 512), (512, 512)]:
    print(f"block {cin:>3} -> {cout:>3}: mid = {mid_channels(cin, cout)}")

# %% [markdown]
# ## R(2+1)D-18, inline
#
# Stem: (1×7×7, stride 2 in space) 3→45, then (3×1×1) 45→64. Four stages of two residual blocks,
# widths 64/128/256/512; stages 2–4 halve time *and* space in their first block (the factorised
# conv puts the spatial stride on the spatial conv and the temporal stride on the temporal one).

# %%
def conv2plus1d(cin, cout, mid, stride=1):
    return nn.Sequential(
        nn.Conv3d(cin, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
        nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
        nn.Conv3d(mid, cout, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False))


class Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        mid = mid_channels(cin, cout)  # once per block, shared by both convs
        self.conv1 = nn.Sequential(conv2plus1d(cin, cout, mid, stride), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(conv2plus1d(cout, cout, mid), nn.BatchNorm3d(cout))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x):
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + skip)


class MyR2Plus1D18(nn.Module):
    def __init__(self, num_classes=400):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False), nn.BatchNorm3d(45), nn.ReLU(inplace=True),
            nn.Conv3d(45, 64, (3, 1, 1), 1, (1, 0, 0), bias=False), nn.BatchNorm3d(64), nn.ReLU(inplace=True))
        widths, cin = [64, 128, 256, 512], 64
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(Block(cin, w, stride), Block(w, w)))
            cin = w
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


mine = MyR2Plus1D18()
print(f"parameters: {sum(p.numel() for p in mine.parameters()):,} (torchvision: 31,505,325)")

# %% [markdown]
# ## Proof of equality
#
# Load torchvision's (randomly initialised) weights with `strict=True` — every name and shape must
# match — give the BatchNorms non-trivial statistics so that eval mode is a real test, and compare
# the logits on the same clip. Then the same against the companion's `r2plus1d_18`, and the parameter
# counts of all three torchvision video ResNets.

# %%
from companion.models import mc3_18, r2plus1d_18, r3d_18

ref = tv.r2plus1d_18()
g = torch.Generator().manual_seed(0)
with torch.no_grad():
    for m in ref.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-0.2, 0.2, generator=g)
            m.running_var.uniform_(0.5, 1.5, generator=g)
    ref.fc.weight.normal_(0, 0.5, generator=g)
mine.load_state_dict(ref.state_dict(), strict=True)
theirs = r2plus1d_18()
theirs.load_state_dict(ref.state_dict(), strict=True)
for m in (ref, mine, theirs):
    m.eval()

frames, size = scaled(16, 8), scaled(112, 64)
clip = torch.randn(1, 3, frames, size, size)
with torch.no_grad():
    out_ref, out_mine, out_comp = ref(clip), mine(clip), theirs(clip)
torch.testing.assert_close(out_mine, out_ref)
torch.testing.assert_close(out_comp, out_ref)
print(f"max |inline - torchvision| {(out_mine - out_ref).abs().max():.2e}, "
      f"max |companion - torchvision| {(out_comp - out_ref).abs().max():.2e}")

for name, ours_fn, ref_fn, expected in [("r3d_18", r3d_18, tv.r3d_18, 33_371_472),
                                        ("mc3_18", mc3_18, tv.mc3_18, 11_695_440),
                                        ("r2plus1d_18", r2plus1d_18, tv.r2plus1d_18, 31_505_325)]:
    n = sum(p.numel() for p in ours_fn().parameters())
    assert n == expected
    print(f"{name:<12} companion {n:,} parameters (expected {expected:,})")

# %% [markdown]
# ## Where do the parameters live?
#
# MC3-18 has a third of R3D-18's parameters — its three later stages, where channels are wide, use
# 1×3×3 kernels — yet slightly *more* FLOPs, because its stage-1 3D convolutions run at full temporal
# resolution and it never downsamples time. The FLOPs below come from `torch.utils.flop_counter`
# (÷2 = multiply-accumulates, torchvision's "GFLOPS"), counted on the `meta` device (no arithmetic).

# %%
from companion.models.cost import gmacs

x16 = torch.zeros(1, 3, 16, 112, 112)
for name, fn, w in [("r3d_18", r3d_18, tv.R3D_18_Weights), ("mc3_18", mc3_18, tv.MC3_18_Weights),
                    ("r2plus1d_18", r2plus1d_18, tv.R2Plus1D_18_Weights)]:
    model = fn()
    per_stage = {k: sum(p.numel() for p in getattr(model, k).parameters()) / 1e6
                 for k in ["stem", "layer1", "layer2", "layer3", "layer4", "fc"]}
    print(f"{name:<12} {gmacs(model, x16):6.3f} GMACs (torchvision {w.KINETICS400_V1.meta['_ops']}) | params (M): "
          + ", ".join(f"{k} {v:.2f}" for k, v in per_stage.items()))

# %% [markdown]
# ## Small variants for the synthetic clips
#
# `video_resnet(family)` builds the same three designs at a width and depth that train on a CPU in
# minutes; notebook 26.2.6 trains them side by side. A quick look at their size:

# %%
from companion.models import video_resnet

for fam in ["r3d", "mc3", "r2plus1d", "r2d"]:
    m = video_resnet(fam, num_classes=8, widths=(8, 16, 32, 64))
    print(f"{fam:<9} {sum(p.numel() for p in m.parameters()):>8,} params, "
          f"{gmacs(m, torch.zeros(1, 3, 8, 32, 32)) * 1e3:6.1f} MMACs per 8×32×32 clip")

# %% [markdown]
# ## Exercise
#
# Implement the mid-channel formula (check it against the values printed above).

# %%
from companion.exercises import ex26_2 as ex


def my_mid(c_in, c_out):
    # your code
    raise NotImplementedError


ex.q2.check(my_mid)
