"""The lab's detect-ahead thread: same detections, same order, errors and Ctrl-C in the caller."""

import threading
import time

import numpy as np
import pytest

from companion.lab.pipeline import DetectAhead, run_lab


def _frames(n):
    return [np.full((8, 8, 3), i, np.int32) for i in range(n)]


def test_yields_every_frame_with_its_own_detections_in_order():
    seen_threads = set()

    def detector(frame):
        seen_threads.add(threading.current_thread().name)
        return int(frame[0, 0, 0]) * 10

    out = list(DetectAhead(iter(_frames(50)), detector, depth=3))
    assert [int(f[0, 0, 0]) for f, _ in out] == list(range(50))
    assert [d for _, d in out] == [10 * i for i in range(50)]
    assert seen_threads == {"lab-detect-ahead"}  # the detector ran in the other thread


def test_an_error_in_the_thread_is_raised_in_the_caller():
    def detector(frame):
        if frame[0, 0, 0] == 7:
            raise RuntimeError("bad frame 7")
        return 0

    got = []
    with pytest.raises(RuntimeError, match="bad frame 7"):
        for f, _ in DetectAhead(iter(_frames(20)), detector):
            got.append(int(f[0, 0, 0]))
    assert got == list(range(7))


def test_close_stops_the_thread_early_and_frees_it():
    calls = []

    def detector(frame):
        calls.append(int(frame[0, 0, 0]))
        time.sleep(0.01)
        return 0

    ahead = DetectAhead(iter(_frames(1000)), detector, depth=2)
    it = iter(ahead)
    next(it), next(it)
    ahead.close()
    assert not ahead._thread.is_alive()
    assert len(calls) < 10  # it did not run on to the end of the video


def test_keyboard_interrupt_in_the_caller_stops_the_thread(tmp_path):
    """Ctrl-C while the lab runs (raised in the caller's loop): no thread is left detecting."""
    frames = np.random.default_rng(0).integers(0, 255, (40, 48, 64, 3), np.uint8)
    calls = []

    class Slow:
        name = "slow"

        def __call__(self, frame):
            import supervision as sv

            calls.append(1)
            time.sleep(0.005)
            return sv.Detections.empty()

    class Interrupting:
        name = "interrupting"

        def __init__(self):
            self.n = 0

        def update(self, detections):
            self.n += 1
            if self.n == 5:
                raise KeyboardInterrupt
            detections.tracker_id = np.full(len(detections), -1, int)
            return detections

    before = {t.name for t in threading.enumerate()}
    with pytest.raises(KeyboardInterrupt):
        run_lab(frames, detector=Slow(), tracker=Interrupting(), out_dir=tmp_path / "out",
                progress=False, reidentify=False, stitch=False)
    assert "lab-detect-ahead" not in {t.name for t in threading.enumerate()} - before
    assert len(calls) < 40
    assert not (tmp_path / "out" / "summary.json").exists()


def test_detectors_that_take_hints_run_in_the_callers_thread():
    """Background subtraction (``uses_hints``) is never moved to the detect-ahead thread: OpenCV's
    background models draw random numbers per thread, so the masks would change."""
    import supervision as sv

    frames = np.zeros((6, 32, 32, 3), np.uint8)
    threads = []

    class Hinted:
        name, uses_hints = "hinted", True

        def __call__(self, frame, hints=None):
            threads.append(threading.current_thread().name)
            return sv.Detections.empty()

    for hint_boxes in (True, False):
        threads.clear()
        run_lab(frames, detector=Hinted(), write_files=False, progress=False, hint_boxes=hint_boxes)
        assert threads == [threading.current_thread().name] * 6


def test_a_detector_with_a_stream_is_streamed_in_the_thread_and_closed():
    """A detector with ``stream(frames)`` (the motion-gated SSD) is iterated, not called frame by
    frame, in the detect-ahead thread; stopping early closes its stream."""
    events = []

    class Streaming:
        def __call__(self, frame):
            raise AssertionError("a streaming detector is not called frame by frame")

        def stream(self, frames):
            events.append(threading.current_thread().name)
            try:
                for f in frames:
                    yield f, int(f[0, 0, 0]) + 100
            finally:
                events.append("closed")

    out = list(DetectAhead(iter(_frames(10)), Streaming()))
    assert [d for _, d in out] == [100 + i for i in range(10)]
    assert events == ["lab-detect-ahead", "closed"]
    events.clear()
    ahead = DetectAhead(iter(_frames(1000)), Streaming(), depth=2)
    next(iter(ahead))
    ahead.close()
    assert events == ["lab-detect-ahead", "closed"]


def test_detect_frames_streams_when_it_can_and_calls_otherwise():
    """``detect_frames``: a detector's own stream when it has one, else one call a frame — the
    same pairs either way (the benches, the lab notebook and the lab all go through it)."""
    from companion.lab.detect import detect_frames

    def plain(frame):
        return int(frame[0, 0, 0]) * 2

    class Streaming:
        def __call__(self, frame):
            raise AssertionError("not called frame by frame")

        def stream(self, frames):
            for f in frames:
                yield f, plain(f)

    a = [(int(f[0, 0, 0]), d) for f, d in detect_frames(plain, iter(_frames(7)))]
    b = [(int(f[0, 0, 0]), d) for f, d in detect_frames(Streaming(), iter(_frames(7)))]
    assert a == b == [(i, 2 * i) for i in range(7)]
