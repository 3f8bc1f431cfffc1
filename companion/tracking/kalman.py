"""Constant-velocity Kalman filters for box tracking, vectorised over tracks.

Two parametrisations are used in the literature and both are here:

* :class:`SORTKalman` — SORT's 7-dimensional state ``[u, v, s, r, u', v', s']`` (centre, area,
  aspect ratio; the aspect ratio is assumed constant), measurement ``[u, v, s, r]``, with the
  fixed noise of the SORT reference code: ``R = diag(1, 1, 10, 10)``,
  ``P0 = diag(10, 10, 10, 10, 1e4, 1e4, 1e4)``, ``Q = diag(1, 1, 1, 1, .01, .01, 1e-4)``, and the
  guard "if s + s' <= 0 set s' = 0" before predicting so that the area never turns negative.
* :class:`XYAHKalman` — DeepSORT's / ByteTrack's 8-dimensional state
  ``[x, y, a, h, x', y', a', h']`` (centre, aspect w/h, height), whose noise standard deviations
  scale with the box height (1/20 of it for positions, 1/160 for velocities), plus the squared
  Mahalanobis gating distance used to rule out impossible matches (chi-square 95 % quantiles in
  :data:`CHI2INV95`).

Every method takes and returns stacked arrays — ``mean`` (N, d) and ``cov`` (N, d, d) — so one
call predicts all tracks of a frame; N = 1 is the single-track case. The equations are the
textbook ones: predict ``x <- F x``, ``P <- F P F^T + Q``; update with the innovation
``y = z - H x``, ``S = H P H^T + R``, gain ``K = P H^T S^-1``, ``x <- x + K y``.
The tests check both filters step by step against ``filterpy.kalman.KalmanFilter``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SORTKalman", "XYAHKalman", "CHI2INV95"]

#: 0.95 quantile of the chi-square distribution with N degrees of freedom (N = 1..9).
CHI2INV95 = {1: 3.8415, 2: 5.9915, 3: 7.8147, 4: 9.4877, 5: 11.070, 6: 12.592, 7: 14.067,
             8: 15.507, 9: 16.919}


def _batch(mean, cov, d):
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    single = mean.ndim == 1
    if single:
        mean, cov = mean[None], cov[None]
    if mean.shape[-1] != d or cov.shape[-2:] != (d, d) or len(mean) != len(cov):
        raise ValueError(f"expected mean (N, {d}) and cov (N, {d}, {d}), got {mean.shape} and {cov.shape}")
    return mean, cov, single


def _measurements(z, n, name="measurement"):
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[None]
    if z.shape != (n, 4):
        raise ValueError(f"{name} must have shape ({n}, 4) — one per track — got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return z


class SORTKalman:
    """SORT's filter on ``[u, v, s, r, u', v', s']`` (see the module docstring)."""

    ndim = 7

    def __init__(self):
        F = np.eye(7)
        F[0, 4] = F[1, 5] = F[2, 6] = 1.0
        self.F = F
        self.H = np.eye(4, 7)
        self.R = np.diag([1.0, 1.0, 10.0, 10.0])
        self.P0 = np.diag([10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4])
        self.Q = np.diag([1.0, 1.0, 1.0, 1.0, 1e-2, 1e-2, 1e-4])

    def initiate(self, z):
        """State from measurements ``z`` (N, 4) = (u, v, s, r); velocities start at 0."""
        z = np.asarray(z, dtype=np.float64).reshape(-1, 4)
        mean = np.zeros((len(z), 7))
        mean[:, :4] = z
        cov = np.broadcast_to(self.P0, (len(z), 7, 7)).copy()
        return mean, cov

    def predict(self, mean, cov):
        mean, cov, single = _batch(mean, cov, 7)
        mean = mean.copy()
        neg = mean[:, 2] + mean[:, 6] <= 0
        mean[neg, 6] = 0.0
        mean = mean @ self.F.T
        cov = self.F @ cov @ self.F.T + self.Q
        return (mean[0], cov[0]) if single else (mean, cov)

    def project(self, mean, cov):
        """Measurement-space mean (N, 4) and covariance ``S`` (N, 4, 4)."""
        mean, cov, single = _batch(mean, cov, 7)
        m, S = mean[:, :4], cov[:, :4, :4] + self.R
        return (m[0], S[0]) if single else (m, S)

    def update(self, mean, cov, z):
        mean, cov, single = _batch(mean, cov, 7)
        z = _measurements(z, len(mean))
        PHt = cov[:, :, :4]
        S = cov[:, :4, :4] + self.R
        K = np.linalg.solve(S, PHt.transpose(0, 2, 1)).transpose(0, 2, 1)  # P H^T S^-1 (S symmetric)
        y = z - mean[:, :4]
        mean = mean + np.einsum("nij,nj->ni", K, y)
        # Joseph form (I-KH) P (I-KH)^T + K R K^T: symmetric and positive by construction
        IKH = np.eye(7) - K @ self.H
        cov = IKH @ cov @ IKH.transpose(0, 2, 1) + K @ self.R @ K.transpose(0, 2, 1)
        return (mean[0], cov[0]) if single else (mean, cov)


class XYAHKalman:
    """DeepSORT's / ByteTrack's filter on ``[x, y, a, h, x', y', a', h']``."""

    ndim = 8

    def __init__(self, std_weight_position: float = 1.0 / 20, std_weight_velocity: float = 1.0 / 160):
        F = np.eye(8)
        F[:4, 4:] = np.eye(4)
        self.F = F
        self.H = np.eye(4, 8)
        self.wp = float(std_weight_position)
        self.wv = float(std_weight_velocity)
        # process std = h * scale + const (the aspect-ratio entries do not scale with h)
        self._idx = np.arange(8)
        self._q_scale = np.array([self.wp, self.wp, 0, self.wp, self.wv, self.wv, 0, self.wv])
        self._q_const = np.array([0, 0, 1e-2, 0, 0, 0, 1e-5, 0])
        self._r_scale = np.array([self.wp, self.wp, 0, self.wp])
        self._r_const = np.array([0, 0, 1e-1, 0])

    # -- noise models (all scale with the box height h) ----------------------------------------
    def initial_std(self, h):
        h = np.asarray(h, dtype=np.float64)
        wp, wv = self.wp, self.wv
        one = np.ones_like(h)
        return np.stack([2 * wp * h, 2 * wp * h, 1e-2 * one, 2 * wp * h,
                         10 * wv * h, 10 * wv * h, 1e-5 * one, 10 * wv * h], axis=-1)

    def process_std(self, h):
        h = np.asarray(h, dtype=np.float64)
        one = np.ones_like(h)
        return np.stack([self.wp * h, self.wp * h, 1e-2 * one, self.wp * h,
                         self.wv * h, self.wv * h, 1e-5 * one, self.wv * h], axis=-1)

    def measurement_std(self, h):
        h = np.asarray(h, dtype=np.float64)
        one = np.ones_like(h)
        return np.stack([self.wp * h, self.wp * h, 1e-1 * one, self.wp * h], axis=-1)

    @staticmethod
    def _diag(std):
        out = np.zeros(std.shape + (std.shape[-1],))
        idx = np.arange(std.shape[-1])
        out[..., idx, idx] = std ** 2
        return out

    # -- filter steps ---------------------------------------------------------------------------
    def initiate(self, z):
        """State from measurements ``z`` (N, 4) = (x, y, a, h); velocities start at 0."""
        z = np.asarray(z, dtype=np.float64).reshape(-1, 4)
        mean = np.zeros((len(z), 8))
        mean[:, :4] = z
        return mean, self._diag(self.initial_std(z[:, 3]))

    def predict(self, mean, cov):
        mean, cov, single = _batch(mean, cov, 8)
        # F = [[I, I], [0, I]], so F P F^T is four block sums; Q from the height before the step
        h = mean[:, 3:4]
        m = mean.copy()
        m[:, :4] += mean[:, 4:]
        P = cov.copy()
        P[:, :4, :] += cov[:, 4:, :]
        P[:, :, :4] += P[:, :, 4:]
        P[:, self._idx, self._idx] += (h * self._q_scale + self._q_const) ** 2
        return (m[0], P[0]) if single else (m, P)

    def project(self, mean, cov):
        """Measurement-space mean (N, 4) and innovation covariance ``S = H P H^T + R`` (N, 4, 4)."""
        mean, cov, single = _batch(mean, cov, 8)
        S = cov[:, :4, :4].copy()
        S[:, self._idx[:4], self._idx[:4]] += (mean[:, 3:4] * self._r_scale + self._r_const) ** 2
        m = mean[:, :4].copy()
        return (m[0], S[0]) if single else (m, S)

    def update(self, mean, cov, z):
        mean, cov, single = _batch(mean, cov, 8)
        z = _measurements(z, len(mean))
        m, S = self.project(mean, cov)
        PHt = cov[:, :, :4]
        K = np.linalg.solve(S, PHt.transpose(0, 2, 1)).transpose(0, 2, 1)  # P H^T S^-1
        mean = mean + (K @ (z - m)[:, :, None])[:, :, 0]
        cov = cov - K @ PHt.transpose(0, 2, 1)  # K S K^T = P H^T K^T
        return (mean[0], cov[0]) if single else (mean, cov)

    def gating_distance(self, mean, cov, z, only_position: bool = False) -> np.ndarray:
        """Squared Mahalanobis distance of every measurement ``z`` (M, 4) to every track:
        (N, M), or (M,) for a single track. Compare with ``CHI2INV95[4]`` (``[2]`` when
        ``only_position``)."""
        mean, cov, single = _batch(mean, cov, 8)
        z = np.asarray(z, dtype=np.float64).reshape(-1, 4)
        m, S = self.project(mean, cov)
        if only_position:
            m, S, z = m[:, :2], S[:, :2, :2], z[:, :2]
        d = z[None, :, :] - m[:, None, :]  # (N, M, k)
        if d.shape[1] == 0:
            out = np.zeros((len(mean), 0))
        else:
            sol = np.linalg.solve(S, d.transpose(0, 2, 1))  # (N, k, M)
            out = np.einsum("nmk,nkm->nm", d, sol)
        return out[0] if single else out
