"""Long-term re-identification in the lab, the pretrained appearance embedding, and the scoring
of identities against a by-eye reference."""

import numpy as np
import pytest

from companion.lab.count import LineCounter
from companion.lab.reidentify import ReIdentifier, clean_boxes
from companion.lab.street_reference import DEFAULT_LINE_CROSSINGS, PEOPLE, score_identities


class MeanColour:
    """A stand-in embedder: the unit mean colour of the crop (exact, instant)."""

    def __call__(self, frame, xyxy):
        out = []
        for x0, y0, x1, y1 in np.asarray(xyxy, int):
            v = frame[y0:y1, x0:x1].reshape(-1, 3).mean(0) + 1e-6
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, np.float32)


COLOURS = {"red": (200, 30, 30), "blue": (30, 30, 200), "green": (30, 200, 30)}


def _frame(people):
    img = np.full((120, 200, 3), 128, np.uint8)
    for colour, (x0, y0, x1, y1) in people:
        img[y0:y1, x0:x1] = COLOURS[colour]
    return img


def _run(schedule, reid):
    """schedule: per frame, list of (track id, colour, box). Returns {track id: set of output ids}."""
    seen = {}
    for f, people in enumerate(schedule):
        frame = _frame([(c, b) for _, c, b in people])
        ids = np.array([t for t, _, _ in people], int)
        boxes = np.array([b for _, _, b in people], float).reshape(-1, 4)
        out = reid.update(f, frame, ids, boxes)
        for t, o in zip(ids, out):
            seen.setdefault(int(t), []).append(int(o))
    return seen


def test_a_returning_person_keeps_their_id_and_a_stranger_does_not():
    reid = ReIdentifier(MeanColour(), fps=10, threshold=0.95, min_feats=2, every=1)
    sched = [[(0, "red", (10, 20, 40, 100)), (1, "blue", (100, 20, 130, 100))] for _ in range(15)]
    sched += [[] for _ in range(40)]                                     # both leave for 4 s
    sched += [[(7, "red", (150, 20, 180, 100)), (8, "green", (60, 20, 90, 100))] for _ in range(10)]
    seen = _run(sched, reid)
    assert seen[7][-1] == seen[0][0]                    # the red person is recognised
    assert seen[8][-1] not in (seen[0][0], seen[1][0])  # green is a new person
    assert reid.num_people == 3
    assert [(m[1], m[2]) for m in reid.merges] == [(seen[7][0], seen[0][0])]


def test_no_merge_with_someone_in_the_picture_at_the_same_time():
    reid = ReIdentifier(MeanColour(), fps=10, threshold=0.95, min_feats=2, every=1)
    # two red people at once: the same appearance, but they cannot be one person
    sched = [[(0, "red", (10, 20, 40, 100))] for _ in range(5)]
    sched += [[(0, "red", (10, 20, 40, 100)), (1, "red", (100, 20, 130, 100))] for _ in range(10)]
    seen = _run(sched, reid)
    assert set(seen[1]) == {1} and set(seen[0]) == {0}
    assert reid.merges == []


def test_threshold_and_margin_refuse_ambiguous_matches():
    # a returning person who looks like two people who left: ambiguous -> a new person
    reid = ReIdentifier(MeanColour(), fps=10, threshold=0.5, margin=0.05, min_feats=2, every=1)
    sched = [[(0, "red", (10, 20, 40, 100)), (1, "red", (100, 20, 130, 100))] for _ in range(5)]
    sched += [[] for _ in range(5)] + [[(5, "red", (50, 20, 80, 100))] for _ in range(5)]
    seen = _run(sched, reid)
    assert seen[5][-1] not in (0, 1) and reid.merges == []
    assert reid.decisions[-1][3] - reid.decisions[-1][4] < 0.05


def test_clean_boxes():
    b = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [30, 30, 40, 40]], float)
    assert clean_boxes(b).tolist() == [False, False, True]
    assert clean_boxes(b[:1]).tolist() == [True]


def test_counter_relabel_moves_events_and_state():
    c = LineCounter((50, 100, 50, 0), min_frames=1)
    for t, x in enumerate([30, 40, 60, 70]):
        c.update_points([5], [[x, 50.0]], t)
    c.update_points([2], [[20.0, 50.0]], 0)
    c.relabel(5, 2)
    assert [e.track_id for e in c.events] == [2] and c.crossed_ids == {2}
    for t, x in enumerate([60, 40, 30], start=4):  # walks back: counted under the old id
        c.update_points([2], [[x, 50.0]], t)
    assert (c.in_count, c.out_count, c.distinct) == (1, 1, 1)


def test_score_identities_known_answers():
    ref = ((10, "in", "A"), (40, "out", "A"), (60, "in", "B"), (90, "in", "C"))
    ev = [dict(cross_frame=12, direction="in", track_id=1), dict(cross_frame=38, direction="out", track_id=1),
          dict(cross_frame=61, direction="in", track_id=2), dict(cross_frame=89, direction="in", track_id=3)]
    s = score_identities(ev, ref)
    assert (s.matched, s.extra, s.people, s.distinct, s.returning, s.kept, s.shared) == (4, 0, 3, 3, 1, 1, 0)
    assert s.ok
    # A's return under a new id, B and C under one id, a wrong direction and a far frame
    ev2 = [dict(cross_frame=12, direction="in", track_id=1), dict(cross_frame=38, direction="out", track_id=4),
           dict(cross_frame=61, direction="in", track_id=2), dict(cross_frame=89, direction="in", track_id=2),
           dict(cross_frame=120, direction="in", track_id=9), dict(cross_frame=11, direction="out", track_id=7)]
    s2 = score_identities(ev2, ref)
    assert (s2.matched, s2.extra, s2.distinct, s2.kept, s2.shared) == (4, 2, 5, 0, 1)
    assert not s2.ok
    assert score_identities(ev, ref, limit=50).reference == 2


def test_reference_is_consistent():
    """Every person's crossings alternate in direction unless they left the picture in between
    (P3 crosses 'in' twice: he leaves at the right edge at ~370 and comes back at ~540)."""
    assert len(DEFAULT_LINE_CROSSINGS) == 33
    assert {p for _, _, p in DEFAULT_LINE_CROSSINGS} == set(PEOPLE)
    frames = [f for f, _, _ in DEFAULT_LINE_CROSSINGS]
    assert frames == sorted(frames)
    from companion.lab.street_reference import DEFAULT_LINE_CROSSINGS as ref

    for p in PEOPLE:
        dirs = [d for _, d, q in ref if q == p]
        repeats = sum(a == b for a, b in zip(dirs, dirs[1:]))
        assert repeats == (1 if p == "P3" else 0), p


def test_pretrained_embedder_on_real_crops():
    """ImageNet features tell two people of the street clip apart and recognise one person a
    few frames later (unit rows, 2560-d)."""
    pytest.importorskip("torchvision")
    from companion.errors import AssetUnavailableError

    try:
        from companion.data import street_clip
        from companion.tracking.reid import PretrainedEmbedder

        emb = PretrainedEmbedder()
        path = street_clip(allow_download=False, verbose=False)
    except (AssetUnavailableError, FileNotFoundError) as exc:
        pytest.skip(f"needs the street clip and the MobileNetV2 weights in the data cache: {exc}")
    from companion.io import read_clip

    clip = read_clip(path, [454, 458]).permute(0, 2, 3, 1).numpy()
    # the woman in the red jacket (P9) and the man in the black pea coat (P1) at frames 454 / 458
    red = [[542, 236, 574, 328], [520, 230, 554, 320]]
    other = [[496, 190, 522, 270], [500, 200, 526, 276]]
    a = emb(clip[0], [red[0], other[0]])
    b = emb(clip[1], [red[1], other[1]])
    assert a.shape == (2, emb.dim) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    sim = a @ b.T
    assert sim[0, 0] > sim[0, 1] and sim[1, 1] > sim[1, 0]


def test_crossing_gallery_marks_a_person_with_two_ids():
    from companion.lab.gallery import crossing_gallery

    video = np.zeros((30, 120, 160, 3), np.uint8)
    video[:, 40:100, 60:80] = (200, 200, 200)
    events = [dict(cross_frame=5, direction="in", track_id=0), dict(cross_frame=20, direction="out", track_id=3)]
    mot = [(6, 1, 60, 40, 20, 60), (21, 4, 60, 40, 20, 60)]
    ref = ((5, "in", "A"), (20, "out", "A"))
    g = crossing_gallery(video, events, mot, reference=ref, columns=2, tile=(60, 90))
    assert g.shape == (120, 120, 3)
    label = g[105:120]
    assert ((label[..., 0] > 200) & (label[..., 1] < 120)).any()      # red: A has two ids
    ok = crossing_gallery(video, [dict(events[0]), dict(events[1], track_id=0)], mot[:1] + [(21, 1, 60, 40, 20, 60)],
                          reference=ref, columns=2, tile=(60, 90))
    label = ok[105:120]
    assert not ((label[..., 0] > 200) & (label[..., 1] < 120)).any() and (label[..., 1] > 200).any()
    # the crop shows the box's content
    assert g[20:70, 10:50].mean() > 50
