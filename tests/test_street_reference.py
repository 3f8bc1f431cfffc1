"""The by-eye lists of crossings and identities on the street clip (three lines): well-formed,
consistent with the by-eye foot points and with the geometry of the lines, and scored right."""

import numpy as np
import pytest

from companion.lab.count import as_line, crossing_parameter, side_of_line
from companion.lab.street_reference import (DEFAULT_LINE_CROSSINGS, FOOT_POINTS, LINES, PEOPLE,
                                            crossing_foot_point, person_box, reference_gallery,
                                            score_identities, score_lines)

N_FRAMES = 795  # vtest.avi


def test_lists_are_well_formed():
    assert set(LINES) == {"default", "left", "diagonal"}
    assert LINES["default"][1] is DEFAULT_LINE_CROSSINGS
    for name, (line, crossings) in LINES.items():
        as_line(line)
        frames = [f for f, _, _ in crossings]
        assert frames == sorted(frames), name
        assert all(isinstance(f, int) and 0 <= f < N_FRAMES for f in frames), name
        assert {d for _, d, _ in crossings} <= {"in", "out"}, name
        assert {p for _, _, p in crossings} <= set(PEOPLE), name
        assert len({(f, p) for f, _, p in crossings}) == len(crossings), name
    # the counts the module docstring states
    for name, n, people in (("default", 33, 10), ("left", 19, 9), ("diagonal", 30, 10)):
        crossings = LINES[name][1]
        assert (len(crossings), len({p for _, _, p in crossings})) == (n, people), name


def test_default_line_is_the_labs():
    from companion.lab.pipeline import STREET_CLIP_LINE

    assert LINES["default"][0] == STREET_CLIP_LINE


#: people who cross a line twice in the same direction in a row, because they went round an end
#: of the segment in between (seen by eye): P3 leaves at the right edge ~370 and comes back
#: across the lawn *below* the default line's bottom end (~515) before crossing it 'in' at 610
ROUND_THE_END = {("default", "P3"): 1}


def test_each_persons_crossings_alternate():
    for name, (_, crossings) in LINES.items():
        for p in PEOPLE:
            dirs = [d for _, d, q in crossings if q == p]
            repeats = sum(a == b for a, b in zip(dirs, dirs[1:]))
            assert repeats == ROUND_THE_END.get((name, p), 0), (name, p, dirs)


@pytest.mark.parametrize("name", sorted(FOOT_POINTS))
def test_crossings_are_where_the_feet_change_side(name):
    """The by-eye foot points before and after each crossing lie on the sides its direction
    says (the lab's convention, ``count.side_of_line``), clear of the line, and the step between
    them cuts the segment itself."""
    line, crossings = LINES[name]
    p1, p2 = as_line(line)
    assert set(FOOT_POINTS[name]) == {(f, p) for f, _, p in crossings}
    length = np.hypot(*(p2 - p1))
    for f, d, p in crossings:
        (f0, x0, y0), (f1, x1, y1) = FOOT_POINTS[name][(f, p)]
        assert f0 < f <= f1, (name, f, p)
        before, after = side_of_line([[x0, y0], [x1, y1]], p1, p2, dead_band=5.0)
        assert (before, after) == ((-1, 1) if d == "in" else (1, -1)), (name, f, d, p)
        assert 0.0 <= crossing_parameter((x0, y0), (x1, y1), p1, p2) <= 1.0, (name, f, p)
        x, y = crossing_foot_point(name, f, p)
        assert 0 <= x < 768 and 0 <= y <= 576
    assert length > 0


#: by-eye walks round an end of the default line (x = 560, y 150..470): P2 and P3 come back from
#: the right across the lawn below its bottom end, at about frame 515 (see ROUND_THE_END)
ROUND_THE_END_FRAMES = {("default", "P2"): (515, "out"), ("default", "P3"): (515, "out")}


def test_sides_of_the_three_lines_agree():
    """On the street clip the left line (x = 240) lies left of the diagonal, and the diagonal left
    of the default line (x = 560) everywhere people walk, so whoever is left of the left line is
    left of the diagonal, and whoever is left of the diagonal is left of the default line. Each
    person's side of each line follows from their crossings of it (before the first one: where
    it starts from); the three must agree at every crossing — a person given to the wrong
    crossing, or a missed crossing, breaks this."""
    order = ("left", "diagonal", "default")
    for p in PEOPLE:
        events = [(f, name, d) for name in order for f, d, q in LINES[name][1] if q == p]
        events += [(f, name, d) for (name, q), (f, d) in ROUND_THE_END_FRAMES.items() if q == p]
        events.sort()
        side = {}
        for name in order:
            first = [d for f, n, d in events if n == name]
            if first:
                side[name] = "R" if first[0] == "out" else "L"
        for f, name, d in events:
            side[name] = "R" if d == "in" else "L"
            known = [side[n] for n in order if n in side]
            # going rightward through the lines, once left of one (L) never right of the next (R)
            assert known == sorted(known, reverse=True), (p, f, name, dict(side))


def test_score_lines_known_answers():
    """The reference itself, as events with one id per person, scores perfectly on every line;
    one line's ids of two people swapped on one crossing each does not."""
    by_line = {line: crossings for line, crossings in LINES.values()}

    def perfect(line):
        return [dict(cross_frame=f, direction=d, track_id=int(p[1:])) for f, d, p in by_line[line]]

    scores = score_lines(perfect)
    assert set(scores) == set(LINES)
    for name, s in scores.items():
        people = len({p for _, _, p in LINES[name][1]})
        assert s.ok and (s.matched, s.extra, s.distinct, s.people) == (len(LINES[name][1]), 0, people, people)
    left = LINES["left"][0]

    def swapped(line):
        ev = perfect(line)
        if line == left:  # 671: P7 out and P8 in at the same frame, ids swapped
            for e in ev:
                if e["cross_frame"] == 671:
                    e["track_id"] = 15 - e["track_id"]
        return ev

    s = score_lines(swapped)["left"]
    assert (s.matched, s.extra, s.shared) == (19, 0, 2) and s.kept < s.returning and not s.ok
    assert score_identities(perfect(left), LINES["left"][1], limit=600).reference == 12


def test_person_box_known_answer():
    assert person_box(100.0, 200.0) == pytest.approx((86.2, 131.0, 113.8, 200.0))


def test_reference_gallery():
    from companion.errors import AssetUnavailableError

    with pytest.raises(ValueError, match="no by-eye foot points"):
        reference_gallery(np.zeros((N_FRAMES, 8, 8, 3), np.uint8), "default")
    try:
        from companion.data import street_clip

        path = street_clip(allow_download=False, verbose=False)
    except (AssetUnavailableError, FileNotFoundError) as exc:
        pytest.skip(f"street clip not available: {exc}")
    g = reference_gallery(path, "left", columns=10)
    assert g.shape == (40 + 2 * 180, 10 * 96, 3)
    # every crop holds a person, not the black padding of a box outside the frame
    tiles = g[40:].reshape(2, 180, 10, 96, 3)[:, :150]
    assert all(tiles[r, :, c].mean() > 40 for r in range(2) for c in range(10) if r * 10 + c < 19)


def test_crossings_are_matched_by_place_as_well_as_frame():
    """Left line, frames 671 and 673: P7 (by the tape, y ~ 226) and P2 (on the lawn, y ~ 461) both
    cross 'out'. Events carrying where they crossed (``t``) are matched to the right people even
    when their frames come out the other way round; by frame alone they would be swapped."""
    from companion.lab.street_reference import crossing_points, score_line

    line, crossings = LINES["left"]
    points = crossing_points("left")
    assert len(points) == len(crossings) and all(p is not None for p in points)
    length = abs(line[1] - line[3])

    def event(f, d, p, frame=None):
        x, y = points[crossings.index((f, d, p))]
        return dict(cross_frame=f if frame is None else frame, direction=d, track_id=int(p[1:]),
                    t=(line[1] - y) / length)

    ev = [event(f, d, p) for f, d, p in crossings]
    assert score_line(ev, "left").ok
    # P7's event comes out at 673 and P2's at 671: by place, still right
    ev = [event(f, d, p, frame={(671, "P7"): 673, (673, "P2"): 671}.get((f, p))) for f, d, p in crossings]
    assert score_line(ev, "left").ok
    no_place = [{k: v for k, v in e.items() if k != "t"} for e in ev]
    s = score_line(no_place, "left")
    assert s.shared == 2 and not s.ok
    # an event one body height or more away from the by-eye point matches nothing
    far = [dict(e, t=e["t"] + 0.5) if e["cross_frame"] == 706 else e for e in ev]
    assert score_line(far, "left").matched == len(crossings) - 1


def test_crossing_points_of_the_default_line_come_from_the_reference_boxes():
    from companion.lab.street_reference import REFERENCE_BOXES, crossing_points

    pts = crossing_points("default")
    frames = [f for f, _, _ in DEFAULT_LINE_CROSSINGS]
    assert [f for f, p in zip(frames, pts) if p is None] == [43]          # no clean box at 43
    _, x0, _, x1, y1 = REFERENCE_BOXES[10]
    assert pts[frames.index(10)] == ((x0 + x1) / 2, y1)
    with pytest.raises(ValueError, match="unknown line 'middle'"):
        crossing_points("middle")


def test_score_line_and_points_reject_bad_input_clearly():
    from companion.lab.street_reference import score_identities, score_line

    with pytest.raises(ValueError, match="unknown line 'middle'.*lines with a by-eye list"):
        score_line([], "middle")
    with pytest.raises(ValueError, match="one foot point .* per reference crossing: 1 points for 2"):
        score_identities([], [(10, "in", "P1"), (20, "out", "P1")], line=(0, 0, 1, 1), points=[None])
