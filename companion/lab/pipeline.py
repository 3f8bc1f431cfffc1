"""The lab's whole job: decode → detect → track → count → outputs.

:func:`run_lab` streams a video once (26.1's :func:`companion.io.iter_frames`), detects people in
each frame (:mod:`companion.lab.detect`), links the detections into tracks (26.5's trackers, or
the ``trackers`` package's production ByteTrack), counts line crossings
(:mod:`companion.lab.count`) and writes, into one output folder:

========================  =======================================================================
``annotated.mp4``         boxes, track ids, short trails of the foot points, the line with its
                          ``in`` arrow, live in/out/distinct counts (H.264)
``counts.png``            cumulative in / out / distinct over time
``crossings.csv``         one row per counted crossing: frame, time_s, track_id, direction, ...
``tracks_mot.txt``        the confirmed tracks in MOT format (frame, id, x, y, w, h, conf, -1,-1,-1;
                          frame and id 1-based)
``summary.json``          frames, in_count, out_count, distinct, fps, detector, tracker, line, ...
========================  =======================================================================

Links between the stages keep one id per person through the moments trackers get wrong
(on by default, for every input, and each can be switched off for comparison):

* ``hint_boxes`` — before detecting, the tracker's predicted boxes for this frame are handed to a
  detector that can use them (background subtraction): a blob that holds two or more predicted
  people (people walking into each other) is cut along the predictions, so each track keeps its
  own box through the merge instead of one track taking the group box and the other starving.
  Only the companion ByteTrack exposes its predictions; other trackers run without hints.
* ``identities`` (default) — the offline identity stage (:mod:`companion.lab.identities`): after
  the last frame, the tracks are cut where two people met or a track's look changed, the pieces
  are linked into people by constrained clustering on appearance (never two pieces seen at once,
  never an unwalkable jump), the crossings are counted again on the people's trajectories (a
  swap of ids in mid-crossing no longer loses the crossing) and the MOT rows take the people's
  ids. It replaces the online ``reidentify`` below unless that is given as
  an object; the annotated video is then drawn after the stage (a second decoding pass), with
  the people's ids and the final counts.
* ``reidentify`` — online long-term re-identification (:mod:`companion.lab.reidentify`; used when
  ``identities=False``): a person who
  leaves the picture (or stays hidden for longer than the stitcher bridges) and comes back is
  recognised by appearance — ImageNet-pretrained MobileNetV2 features beside a colour histogram
  of their crops, compared with a gallery of the people not in the picture — and keeps their id, so ``distinct`` counts
  people, not tracks.
* ``stitch`` — after tracking, :class:`~companion.lab.stitch.TrackStitcher` gives a new track the
  id of a track that ended less than a second ago close to where the new one starts (same size,
  reachable at walking speed, not at the picture's border), so a person lost for a few frames
  stays one person, and a line crossed while hidden is counted when they reappear.

``every=k`` looks at every k-th frame only (26.1's temporal subsampling, applied to the lab:
the question "space or time, where do I spend compute?" asked of a tracker): the detector runs
k times less often and the tracker, the counter and the identity stage see a clip of
``fps / k`` frames/s. Everything written keeps the video's own frame numbers and seconds (MOT
rows and crossings fall on frames 0, k, 2k, ...); the annotated video holds the frames looked at,
played at ``fps / k``. ``benchmarks/bench_lab_ssd.py`` measures what it buys and what it costs
on the street clip.

The input video is only ever opened for reading, and every output path is checked against it
before anything is written. The files of one run appear together and complete, or not at all
(:mod:`companion.lab.outputs`: a staging folder moved into place at the end, a lock against a
second run into the same folder, a manifest so that files a lab run did not write are never
replaced).
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import json
import os
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np
import supervision as sv

from companion.lab.count import (DEFAULT_DEAD_BAND, LineCounter, anchors_of, as_line, clip_segment_to_rect,
                                 describe_direction, segment_intersects_rect)
from companion.lab.detect import DEFAULT_DETECTOR, detect_frames, make_detector
from companion.lab.outputs import StagedOutputs
from companion.lab.stitch import TrackStitcher

OUTPUT_NAMES = {"video": "annotated.mp4", "plot": "counts.png", "csv": "crossings.csv",
                "mot": "tracks_mot.txt", "json": "summary.json"}

#: The default counting line on the real street clip (768x576): a segment across the paved
#: square just right of the lamp post, drawn bottom to top so that ``in`` = walking rightward.
STREET_CLIP_LINE = (560.0, 470.0, 560.0, 150.0)

TRACKERS = ("bytetrack", "sort", "deepsort", "trackers-bytetrack")
DEFAULT_TRACKER = "bytetrack"


def default_line(width: int, height: int) -> tuple[float, float, float, float]:
    """A vertical segment through the middle of the frame (bottom → top, so ``in`` = rightward),
    covering 20 %..98 % of the height; the street clip gets :data:`STREET_CLIP_LINE`."""
    if (width, height) == (768, 576):
        return STREET_CLIP_LINE
    x = width / 2
    return (x, 0.98 * height, x, 0.2 * height)


# ----------------------------------------------------------------------------------------------
# trackers
# ----------------------------------------------------------------------------------------------


class _Tracker:
    """Uniform face over the trackers: ``update(detections, frame) -> detections`` with
    ``tracker_id`` (-1 = tentative)."""

    def __init__(self, name: str, impl, source: str, wants_frame: bool | None = None):
        self.name, self.impl, self.source = name, impl, source
        if wants_frame is None:
            try:
                params = inspect.signature(impl.update).parameters
            except (TypeError, ValueError):
                params = {}
            wants_frame = "frame" in params
        self._wants_frame = bool(wants_frame)

    def predicted_boxes(self) -> np.ndarray | None:
        """Where the confirmed, currently tracked tracks will be in the next frame (``(K, 4)``
        xyxy, one constant-velocity step of their Kalman state), for detectors that cut merged
        blobs along them; None for trackers that do not expose their state (only the companion
        ByteTrack does)."""
        from companion.tracking.bytetrack import _TRACKED, ByteTrack
        from companion.tracking.boxes import xyah_to_xyxy

        impl = self.impl
        if not isinstance(impl, ByteTrack):
            return None
        m = (impl.state == _TRACKED) & impl.activated  # tracked (not lost) and confirmed
        mean = impl.mean[m]
        return xyah_to_xyxy(mean[:, :4] + mean[:, 4:8]).reshape(-1, 4)

    def update(self, detections: sv.Detections, frame: np.ndarray | None = None) -> sv.Detections:
        if self._wants_frame:
            out = self.impl.update(detections, frame=frame)
        else:
            out = self.impl.update(detections)
        if out.tracker_id is None:
            out.tracker_id = np.full(len(out), -1, int)
        return out


def make_tracker(name: str = DEFAULT_TRACKER, *, fps: float = 10.0) -> _Tracker:
    """``bytetrack`` (companion, default), ``sort``, ``deepsort`` (companion 26.5) or
    ``trackers-bytetrack`` (the ``trackers`` package's production ByteTrack)."""
    if not isinstance(name, str) or name not in TRACKERS:
        raise ValueError(f"unknown tracker {name!r}; choose from {', '.join(TRACKERS)}")
    fps = float(fps) if fps and fps > 0 else 10.0
    if name == "trackers-bytetrack":
        from trackers import ByteTrackTracker

        # lost tracks are kept ~3 s; thresholds suit detectors whose scores are ~0.4 / 0.7 / 0.9
        impl = ByteTrackTracker(lost_track_buffer=int(round(3 * fps)), frame_rate=fps,
                                track_activation_threshold=0.6, minimum_consecutive_frames=2,
                                minimum_iou_threshold=0.1, high_conf_det_threshold=0.5)
        return _Tracker(name, impl, "trackers.ByteTrackTracker", wants_frame=False)
    import companion.tracking as T

    cls = {"bytetrack": "ByteTrack", "sort": "SORT", "deepsort": "DeepSORT"}[name]
    if not hasattr(T, cls):  # pragma: no cover - only while 26.5 is being written
        raise ImportError(f"companion.tracking.{cls} is not available")
    impl = _build_companion_tracker(getattr(T, cls), name, fps)
    return _Tracker(name, impl, f"companion.tracking.{cls}")


#: Settings of the 26.5 trackers for the lab (frames are given at 30 fps and scaled by
#: ``frame_rate / 30`` inside the trackers, so 60 = 2 s at any frame rate). At 10 frames/s a
#: walker moves 3-7 px a frame while being only 15-30 px wide, so a *new* track (no velocity yet)
#: overlaps its next detection with IoU ~0.2-0.4: ByteTrack's published gates (fused cost 0.8 /
#: 0.7, tuned for 30 fps) keep such tracks tentative for ever; 0.9 (IoU x score >= 0.1, like
#: ``trackers``' ``minimum_iou_threshold=0.1``) lets them confirm.
TRACKER_SETTINGS = {
    "bytetrack": dict(track_thresh=0.5, track_buffer=60, match_thresh=0.9,
                      unconfirmed_match_thresh=0.9),
    "sort": dict(max_age=30, min_hits=3, iou_threshold=0.3),
    "deepsort": dict(max_age=90, n_init=3, max_cosine_distance=0.3),
}


def _build_companion_tracker(cls, name: str, fps: float):
    kw = dict(TRACKER_SETTINGS[name], frame_rate=fps)
    if name == "deepsort":
        kw["embedder"] = _deepsort_embedder()
    return cls(**kw)


def _deepsort_embedder() -> str:
    """The shipped re-ID network when its weights are there, else the colour-histogram one."""
    try:
        from companion.tracking import reid

        if reid.default_weights_path().is_file():
            return "reid"
    except Exception:  # pragma: no cover
        pass
    return "histogram"


# ----------------------------------------------------------------------------------------------
# drawing
# ----------------------------------------------------------------------------------------------


def _colour(tid: int) -> tuple[int, int, int]:
    h = (tid * 0.61803398875) % 1.0
    hsv = np.uint8([[[int(h * 179), 220, 255]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


class Annotator:
    """Draws boxes, ids, trails, the line with its ``in`` arrow and the live counts (RGB)."""

    def __init__(self, line, *, trail: int = 15):
        self.p1, self.p2 = as_line(line)
        self.trail = int(trail)
        self.trails: dict[int, deque] = defaultdict(lambda: deque(maxlen=self.trail))
        self.flash = 0

    def draw(self, frame: np.ndarray, tracked: sv.Detections, counter: LineCounter,
             new_events: list, frame_index: int, fps: float | None = None) -> np.ndarray:
        img = np.ascontiguousarray(frame).copy()
        h, w = img.shape[:2]
        thick = max(1, int(round(min(h, w) / 300)))
        if new_events:
            self.flash = 4
        ids = tracked.tracker_id if tracked.tracker_id is not None else np.full(len(tracked), -1)
        anchors = anchors_of(tracked.xyxy)
        for (x1, y1, x2, y2), tid, (ax, ay) in zip(tracked.xyxy.astype(int), ids, anchors):
            tid = int(tid)
            if tid < 0:
                cv2.rectangle(img, (x1, y1), (x2, y2), (160, 160, 160), 1)
                continue
            col = _colour(tid)
            self.trails[tid].append((int(ax), int(ay)))
            pts = np.asarray(self.trails[tid], np.int32)
            if len(pts) > 1:
                cv2.polylines(img, [pts], False, col, thick)
            cv2.rectangle(img, (x1, y1), (x2, y2), col, thick + 1)
            cv2.circle(img, (int(ax), int(ay)), thick + 2, col, -1)
            label = str(tid)
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
            cv2.rectangle(img, (x1, y1 - th - 4), (x1 + tw + 4, y1), col, -1)
            cv2.putText(img, label, (x1 + 2, y1 - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                        cv2.LINE_AA)
        # the line, flashing green for a few frames after a crossing, and the 'in' arrow
        lc = (40, 230, 60) if self.flash > 0 else (255, 220, 0)
        self.flash = max(0, self.flash - 1)
        self.draw_line(img, lc, thick)
        # the counts panel
        text = [f"in {counter.in_count}   out {counter.out_count}", f"distinct {counter.distinct}",
                f"frame {frame_index}"]
        scale = 0.6 if w >= 500 else 0.45
        lh = int(26 * scale / 0.6)
        cv2.rectangle(img, (4, 4), (int(230 * scale / 0.6), 8 + lh * len(text)), (0, 0, 0), -1)
        for i, t in enumerate(text):
            cv2.putText(img, t, (10, 4 + lh * (i + 1) - 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (255, 255, 255), 1 + (i == 0), cv2.LINE_AA)
        return img


    def draw_line(self, img: np.ndarray, colour=(255, 220, 0), thick: int = 2) -> np.ndarray:
        """The counting segment and its ``in`` arrow (pointing to the side 'in' walks into).

        Only the part inside the frame is drawn: OpenCV takes 32-bit ints, a line may reach 1e12."""
        h, w = img.shape[:2]
        visible = clip_segment_to_rect(self.p1, self.p2, w - 1, h - 1)
        if visible is None:
            return img
        v1, v2 = visible
        a, b = tuple(int(round(v)) for v in v1), tuple(int(round(v)) for v in v2)
        cv2.line(img, a, b, colour, thick + 2, cv2.LINE_AA)
        d = self.p2 - self.p1
        n = np.array([-d[1], d[0]]) / np.hypot(*d)
        mid = (v1 + v2) / 2
        tip = mid + n * 28
        cv2.arrowedLine(img, tuple(int(v) for v in mid - n * 10), tuple(int(v) for v in tip), colour,
                        thick + 1, cv2.LINE_AA, tipLength=0.35)
        cv2.putText(img, "in", tuple(int(v) for v in tip + n * 6 + np.array([-6, 5])),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, colour, 2, cv2.LINE_AA)
        return img


def preview_image(frame: np.ndarray, line, *, step: int | None = None) -> np.ndarray:
    """One frame with a labelled pixel grid, the counting line with its ``in`` arrow and the
    coordinates of its two ends: what ``--preview`` writes, to place a line before a run."""
    img = np.ascontiguousarray(frame).copy()
    h, w = img.shape[:2]
    step = step or (50 if max(h, w) <= 1000 else 100)
    grid = img.copy()
    for x in range(0, w, step):
        cv2.line(grid, (x, 0), (x, h - 1), (255, 255, 255), 1)
    for y in range(0, h, step):
        cv2.line(grid, (0, y), (w - 1, y), (255, 255, 255), 1)
    img = cv2.addWeighted(grid, 0.35, img, 0.65, 0)
    for x in range(0, w, 2 * step):
        cv2.putText(img, str(x), (x + 2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
    for y in range(2 * step, h, 2 * step):
        cv2.putText(img, str(y), (2, y - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
    ann = Annotator(line)
    ann.draw_line(img, (255, 60, 60), max(1, int(round(min(h, w) / 300))))
    for p, name in ((ann.p1, "start"), (ann.p2, "end")):
        q = (int(p[0]), int(p[1]))
        cv2.circle(img, q, 4, (255, 60, 60), -1)
        label = f"{name} ({p[0]:g},{p[1]:g})"
        cv2.putText(img, label, (min(q[0] + 6, w - 8 * len(label)), max(q[1] - 6, 24)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 60, 60), 1, cv2.LINE_AA)
    return img


class _VideoWriter:
    """H.264 (yuv420p) writer via PyAV; odd frame sizes are padded by one pixel."""

    def __init__(self, path: Path, fps: float, width: int, height: int):
        import av
        from fractions import Fraction

        self.w, self.h = width + width % 2, height + height % 2
        self._container = av.open(str(path), mode="w")
        self._stream = self._container.add_stream("libx264",
                                                  rate=Fraction(fps).limit_denominator(1000))
        self._stream.width, self._stream.height, self._stream.pix_fmt = self.w, self.h, "yuv420p"
        self._stream.options = {"crf": "26", "preset": "ultrafast", "tune": "zerolatency"}
        self._av = av

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape[0] != self.h or rgb.shape[1] != self.w:
            rgb = cv2.copyMakeBorder(rgb, 0, self.h - rgb.shape[0], 0, self.w - rgb.shape[1],
                                     cv2.BORDER_REPLICATE)
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()


# ----------------------------------------------------------------------------------------------
# checks before anything runs
# ----------------------------------------------------------------------------------------------


def check_line_in_frame(line, width: int, height: int) -> tuple[float, float, float, float]:
    p1, p2 = as_line(line)
    if not segment_intersects_rect(p1, p2, width, height):
        raise ValueError(f"the line ({p1[0]:g},{p1[1]:g})->({p2[0]:g},{p2[1]:g}) lies entirely "
                         f"outside the {width}x{height} frame; give points with 0 <= x <= {width} "
                         f"and 0 <= y <= {height}")
    return (*map(float, p1), *map(float, p2))


def output_names(write_video: bool = True) -> dict[str, str]:
    """The files one run writes: :data:`OUTPUT_NAMES`, without the video when it is skipped."""
    return {k: v for k, v in OUTPUT_NAMES.items() if write_video or k != "video"}


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------


class DetectAhead:
    """Decode and detect the next frames in a second thread while this one tracks, counts, draws
    and encodes: iterating gives ``(frame, detections)`` in order.

    The two halves of the pipeline then run on the machine's two cores at once (PyTorch,
    OpenCV and the decoder release Python's lock while they compute), so a frame costs the
    slower half, not the sum. A detector with a ``stream(frames)`` method (the motion-gated
    SSD: :meth:`~companion.detection.motion.MotionGatedDetector.stream`) is iterated instead of
    called frame by frame, so it can keep several network passes in flight on its own worker
    threads. Only for detectors that never take the tracker's predictions
    (``hint_boxes``; the learned SSD): background subtraction must wait for the tracker, frame
    by frame, and its OpenCV models draw random numbers per thread. At most ``depth`` frames
    wait in the queue; an exception in the thread is raised here, in the caller's thread, and
    :meth:`close` (also on Ctrl-C) stops the thread before the run's outputs are settled.
    """

    _DONE = object()

    def __init__(self, frames: Iterable[np.ndarray], detector, depth: int = 4):
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue(maxsize=int(depth))
        self._stop = threading.Event()
        self._frames, self._detector = frames, detector
        self._thread = threading.Thread(target=self._work, name="lab-detect-ahead", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        pairs = detect_frames(self._detector, self._frames)
        try:
            for pair in pairs:
                if self._stop.is_set() or not self._put(pair):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # handed to the caller's thread
            self._put(exc)
        finally:
            close = getattr(pairs, "close", None)
            if close is not None:
                close()  # a detector's stream stops its own worker threads

    def __iter__(self) -> Iterator[tuple[np.ndarray, object]]:
        import queue

        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    return  # the thread was stopped
                continue
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the thread (it finishes the frame it is on) and wait for it."""
        self._stop.set()
        self._thread.join()


@dataclass
class LabResult:
    summary: dict
    counter: LineCounter
    outputs: dict[str, Path] = field(default_factory=dict)
    mot_rows: list = field(default_factory=list)

    @property
    def in_count(self) -> int:
        return self.counter.in_count

    @property
    def out_count(self) -> int:
        return self.counter.out_count

    @property
    def distinct(self) -> int:
        return self.counter.distinct


def _sample_frames(path, num_frames: int, k: int = 24) -> list[np.ndarray]:
    """~k frames spread over the clip (RGB, HWC), for the background model."""
    from companion.io import read_clip

    idx = np.unique(np.linspace(0, max(0, num_frames - 1), min(k, max(1, num_frames))).round().astype(int))
    clip = read_clip(path, idx.tolist())
    return [f.permute(1, 2, 0).numpy() for f in clip]


def run_lab(video, *, line=None, detector: str | object = DEFAULT_DETECTOR,
            tracker: str | object = DEFAULT_TRACKER, out_dir="outputs/lab", min_frames: int = 3,
            max_frames: int | None = None, write_video: bool = True, write_files: bool = True,
            progress: bool = True, source_label: str = "video", fps: float | None = None,
            hint_boxes: bool = True, stitch: bool = True, reidentify: bool | object = True,
            dead_band: float | None = None, identities: bool = True, every: int = 1) -> LabResult:
    """Run the whole pipeline and write the outputs; see the module docstring.

    ``video`` is a video file path, or frames in memory: a ``(T, H, W, 3)`` uint8 RGB array
    (then ``fps`` gives the frame rate, default 10). ``detector`` / ``tracker`` are names
    (:func:`make_detector`, :func:`make_tracker`) or ready objects. ``line`` defaults to
    :func:`default_line`. ``max_frames`` stops early. ``write_files=False`` writes nothing.
    ``hint_boxes``, ``stitch`` and ``reidentify`` switch the links described in the module
    docstring (``reidentify`` may also be a ready :class:`~companion.lab.reidentify.ReIdentifier`).
    ``dead_band`` (pixels) is the counter's dead-band around the line (default
    :data:`~companion.lab.count.DEFAULT_DEAD_BAND` of the frame height; 0 turns it off).
    ``identities`` runs the offline identity stage (:mod:`companion.lab.identities`) after the
    last frame; it replaces the online re-identification when ``reidentify`` is left at True.
    ``every=k`` processes frames 0, k, 2k, ... only (see the module docstring); ``max_frames``
    and ``min_frames`` count the video's frames (a track stays on the new side for
    ``ceil(min_frames / k)`` looks).

    The files appear together and complete, or not at all (:mod:`companion.lab.outputs`): they
    are written into a staging folder inside ``out_dir`` and moved into place at the end, with
    the folder locked against a second run; an interrupted or failed run leaves the previous
    outputs untouched, and files a lab run did not write are never replaced. ``out_dir`` may be
    an open :class:`~companion.lab.outputs.StagedOutputs`: the caller then commits it.
    """
    if not write_files:
        outputs = None
    elif isinstance(out_dir, StagedOutputs):
        outputs = out_dir
    else:
        protect = [video] if isinstance(video, (str, os.PathLike)) else []
        with StagedOutputs(out_dir, output_names(write_video), protect=protect) as outputs:
            result = _run_lab(video, line=line, detector=detector, tracker=tracker,
                              outputs=outputs, min_frames=min_frames, max_frames=max_frames,
                              write_video=write_video, progress=progress,
                              source_label=source_label, fps=fps, hint_boxes=hint_boxes,
                              stitch=stitch, reidentify=reidentify, dead_band=dead_band,
                              identities=identities, every=every)
            result.outputs = outputs.commit()
        return result
    return _run_lab(video, line=line, detector=detector, tracker=tracker, outputs=outputs,
                    min_frames=min_frames, max_frames=max_frames, write_video=write_video,
                    progress=progress, source_label=source_label, fps=fps,
                    hint_boxes=hint_boxes, stitch=stitch, reidentify=reidentify, dead_band=dead_band,
                    identities=identities, every=every)


def _run_lab(video, *, line, detector, tracker, outputs: StagedOutputs | None, min_frames,
             max_frames, write_video, progress, source_label, fps, hint_boxes, stitch, reidentify,
             dead_band, identities=False, every=1) -> LabResult:
    write_files = outputs is not None
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be an int >= 1 (look at every k-th frame), got {every!r}")
    every = int(every)
    from companion.io import iter_frames, video_info

    if isinstance(video, np.ndarray):
        arr = video
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or len(arr) == 0:
            raise ValueError(f"frames must be a non-empty (T, H, W, 3) uint8 RGB array, got "
                             f"{arr.dtype} {arr.shape}")
        num_frames, H, W = arr.shape[0], arr.shape[1], arr.shape[2]
        fps_video = float(fps) if fps else 10.0
        video_path = None

        def frame_source(stop):
            return iter(arr[:stop:every])

        def sample(k=24):
            idx = np.unique(np.linspace(0, num_frames - 1, min(k, num_frames)).round().astype(int))
            return list(arr[idx])
    elif isinstance(video, (str, os.PathLike)):
        info = video_info(video)  # raises FileNotFoundError / VideoDecodeError on a bad file
        num_frames, W, H = info.num_frames, info.width, info.height
        if num_frames < 1:
            from companion.errors import VideoDecodeError

            raise VideoDecodeError(info.path, "pyav", "the video has no frames")
        fps_video = info.fps if info.fps and info.fps > 0 else 10.0
        video_path = video

        def frame_source(stop):
            return iter_frames(video, stop=stop, step=every)

        def sample(k=24):
            return _sample_frames(video, num_frames, k)
    else:
        raise TypeError(f"video must be a path or a (T, H, W, 3) uint8 array, got "
                        f"{type(video).__name__}")
    line = default_line(W, H) if line is None else line
    line = check_line_in_frame(line, W, H)
    if max_frames is not None and int(max_frames) < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    paths = outputs.paths if write_files else {}
    if write_files and write_video and "video" not in paths:
        raise ValueError("the open StagedOutputs has no 'video' output; open it with "
                         "output_names(write_video=True) or pass write_video=False")
    stop = num_frames if max_frames is None else min(num_frames, int(max_frames))
    n_total = len(range(0, stop, every))  # frames looked at
    fps_run = fps_video / every  # the frame rate the tracker, counter and identities see

    t_start = time.perf_counter()
    stages: dict[str, float] = {}  # wall seconds of each stage, reported in the summary
    det = make_detector(detector) if isinstance(detector, str) else detector
    if hasattr(det, "reset"):
        det.reset()
    if hasattr(det, "prime"):
        det.prime(sample())
    trk = make_tracker(tracker, fps=fps_run) if isinstance(tracker, str) else tracker
    if not isinstance(trk, _Tracker):
        trk = _Tracker(getattr(trk, "name", type(trk).__name__), trk, type(trk).__module__)
    use_hints = (bool(hint_boxes) and bool(getattr(det, "uses_hints", False))
                 and trk.predicted_boxes() is not None)
    stitcher = TrackStitcher(fps_run, (W, H)) if stitch else None
    reid = None
    log = None
    if identities:
        from companion.lab.identities import TrackLog

        log = TrackLog()
        if reidentify is True:  # the offline stage does the long-term re-identification
            reidentify = False
    if reidentify is True:
        from companion.lab.reidentify import ReIdentifier

        reid = ReIdentifier(fps=fps_run)
    elif reidentify:
        reid = reidentify
        reid.reset()
    if dead_band is None:
        dead_band = DEFAULT_DEAD_BAND * H
    # the hysteresis is a time (min_frames of the video's frames), so in looks it is shorter
    # when only every k-th frame is looked at: 3 frames -> 2 looks at k = 2, 1 look at k = 3
    counter = LineCounter(line, min_frames=-(-int(min_frames) // every), dead_band=dead_band)
    from companion.lab.quality import InputMonitor

    monitor = InputMonitor(fps_run, static_background=hasattr(det, "prime"),
                           detector=getattr(det, "name", type(det).__name__))
    annot = Annotator(line)
    writer = None
    drawn: list[tuple] | None = None  # with offline identities the video is drawn afterwards
    if write_files and write_video:
        if log is None:
            with outputs.writing("video"):
                writer = outputs.guard(_VideoWriter(paths["video"], fps_run, W, H), "video")
        else:
            drawn = []

    mot_rows: list[tuple] = []
    timeline = []  # (frame, in, out, distinct)
    frames: Iterator[np.ndarray] = frame_source(stop)
    if progress:
        frames = _progress_bar(frames, total=n_total, desc="lab")
    n = 0
    t_loop = time.perf_counter()
    stages["setup"] = t_loop - t_start
    # detectors that can take the tracker's hints (background subtraction) always run here, in
    # this thread: OpenCV's background models draw random numbers from a per-thread generator,
    # so another thread would give other masks than the ones their tests were measured on
    ahead = None if getattr(det, "uses_hints", False) else DetectAhead(frames, det)
    try:
        for i, (frame, dets) in enumerate(ahead if ahead is not None else ((f, None) for f in frames)):
            if use_hints:
                dets = det(frame, hints=trk.predicted_boxes())
            elif ahead is None:
                dets = det(frame)
            tracked = trk.update(dets, frame)
            if stitcher is not None and len(tracked):
                tracked.tracker_id = stitcher.update(i, tracked.tracker_id, tracked.xyxy)
            if reid is not None and len(tracked):
                n_merges = len(reid.merges)
                tracked.tracker_id = reid.update(i, frame, tracked.tracker_id, tracked.xyxy)
                for _, provisional, person, _ in reid.merges[n_merges:]:
                    counter.relabel(provisional, person)
            if log is not None:
                log.update(i, frame, tracked.tracker_id, tracked.xyxy)
            events = counter.update(tracked, i, time_s=i / fps_run)
            ids = tracked.tracker_id
            monitor.update(i, frame, ids)
            conf = tracked.confidence if tracked.confidence is not None else np.ones(len(tracked))
            for (x1, y1, x2, y2), tid, c in zip(tracked.xyxy, ids, conf):
                if tid >= 0:
                    mot_rows.append((i + 1, int(tid) + 1, float(x1), float(y1), float(x2 - x1),
                                     float(y2 - y1), float(c)))
            timeline.append((i, counter.in_count, counter.out_count, counter.distinct))
            if writer is not None:
                writer.write(annot.draw(frame, tracked, counter, events, i))
            elif drawn is not None:
                drawn.append((tracked.xyxy.copy(), ids.copy(), bool(events)))
            n += 1
    finally:
        if ahead is not None:
            ahead.close()
        if writer is not None:
            writer.close()
    elapsed = time.perf_counter() - t_start
    stages["frames"] = time.perf_counter() - t_loop  # decode, detect, track, count (and draw)
    if reid is not None and reid.merges:  # MOT rows written under a provisional id: final ids
        final = {prov + 1: person + 1 for _, prov, person, _ in reid.merges}

        def resolve(t):
            while t in final:
                t = final[t]
            return t

        mot_rows = [(r[0], resolve(r[1]), *r[2:]) for r in mot_rows]
    ident = None
    if log is not None:  # offline identities: cut, link, and rename the events and MOT rows
        from companion.lab.identities import resolve_run

        t_ident, t_wall = time.process_time(), time.perf_counter()
        with _every_core_for_torch():
            ident = resolve_run(log, counter, fps=fps_run)
        mot_rows = [(r[0], ident.person_of(r[1] - 1, r[0] - 1) + 1, *r[2:]) for r in mot_rows]
        timeline = [(f, sum(e.frame <= f and e.direction == "in" for e in counter.events),
                     sum(e.frame <= f and e.direction == "out" for e in counter.events),
                     len({e.track_id for e in counter.events if e.frame <= f}))
                    for f, _, _, _ in timeline]
        t_ident = time.process_time() - t_ident
        stages["identities"] = time.perf_counter() - t_wall
        if drawn is not None:
            t_wall = time.perf_counter()
            _draw_video_afterwards(frame_source(n * every), drawn, ident, timeline, line, outputs,
                                   fps_run, W, H, progress)
            stages["video"] = time.perf_counter() - t_wall
        elapsed = time.perf_counter() - t_start

    if every > 1:  # back to the video's own frame numbers (see the module docstring)
        for e in counter.events:
            e.frame, e.cross_frame = e.frame * every, e.cross_frame * every
        mot_rows = [((r[0] - 1) * every + 1, *r[1:]) for r in mot_rows]
        timeline = [(f * every, *rest) for f, *rest in timeline]
        monitor.cuts = [f * every for f in monitor.cuts]
    frames_spanned = min(stop, n * every)  # the video's frames the run went through
    summary = {
        "frames": frames_spanned, "frames_processed": n, "every": every,
        "in_count": counter.in_count, "out_count": counter.out_count,
        "distinct": counter.distinct, "fps": round(frames_spanned / elapsed, 2) if elapsed > 0 else None,
        "elapsed_s": round(elapsed, 3), "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "detector": getattr(det, "name", type(det).__name__),
        # what runs the learned detector's network: "onnxruntime" or "torch" (None: not a network)
        "detector_backend": getattr(getattr(det, "detector", det), "backend", None),
        "tracker": trk.name, "tracker_impl": trk.source,
        "line": list(line), "min_frames": int(min_frames), "min_looks": counter.min_frames,
        "dead_band_px": round(counter.dead_band, 2),
        "direction_convention": describe_direction(counter.p1, counter.p2),
        "video": str(Path(video_path)) if video_path is not None else "<frames in memory>",
        "video_fps": fps_video, "width": W, "height": H,
        "source": source_label,
        "crossings": [e.as_row() for e in counter.events],
        "hint_boxes": bool(use_hints), "stitched": len(stitcher.links) if stitcher is not None else None,
        "reidentified": len(reid.merges) if reid is not None else None,
        "identities": None if ident is None else {
            "tracks": len({t.track for t in ident.tracklets}), "tracklets": len(ident.tracklets),
            "people": ident.num_people, "cpu_s": round(t_ident, 2)},
        "warnings": monitor.warnings(), "input_signals": monitor.signals(),
        "detector_fallback": getattr(det, "fallback_reason", None),
    }
    result = LabResult(summary, counter, paths, mot_rows)
    if write_files:
        _write_outputs(result, timeline, fps_video, outputs)
        summary["outputs"] = {k: str(p) for k, p in outputs.final.items()
                              if k in OUTPUT_NAMES and (k != "video" or write_video)}
        write_summary(summary, outputs)
        result.outputs = {k: outputs.final[k] for k in summary["outputs"]}
    return result


#: seconds between two progress-bar updates when stderr is a log file or a pipe, not a terminal
LOG_PROGRESS_EVERY_S = 10.0


def _progress_bar(frames, *, total, desc):
    """A progress bar over ``frames``: live in a terminal or a notebook; written to a log file or
    a pipe (CI, ``| tee``), one line every :data:`LOG_PROGRESS_EVERY_S` seconds instead of ten a
    second (a run of the street clip would otherwise leave about 800 updates in the log)."""
    import sys

    from tqdm.auto import tqdm

    live = "ipykernel" in sys.modules or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    kw = {} if live else dict(mininterval=LOG_PROGRESS_EVERY_S, ascii=True)
    return tqdm(frames, total=total, desc=desc, unit="frame", leave=False, **kw)


@contextlib.contextmanager
def _every_core_for_torch():
    """The identity stage embeds its crops in one big batch after the last frame, when the
    detector (one PyTorch thread: :func:`~companion.lab.detect.make_ssd_detector`) is idle: let
    that batch use every core, then put the thread count back. Measured on the street clip
    (2 cores): the stage's wall time 6.3 -> 4.3 s."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, os.cpu_count() or 1))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _draw_video_afterwards(frames, drawn, ident, timeline, line, outputs, fps, W, H, progress):
    """The annotated video of a run whose ids were revised after the last frame (the offline
    identity stage): the frames are decoded a second time and drawn with the *people's* ids and
    the final counts, so the video, ``crossings.csv`` and ``summary.json`` tell one story.
    Decoding and drawing run in a second thread (:class:`DetectAhead`, frames in order) while this
    one encodes, so the stage costs the slower half, not the sum."""
    from types import SimpleNamespace

    annot = Annotator(line)
    if progress:
        frames = _progress_bar(frames, total=len(drawn), desc="video")

    def draw(item):
        i, (frame, (xyxy, ids, flash), (_, n_in, n_out, n_distinct)) = item
        people = np.array([ident.person_of(t, i) if t >= 0 else -1 for t in ids], int)
        tracked = sv.Detections(xyxy=xyxy.reshape(-1, 4), tracker_id=people)
        counts = SimpleNamespace(in_count=n_in, out_count=n_out, distinct=n_distinct)
        return annot.draw(frame, tracked, counts, [True] if flash else [], i)

    with outputs.writing("video"):
        writer = outputs.guard(_VideoWriter(outputs.paths["video"], fps, W, H), "video")
    ahead = DetectAhead(enumerate(zip(frames, drawn, timeline)), draw)
    try:
        for _, image in ahead:
            writer.write(image)
    finally:
        ahead.close()
        writer.close()


def write_summary(summary: dict, outputs: StagedOutputs) -> None:
    """``summary.json`` into the open outputs (again, when a caller adds to the summary)."""
    with outputs.writing("json") as path, open(path, "w") as f:
        json.dump(summary, f, indent=2)


def _write_outputs(result: LabResult, timeline: list, fps: float, outputs: StagedOutputs) -> None:
    paths = outputs.paths
    with outputs.writing("csv"), open(paths["csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["frame", "time_s", "track_id", "direction",
                                          "cross_frame", "position_on_line"])
        w.writeheader()
        for e in result.counter.events:
            row = e.as_row()
            row["time_s"] = round(row["time_s"], 3) if row["time_s"] is not None else ""
            w.writerow(row)
    with outputs.writing("mot"), open(paths["mot"], "w") as f:
        for r in result.mot_rows:
            f.write(f"{r[0]},{r[1]},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},{r[6]:.3f},-1,-1,-1\n")
    with outputs.writing("plot"):
        plot_counts(timeline, fps, paths["plot"],
                    title=f"{result.summary['detector']} + {result.summary['tracker']}")


def plot_counts(timeline, fps: float, path, title: str = "") -> None:
    from matplotlib.figure import Figure  # no pyplot: works under any backend, in threads too

    tl = np.asarray(timeline, float).reshape(-1, 4)
    t = tl[:, 0] / fps
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    ax.step(t, tl[:, 1], where="post", label="in")
    ax.step(t, tl[:, 2], where="post", label="out")
    ax.step(t, tl[:, 3], where="post", label="distinct people", linestyle="--", color="k")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("cumulative count")
    ax.set_title(("line crossings" + (f" — {title}" if title else "")), fontsize=10)
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
