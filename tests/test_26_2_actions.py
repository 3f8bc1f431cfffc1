"""26.2 synthetic action clips: exact time-reversal pairs, determinism, no single-frame answer."""

import numpy as np
import pytest
import torch

from companion.synthetic.actions import CLASSES, REVERSAL_PAIRS, ActionClips, make_clip


def test_classes_and_pairs():
    assert len(CLASSES) >= 6 and len(set(CLASSES)) == len(CLASSES)
    for name in ["move_left", "move_right", "rotate_cw", "rotate_ccw", "grow", "shrink", "appear", "disappear"]:
        assert name in CLASSES
    seen = set()
    for a, b in REVERSAL_PAIRS:
        assert 0 <= a < len(CLASSES) and 0 <= b < len(CLASSES) and a != b
        assert not {a, b} & seen
        seen |= {a, b}
    assert (CLASSES.index("move_left"), CLASSES.index("move_right")) in REVERSAL_PAIRS


@pytest.mark.parametrize("pair", REVERSAL_PAIRS)
@pytest.mark.parametrize("seed", [0, 7, 123])
def test_reversal_pairs_are_exact_time_flips(pair, seed):
    a, b = pair
    ca = make_clip(a, np.random.default_rng(seed), num_frames=12, size=48)
    cb = make_clip(b, np.random.default_rng(seed), num_frames=12, size=48)
    np.testing.assert_array_equal(ca[::-1], cb)
    assert not np.array_equal(ca, cb)  # the clip is not a palindrome


def test_clip_format():
    clip = make_clip(3, np.random.default_rng(0))
    assert clip.shape == (16, 64, 64, 3) and clip.dtype == np.float32
    assert clip.min() >= 0 and clip.max() <= 1
    assert make_clip("grow", np.random.default_rng(0), num_frames=5, size=32).shape == (5, 32, 32, 3)


def test_motion_has_the_named_direction():
    """The actor's colour centroid moves left in move_left (measured against the background)."""
    rng = np.random.default_rng(3)
    clip = make_clip("move_left", rng, num_frames=16, size=64)
    diff = np.abs(clip[0] - clip[-1]).sum(-1)  # actor at start and end differ from background
    cols = np.nonzero(diff > 0.5)[1]
    assert cols.size > 0
    # a strictly leftward move: the start frame's actor lies right of the end frame's
    start = np.abs(clip[0] - clip[8]).sum(-1) > 0.5
    end = np.abs(clip[-1] - clip[8]).sum(-1) > 0.5
    assert np.nonzero(start)[1].mean() > np.nonzero(end)[1].mean()


def test_dataset_deterministic_and_balanced():
    ds = ActionClips(16, seed=5, num_frames=8, size=32)
    x, y = ds[3]
    assert x.shape == (3, 8, 32, 32) and x.dtype == torch.float32 and isinstance(y, int)
    x2, y2 = ActionClips(16, seed=5, num_frames=8, size=32)[3]
    torch.testing.assert_close(x, x2, rtol=0, atol=0)
    assert y == y2 == 3
    x3, _ = ActionClips(16, seed=6, num_frames=8, size=32)[3]
    assert not torch.equal(x, x3)
    assert np.bincount(ds.targets).tolist() == [2] * 8
    assert ds.classes == CLASSES and len(ds) == 16
    assert torch.equal(ds[-1][0], ds[15][0])


def test_dataset_class_subset():
    ds = ActionClips(6, seed=0, num_frames=6, size=32, classes=["rotate_ccw", "rotate_cw"])
    assert ds.classes == ["rotate_ccw", "rotate_cw"] and ds.num_classes == 2
    assert [ds[i][1] for i in range(4)] == [0, 1, 0, 1]


def test_per_frame_average_cannot_separate_reversals():
    """Any per-frame classifier with averaged scores gives a clip and its reversal the same
    scores, so inside each reversal pair it is right on at most one of the two: ≤ 50%."""
    from companion.models import frame_cnn

    torch.manual_seed(0)
    model = frame_cnn(num_classes=8).eval()
    ds = ActionClips(8, seed=2, num_frames=8, size=32)
    clips = torch.stack([ds[i][0] for i in range(8)])
    with torch.no_grad():
        torch.testing.assert_close(model(clips), model(clips.flip(2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad,exc", [
    (dict(label=8), IndexError), (dict(label="jump"), ValueError), (dict(label=1.5), TypeError),
    (dict(num_frames=1), ValueError), (dict(size=8), ValueError), (dict(rng=0), TypeError)])
def test_make_clip_bad_input(bad, exc):
    kw = dict(label=0, rng=np.random.default_rng(0), num_frames=4, size=32) | bad
    with pytest.raises(exc):
        make_clip(**kw)


def test_dataset_bad_input():
    with pytest.raises(ValueError):
        ActionClips(0, seed=0)
    with pytest.raises(ValueError, match="unknown action class"):
        ActionClips(4, seed=0, classes=["move_left", "fly"])
    with pytest.raises(IndexError):
        ActionClips(4, seed=0, size=32, num_frames=4)[4]
