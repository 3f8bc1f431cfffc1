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
# # 26.5.2 Assignment: which box is which track?
#
# After the Kalman filter has predicted where every track should be, we have an `N × M` cost
# matrix — e.g. `1 − IoU` between the `N` predicted boxes and the `M` detections — and we must pick
# pairs, each track and each detection used at most once, as cheaply as possible. That is the
# **linear assignment problem**. Greedy "best pair first" is tempting and wrong; the Hungarian
# algorithm (Kuhn 1955, Munkres 1957) solves it exactly in O(n³).
#
# This notebook
# 1. computes an IoU cost matrix, vectorised, and checks it against `torchvision.ops.box_iou`;
# 2. shows a small case where greedy matching loses;
# 3. builds the Hungarian algorithm from scratch and checks it against
#    `scipy.optimize.linear_sum_assignment` on random square and rectangular matrices, with
#    **gating** (forbidden pairs at infinite cost).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou as tv_box_iou
from tqdm.auto import tqdm

import companion
from companion.config import scaled
from companion.tracking import box_iou, linear_assignment
from companion.tracking.draw import plot_cost_matrix

companion.seed_everything(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The IoU matrix
#
# Intersection over union of every pair at once by broadcasting `(N, 1, 4)` against `(1, M, 4)`:
# the overlap of the x-intervals times the overlap of the y-intervals, divided by the union.


# %%
def iou_matrix(a, b):
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def random_boxes(n):
    xy = rng.uniform(0, 200, size=(n, 2))
    return np.hstack([xy, xy + rng.uniform(10, 60, size=(n, 2))])


a, b = random_boxes(30), random_boxes(40)
np.testing.assert_allclose(iou_matrix(a, b), tv_box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy(), atol=1e-12)
np.testing.assert_allclose(iou_matrix(a, b), box_iou(a, b), atol=1e-12)
print("iou_matrix == torchvision.ops.box_iou == companion.tracking.box_iou")

# %% [markdown]
# ## 2. Greedy is not optimal
#
# Two people walk close together; their predicted boxes overlap the detections. Greedy takes the
# single best pair (track 0 ↔ detection 0, IoU 0.6) and leaves track 1 with a detection it barely
# overlaps — below the 0.3 threshold, so track 1 is "lost" and detection 1 will start a new
# identity. The optimal assignment gives up a little on the first pair (IoU 0.45 and 0.5) and
# matches both.

# %%
tracks = np.array([[20, 0, 50, 80.0], [37.5, 0, 67.5, 80]])
dets = np.array([[27.5, 0, 57.5, 80.0], [8.6, 0, 38.6, 80]])
iou = box_iou(tracks, dets)
cost = 1 - iou


def greedy(cost, max_cost):
    c = cost.copy()
    pairs = []
    while np.isfinite(c).any() and np.nanmin(c) <= max_cost:
        i, j = np.unravel_index(np.argmin(c), c.shape)
        pairs.append((i, j))
        c[i, :] = np.inf
        c[:, j] = np.inf
    return np.array(pairs).reshape(-1, 2)


g = greedy(cost, 0.7)
opt, _, _ = linear_assignment(cost, 0.7)
print("IoU:\n", iou.round(2))
assert len(g) == 1 and len(opt) == 2
fig, axes = plt.subplots(1, 2, figsize=(7, 2.6))
plot_cost_matrix(cost, g, ax=axes[0], title=f"greedy: {len(g)} match, cost {cost[g[:, 0], g[:, 1]].sum():.2f}")
plot_cost_matrix(cost, opt, ax=axes[1], title=f"optimal: {len(opt)} matches, cost {cost[opt[:, 0], opt[:, 1]].sum():.2f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. The Hungarian algorithm from scratch
#
# The version below is the classic O(n²m) "shortest augmenting path with potentials" form of the
# Hungarian method for an `n × m` matrix with `n ≤ m`. It keeps a potential `u` per row and `v` per
# column so that `cost[i, j] − u[i] − v[j] ≥ 0` everywhere (reduced costs) and matched pairs have
# reduced cost 0. Rows are added one at a time; each addition runs a Dijkstra-like search over
# columns on the reduced costs, then flips the alternating path it found and shifts the
# potentials. When every row is in, the matching is optimal (the potentials are a dual
# certificate: their sum equals the matching's cost).
#
# **Rectangular** matrices with more rows than columns are transposed. **Gating**: forbidden
# pairs get `inf`; we replace `inf` by a value larger than any possible sum of allowed costs, so
# the solver first maximises the number of allowed pairs, and afterwards throw away any pair that
# landed on a forbidden cell — exactly what `companion.tracking.linear_assignment` does around
# scipy.


# %%
def hungarian(cost):
    """Rows and columns of a minimum-cost assignment of a finite n x m matrix (min(n, m) pairs)."""
    cost = np.asarray(cost, dtype=float)
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    match_col = np.zeros(m + 1, dtype=int)  # match_col[j] = row (1-based) matched to column j; column 0 is a sentinel
    way = np.zeros(m + 1, dtype=int)
    for i in range(1, n + 1):
        match_col[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:  # grow the alternating tree until it reaches a free column
            used[j0] = True
            i0 = match_col[j0]
            free = ~used[1:]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            cand = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            u[match_col[used]] += delta  # shift potentials of the tree
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if match_col[j0] == 0:
                break
        while j0:  # flip the augmenting path
            j1 = way[j0]
            match_col[j0] = match_col[j1]
            j0 = j1
    cols = np.nonzero(match_col[1:])[0]
    rows = match_col[1:][cols] - 1
    order = np.argsort(rows)
    rows, cols = rows[order], cols[order]
    return (cols, rows) if transposed else (rows, cols)


def hungarian_gated(cost, max_cost=np.inf):
    c = np.asarray(cost, dtype=float)
    allowed = np.isfinite(c) & (c <= max_cost)
    big = 2 * (np.abs(c[allowed]).sum() + 1) + 1 if allowed.any() else 1.0
    r, k = hungarian(np.where(allowed, c, big))
    keep = allowed[r, k]
    return r[keep], k[keep]


# %% [markdown]
# ### Check against scipy
#
# Random matrices — square, wide, tall — some with a share of forbidden (`inf`) cells. The
# assignments may differ when there are ties, so we compare what is unique: the number of
# allowed pairs and their total cost.

# %%
n_trials = scaled(300, 60)
worst = 0.0
for trial in tqdm(range(n_trials), desc="random matrices"):
    n, m = rng.integers(1, 9, size=2)
    c = rng.uniform(0, 1, size=(n, m))
    if trial % 2:
        c[rng.random((n, m)) < 0.4] = np.inf
    r1, c1 = hungarian_gated(c, 0.9)
    ref, _, _ = linear_assignment(c, 0.9)  # scipy inside
    assert len(r1) == len(ref), (c, r1, ref)
    worst = max(worst, abs(c[r1, c1].sum() - c[ref[:, 0], ref[:, 1]].sum()))
    if trial % 2 == 0:  # no gating: compare with plain scipy on the full matrix
        rs, cs = linear_sum_assignment(c)
        assert abs(c[hungarian(c)].sum() - c[rs, cs].sum()) < 1e-9
print(f"{n_trials} matrices: same number of pairs, max |total cost difference| = {worst:.1e}")

# %% [markdown]
# ### How fast?
#
# The pure-Python/NumPy loop is fine for the dozen tracks of a street scene, and scipy's C
# implementation is what production code should call. Timings on this (shared) machine:

# %%
for size in scaled([10, 50, 150], [10, 50]):
    c = rng.uniform(0, 1, size=(size, size))
    t0 = time.perf_counter()
    hungarian(c)
    t1 = time.perf_counter()
    linear_sum_assignment(c)
    t2 = time.perf_counter()
    print(f"{size:4d} x {size:<4d} from scratch {1e3 * (t1 - t0):7.2f} ms   scipy {1e3 * (t2 - t1):6.3f} ms")

# %% [markdown]
# ## 4. A gated cost matrix from a tracked scene
#
# One frame of a synthetic street scene (`companion.synthetic.street`, 10 walkers, noisy
# detections; the real street clip comes in the lab). ByteTrack runs up to the frame before;
# its live tracks are then *predicted* into the last frame with their Kalman filters — the boxes
# the tracker compares with the new detections. The cost is `1 − IoU` between those predictions
# and the last frame's detections, gated at IoU < 0.3 (shown as `inf`), and the chosen pairs are
# outlined. (`ByteTrack.tracked_objects` holds the boxes *after* the previous frame's update; the
# prediction moves each of them one frame along its velocity.)
#
# Gating *before* solving, as here, is ByteTrack's rule (its released code hands the solver a
# cost limit). SORT solves on all pairs first and drops the weak pairs afterwards (exercise `q3`,
# `companion.tracking.sort_step`, the `trackers` package's SORT): the two differ when one track
# could take an excellent box or two tracks could each take a poor one — gating first gives the
# two poor pairs, solving first the excellent one.

# %%
from companion.synthetic.street import make_street_scene  # noqa: E402
from companion.tracking import ByteTrack, XYAHKalman, noisy_detections, xyah_to_xyxy  # noqa: E402

scene = make_street_scene(2, num_frames=scaled(60, 40), num_people=10)
dets = noisy_detections(scene.gt, seed=2, image_size=scene.size, fp_per_frame=1.0)
bt = ByteTrack(frame_rate=scene.fps)
for d in dets[:-1]:
    bt.update(d)
live = bt.activated & (bt.last == bt.frame_id)  # confirmed tracks matched in the previous frame
np.testing.assert_allclose(xyah_to_xyxy(bt.mean[live, :4]), bt.tracked_objects.xyxy, atol=1e-3)
mean, _ = XYAHKalman().predict(bt.mean[live], bt.cov[live])
pred = xyah_to_xyxy(mean[:, :4])  # where each track should be in the last frame
last = dets[-1].xyxy
c = 1 - box_iou(pred, last)
c[c > 0.7] = np.inf
m, _, _ = linear_assignment(c, 0.7)
print(f"{len(pred)} predicted tracks, {len(last)} detections, {len(m)} pairs; "
      f"mean shift of the prediction {np.abs(pred - bt.tracked_objects.xyxy).mean():.2f} px")
plot_cost_matrix(c, m, title="1 − IoU (predicted tracks × detections), gated at IoU < 0.3 (inf); red = assignment")
plt.show()

# %% [markdown]
# ## Exercises
#
# * `q1`: the vectorised IoU matrix.
# * `q3`: SORT's association step: the optimal matching on `1 − IoU` over all pairs, then the
#   matched pairs below the IoU threshold dropped (solve first, drop afterwards), returned as
#   `(track, detection)` pairs sorted by track.

# %%
from companion.exercises import ex26_5 as ex  # noqa: E402

ex.q1.check(iou_matrix)  # the function written above


# %%
def my_associate(track_boxes, det_boxes, iou_threshold=0.3):
    raise NotImplementedError  # your code: linear_sum_assignment on 1 - IoU, then drop pairs below the threshold


ex.q3.check(my_associate)

# %%
ex.q3.hint(2)
