"""The synthetic street scenes: seeded, consistent ground truth, scripted paths, files on disk."""

import numpy as np
import pytest

from companion.synthetic.street import (Occluder, PersonSpec, crossing_pair, make_street_scene,
                                        random_person, turn_back, walking_group)


@pytest.fixture(scope="module")
def scene():
    return make_street_scene(3, num_frames=120)


def test_seeded_and_shapes(scene):
    again = make_street_scene(3, num_frames=120)
    assert np.array_equal(scene.frames, again.frames) and np.array_equal(scene.gt, again.gt)
    other = make_street_scene(4, num_frames=120)
    assert not np.array_equal(scene.frames, other.frames)
    assert scene.frames.shape == (120, 288, 384, 3) and scene.frames.dtype == np.uint8
    assert scene.gt.shape[1] == 9 and len(scene.gt) > 100
    assert scene.size == (384, 288) and scene.fps == 10.0


def test_gt_rows_agree_with_boxes_anchors_and_visibility(scene):
    gt = scene.gt
    assert (gt[:, 0] >= 1).all() and (gt[:, 0] <= 120).all() and (gt[:, 1] >= 1).all()
    assert np.all(np.diff(gt[:, 0]) >= 0)  # sorted by frame
    assert ((gt[:, 8] >= 0) & (gt[:, 8] <= 1)).all()
    for r in gt:
        t, i = int(r[0]) - 1, int(r[1])
        b = scene.boxes[i][t]
        np.testing.assert_allclose(b, [r[2], r[3], r[2] + r[4], r[3] + r[5]])
        assert np.isfinite(scene.anchor_tracks[i][t]).all()
        assert 0 <= b[0] < b[2] <= 384 and 0 <= b[1] < b[3] <= 288
    for i, a in scene.anchor_tracks.items():
        present = np.isfinite(a[:, 0])
        assert present.sum() == (gt[:, 1] == i).sum()
        assert np.array_equal(present, np.isfinite(scene.boxes[i][:, 0]))
        # foot point is the bottom-centre of the unclipped box: inside the clipped box's x-range
        # whenever the box is not clipped at the sides
        b = scene.boxes[i][present]
        inner = (b[:, 0] > 0) & (b[:, 2] < 384) & (b[:, 3] < 288)
        np.testing.assert_allclose(a[present][inner, 0], (b[inner, 0] + b[inner, 2]) / 2, atol=1e-9)
        np.testing.assert_allclose(a[present][inner, 1], b[inner, 3], atol=1e-9)


def test_people_enter_and_leave(scene):
    lifetimes = [np.isfinite(a[:, 0]) for a in scene.anchor_tracks.values()]
    assert any(not l[0] and l.any() for l in lifetimes)  # someone enters after frame 0
    assert any(l.any() and not l[-1] for l in lifetimes)  # someone leaves before the end


def test_crossing_pair_occludes_and_pixels_match_colours():
    people = crossing_pair(230, 384, speed=6.0, rng=1)
    s = make_street_scene(0, num_frames=80, people=people, occluders=False, noise=0.0)
    v1, v2 = s.visibility[1], s.visibility[2]
    both = np.isfinite(v1) & np.isfinite(v2)
    assert np.nanmin(np.where(both, np.minimum(v1, v2), np.nan)) < 0.5  # one hides the other
    assert np.nanmax(v1) == pytest.approx(1.0)
    # a fully visible person's shirt colour appears inside their box
    t = int(np.nanargmax(np.where(np.isfinite(v1) & (v1 == 1.0), 1, np.nan)))
    x0, y0, x1, y1 = s.boxes[1][t].astype(int)
    crop = s.frames[t, y0:y1, x0:x1].reshape(-1, 3).astype(int)
    assert (np.abs(crop - np.array(people[0].shirt)).sum(1) <= 3).sum() > 20


def test_turn_back_and_group_paths():
    p = turn_back((-30, 220), (200, 220), speed=5.0, pause=4, rng=0)
    g = walking_group(random_person(np.random.default_rng(2), [(-30, 250), (420, 250)], speeds=5.0),
                      [(20, 5)], rng=3)
    s = make_street_scene(0, num_frames=120, people=[p] + g, occluders=False)
    x = s.anchor_tracks[1][:, 0]
    assert np.nanmax(x) == pytest.approx(200, abs=1e-6)
    k = int(np.nanargmax(x))
    assert np.nanmax(x[k:k + 4]) - np.nanmin(x[k:k + 4]) < 1e-6  # the pause at the turn
    assert x[k + 10] < 200 - 25  # walks back
    a, b = s.anchor_tracks[2], s.anchor_tracks[3]
    ok = np.isfinite(a[:, 0]) & np.isfinite(b[:, 0])
    np.testing.assert_allclose(b[ok] - a[ok], np.broadcast_to([20, 5], (ok.sum(), 2)), atol=1e-9)


def test_times_override_and_occluder():
    p = PersonSpec([(50, 250), (300, 250)], times=[10, 60])
    occ = [Occluder("post", 175, 270, 20, 120)]
    s = make_street_scene(0, num_frames=80, people=[p], occluders=occ, noise=0.0)
    a = s.anchor_tracks[1]
    assert np.isnan(a[9]).all() and a[10, 0] == pytest.approx(50) and a[60, 0] == pytest.approx(300)
    assert a[35, 0] == pytest.approx(175)
    assert s.visibility[1][35] < 0.8 and s.visibility[1][15] == pytest.approx(1.0)


@pytest.mark.parametrize("bad,match", [
    (dict(waypoints=[(0, 0)]), "at least two"),
    (dict(waypoints=[(0, 0), (1, 1)], speeds=[1, 2]), "one per segment"),
    (dict(waypoints=[(0, 0), (1, 1)], speeds=0), "> 0"),
    (dict(waypoints=[(0, 0), (5, 1)], times=[3, 3]), "teleport"),
    (dict(waypoints=[(0, 0), (5, 1)], height=1), "height"),
])
def test_person_spec_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        PersonSpec(**bad)


def test_scene_errors():
    with pytest.raises(ValueError, match="num_frames"):
        make_street_scene(0, num_frames=0)
    with pytest.raises(ValueError, match="size"):
        make_street_scene(0, size=(10, 10))
    with pytest.raises(TypeError, match="PersonSpec"):
        make_street_scene(0, people=[((0, 0), (1, 1))])


def test_write_video_and_mot(tmp_path, scene):
    import av

    small = make_street_scene(1, num_frames=12)
    path = small.write_video(tmp_path / "street.mp4")
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 12 and frames[0].shape == (288, 384, 3)
    assert np.abs(frames[5].astype(int) - small.frames[5]).mean() < 6
    mot = np.loadtxt(small.write_mot(tmp_path / "gt.txt"), delimiter=",", ndmin=2)
    np.testing.assert_allclose(mot, small.gt, atol=6e-3)
