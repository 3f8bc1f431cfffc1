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
# # 26.2.3 — I3D: inflating a 2D network into a 3D one
#
# Training a 3D network from scratch needs a video data set the size of ImageNet. Carreira &
# Zisserman (CVPR 2017) side-stepped that: take a network trained on images and **inflate** it —
# every $k\times k$ kernel becomes a $t\times k\times k$ kernel — so the 3D network *starts* as a
# good image model and only has to learn time.
#
# How should the $t$ time slices be initialised? The answer comes from a test any inflation should
# pass, the **static-clip test** ("boring video" in the paper): a clip made of one frame repeated
# $T$ times must give the same prediction as the 2D network on that frame.

# %%
import copy

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import companion
from companion.config import scaled

companion.seed_everything(0)
torch.set_num_threads(2)

# %% [markdown]
# ## Inflating one kernel
#
# On a static clip every time slice of a 3D kernel sees the same image, so the 3D response is the
# sum of the $t$ slices' responses. Copy $W$ into every slice and divide by $t$:
# $\sum_{\tau} W/t = W$, the 2D response exactly.

# %%
w2d = torch.randn(4, 3, 3, 3)
t = 3
w3d = w2d.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
frame = torch.randn(1, 3, 16, 16)
static = frame.unsqueeze(2).repeat(1, 1, 5, 1, 1)
out2d = F.conv2d(frame, w2d, padding=1)
out3d = F.conv3d(static, w3d, padding=(0, 1, 1))  # no temporal padding: 3 valid time steps
print("max |3D - 2D| per time step:", (out3d - out2d.unsqueeze(2)).abs().amax(dim=(0, 1, 3, 4)))

# %% [markdown]
# ## Padding in time: the detail that makes the proof exact
#
# A real network pads time so the clip keeps its length. With **zero** padding the first and last
# time steps see $(t-1)/t$ of a black frame; the error then grows through every layer. With
# **replication** padding the padded frames equal their neighbours — a static clip stays static at
# every depth, and the test holds exactly. We inflate a whole torchvision ResNet-18 both ways.

# %%
class InflatedConv(nn.Conv3d):
    def __init__(self, conv2d, t, replicate=True):
        kt = t if max(conv2d.kernel_size) > 1 else 1
        pad_t = kt // 2
        super().__init__(conv2d.in_channels, conv2d.out_channels, (kt, *conv2d.kernel_size),
                         (1, *conv2d.stride), (0 if replicate else pad_t, *conv2d.padding),
                         bias=conv2d.bias is not None)
        self.pad_t = pad_t if replicate else 0
        with torch.no_grad():
            self.weight.copy_(conv2d.weight.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt)
            if conv2d.bias is not None:
                self.bias.copy_(conv2d.bias)

    def forward(self, x):
        if self.pad_t:
            x = F.pad(x, (0, 0, 0, 0, self.pad_t, self.pad_t), mode="replicate")
        return super().forward(x)


def my_inflate(module, t=3, replicate=True):
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            new = InflatedConv(child, t, replicate)
        elif isinstance(child, nn.BatchNorm2d):
            new = nn.BatchNorm3d(child.num_features, child.eps)
            new.load_state_dict(child.state_dict())
        elif isinstance(child, nn.MaxPool2d):
            new = nn.MaxPool3d((1, child.kernel_size, child.kernel_size), (1, child.stride, child.stride),
                               (0, child.padding, child.padding))
        elif isinstance(child, nn.AdaptiveAvgPool2d):
            new = nn.AdaptiveAvgPool3d(1)
        else:
            new = my_inflate(child, t, replicate)
        setattr(module, name, new)
    return module


net2d = torchvision.models.resnet18(num_classes=10)
g = torch.Generator().manual_seed(0)
with torch.no_grad():  # give BatchNorm non-trivial statistics so eval mode is a real test
    for m in net2d.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2, generator=g)
            m.running_var.uniform_(0.5, 1.5, generator=g)
net2d.eval()
rep = my_inflate(copy.deepcopy(net2d), replicate=True).eval()
zero = my_inflate(copy.deepcopy(net2d), replicate=False).eval()

size, T = scaled(112, 64), 8
img = torch.randn(2, 3, size, size)
clip = img.unsqueeze(2).repeat(1, 1, T, 1, 1)
with torch.no_grad():
    logits2d = net2d(img)
    d_rep = (rep(clip) - logits2d).abs().max().item()
    d_zero = (zero(clip) - logits2d).abs().max().item()
print(f"|logits| up to {logits2d.abs().max():.2f}")
print(f"static-clip test, replication padding: max diff {d_rep:.2e}")
print(f"static-clip test, zero padding:        max diff {d_zero:.2e}")
assert d_rep <= 1e-4 and d_zero > 100 * d_rep

# %% [markdown]
# Where does zero padding go wrong? Compare the per-time-step features after the first stage:
# the two ends of the clip drift away, the middle is untouched (until deeper layers spread the error).

# %%
with torch.no_grad():
    def stage1(net):
        n = net
        return n.layer1(n.maxpool(n.relu(n.bn1(n.conv1(clip)))))

    want = net2d.layer1(net2d.maxpool(net2d.relu(net2d.bn1(net2d.conv1(img))))).unsqueeze(2)
    err_rep = (stage1(rep) - want).abs().amax(dim=(0, 1, 3, 4))
    err_zero = (stage1(zero) - want).abs().amax(dim=(0, 1, 3, 4))
plt.figure(figsize=(5, 3))
plt.semilogy(err_zero.clamp_min(1e-9), "o-", label="zero padding")
plt.semilogy(err_rep.clamp_min(1e-9), "s-", label="replication padding")
plt.xlabel("time step"), plt.ylabel("max |3D − 2D| after layer1"), plt.legend(), plt.tight_layout()
plt.show()

# %% [markdown]
# ## The companion's `inflate`
#
# `companion.models.inflate(model2d)` does the same for any network built from `Conv2d`,
# `BatchNorm2d`, pooling and linear layers (tested on torchvision ResNet-18 and ResNet-50), keeps the
# 2D model untouched, uses a 5-frame kernel for the stem by default (as I3D did) and checks its input.
# It must agree with the inline version when given the same time kernels:

# %%
from companion.models import inflate

i3d = inflate(net2d, time_kernel=3, stem_time_kernel=3).eval()
with torch.no_grad():
    torch.testing.assert_close(i3d(clip), rep(clip))
    d50 = None
    net50 = torchvision.models.resnet50(num_classes=10).eval()
    img50 = torch.randn(1, 3, 64, 64)
    d50 = (inflate(net50).eval()(img50.unsqueeze(2).repeat(1, 1, 4, 1, 1)) - net50(img50)).abs().max().item()
print(f"companion inflate == inline inflate; ResNet-50 static-clip max diff {d50:.2e}")
try:
    i3d(img)
except ValueError as e:
    print("a 4-D input is rejected:", e)

# %% [markdown]
# Once inflated, the network is an ordinary 3D CNN: fine-tune it on clips and its kernels learn to
# use the time axis, starting from the image model's knowledge instead of from noise. (I3D also ran an
# inflated network on optical flow: the *two-stream I3D*, 71.1 → 74.2 top-1 on Kinetics-400 — the
# next notebook's idea.)
#
# ## Exercise
#
# Write the weight inflation for one kernel.

# %%
from companion.exercises import ex26_2 as ex


def my_inflate_weight(w2d, t):
    # your code: (C_out, C_in, k, k) -> (C_out, C_in, t, k, k)
    raise NotImplementedError


ex.q3.check(my_inflate_weight)
