"""The counting definition: side of the line, hysteresis, extent, direction, tentative tracks,
and parity with supervision's LineZone on clean trajectories."""

import numpy as np
import pytest
import supervision as sv
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.lab.count import (IN, OUT, LineCounter, anchors_of, as_line, count_distinct,
                                 count_trajectories, crossing_parameter, crossings_with_hysteresis,
                                 describe_direction, segment_intersects_rect, side_of_line)

VERTICAL_UP = (50.0, 100.0, 50.0, 0.0)  # bottom -> top: 'in' = rightward


def _walk(xs, ys):
    return np.stack([np.asarray(xs, float), np.broadcast_to(np.asarray(ys, float), len(xs))], 1)


def test_side_of_line_known_answers():
    p1, p2 = np.array([0.0, 0.0]), np.array([1.0, 0.0])  # arrow to the right on screen
    pts = np.array([[0.5, 1.0], [0.5, -1.0], [3.0, 0.0], [np.nan, 1.0]])
    # y points down: (0.5, 1) is below the arrow = its right-hand side on screen
    assert side_of_line(pts, p1, p2).tolist() == [1, -1, 0, 0]
    # bottom -> top vertical line: right of the arrow = right of the screen
    assert side_of_line([[60, 50], [40, 50]], (50, 100), (50, 0)).tolist() == [1, -1]


def test_direction_convention_is_described_and_matches_counts():
    assert "rightward" in describe_direction((50, 100), (50, 0))
    assert "leftward" in describe_direction((50, 0), (50, 100))
    assert "downward" in describe_direction((0, 50), (100, 50))
    c = LineCounter(VERTICAL_UP, min_frames=1)
    for t, x in enumerate([40, 45, 55, 60]):
        c.update_points([7], [[x, 50]], t)
    assert (c.in_count, c.out_count, c.events[0].direction) == (1, 0, IN)


def test_bad_lines_rejected():
    with pytest.raises(ValueError, match="zero length"):
        as_line((3, 4, 3, 4))
    with pytest.raises(ValueError, match="4 numbers"):
        as_line((1, 2, 3))
    with pytest.raises(ValueError, match="finite"):
        as_line((0, 0, np.inf, 1))
    with pytest.raises(ValueError, match="min_frames"):
        LineCounter(VERTICAL_UP, min_frames=0)


def test_segment_in_frame():
    assert segment_intersects_rect((10, 10), (20, 20), 100, 100)
    assert segment_intersects_rect((-50, 50), (150, 50), 100, 100)  # crosses the whole frame
    assert not segment_intersects_rect((-50, -10), (150, -10), 100, 100)
    assert not segment_intersects_rect((200, 0), (300, 100), 100, 100)


def test_crossing_parameter():
    assert crossing_parameter((40, 25), (60, 25), (50, 100), (50, 0)) == pytest.approx(0.75)
    assert np.isnan(crossing_parameter((40, 25), (40, 30), (50, 100), (50, 0)))


def test_hysteresis_sequences():
    assert crossings_with_hysteresis([-1, 1, -1, 1, 1, -1, 1, -1], 3) == []
    assert crossings_with_hysteresis([-1] * 3 + [1] * 3, 3) == [(3, 1)]
    assert crossings_with_hysteresis([-1] * 3 + [1, 1, -1] + [1] * 3, 3) == [(6, 1)]
    assert crossings_with_hysteresis([1] * 4 + [-1] * 4 + [1] * 4, 3) == [(4, -1), (8, 1)]
    assert crossings_with_hysteresis([-1, -1, -1, 0, 0, 1, 1, 1], 3) == [(5, 1)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.1, 3), min_size=4, max_size=40), st.integers(2, 5), st.booleans(),
       st.lists(st.floats(-3, 3), min_size=0, max_size=30))
def test_jitter_never_double_counts(mags, min_frames, rightward, free_noise):
    """A person walks from one side to the other, dithering on the line on the way.
    (a) A dither that flips side every frame never stays min_frames on a side: exactly one
    crossing, in the walking direction. (b) Any jitter at all: in - out is exactly the net
    passage (+1 or -1), so jitter can add back-and-forth pairs but never a double count."""
    approach = [20.0 + 3 * i for i in range(8)]
    leave = [60.0 + 3 * i for i in range(min_frames + 2)]
    alternating = [50 + (m if k % 2 else -m) for k, m in enumerate(mags)]
    for dither, exact in ((alternating, True), ([50 + n for n in free_noise], False)):
        xs = approach + dither + leave
        if not rightward:
            xs = [100 - x for x in xs]
        c = LineCounter(VERTICAL_UP, min_frames=min_frames)
        for t, x in enumerate(xs):
            c.update_points([1], [[x, 50.0]], t)
        assert c.in_count - c.out_count == (1 if rightward else -1)
        assert c.distinct == 1
        if exact:
            assert (c.in_count, c.out_count) == ((1, 0) if rightward else (0, 1))


def test_dither_without_leaving_counts_nothing():
    xs = [40] * 5 + [49, 51, 49, 52, 48, 51, 49] + [40] * 5
    c = LineCounter(VERTICAL_UP, min_frames=3)
    for t, x in enumerate(xs):
        c.update_points([1], [[x, 50]], t)
    assert (c.in_count, c.out_count, c.distinct) == (0, 0, 0)
    c1 = LineCounter(VERTICAL_UP, min_frames=1)  # without hysteresis the same walk counts 6 times
    for t, x in enumerate(xs):
        c1.update_points([1], [[x, 50]], t)
    assert (c1.in_count, c1.out_count) == (3, 3)


def test_extent_and_round_trip():
    c = LineCounter(VERTICAL_UP, min_frames=2)
    # id 1 crosses within the segment (y=50), goes on, comes back: in + out, one distinct person
    for t, x in enumerate([30, 40, 60, 70, 70, 60, 40, 30]):
        c.update_points([1], [[x, 50]], t)
    # id 2 walks past the end of the segment (y=130 > 100): changes side, never counted
    for t, x in enumerate([30, 40, 60, 70]):
        c.update_points([2], [[x, 130]], t)
    assert (c.in_count, c.out_count, c.distinct) == (1, 1, 1)
    assert [e.direction for e in c.events] == [IN, OUT]
    assert c.events[0].cross_frame == 2 and c.events[0].frame == 3


def test_tentative_tracks_never_count():
    c = LineCounter(VERTICAL_UP, min_frames=1)
    for t, x in enumerate([30, 40, 60, 70]):
        det = sv.Detections(xyxy=np.array([[x - 5, 30, x + 5, 50], [x - 5, 60, x + 5, 80]], float),
                            tracker_id=np.array([-1, 4]))
        c.update(det, t)
    assert (c.in_count, c.distinct, c.crossed_ids) == (1, 1, {4})


def test_update_needs_tracker_ids():
    c = LineCounter(VERTICAL_UP)
    with pytest.raises(ValueError, match="tracker_id"):
        c.update(sv.Detections(xyxy=np.array([[0, 0, 1, 1.0]])), 0)
    assert c.update(sv.Detections.empty(), 0) == []


def test_anchor_is_bottom_centre():
    assert anchors_of([[10, 20, 30, 60]]).tolist() == [[20.0, 60.0]]


def test_count_distinct_forms():
    assert count_distinct([(1, 3, "in"), (2, 3, "out"), (3, -1, "in"), (4, 5, "in")]) == 2
    assert count_distinct([{"track_id": 2}, {"track_id": 2}]) == 1


def test_count_trajectories_with_gaps():
    T = 30
    a = np.full((T, 2), np.nan)
    a[2:12] = _walk(np.linspace(20, 80, 10), 50)   # crosses rightward
    a[15:25] = _walk(np.linspace(80, 20, 10), 50)  # reappears after a gap and crosses back
    b = _walk(np.linspace(20, 45, T), 50)           # never reaches the line
    c = count_trajectories({1: a, 2: b}, VERTICAL_UP, min_frames=3)
    assert (c.in_count, c.out_count, c.distinct) == (1, 1, 1)


@pytest.mark.parametrize("seed", range(4))
def test_parity_with_supervision_linezone(seed):
    """On clean trajectories (no jitter, no point exactly on the line) min_frames=1 counting
    agrees with supervision's LineZone at the bottom-centre anchor; supervision's names are the
    opposite of ours for this line (its 'out' is our 'in')."""
    rng = np.random.default_rng(seed)
    line = (200.0, 380.0, 200.0, 20.0)
    ours = LineCounter(line, min_frames=1)
    zone = sv.LineZone(start=sv.Point(200, 380), end=sv.Point(200, 20),
                       triggering_anchors=[sv.Position.BOTTOM_CENTER])
    n, T = 6, 60
    x0 = rng.uniform(20, 380, n)
    vx = rng.choice([-1, 1], n) * rng.uniform(3, 9, n) + 0.013
    y = rng.uniform(60, 360, n)
    for t in range(T):
        x = x0 + vx * t
        x = np.where(np.abs(x - 200) < 1e-6, x + 0.5, x)
        boxes = np.stack([x - 10, y - 40, x + 10, y], 1)
        det = sv.Detections(xyxy=boxes, tracker_id=np.arange(n), class_id=np.zeros(n, int))
        ours.update(det, t)
        zone.trigger(det)
    assert ours.in_count + ours.out_count > 0
    assert (ours.in_count, ours.out_count) == (zone.out_count, zone.in_count)


def test_exercise_side_of_line_written_out_equals_the_counter():
    """ex_lab.q1's solution spells the cross product out; the counter's function must agree."""
    from companion.exercises.ex_lab import side_of_line as written_out
    from companion.lab.count import side_of_line

    rng = np.random.default_rng(4)
    pts = rng.uniform(-50, 150, size=(40, 2))
    pts[3] = np.nan
    pts[5] = (50.0, 20.0)  # on the vertical line
    for p1, p2 in [((50, 100), (50, 0)), ((0, 40), (100, 60)), ((10, 10), (-20, 70))]:
        np.testing.assert_array_equal(written_out(pts, p1, p2), side_of_line(pts, p1, p2))


def _loiter(amplitude=8.0, period=12, stand=60):
    """Walk rightward to the line, stand ON it for ``stand`` frames with the foot point swaying
    slowly by +-amplitude px (a person on the phone; each side held for period/2 frames), walk on."""
    xs = [20.0 + 4 * i for i in range(8)]                                      # 20..48
    xs += [50 + amplitude * np.sin(2 * np.pi * k / period) for k in range(stand)]
    xs += [52.0 + 4 * i for i in range(10)]                                    # leaves rightward
    return xs


@pytest.mark.parametrize("min_frames", [2, 3])
def test_loitering_on_the_line_counts_once_with_a_dead_band(min_frames):
    xs = _loiter()
    plain = LineCounter(VERTICAL_UP, min_frames=min_frames)
    banded = LineCounter(VERTICAL_UP, min_frames=min_frames, dead_band=10.0)
    for t, x in enumerate(xs):
        plain.update_points([1], [[x, 50.0]], t)
        banded.update_points([1], [[x, 50.0]], t)
    # slow sway holds each side >= min_frames frames: hysteresis alone counts every swing
    assert plain.in_count + plain.out_count >= 9
    assert (banded.in_count, banded.out_count, banded.distinct) == (1, 0, 1)
    # the event says where the feet last stepped over the line, inside the segment
    ev = banded.events[0]
    assert ev.direction == IN and xs[ev.cross_frame] > 50 > xs[ev.cross_frame - 1]
    assert 0 <= ev.t <= 1


def test_dead_band_still_counts_walkers_and_round_trips():
    c = LineCounter(VERTICAL_UP, min_frames=2, dead_band=10.0)
    for t, x in enumerate([10, 20, 30, 40, 55, 62, 70, 80, 80, 70, 62, 55, 45, 38, 30, 20]):
        c.update_points([1], [[x, 50.0]], t)
    for t, x in enumerate([10, 20, 30, 40, 55, 58, 55, 45, 30]):  # peeks 8 px past: not a crossing
        c.update_points([2], [[x, 50.0]], t)
    for t, x in enumerate([30, 40, 60, 70, 80]):                  # past the end of the segment
        c.update_points([3], [[x, 130.0]], t)
    assert (c.in_count, c.out_count, c.distinct) == (1, 1, 1)
    assert [e.direction for e in c.events] == [IN, OUT]
    assert [e.cross_frame for e in c.events] == [4, 12]


def test_dead_band_distance_is_perpendicular_on_a_diagonal_line():
    line = (0.0, 100.0, 100.0, 0.0)  # diagonal, bottom-left -> top-right
    # points at perpendicular distance 5 and 15 on either side of the line x + y = 100
    d = np.array([1.0, 1.0]) / np.sqrt(2)
    pts = np.array([[50, 50] + 5 * d, [50, 50] - 5 * d, [50, 50] + 15 * d, [50, 50] - 15 * d])
    assert side_of_line(pts, line[:2], line[2:], dead_band=10.0).tolist() == [0, 0, 1, -1]
    with pytest.raises(ValueError, match="dead_band"):
        LineCounter(line, dead_band=-1)
