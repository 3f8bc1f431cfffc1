"""Online track stitching (companion.lab.stitch): which breaks are joined, which are not."""

import numpy as np
import pytest

from companion.lab.count import LineCounter
from companion.lab.stitch import TrackStitcher


def box(x, y_foot, h=60.0, w=20.0):
    return [x - w / 2, y_foot - h, x + w / 2, y_foot]


def run(stitcher, frames):
    """frames: list of [(tracker_id, box), ...] -> list of stitched id arrays."""
    out = []
    for f, dets in enumerate(frames):
        ids = [d[0] for d in dets]
        boxes = np.array([d[1] for d in dets], float).reshape(-1, 4)
        out.append(stitcher.update(f, ids, boxes).tolist())
    return out


def walker(tid, x0, vx, frames, y=200.0, h=60.0):
    return [(tid, box(x0 + vx * f, y, h)) for f in frames]


def test_short_break_is_stitched_and_crossing_counted():
    """Walking right at 4 px/frame, hidden for 5 frames while crossing x=100, back as a new
    tracker id: one stitched id, and the counter counts the crossing made while hidden."""
    seen = {f: d for f, d in zip(range(0, 14), walker(0, 40, 4, range(0, 14)))}  # x 40 .. 92
    seen.update({f: d for f, d in zip(range(19, 35), walker(1, 40, 4, range(19, 35)))})  # 116 ..
    frames = [[seen[f]] if f in seen else [] for f in range(35)]
    st = TrackStitcher(10.0, (300, 300))
    ids = run(st, frames)
    assert {i for fr in ids for i in fr} == {0}
    assert st.links == [(19, 1, 0, 6)]
    counter = LineCounter((100, 300, 100, 0))
    for f, fr in enumerate(frames):
        if fr:
            counter.update_points(ids[f], [[(fr[0][1][0] + fr[0][1][2]) / 2, fr[0][1][3]]], f)
    assert (counter.in_count, counter.out_count, counter.distinct) == (1, 0, 1)
    # without stitching the break loses the crossing: neither piece saw both sides
    plain = LineCounter((100, 300, 100, 0))
    for f, fr in enumerate(frames):
        if fr:
            plain.update_points([fr[0][0]], [[(fr[0][1][0] + fr[0][1][2]) / 2, fr[0][1][3]]], f)
    assert plain.in_count + plain.out_count == 0


@pytest.mark.parametrize("case", ["control", "too_far", "too_long", "other_size", "at_border",
                                  "still_seen"])
def test_breaks_that_are_not_stitched(case):
    """Each case changes one thing of a break that is stitched (``control``)."""
    a = walker(0, 100, 4, range(0, 10))                     # last seen at x=136, frame 9
    start, x, h = 12, 148.0, 60.0                           # the natural continuation
    if case == "too_far":
        x = 260.0
    elif case == "too_long":
        start, x = 25, 200.0                                # 1.5 s later (max 1 s)
    elif case == "other_size":
        h = 90.0                                            # 50 % taller: someone else
    elif case == "at_border":
        a = walker(0, 100, 4, range(0, 10))
        a[-1] = (0, box(292, 200))                          # last box touches the right edge
        x = 280.0
    frames = [[d] for d in a] + [[] for _ in range(start - len(a))]
    for f in range(start, start + 5):
        dets = [(7, box(x + 4 * (f - start), 200, h))]
        if case == "still_seen":
            dets.append((0, box(136, 200)))                 # the old track is still there
        frames.append(dets)
    if case == "still_seen":
        for f in range(10, start):
            frames[f] = [(0, box(136, 200))]
    st = TrackStitcher(10.0, (300, 300))
    ids = run(st, frames)
    if case == "control":
        assert st.links == [(start, 7, 0, start - 9)] and ids[start][0] == 0
    else:
        assert st.links == [] and ids[start][0] != 0


def test_refound_old_track_gets_a_fresh_id():
    frames = [[d] for d in walker(0, 100, 4, range(0, 10))] + [[], []]
    frames += [[(1, box(148 + 4 * k, 200))] for k in range(3)]        # stitched onto id 0
    frames += [[(1, box(160, 200)), (0, box(40, 200))]]              # tracker re-finds 0 elsewhere
    ids = run(TrackStitcher(10.0, (300, 300)), frames)
    assert ids[12] == [0] and ids[-1][0] == 0 and ids[-1][1] not in (0, -1)


def test_tentative_and_validation():
    st = TrackStitcher(10.0)
    assert st.update(0, [-1, -1], np.zeros((2, 4)) + [0, 0, 10, 30]).tolist() == [-1, -1]
    with pytest.raises(ValueError, match="ids but"):
        st.update(1, [0], np.zeros((2, 4)))
    with pytest.raises(ValueError, match="fps"):
        TrackStitcher(0)
    # the speed is per second: at 30 fps a 1-frame gap allows a third of the 10-fps reach
    assert TrackStitcher(30.0).speed == pytest.approx(TrackStitcher(10.0).speed / 3)
