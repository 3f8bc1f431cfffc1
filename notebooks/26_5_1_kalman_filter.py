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
# # 26.5.1 A Kalman filter for boxes
#
# Modern multi-object trackers are *tracking by detection*: a detector finds people in every
# frame independently, and the tracker's only job is to say which box in frame t is which box in
# frame t−1. To compare a track with this frame's boxes we first need to know **where the track
# should be now** — a motion model — and how sure we are about it. The Kalman filter gives both:
# a predicted box and a covariance.
#
# This notebook
# 1. builds the 8-state constant-velocity filter of DeepSORT and ByteTrack in a few lines of NumPy
#    and runs it on a pedestrian of the synthetic street, with noisy and missing detections;
# 2. checks it against `companion.tracking.XYAHKalman` and against `filterpy`;
# 3. looks at SORT's 7-state variant and at **gating**: the Mahalanobis distance that rules out
#    impossible matches before any assignment is solved.

# %%
import matplotlib.pyplot as plt
import numpy as np
from filterpy.kalman import KalmanFilter

import companion
from companion.config import scaled
from companion.synthetic.street import PersonSpec, make_street_scene
from companion.tracking import CHI2INV95, SORTKalman, XYAHKalman, xyah_to_xyxy, xyxy_to_xyah
from companion.tracking.draw import draw_boxes

companion.seed_everything(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. One pedestrian, noisy detections
#
# We script a single person who walks right, slows down on a second segment and turns back, so
# that a constant-velocity model is sometimes wrong. The "detector" returns the true box with
# jitter (4 % of the box size) and misses 15 % of the frames.

# %%
T = scaled(90, 60)
person = PersonSpec(waypoints=[(40, 230), (220, 215), (270, 215), (150, 235)], speeds=[5.0, 2.0, 4.0],
                    height=85, shirt=(30, 120, 200), trousers=(60, 50, 40))
scene = make_street_scene(0, num_frames=T, people=[person], occluders=False)
true = scene.boxes[1]  # (T, 4) xyxy, NaN when absent
present = np.isfinite(true[:, 0])
wh = true[:, 2:] - true[:, :2]
meas = true + rng.normal(0, 0.04, size=true.shape) * np.hstack([wh, wh])
missed = rng.random(T) < 0.15
missed[:2] = False
print(f"{present.sum()} frames with the person, {int((missed & present).sum())} missed detections")

# %% [markdown]
# ## 2. The filter, written out
#
# State `x = (cx, cy, a, h, vx, vy, va, vh)`: box centre, aspect ratio w/h, height and their
# velocities. **Predict**: `x ← F x`, `P ← F P Fᵀ + Q` with `F` adding the velocity to the position.
# **Update** with a measured box `z = (cx, cy, a, h)`: innovation `y = z − H x`, its covariance
# `S = H P Hᵀ + R`, gain `K = P Hᵀ S⁻¹`, then `x ← x + K y`, `P ← P − K S Kᵀ`.
#
# The noise is the one design decision. DeepSORT makes every standard deviation proportional to
# the box height — a pixel of jitter means more for a small, far-away person than for a big one:
# position std = h/20, velocity std = h/160; the aspect ratio gets tiny fixed values because
# people do not change shape much.

# %%
WP, WV = 1 / 20, 1 / 160
F = np.eye(8)
F[:4, 4:] = np.eye(4)
H = np.eye(4, 8)


def initiate(z):
    h = z[3]
    std = np.array([2 * WP * h, 2 * WP * h, 1e-2, 2 * WP * h, 10 * WV * h, 10 * WV * h, 1e-5, 10 * WV * h])
    return np.r_[z, np.zeros(4)], np.diag(std ** 2)


def predict(x, P):
    h = x[3]
    Q = np.diag(np.array([WP * h, WP * h, 1e-2, WP * h, WV * h, WV * h, 1e-5, WV * h]) ** 2)
    return F @ x, F @ P @ F.T + Q


def update(x, P, z):
    h = x[3]
    R = np.diag(np.array([WP * h, WP * h, 1e-1, WP * h]) ** 2)
    S = H @ P @ H.T + R
    K = P @ H.T @ np.linalg.inv(S)
    return x + K @ (z - H @ x), P - K @ S @ K.T


first = int(np.argmax(present))
x, P = initiate(xyxy_to_xyah(meas[first]))
pred_boxes = np.full((T, 4), np.nan)
post_boxes = np.full((T, 4), np.nan)
post_boxes[first] = xyah_to_xyxy(x[:4])
history = [(x, P)]
for t in range(first + 1, T):
    if not present[t]:
        break
    x, P = predict(x, P)
    pred_boxes[t] = xyah_to_xyxy(x[:4])
    if not missed[t]:
        x, P = update(x, P, xyxy_to_xyah(meas[t]))
    post_boxes[t] = xyah_to_xyxy(x[:4])
    history.append((x, P))

err = lambda b: np.nanmean(np.linalg.norm((b[:, :2] + b[:, 2:]) / 2 - (true[:, :2] + true[:, 2:]) / 2, axis=1))  # noqa: E731
print(f"mean centre error: raw detections {err(np.where(missed[:, None], np.nan, meas)):.2f} px, "
      f"prediction {err(pred_boxes):.2f} px, filtered {err(post_boxes):.2f} px")

# %% [markdown]
# ### Predicted vs measured boxes
#
# Left: the centre's x over time — measurements (dots, gaps where the detector missed), the
# prediction made *before* seeing the frame, and the filtered estimate. The prediction lags when
# the person slows down and when they turn back (constant velocity is a prior, not a law); the
# filter pulls it back within a few frames. Right: one frame with the three boxes drawn.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
ts = np.arange(T)
cx = lambda b: (b[:, 0] + b[:, 2]) / 2  # noqa: E731
axes[0].plot(ts, cx(true), "k-", lw=1, label="truth")
axes[0].plot(ts[~missed], cx(meas)[~missed], ".", color="tab:orange", label="detections")
axes[0].plot(ts, cx(pred_boxes), "-", color="tab:red", lw=1, label="predicted (before update)")
axes[0].plot(ts, cx(post_boxes), "-", color="tab:blue", lw=1.5, label="filtered")
for t in ts[missed & present]:
    axes[0].axvline(t, color="0.9", lw=3, zorder=0)
axes[0].set_xlabel("frame")
axes[0].set_ylabel("box centre x (px)")
axes[0].legend(fontsize=7)
t_show = int(person.timeline()[0][1]) + 2  # two frames after the slow-down
img = draw_boxes(scene.frames[t_show], true[t_show][None], colour=(0, 0, 0))
img = draw_boxes(img, pred_boxes[t_show][None], colour=(220, 40, 40))
img = draw_boxes(img, meas[t_show][None], colour=(255, 150, 0))
x0, y0, x1, y1 = true[t_show].astype(int)
axes[1].imshow(img[max(0, y0 - 30):y1 + 30, max(0, x0 - 60):x1 + 60])
axes[1].set_title(f"frame {t_show}: truth (black), measurement (orange), prediction (red)", fontsize=8)
axes[1].set_axis_off()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Check against the companion and against filterpy
#
# `XYAHKalman` does the same for a whole *stack* of tracks at once (arrays `(N, 8)` and
# `(N, 8, 8)`), which is what the trackers call every frame. `filterpy` is a general Kalman
# library; the height-dependent `Q` and `R` are set before each step.

# %%
kf = XYAHKalman()
x2, P2 = kf.initiate(xyxy_to_xyah(meas[first]))
x2, P2 = x2[0], P2[0]
fp = KalmanFilter(dim_x=8, dim_z=4)
fp.F, fp.H = F.copy(), H.copy()
fp.x, fp.P = x2[:, None].copy(), P2.copy()
k = 1
for t in range(first + 1, first + len(history)):
    x2, P2 = kf.predict(x2, P2)
    fp.Q = np.diag(kf.process_std(fp.x[3, 0]) ** 2)
    fp.predict()
    if not missed[t]:
        z = xyxy_to_xyah(meas[t])
        x2, P2 = kf.update(x2, P2, z)
        fp.R = np.diag(kf.measurement_std(fp.x[3, 0]) ** 2)
        fp.update(z)
    np.testing.assert_allclose(x2, history[k][0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(P2, history[k][1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(x2, fp.x[:, 0], rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(P2, fp.P, rtol=1e-7, atol=1e-8)
    k += 1
print(f"inline filter == companion XYAHKalman == filterpy over {k - 1} steps")

# %% [markdown]
# ## 4. SORT's parametrisation
#
# SORT (2016) predates DeepSORT and uses `(cx, cy, s, r)` — area and aspect ratio — with a
# constant aspect ratio (no `ṙ`), fixed noise `R = diag(1, 1, 10, 10)`, a huge initial velocity
# uncertainty (1e4) and one safeguard: if the area would become negative (`s + ṡ ≤ 0`) the area
# velocity is zeroed first. Fixed noise in pixels is the weak point: one pixel is a lot for a
# 20-pixel-tall person and nothing for a 300-pixel one.

# %%
skf = SORTKalman()
print("F =\n", skf.F.astype(int))
m, c = skf.initiate(np.array([100.0, 50.0, 400.0, 0.5]))
m[0, 6] = -500.0  # a shrinking box that would reach negative area
m2, _ = skf.predict(m, c)
print("area after predict:", m2[0, 2], "(velocity zeroed by the guard)")

# %% [markdown]
# ## 5. Gating with the Mahalanobis distance
#
# Before matching, a tracker can rule out detections that are statistically impossible for a
# track. With innovation `y` and covariance `S`, `d² = yᵀ S⁻¹ y` follows a χ² distribution with 4
# degrees of freedom if the detection really belongs to the track; DeepSORT rejects pairs with
# `d² > χ²₄(0.95) = 9.4877`. Unlike a pixel radius, the gate stretches with the uncertainty: a
# track unseen for several frames accepts detections farther away.

# %%
def gate_grid(mean, cov, span=60, n=121):
    xs = np.linspace(-span, span, n)
    zs = np.array([[mean[0] + dx, mean[1] + dy, mean[2], mean[3]] for dy in xs for dx in xs])
    return xs, kf.gating_distance(mean, cov, zs, only_position=False).reshape(n, n)


mean0, cov0 = history[10]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
mean_k, cov_k = mean0, cov0
for ax, misses in zip(axes, [0, 3, 8]):
    mean_k, cov_k = mean0, cov0
    for _ in range(misses + 1):
        mean_k, cov_k = kf.predict(mean_k, cov_k)
    xs, d2 = gate_grid(mean_k, cov_k)
    ax.contourf(xs, xs, d2 <= CHI2INV95[4], levels=[0.5, 1.5], colors=["tab:green"], alpha=0.5)
    ax.contour(xs, xs, d2, levels=[CHI2INV95[4]], colors="k")
    ax.set_aspect("equal")
    ax.set_title(f"gate after {misses} missed frames", fontsize=9)
    ax.set_xlabel("Δx of detection (px)")
axes[0].set_ylabel("Δy (px)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercise
#
# `q2`: write the predict step of the 8-state filter for one track (`mean` (8,), `cov` (8, 8)),
# with the height-proportional process noise described above.

# %%
from companion.exercises import ex26_5 as ex  # noqa: E402


def my_predict(mean, cov):
    raise NotImplementedError  # your code: return F @ mean, F @ cov @ F.T + Q


ex.q2.check(my_predict)

# %%
ex.q2.hint()
