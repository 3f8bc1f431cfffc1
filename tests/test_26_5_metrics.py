"""mot_metrics: the TUD reference figures, parity with motmetrics and trackers.eval, edge cases."""

import numpy as np
import pytest

from companion.tracking import ByteTrack, SORT, mot_metrics, noisy_detections, run_tracker, tud_sequence

REFERENCE = {  # reference-facts.md, 26.5 (motmetrics' shipped TUD data, test.txt as hypotheses)
    "TUD-Campus": dict(MOTA=0.526462, IDF1=0.557659, FP=13, FN=150, IDSW=7, HOTA=0.3914),
    "TUD-Stadtmitte": dict(MOTA=0.564014, IDF1=0.644619, FP=45, FN=452, IDSW=7, HOTA=0.3978),
}


@pytest.mark.parametrize("seq", sorted(REFERENCE))
def test_reference_figures_on_tud(seq):
    m = mot_metrics(tud_sequence(seq), tud_sequence(seq, "test"))
    ref = REFERENCE[seq]
    assert m["MOTA"] == pytest.approx(ref["MOTA"], abs=1e-6)
    assert m["IDF1"] == pytest.approx(ref["IDF1"], abs=1e-6)
    assert (m["FP"], m["FN"], m["IDSW"]) == (ref["FP"], ref["FN"], ref["IDSW"])
    assert m["HOTA"] == pytest.approx(ref["HOTA"], abs=5e-5)


def _motmetrics(gt, hyp):
    import motmetrics as mm
    import pandas as pd

    def frame(rows):
        df = pd.DataFrame(rows[:, :6], columns=["FrameId", "Id", "X", "Y", "Width", "Height"])
        df[["FrameId", "Id"]] = df[["FrameId", "Id"]].astype(int)
        return df.set_index(["FrameId", "Id"])

    acc = mm.utils.compare_to_groundtruth(frame(gt), frame(hyp), "iou", distth=0.5)
    s = mm.metrics.create().compute(acc, metrics=["mota", "motp", "idf1", "num_false_positives",
                                                  "num_misses", "num_switches"], name="x")
    return s.iloc[0]


def _trackers_eval(tmp_path, gt, hyp):
    from trackers.eval import evaluate_mot_sequence

    g = np.asarray(gt, dtype=float)[:, :6]
    g = np.column_stack([g, np.ones(len(g)), np.ones(len(g)), np.ones(len(g))])  # conf 1, class 1
    np.savetxt(tmp_path / "gt.txt", g, delimiter=",", fmt="%.4f")
    h = np.asarray(hyp, dtype=float)[:, :6]
    np.savetxt(tmp_path / "hyp.txt", np.column_stack([h, np.ones(len(h))]), delimiter=",", fmt="%.4f")
    return evaluate_mot_sequence(tmp_path / "gt.txt", tmp_path / "hyp.txt", metrics=["CLEAR", "HOTA", "Identity"])


def _cases():
    gt = tud_sequence("TUD-Campus")
    yield "campus-test", gt, tud_sequence("TUD-Campus", "test")
    gt2 = tud_sequence("TUD-Stadtmitte")
    yield "stadtmitte-test", gt2, tud_sequence("TUD-Stadtmitte", "test")
    dets = noisy_detections(gt2, seed=1, image_size=(640, 480))
    yield "stadtmitte-bytetrack", gt2, run_tracker(ByteTrack(frame_rate=25), dets)[0]
    yield "stadtmitte-sort", gt2, run_tracker(SORT(frame_rate=25), dets)[0]


@pytest.mark.parametrize("name,gt,hyp", list(_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_parity_with_motmetrics_and_trackers_eval(tmp_path, name, gt, hyp):
    ours = mot_metrics(gt, hyp)
    mm = _motmetrics(gt, hyp)
    assert ours["MOTA"] == pytest.approx(mm["mota"], abs=1e-3)
    assert ours["IDF1"] == pytest.approx(mm["idf1"], abs=1e-3)
    assert 1 - ours["MOTP"] == pytest.approx(mm["motp"], abs=1e-3)  # motmetrics reports a distance
    te = _trackers_eval(tmp_path, gt, hyp)
    assert ours["MOTA"] == pytest.approx(te.CLEAR.MOTA, abs=1e-3)
    assert ours["MOTP"] == pytest.approx(te.CLEAR.MOTP, abs=1e-3)
    assert ours["IDF1"] == pytest.approx(te.Identity.IDF1, abs=1e-3)
    assert ours["HOTA"] == pytest.approx(te.HOTA.HOTA, abs=1e-3)
    assert ours["DetA"] == pytest.approx(te.HOTA.DetA, abs=1e-3)
    assert ours["AssA"] == pytest.approx(te.HOTA.AssA, abs=1e-3)
    assert (ours["FP"], ours["FN"], ours["IDSW"]) == (te.CLEAR.CLR_FP, te.CLEAR.CLR_FN, te.CLEAR.IDSW)


def test_known_answers():
    gt = np.array([[1, 1, 0, 0, 10, 20], [2, 1, 1, 0, 10, 20], [3, 1, 2, 0, 10, 20],
                   [1, 2, 50, 0, 10, 20], [2, 2, 51, 0, 10, 20], [3, 2, 52, 0, 10, 20]], float)
    perfect = gt.copy()
    perfect[:, 1] += 10  # ids need not agree, only be consistent
    m = mot_metrics(gt, perfect)
    assert m["MOTA"] == 1 and m["IDF1"] == 1 and m["IDSW"] == 0 and m["HOTA"] == pytest.approx(1.0)
    # an identity switch: hypothesis ids swap in frame 3
    sw = perfect.copy()
    sw[2, 1], sw[5, 1] = 12, 11
    m = mot_metrics(gt, sw)
    assert m["IDSW"] == 2 and m["MOTA"] == pytest.approx(1 - 2 / 6) and m["IDF1"] == pytest.approx(4 / 6)
    # nothing tracked: every object missed
    m = mot_metrics(gt, np.zeros((0, 6)))
    assert m["MOTA"] == 0 and m["FN"] == 6 and m["IDF1"] == 0 and m["HOTA"] == 0
    # tentative (negative) ids are ignored, MOT17 "ignore" rows (conf 0) too
    tent = perfect.copy()
    tent[:, 1] = -1
    assert mot_metrics(gt, tent)["FN"] == 6
    gt_ign = np.column_stack([gt, np.r_[np.ones(3), np.zeros(3)]])
    assert mot_metrics(gt_ign, perfect[:3])["MOTA"] == 1


def test_metric_input_errors(tmp_path):
    gt = np.array([[1, 1, 0, 0, 10, 20.0]])
    with pytest.raises(ValueError, match=">= 6 columns"):
        mot_metrics(gt[:, :4], gt)
    with pytest.raises(ValueError, match="NaN"):
        mot_metrics(gt, np.array([[1, 1, np.nan, 0, 10, 20.0]]))
    with pytest.raises(ValueError, match="same id twice"):
        mot_metrics(np.vstack([gt, gt]), gt)
    with pytest.raises(ValueError, match="width and height"):
        mot_metrics(gt, np.array([[1, 1, 0, 0, -10, 20.0]]))
    with pytest.raises(FileNotFoundError):
        mot_metrics(tmp_path / "missing.txt", gt)
    with pytest.raises(ValueError, match="iou_threshold"):
        mot_metrics(gt, gt, iou_threshold=0)
    # files work too
    np.savetxt(tmp_path / "g.txt", gt, delimiter=",")
    assert mot_metrics(tmp_path / "g.txt", gt)["MOTA"] == 1


def test_timeline_switches_agree_with_idsw():
    """The timeline pictures use the same matching as MOTA: counting changes of hypothesis id per
    person gives the metric's ID switches."""
    from companion.tracking import match_timeline

    gt = tud_sequence("TUD-Stadtmitte")
    for hyp in (tud_sequence("TUD-Stadtmitte", "test"),
                run_tracker(SORT(frame_rate=25), noisy_detections(gt, seed=3, image_size=(640, 480)))[0]):
        _, tl = match_timeline(gt, hyp)
        switches = 0
        for h in tl.values():
            seen = h[~np.isnan(h)]
            switches += int(np.sum(seen[1:] != seen[:-1]))
        assert switches == mot_metrics(gt, hyp, hota=False)["IDSW"]
