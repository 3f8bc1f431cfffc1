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
# # 26.2.5 — SlowFast: two frame rates, two budgets
#
# Appearance changes slowly; motion is fast. SlowFast (Feichtenhofer et al., ICCV 2019) gives each its
# own pathway:
#
# * **slow**: few frames ($T$), many channels ($C$), spatial-only kernels in the early stages;
# * **fast**: $\alpha$ times more frames ($\alpha T$, with $\alpha$ = 4 or 8), only $\beta$ of the
#   channels ($\beta$ = 1/8), temporal kernels everywhere, time never downsampled. It costs about 20%
#   of the total compute and carries the motion;
# * **lateral connections** feed fast → slow after the stem and after stages 1–3. Their time axes
#   differ by $\alpha$, so the lateral is a **time-strided convolution**: kernel $k\times1\times1$
#   ($k$ = 5), stride $\alpha$, padding $k/2$, channels $\beta C \to 2\beta C$, concatenated to the
#   slow features.
#
# The fast pathway must therefore have *exactly* $\alpha$ times the slow pathway's frames. Getting
# this wrong is the most common SlowFast crash in practice (see pytorchvideo issues #224 and #230).

# %%
import torch
from torch import nn

import companion
from companion.config import scaled

companion.seed_everything(0)
torch.set_num_threads(2)

# %% [markdown]
# ## The lateral connection, inline
#
# For fast features $(B, \beta C, \alpha T, H, W)$ the time-strided conv gives
# $T' = \lfloor(\alpha T + 2\lfloor k/2\rfloor - k)/\alpha\rfloor + 1 = T$ for odd $k$ — exactly
# the slow pathway's length, so the two can be concatenated along channels.

# %%
alpha, beta, C, T = 4, 1 / 8, 64, 4
c_fast = int(beta * C)
lateral = nn.Conv3d(c_fast, 2 * c_fast, kernel_size=(5, 1, 1), stride=(alpha, 1, 1), padding=(2, 0, 0), bias=False)
fast_feat = torch.randn(2, c_fast, alpha * T, 14, 14)
slow_feat = torch.randn(2, C, T, 14, 14)
fused = torch.cat([slow_feat, lateral(fast_feat)], dim=1)
print("fast", tuple(fast_feat.shape), "-> lateral", tuple(lateral(fast_feat).shape), "-> fused slow", tuple(fused.shape))

# %% [markdown]
# ## A two-pathway network, inline
#
# A deliberately tiny version — one conv per pathway per stage, a lateral before each stage — to see
# the data flow; then the companion's `SlowFast` with residual blocks.

# %%
class TinySlowFast(nn.Module):
    def __init__(self, num_classes=8, alpha=4, beta=1 / 4, widths=(16, 32)):
        super().__init__()
        self.alpha = alpha
        fw = [int(beta * w) for w in widths]
        self.slow_stem = nn.Conv3d(3, widths[0], (1, 5, 5), (1, 2, 2), (0, 2, 2))
        self.fast_stem = nn.Conv3d(3, fw[0], (5, 5, 5), (1, 2, 2), (2, 2, 2))
        self.lat = nn.ModuleList([nn.Conv3d(f, 2 * f, (5, 1, 1), (alpha, 1, 1), (2, 0, 0)) for f in fw])
        self.slow = nn.ModuleList([nn.Conv3d(widths[0] + 2 * fw[0], widths[1], (1, 3, 3), (1, 2, 2), (0, 1, 1))])
        self.fast = nn.ModuleList([nn.Conv3d(fw[0], fw[1], 3, (1, 2, 2), 1)])
        self.fc = nn.Linear(widths[1] + 2 * fw[1] + fw[1], num_classes)

    def forward(self, clip):
        if clip.shape[2] % self.alpha:
            raise ValueError(f"need a multiple of alpha={self.alpha} frames, got {clip.shape[2]}")
        s, f = torch.relu(self.slow_stem(clip[:, :, ::self.alpha])), torch.relu(self.fast_stem(clip))
        s = torch.relu(self.slow[0](torch.cat([s, self.lat[0](f)], 1)))
        f = torch.relu(self.fast[0](f))
        s = torch.cat([s, self.lat[1](f)], 1)
        return self.fc(torch.cat([s.mean((2, 3, 4)), f.mean((2, 3, 4))], 1))


tiny = TinySlowFast()
print("TinySlowFast logits:", tuple(tiny(torch.rand(2, 3, 16, 32, 32)).shape))

# %% [markdown]
# ## The companion's SlowFast, checked against the inline lateral
#
# `companion.models.SlowFast` / `slowfast()` has basic residual blocks, laterals with BatchNorm and
# ReLU, the slow pathway temporal only in its last two stages, and the fast pathway temporal
# everywhere. Copying our inline lateral's weights into its first lateral conv must give the same
# pre-normalisation output, and `lateral_output_shape` predicts every lateral's output shape:

# %%
from companion.models import SlowFast, lateral_output_shape, slowfast

sf = slowfast(num_classes=8, alpha=4, beta=1 / 4, widths=(16, 32, 64, 128)).eval()
lat_conv = sf.laterals[0].conv
mine = nn.Conv3d(lat_conv.in_channels, lat_conv.out_channels, (5, 1, 1), (4, 1, 1), (2, 0, 0), bias=False)
mine.load_state_dict(lat_conv.state_dict())
x = torch.randn(2, lat_conv.in_channels, 16, 16, 16)
torch.testing.assert_close(mine(x), lat_conv(x))
assert tuple(lat_conv(x).shape) == lateral_output_shape(x.shape, alpha=4, kernel=5)

clip = torch.rand(2, 3, 16, 32, 32)
with torch.no_grad():
    a = sf(clip)                               # slow pathway = every 4th frame
    b = sf([clip[:, :, ::4], clip])            # or give both pathways explicitly
torch.testing.assert_close(a, b)
print("companion SlowFast:", tuple(a.shape), f"{sum(p.numel() for p in sf.parameters()):,} params")

# %% [markdown]
# ## The frame-count contract
#
# A clear error beats a shape mismatch deep inside a `torch.cat`:

# %%
for bad in ([clip[:, :, ::4], clip[:, :, :12]], clip[:, :, :14]):
    try:
        sf(bad)
    except ValueError as e:
        print("ValueError:", e)

# %% [markdown]
# ## Where the compute goes
#
# With $\alpha = 8, \beta = 1/8$ (the paper's setting) on a 32-frame input, how much of the FLOPs does
# the fast pathway take? Count with `FlopCounterMode` on the `meta` device for the full network and for
# the same network with the fast pathway's channels shrunk to almost nothing.

# %%
from companion.models.cost import gmacs

full = SlowFast(num_classes=400, alpha=8, beta=1 / 8)
x32 = torch.zeros(1, 3, 32, 112, 112)
g_full = gmacs(full, x32)
slow_only = gmacs(SlowFast(num_classes=400, alpha=8, beta=1 / 64), x32)
print(f"SlowFast (basic blocks, α=8, β=1/8): {g_full:.2f} GMACs; with a (nearly) empty fast pathway {slow_only:.2f}: "
      f"the fast pathway and its laterals cost ≈ {100 * (g_full - slow_only) / g_full:.0f}%")

# %% [markdown]
# Training a small SlowFast on the synthetic clips is part of the measured card in notebook 26.2.6.
#
# ## Exercise
#
# Write the shape after a lateral connection.

# %%
from companion.exercises import ex26_2 as ex


def my_lateral_shape(fast_shape, alpha, kernel=5, channel_ratio=2):
    # your code: (B, C, T_fast, H, W) -> (B, ratio·C, T', H, W)
    raise NotImplementedError


ex.q4.check(my_lateral_shape)
