"""SORT / DeepSORT / ByteTrack: the trackers-compatible contract, known behaviours, bad input."""

import numpy as np
import pytest
import supervision as sv

from companion.synthetic.street import make_street_scene, turn_back
from companion.tracking import (SORT, ByteTrack, DeepSORT, mot_metrics, noisy_detections, run_tracker,
                                tud_sequence)


def _dets(boxes, scores=None):
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.full(len(boxes), 0.9, np.float32) if scores is None else np.asarray(scores, np.float32)
    return sv.Detections(xyxy=boxes, confidence=scores, class_id=np.zeros(len(boxes), int))


def _two_walkers(T=12):
    """Two well separated boxes moving right, one frame each."""
    out = []
    for t in range(T):
        out.append(_dets([[10 + 4 * t, 50, 40 + 4 * t, 130], [200 - 3 * t, 60, 230 - 3 * t, 140]]))
    return out


# ---- the contract shared with trackers.ByteTrackTracker ------------------------------------------

@pytest.mark.parametrize("make", [lambda: SORT(), lambda: ByteTrack(), lambda: DeepSORT(embedder="histogram")])
def test_contract_input_order_ids_and_empty_frames(make):
    trk = make()
    frame = np.zeros((300, 300, 3), np.uint8)
    seen = []
    for t, d in enumerate(_two_walkers()):
        if t == 6:
            d = sv.Detections.empty()
        out = trk.update(d, frame=frame)
        assert isinstance(out, sv.Detections) and len(out) == len(d)
        assert out.tracker_id is not None and out.tracker_id.dtype.kind == "i"
        np.testing.assert_array_equal(out.xyxy, d.xyxy)  # input order kept
        seen.append(out.tracker_id.copy())
    final = seen[-1]
    assert set(final.tolist()) == {0, 1}  # ids from 0, stable, no phantom track
    assert (seen[0] == -1).all() or isinstance(trk, (SORT, ByteTrack))


def test_same_loop_runs_with_trackers_bytetrack():
    """Swapping in the production tracker changes only the constructor."""
    import trackers

    results = {}
    for name, trk in [("ours", ByteTrack(frame_rate=30)), ("trackers", trackers.ByteTrackTracker(frame_rate=30))]:
        ids = []
        for d in _two_walkers():
            out = trk.update(d)
            ids.append(sorted(out.tracker_id.tolist()))
        results[name] = ids
    assert results["ours"][-1] == results["trackers"][-1] == [0, 1]


def test_bytetrack_timeline_of_ids():
    trk = ByteTrack()
    frames = _two_walkers(4)
    out = [trk.update(d).tracker_id for d in frames]
    assert sorted(out[0].tolist()) == [0, 1]  # the first frame activates at once (as in the paper)
    trk2 = ByteTrack()
    trk2.update(_dets(np.zeros((0, 4))))
    o1 = trk2.update(frames[1]).tracker_id
    o2 = trk2.update(frames[2]).tracker_id
    assert (o1 == -1).all() and sorted(o2.tolist()) == [0, 1]  # later births wait one frame


def test_bytetrack_low_score_box_keeps_identity():
    """Stage 2: an occluded person's low-score box continues the track; SORT with a score
    threshold cannot use it."""
    trk = ByteTrack()
    for t in range(5):
        trk.update(_dets([[10 + 4 * t, 50, 40 + 4 * t, 130]], [0.9]))
    out = trk.update(_dets([[30, 50, 60, 130]], [0.3]))
    assert out.tracker_id.tolist() == [0]
    out = trk.update(_dets([[34, 50, 64, 130]], [0.05]))  # below low_thresh: ignored
    assert out.tracker_id.tolist() == [-1]
    # a box below track_thresh + 0.1 never starts a track
    trk = ByteTrack()
    for t in range(4):
        out = trk.update(_dets([[10, 50, 40, 130]], [0.55]))
    assert out.tracker_id.tolist() == [-1]


def test_bytetrack_lost_track_recovers_within_buffer():
    trk = ByteTrack(track_buffer=30, frame_rate=30)
    for t in range(5):
        trk.update(_dets([[10 + 2 * t, 50, 40 + 2 * t, 130]]))
    for _ in range(10):
        trk.update(_dets(np.zeros((0, 4))))
    out = trk.update(_dets([[10 + 2 * 15, 50, 40 + 2 * 15, 130]]))
    assert out.tracker_id.tolist() == [0]
    short = ByteTrack(track_buffer=3, frame_rate=30)
    for t in range(5):
        short.update(_dets([[10 + 2 * t, 50, 40 + 2 * t, 130]]))
    for _ in range(10):
        short.update(_dets(np.zeros((0, 4))))
    short.update(_dets([[40, 50, 70, 130]]))
    out = short.update(_dets([[42, 50, 72, 130]]))
    assert out.tracker_id.tolist() == [1]  # a new identity after the buffer ran out


def test_sort_min_hits_and_max_age():
    trk = SORT(max_age=1, min_hits=3)
    out = [trk.update(d).tracker_id.tolist() for d in _two_walkers(5)]
    assert sorted(out[0]) == [0, 1]  # the first min_hits frames report everything
    # a newcomer after the start needs min_hits consecutive hits
    trk = SORT()
    for d in _two_walkers(4):
        trk.update(d)
    newcomer = [[100, 200, 130, 280]]
    ids = []
    for t in range(5):
        d = _dets(np.vstack([_two_walkers(10)[4 + t].xyxy, np.array(newcomer) + [2 * t, 0, 2 * t, 0]]))
        ids.append(trk.update(d).tracker_id[-1])
    assert ids[:3] == [-1, -1, -1] and ids[3] == 2
    # a gap of two frames breaks a SORT track (max_age=1) ...
    trk = SORT()
    for t in range(5):
        trk.update(_dets([[10 + 2 * t, 50, 40 + 2 * t, 130]]))
    trk.update(_dets(np.zeros((0, 4))))
    trk.update(_dets(np.zeros((0, 4))))
    out = [trk.update(_dets([[24 + 2 * t, 50, 54 + 2 * t, 130]])).tracker_id[0] for t in range(4)]
    assert out[-1] == 1
    # ... but not a ByteTrack one
    bt = ByteTrack()
    for t in range(5):
        bt.update(_dets([[10 + 2 * t, 50, 40 + 2 * t, 130]]))
    bt.update(_dets(np.zeros((0, 4))))
    bt.update(_dets(np.zeros((0, 4))))
    assert bt.update(_dets([[24, 50, 54, 130]])).tracker_id.tolist() == [0]


def test_frame_rate_scales_buffers():
    assert ByteTrack(track_buffer=30, frame_rate=10).max_time_lost == 10
    assert ByteTrack(track_buffer=30, frame_rate=30).max_time_lost == 30
    assert DeepSORT(max_age=30, frame_rate=15, embedder="histogram").max_age == 15
    assert SORT(max_age=1, frame_rate=10).max_age == 1


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [SORT, ByteTrack, lambda: DeepSORT(embedder="histogram")])
def test_bad_input_is_rejected_clearly(make):
    trk = make()
    frame = np.zeros((200, 200, 3), np.uint8)
    with pytest.raises(TypeError, match="supervision.Detections"):
        trk.update(np.zeros((2, 4)), frame=frame)
    d = _dets([[0, 0, 10, 10], [5, 5, 20, 20]])
    d.xyxy[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        trk.update(d, frame=frame)
    d = _dets([[0, 0, 10, 10], [30, 5, 20, 20]])
    with pytest.raises(ValueError, match="x1 <= x2"):
        trk.update(d, frame=frame)
    d = _dets([[0, 0, 10, 10], [5, 5, 20, 20]])
    d.confidence = np.array([0.9], np.float32)  # mismatched lengths
    with pytest.raises(ValueError, match="one score per box"):
        trk.update(d, frame=frame)
    # degenerate boxes are accepted and never tracked
    out = trk.update(_dets([[5, 5, 5, 30], [50, 50, 80, 120]]), frame=frame)
    assert out.tracker_id[0] == -1


def test_constructor_errors():
    with pytest.raises(ValueError, match="frame_rate"):
        ByteTrack(frame_rate=0)
    with pytest.raises(ValueError, match="track_thresh"):
        ByteTrack(track_thresh=1.5)
    with pytest.raises(ValueError, match="iou_threshold"):
        SORT(iou_threshold=-0.1)
    with pytest.raises(ValueError, match="n_init"):
        DeepSORT(n_init=0, embedder="histogram")
    with pytest.raises(TypeError, match="embedder"):
        DeepSORT(embedder=3)


def test_deepsort_needs_appearance():
    trk = DeepSORT(embedder="histogram")
    with pytest.raises(ValueError, match="frame="):
        trk.update(_dets([[0, 0, 10, 20]]))
    # precomputed embeddings work without a frame
    d = _dets([[0, 0, 10, 20]])
    d.data["embedding"] = np.ones((1, 8), np.float32)
    assert trk.update(d).tracker_id.shape == (1,)


# ---- behaviour on real and synthetic sequences ---------------------------------------------------

def test_trackers_on_noisy_tud_beat_reference_floor():
    gt = tud_sequence("TUD-Campus")
    dets = noisy_detections(gt, seed=0, image_size=(640, 480))
    for trk, floor in [(ByteTrack(frame_rate=25), 0.8), (SORT(frame_rate=25), 0.6)]:
        rows, _ = run_tracker(trk, dets)
        m = mot_metrics(gt, rows)
        assert m["MOTA"] > floor and m["IDF1"] > floor, (type(trk).__name__, m["MOTA"], m["IDF1"])


def test_deepsort_reid_keeps_identities_when_motion_misleads():
    """Two people meet head-on, stand, and each turns back: the constant-velocity prediction
    says they crossed, so motion-only trackers swap or lose them; appearance keeps both."""
    rng = np.random.default_rng(3)
    a = turn_back((-30, 210), (180, 210), speed=4, pause=3, rng=rng)
    b = turn_back((414, 212), (196, 212), speed=4, pause=3, rng=rng)
    scene = make_street_scene(0, num_frames=120, people=[a, b], occluders=False, fps=10)
    dets = noisy_detections(scene.gt, seed=0, image_size=scene.size)
    res = {}
    for name, trk, frames in [("sort", SORT(frame_rate=10), None), ("bytetrack", ByteTrack(frame_rate=10), None),
                              ("deepsort", DeepSORT(frame_rate=10, embedder="reid"), scene.frames)]:
        rows, _ = run_tracker(trk, dets, frames)
        res[name] = mot_metrics(scene.gt, rows, hota=False)
    assert res["deepsort"]["IDSW"] == 0 and res["deepsort"]["num_hyp_ids"] == 2
    assert res["sort"]["IDSW"] > 0 and res["bytetrack"]["IDSW"] > 0
    assert res["deepsort"]["IDF1"] > 0.9 > res["bytetrack"]["IDF1"]


# ---- the steps the exercises teach, as the trackers run them -------------------------------------

def test_sort_step_known_answer():
    from companion.tracking import sort_step

    tracks = np.array([[0, 0, 10, 20.0], [50, 0, 60, 20], [100, 0, 110, 20]])
    dets = np.array([[51, 0, 61, 20.0], [0, 0, 10, 20], [300, 0, 310, 20]])
    out = sort_step(tracks, np.array([2, 4, 3]), np.array([0, 1, 0]), dets, frame=9)
    np.testing.assert_array_equal(out["matches"], [[0, 1], [1, 0]])
    np.testing.assert_array_equal(out["new"], [2])
    np.testing.assert_array_equal(out["hit_streak"], [3, 1, 3, 0])  # track 1's miss broke its streak
    np.testing.assert_array_equal(out["since_update"], [0, 0, 1, 0])
    np.testing.assert_array_equal(out["reported"], [True, False, False, False])
    np.testing.assert_array_equal(out["keep"], [True, True, True, True])
    out = sort_step(tracks[:1], np.array([5]), np.array([1]), dets[2:], frame=9)
    np.testing.assert_array_equal(out["keep"], [False, True])  # missed twice: deleted at max_age=1


def test_matching_cascade_prefers_recent_tracks():
    from companion.tracking import matching_cascade
    from companion.tracking.assignment import linear_assignment

    cost = np.array([[0.15, 0.19], [0.01, np.inf]])  # track 1 (lost 5 frames) fits detection 0 best
    since = np.array([1, 5])
    m, free = matching_cascade(cost, since)
    np.testing.assert_array_equal(m, [[0, 0]])
    np.testing.assert_array_equal(free, [1])
    glob, _, _ = linear_assignment(cost, 0.2)  # a single global assignment gives track 1 detection 0
    assert [1, 0] in glob.tolist()
    m, free = matching_cascade(cost, np.array([1, 31]), max_age=30)  # beyond max_age: never matched
    np.testing.assert_array_equal(m, [[0, 0]])


def test_count_id_switches_is_what_mot_metrics_counts():
    from companion.tracking import count_id_switches

    assert count_id_switches([[[1, 10]], np.zeros((0, 2)), [[1, 11]], [[1, 10]]]) == 2
    assert count_id_switches([[[1, 10]], np.zeros((0, 2)), [[1, 10]]]) == 0
    box = [0, 0, 10, 20]
    gt = np.array([[f, 1, *box] for f in (1, 2, 3, 4)], float)
    hyp = np.array([[1, 10, *box], [3, 11, *box], [4, 10, *box]], float)  # frame 2 missed
    assert mot_metrics(gt, hyp, hota=False)["IDSW"] == 2


def test_sort_associates_like_trackers_sort_solve_then_drop():
    """SORT's association = the ``trackers`` package's SORTTracker._get_associated_indices:
    optimal matching over all pairs, then pairs under the threshold dropped. A case where
    gating before solving differs: it would match both tracks poorly instead of one well."""
    from trackers import SORTTracker

    from companion.tracking import sort_step
    from companion.tracking.boxes import box_iou

    ref = SORTTracker(minimum_iou_threshold=0.3)

    def theirs(tracks, dets):
        ref.tracks = [None] * len(tracks)
        m, _, _ = ref._get_associated_indices(box_iou(tracks, dets), dets)
        return sorted((int(a), int(b)) for a, b in m)

    def ours(tracks, dets):
        out = sort_step(tracks, np.zeros(len(tracks)), np.zeros(len(tracks)), dets, frame=5)
        return sorted(map(tuple, out["matches"].tolist()))

    # track 0 overlaps det 0 perfectly and det 1 a little; track 1 overlaps only det 0 a little
    tracks = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float)
    dets = np.array([[0, 0, 10, 10], [-4.5, 0, 5.5, 10]], float)
    iou = box_iou(tracks, dets)
    assert iou[0, 0] == 1 and 0.3 <= iou[0, 1] < 0.5 and 0.3 <= iou[1, 0] < 0.5 and iou[1, 1] < 0.3
    assert ours(tracks, dets) == theirs(tracks, dets) == [(0, 0)]  # gate-first would give 0-1, 1-0
    rng = np.random.default_rng(0)
    for _ in range(300):
        n, m = rng.integers(0, 7, 2)
        xy = rng.uniform(0, 60, (n + m, 2))
        wh = rng.uniform(8, 30, (n + m, 2))
        boxes = np.concatenate([xy, xy + wh], 1)
        assert ours(boxes[:n], boxes[n:]) == theirs(boxes[:n], boxes[n:])
