"""Detectors: the background-subtraction default against synthetic ground-truth boxes, blob
splitting, HOG and the torchvision path (output handling checked on random weights)."""

import numpy as np
import pytest
import supervision as sv
import torch

from companion.errors import AssetUnavailableError
from companion.lab import detect as D
from companion.lab.count import anchors_of
from companion.lab.scenarios import make_scene
from companion.synthetic.street import PersonSpec, make_street_scene
from companion.tracking import box_iou


def _gt_boxes(scene, t, min_vis=0.99):
    g = scene.gt_frame(t)
    g = g[g[:, 8] >= min_vis]
    b = np.c_[g[:, 2], g[:, 3], g[:, 2] + g[:, 4], g[:, 3] + g[:, 5]]
    W, H = scene.size
    return b[(b[:, 0] > 1) & (b[:, 2] < W - 1) & (b[:, 3] < H - 1)]


def _primed(scene, **kw):
    det = D.make_detector("bgsub", **kw)
    idx = np.linspace(0, len(scene.frames) - 1, 24).round().astype(int)
    det.prime(list(scene.frames[idx]))
    return det


def test_single_walker_box_and_foot_point_match_ground_truth():
    """The box follows the body (its width breathes with the gait, the nominal ground-truth box
    does not) and the foot point — what the counter uses — stays within a few pixels."""
    person = PersonSpec(waypoints=[(-20, 230), (404, 220)], speeds=4.0, height=80,
                        shirt=(200, 40, 40), trousers=(30, 30, 120))
    scene = make_street_scene(seed=3, num_frames=100, size=(384, 288), people=[person],
                              occluders=False)
    det = _primed(scene)
    ious, foot_err = [], []
    for t in range(len(scene.frames)):
        d = det(scene.frames[t])
        gt = _gt_boxes(scene, t)
        if len(gt):
            assert len(d) >= 1
            k = int(box_iou(gt, d.xyxy)[0].argmax())
            ious.append(box_iou(gt, d.xyxy)[0, k])
            foot = anchors_of(d.xyxy[k:k + 1])[0]
            foot_err.append(np.hypot(*(foot - scene.anchor_tracks[1][t])))
    assert len(ious) > 60
    assert np.mean(np.asarray(ious) > 0.5) > 0.95
    assert np.median(foot_err) < 3 and np.mean(np.asarray(foot_err) < 6) > 0.95
    assert set(np.unique(d.class_id)) <= {D.PERSON}


@pytest.mark.parametrize("kind", ["crossings", "groups"])
def test_recall_on_scripted_scenes(kind):
    scene, _ = make_scene(kind, 0)
    det = _primed(scene)
    hit = total = 0
    for t in range(len(scene.frames)):
        d = det(scene.frames[t])
        gt = _gt_boxes(scene, t, min_vis=0.8)
        if len(gt) == 0:
            continue
        total += len(gt)
        if len(d):
            hit += int((box_iou(gt, d.xyxy).max(1) >= 0.5).sum())
    assert total > 100
    assert hit / total > 0.85  # measured 0.885 (crossings), 0.994 (groups)


def test_wide_blob_is_split_at_the_valley():
    profile = np.array([3, 5, 9, 9, 8, 2, 1, 7, 9, 9, 6, 2], float)
    assert D.split_columns(profile, 2) == [6]
    det = D.BackgroundSubtractionDetector(scale=1.0)
    m = np.zeros((120, 160), np.uint8)
    m[30:90, 40:64] = 255    # two people 24x60 side by side ...
    m[30:90, 66:90] = 255
    m[60:62, 60:70] = 255    # ... touching at the hands: one blob, aspect 0.83
    d = det.boxes_from_mask(m)
    assert len(d) == 2
    assert np.allclose(sorted(d.xyxy[:, 0]), [40, 66], atol=3)
    assert np.allclose(sorted(d.xyxy[:, 2]), [64, 90], atol=3)


def test_height_model_learns_perspective():
    hm = D.HeightModel(min_samples=20)
    rng = np.random.default_rng(0)
    for _ in range(60):
        y = rng.uniform(100, 280)
        hm.add(y, 0.4 * y - 20 + rng.normal(0, 1))
    assert hm.expected(200) == pytest.approx(60, abs=2)
    assert hm.height_from_head(200 - 60) == pytest.approx(60, abs=3)


def test_height_model_does_not_extrapolate_boldly():
    """Fitted on feet rows 200-270 only, with a slope that would make people vanish at row 140:
    outside the fitted rows the upper bound (used to split tall blobs) is never below the value
    at the nearest fitted row, and the lower bound (the "too short" test) never above it."""
    hm = D.HeightModel(min_samples=20)
    for y in np.linspace(200, 270, 40):
        hm.add(y, 0.8 * y - 112)        # 48 px at row 200, 104 at row 270: zero at row 140
    assert hm.rows == pytest.approx((200, 270))
    assert hm.expected(150) == pytest.approx(8, abs=1)          # the bare line: far too small
    assert hm.expected(150, "upper") == pytest.approx(48, abs=1)
    assert hm.expected(150, "lower") == pytest.approx(8, abs=1)
    assert hm.expected(285, "upper") == pytest.approx(116, abs=1)
    assert hm.expected(285, "lower") == pytest.approx(104, abs=1)
    assert hm.expected(230, "upper") == hm.expected(230, "lower") == hm.expected(230)
    with pytest.raises(ValueError, match="bound"):
        hm.expected(230, "middle")


def test_far_walker_above_the_fitted_rows_is_not_cut():
    """A 14x41 person standing higher than every person the height model was fitted on stays one
    box (the extrapolated line said 7 px tall -> 'two people', cut into pieces and dropped)."""
    det = D.BackgroundSubtractionDetector(scale=1.0)
    det._frame_h = 288
    for y in np.linspace(205, 272, 90):
        det.heights.add(y, 0.63 * y - 86)
    m = np.zeros((288, 384), np.uint8)
    m[106:147, 83:97] = 255
    d = det.boxes_from_mask(m)
    assert len(d) == 1 and d.xyxy[0].tolist() == [83, 106, 97, 147] and d.confidence[0] >= 0.6


def test_blob_is_cut_along_predicted_people():
    """Two people one behind the other make one blob; given the tracker's predictions for both,
    the detector returns one box per person, each the blob's pixels inside the prediction."""
    det = D.BackgroundSubtractionDetector(scale=1.0)
    m = np.zeros((200, 200), np.uint8)
    m[40:110, 100:120] = 255   # person behind: feet at row 110
    m[70:150, 90:115] = 255    # person in front: feet at row 150, overlapping
    assert len(det.boxes_from_mask(m)) == 1
    hints = np.array([[99, 39, 121, 111], [89, 69, 116, 151]], float)
    d = det.boxes_from_mask(m, hints=hints)
    # (each box also holds the other person's pixels that fall inside its prediction)
    assert sorted(d.xyxy.tolist()) == [[90, 69, 116, 150], [99, 40, 120, 111]]
    # one prediction, or two that are the same person, or a blob no bigger than one person: no cut
    assert len(det.boxes_from_mask(m, hints=hints[:1])) == 1
    assert len(det.boxes_from_mask(m, hints=np.array([[89, 39, 121, 151], [90, 40, 120, 150]]))) == 1
    small = np.zeros((200, 200), np.uint8)
    small[70:150, 90:115] = 255
    assert len(det.boxes_from_mask(small, hints=np.array([[89, 69, 116, 151], [95, 75, 112, 140]]))) == 1


def test_detector_errors():
    with pytest.raises(ValueError, match="unknown detector"):
        D.make_detector("yolo")
    with pytest.raises(ValueError, match="uint8"):
        D.make_detector("bgsub")(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="method"):
        D.BackgroundSubtractionDetector("median")


def test_hog_detector_runs_and_returns_detections():
    scene, _ = make_scene("crossings", 0)
    d = D.HOGDetector(upscale=1.0)(scene.frames[60])
    assert isinstance(d, sv.Detections) and d.xyxy.shape[1] == 4
    assert d.confidence is not None and np.all((d.confidence >= 0) & (d.confidence <= 1))


@pytest.fixture(scope="module")
def random_ssdlite():
    torch.manual_seed(0)
    return D.TorchvisionDetector("ssdlite", weights=None, score_threshold=0.0)


def test_torchvision_output_handling(random_ssdlite):
    det = random_ssdlite
    det.score_threshold = 0.5
    out = {"boxes": torch.tensor([[0, 0, 10, 20], [5, 5, 15, 25], [1, 2, 3, 4.0]]),
           "scores": torch.tensor([0.9, 0.95, 0.3]), "labels": torch.tensor([1, 3, 1])}
    d = det.to_detections(out)
    assert d.xyxy.tolist() == [[0, 0, 10, 20]]  # the car (3) and the weak person are dropped
    assert d.class_id.tolist() == [D.PERSON] and d.confidence.tolist() == pytest.approx([0.9])
    empty = det.to_detections({"boxes": torch.zeros(0, 4), "scores": torch.zeros(0),
                               "labels": torch.zeros(0, dtype=torch.int64)})
    assert len(empty) == 0


def test_torchvision_forward_on_random_weights(random_ssdlite):
    det = random_ssdlite
    det.score_threshold = 0.0
    assert det.weights == "random"
    frame = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    outs = det.detect_batch([frame])
    assert len(outs) == 1
    d = outs[0]
    assert isinstance(d, sv.Detections) and d.xyxy.shape[1:] == (4,)
    assert set(np.unique(d.class_id)) <= {D.PERSON}
    if len(d):
        assert d.xyxy.min() >= -1 and d.xyxy[:, 2].max() <= 129 and d.xyxy[:, 3].max() <= 97


def test_torchvision_needs_cached_weights(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert D.cached_weights_path("fasterrcnn") is None
    assert D.available_detectors()["fasterrcnn"] is False
    with pytest.raises(AssetUnavailableError, match="torch cache"):
        D.make_detector("fasterrcnn")
