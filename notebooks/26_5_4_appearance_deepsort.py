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
# # 26.5.4 Appearance and DeepSORT
#
# Motion alone cannot tell two people apart once their boxes overlap, or once one reappears after
# an occlusion far from where the constant-velocity model expected. People *look* different,
# though. DeepSORT (Wojke et al., 2017) adds to SORT:
#
# * an **appearance descriptor** per detection — a unit vector from a re-identification network —
#   and a small **gallery** of recent descriptors per track; the appearance cost of a pair is the
#   smallest cosine distance to the gallery;
# * **Mahalanobis gating** (26.5.1) so appearance never matches a physically impossible pair;
# * a **matching cascade**: tracks seen most recently get first pick, and a long memory
#   (`max_age = 30` frames) so identities survive occlusions;
# * an IoU step for what is left (new and just-missed tracks), as in SORT.
#
# This notebook builds two descriptors — a colour histogram and a small CNN trained with a
# metric-learning loss on crops from the synthetic street — compares them, writes the matching
# cascade, and shows DeepSORT keeping identities where SORT and ByteTrack swap them. Then it turns
# to real people (section 7) and learns an embedding from the real clip's own tracks, without
# labels (section 8).

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

import companion
from companion.config import scaled
from companion.synthetic.street import make_street_scene, turn_back
from companion.tracking import (SORT, ByteTrack, DeepSORT, XYAHKalman, box_iou, linear_assignment, mot_metrics,
                                noisy_detections, run_tracker)
from companion.tracking.draw import plot_timeline
from companion.tracking.reid import (ColorHistogramEmbedder, ReIDEmbedder, ReIDNet, batch_hard_triplet_loss,
                                     default_weights_path, rank1, split_query_gallery, street_crops)

companion.seed_everything(0)
torch.set_num_threads(1)

# %% [markdown]
# ## 1. Crops of people
#
# Every ground-truth box at least half visible, cut out and resized to 64 × 32. An identity is a
# person of one scene. For evaluation we use scenes the network never saw (seed ≥ 1000) and, per
# person, match crops from the *start* of their walk against crops from the *end* (so the nearest
# neighbour is never simply the next frame).

# %%
scene = make_street_scene(1001, num_frames=scaled(150, 80), num_people=12)
crops, ids, frames = street_crops(scene, min_visibility=0.5)
print(f"{len(crops)} crops of {len(np.unique(ids))} people")
fig, axes = plt.subplots(2, 12, figsize=(10, 2.4))
for k, pid in enumerate(np.unique(ids)[:12]):
    sel = np.flatnonzero(ids == pid)
    for row in range(2):
        axes[row, k].imshow(crops[sel[0 if row == 0 else -1]])
        axes[row, k].set_axis_off()
    axes[0, k].set_title(f"id {pid}", fontsize=7)
fig.suptitle("first (top) and last (bottom) crop of each person", fontsize=9)
plt.show()

# %% [markdown]
# ## 2. A colour-histogram descriptor
#
# The obvious baseline: HSV histograms of the upper and lower half of the box (shirt and
# trousers), square-rooted so that the dot product of two normalised vectors is the
# Bhattacharyya coefficient. We write it here and compare with the companion's version.

# %%
import cv2  # noqa: E402


def colour_descriptor(crop, bins=(12, 4, 4)):
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    h = crop.shape[0]
    cut = int(round(h * 0.55))
    parts = []
    for part in (hsv[int(0.12 * h):cut], hsv[cut:]):  # skip the head, then shirt and trousers
        hist = cv2.calcHist([np.ascontiguousarray(part)], [0, 1, 2], None, list(bins), [0, 180, 0, 256, 0, 256]).ravel()
        parts.append(np.sqrt(hist / max(hist.sum(), 1)))
    v = np.concatenate(parts)
    return v / np.linalg.norm(v)


hist_ref = ColorHistogramEmbedder()
ours = np.stack([colour_descriptor(c) for c in crops[:50]])
np.testing.assert_allclose(ours, hist_ref.embed_crops(crops[:50]), atol=1e-6)
print("colour_descriptor == companion ColorHistogramEmbedder")

# %% [markdown]
# ## 3. A small re-ID CNN with a metric-learning loss
#
# `ReIDNet`: four 3 × 3 convolutions (16–32–64–64 channels) with three poolings, global average
# + max pooling and a linear layer to a 64-d unit vector — about 69 k parameters. It is trained
# with the **batch-hard triplet loss**: a batch holds P identities × K crops; for each anchor,
# take the *farthest* crop of the same person and the *closest* crop of anyone else and ask for a
# margin between them, `max(0, d(a, p) − d(a, n) + 0.3)`. The shipped weights come from
# `scripts/train_reid.py` (40 scenes, 480 identities, 1000 steps); its training curve is stored in
# the checkpoint. Below, a few steps of the same training from scratch show the loss moving.

# %%
ckpt = torch.load(default_weights_path(), map_location="cpu", weights_only=True)
log = ckpt["log"]
net = ReIDNet()
print(f"ReIDNet: {sum(p.numel() for p in net.parameters()):,} parameters; shipped run: {log['crops']} crops of "
      f"{log['identities']} identities, {log['steps']} steps, {log['seconds']:.0f} s; held-out rank-1 {log['heldout_rank1']}")

train_scene = make_street_scene(100, num_frames=scaled(150, 60), num_people=12)
tc, tid, _ = street_crops(train_scene, min_visibility=0.4, jitter=0.08, rng=np.random.default_rng(0))
by_id = {i: np.flatnonzero(tid == i) for i in np.unique(tid) if (tid == i).sum() >= 4}
opt = torch.optim.Adam(net.parameters(), lr=2e-3)
rng = np.random.default_rng(0)
demo_curve = []
P, K = min(8, len(by_id)), 4
for step in tqdm(range(scaled(60, 15)), desc="triplet training (demo)"):
    chosen = rng.choice(list(by_id), size=P, replace=False)
    idx = np.concatenate([rng.choice(by_id[i], K, replace=False) for i in chosen])
    x = torch.from_numpy(tc[idx]).permute(0, 3, 1, 2).float() / 255
    loss = batch_hard_triplet_loss(net(x), torch.from_numpy(np.repeat(np.arange(P), K)))
    opt.zero_grad()
    loss.backward()
    opt.step()
    demo_curve.append(loss.item())

fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
axes[0].plot(np.arange(len(log["loss_curve_every_50"])) * 50, log["loss_curve_every_50"])
axes[0].set_title("shipped run: batch-hard triplet loss", fontsize=9)
axes[0].set_xlabel("step")
axes[1].plot(demo_curve)
axes[1].set_title("a few steps from scratch, here", fontsize=9)
axes[1].set_xlabel("step")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Which descriptor separates people better?
#
# Cosine distances between crops of the same person and of different people, and the rank-1
# accuracy (is the nearest late crop the same person?). The histogram confuses people in similar
# colours and is diluted by the background inside the box. On these cartoon scenes — the kind the
# CNN was trained on — the CNN separates people better; section 7 asks whether that survives real
# people (it does not: a network that never saw a real pedestrian has nothing to transfer).

# %%
q, g = split_query_gallery(ids, frames)
same = ids[:, None] == ids[None, :]
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), sharey=True)
for ax, (name, emb) in zip(axes, [("colour histogram", ColorHistogramEmbedder()), ("re-ID CNN", ReIDEmbedder())]):
    E = emb.embed_crops(crops)
    D = 1 - E @ E.T
    off = ~np.eye(len(E), dtype=bool)
    ax.hist(D[same & off], bins=50, range=(0, 1.2), density=True, alpha=0.6, label="same person")
    ax.hist(D[~same], bins=50, range=(0, 1.2), density=True, alpha=0.6, label="different people")
    ax.axvline(0.2, color="k", ls="--", lw=1)
    ax.set_title(f"{name}: rank-1 {rank1(E[q], ids[q], E[g], ids[g]):.3f}", fontsize=9)
    ax.set_xlabel("cosine distance (dashed: DeepSORT's max_cosine_distance 0.2)")
axes[0].legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. The matching cascade, written out
#
# Given the confirmed tracks (each with `since_update` and a feature gallery), the frame's
# detections with their descriptors, and the Kalman filter: build the appearance cost
# (min cosine distance to the gallery), gate it with the Mahalanobis distance, and then match
# **level by level** — tracks missed for 1 frame first, then 2, … — each level only against the
# detections still free. A long-lost track can therefore never steal a detection from a track
# seen a frame ago.


# %%
def matching_cascade(tracks, feats, z, kf, max_cos=0.2, max_age=30, gate=9.4877):
    """tracks: list of dicts with mean, cov, since, gallery. Returns [(track, det)] and free dets."""
    if not tracks or len(feats) == 0:
        return [], list(range(len(feats)))
    cost = np.stack([1 - (t["gallery"] @ feats.T).max(0) for t in tracks])
    d2 = kf.gating_distance(np.stack([t["mean"] for t in tracks]), np.stack([t["cov"] for t in tracks]), z)
    cost[d2 > gate] = np.inf
    free, pairs = list(range(len(feats))), []
    for level in range(1, max_age + 1):
        rows = [i for i, t in enumerate(tracks) if t["since"] == level]
        if not rows or not free:
            continue
        m, _, _ = linear_assignment(cost[np.ix_(rows, free)], max_cos)
        pairs += [(rows[r], free[c]) for r, c in m]
        free = [f for k, f in enumerate(free) if k not in set(m[:, 1].tolist())]
    return pairs, free


# a toy frame: three tracks, three detections; track 2 was last seen 5 frames ago
kf = XYAHKalman()
emb = np.eye(3)
boxes = np.array([[50, 100, 0.4, 80], [120, 100, 0.4, 80], [180, 100, 0.4, 80.0]])
tracks = []
for k, since in enumerate([1, 1, 5]):
    mean, cov = kf.initiate(boxes[k])
    for _ in range(since):
        mean, cov = kf.predict(mean, cov)
    tracks.append(dict(mean=mean[0], cov=cov[0], since=since, gallery=emb[k][None]))
z = boxes[[2, 0, 1]] + [3, 0, 0, 0]  # detections in a different order
pairs, free = matching_cascade(tracks, emb[[2, 0, 1]], z, kf)
print("cascade pairs (track, detection):", pairs, " free detections:", free)
assert sorted(pairs) == [(0, 1), (1, 2), (2, 0)]

# %% [markdown]
# ## 5. When motion lies: meeting and turning back
#
# Two people walk towards each other, stop face to face for a moment, and each turns back. A
# constant-velocity model predicts that they walked *through* each other, so motion-only trackers
# swap the identities or lose them; DeepSORT's appearance cost keeps them. Same detections for all.

# %%
rng = np.random.default_rng(3)
a = turn_back((-30, 210), (180, 210), speed=4, pause=3, rng=rng)
b = turn_back((414, 212), (196, 212), speed=4, pause=3, rng=rng)
meet = make_street_scene(0, num_frames=120, people=[a, b], occluders=False, fps=10)
mdets = noisy_detections(meet.gt, seed=0, image_size=meet.size)
fig, axes = plt.subplots(3, 1, figsize=(9, 4.5), sharex=True)
for ax, (name, trk, frames_) in zip(axes, [("SORT", SORT(frame_rate=10), None),
                                           ("ByteTrack", ByteTrack(frame_rate=10), None),
                                           ("DeepSORT (re-ID CNN)", DeepSORT(frame_rate=10), meet.frames)]):
    rows, _ = run_tracker(trk, mdets, frames_)
    mm = mot_metrics(meet.gt, rows, hota=False)
    plot_timeline(meet.gt, rows, ax=ax, title=f"{name}: IDF1 {mm['IDF1']:.2f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. A busier street
#
# On random street scenes with many crossings (10 fps), DeepSORT with either descriptor against
# SORT. `benchmarks/bench_trackers.py` runs the full comparison, including the production
# `trackers` package.

# %%
busy = make_street_scene(11, num_frames=scaled(200, 80), num_people=14)
bdets = noisy_detections(busy.gt, seed=11, image_size=busy.size)
for name, trk, frames_ in [("SORT", SORT(frame_rate=10), None),
                           ("DeepSORT + colour histogram", DeepSORT(frame_rate=10, embedder="histogram"), busy.frames),
                           ("DeepSORT + re-ID CNN", DeepSORT(frame_rate=10, embedder="reid"), busy.frames)]:
    rows, secs = run_tracker(trk, bdets, frames_)
    mm = mot_metrics(busy.gt, rows)
    print(f"{name:28s} MOTA {mm['MOTA']:.3f}  IDF1 {mm['IDF1']:.3f}  HOTA {mm['HOTA']:.3f}  ID switches {mm['IDSW']:3d}"
          f"  ({len(bdets) / secs:,.0f} frames/s incl. embeddings)")

# %% [markdown]
# Read the three rows as opened (200 frames): either descriptor lifts DeepSORT above SORT (IDF1
# 0.90 against 0.86), but the CNN — which separates these cartoon people better on average
# (section 3) — makes *more* identity switches than the colour histogram (3 against 1). The two
# measure different things: the comparison in section 3 averages over many crops, while a switch
# happens only at the few moments two people meet, so two decisions there make the whole
# difference. `benchmarks/bench_trackers.py` finds the same order over more scenes (16 switches
# with the CNN, 11 with the histogram, 25 for SORT). On cartoon people, whose clothes are flat
# colours, a histogram is a strong descriptor; section 7 asks what survives on real people.

# %% [markdown]
# ## 7. Real people: which descriptor tells them apart?
#
# Everything above is synthetic. On the real street clip (OpenCV's `vtest.avi`), the crossings of
# the lab's default line were read by eye, *with who made each one*
# (`companion.lab.street_reference`: 33 crossings by 10 people, most of whom cross several times).
# One box per crossing gives 32 real crops of 10 people taken seconds to minutes apart — the
# re-identification problem DeepSORT's gallery and the lab's long-term memory face. We compare the
# colour histogram, the small CNN trained on cartoon crops, **ImageNet-pretrained MobileNetV2
# features** (`companion.tracking.reid.PretrainedEmbedder`: weights learned on real photographs,
# not trained here at all; head-and-torso and legs pooled separately), their sum (the lab's
# `FusedEmbedder`), and an embedding **learned on this clip without a single label** (section 8
# explains it; `companion.tracking.reid_learned.LearnedEmbedder`), with the frozen features it
# starts from ("mid-level stripes, untrained"). Two scores: rank-1 (is the most similar other crop
# the same person?) and AUC (the chance that a same-person pair is more similar than a
# different-people pair), on all 32 crops and on the 16 crops from frames ≥ 400 alone — the learned
# head never saw a frame after 399. Then the same on **grey** copies of the crops: how much of each
# descriptor's power is colour?

# %%
from companion.lab.reidentify import FusedEmbedder  # noqa: E402
from companion.lab.street_reference import reference_crops  # noqa: E402
from companion.tracking.reid import PretrainedEmbedder, separation as separation_ref  # noqa: E402
from companion.tracking.reid_learned import TRAIN_STOP, LearnedEmbedder  # noqa: E402


def separation(E, people):
    """rank-1 (is another crossing of the same person the nearest?) and AUC (a same-person pair
    more similar than a different-people pair) over unit embeddings."""
    S = E @ E.T
    np.fill_diagonal(S, -np.inf)
    again = np.array([(people == p).sum() > 1 for p in people])
    r1 = np.mean(people[np.argmax(S, 1)][again] == people[again])
    iu = np.triu_indices(len(E), 1)
    same = (people[:, None] == people[None, :])[iu]
    s = S[iu]
    auc = np.mean(s[same][:, None] > s[~same][None, :])
    return r1, auc


try:
    from companion.data import street_clip

    real_crops, real_people, real_frames = reference_crops(street_clip(verbose=False))
except Exception as exc:  # no clip: say so and skip the real-data comparison
    real_crops = None
    print("the street clip is unavailable, skipping the real-data comparison:", exc)

if real_crops is not None:
    grey = np.repeat(real_crops.mean(3, keepdims=True), 3, axis=3).astype(np.uint8)
    held = real_frames >= TRAIN_STOP
    embedders = {"colour histogram": ColorHistogramEmbedder(), "re-ID CNN (synthetic)": ReIDEmbedder(),
                 "ImageNet MobileNetV2": PretrainedEmbedder(), "MobileNetV2 + histogram": FusedEmbedder(),
                 "mid-level stripes, untrained": LearnedEmbedder(head="none"),
                 "learned on the clip": LearnedEmbedder()}
    print(f"{len(real_crops)} crossings of {len(set(real_people))} people ({held.sum()} from frames >= {TRAIN_STOP}); "
          "rank-1 / AUC")
    print(f"{'':30s} {'all crops':>13s}  {'frames >= 400':>13s}  {'grey crops':>13s}")
    real_scores, embed_for = {}, {}
    for name, emb in embedders.items():
        def embed(c):
            if hasattr(emb, "embed_crops"):
                return emb.embed_crops(c if c.shape[1:3] == getattr(emb, "size", c.shape[1:3]) else
                                       np.stack([cv2.resize(x, (32, 64), interpolation=cv2.INTER_AREA) for x in c]))
            full = [emb.pretrained.embed_crops(c) * np.sqrt(emb.weight),
                    emb.histogram.embed_crops(c) * np.sqrt(1 - emb.weight)]
            return np.concatenate(full, 1)
        E = embed(real_crops)
        colour, late, bw = separation(E, real_people), separation(E[held], real_people[held]), separation(embed(grey), real_people)
        assert np.allclose(colour, separation_ref(E, real_people))  # the companion's reference agrees
        real_scores[name] = (colour, bw, late)
        embed_for[name] = E
        print(f"{name:30s} {colour[0]:.3f} / {colour[1]:.3f}  {late[0]:.3f} / {late[1]:.3f}  {bw[0]:.3f} / {bw[1]:.3f}")
    # what the text below says, checked
    h, m = real_scores["colour histogram"], real_scores["ImageNet MobileNetV2"]
    L, U = real_scores["learned on the clip"], real_scores["mid-level stripes, untrained"]
    assert h[0][1] > real_scores["MobileNetV2 + histogram"][0][1] > m[0][1]   # AUC: histogram > both > ImageNet
    assert h[0][1] - h[1][1] > 3 * (m[0][1] - m[1][1])                      # colour matters far more to the histogram
    assert L[0][0] > h[0][0] and L[0][1] > h[0][1] and L[2][1] > h[2][1]    # learned: better rank-1 and AUC overall, AUC held out
    assert L[0][1] > U[0][1] + 0.05                                         # ... thanks to the training, not the features
    assert L[1][0] > h[1][0] + 0.3 and L[1][1] > h[1][1]                    # on grey crops it keeps far more than the histogram

    def misses(E, keep):
        """Held-out queries whose most similar other crop is someone else: (frame, who, box height) -> (frame, who)."""
        E, p, f = E[keep], real_people[keep], real_frames[keep]
        S = E @ E.T
        np.fill_diagonal(S, -np.inf)
        j = np.argmax(S, 1)
        return [(int(f[i]), str(p[i]), int(real_heights[keep][i]), int(f[j[i]]), str(p[j[i]]))
                for i in range(len(E)) if (p == p[i]).sum() > 1 and p[j[i]] != p[i]]

    from companion.lab.street_reference import REFERENCE_BOXES  # noqa: E402

    real_heights = np.array([REFERENCE_BOXES[k][4] - REFERENCE_BOXES[k][2] for k in sorted(REFERENCE_BOXES)])
    for name in ("colour histogram", "learned on the clip"):
        print(f"{name}: held-out misses (frame, person, box height px -> nearest frame, person):",
              misses(embed_for[name], held))

# %% [markdown]
# On this clip the **colour histogram beats ImageNet's features** (and their sum with it) — the
# opposite of what one expects from "learned beats hand-made", so look at why. The grey crops
# answer it: take the colour away and the histogram's AUC falls by more than three times as much
# as the ImageNet features' — their last layer describes shape and texture (what ImageNet classes
# differ by) and largely ignores colour. Here people are 25-40 pixels wide, most wear dark coats
# and jeans and walk in the same pose; what tells them apart is mostly the colour of their clothes,
# which is exactly what the histogram counts. The small CNN trained on cartoon crops has the
# lowest rank-1: it never saw a real person.
#
# The embedding **learned on the clip itself** (section 8: mid-level ImageNet features pooled in
# stripes, plus a metric head trained on tracklets mined automatically from frames 0-399, no
# labels) changes that: over all 32 crops it beats the histogram on both scores (rank-1 0.93 vs
# 0.83, AUC 0.99 vs 0.97), and on the 16 crops from frames ≥ 400 — which training never saw — its
# AUC is 0.98 against the histogram's 0.95: a same-person pair outranks a different-people pair
# more often. The frozen stripes it starts from score only 0.59 / 0.90, so the gain comes from
# the training, not from the choice of layers. Nor is it a histogram in disguise: on grey crops it
# keeps rank-1 0.83 / AUC 0.96 where the histogram falls to 0.48 / 0.82 — trained to tell apart
# people walking side by side in similar colours, it also uses pattern, build and the contrast
# between jacket and trousers.
#
# Held-out rank-1 is the hard score: 11 of 14 queries against the histogram's 12 (0.79 vs 0.86;
# 0.76 ± 0.03 over three training seeds, `benchmarks/bench_street_reid.py`), still one query short.
# The same head trained without the far-away views of section 8 reaches only 0.67 ± 0.03 over the
# same seeds (the benchmark retrains and prints both). The held-out crops of one person differ in
# size by up to two to three times — the man in the dark jacket (P7) is 144 px tall at frame 498
# and 80-96 px later, the woman in the red jacket (P9) 92 px at frame 454 and 42 px at 719 — while
# the positives it learned from were crops of one track at most 2 s apart, at nearly the same size:
# it never saw a person far away and close up. Section 8 shows it such pairs; the misses printed above are what is left: P9
# and the man in the red-and-navy jacket (P3) taken for each other (both wear red and jeans; P3's
# crossings are 114 px and 70 px tall). The histogram misses P9 at frame 454 the same way, and P7
# at frame 605 (for the balding man P8 in a similar dark jacket), which the learned embedding now
# gets right. With 14 queries a single person is 0.07 of rank-1, while the AUC compares all 120
# held-out pairs: the steadier of the two scores favours the learned embedding, the top-1 decision
# on these few crops still, by one query, favours colour. In the lab (`benchmarks/bench_lab_identity.py`,
# same detections, choices on the first half of the clip) online re-identification gives 15
# distinct ids for the 10 people (16 with the fused embedding or the histogram). The lab's offline
# identity stage now links its pieces of track on this learned embedding *beside* the colour
# histogram (`make_embedder("learned+histogram")`, similarities weighted 0.3 / 0.7): 10 distinct
# ids for the 10 people on the default line and all 7 returning people keeping one id (on the
# two other by-eye lines too), where the ImageNet features beside the histogram gave 16 and 2 of
# 7. Both halves of that matter. Each descriptor at its own best over the same grid of the
# stage's parameters, identity errors over the three by-eye lines (a person split, an id shared,
# a wrong head count): colour histogram 6, ImageNet + histogram 4, learned + histogram 0; and
# cross-validated (parameters chosen on two lines, errors counted on the third) 13, 8 and 2 — here
# the learned embedding does beat colour, on the task the lab needs. And the stage's way of
# cutting and linking pieces of track (a
# crop for every half-hidden box, the tracker's handovers, short pieces kept out of the
# clustering, consecutive look-alike pieces linked first), with a fix to the by-eye scorer, took
# the same embedding from 10 errors to 0. Its parameters were chosen on the clip's three by-eye lines; cross-validated line by line
# the rule still leaves 2 errors on one line (the README's known gaps).

# %% [markdown]
# One held-out half is a thin verdict: 14 queries, where one person is 0.07 of rank-1. So turn the
# protocol round. `reid_learned.late_head_path()` is the same recipe trained on tracklets mined
# from frames 400-794 only (`scripts/train_street_reid.py --late`); the crops of frames < 400 are
# then the ones it never saw. Pooled over both folds, every crop is queried among its own half's
# crops by a head that never saw that half.

# %%
from companion.lab.street_reference import LINES  # noqa: E402
from companion.tracking.reid_learned import late_head_path  # noqa: E402


def hits(E, keep):
    """(queries whose most similar other crop, in ``keep``, is the same person; queries)."""
    E, p = E[keep], real_people[keep]
    S = E @ E.T
    np.fill_diagonal(S, -np.inf)
    again = np.array([(p == q).sum() > 1 for q in p])
    return int((p[np.argmax(S, 1)] == p)[again].sum()), int(again.sum())


if real_crops is not None:
    early = ~held
    late_E = LearnedEmbedder(head=late_head_path()).embed_crops(real_crops)
    hist_E, first_E = embed_for["colour histogram"], embed_for["learned on the clip"]
    folds = {"histogram": (hits(hist_E, held), hits(hist_E, early)),
             "learned": (hits(first_E, held), hits(late_E, early))}
    aucs = {"histogram": (separation(hist_E[held], real_people[held])[1], separation(hist_E[early], real_people[early])[1]),
            "learned": (separation(first_E[held], real_people[held])[1], separation(late_E[early], real_people[early])[1])}
    print(f"{'':10s} {'fold 1: train < 400, test >= 400':>34s} {'fold 2: train >= 400, test < 400':>34s} {'pooled rank-1':>14s}")
    for name in folds:
        (a, na), (b, nb) = folds[name]
        print(f"{name:10s} {f'rank-1 {a}/{na}, AUC {aucs[name][0]:.3f}':>34s} "
              f"{f'rank-1 {b}/{nb}, AUC {aucs[name][1]:.3f}':>34s} {f'{a + b}/{na + nb}':>14s}")
    p9 = min(f for _, crossings in LINES.values() for f, _, who in crossings if who == "P9")
    print(f"P9's first crossing on any of the three by-eye lines: frame {p9}")
    # what the text below says, checked
    (a_h, _), (b_h, _) = folds["histogram"]
    (a_l, _), (b_l, _) = folds["learned"]
    assert b_l > b_h and aucs["learned"][1] > aucs["histogram"][1]   # fold 2: learned wins both scores
    assert a_l < a_h and aucs["learned"][0] > aucs["histogram"][0]   # fold 1: loses rank-1, wins AUC
    assert a_l + b_l == a_h + b_h and p9 >= 400                       # pooled: a tie; P9 only after 400

# %% [markdown]
# Turned round, the learned head wins outright: every first-half query finds its own person (13 of
# 13, AUC 1.00) against the histogram's 12 of 13 (0.98). Pooled over the two folds rank-1 is a tie,
# 24 of 27 each, and the learned embedding has the higher AUC in both folds. The asymmetry has a
# plain cause: P9 never crosses any of the three lines before frame 400, so the first-half head
# never met her and takes her for P3 (both in red and jeans), while the second-half head has seen
# both. A learned descriptor knows the people it was shown. An offline pass over one video may show
# it everyone — train on the whole clip's own tracklets, still without a label:
# `benchmarks/bench_street_reid.py` prints that run, rank-1 0.93 on the crops of frames ≥ 400 —
# but then nothing is held out any more, and in the lab it does not remove a single identity
# error (the README's known gaps: there the pieces of track, not the descriptor, are what fails).

# %% [markdown]
# ## 8. Learning an embedding from the clip itself, without labels
#
# Why does ImageNet lose? Its last layer (1280 channels at stride 32, a 4 × 2 grid on a 128 × 64
# crop) describes *what object* is there; at 25–40 px wide every pedestrian is the same object.
# Earlier layers still see colour and texture. `reid_learned.StripeFeatures` taps the frozen
# network after block 6 (32 channels, stride 8) and block 13 (96 channels, stride 16) and pools
# each map in **4 horizontal stripes** (head, torso, hips, legs — PCB-style, so shirt and trousers
# are not averaged together): a 512-d descriptor. Untrained it is no better than the histogram;
# what turns it into a person descriptor is a **metric head** (one 512 × 512 linear map, started
# at the identity) trained on the clip itself:
#
# * **tracklets mined automatically** — the lab's SSD detector and ByteTrack on frames 0–399 only,
#   keeping boxes that overlap no other box (one person per crop): 19 tracks, 1,628 crops;
# * **positives** — two crops of one track 2–20 frames apart (same person, slightly different pose);
# * **negatives** — crops of the *other tracks visible in the same frame*: certainly other people.
#   Tracks from different moments are never pushed apart: they might be the same person returning;
# * **far-away views** — half of the time the positive is the crop as the camera would see that
#   person farther away (`reid_learned.farther`: shrunk to 30–60 % of its box height, then resized
#   back the way a small box is cropped, blur included), so the head learns that a person far away
#   and close up is one person; a 2-s track alone never shows it that;
# * **InfoNCE** loss (a softmax over the similarities, temperature 0.2) on 8 such moments a step,
#   light augmentation that keeps colour (crop jitter, flip, mild blur), 1000 Adam steps; at test
#   time a crop and its mirror image are embedded and averaged.
#
# The hyper-parameters were chosen on a split of the *mined* tracks (odd vs even track ids), never
# on the by-eye identities above. The far-away views were judged the same way, with a second,
# *scale-matched* score (a crop's own-track partners must also be ≥ 1.3 × taller or shorter): over
# three seeds they raise it from 0.436 to 0.474 (colour histogram 0.363) and the plain score from
# 0.658 to 0.664 (`scripts/train_street_reid.py --choose`); on the by-eye crops, which played no
# part in that choice, held-out rank-1 rises from 0.67 to 0.76 (seed means,
# `benchmarks/bench_street_reid.py`). The stripes could also come from the lab's person detector's
# own MobileNetV2, fine-tuned on people (JDE-style: appearance from the detector's network); judged
# the same way it is not kept: with the same recipe it scores 0.643 / 0.415 (plain /
# scale-matched), both backbones side by side 0.658 / 0.434, against 0.664 / 0.474 for ImageNet's
# (`scripts/train_street_reid.py --choose --backbones`). `scripts/train_street_reid.py`
# reproduces the shipped head (about a CPU-minute once the tracklets are mined) and
# `benchmarks/bench_street_reid.py` retrains it with 3 seeds. Below, the shipped run's loss;
# `COMPANION_TRAIN=1` retrains it here.

# %%
from companion.training import LONG_TRAINING  # noqa: E402
from companion.tracking.reid_learned import default_head_path, train_on_street  # noqa: E402

head_log = torch.load(default_head_path(), map_location="cpu", weights_only=True)["log"]
print(f"shipped head: {head_log['crops']} crops of {head_log['tracks']} tracks from frames 0-{head_log['last_frame']}, "
      f"{head_log['config']}, CPU s {head_log['cpu_s']}")
curves = {"shipped run": head_log["loss_every_10"]}
if LONG_TRAINING and real_crops is not None:
    for seed in (1, 2):
        head, curve, info = train_on_street(seed)
        E = LearnedEmbedder(head=head).embed_crops(real_crops)
        print(f"retrained, seed {seed}: all {separation(E, real_people)}, frames >= 400 "
              f"{separation(E[held], real_people[held])}")
        curves[f"seed {seed}"] = info["loss_every_10"]
plt.figure(figsize=(5, 2.6))
for name, c in curves.items():
    plt.plot(np.arange(len(c)) * 10, c, label=name)
plt.xlabel("step")
plt.ylabel("InfoNCE (mean of 10 steps)")
plt.title("metric head on mined street tracklets", fontsize=9)
plt.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise
#
# `q6`: the matching cascade on its own, as DeepSORT runs it. Given the gated appearance cost of
# the confirmed tracks against the detections (`inf` where the Mahalanobis gate says no) and each
# track's `since_update`, return the `(track, detection)` pairs sorted by track and the detections
# left free. `ex.q6.solution()` shows `companion.tracking.matching_cascade`, the function
# `companion.tracking.DeepSORT` calls every frame. First, the `matching_cascade` written in
# section 4 agrees with it on random gated problems:

# %%
from companion.exercises import ex26_5 as ex  # noqa: E402
from companion.tracking import XYAHKalman, matching_cascade as reference_cascade  # noqa: E402

kf, rng = XYAHKalman(), np.random.default_rng(1)
for trial in range(20):
    n, m = rng.integers(1, 6, size=2)
    tr = []
    for k in range(n):
        box = np.array([rng.uniform(40, 300), 120, 0.4, 80.0])
        mean, cov = kf.initiate(box)
        since = int(rng.integers(1, 6))
        for _ in range(since):
            mean, cov = kf.predict(mean, cov)
        g = rng.normal(size=(2, 8))
        tr.append(dict(mean=mean[0], cov=cov[0], since=since, gallery=g / np.linalg.norm(g, axis=1, keepdims=True)))
    feats = rng.normal(size=(m, 8))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    zs = np.stack([tr[rng.integers(n)]["mean"][:4] + [rng.normal(0, 3), 0, 0, 0] for _ in range(m)])
    pairs, free = matching_cascade(tr, feats, zs, kf, max_cos=0.9)
    cost = np.stack([1 - (t["gallery"] @ feats.T).max(0) for t in tr])
    d2 = kf.gating_distance(np.stack([t["mean"] for t in tr]), np.stack([t["cov"] for t in tr]), zs)
    cost[d2 > 9.4877] = np.inf
    ref_pairs, ref_free = reference_cascade(cost, np.array([t["since"] for t in tr]), max_cost=0.9)
    assert sorted(pairs) == [tuple(p) for p in ref_pairs.tolist()] and sorted(free) == ref_free.tolist()
print("the notebook's matching_cascade == companion.tracking.matching_cascade on 20 random gated problems")


# %%
def my_cascade(cost, since_update, max_cost=0.2, max_age=30):
    raise NotImplementedError  # your code: level by level, each against the detections still free


ex.q6.check(my_cascade)

# %%
ex.q6.hint()

