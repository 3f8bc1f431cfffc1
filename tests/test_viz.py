"""companion.viz: explorers that redraw on release from a cached preview, animations that embed."""

import numpy as np
import pytest

from companion import viz


class _FakeKernel:
    config = {"IPKernelApp": {}}


@pytest.fixture
def live(monkeypatch):
    """A live kernel with a front end: an IPython kernel and no COMPANION_HEADLESS."""
    import IPython

    monkeypatch.delenv("COMPANION_HEADLESS", raising=False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: _FakeKernel())
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    return shown


def test_headless_is_about_the_front_end_not_fast_mode(live, monkeypatch):
    monkeypatch.setattr("companion.config.FAST", True)
    monkeypatch.setenv("COMPANION_FAST", "1")
    assert viz.headless() is False           # fast mode keeps widgets live
    monkeypatch.setenv("COMPANION_HEADLESS", "1")
    assert viz.headless() is True            # no front end (nbmake, the book)
    import IPython

    monkeypatch.delenv("COMPANION_HEADLESS")
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert viz.headless() is True            # a plain script


def test_explorer_headless_draws_the_static_values_once_and_returns_none(monkeypatch):
    monkeypatch.setenv("COMPANION_HEADLESS", "1")
    calls = []
    out = viz.explorer(lambda a, b: calls.append((a, b)), a=(1, 5, 1), b=["x", "y"], static={"b": "y"})
    assert out is None and calls == [(1, "y")]


def test_explorer_live_redraws_on_release_with_every_current_value(live):
    calls = []
    out = viz.explorer(lambda a, b: calls.append((a, b)), a=(1, 5, 1), b=["x", "y"], static={"b": "y"})
    assert out is None                       # nothing for the cell to echo as Out[]
    assert calls == [(1, "y")]               # drawn once at once, with the static values
    box = live[0]
    a, b = box.children[0].children
    assert a.continuous_update is False      # a drag sends one value, on release
    a.value = 4
    b.value = "x"
    assert calls == [(1, "y"), (4, "y"), (4, "x")]  # each redraw reads all controls


def test_explorer_rejects_static_values_without_a_control(monkeypatch):
    monkeypatch.setenv("COMPANION_HEADLESS", "1")
    with pytest.raises(ValueError, match="no control"):
        viz.explorer(lambda a: None, a=(1, 5, 1), static={"c": 2})


@pytest.mark.needs_clip
def test_preview_frames_decodes_once_at_preview_size(street_clip_path):
    import cv2

    from companion.io import read_clip, video_info

    first = viz.preview_frames(street_clip_path)
    assert viz.preview_frames(street_clip_path) is first  # cached: the second call decodes nothing
    info = video_info(street_clip_path)
    assert first.shape == (info.num_frames, 144, 192, 3) and first.dtype == np.uint8
    assert not first.flags.writeable
    full = read_clip(street_clip_path, [0, 400, info.num_frames - 1]).permute(0, 2, 3, 1).numpy()
    for got, frame in zip(first[[0, 400, -1]], full):
        want = cv2.resize(frame, (192, 144), interpolation=cv2.INTER_AREA)
        assert np.abs(got.astype(int) - want).mean() < 1.0
    with pytest.raises(ValueError, match="height"):
        viz.preview_frames(street_clip_path, height=2)


@pytest.mark.slow
def test_animate_stays_under_the_embed_limit_for_a_full_mode_clip():
    """Full-size street frames (576x768), more of them than any full-mode notebook animates, and
    noise (JPEG's worst case): the embedded HTML is under matplotlib's 20 MB limit and has every
    one of the capped frames (matplotlib drops frames past the limit)."""
    import matplotlib

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (300, 576, 768, 3), dtype=np.uint8)
    html = viz.animate(frames, fps=10).data
    limit = matplotlib.rcParams["animation.embed_limit"] * 1024 * 1024
    assert len(html.encode()) < limit
    assert html.count("data:image/jpeg;base64") == viz.MAX_ANIMATION_FRAMES
    assert 'class="animation"' in html


def test_animate_loads_nothing_from_the_network():
    """matplotlib's player links Font Awesome from a CDN; the companion's draws its icons itself."""
    import re

    html = viz.animate(np.zeros((3, 24, 32, 3), np.uint8)).data
    assert not re.search(r'(href|src)\s*=\s*"https?://', html), "the animation requests a remote file"
    for icon in ("fa-play", "fa-pause", "fa-step-forward", "fa-fast-backward", "fa-minus", "fa-plus"):
        assert icon in html and f".animation i.{icon}::before" in html


def test_animate_keeps_short_clips_whole_and_rejects_empty():
    frames = np.zeros((5, 24, 32, 3), np.uint8)
    assert viz.animate(frames).data.count("data:image/jpeg;base64") == 5
    with pytest.raises(ValueError, match="at least one frame"):
        viz.animate([])
