"""The lab's offline identity stage (companion.lab.identities) on constructed cases: a swap at a
close encounter is cut and undone, two pieces of one person are linked, people who coexist are
never linked, an implausible jump is never linked, an abrupt change of appearance is cut."""

import numpy as np
import pytest

from companion.lab.identities import (Tracklet, TrackLog, appearance_cuts, encounter_cuts,
                                      link_tracklets, recognisable_cuts, split_tracks, walkable)

COLOURS = {"red": (200, 30, 30), "blue": (30, 30, 200), "green": (30, 200, 30)}


class MeanColour:
    """A stand-in embedder: the unit mean colour of each crop (exact, instant)."""

    def embed_crops(self, crops):
        v = np.asarray(crops, np.float64).reshape(len(crops), -1, 3).mean(1) + 1e-6
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _unit(colour):
    v = np.asarray(COLOURS[colour], float)
    return v / np.linalg.norm(v)


def _tracklet(track, frames, x0, x1, colour):
    frames = np.asarray(frames)
    xs = np.linspace(x0, x1, len(frames))
    boxes = np.stack([xs, np.full_like(xs, 20.0), xs + 20, np.full_like(xs, 100.0)], 1)
    return Tracklet(track, frames, boxes, None if colour is None else _unit(colour))


def _swap_run(swap_at=20, T=40):
    """Red walks right, blue walks left; they meet at frame 20, where the 'tracker' swaps their ids
    (from ``swap_at`` on, id 0 follows blue and id 1 follows red)."""
    log = TrackLog(every=1, size=(32, 16))
    for f in range(T):
        red = (20 + 4 * f, 20, 40 + 4 * f, 100)
        blue = (180 - 4 * f, 20, 200 - 4 * f, 100)
        img = np.full((120, 240, 3), 128, np.uint8)
        for colour, (x0, y0, x1, y1) in (("blue", blue), ("red", red)):
            img[y0:y1, x0:x1] = COLOURS[colour]
        boxes = np.array([red, blue], float) if f < swap_at else np.array([blue, red], float)
        log.update(f, img, [0, 1], boxes)
    return log


def test_a_swap_at_an_encounter_is_cut_and_undone():
    log = _swap_run()
    cuts = encounter_cuts(log.tracks())
    assert cuts == {0: {20}, 1: {20}}  # both cut at the closest approach
    ident = log.resolve(MeanColour(), change=-2.0)  # encounter cuts only
    assert len(ident.tracklets) == 4
    red = {ident.person_of(0, 5), ident.person_of(1, 35)}
    blue = {ident.person_of(1, 5), ident.person_of(0, 35)}
    assert len(red) == 1 and len(blue) == 1 and red != blue
    # without splitting, the tracker's swap stays: track 0 is one person in both halves
    whole = log.resolve(MeanColour(), split=False)
    assert whole.person_of(0, 5) == whole.person_of(0, 35) != whole.person_of(1, 35)


def test_an_abrupt_change_of_appearance_is_cut():
    f = np.arange(0, 24, 2)
    feats = np.stack([_unit("red")] * 6 + [_unit("green")] * 6)
    assert appearance_cuts(f, feats) == {11}  # between the crops of frames 10 and 12
    assert appearance_cuts(f, np.stack([_unit("red")] * 12)) == set()


def test_split_tracks_cuts_at_the_given_frames():
    frames = np.arange(10, 20)
    boxes = np.zeros((10, 4))
    pieces = split_tracks({3: (frames, boxes)}, {3: {10, 14, 17, 99}})
    assert [(p.track, p.start, p.end) for p in pieces] == [(3, 10, 13), (3, 14, 16), (3, 17, 19)]


@pytest.mark.parametrize("linkage", ["centroid", "average"])
def test_two_pieces_of_one_person_are_linked_and_a_stranger_is_not(linkage):
    a = _tracklet(0, range(0, 10), 20, 60, "red")
    b = _tracklet(5, range(30, 40), 70, 110, "red")     # came back 2 s later, nearby
    c = _tracklet(6, range(50, 60), 120, 160, "green")  # someone else, later
    labels = link_tracklets([a, b, c], threshold=0.1, continuity=0.0, linkage=linkage)
    assert labels[0] == labels[1] != labels[2]


@pytest.mark.parametrize("linkage", ["centroid", "average"])
def test_tracklets_that_coexist_are_never_linked(linkage):
    a = _tracklet(0, range(0, 10), 20, 60, "red")
    b = _tracklet(1, range(5, 15), 100, 140, "red")     # the same colour, at the same time
    c = _tracklet(2, range(30, 40), 150, 190, "red")    # can continue either, not both
    labels = link_tracklets([a, b, c], threshold=0.5, continuity=0.0, linkage=linkage)
    assert labels[0] != labels[1]
    assert labels[2] in (labels[0], labels[1])


@pytest.mark.parametrize("linkage", ["centroid", "average"])
def test_an_unwalkable_jump_is_never_linked(linkage):
    a = _tracklet(0, range(0, 10), 0, 10, "red")
    b = _tracklet(1, range(11, 20), 1000, 1010, "red")  # 1000 px in one frame
    assert not walkable(a, b)
    assert walkable(a, _tracklet(1, range(11, 20), 15, 25, "red"))
    labels = link_tracklets([a, b], threshold=0.5, continuity=0.0, linkage=linkage)
    assert labels[0] != labels[1]


@pytest.mark.parametrize("linkage", ["centroid", "average"])
def test_consecutive_pieces_of_a_track_need_continuity_when_appearance_is_unknown(linkage):
    a = _tracklet(4, range(0, 10), 20, 60, None)
    b = _tracklet(4, range(10, 20), 60, 100, None)
    assert link_tracklets([a, b], threshold=0.2, continuity=0.0, linkage=linkage).tolist() == [0, 1]
    assert link_tracklets([a, b], threshold=0.2, continuity=0.9, linkage=linkage).tolist() == [0, 0]


def test_pieces_too_poor_to_recognise_are_not_cut_off():
    crops = [0, 2, 4, 6, 8, 20, 22, 24]
    assert recognisable_cuts({10, 21}, crops, 2) == {10}     # [10, 21) holds one crop (20)
    assert recognisable_cuts({10, 30}, crops, 2) == {10}     # nothing after 30
    assert recognisable_cuts({10}, crops, 2) == {10}
    assert recognisable_cuts({1}, crops, 2) == set()         # one crop before 1



def test_a_run_where_nobody_is_tracked_has_no_people():
    """An empty street (no detection at all): the stage links nothing and the lab reports zeros."""
    import numpy as np

    from companion.lab.identities import link_tracklets
    from companion.lab.pipeline import run_lab

    assert link_tracklets([]).shape == (0,)
    res = run_lab(np.zeros((8, 48, 64, 3), np.uint8), detector="bgsub", write_files=False, progress=False)
    assert (res.in_count, res.out_count, res.distinct) == (0, 0, 0)
    assert res.summary["identities"]["tracklets"] == 0


def test_a_piece_seen_only_half_hidden_still_gets_an_appearance():
    """Two people who stay 60 % covered by each other: with crops of boxes covered up to half only
    (``max_cover=0.5``) their pieces have no appearance at all (each would be a person of its own);
    by default every box not wholly covered is cropped and a piece with no clean crop takes its
    least-covered one."""
    def run(**kw):
        log = TrackLog(every=1, size=(32, 16), **kw)
        for f in range(10):
            img = np.full((120, 240, 3), 128, np.uint8)
            img[20:100, 0:14] = COLOURS["red"]
            img[20:100, 14:28] = COLOURS["blue"]
            log.update(f, img, [0, 1], np.array([[0, 20, 20, 100], [8, 20, 28, 100]], float))
        return log.resolve(MeanColour(), split=False)

    half = run(max_cover=0.5)
    assert [t.feature is None for t in half.tracklets] == [True, True]
    ident = run()
    assert TrackLog().max_cover == 1.0
    red, blue = (t.feature for t in ident.tracklets)
    assert red @ _unit("red") > blue @ _unit("red") and blue @ _unit("blue") > red @ _unit("blue")


def test_a_swap_in_mid_crossing_is_counted_on_the_people_not_the_tracks():
    """Red and blue cross a vertical line at x = 112 in opposite directions just as the 'tracker'
    swaps their ids: neither track crosses (each returns to its own side), so the tracker's
    counter sees nothing; counted again on the people's trajectories, both crossings are there,
    one per person."""
    from companion.lab.count import LineCounter
    from companion.lab.identities import recount

    log = _swap_run()
    line = (112.0, 0.0, 112.0, 120.0)
    tracker = LineCounter(line)
    for t, (frames, boxes) in log.tracks().items():
        for f, b in zip(frames, boxes):
            tracker.update_points([t], [((b[0] + b[2]) / 2, b[3])], int(f))
    assert tracker.events == []
    ident = log.resolve(MeanColour(), change=-2.0)
    counter = recount(ident, LineCounter(line))
    red, blue = ident.person_of(0, 5), ident.person_of(1, 5)
    got = sorted((e.track_id, e.direction) for e in counter.events)
    # the line points down the picture: "in" is moving leftward on screen (blue), "out" rightward
    assert got == sorted([(red, "out"), (blue, "in")])
    assert counter.distinct == 2 and counter.in_count == counter.out_count == 1
    # the old rule (rename the tracker's events) had nothing to rename
    tracker.rename(ident.person_of)
    assert tracker.events == []


def test_a_person_unseen_for_long_is_not_counted_for_crossing_while_away():
    """One person (two linked pieces) seen left of the line, then 3 s later right of it: with the
    pieces joined only across short gaps, no crossing is invented; with a gap allowance longer
    than the absence, the crossing is counted."""
    from types import SimpleNamespace

    from companion.lab.count import LineCounter
    from companion.lab.identities import recount

    a = _tracklet(0, range(0, 10), 20, 40, "red")
    b = _tracklet(4, range(40, 50), 160, 180, "red")
    ident = SimpleNamespace(tracklets=[a, b], labels=np.array([0, 0]))
    line = (112.0, 0.0, 112.0, 120.0)
    assert recount(ident, LineCounter(line), fps=10.0, max_gap_s=1.0).events == []
    ev = recount(ident, LineCounter(line), fps=10.0, max_gap_s=5.0).events
    assert [(e.track_id, e.cross_frame) for e in ev] == [(0, 40)]


def test_the_trackers_crossings_are_kept_when_no_persons_crossing_explains_them():
    """merge_crossings: a tracker crossing that a person's crossing explains (same direction,
    within 0.6 s) is not added twice; one that none explains is added under its person's id."""
    from types import SimpleNamespace

    from companion.lab.count import CrossingEvent, LineCounter
    from companion.lab.identities import merge_crossings, recount

    a = _tracklet(0, range(0, 20), 60, 160, "red")        # crosses x = 112 rightwards
    ident = SimpleNamespace(tracklets=[a], labels=np.array([7]), person_of=lambda t, f: 9)
    line = (112.0, 0.0, 112.0, 120.0)
    counter = recount(ident, LineCounter(line))
    assert [(e.track_id, e.direction) for e in counter.events] == [(7, "out")]
    mine = counter.events[0].cross_frame
    tracker = [CrossingEvent(mine + 5, 0, "out", mine + 3, 0.5),      # the same crossing, seen late
               CrossingEvent(60, 3, "in", 58, 0.5)]                   # one nobody's trajectory has
    merge_crossings(tracker, counter, ident)
    assert [(e.track_id, e.direction, e.cross_frame) for e in counter.events] == [(7, "out", mine), (9, "in", 58)]
    assert (counter.in_count, counter.out_count, counter.distinct) == (1, 1, 2)


def test_a_handover_to_a_new_track_on_the_same_person_is_trimmed():
    """The tracker starts track 1 on the box track 0 still holds and ends track 0 a few frames
    later: the old track's tail from the new one's start is dropped (the two no longer coexist),
    and nothing else is touched — not two people walking side by side (low IoU), not two tracks on
    one box that coexist for longer than ``max_overlap`` frames."""
    from companion.lab.identities import trim_handovers

    def walk(frames, x0, dx=4.0, y=20.0):
        xs = x0 + dx * (np.asarray(frames) - frames[0])
        return np.asarray(frames), np.stack([xs, np.full_like(xs, y), xs + 20, np.full_like(xs, y + 80)], 1)

    f0, b0 = walk(list(range(0, 25)), 0.0)
    f1, b1 = walk(list(range(20, 50)), 80.0)            # starts on track 0's box at frame 20
    out = trim_handovers({0: (f0, b0), 1: (f1, b1)})
    assert out[0][0].tolist() == list(range(0, 20)) and out[1][0].tolist() == list(range(20, 50))
    assert np.array_equal(out[1][1], b1) and np.array_equal(out[0][1], b0[:20])
    # a neighbour 15 px to the side (IoU 0.14) is a second person: kept whole
    f2, b2 = walk(list(range(20, 50)), 95.0)
    assert [len(v[0]) for v in trim_handovers({0: (f0, b0), 2: (f2, b2)}).values()] == [25, 30]
    # one box, two tracks coexisting for 15 frames (> max_overlap = 10): not a handover
    f3, b3 = walk(list(range(10, 50)), 40.0)
    assert [len(v[0]) for v in trim_handovers({0: (f0, b0), 3: (f3, b3)}).values()] == [25, 40]
    assert [len(v[0]) for v in trim_handovers({0: (f0, b0), 3: (f3, b3)}, max_overlap=15).values()] == [10, 40]


def test_two_tracks_on_one_person_crossing_together_count_once():
    """merge_crossings: two tracker crossings, same direction and 0.4 s apart, by two tracks that
    the linking puts in one person (a duplicate track), are that person's one crossing."""
    from types import SimpleNamespace

    from companion.lab.count import CrossingEvent, LineCounter
    from companion.lab.identities import merge_crossings

    ident = SimpleNamespace(tracklets=[], labels=np.array([], int), person_of=lambda t, f: 5)
    counter = LineCounter((112.0, 0.0, 112.0, 120.0))
    tracker = [CrossingEvent(31, 0, "in", 30, 0.5), CrossingEvent(35, 1, "in", 34, 0.5)]
    merge_crossings(tracker, counter, ident)
    assert [(e.track_id, e.direction, e.cross_frame) for e in counter.events] == [(5, "in", 30)]
    assert (counter.in_count, counter.out_count, counter.distinct) == (1, 0, 1)
    # two different people crossing together both count
    ident.person_of = lambda t, f: 5 + t
    counter = LineCounter((112.0, 0.0, 112.0, 120.0))
    merge_crossings([CrossingEvent(31, 0, "in", 30, 0.5), CrossingEvent(35, 1, "in", 34, 0.5)], counter, ident)
    assert (counter.in_count, counter.distinct) == (2, 2)


def _with_feature(tracklet, v):
    tracklet.feature = np.asarray(v, float) / np.linalg.norm(v)
    return tracklet


@pytest.mark.parametrize("linkage", ["centroid", "average"])
def test_a_two_frame_sliver_cannot_keep_one_persons_pieces_apart(linkage):
    """Person A: track 0 (frames 0-19), handed over to track 1 (20-39), back as track 2 (60-79).
    Track 0 lingers for two frames (20-21) beside track 1: a sliver that coexists with track 1
    and looks most like A's return. Clustered with the rest, the sliver links to the return first,
    and its cannot-link with track 1 then keeps A in two people. Kept out of the clustering
    (``min_frames``), A is one person and the sliver, which cannot be A at frames 20-21, is
    attached to nobody it coexists with."""
    v_return, v_first = np.array([1.0, 0.0, 0.0]), np.array([0.95, np.sqrt(1 - 0.95 ** 2), 0.0])
    a1 = _with_feature(_tracklet(0, range(0, 20), 20, 60, None), v_first)
    a2 = _with_feature(_tracklet(1, range(20, 40), 62, 100, None), v_first)
    sliver = _with_feature(_tracklet(0, range(20, 22), 60, 62, None), v_return)
    a3 = _with_feature(_tracklet(2, range(60, 80), 110, 150, None), v_return)
    pieces = [a1, a2, sliver, a3]
    plain = link_tracklets(pieces, threshold=0.2, linkage=linkage)
    assert plain[2] == plain[3] and plain[1] != plain[3]          # A split in two
    labels = link_tracklets(pieces, threshold=0.2, linkage=linkage, min_frames=5)
    assert labels[0] == labels[1] == labels[3] != labels[2]
    assert labels.tolist() == [0, 0, 1, 0]                        # numbered by first member


def test_a_short_piece_joins_the_most_similar_compatible_person_whatever_the_distance():
    from companion.lab.identities import attach_short

    red = _tracklet(0, range(0, 20), 20, 60, "red")
    green = _tracklet(1, range(0, 20), 200, 240, "green")
    near_red = _with_feature(_tracklet(2, range(22, 25), 62, 66, None), [0.2, 0.9, 0.2])  # green-ish
    far = _tracklet(3, range(22, 25), 700, 704, "green")          # nobody could walk there
    blind = _tracklet(4, range(30, 33), 70, 74, None)             # no appearance at all
    labels = attach_short([red, green, near_red, far, blind], np.array([0, 1, -1, -1, -1]))
    # near_red looks green (cosine distance to green 0.005) but green is 176 px away after
    # 3 frames: unwalkable, so it joins red, although its distance to red (0.62) is far
    # above any linking threshold
    assert labels[2] == labels[0] != labels[1]
    assert labels[3] not in labels[[0, 1, 2]].tolist()           # unwalkable for everyone
    assert labels[4] not in labels[[0, 1, 2, 3]].tolist()        # no feature: a person of its own
    assert labels.tolist() == [0, 1, 0, 2, 3]


def _walk_track(frames, x0, dx=4.0, y=20.0):
    frames = np.asarray(frames)
    xs = x0 + dx * (frames - frames[0])
    return frames, np.stack([xs, np.full_like(xs, y), xs + 20, np.full_like(xs, y + 80)], 1)


def test_a_track_that_ends_beside_another_cuts_it():
    """Two people walk side by side (feet 10 px apart, same height); track 0 ends at frame 29
    inside the encounter — its person may now be under track 1 — so track 1 is cut at frame 30,
    besides the cut at the closest approach. ``ends=False`` leaves only the latter; a track that
    ends far from everyone cuts nobody."""
    f0, b0 = _walk_track(range(0, 30), 0.0)
    f1, b1 = _walk_track(range(10, 60), 50.0, dx=2.0)   # catches up, then walks beside
    tracks = {0: (f0, b0), 1: (f1, b1)}
    with_ends = encounter_cuts(tracks)
    without = encounter_cuts(tracks, ends=False)
    assert with_ends[1] == without[1] | {30} and 30 not in without[1]
    assert with_ends[0] == without[0]                    # the survivor never cuts the one that ended
    far = {0: (f0, b0), 1: _walk_track(range(10, 60), 400.0)}
    assert encounter_cuts(far) == {0: set(), 1: set()}


def test_a_handover_is_reported_and_its_two_pieces_are_one_person():
    """trim_handovers reports (old, new); the linking then joins the old track's last piece and the
    new track's first piece whatever their features (a person turning round changes look), but
    never two pieces that coexist."""
    from companion.lab.identities import trim_handovers

    f0, b0 = _walk_track(range(0, 25), 0.0)
    f1, b1 = _walk_track(range(20, 50), 80.0)
    pairs = []
    trim_handovers({0: (f0, b0), 1: (f1, b1)}, pairs=pairs)
    assert pairs == [(0, 1)]
    front = _with_feature(_tracklet(0, range(0, 20), 0, 76, None), [1.0, 0.0, 0.0])
    back = _with_feature(_tracklet(1, range(20, 50), 80, 196, None), [0.0, 1.0, 0.0])
    assert link_tracklets([front, back], threshold=0.3).tolist() == [0, 1]       # far apart
    assert link_tracklets([front, back], threshold=0.3, must=[(0, 1)]).tolist() == [0, 0]
    twin = _with_feature(_tracklet(2, range(10, 30), 300, 340, None), [0.0, 1.0, 0.0])
    labels = link_tracklets([front, twin], threshold=0.3, must=[(0, 1)])
    assert labels[0] != labels[1]                                               # coexist: never


def test_chain_links_are_one_to_one_walkable_and_close_in_look():
    """chain_links: a piece continues into the closest-looking piece that starts within max_gap
    frames and can be walked to; each piece has at most one successor and one predecessor."""
    from companion.lab.identities import chain_links

    a = _with_feature(_tracklet(0, range(0, 10), 0, 36, None), [1.0, 0.0, 0.0])
    b = _with_feature(_tracklet(1, range(11, 20), 40, 72, None), [0.98, 0.2, 0.0])   # near, alike
    c = _with_feature(_tracklet(2, range(12, 20), 44, 72, None), [0.9, 0.43, 0.0])   # near, less alike
    d = _with_feature(_tracklet(3, range(11, 20), 900, 932, None), [1.0, 0.0, 0.0])  # alike, too far
    e = _with_feature(_tracklet(4, range(40, 50), 40, 72, None), [1.0, 0.0, 0.0])   # alike, too late
    links = chain_links([a, b, c, d, e], within=0.15, max_gap=10)
    assert links == [(0, 1)]
    assert chain_links([a, b, c, d, e], within=0.01, max_gap=10) == []
    assert chain_links([a, c], within=0.15, max_gap=10) == [(0, 1)]


def test_resolve_links_a_handover_even_when_the_look_changes():
    """One person, red until frame 14 and green from 15 on (a coat taken off); the 'tracker' hands
    them over to a new track born on their box at frame 15 while the old one lingers to 19. With
    ``handover_link`` the two tracks are one person; without it the look keeps them apart."""
    log = TrackLog(every=1, size=(32, 16))
    for f in range(40):
        box = (20 + 4 * f, 20, 40 + 4 * f, 100)
        img = np.full((120, 240, 3), 128, np.uint8)
        img[20:100, box[0]:box[2]] = COLOURS["red" if f < 15 else "green"]
        ids = [0] if f < 15 else ([0, 1] if f < 20 else [1])
        log.update(f, img, ids, np.array([box] * len(ids), float))
    linked = log.resolve(MeanColour(), change=-2.0)
    assert linked.person_of(0, 5) == linked.person_of(1, 30)
    apart = log.resolve(MeanColour(), change=-2.0, handover_link=False)
    assert apart.person_of(0, 5) != apart.person_of(1, 30)
