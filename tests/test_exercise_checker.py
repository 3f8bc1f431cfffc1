"""The exercise checker never misjudges (issue 14): tensor answers, endless functions, huge
answers, learner prints, bfloat16/sparse/complex/object results, bad hint levels, and hints that
pass their own checks when followed literally (26.5 q3/q4, lab q2)."""

import threading

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from companion.exercises import CORRECT, INCORRECT, NOT_ATTEMPTED, FunctionExercise, ValueExercise
from companion.exercises import ex26_5, ex_lab
from companion.tracking.boxes import box_iou


# ---- tensors as answers ------------------------------------------------------------------------

@pytest.mark.parametrize("answer", [torch.tensor(3.5), torch.tensor([3.5]), torch.tensor([[3.5]]),
                                    torch.tensor(3.5, requires_grad=True) * 1, np.array(3.5),
                                    np.float32(3.5), torch.tensor(3.5, dtype=torch.bfloat16)])
def test_a_number_given_as_a_0d_or_1_element_tensor_is_accepted(answer):
    assert ValueExercise("qn", "a number", lambda: 3.5).check(answer).state == CORRECT
    assert ValueExercise("qi", "an int", lambda: 4).check(answer + 0.5).state == CORRECT


def test_a_tensor_with_several_elements_is_not_a_number():
    fb = ValueExercise("qn", "a number", lambda: 3.5).check(torch.tensor([3.5, 1.0]))
    assert fb.state == INCORRECT and "should be a number" in fb.message
    assert "shape (2,)" in fb.message


def test_a_function_returning_a_0d_tensor_for_a_float_reference():
    ex = FunctionExercise("qm", "mean", lambda x: float(np.mean(x)), cases=[(np.arange(5.0),)])
    assert ex.check(lambda x: torch.as_tensor(x).mean()).state == CORRECT
    assert ex.check(lambda x: torch.as_tensor(x).sum()).state == INCORRECT


# ---- time limit ------------------------------------------------------------------------------

def test_an_endless_function_is_stopped_with_a_clear_message():
    left = threading.Event()

    def endless(x):
        try:
            while True:
                pass
        finally:
            left.set()

    ex = FunctionExercise("qt", "square", lambda x: x * x, cases=[(2.0,)], time_limit=0.5)
    fb = ex.check(endless)
    assert fb.state == INCORRECT
    assert "your function did not return within 0.5 s" in fb.message
    assert "it was stopped" in fb.message and left.is_set()


def test_a_function_stuck_in_a_c_call_cannot_be_stopped_but_the_check_returns():
    release, returned = threading.Event(), threading.Event()

    def stuck(x):
        release.wait()  # one blocking C call: Python cannot interrupt it
        returned.set()
        return x * x

    ex = FunctionExercise("qt", "square", lambda x: x * x, cases=[(2.0,)], time_limit=0.3)
    fb = ex.check(stuck)
    assert not returned.is_set()  # the check came back while the function still runs
    assert "did not return within 0.3 s" in fb.message
    assert "could not be stopped" in fb.message and "restart the kernel" in fb.message
    release.set()


# ---- feedback size and prints ----------------------------------------------------------------

def test_huge_answers_are_summarised():
    huge = list(range(10 ** 7))
    for ex in (ValueExercise("q", "a number", lambda: 3.0), ValueExercise("q", "a dict", lambda: {"a": 1}),
               ValueExercise("q", "a string", lambda: "abc")):
        fb = ex.check(huge)
        assert fb.state == INCORRECT and len(str(fb)) < 400, str(fb)[:500]
        assert "list of length 10000000" in fb.message

    class Loud:
        def __repr__(self):
            return "x" * 10 ** 6

    fb = ValueExercise("q", "a number", lambda: 3.0).check(Loud())
    assert fb.state == INCORRECT and len(fb.message) < 400

    def raises_huge(x):
        raise ValueError("y" * 10 ** 6)

    fb = FunctionExercise("q", "id", lambda x: x, cases=[(1.0,)]).check(raises_huge)
    assert "your code raised ValueError" in fb.message and len(fb.message) < 600


def test_learner_prints_are_captured_and_shown(capsys):
    def chatty(x):
        print(f"debug: x = {x}")
        return x * x

    ex = FunctionExercise("qp", "square", lambda x: x * x, cases=[(2.0,), (3.0,)])
    fb = ex.check(chatty)
    assert fb.state == CORRECT
    assert "[test case 1] debug: x = 2.0" in fb.printed and "debug: x = 3.0" in fb.printed
    assert "your code printed:" in str(fb) and "<pre>" in fb._repr_html_()
    assert "debug" not in capsys.readouterr().out  # shown with the feedback, not lost elsewhere
    fb = ex.check(lambda x: print("n" * 10 ** 6) or x)
    assert fb.state == INCORRECT and len(fb.printed) < 2200 and "more characters not shown" in fb.printed


# ---- dtypes and layouts ----------------------------------------------------------------------

def test_bfloat16_and_sparse_results_are_judged_not_blamed_on_the_learner():
    ref = lambda x: torch.as_tensor(x, dtype=torch.float32) * 2  # noqa: E731
    ex = FunctionExercise("qd", "double", ref, cases=[(np.array([0.5, 1.0, -2.0]),)])
    assert ex.check(lambda x: ref(x).to(torch.bfloat16)).state == CORRECT
    assert ex.check(lambda x: ref(x).to_sparse()).state == CORRECT
    fb = ex.check(lambda x: (ref(x) + 0.01).to(torch.bfloat16))
    assert fb.state == INCORRECT and "wrong values" in fb.message
    assert "raised" not in fb.message


@pytest.mark.parametrize("answer,word", [
    (np.array([1 + 0j, 2 + 0j]), "complex"), (torch.tensor([1 + 0j, 2 + 0j]), "complex"),
    (np.array([1.0, 2.0], dtype=object), "object"), (np.array(["1.0", "2.0"]), "string")])
def test_complex_object_and_string_arrays_are_not_real_answers(answer, word):
    fb = ValueExercise("qr", "real", lambda: np.array([1.0, 2.0])).check(answer)
    assert fb.state == INCORRECT and word in fb.message and "real numbers" in fb.message


@pytest.mark.parametrize("answer", [1 + 0j, np.complex128(1), torch.tensor(1 + 0j), np.array([1 + 0j])])
def test_complex_numbers_are_not_real_numbers(answer):
    fb = ValueExercise("qr", "real", lambda: 1.0).check(answer)
    assert fb.state == INCORRECT and "real number" in fb.message


def test_complex_answers_are_fine_when_the_reference_is_complex():
    ex = ValueExercise("qc", "complex", lambda: np.array([1 + 2j, 3j]))
    assert ex.check(np.array([1 + 2j, 3j])).state == CORRECT
    assert ex.check(np.array([1 + 2j, 3])).state == INCORRECT


def test_a_failing_checker_is_not_blamed_on_the_learner():
    def broken():
        raise RuntimeError("reference broke")

    fb = ValueExercise("qb", "anything", broken).check(1.0)
    assert "checker itself failed" in fb.message and "your code raised" not in fb.message


# ---- hints -------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", [float("nan"), float("inf"), 0, -1, 1.5, "2", None, True])
def test_bad_hint_levels_give_a_clear_message(level):
    text = str(ex26_5.q1.hint(level))
    assert "a whole number from 1 to 2" in text


def test_good_hint_levels():
    assert str(ex26_5.q1.hint(2.0)) == str(ex26_5.q1.hint(np.int64(2))) == str(ex26_5.q1.hint(99))
    assert ex26_5.q1.hints[1] in str(ex26_5.q1.hint(2))


# ---- hints agree with checks and with the published algorithms --------------------------------

def test_ex26_5_q3_hint_followed_literally_passes():
    def associate(track_boxes, det_boxes, iou_threshold=0.3):
        iou = box_iou(track_boxes, det_boxes)
        rows, cols = linear_sum_assignment(1 - iou)           # on 1 - IoU ...
        keep = iou[rows, cols] >= iou_threshold                # ... then drop pairs below it
        pairs = np.stack([rows[keep], cols[keep]], axis=1)
        return pairs[np.argsort(pairs[:, 0])]

    assert ex26_5.q3.check(associate).state == CORRECT


def test_ex26_5_q3_rejects_forbidding_pairs_before_solving():
    """Forbidding low pairs first maximises the number of pairs: on the crowded case it trades
    the IoU-0.82 pair for two IoU-0.33 pairs, which SORT's published rule never does."""
    from companion.tracking.assignment import linear_assignment

    def forbid_first(track_boxes, det_boxes, iou_threshold=0.3):
        m, _, _ = linear_assignment(1 - box_iou(track_boxes, det_boxes), 1 - iou_threshold)
        return m[np.argsort(m[:, 0])]

    fb = ex26_5.q3.check(forbid_first)
    assert fb.state == INCORRECT and "test case 3" in fb.message


def _split_paper(scores, track_thresh=0.5, low_thresh=0.1):  # the hint, literally
    s = np.asarray(scores)
    return np.flatnonzero(s > track_thresh), np.flatnonzero((s > low_thresh) & (s <= track_thresh))


def _split_released_code(scores, track_thresh=0.5, low_thresh=0.1):  # ByteTrack's own code
    s = np.asarray(scores)
    remain = s > track_thresh
    inds_second = (s > low_thresh) & (s < track_thresh)
    return np.flatnonzero(remain), np.flatnonzero(inds_second)


def test_ex26_5_q4_accepts_the_paper_and_bytetracks_released_code():
    fb = ex26_5.q4.check(_split_paper)
    assert fb.state == CORRECT and "matches the reference" in fb.message
    fb = ex26_5.q4.check(_split_released_code)
    assert fb.state == CORRECT and "released code" in fb.message


def test_ex26_5_q4_still_rejects_a_high_set_that_includes_the_threshold():
    def ge(scores, track_thresh=0.5, low_thresh=0.1):
        s = np.asarray(scores)
        return np.flatnonzero(s >= track_thresh), np.flatnonzero((s > low_thresh) & (s < track_thresh))

    def mixed(scores, track_thresh=0.5, low_thresh=0.1):  # paper on one case, code on another
        s = np.asarray(scores)
        if len(s) == 7:
            return _split_paper(s, track_thresh, low_thresh)
        return _split_released_code(s, track_thresh, low_thresh)

    assert ex26_5.q4.check(ge).state == INCORRECT
    assert ex26_5.q4.check(_split_paper).state == CORRECT
    # the 0.5 exactly at track_thresh is in case 1 only; any consistent rule passes case 2..4
    assert ex26_5.q4.check(mixed).state == CORRECT


def test_ex_lab_q2_hints_followed_literally_pass():
    def crossings(sides, min_frames):
        out = []
        established, run_side, run_len, run_start = 0, 0, 0, -1  # four numbers
        for i, s in enumerate(sides):
            if s == 0:
                continue  # skip zeros: a zero neither ends nor extends a run
            if s == run_side:
                run_len += 1
            else:
                run_side, run_len, run_start = s, 1, i
            if run_len >= min_frames and run_side != established:
                if established != 0:
                    out.append((run_start, run_side))
                established = run_side
        return out

    assert ex_lab.q2.check(crossings).state == CORRECT


def test_ex_lab_q2_rejects_zeros_that_reset_the_run():
    from companion.lab.count import crossings_with_hysteresis

    def zeros_reset(sides, min_frames):
        out, established, run_side, run_len, run_start = [], 0, 0, 0, -1
        for i, s in enumerate(sides):
            if s == 0:
                run_side, run_len = 0, 0  # the bug: a frame on the line restarts the count
                continue
            if s == run_side:
                run_len += 1
            else:
                run_side, run_len, run_start = s, 1, i
            if run_len >= min_frames and run_side != established:
                if established != 0:
                    out.append((run_start, run_side))
                established = run_side
        return out

    assert zeros_reset([-1, -1, -1, 0, 0, 1, 1, 1], 3) == crossings_with_hysteresis(
        [-1, -1, -1, 0, 0, 1, 1, 1], 3)  # the old on-line case could not tell them apart
    fb = ex_lab.q2.check(zeros_reset)
    assert fb.state == INCORRECT and "test case 8" in fb.message


def test_not_attempted_still_reported_through_the_worker_thread():
    def todo(x):
        print("thinking...")
        raise NotImplementedError

    fb = FunctionExercise("q", "id", lambda x: x, cases=[(1.0,)]).check(todo)
    assert fb.state == NOT_ATTEMPTED and "thinking" in fb.printed
