"""The whole pipeline (detect -> track -> count) against exact ground truth on scripted synthetic
street scenes: crossings both ways, turn-backs, groups, occlusions.

Ground truth = the counting definition applied to the generator's *true* foot points
(:func:`companion.lab.scenarios.ground_truth`); the pipeline sees only the rendered pixels.
Two scenes of this set are known failures of the default detector + tracker and are marked
``xfail(strict=True)`` (the test fails if they start passing, so the list stays true):

* crossings seed 2 — one ``in`` missed (4 in / 1 out true, 3 / 1 counted);
* occlusions seed 2 — one crossing lost and one person fewer in ``distinct``.

Over seeds 0-7 of all four kinds the default pipeline is exact on 27 of 32 scenes (see the
lab notebook and the closing report).
"""

import numpy as np
import pytest

from companion.lab.pipeline import run_lab
from companion.lab.scenarios import KINDS, ground_truth, make_scene

KNOWN_FAILURES = {("crossings", 2), ("occlusions", 2)}
CASES = [pytest.param(kind, seed, marks=pytest.mark.xfail(strict=True, reason="known failure, see module doc")
                      if (kind, seed) in KNOWN_FAILURES else ())
         for kind in KINDS for seed in range(3)]


@pytest.mark.parametrize("kind,seed", CASES)
def test_counts_equal_ground_truth(kind, seed):
    scene, line = make_scene(kind, seed)
    gt = ground_truth(scene, line)
    res = run_lab(scene.frames, line=line, fps=scene.fps, write_files=False, progress=False)
    assert (res.in_count, res.out_count, res.distinct) == (gt.in_count, gt.out_count, gt.distinct)


@pytest.mark.parametrize("kind", KINDS)
def test_scenarios_have_what_they_promise(kind):
    """Every scripted scene has crossings, and each kind its own feature."""
    scene, line = make_scene(kind, 0)
    gt = ground_truth(scene, line)
    assert gt.in_count + gt.out_count >= 3
    if kind == "turnbacks":  # someone crosses and comes back; someone turns back before the line
        assert gt.in_count + gt.out_count > gt.distinct
        assert gt.distinct < len(scene.people)
    if kind == "groups":
        assert len(scene.people) >= 5
    if kind == "occlusions":
        assert scene.occluders and np.nanmin(np.concatenate(list(scene.visibility.values()))) < 0.5


def test_tracker_choice_and_outputs(tmp_path):
    """Each tracker runs through the same pipeline; files and summary are consistent."""
    scene, line = make_scene("crossings", 0)
    gt = ground_truth(scene, line)
    for name in ("sort", "trackers-bytetrack"):
        res = run_lab(scene.frames[:120], line=line, tracker=name, write_files=False, progress=False)
        assert res.summary["tracker"] == name and res.summary["frames"] == 120
        assert res.in_count + res.out_count <= gt.in_count + gt.out_count
    res = run_lab(scene.frames, line=line, out_dir=tmp_path, progress=False)
    assert (res.in_count, res.out_count) == (gt.in_count, gt.out_count)
    rows = np.loadtxt(tmp_path / "tracks_mot.txt", delimiter=",", ndmin=2)
    assert rows.shape[1] == 10 and rows[:, 0].min() >= 1 and rows[:, 1].min() >= 1
    lines = (tmp_path / "crossings.csv").read_text().strip().splitlines()
    assert lines[0].startswith("frame,time_s,track_id,direction")
    assert len(lines) - 1 == res.in_count + res.out_count


def test_deepsort_runs():
    scene, line = make_scene("crossings", 0)
    res = run_lab(scene.frames[:60], line=line, tracker="deepsort", write_files=False, progress=False)
    assert res.summary["tracker"] == "deepsort" and res.summary["frames"] == 60


def test_bad_frames_and_tracker():
    with pytest.raises(ValueError, match="uint8"):
        run_lab(np.zeros((3, 10, 10, 3), np.float32), write_files=False)
    with pytest.raises(ValueError, match="unknown tracker"):
        run_lab(np.zeros((3, 32, 32, 3), np.uint8), tracker="kcf", write_files=False)
    with pytest.raises(TypeError, match="path or"):
        run_lab(12, write_files=False)
