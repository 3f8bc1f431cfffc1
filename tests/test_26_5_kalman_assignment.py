"""Boxes vs torchvision, Kalman filters vs filterpy, assignment vs brute force / scipy."""

import itertools

import numpy as np
import pytest
import torch
from filterpy.kalman import KalmanFilter
from torchvision.ops import box_iou as tv_box_iou

from companion.tracking import (CHI2INV95, SORTKalman, XYAHKalman, box_iou, gate_cost_matrix,
                                linear_assignment, xyah_to_xyxy, xysr_to_xyxy, xywh_to_xyxy,
                                xyxy_to_xyah, xyxy_to_xysr, xyxy_to_xywh)
from companion.tracking.boxes import as_boxes


def _random_boxes(rng, n):
    xy = rng.uniform(0, 300, size=(n, 2))
    wh = rng.uniform(2, 80, size=(n, 2))
    return np.hstack([xy, xy + wh])


# ---- boxes ---------------------------------------------------------------------------------

def test_iou_matches_torchvision():
    rng = np.random.default_rng(0)
    for n, m in [(1, 1), (7, 5), (30, 40)]:
        a, b = _random_boxes(rng, n), _random_boxes(rng, m)
        ours = box_iou(a, b)
        ref = tv_box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        np.testing.assert_allclose(ours, ref, atol=1e-12)
    assert box_iou(np.zeros((0, 4)), _random_boxes(rng, 3)).shape == (0, 3)
    # identical boxes -> 1, disjoint -> 0, degenerate pair -> 0 (torchvision: nan)
    b = np.array([[0, 0, 10, 10.0]])
    assert box_iou(b, b)[0, 0] == 1.0
    assert box_iou(b, b + 20)[0, 0] == 0.0
    deg = np.array([[5, 5, 5, 5.0]])
    assert box_iou(deg, deg)[0, 0] == 0.0


def test_format_round_trips():
    rng = np.random.default_rng(1)
    b = _random_boxes(rng, 20)
    np.testing.assert_allclose(xywh_to_xyxy(xyxy_to_xywh(b)), b, atol=1e-9)
    np.testing.assert_allclose(xyah_to_xyxy(xyxy_to_xyah(b)), b, atol=1e-9)
    np.testing.assert_allclose(xysr_to_xyxy(xyxy_to_xysr(b)), b, atol=1e-9)
    z = xyxy_to_xyah(np.array([0, 0, 20, 40.0]))
    np.testing.assert_allclose(z, [10, 20, 0.5, 40])
    z = xyxy_to_xysr(np.array([0, 0, 20, 40.0]))
    np.testing.assert_allclose(z, [10, 20, 800, 0.5])


@pytest.mark.parametrize("bad,match", [
    (np.array([[0, 0, 1.0]]), "shape"),
    (np.array([[0, 0, np.nan, 1.0]]), "NaN"),
    (np.array([[5, 0, 1, 1.0]]), "x2 < x1"),
])
def test_as_boxes_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        as_boxes(bad)


# ---- Kalman filters vs filterpy ---------------------------------------------------------------

def _measurements(rng, T, xysr=True):
    c = np.array([100.0, 80.0])
    v = rng.normal(0, 3, 2)
    w, h = 30.0, 70.0
    out = []
    for _ in range(T):
        c = c + v + rng.normal(0, 1, 2)
        w, h = w * np.exp(rng.normal(0, 0.03)), h * np.exp(rng.normal(0, 0.03))
        box = np.array([c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2])
        out.append(xyxy_to_xysr(box) if xysr else xyxy_to_xyah(box))
    return np.array(out)


def test_sort_filter_matches_filterpy():
    rng = np.random.default_rng(0)
    zs = _measurements(rng, 40)
    ours = SORTKalman()
    fp = KalmanFilter(dim_x=7, dim_z=4)
    fp.F, fp.H = ours.F.copy(), ours.H.copy()
    fp.R, fp.P, fp.Q = ours.R.copy(), ours.P0.copy(), ours.Q.copy()
    fp.x[:4, 0] = zs[0]
    mean, cov = ours.initiate(zs[0])
    mean, cov = mean[0], cov[0]
    for k, z in enumerate(zs[1:]):
        if fp.x[6, 0] + fp.x[2, 0] <= 0:
            fp.x[6, 0] = 0.0
        fp.predict()
        mean, cov = ours.predict(mean, cov)
        np.testing.assert_allclose(mean, fp.x[:, 0], rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(cov, fp.P, rtol=1e-9, atol=1e-7)
        if k % 7 == 3:
            continue  # a missed detection: predict only
        fp.update(z)
        mean, cov = ours.update(mean, cov, z)
        np.testing.assert_allclose(mean, fp.x[:, 0], rtol=1e-9, atol=1e-8)
        np.testing.assert_allclose(cov, fp.P, rtol=1e-8, atol=1e-7)


def test_sort_filter_area_guard():
    kf = SORTKalman()
    mean, cov = kf.initiate(np.array([50, 50, 10.0, 0.5]))
    mean[0, 6] = -20.0  # shrinking faster than the area allows
    m2, _ = kf.predict(mean, cov)
    assert m2[0, 2] == pytest.approx(10.0) and m2[0, 6] == 0.0


def test_xyah_filter_matches_filterpy_and_batches():
    rng = np.random.default_rng(1)
    zs = _measurements(rng, 40, xysr=False)
    ours = XYAHKalman()
    mean, cov = ours.initiate(zs[0])
    fp = KalmanFilter(dim_x=8, dim_z=4)
    fp.F, fp.H = ours.F.copy(), ours.H.copy()
    fp.x, fp.P = mean[0][:, None].copy(), cov[0].copy()
    mean, cov = mean[0], cov[0]
    for k, z in enumerate(zs[1:]):
        fp.Q = np.diag(ours.process_std(fp.x[3, 0]) ** 2)
        fp.predict()
        mean, cov = ours.predict(mean, cov)
        np.testing.assert_allclose(mean, fp.x[:, 0], rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(cov, fp.P, rtol=1e-9, atol=1e-9)
        if k % 5 == 2:
            continue
        fp.R = np.diag(ours.measurement_std(fp.x[3, 0]) ** 2)
        fp.update(z)
        mean, cov = ours.update(mean, cov, z)
        np.testing.assert_allclose(mean, fp.x[:, 0], rtol=1e-9, atol=1e-8)
        np.testing.assert_allclose(cov, fp.P, rtol=1e-7, atol=1e-8)
    # the batched call equals per-track calls
    Z = _measurements(rng, 5, xysr=False)
    M, C = ours.initiate(Z)
    M, C = ours.predict(M, C)
    for i in range(5):
        m1, c1 = ours.initiate(Z[i])
        m1, c1 = ours.predict(m1[0], c1[0])
        np.testing.assert_allclose(M[i], m1)
        np.testing.assert_allclose(C[i], c1)


def test_gating_distance_is_mahalanobis():
    kf = XYAHKalman()
    mean, cov = kf.initiate(np.array([[100, 100, 0.5, 80.0], [10, 10, 0.4, 40.0]]))
    mean, cov = kf.predict(mean, cov)
    z = np.array([[100, 100, 0.5, 80.0], [104, 98, 0.5, 82.0], [300, 300, 0.5, 80.0]])
    d = kf.gating_distance(mean, cov, z)
    assert d.shape == (2, 3)
    m, S = kf.project(mean[0], cov[0])
    for j in range(3):
        e = z[j] - m
        assert d[0, j] == pytest.approx(e @ np.linalg.solve(S, e))
    assert d[0, 0] == pytest.approx(0.0, abs=1e-12)
    assert d[0, 1] < CHI2INV95[4] < d[0, 2]
    dp = kf.gating_distance(mean[0], cov[0], z, only_position=True)
    assert dp.shape == (3,) and dp[1] <= d[0, 1]


def test_kalman_shape_errors():
    kf = XYAHKalman()
    mean, cov = kf.initiate(np.array([1, 2, 0.5, 10.0]))
    with pytest.raises(ValueError, match="one per track"):
        kf.update(mean, cov, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        kf.update(mean, cov, np.array([[np.nan, 0, 0, 1.0]]))
    with pytest.raises(ValueError, match="expected mean"):
        kf.predict(np.zeros((1, 7)), np.zeros((1, 7, 7)))


# ---- assignment --------------------------------------------------------------------------------

def _brute_force(cost, max_cost):
    """Max number of allowed pairs, then min total cost, over all matchings."""
    n, m = cost.shape
    best = (0, 0.0, [])
    allowed = np.isfinite(cost) & (cost <= max_cost)
    for k in range(min(n, m), 0, -1):
        found = None
        for rows in itertools.combinations(range(n), k):
            for cols in itertools.permutations(range(m), k):
                if all(allowed[r, c] for r, c in zip(rows, cols)):
                    tot = sum(cost[r, c] for r, c in zip(rows, cols))
                    if found is None or tot < found[0] - 1e-12:
                        found = (tot, list(zip(rows, cols)))
        if found is not None:
            return k, found[0]
    return best[0], best[1]


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2), (4, 4)])
def test_linear_assignment_optimal_with_gating(shape):
    rng = np.random.default_rng(sum(shape))
    for trial in range(15):
        cost = rng.uniform(0, 1, size=shape)
        cost[rng.random(shape) < 0.3] = np.inf
        max_cost = 0.8
        matches, ur, uc = linear_assignment(cost, max_cost)
        k, total = _brute_force(cost, max_cost)
        assert len(matches) == k
        assert cost[matches[:, 0], matches[:, 1]].sum() == pytest.approx(total)
        assert np.all(cost[matches[:, 0], matches[:, 1]] <= max_cost)
        assert sorted(list(matches[:, 0]) + list(ur)) == list(range(shape[0]))
        assert sorted(list(matches[:, 1]) + list(uc)) == list(range(shape[1]))


def test_linear_assignment_edge_cases():
    m, ur, uc = linear_assignment(np.zeros((0, 3)))
    assert m.shape == (0, 2) and len(ur) == 0 and list(uc) == [0, 1, 2]
    m, ur, uc = linear_assignment(np.full((2, 2), np.inf))
    assert len(m) == 0 and list(ur) == [0, 1]
    with pytest.raises(ValueError, match="NaN"):
        linear_assignment(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        linear_assignment(np.zeros(3))
    c = gate_cost_matrix(np.ones((2, 2)), np.array([[1.0, 20.0], [3.0, 4.0]]), CHI2INV95[4])
    assert np.isinf(c[0, 1]) and np.isfinite(c).sum() == 3


def test_textbook_predict_of_the_exercise_equals_xyah_kalman():
    """ex26_5.kalman_predict writes F x, F P F^T + Q out; XYAHKalman.predict uses block sums."""
    from companion.exercises.ex26_5 import kalman_predict

    rng = np.random.default_rng(3)
    kf = XYAHKalman()
    for _ in range(20):
        mean = np.r_[rng.uniform(0, 300, 2), rng.uniform(0.2, 1.0), rng.uniform(20, 200), rng.normal(0, 3, 4)]
        A = rng.normal(size=(8, 8))
        cov = A @ A.T + np.eye(8)
        m_ref, c_ref = kf.predict(mean, cov)
        m, c = kalman_predict(mean, cov)
        np.testing.assert_allclose(m, m_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c, c_ref, rtol=1e-12, atol=1e-10)
