"""Unsuitable input is said out loud: scene cuts, a moving camera, a moving background and
implausible tracks give warnings (synthetic known cases here; the real opencv-doc clips in
test_lab_quality_real)."""

import numpy as np
import pytest

from companion.lab.quality import InputMonitor


def _texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    import cv2

    small = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _codes(m):
    return [w["code"] for w in m.warnings()]


def test_static_scene_with_a_walker_gives_no_warning():
    bg = _texture(240, 320)
    m = InputMonitor(10, static_background=True)
    for t in range(40):
        f = bg.copy()
        f[100:160, 20 + 4 * t:40 + 4 * t] = (200, 40, 40)  # one person walking across
        m.update(t, f, [0] if t >= 3 else [])
    assert _codes(m) == []
    assert m.signals()["camera_motion_px_median"] < 0.5


def test_scene_cut_is_reported_at_its_frame():
    a, b = _texture(240, 320, 1), _texture(240, 320, 2) // 3
    m = InputMonitor(10)
    for t in range(30):
        m.update(t, a if t < 17 else b)
    assert _codes(m) == ["scene_cut"]
    assert m.warnings()[0]["frames"] == [17]


def test_panning_camera_is_reported_with_the_detector_it_hurts():
    wide = _texture(240, 640, 3)
    for static in (True, False):
        m = InputMonitor(10, static_background=static)
        for t in range(30):
            m.update(t, np.ascontiguousarray(wide[:, 6 * t:6 * t + 320]))  # pans 6 px a frame
        w = m.warnings()
        assert [x["code"] for x in w] == ["moving_camera"]
        assert m.signals()["camera_motion_px_median"] == pytest.approx(6, abs=1)
        assert ("background-subtraction" in w[0]["message"]) == static


def test_moving_background_and_implausible_tracks():
    rng = np.random.default_rng(0)
    bg = _texture(240, 320, 4)
    m = InputMonitor(10, static_background=True)
    for t in range(30):
        f = bg.copy()
        f[:, 160:] = rng.integers(0, 255, (240, 160, 3), dtype=np.uint8)  # half the picture flickers
        m.update(t, f, [100 + t, 200 + t])  # two new one-frame tracks every frame
    codes = _codes(m)
    assert codes == ["moving_background", "implausible_tracks"]
    assert m.signals()["births_per_s"] == pytest.approx(60 / 3.0)
