"""Is this video something the lab can count people in? Say it out loud when it is not.

The lab assumes one continuous shot from a fixed camera looking at people. Given a film trailer
(scene cuts), a hand-held or panning camera, or a static camera on a swaying tree, it would
otherwise print confident counts of "people". :class:`InputMonitor` watches the frames and the
tracks as the pipeline streams them (about 2 ms a frame: everything runs on a 192-pixel-wide
grey copy) and returns a list of warnings, each a dict with a ``code``, a ``message`` for
people and the ``frames`` concerned. The CLI prints them and ``summary.json`` lists them.

Checks (thresholds measured on the street clip, a static camera, and on opencv-doc's
``Megamind.avi`` and ``tree.avi``; ``benchmarks/bench_lab_identity.py`` prints the signals):

* ``scene_cut`` — the mean absolute difference of two consecutive frames shrunk to 32 x 24 grey
  pixels is above :data:`CUT_MAD` grey levels (street clip: at most 3; Megamind's cuts: 34-43;
  a hand waved in front of tree.avi: 17). A track never continues across a cut, and the same
  person in two shots is not one walk.
* ``moving_camera`` — the camera's own motion: corners tracked between consecutive frames
  (Lucas-Kanade), a similarity transform fitted with RANSAC (people are outliers), and the
  largest displacement it gives a corner of the picture. When more than
  :data:`MOVING_SHARE` of the frames move by more than :data:`MOVING_PX` pixels the camera
  moves (street clip: 0 % of frames; Megamind: 49 %). Only a warning when the detector models a
  static background (background subtraction): a learned detector finds people either way,
  but the line is then no longer fixed on the ground, so the counts still mean little — that
  is said too.
* ``moving_background`` — more than :data:`BUSY_SHARE` of the picture changes between
  consecutive frames on average (a grey level moving by more than 12; street clip: 2 %, at most
  4 % in any frame; tree.avi: 10 %) while the camera does not move: leaves, water, flicker;
  background subtraction then sees "people" everywhere.
* ``implausible_tracks`` — more than :data:`MAX_BIRTHS_PER_S` new confirmed tracks a second on
  average (street clip: 0.5), or confirmed tracks whose median life is under
  :data:`MIN_MEDIAN_LIFE_S` (street clip: tens of seconds): the detector fires on things that
  are not people, or identities break all the time.
"""

from __future__ import annotations

import cv2
import numpy as np

CUT_MAD = 25.0
MOVING_PX, MOVING_SHARE = 2.0, 0.2
BUSY_DIFF, BUSY_SHARE = 12, 0.06
MAX_BIRTHS_PER_S, MIN_MEDIAN_LIFE_S = 3.0, 0.5
_WIDTH = 192


class InputMonitor:
    """Feed :meth:`update` every frame (RGB) and the ids of its confirmed tracks; read
    :meth:`warnings` at the end. ``static_background`` = the detector models a static background."""

    def __init__(self, fps: float = 10.0, *, static_background: bool = False, detector: str = ""):
        self.fps = float(fps) if fps and fps > 0 else 10.0
        self.static_background = bool(static_background)
        self.detector = str(detector)
        self._prev = None
        self.frames = 0
        self.cuts: list[int] = []
        self.camera_motion: list[float] = []   # px of full resolution, per frame pair
        self.changed: list[float] = []         # share of pixels that changed, per frame pair
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}

    # -- feeding ----------------------------------------------------------------------------------
    def update(self, frame_index: int, frame: np.ndarray, track_ids=()) -> None:
        f = int(frame_index)
        self.frames += 1
        s = _WIDTH / frame.shape[1]
        g = cv2.resize(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY), None, fx=s, fy=s,
                       interpolation=cv2.INTER_AREA)
        if self._prev is not None:
            a = cv2.resize(self._prev, (32, 24), interpolation=cv2.INTER_AREA).astype(np.float32)
            b = cv2.resize(g, (32, 24), interpolation=cv2.INTER_AREA).astype(np.float32)
            if float(np.abs(a - b).mean()) > CUT_MAD:
                self.cuts.append(f)
            else:  # motion across a cut means nothing
                self.camera_motion.append(self._camera_motion(self._prev, g) / s)
                diff = cv2.absdiff(self._prev, g)
                self.changed.append(float(np.mean(diff > BUSY_DIFF)))
        self._prev = g
        for t in np.asarray(track_ids, int).reshape(-1).tolist():
            if t >= 0:
                self._first.setdefault(t, f)
                self._last[t] = f

    @staticmethod
    def _camera_motion(a: np.ndarray, b: np.ndarray) -> float:
        p0 = cv2.goodFeaturesToTrack(a, 100, 0.01, 5)
        if p0 is None or len(p0) < 8:
            return float("nan")
        p1, st, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, winSize=(15, 15), maxLevel=2)
        ok = st.ravel() == 1
        if ok.sum() < 8:
            return float("nan")
        M, _ = cv2.estimateAffinePartial2D(p0[ok], p1[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if M is None:
            return float("nan")
        h, w = a.shape
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float)
        return float(np.abs(corners @ M.T - corners[:, :2]).max())

    # -- verdict ----------------------------------------------------------------------------------
    def signals(self) -> dict:
        motion = np.asarray(self.camera_motion, float)
        lives = np.array([self._last[t] - self._first[t] + 1 for t in self._first], float)
        seconds = max(self.frames / self.fps, 1e-9)
        return {
            "frames": self.frames,
            "scene_cuts": list(self.cuts),
            "moving_share": float(np.nanmean(motion > MOVING_PX)) if np.isfinite(motion).any() else 0.0,
            "camera_motion_px_median": float(np.nanmedian(motion)) if np.isfinite(motion).any() else 0.0,
            "changed_share": float(np.mean(self.changed)) if self.changed else 0.0,
            "tracks": int(len(lives)),
            "births_per_s": float(len(lives) / seconds),
            "median_track_life_s": float(np.median(lives) / self.fps) if len(lives) else None,
        }

    def warnings(self) -> list[dict]:
        s = self.signals()
        out = []
        if s["scene_cuts"]:
            cuts = s["scene_cuts"]
            out.append(dict(code="scene_cut", frames=cuts, message=(
                f"{len(cuts)} scene cut(s) at frame(s) {', '.join(map(str, cuts[:10]))}"
                f"{' ...' if len(cuts) > 10 else ''}: this is not one continuous shot, so tracks "
                "and line crossings across the cuts mean nothing; give the lab one shot from a "
                "fixed camera")))
        moving = s["moving_share"] > MOVING_SHARE
        if moving:
            what = ("the background-subtraction detector assumes a static camera, so its boxes are "
                    "mostly background, not people; use a learned detector (see --detector in --help)"
                    if self.static_background else
                    "the line is fixed in the picture, not on the ground, so crossings are not "
                    "people walking across a place")
            out.append(dict(code="moving_camera", frames=[], message=(
                f"the camera moves: {100 * s['moving_share']:.0f} % of the frames shift by more "
                f"than {MOVING_PX:g} px (median {s['camera_motion_px_median']:.1f} px); {what}")))
        if not moving and s["changed_share"] > BUSY_SHARE:
            out.append(dict(code="moving_background", frames=[], message=(
                f"{100 * s['changed_share']:.0f} % of the picture changes from frame to frame "
                "with a still camera (leaves, water, flicker?)"
                + ("; background subtraction takes that motion for people" if self.static_background
                   else ""))))
        life = s["median_track_life_s"]
        if s["tracks"] >= 5 and (s["births_per_s"] > MAX_BIRTHS_PER_S
                                 or (life is not None and life < MIN_MEDIAN_LIFE_S)):
            out.append(dict(code="implausible_tracks", frames=[], message=(
                f"implausible tracks: {s['tracks']} in {self.frames / self.fps:.1f} s "
                f"({s['births_per_s']:.1f} new a second, median life {life:.1f} s); people on a "
                f"street give under {MAX_BIRTHS_PER_S:g} a second living for seconds — the "
                "detector is firing on things that are not people, or identities keep breaking")))
        return out
