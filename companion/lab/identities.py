"""Offline identities: after the whole clip, cut the tracks where they are unreliable and link the
pieces into people.

The lab writes its outputs only after the last frame, so it may revise the tracker's ids before it
reports who crossed. Online, a tracker (26.5) makes two kinds of identity errors that no later
online step can undo: it **swaps** two people who walk into each other (a couple, a group), and it
gives a person who leaves and returns a **new** id. Offline, with the whole clip in hand, both are
one problem — which pieces of track belong to one person — solved in three steps:

1. **Split** (:func:`encounter_cuts`, :func:`appearance_cuts`, :func:`split_tracks`): a track is
   cut where an id switch can happen — at the moment of closest approach of every *close
   encounter* with another track (boxes overlapping, or foot points closer than ``near`` body
   heights), and where the track's appearance changes abruptly (the colour histograms of the
   crops just before and just after a frame are less similar than ``change``). The pieces are
   *tracklets*: stretches that one person very probably made alone. A track that **ends** while
   close to another one (its person walked into the other's box and the tracker kept one of the
   two) also cuts the survivor just after: from there it may be carrying either person. Before
   that, a **handover** (:func:`trim_handovers`: a new track born on a box an old track still
   holds, the old one ending within a second) loses the old track's overlapping tail — otherwise
   the two, seen at the same time, could never be one person.
2. **Link** (:func:`link_tracklets`): constrained agglomerative clustering of the tracklets on
   their appearance (each tracklet: the mean embedding of a few of its cleanest crops). Two
   clusters may merge only if (hard constraints) no two of their tracklets **coexist** in time —
   one person cannot be in two places — and every step from one tracklet to the next in time is
   **walkable** (the distance between the last and the first foot point is at most
   ``(slack + speed * gap)`` body heights). Among the allowed pairs the most similar merge first
   (centroid linkage: 1 - cosine similarity of the clusters' mean features; average linkage is
   the alternative), down to ``threshold``; consecutive pieces of one track may get
   ``continuity`` off their distance (trusting the tracker unless appearance says otherwise).
   Some pairs are linked before any of that (*must-links*, still subject to the constraints):
   the two sides of a handover (``handover_link``), and, with ``chain`` > 0, each piece and the
   piece that starts within a second of its end, a walkable step away, when the two pieces' own
   features are closer than ``chain`` (:func:`chain_links`, one to one, closest first: what a
   tracker would have linked had it not lost the person for a moment — judged on the two pieces,
   not on a cluster's average, which a person seen from behind may not resemble). Pieces shorter
   than ``min_piece_s`` stay out of the clustering and then join the most similar person they are
   compatible with (:func:`attach_short`): a two-frame sliver that coexists with a person's own
   track can no longer carry that cannot-link into the cluster of their other pieces.
3. **Recount** (:func:`recount`): the crossings are counted again on each *person's* trajectory —
   their tracklets joined in time — with the same counter (hysteresis, dead-band). Merely renaming
   the tracker's events would keep the tracker's mistakes: when two people swap ids while one of
   them is crossing the line, neither of the tracker's tracks crosses (each goes back to the side
   it came from), and the crossing is lost; joined at the cut, the person's own trajectory does
   cross. A gap longer than ``max_gap_s`` between two pieces starts a new stretch: nobody is
   counted for crossing while unseen (the online re-identification's rule too). The tracker's own
   crossings that no person's crossing explains (same direction, within ``SAME_CROSSING_S``) are
   added under their person's id (:func:`merge_crossings`) — unless that person already crosses
   the same way within that time (two tracks on one person count one crossing): the recount
   only adds what a person did.

:class:`TrackLog` collects, during the run, the boxes of every confirmed track and small crops every
few frames (for the embeddings: at most ``crops_per_tracklet`` crops per tracklet are embedded, so
the stage adds little to a run). The parameters (the ``DEFAULT_*`` below) are chosen on the
street clip's three by-eye lines and cross-validated line by line
(``benchmarks/bench_lab_identity.py`` prints the choice, each held-out line and each half).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The stage's parameters, chosen on the street clip's three by-eye lines (whole clip;
#: ``benchmarks/bench_lab_identity.py`` §4 prints the grid, 1,800 combinations, and its rule:
#: fewest identity errors summed over the three lines, ties -> fewest people over the whole clip,
#: then the cheaper / more cautious): linking threshold on the cosine distance of two clusters'
#: mean features, discount for consecutive pieces of one track, close-encounter distance (body
#: heights), appearance-change similarity, clean crops a piece needs to be cut off (0: every cut
#: is kept), the tracklets' embedding (:func:`companion.lab.reidentify.make_embedder`: the
#: street-adapted learned embedding beside the colour histogram), the linkage, the shortest piece
#: that takes part in the clustering and the chain links' distance. Three combinations make no
#: identity error on any line; cross-validated (chosen on two lines, scored on the third) the rule
#: makes 0, 0 and 2 errors on the default, left and diagonal lines. The choice is fragile in
#: ``chain``: 0.1 or 0.2 instead of 0.15 gives 4 or 5 errors over the three lines (threshold 0.3 or
#: 0.35 instead of 0.4: still 0). The threshold is again the grid's largest.
DEFAULT_THRESHOLD = 0.4
DEFAULT_CONTINUITY = 0.0
DEFAULT_NEAR = 0.5
DEFAULT_CHANGE = 0.75
DEFAULT_MIN_CROPS = 0
DEFAULT_EMBEDDER = "learned+histogram"
DEFAULT_LINKAGE = "centroid"
DEFAULT_MIN_PIECE_S = 0.5
DEFAULT_CHAIN = 0.15
#: a track unseen for longer than this is cut (step 1), and a person's pieces further apart than
#: this are counted as separate stretches (step 3)
MAX_GAP_S = 1.0


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of xyxy boxes ``a`` (N, 4) and ``b`` (N, 4), row by row."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - w * h
    return w * h / np.maximum(union, 1e-9)


def _feet(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], 1)


# ----------------------------------------------------------------------------------------------
# 1. split
# ----------------------------------------------------------------------------------------------


def encounter_cuts(tracks: dict, *, near: float = 0.5, min_iou: float = 0.3, size_tol: float = 0.3,
                   join: int = 3, ends: bool = True) -> dict[int, set]:
    """Where each track meets another: ``{track id: {cut frames}}``.

    ``tracks``: ``{id: (frames (n,), boxes (n, 4))}``. Two tracks are *close* in a frame — close
    enough for a tracker to swap them — when their boxes overlap with IoU above ``min_iou``, or
    their foot points are closer than ``near`` times the taller box's height while their heights
    differ by less than ``size_tol`` (side by side at the same depth; a small far-away person whose
    box overlaps a near one is not close). Close frames less than ``join`` apart form one
    encounter; both tracks are cut at its frame of closest approach (the piece after a cut starts
    at the cut frame).

    ``ends``: a track that *ends* while close to another one (its person walked into the other's
    box: a merged blob, or the tracker handed them over) cuts the other one just after its last
    frame: the survivor may carry on with either person, so what it does next is a new piece.
    (On the street clip the couple's man and woman, frames 536-604: the man's track ends inside a
    merged box at 556 and the woman's track comes out of it on the man.)
    """
    cuts: dict[int, set] = {int(t): set() for t in tracks}
    ids = sorted(tracks)
    for i, a in enumerate(ids):
        fa, ba = tracks[a]
        for b in ids[i + 1:]:
            fb, bb = tracks[b]
            common, ia, ib = np.intersect1d(fa, fb, return_indices=True)
            if len(common) == 0:
                continue
            A, B = ba[ia], bb[ib]
            ha, hb = A[:, 3] - A[:, 1], B[:, 3] - B[:, 1]
            h = np.maximum(ha, hb)
            dist = np.hypot(*(_feet(A) - _feet(B)).T) / np.maximum(h, 1e-9)
            same_depth = np.minimum(ha, hb) > (1.0 - size_tol) * h
            close = (iou(A, B) > min_iou) | ((dist < near) & same_depth)
            idx = np.flatnonzero(close)
            if len(idx) == 0:
                continue
            # group close frames into encounters; cut each at its closest approach
            breaks = np.flatnonzero(np.diff(common[idx]) >= join) + 1
            for run in np.split(idx, breaks):
                f = int(common[run[np.argmin(dist[run])]])
                cuts[int(a)].add(f)
                cuts[int(b)].add(f)
            if ends:
                for x, y, fx, fy in ((a, b, fa, fb), (b, a, fb, fa)):
                    if close[-1] and common[-1] == fx[-1] and fy[-1] > fx[-1]:
                        cuts[int(y)].add(int(fx[-1]) + 1)   # x ended beside y
    return cuts


def appearance_cuts(frames: np.ndarray, feats: np.ndarray, *, change: float = 0.75,
                    window: int = 3) -> set:
    """Frames where one track's appearance changes abruptly.

    ``feats`` (k, D): unit embeddings of the track's clean crops at ``frames`` (k,), in time order.
    At every position the mean of the ``window`` embeddings before is compared with the mean of the
    ``window`` after; a cut is made between the two crops where that similarity is below ``change``
    and the lowest within ``window`` positions either side.
    """
    frames, feats = np.asarray(frames), np.asarray(feats, np.float64)
    k = len(frames)
    if k < 2 * window:
        return set()
    sims = np.full(k, np.inf)
    for j in range(window, k - window + 1):
        a, b = feats[j - window:j].mean(0), feats[j:j + window].mean(0)
        sims[j] = a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    out = set()
    for j in np.flatnonzero(sims < change):
        lo, hi = max(0, j - window), min(k, j + window + 1)
        if sims[j] <= sims[lo:hi].min():
            out.add(int((frames[j - 1] + frames[j] + 1) // 2))
    return out


def recognisable_cuts(cuts, crop_frames, min_crops: int = 2) -> set:
    """Drop cuts until every piece between two cuts holds at least ``min_crops`` of the clean crops
    taken at ``crop_frames`` (a piece nobody can recognise is better left to the tracker); the
    piece before the first cut and after the last one count too."""
    cuts, crop_frames = sorted(cuts), np.sort(np.asarray(crop_frames, np.int64))
    while cuts:
        edges = [-np.inf, *cuts, np.inf]
        n = [int(((crop_frames >= a) & (crop_frames < b)).sum()) for a, b in zip(edges[:-1], edges[1:])]
        k = int(np.argmin(n))
        if n[k] >= min_crops:
            break
        # merge the poorest piece into its poorer neighbour (drop the cut between them)
        if k == 0:
            cuts.pop(0)
        elif k == len(n) - 1:
            cuts.pop(-1)
        else:
            cuts.pop(k - 1 if n[k - 1] <= n[k + 1] else k)
    return set(cuts)


def trim_handovers(tracks: dict, *, min_iou: float = 0.5, max_overlap: int = 10,
                   pairs: list | None = None) -> dict:
    """Where the tracker handed one person over to a new track: the new track starts on the old one's
    box (IoU above ``min_iou`` in every common frame) and the old one ends within ``max_overlap``
    frames. The old track's tail from the new track's first frame is dropped, so the two no longer
    coexist and the linking may join them (otherwise one person would count as two people, and a
    crossing made during the overlap twice). ``tracks``: ``{id: (frames, boxes)}``; returns a new
    dict (tracks left with no frame are dropped). ``pairs``: a list to which every handover found
    is appended as ``(old id, new id)`` (the linking then takes the two for one person)."""
    out = dict(tracks)
    ids = sorted(tracks, key=lambda t: tracks[t][0][0])
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            fa, ba = out[a]
            fb, bb = tracks[b]
            if len(fa) == 0 or fb[0] <= fa[0] or fb[0] > fa[-1] or fa[-1] - fb[0] > max_overlap:
                continue
            common, ia, ib = np.intersect1d(fa, fb, return_indices=True)
            if len(common) and (iou(ba[ia], bb[ib]) > min_iou).all():
                keep = fa < fb[0]
                out[a] = (fa[keep], ba[keep])
                if pairs is not None:
                    pairs.append((int(a), int(b)))
    return {t: v for t, v in out.items() if len(v[0])}


@dataclass
class Tracklet:
    track: int                 # the (stitched) tracker id it was cut from
    frames: np.ndarray         # (n,) frame indices, increasing
    boxes: np.ndarray          # (n, 4) xyxy
    feature: np.ndarray | None = None   # unit mean embedding of a few clean crops (None: no crop)

    @property
    def start(self) -> int:
        return int(self.frames[0])

    @property
    def end(self) -> int:
        return int(self.frames[-1])

    def height(self, k: int) -> float:
        return float(self.boxes[k, 3] - self.boxes[k, 1])


def split_tracks(tracks: dict, cuts: dict, max_gap: int | None = None) -> list[Tracklet]:
    """Cut every track ``{id: (frames, boxes)}`` at its cut frames ``{id: {frames}}`` and, with
    ``max_gap``, where it is unseen for more than ``max_gap`` frames."""
    out = []
    for t in sorted(tracks):
        frames, boxes = tracks[t]
        at = {c for c in cuts.get(t, ()) if frames[0] < c <= frames[-1]}
        if max_gap is not None:
            at |= set(frames[1:][np.diff(frames) > max_gap].tolist())
        at = sorted(at)
        edges = [0, *np.searchsorted(frames, at).tolist(), len(frames)]
        for a, b in zip(edges[:-1], edges[1:]):
            if b > a:
                out.append(Tracklet(int(t), frames[a:b], boxes[a:b]))
    return out


# ----------------------------------------------------------------------------------------------
# 2. link
# ----------------------------------------------------------------------------------------------


def walkable(a: Tracklet, b: Tracklet, *, fps: float = 10.0, speed: float = 0.25,
             slack: float = 0.5) -> bool:
    """Can the person of ``a`` (ending first) be the person of ``b`` (starting after)?
    Distance from ``a``'s last to ``b``'s first foot point at most ``(slack + speed * gap)`` times
    the taller of the two boxes (``speed`` in body heights per frame at 10 frames/s)."""
    gap = b.start - a.end
    if gap <= 0:
        return False
    h = max(a.height(-1), b.height(0), 1.0)
    d = np.hypot(*(_feet(b.boxes[:1])[0] - _feet(a.boxes[-1:])[0]))
    return d <= (slack + speed * 10.0 / fps * gap) * h


def chain_links(tracklets: list[Tracklet], *, within: float, max_gap: int, fps: float = 10.0,
                speed: float = 0.25, slack: float = 0.5) -> list[tuple[int, int]]:
    """Short-term links: each piece to at most one piece that starts at most ``max_gap`` frames
    after it ends, where the step is walkable and their features are closer than ``within``
    (cosine distance), the closest pairs first (one to one). These are the links a tracker would
    have made had it not lost the person for a moment — judged on the two pieces' own looks, not on
    a cluster's average (a person seen from behind on the lawn may look unlike their average)."""
    cand = []
    for i, a in enumerate(tracklets):
        if a.feature is None:
            continue
        for j, b in enumerate(tracklets):
            if b.feature is None or not 0 < b.start - a.end <= max_gap:
                continue
            d = 1.0 - float(a.feature @ b.feature)
            if d < within and walkable(a, b, fps=fps, speed=speed, slack=slack):
                cand.append((d, i, j))
    out, has_next, has_prev = [], set(), set()
    for d, i, j in sorted(cand):
        if i not in has_next and j not in has_prev:
            out.append((i, j))
            has_next.add(i)
            has_prev.add(j)
    return out


def _compatible(members: list[Tracklet], fps: float, speed: float, slack: float) -> bool:
    """No two members coexist, and each step in time is walkable."""
    ms = sorted(members, key=lambda t: t.start)
    for a, b in zip(ms[:-1], ms[1:]):
        if b.start <= a.end or not walkable(a, b, fps=fps, speed=speed, slack=slack):
            return False
    return True


def link_tracklets(tracklets: list[Tracklet], *, threshold: float = DEFAULT_THRESHOLD,
                   continuity: float = DEFAULT_CONTINUITY, fps: float = 10.0, speed: float = 0.25,
                   slack: float = 0.5, linkage: str = DEFAULT_LINKAGE, min_frames: int = 0,
                   must=()) -> np.ndarray:
    """Constrained agglomerative clustering (see the module docstring): one label per tracklet.

    ``linkage``: ``"centroid"`` — the distance of two clusters is 1 - cosine similarity of the
    means of their members' features (a person's look, averaged over all their pieces, does not
    drift away as the cluster grows); ``"average"`` — the mean distance over all pairs of members.
    Consecutive pieces of one track in the two clusters take ``continuity`` off. Tracklets without
    a feature join only through ``continuity`` (their distance is taken as 1).

    ``min_frames``: pieces with fewer frames take no part in the clustering; afterwards each joins
    the person it is most similar to among those it is compatible with (:func:`attach_short`).

    ``must``: pairs of indices known to be one person (a tracker's handover,
    :func:`trim_handovers`): they merge first, whatever their features, when compatible — and so
    do the clusters that come to hold them.
    """
    if linkage not in ("centroid", "average"):
        raise ValueError(f"linkage must be 'centroid' or 'average', got {linkage!r}")
    n = len(tracklets)
    if n == 0:  # nobody was tracked: no one to link
        return np.zeros(0, int)
    if min_frames > 1:
        short = np.array([len(t.frames) < min_frames for t in tracklets], bool)
        if short.any():
            labels = np.full(n, -1, np.int64)
            long_ = np.flatnonzero(~short)
            pos = {int(i): k for k, i in enumerate(long_)}
            labels[long_] = link_tracklets([tracklets[i] for i in long_], threshold=threshold,
                                           continuity=continuity, fps=fps, speed=speed, slack=slack,
                                           linkage=linkage,
                                           must=[(pos[i], pos[j]) for i, j in must if i in pos and j in pos])
            return attach_short(tracklets, labels, fps=fps, speed=speed, slack=slack)
    has = np.array([t.feature is not None for t in tracklets], bool)
    dim = next((len(t.feature) for t in tracklets if t.feature is not None), 1)
    S = np.zeros((n, dim))  # per cluster: sum of member features
    for i, t in enumerate(tracklets):
        if t.feature is not None:
            S[i] = t.feature
    dist = np.ones((n, n))
    if has.any():
        dist[np.ix_(has, has)] = 1.0 - S[has] @ S[has].T
    # consecutive pieces of one track
    nextto = np.zeros((n, n), bool)
    order = sorted(range(n), key=lambda i: (tracklets[i].track, tracklets[i].start))
    for i, j in zip(order[:-1], order[1:]):
        if tracklets[i].track == tracklets[j].track:
            nextto[i, j] = nextto[j, i] = True
    linked = np.zeros((n, n), bool)
    for i, j in must:
        linked[i, j] = linked[j, i] = i != j
    # cannot-link: tracklets that coexist in time
    start = np.array([t.start for t in tracklets])
    end = np.array([t.end for t in tracklets])
    cannot = (start[:, None] <= end[None, :]) & (start[None, :] <= end[:, None])
    np.fill_diagonal(cannot, True)
    size = np.ones(n)
    alive = np.ones(n, bool)
    D = dist - continuity * nextto - 2.0 * linked  # a distance is at most 2: must-links go first
    dist = dist.copy()  # average linkage: the mean pair distance between clusters, kept up to date
    D[cannot] = np.inf
    clusters = {i: [i] for i in range(n)}
    while True:
        a, b = np.unravel_index(np.argmin(D), D.shape)
        if not D[a, b] < threshold:
            break
        a, b = int(min(a, b)), int(max(a, b))
        if not _compatible([tracklets[i] for i in clusters[a] + clusters[b]], fps, speed, slack):
            cannot[a, b] = cannot[b, a] = True  # (kept for good: a conservative simplification)
            D[a, b] = D[b, a] = np.inf
            continue
        clusters[a] += clusters.pop(b)
        cannot[a] |= cannot[b]
        cannot[:, a] = cannot[a]
        nextto[a] |= nextto[b]
        nextto[:, a] = nextto[a]
        linked[a] |= linked[b]
        linked[:, a] = linked[a]
        if linkage == "average":  # Lance-Williams: the mean over all pairs of members
            row = (size[a] * dist[a] + size[b] * dist[b]) / (size[a] + size[b])
            dist[a], dist[:, a] = row, row
        else:
            S[a] += S[b]
            norms = np.linalg.norm(S, axis=1)
            ok = norms > 0
            row = np.ones(n)
            if norms[a] > 0:
                row[ok] = 1.0 - (S[ok] @ S[a]) / (norms[ok] * norms[a])
        size[a] += size[b]
        alive[b] = False
        row = row - continuity * nextto[a] - 2.0 * linked[a]
        row[cannot[a] | ~alive] = np.inf
        D[a], D[:, a] = row, row
        D[b], D[:, b] = np.inf, np.inf
    labels = np.empty(n, np.int64)
    for k, members in enumerate(sorted(clusters.values(), key=min)):
        labels[members] = k
    return labels


def attach_short(tracklets: list[Tracklet], labels: np.ndarray, *, fps: float = 10.0,
                 speed: float = 0.25, slack: float = 0.5) -> np.ndarray:
    """Give every unlabelled piece (``labels`` < 0: the short ones) a person, longest first: the
    person whose mean feature it is most similar to among those it is compatible with (no piece of
    theirs coexists with it, every step stays walkable), whatever the similarity — a piece shorter
    than ``min_frames`` is not taken for a person of its own — else a new person (no feature, or
    no compatible person), whom the shorter pieces after it may then join like any other. Kept
    out of the clustering, such pieces (a tracker's two-frame tail beside the new track that took
    over, a sliver between two encounter cuts) cannot carry their cannot-link constraints into a
    cluster and keep one person's pieces apart. Labels renumbered in order of first member."""
    labels = np.asarray(labels, np.int64).copy()
    nxt = int(labels.max()) + 1 if (labels >= 0).any() else 0
    todo = sorted(np.flatnonzero(labels < 0).tolist(), key=lambda i: (-len(tracklets[i].frames), i))
    for i in todo:
        t, best = tracklets[i], None
        if t.feature is not None:
            for lab in np.unique(labels[labels >= 0]).tolist():
                members = [tracklets[j] for j in np.flatnonzero(labels == lab)]
                feats = [m.feature for m in members if m.feature is not None]
                if not feats:
                    continue
                c = np.sum(feats, 0)
                d = 1.0 - float(c @ t.feature) / max(float(np.linalg.norm(c)), 1e-12)
                if (best is None or d < best[0]) and _compatible(members + [t], fps, speed, slack):
                    best = (d, lab)
        if best is None:
            labels[i], nxt = nxt, nxt + 1
        else:
            labels[i] = best[1]
    first: dict[int, int] = {}
    for lab in labels.tolist():
        first.setdefault(lab, len(first))
    return np.array([first[lab] for lab in labels.tolist()], np.int64)


# ----------------------------------------------------------------------------------------------
# the stage
# ----------------------------------------------------------------------------------------------


@dataclass
class Identities:
    """The result: tracklets, their person labels, and lookups for events and MOT rows."""

    tracklets: list
    labels: np.ndarray
    cuts: dict = field(default_factory=dict)

    def __post_init__(self):
        # person ids in order of first appearance
        first = {}
        for t, lab in zip(self.tracklets, self.labels.tolist()):
            first[lab] = min(first.get(lab, t.start), t.start)
        rank = {lab: k for k, lab in enumerate(sorted(first, key=lambda lab: (first[lab], lab)))}
        self.labels = np.array([rank[lab] for lab in self.labels.tolist()], np.int64)
        self._at = {(t.track, int(f)): int(lab) for t, lab in zip(self.tracklets, self.labels)
                    for f in t.frames}

    def person_of(self, track: int, frame: int) -> int:
        """The person id of ``track`` at ``frame`` (the tracklet covering it, else the nearest)."""
        hit = self._at.get((int(track), int(frame)))
        if hit is not None:
            return hit
        best = None
        for t, lab in zip(self.tracklets, self.labels):
            if t.track != track:
                continue
            d = 0 if t.start <= frame <= t.end else min(abs(frame - t.start), abs(frame - t.end))
            if best is None or d < best[0]:
                best = (d, int(lab))
        return int(track) if best is None else best[1]

    @property
    def num_people(self) -> int:
        return len(set(self.labels.tolist()))


class TrackLog:
    """Collects the run for the offline stage: ``update(frame_index, frame, ids, xyxy)`` per frame
    (ids < 0 ignored) keeps every confirmed box, and every ``every`` frames a ``size`` crop of each
    box with how much of it other boxes cover (boxes covered ``max_cover`` or more are not
    cropped). :meth:`resolve` then runs steps 1 and 2.

    ``max_cover`` 1.0 (every box not wholly covered): a short piece cut out of an encounter often
    has no clean crop at all; it then takes its least-covered crop instead of having no
    appearance, which would leave it a person of its own (chosen by an earlier grid, on the first half:
    with 0.5, the stage's earlier value, the whole clip resolved into 57 people, with 1.0 into 32,
    both with no first-half identity error, before handovers were trimmed;
    ``benchmarks/bench_lab_identity.py``)."""

    def __init__(self, every: int = 2, size: tuple[int, int] = (128, 64), max_cover: float = 1.0):
        self.every, self.size = max(1, int(every)), (int(size[0]), int(size[1]))
        self.max_cover = float(max_cover)
        self.rows: dict[int, list] = {}     # id -> [(frame, box)]
        self.crops: dict[int, list] = {}    # id -> [(frame, crop, covered fraction)]

    def update(self, frame_index: int, frame, ids, xyxy) -> None:
        from companion.tracking.reid import crop_boxes

        f = int(frame_index)
        ids = np.asarray(ids, np.int64).reshape(-1)
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        for t, b in zip(ids.tolist(), boxes):
            if t >= 0:
                self.rows.setdefault(t, []).append((f, b.copy()))
        if f % self.every or not (ids >= 0).any():
            return
        n = len(boxes)
        cover = np.zeros(n)
        for i in range(n):
            others = np.delete(boxes, i, 0)
            if len(others):
                cover[i] = _covered(boxes[i], others)
        keep = np.flatnonzero((ids >= 0) & (cover < self.max_cover))
        crops = crop_boxes(frame, boxes[keep], self.size)
        for r, c in zip(keep, crops):
            self.crops.setdefault(int(ids[r]), []).append((f, c, float(cover[r])))

    def tracks(self, until: int | None = None) -> dict:
        out = {}
        for t, rows in self.rows.items():
            rows = [r for r in rows if until is None or r[0] < until]
            if rows:
                out[t] = (np.array([r[0] for r in rows]), np.stack([r[1] for r in rows]))
        return out

    def resolve(self, embedder, *, fps: float = 10.0, threshold: float = DEFAULT_THRESHOLD,
                continuity: float = DEFAULT_CONTINUITY, near: float = DEFAULT_NEAR,
                change: float = DEFAULT_CHANGE, clean: float = 0.2, crops_per_tracklet: int = 6,
                until: int | None = None, split: bool = True, max_gap_s: float = MAX_GAP_S,
                min_crops: int = DEFAULT_MIN_CROPS, linkage: str = DEFAULT_LINKAGE,
                histogram=None, handover: bool = True,
                min_piece_s: float = DEFAULT_MIN_PIECE_S, ends: bool = True,
                handover_link: bool = True, chain: float = DEFAULT_CHAIN) -> Identities:
        """Split, embed a few crops per tracklet with ``embedder`` (``embed_crops``), link.

        ``clean``: crops covered by other boxes above this fraction are used only when a tracklet
        has no cleaner ones; a cut that would leave a piece with fewer than ``min_crops`` clean
        crops is dropped (:func:`recognisable_cuts`). ``until`` ignores frames from there on (to study the first half).
        ``split=False`` keeps the tracks whole (linking only). ``handover``: trim the tails of
        tracks handed over to a new track (:func:`trim_handovers`). ``min_piece_s``:
        pieces shorter than this are kept out of the clustering and then join the most similar
        person they are compatible with (``link_tracklets(min_frames=)``, :func:`attach_short`).
        ``ends``: a track ending beside another cuts the other (:func:`encounter_cuts`).
        ``handover_link``: the two sides of a handover are linked first (must-link). ``chain``
        (> 0): consecutive pieces whose own features are closer than this are linked first
        (:func:`chain_links`; 0 turns it off).
        """
        if histogram is None:
            from companion.tracking.reid import ColorHistogramEmbedder

            histogram = ColorHistogramEmbedder()
        tracks = self.tracks(until)
        handovers: list = []
        if handover:
            tracks = trim_handovers(tracks, pairs=handovers)
        crops = {t: [c for c in self.crops.get(t, []) if c[0] <= tracks[t][0][-1]] for t in tracks}
        cuts = encounter_cuts(tracks, near=near, ends=ends) if split else {t: set() for t in tracks}
        if split:
            for t, cs in crops.items():
                good = [c for c in cs if c[2] < clean]
                if len(good) >= 6:
                    h = histogram.embed_crops(np.stack([c[1] for c in good]))
                    cuts[t] |= appearance_cuts(np.array([c[0] for c in good]), h, change=change)
            for t in cuts:  # a piece that cannot be recognised is not cut off: trust the tracker
                cuts[t] = recognisable_cuts(cuts[t], [c[0] for c in crops[t] if c[2] < clean],
                                            min_crops)
        tracklets = split_tracks(tracks, cuts, int(round(max_gap_s * fps)) if split else None)
        picks, owner = [], []
        for k, tl in enumerate(tracklets):
            cs = [c for c in crops.get(tl.track, []) if tl.start <= c[0] <= tl.end]
            if not cs:
                continue
            good = [c for c in cs if c[2] < clean] or sorted(cs, key=lambda c: c[2])[:1]
            sel = np.unique(np.linspace(0, len(good) - 1, min(crops_per_tracklet, len(good))).round().astype(int))
            picks += [good[i][1] for i in sel]
            owner += [k] * len(sel)
        if picks:
            E = np.asarray(embedder.embed_crops(np.stack(picks)), np.float64)
            owner = np.asarray(owner)
            for k in np.unique(owner):
                v = E[owner == k].mean(0)
                tracklets[k].feature = v / max(np.linalg.norm(v), 1e-12)
        must = []
        if handover_link:  # the old track's last piece and the new one's first: one person
            for old, new in handovers:
                a = [k for k, t in enumerate(tracklets) if t.track == old]
                b = [k for k, t in enumerate(tracklets) if t.track == new]
                if a and b:
                    i = max(a, key=lambda k: tracklets[k].end)
                    j = min(b, key=lambda k: tracklets[k].start)
                    if 0 < tracklets[j].start - tracklets[i].end <= int(round(max_gap_s * fps)):
                        must.append((i, j))
        if chain > 0:
            must += chain_links(tracklets, within=chain, max_gap=int(round(max_gap_s * fps)), fps=fps)
        labels = link_tracklets(tracklets, threshold=threshold, continuity=continuity, fps=fps,
                                linkage=linkage, min_frames=int(round(min_piece_s * fps)), must=must)
        return Identities(tracklets, labels, cuts)


def _covered(box: np.ndarray, others: np.ndarray) -> float:
    """Largest fraction of ``box``'s area covered by one of ``others``."""
    w = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    return float((w * h).max() / max((box[2] - box[0]) * (box[3] - box[1]), 1e-9))


def recount(ident: Identities, counter, *, fps: float = 10.0, max_gap_s: float = MAX_GAP_S,
            until: int | None = None):
    """Step 3: count the crossings again on the people's trajectories.

    ``counter`` (a :class:`~companion.lab.count.LineCounter`) is reset and fed, frame by frame, the
    foot points of every tracklet under its person's id; a person's tracklets are joined in time,
    and a gap of more than ``max_gap_s`` between two of them starts a new stretch (its own counter
    state), so a person seen on one side and, after a long absence, on the other is not counted.
    Frames from ``until`` on are ignored. Returns the counter, its events now under people's ids.
    """
    gap = int(round(max_gap_s * fps))
    pieces: dict[int, list] = {}
    for t, lab in zip(ident.tracklets, ident.labels.tolist()):
        pieces.setdefault(int(lab), []).append(t)
    owner: dict[int, int] = {}            # stretch key -> person
    points: dict[int, tuple] = {}         # frame -> ([keys], [foot points])
    for person in sorted(pieces):
        end = None
        for t in sorted(pieces[person], key=lambda t: t.start):
            if end is None or t.start - end > gap:
                key = len(owner)
                owner[key] = person
            end = t.end
            for f, foot in zip(t.frames.tolist(), _feet(t.boxes)):
                keys, pts = points.setdefault(int(f), ([], []))
                keys.append(key)
                pts.append(foot)
    counter.reset()
    for f in sorted(points):
        if until is not None and f >= until:
            break
        keys, pts = points[f]
        counter.update_points(np.asarray(keys, np.int64), np.asarray(pts), f, time_s=f / fps)
    counter.rename(lambda key, frame: owner[key])
    return counter


#: a crossing of the tracker's ids and one of a person's trajectory at most this far apart (same
#: direction) are one crossing (:func:`merge_crossings`)
SAME_CROSSING_S = 0.6


def merge_crossings(tracker_events, counter, ident: Identities, *, fps: float = 10.0,
                    within_s: float = SAME_CROSSING_S):
    """Step 3's union: ``counter`` holds the crossings of the people's trajectories
    (:func:`recount`); every crossing the tracker's ids made (``tracker_events``, before the
    recount) that none of them explains — same direction, at most ``within_s`` apart, one to
    one (the tracker's in time order, each taking the nearest free one) — is added under its
    person's id (:meth:`Identities.person_of`), unless that person already has a crossing in the
    same direction within ``within_s`` (a duplicate track on one person crossed with them). The
    recount adds what the tracker's swaps lost and never drops what the tracker counted: a track
    unseen for a moment while crossing, then cut off as a piece nobody links, still counts."""
    from companion.lab.count import IN

    tol = float(within_s) * fps
    free = list(range(len(counter.events)))
    added = []
    for e in sorted(tracker_events, key=lambda e: e.cross_frame):
        near = [i for i in free if counter.events[i].direction == e.direction
                and abs(counter.events[i].cross_frame - e.cross_frame) <= tol]
        if near:
            free.remove(min(near, key=lambda i: abs(counter.events[i].cross_frame - e.cross_frame)))
            continue
        e.track_id = int(ident.person_of(e.track_id, e.cross_frame))
        if any(o.track_id == e.track_id and o.direction == e.direction
               and abs(o.cross_frame - e.cross_frame) <= tol for o in counter.events + added):
            continue  # the same person's same crossing, counted twice by two tracks on them
        added.append(e)
    for e in added:
        counter.events.append(e)
        counter.in_count += e.direction == IN
        counter.out_count += e.direction != IN
    counter.events.sort(key=lambda e: (e.frame, e.cross_frame))
    counter.rename(lambda person, frame: person)  # distinct follows the events
    return counter


def resolve_run(log: TrackLog, counter, *, fps: float = 10.0, embedder=None, **kw) -> Identities:
    """The lab's offline stage: resolve the identities of a run's ``log``, count the crossings
    again on the people's trajectories (:func:`recount`) and add those of the ``counter``'s own
    (the tracker's ids) that the recount does not explain (:func:`merge_crossings`); ``kw`` go to
    :meth:`TrackLog.resolve`."""
    if embedder is None:
        from companion.lab.reidentify import make_embedder

        embedder = make_embedder(DEFAULT_EMBEDDER)
    ident = log.resolve(embedder, fps=fps, **kw)
    tracker_events = list(counter.events)
    recount(ident, counter, fps=fps, max_gap_s=kw.get("max_gap_s", MAX_GAP_S))
    merge_crossings(tracker_events, counter, ident, fps=fps)
    return ident
