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
# # 26.3.4 VideoMAE: learning from unlabelled video by filling in tubes
#
# Labels for video are expensive; pixels are free. VideoMAE hides most of a clip and trains a
# transformer to paint the hidden part back. Three design choices make it work for video:
#
# * **tube masking** — the same spatial positions are hidden in *every* frame, so a hidden patch
#   cannot simply be copied from the neighbouring frame (video is highly redundant in time);
# * a **very high ratio** (90 %) and an **asymmetric** encoder that only sees the visible tokens,
#   so pretraining is cheap;
# * a **normalised-pixel target**: each hidden tubelet's pixels, standardised per tubelet.
#
# This notebook builds the masking and the target inline and checks them against the companion,
# measures the encoder's savings, shows reconstructions of a tiny model pretrained on the
# synthetic clips, and compares fine-tuning from that pretraining with training from scratch on
# a small label budget.

# %%
import matplotlib.pyplot as plt
import torch

import companion
from companion.config import scaled
from companion.models import normalized_pixel_target, patchify, tube_mask, unpatchify, videomae
from companion.models.attention import count_macs
from companion.models.videomae import TINY_MAE, pretrain, random_token_mask, tube_mask_from_scores
from companion.synthetic.actions import ActionClips

companion.seed_everything(0)
print("fast mode:", companion.FAST)

# %% [markdown]
# ## Tube masking, inline
#
# Draw one random score per spatial position, mask the `int(ratio·N)` lowest, and repeat that
# spatial mask over all `T'` time slots. With ViT-B's 14×14 grid and ratio 0.9, 176 of 196
# positions are hidden in every slot.

# %%
def my_tube_mask(scores, num_slots, ratio):
    B, N = scores.shape
    k = int(ratio * N)
    lowest = scores.argsort(dim=1)[:, :k]
    spatial = torch.zeros(B, N, dtype=torch.bool).scatter_(1, lowest, True)
    return spatial[:, None, :].expand(B, num_slots, N)


scores = torch.rand(4, 196)
mine = my_tube_mask(scores, 8, 0.9)
torch.testing.assert_close(mine, tube_mask_from_scores(scores, 8, 0.9))
print("masked per slot:", mine.sum(-1)[0].tolist(), "— the same positions in every slot:",
      bool((mine == mine[:, :1]).all()))

# %% [markdown]
# Compare with masking tokens independently (the image-MAE way). Under random masking, most
# hidden tokens have their twin — same place, neighbouring slot — visible; under tube masking
# none does:

# %%
g = torch.Generator().manual_seed(0)
tube = tube_mask(1, 8, 196, 0.9, generator=g)[0]
rand = random_token_mask(1, 8, 196, 0.9, generator=g)[0]
for name, m in (("tube", tube), ("random", rand)):
    twin_visible = (m[1:] & ~m[:-1]) | (m[:-1] & ~m[1:])
    print(f"{name:6s}: hidden tokens whose neighbour-in-time is visible: "
          f"{float(twin_visible.sum() / m.sum()):.2f}")
fig, axes = plt.subplots(2, 8, figsize=(11, 3))
for r, (name, m) in enumerate((("tube", tube), ("random", rand))):
    for s in range(8):
        axes[r, s].imshow(m[s].reshape(14, 14), cmap="gray_r", vmin=0, vmax=1)
        axes[r, s].set_xticks([]), axes[r, s].set_yticks([])
        axes[r, s].set_title(f"slot {s}", fontsize=7)
    axes[r, 0].set_ylabel(name)
fig.suptitle("masked (black) positions of a 14×14 grid in each of 8 slots, ratio 0.9", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The target: normalised pixels per tubelet
#
# Cut the clip into tubelets (`patchify` — the same token order as the tubelet embedding), and
# for each tubelet and colour channel subtract the mean and divide by the (unbiased) standard
# deviation plus `1e-6`. The model is asked for local contrast, not absolute brightness.

# %%
clips = ActionClips(4, seed=5, num_frames=8, size=32)
clip = clips[0][0][None]                                         # (1, 3, 8, 32, 32)
tok = patchify(clip, 8, 2)                                       # (1, 64 tubelets, 2*8*8*3)
per_channel = tok.reshape(1, 64, -1, 3)
mine = (per_channel - per_channel.mean(2, keepdim=True)) / (per_channel.std(2, unbiased=True, keepdim=True) + 1e-6)
torch.testing.assert_close(mine.reshape(1, 64, -1), normalized_pixel_target(clip, 8, 2))
print("tokens", tuple(tok.shape), "— inline target == companion normalized_pixel_target ✓")

# %% [markdown]
# ## The asymmetric encoder: only visible tokens go in
#
# The encoder drops the masked tokens *before* its first block. With 75 % masked, its linear
# layers do a quarter of the work and its attention a sixteenth. The light decoder — mask tokens
# plus position embeddings in the holes — runs on all tokens but is narrow and shallow.

# %%
mae = videomae(**TINY_MAE).eval()
mask = mae.make_mask(clip, generator=torch.Generator().manual_seed(1))
full = count_macs(mae.encoder, clip)
visible = count_macs(mae.encoder, clip, mask)
whole = count_macs(mae, clip, mask)
print(f"encoder on all 64 tokens: {full / 1e6:.2f} MMACs; on the {int((~mask).sum())} visible: "
      f"{visible / 1e6:.2f} MMACs ({visible / full:.2f}x); whole MAE step (encoder + decoder): "
      f"{whole / 1e6:.2f} MMACs")
print("encoder output:", tuple(mae.encoder(clip, mask).shape), "(batch, visible tokens, width)")

# %% [markdown]
# ## Pretraining a tiny VideoMAE on the synthetic clips
#
# `TINY_MAE`: 8 frames of 32², tubelets 2×8×8 (64 tokens), encoder width 64 × 3 blocks, decoder
# width 32 × 1 block. With only 16 positions per slot, ratio 0.9 would leave 2 visible positions;
# the tiny recipe uses 0.75. `scripts/train_videomae_tiny.py` pretrained it for a few CPU minutes
# and shipped the weights; here fast mode runs a few steps of the same loop, then loads them.

# %%
from pathlib import Path

import companion.models as cm

unlabelled = ActionClips(scaled(2400, 64), seed=11, num_frames=8, size=32, cache=True)
demo = videomae(**TINY_MAE)
losses = pretrain(demo, unlabelled, epochs=1, max_seconds=scaled(60, 5))
print(f"{len(losses)} steps here: loss {losses[0]:.3f} -> {losses[-1]:.3f}")

path = Path(cm.__file__).resolve().parents[1] / "weights" / "videomae_tiny_actions.pt"
if path.exists():
    ckpt = torch.load(path, weights_only=False)
    mae = videomae(**TINY_MAE)
    mae.load_state_dict(ckpt["state_dict"])
    shipped_losses, report = ckpt["losses"], ckpt["report"]
    print(f"shipped: {report['pretrain_steps']} steps, {report['pretrain_cpu_s']:.0f} CPU s, loss "
          f"{report['pretrain_loss_first']:.3f} -> {report['pretrain_loss_last']:.3f}")
else:
    mae, shipped_losses, report = demo, losses, None
    print("no shipped weights found: showing this run")
plt.figure(figsize=(6, 2.8))
plt.plot(shipped_losses, lw=0.8)
plt.xlabel("step"), plt.ylabel("MSE on masked tubelets (normalised pixels)")
plt.title("VideoMAE pretraining loss")
plt.show()

# %% [markdown]
# Reconstructions of held-out clips: the masked input (grey = hidden), the model's output
# (predicted tubelets mapped back to pixels with each tubelet's true mean and std, visible
# tubelets copied), and the original.

# %%
held = ActionClips(3, seed=99, num_frames=8, size=32)
batch = torch.stack([held[i][0] for i in range(3)])
shown, rec, _ = mae.reconstruct(batch, mae.make_mask(batch, generator=torch.Generator().manual_seed(3)))
fig, axes = plt.subplots(9, 8, figsize=(8, 9.5))
for c in range(3):
    for r, (name, v) in enumerate((("masked", shown), ("recon.", rec), ("original", batch))):
        for t in range(8):
            ax = axes[3 * c + r, t]
            ax.imshow(v[c, :, t].permute(1, 2, 0).clamp(0, 1))
            ax.set_xticks([]), ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(name, fontsize=7)
fig.suptitle("tube-masked input / reconstruction / original, 3 held-out clips", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Does the pretraining help? Fine-tuning with few labels
#
# The same encoder architecture, fine-tuned on a small labelled set (20 clips per class), once
# from the pretrained weights and once from the initial random weights, identical recipe
# (`companion.training.fit`). The full comparison is the script's; fast mode reruns it on a
# handful of clips for one epoch, which says nothing about the result.

# %%
import copy

from companion.models import videomae_classifier
from companion.training import fit

labelled = ActionClips(scaled(160, 32), seed=12, num_frames=8, size=32, cache=True)
val = ActionClips(scaled(800, 64), seed=2, num_frames=8, size=32, cache=True)
fresh = videomae(**TINY_MAE)
runs = {}
for name, enc in (("pretrained", copy.deepcopy(mae.encoder)), ("scratch", fresh.encoder)):
    clf = videomae_classifier(encoder=enc, num_classes=8)
    runs[name] = fit(clf, labelled, val, epochs=scaled(20, 1), batch_size=16, lr=1e-3,
                     weight_decay=0.05, warmup_steps=20, seed=0, progress=False)
    print(f"{name:10s}: held-out accuracy {runs[name].val_acc[-1]:.3f} (best {max(runs[name].val_acc):.3f})")
if report is not None:
    for name, res in report["finetune"].items():
        print(f"script, {name:10s}: held-out accuracy {res['held_out_acc']:.3f} with {report['labels']} labels")

# %% [markdown]
# Read the numbers for what they are: a tiny encoder, a few minutes of pretraining on synthetic
# clips whose backgrounds are random — the reconstruction task rewards modelling backgrounds as
# much as the actor. VideoMAE's large gains (e.g. 70.8 % on Something-Something v2 with ViT-B,
# far above training from scratch) come from hundreds of epochs on hundreds of thousands of
# videos.
#
# ## Exercise
#
# `q4`: tube-mask generation from scores.

# %%
from companion.exercises import ex26_3 as ex


def tube_mask_exercise(scores, T, ratio):
    raise NotImplementedError  # your code: (B, N) scores -> (B, T, N) bool mask


ex.q4.check(tube_mask_exercise)
