"""The lab's outputs are transactional and safe (issue 14): staged and moved into place on
success, a locked folder, a manifest of what a lab run wrote, no writing through links, Ctrl-C
and disk-full leave the previous outputs untouched, huge line coordinates draw, and the synthetic
fallback's ground truth covers the frames processed. All on generated video."""

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from companion.lab import cli, pipeline
from companion.lab.outputs import MANIFEST_NAME, STAGING_PREFIX, OutputFolderBusy, StagedOutputs
from companion.lab.scenarios import make_scene

FAST = ["--max-frames", "12", "--no-video"]


def _snapshot(folder: Path) -> dict:
    """name -> sha256 (or the link target) of everything in a folder, hidden files included."""
    out = {}
    for p in sorted(folder.iterdir()):
        if p.is_symlink():
            out[p.name] = "link->" + os.readlink(p)
        elif p.is_file():
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[p.name] = "dir"
    return out


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    scene, line = make_scene("crossings", 0)
    path = tmp_path_factory.mktemp("video") / "street.mp4"
    scene.write_video(path)
    return path


@pytest.fixture
def previous(video, tmp_path):
    """An output folder holding one complete lab run (video included, 20 frames)."""
    out = tmp_path / "out"
    assert cli.main(["--video", str(video), "--out", str(out), "--max-frames", "20", "--json"]) == 0
    return out


def _manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST_NAME).read_text())["files"]


def test_manifest_records_the_files_and_a_rerun_replaces_them(video, previous, capsys):
    out = previous
    snap = _snapshot(out)
    assert set(snap) == {"annotated.mp4", "counts.png", "crossings.csv", "tracks_mot.txt",
                         "summary.json", MANIFEST_NAME}  # no staging folder left behind
    manifest = _manifest(out)
    assert {n: m["sha256"] for n, m in manifest.items()} == {
        n: [h] for n, h in snap.items() if n != MANIFEST_NAME}
    # the lab replaces its own files; a run without video removes the earlier run's video
    assert cli.main(["--video", str(video), "--out", str(out), *FAST]) == 0
    snap2 = _snapshot(out)
    assert set(snap2) == set(snap) - {"annotated.mp4"}
    assert snap2["summary.json"] != snap["summary.json"]
    assert json.loads((out / "summary.json").read_text())["frames"] == 12
    assert {n: m["sha256"] for n, m in _manifest(out).items()} == {
        n: [h] for n, h in snap2.items() if n != MANIFEST_NAME}


def test_refuses_to_overwrite_files_a_lab_run_did_not_write(video, capsys):
    folder = video.parent  # --out = the video's own folder, holding the user's files
    (folder / "summary.json").write_text('{"mine": true}')
    (folder / "crossings.csv").write_text("my,own,data\n")
    try:
        before = _snapshot(folder)
        assert cli.main(["--video", str(video), "--out", str(folder), *FAST]) == 2
        err = capsys.readouterr().err
        assert "summary.json (not written by a lab run)" in err
        assert "crossings.csv (not written by a lab run)" in err
        assert "never overwrites" in err
        assert _snapshot(folder) == before  # nothing written: no manifest, no staging folder
    finally:
        (folder / "summary.json").unlink()
        (folder / "crossings.csv").unlink()


def test_refuses_a_lab_file_edited_since(video, previous, capsys):
    (previous / "crossings.csv").write_text("my notes\n")
    before = _snapshot(previous)
    assert cli.main(["--video", str(video), "--out", str(previous), *FAST]) == 2
    assert "crossings.csv (changed since a lab run wrote it)" in capsys.readouterr().err
    assert _snapshot(previous) == before


def test_empty_out_is_refused(video, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for empty in ("", "  "):
        assert cli.main(["--video", str(video), "--out", empty, *FAST]) == 2
        assert "--out is empty" in capsys.readouterr().err
    scene, line = make_scene("crossings", 0)
    with pytest.raises(ValueError, match="output folder is empty"):
        pipeline.run_lab(scene.frames[:5], line=line, out_dir="", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_symlinked_output_is_never_written_through(video, previous, tmp_path, capsys):
    target = tmp_path / "precious.json"
    target.write_text("do not overwrite")
    (previous / "summary.json").unlink()
    (previous / "summary.json").symlink_to(target)
    before = _snapshot(previous)
    assert cli.main(["--video", str(video), "--out", str(previous), *FAST]) == 2
    assert "summary.json (a symbolic link" in capsys.readouterr().err
    assert target.read_text() == "do not overwrite"
    assert _snapshot(previous) == before


def test_a_second_run_into_a_folder_in_use_says_so(video, previous, capsys):
    before = _snapshot(previous)
    with StagedOutputs(previous, pipeline.output_names()) as held:  # another run holds it
        assert held.staging.name.startswith(STAGING_PREFIX)
        assert cli.main(["--video", str(video), "--out", str(previous), *FAST]) == 2
        assert "is in use by another lab run" in capsys.readouterr().err
        with pytest.raises(OutputFolderBusy):
            StagedOutputs(previous, {"json": "summary.json"}).open()
    assert _snapshot(previous) == before  # the holder never committed: nothing changed
    assert cli.main(["--video", str(video), "--out", str(previous), *FAST]) == 0  # lock released


def _interrupting_frames(monkeypatch, after: int, exc: BaseException):
    import companion.io

    real = companion.io.iter_frames

    def frames(*args, **kw):
        for i, f in enumerate(real(*args, **kw)):
            if i == after:
                raise exc
            yield f
    monkeypatch.setattr(companion.io, "iter_frames", frames)


def test_ctrl_c_prints_one_line_and_keeps_the_previous_outputs(video, previous, monkeypatch,
                                                                capsys):
    before = _snapshot(previous)
    capsys.readouterr()
    _interrupting_frames(monkeypatch, 5, KeyboardInterrupt())
    assert cli.main(["--video", str(video), "--out", str(previous), "--max-frames", "20"]) == 130
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.replace("\r", "\n").splitlines()
             if ln.strip() and not ln.startswith("lab:")]  # tqdm's bar is "lab: ..."
    assert len(lines) == 1 and lines[0].startswith("interrupted (Ctrl-C): nothing was written")
    assert "Traceback" not in captured.err + captured.out
    assert _snapshot(previous) == before


@pytest.mark.parametrize("where,name", [("plot", "counts.png"), ("video", "annotated.mp4")])
def test_disk_full_names_the_file_and_keeps_the_previous_outputs(video, previous, monkeypatch,
                                                                  capsys, where, name):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "plot":
        monkeypatch.setattr(pipeline, "plot_counts", full)
    else:
        real, calls = pipeline._VideoWriter.write, []

        def write(self, rgb):
            calls.append(1)
            if len(calls) > 3:
                full()
            real(self, rgb)
        monkeypatch.setattr(pipeline._VideoWriter, "write", write)
    before = _snapshot(previous)
    capsys.readouterr()
    assert cli.main(["--video", str(video), "--out", str(previous), "--max-frames", "20"]) == 2
    err = capsys.readouterr().err
    assert f"could not write {previous / name}: No space left on device" in err
    assert "previous outputs" in err and "unchanged" in err
    assert _snapshot(previous) == before


def test_huge_line_coordinates_are_clipped_before_drawing(tmp_path):
    from companion.io import video_info
    from companion.lab.count import LineCounter

    scene, _ = make_scene("crossings", 0)
    frame = scene.frames[0]
    h, w = frame.shape[:2]
    tracked = pipeline.sv.Detections.empty()
    for line, pixel in [((192.0, 280.0, 192.0, -2.0 ** 33), (150, 192)),     # vertical, y < -2**31
                        ((-2.0 ** 40, 100.0, 2.0 ** 40, 100.0), (100, 300))]:  # horizontal, both ends
        img = pipeline.Annotator(line).draw(frame, tracked, LineCounter(line), [], 0)
        assert tuple(img[pixel]) == (255, 220, 0)  # the line is drawn where it crosses the frame
        assert (img != frame).any()
    line = (192.0, 280.0, 192.0, -2.0 ** 33)
    res = pipeline.run_lab(scene.frames[:8], line=line, out_dir=tmp_path / "o", progress=False)
    assert video_info(res.outputs["video"]).num_frames == 8


def test_clip_segment_to_rect():
    from companion.lab.count import clip_segment_to_rect

    a, b = clip_segment_to_rect((50.0, 1e12), (50.0, -1e12), 100, 80)
    np.testing.assert_allclose([a, b], [[50, 80], [50, 0]])
    assert clip_segment_to_rect((-10.0, -10.0), (-5.0, 500.0), 100, 80) is None


def test_synthetic_fallback_ground_truth_covers_the_frames_processed(monkeypatch, tmp_path, capsys):
    import companion.data
    from companion.errors import AssetUnavailableError
    from companion.lab.count import count_trajectories
    from companion.synthetic.street import make_street_scene

    def unavailable(**kw):
        raise AssetUnavailableError("no network in this test")

    monkeypatch.setattr(companion.data, "street_clip", unavailable)
    assert cli.main(["--out", str(tmp_path), "--json", "--max-frames", "100", "--no-video"]) == 0
    summary = json.loads(capsys.readouterr().out)
    scene = make_street_scene(seed=cli.SYNTHETIC_SEED, num_frames=200, size=(384, 288),
                              num_people=8)
    part = count_trajectories({k: v[:100] for k, v in scene.anchor_tracks.items()},
                              summary["line"], min_frames=3)
    whole = count_trajectories(scene.anchor_tracks, summary["line"], min_frames=3)
    expected = {"in_count": part.in_count, "out_count": part.out_count,
                "distinct": part.distinct, "frames": 100}
    assert summary["frames"] == 100 and summary["ground_truth"] == expected
    assert (whole.in_count, whole.out_count) != (part.in_count, part.out_count)  # it matters here
    assert summary["video"] == str(tmp_path / "synthetic_street.mp4")
    assert "synthetic_street.mp4" in _manifest(tmp_path)


# ---- real processes: SIGINT, and two runs at once ---------------------------------------------

def _terminal_ctrl_c():
    """In the child, before Python starts: Ctrl-C as in a terminal. A child inherits an *ignored*
    SIGINT (``SIG_IGN``, set by whatever else ran in this test worker, e.g. a kernel) and Python then
    never installs its KeyboardInterrupt handler, so the run would not be interruptible at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _lab(video, out, *extra):
    return subprocess.Popen([sys.executable, "-m", "companion", "lab", "--video", str(video),
                             "--out", str(out), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_terminal_ctrl_c)


def test_sigint_to_a_running_lab_keeps_the_previous_outputs(video, previous):
    before = _snapshot(previous)
    proc = _lab(video, previous)
    deadline = time.monotonic() + 120
    while not list(previous.glob(STAGING_PREFIX + "*")):  # the run has opened its staging folder
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (f"SIGINT in this worker: {signal.getsignal(signal.SIGINT)}", err[-2000:])
    assert "Traceback" not in err
    assert err.count("interrupted (Ctrl-C): nothing was written") == 1
    assert _snapshot(previous) == before


def test_two_runs_at_once_never_mix_or_both_win_silently(video, tmp_path):
    from companion.io import video_info

    out = tmp_path / "shared"
    procs = [_lab(video, out, "--max-frames", "40", "--json") for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    results = [(p.returncode, o) for p, o in zip(procs, outs)]
    codes = sorted(rc for rc, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for rc, (_, err) in results:
        if rc == 2:
            assert "is in use by another lab run" in err
    snap = _snapshot(out)
    assert {n: m["sha256"] for n, m in _manifest(out).items()} == {
        n: [h] for n, h in snap.items() if n != MANIFEST_NAME}  # one run's files, complete
    assert video_info(out / "annotated.mp4").num_frames == 40
    assert json.loads((out / "summary.json").read_text())["frames"] == 40


def test_ctrl_c_just_as_the_staging_folder_is_made_leaves_no_folder_behind(tmp_path, monkeypatch):
    """Ctrl-C delivered the moment the staging folder exists, before the run has named it: the
    interrupt is held back until the folder is named, so the run still removes it."""
    import tempfile

    import companion.lab.outputs as outputs

    real = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        made = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler at the next instruction
        return made

    monkeypatch.setattr(outputs.tempfile, "mkdtemp", mkdtemp)
    (tmp_path / "out").mkdir()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            outputs.StagedOutputs(tmp_path / "out", {"summary": "summary.json"}).open()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [p.name for p in (tmp_path / "out").iterdir()] == []
