"""``python -m companion lab``: the main command, its options, --json, the synthetic fallback,
and clear errors for every bad input (the input video is never modified)."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from companion.lab import cli
from companion.lab.scenarios import ground_truth, make_scene


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    scene, line = make_scene("crossings", 0)
    path = tmp_path_factory.mktemp("video") / "street.mp4"
    scene.write_video(path)
    return path, scene, line


def test_json_summary_and_outputs(small_video, tmp_path, capsys):
    path, scene, line = small_video
    before = _sha(path)
    out = tmp_path / "out"
    rc = cli.main(["--video", str(path), "--line", *map(str, line), "--out", str(out), "--json",
                   "--detector", "bgsub"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)  # stdout holds only the JSON
    for key in ("frames", "in_count", "out_count", "distinct", "fps", "detector", "tracker"):
        assert key in summary
    assert summary["frames"] == len(scene.frames) and summary["tracker"] == "bytetrack"
    assert summary["detector"] == "bgsub-knn" and summary["fps"] > 0
    gt = ground_truth(scene, line)  # H.264 round trip, same counts as in memory
    assert (summary["in_count"], summary["out_count"], summary["distinct"]) == (
        gt.in_count, gt.out_count, gt.distinct)
    for name in ("annotated.mp4", "counts.png", "crossings.csv", "tracks_mot.txt", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    from companion.io import video_info

    assert video_info(out / "annotated.mp4").num_frames == len(scene.frames)
    assert _sha(path) == before
    ident = summary["identities"]  # the offline identity stage ran (the default) ...
    assert ident["tracklets"] >= ident["tracks"] >= 1 and ident["people"] >= summary["distinct"]
    mot_ids = {int(r.split(",")[1]) - 1 for r in (out / "tracks_mot.txt").read_text().splitlines()}
    rows = (out / "crossings.csv").read_text().splitlines()[1:]
    assert rows and {int(r.split(",")[2]) for r in rows} <= mot_ids  # ... one set of ids
    rc = cli.main(["--video", str(path), "--line", *map(str, line), "--out", str(tmp_path / "o2"),
                   "--json", "--detector", "bgsub", "--online-ids", "--no-video"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["identities"] is None


def test_human_output_prints_counts_and_convention(small_video, tmp_path, capsys):
    path, _, _ = small_video
    rc = cli.main(["--video", str(path), "--out", str(tmp_path), "--max-frames", "40", "--detector", "bgsub",
                   "--tracker", "trackers-bytetrack", "--no-video", "--every", "2"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "40 frames (1 in 2 looked at: 20) at" in text
    assert "'in' = anchor (foot point) crosses from the left to the right" in text
    assert "in: " in text and "distinct people who crossed" in text
    assert not (tmp_path / "annotated.mp4").exists()


@pytest.mark.parametrize("args,message", [
    (["--line", "10", "10", "10", "10"], "zero length"),
    (["--line", "-50", "-50", "-10", "-60"], "entirely outside"),
    (["--line", "500", "0", "600", "100"], "entirely outside"),
    (["--every", "0"], "--every must be >= 1"),
])
def test_bad_lines(small_video, tmp_path, capsys, args, message):
    path, _, _ = small_video
    rc = cli.main(["--video", str(path), "--out", str(tmp_path), *args])
    assert rc == 2 and message in capsys.readouterr().err


def test_unreadable_and_missing_video(tmp_path, capsys):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    assert cli.main(["--video", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "cannot decode" in capsys.readouterr().err
    assert bad.read_text() == "this is not a video"
    assert cli.main(["--video", str(tmp_path / "missing.avi")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_unwritable_output_folder(small_video, tmp_path, capsys):
    path, _, _ = small_video
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert cli.main(["--video", str(path), "--out", str(blocker)]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert cli.main(["--video", str(path), "--out", str(blocker / "sub")]) == 2
    assert "cannot write to the output folder" in capsys.readouterr().err


def test_output_equal_to_input_is_refused(small_video, tmp_path, capsys):
    path, _, _ = small_video
    before = _sha(path)
    assert cli.main(["--video", str(path), "--out", str(path)]) == 2
    assert "input video" in capsys.readouterr().err
    # a video that sits where an output would be written
    victim = tmp_path / "annotated.mp4"
    victim.write_bytes(path.read_bytes())
    assert cli.main(["--video", str(victim), "--out", str(tmp_path)]) == 2
    assert "would overwrite the input video" in capsys.readouterr().err
    assert _sha(victim) == before and _sha(path) == before


def test_unknown_names_exit_with_usage(capsys):
    for args in (["--detector", "yolo"], ["--tracker", "kcf"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(args)
        assert exc.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


def test_synthetic_fallback_when_the_clip_is_unavailable(monkeypatch, tmp_path, capsys):
    import companion.data
    from companion.errors import AssetUnavailableError

    def unavailable(**kw):
        raise AssetUnavailableError("no network in this test")

    monkeypatch.setattr(companion.data, "street_clip", unavailable)
    rc = cli.main(["--out", str(tmp_path), "--json", "--max-frames", "60", "--no-video"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "COULD NOT BE FETCHED" in captured.err and "SYNTHETIC" in captured.err
    summary = json.loads(captured.out)
    assert summary["source"] == "synthetic" and "ground_truth" in summary
    assert (tmp_path / "synthetic_street.mp4").exists()


@pytest.mark.needs_clip
def test_main_command_on_the_real_clip(street_clip_path, tmp_path):
    """The README's main command (shortened to 60 frames) as a subprocess."""
    res = subprocess.run([sys.executable, "-m", "companion", "lab", "--out", str(tmp_path),
                          "--max-frames", "60", "--json"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["source"] == "street_clip" and summary["frames"] == 60
    assert summary["line"] == [560.0, 470.0, 560.0, 150.0]
    assert summary["out_count"] >= 2  # two people walk leftward across the line by frame 60
    assert (tmp_path / "annotated.mp4").exists()
