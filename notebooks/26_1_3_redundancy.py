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
# # 26.1.3 Temporal redundancy, measured
#
# At 10 frames per second, consecutive frames of a street scene are nearly the same picture. That
# redundancy is why video compresses 100-fold (26.1.1), and why video models can afford to look
# at a handful of frames instead of all of them (26.1.4). Here we put numbers on it, on the real
# street clip:
#
# 1. **frame-difference energy over time** — how much each frame changes from the previous one;
# 2. **similarity versus distance** — how fast a frame stops predicting another as they get further
#    apart in time, compared with how fast a pixel stops predicting its neighbours in space;
# 3. **how concentrated the change is** — how few frames, and how few pixels, carry most of it;
# 4. **space or time: where do I spend compute?** — the same budget spent on fewer frames or on
#    fewer pixels, and what each loses.

# %%
import cv2
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

import companion
from companion.config import scaled
from companion.data import street_clip
from companion.io import iter_frames, read_clip, video_info
from companion.viz import show_strip

companion.seed_everything(0)
path = street_clip()
info = video_info(path)

# %% [markdown]
# ## A small grey copy of the clip
#
# Colour and full resolution add nothing to these measurements but memory, so we stream the frames
# (`companion.io.iter_frames` decodes once, in order) and keep each as a grey image averaged over
# 4×4 blocks: 144×192 pixels, float32, grey levels 0..255. Fast mode uses the first 200 frames.

# %%
N = scaled(info.num_frames, 200)
F_DOWN = 4
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 weights


def to_small_grey(rgb: np.ndarray) -> np.ndarray:
    grey = rgb.astype(np.float32) @ LUMA
    h, w = grey.shape[0] // F_DOWN, grey.shape[1] // F_DOWN
    return grey[:h * F_DOWN, :w * F_DOWN].reshape(h, F_DOWN, w, F_DOWN).mean(axis=(1, 3))


G = np.stack([to_small_grey(f) for f in tqdm(iter_frames(path, stop=N), total=N, desc="decoding")])
T, H, W = G.shape
print(f"G: {T} frames of {H}x{W}, {G.nbytes / 1e6:.0f} MB")

# %% [markdown]
# Check the conversion against OpenCV's own grey conversion and area resize on one frame.

# %%
rgb = read_clip(path, [N // 2])[0].permute(1, 2, 0).numpy()
ref = cv2.resize(cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY), (W, H), interpolation=cv2.INTER_AREA)
torch.testing.assert_close(torch.from_numpy(to_small_grey(rgb)), torch.from_numpy(ref), atol=1e-3, rtol=0)
print("to_small_grey matches cv2.cvtColor + cv2.resize(INTER_AREA)")

# %% [markdown]
# ## 1. Frame-difference energy over time
#
# For each pair of consecutive frames, the mean squared difference `e_t = mean((G[t+1] - G[t])²)`
# (grey levels²), and the share of pixels that changed by more than 8 grey levels (about the
# compression noise).

# %%
D = G[1:] - G[:-1]
energy = (D ** 2).mean(axis=(1, 2))
moving = (np.abs(D) > 8).mean(axis=(1, 2))
secs = np.arange(1, T) / info.fps

fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True)
a1.plot(secs, energy, lw=0.9)
a1.set_ylabel("mean squared\ndifference")
a1.set_title("how much each frame differs from the previous one")
a2.plot(secs, 100 * moving, lw=0.9, color="#dd8452")
a2.set_ylabel("% pixels\nchanged > 8")
a2.set_xlabel("time (s)")
fig.tight_layout()
plt.show()
print(f"median energy {np.median(energy):.1f}, max {energy.max():.1f} (grey levels^2); "
      f"on average only {100 * moving.mean():.1f}% of the pixels change between two frames")

# %% [markdown]
# Two things stand out. Between two consecutive frames only a couple of percent of the pixels
# change at all: the rest is the same street again. And the energy has regular spikes every 3–4
# frames. The scene does not change rhythmically; more likely the recording's frames were not
# captured at perfectly even intervals, so some pairs are further apart in real time than the
# nominal 1/10 s. A reminder that the fps written in a container is a claim, not a measurement.
#
# The frames that change most and least (frame `t+1` of the pair):

# %%
order = np.argsort(energy)
picks = [int(order[0]) + 1, int(order[len(order) // 2]) + 1, int(order[-1]) + 1]
show_strip(read_clip(path, picks), titles=[f"{lab}: frame {i}\ne={energy[i - 1]:.0f}" for lab, i in
                                          zip(["least change", "median", "most change"], picks)],
           ax_width=3.0)
plt.show()

# %% [markdown]
# ## 2. Similarity versus distance, in time and in space
#
# How well does a frame predict the frame `Δ` steps later? We take the root-mean-square difference
# between `G[t]` and `G[t+Δ]`, averaged over `t`. For comparison, the same quantity in space: the
# RMS difference between the image and itself shifted by `d` pixels (of this 4× smaller image, so
# 4d pixels of the original).

# %%
deltas = [d for d in (1, 2, 3, 5, 8, 13, 20, 30, 50, 80, 130, 200, 320, 500) if d < T]
rms_time = [float(np.sqrt(((G[d:] - G[:-d]) ** 2).mean())) for d in deltas]
shifts = [d for d in (1, 2, 3, 5, 8, 13, 20, 30, 50, 80) if d < W]
rms_space = [float(np.sqrt((((G[:, :, d:] - G[:, :, :-d]) ** 2).mean()
                            + ((G[:, d:, :] - G[:, :-d, :]) ** 2).mean()) / 2)) for d in shifts]

fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(deltas, rms_time, "o-", label="time: frame t vs frame t+Δ")
ax.plot(shifts, rms_space, "s-", label="space: pixel vs pixel d away (4d original pixels)")
ax.set_xscale("log")
ax.set_xlabel("distance (frames, or pixels of the small image)")
ax.set_ylabel("RMS difference (grey levels)")
ax.set_title("how fast neighbours stop looking alike")
ax.legend()
fig.tight_layout()
plt.show()
print("time :", {d: round(r, 1) for d, r in zip(deltas, rms_time)})
print("space:", {d: round(r, 1) for d, r in zip(shifts, rms_space)})

# %% [markdown]
# A frame 1/10 s later differs from the current one far less than a pixel differs from the pixel
# next to it — the static camera sees the same background in every frame. The time curve rises as
# people walk across, then flattens: after a few seconds the pedestrians are elsewhere, but the
# street is still the street.
#
# ## 3. How few frames, and how few pixels, carry most of the change
#
# Sort the frame-pair energies from largest to smallest and accumulate: the curve says what share
# of all the change the top-k frames carry. The same for individual pixel changes (every pixel of
# every frame pair): how much of the squared change the largest few carry.

# %%
def cumulative_share(values):
    v = np.sort(values.ravel())[::-1].astype(np.float64)
    return np.cumsum(v) / v.sum()


share_frames = cumulative_share(energy)
share_pixels = cumulative_share(D ** 2)
frac_f = np.arange(1, share_frames.size + 1) / share_frames.size
frac_p = np.arange(1, share_pixels.size + 1) / share_pixels.size


def needed(share, frac, level):
    return float(frac[np.searchsorted(share, level)])


fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(100 * frac_f, 100 * share_frames, label="frames (frame-pair energy)")
step = max(1, share_pixels.size // 5000)
ax.plot(100 * frac_p[::step], 100 * share_pixels[::step], label="pixels (every pixel of every pair)")
ax.plot([0, 100], [0, 100], "k:", lw=0.8, label="change spread evenly")
ax.set_xlabel("top x% (largest first)")
ax.set_ylabel("% of total change")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
for level in (0.5, 0.8, 0.9):
    print(f"{level:.0%} of the change: top {100 * needed(share_frames, frac_f, level):5.1f}% of the frames, "
          f"top {100 * needed(share_pixels, frac_p, level):5.2f}% of the pixel changes")

# %% [markdown]
# Over *frames*, change is spread fairly evenly on this clip — somebody is always walking. Over
# *pixels*, it is extremely concentrated: a few percent of the pixel-changes carry almost all of
# it. Redundancy in video is mostly "the same background again", which is why codecs send
# differences, and why models can get away with few frames.
#
# ## 4. Space or time: where do I spend compute?
#
# A model's cost grows with `T·H·W`. Suppose we may keep only a fraction `1/k` of the values.
# Two ways to spend that budget:
#
# * **fewer frames**: keep every k-th frame, rebuild the others by linear interpolation in time;
# * **fewer pixels**: keep every frame at `1/k` of the pixels (area downsampling), rebuild by
#   bilinear upsampling.
#
# The reconstruction error (PSNR, higher is better) measures how much information each choice
# threw away. The *gain* from doubling the budget is the information per extra frame (or per extra
# pixel).

# %%
Gt = torch.from_numpy(G)


def rebuild_time(x: torch.Tensor, k: int) -> torch.Tensor:
    kept = x[::k]
    t = torch.arange(x.shape[0])
    a = torch.clamp(t // k, max=kept.shape[0] - 1)
    b = torch.clamp(a + 1, max=kept.shape[0] - 1)
    w = ((t - a * k).float() / k).clamp(max=1.0).view(-1, 1, 1)
    w = torch.where((a == b).view(-1, 1, 1), torch.zeros_like(w), w)  # past the last kept frame: hold
    return (1 - w) * kept[a] + w * kept[b]


def rebuild_space(x: torch.Tensor, k: int) -> torch.Tensor:
    size = (max(1, round(x.shape[1] / k ** 0.5)), max(1, round(x.shape[2] / k ** 0.5)))
    small = F.interpolate(x[:, None], size=size, mode="area")
    return F.interpolate(small, size=x.shape[1:], mode="bilinear", align_corners=False)[:, 0]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(255.0 ** 2 / ((a - b) ** 2).mean()))


assert torch.equal(rebuild_time(Gt, 1), Gt)
budgets = [2, 4, 8, 16, 32, 64]
p_time = [psnr(rebuild_time(Gt, k), Gt) for k in tqdm(budgets, desc="time")]
p_space = [psnr(rebuild_space(Gt, k), Gt) for k in tqdm(budgets, desc="space")]

fig, ax = plt.subplots(figsize=(6.5, 3.6))
ax.plot(budgets, p_time, "o-", label="keep 1/k of the frames")
ax.plot(budgets, p_space, "s-", label="keep 1/k of the pixels")
ax.set_xscale("log", base=2)
ax.set_xlabel("compression k (values kept = 1/k)")
ax.set_ylabel("PSNR of the rebuilt clip (dB)")
ax.set_title("the same budget spent on time or on space")
ax.legend()
fig.tight_layout()
plt.show()
print(f"{'k':>4} {'fewer frames':>13} {'fewer pixels':>13}")
for k, pt, ps in zip(budgets, p_time, p_space):
    print(f"{k:>4} {pt:11.1f}dB {ps:11.1f}dB")

# %% [markdown]
# Read the plot from right to left: doubling the budget (k → k/2) adds more dB along one curve
# than the other — that curve is where an extra frame, or an extra pixel, carries more new
# information. On this clip — static camera, slow pedestrians — frames are cheap to drop: time
# is the redundant axis. For motion-heavy questions (what is that person *doing*?) the rare
# changing pixels are precisely the signal, which is what the later sections design for: sparse
# frame sampling (26.1.4), factorised space-time models (26.2–26.3), and explicit motion (26.4).
#
# ## Exercise
#
# Write the frame-difference measure yourself — mind the dtype.

# %%
from companion.exercises import ex26_1 as ex

ex.q4


# %%
def frame_difference(clip):
    """(T, C, H, W) uint8 -> (T-1,) mean absolute difference between consecutive frames."""
    raise NotImplementedError  # your code


ex.q4.check(frame_difference)

# %%
# ex.q4.hint()
# ex.q4.hint(2)
# ex.q4.solution()
