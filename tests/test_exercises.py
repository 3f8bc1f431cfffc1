"""Every exercise accepts its reference solution and rejects a plausible wrong answer;
the feedback states are the promised ones and a check never crashes."""

import importlib
import pkgutil

import numpy as np
import pytest
import torch

import companion.exercises as exercises
from companion.exercises import (CORRECT, INCORRECT, NOT_ATTEMPTED, FunctionExercise,
                                 ValueExercise, compare)

MODULES = sorted(m.name for m in pkgutil.iter_modules(exercises.__path__) if m.name.startswith("ex"))


def _all_exercises():
    for name in MODULES:
        mod = importlib.import_module(f"companion.exercises.{name}")
        for key, ex in mod.EXERCISES.all().items():
            yield pytest.param(mod, key, ex, id=f"{name}.{key}")


def _reference_answer(ex):
    if isinstance(ex, FunctionExercise):
        return ex.reference
    return ex.expected()


def test_there_are_exercise_modules():
    assert MODULES


@pytest.mark.parametrize("mod,key,ex", list(_all_exercises()))
def test_reference_passes(mod, key, ex):
    fb = ex.check(_reference_answer(ex))
    assert fb.state == CORRECT, str(fb)
    assert getattr(mod, key) is ex


@pytest.mark.parametrize("mod,key,ex", list(_all_exercises()))
def test_wrong_answer_rejected(mod, key, ex):
    assert key in mod.WRONG_ANSWERS, f"{mod.__name__} has no wrong answer for {key}"
    fb = ex.check(mod.WRONG_ANSWERS[key])
    assert fb.state == INCORRECT, str(fb)
    assert fb.message


@pytest.mark.parametrize("mod,key,ex", list(_all_exercises()))
def test_hints_and_solution_render(mod, key, ex):
    assert str(ex.hint()) and str(ex.hint(99))
    sol = ex.solution()
    assert "def " in sol.code or "lambda" in sol.code
    assert ex.check(None).state == NOT_ATTEMPTED
    assert ex.check(...).state == NOT_ATTEMPTED


# ---- the machinery itself ----------------------------------------------------------------

def _ref_square(x):
    return x * x


def test_function_exercise_states():
    ex = FunctionExercise("qx", "square it", _ref_square, cases=[(np.arange(4.0),), (torch.ones(2, 3),)])
    assert ex.check(_ref_square).state == CORRECT
    fb = ex.check(lambda x: x + x)
    assert fb.state == INCORRECT and "worst at index" in fb.message and "test case 1" in fb.message
    fb = ex.check(lambda x: 1 / 0)
    assert fb.state == INCORRECT and "ZeroDivisionError" in fb.message

    def todo(x):
        raise NotImplementedError

    assert ex.check(todo).state == NOT_ATTEMPTED
    assert ex.check(3).state == INCORRECT
    assert "<div" in ex.check(_ref_square)._repr_html_()


def test_value_exercise_shapes_and_dtypes():
    ex = ValueExercise("qy", "zeros", lambda: torch.zeros(2, 3, dtype=torch.uint8), check_dtype=True)
    assert ex.check(torch.zeros(2, 3, dtype=torch.uint8)).correct
    assert "shape" in ex.check(torch.zeros(3, 2, dtype=torch.uint8)).message
    assert "dtype" in ex.check(torch.zeros(2, 3)).message


def test_compare_messages():
    assert compare((1, 2), (1, 2)) is None
    assert "length" in compare([1], (1, 2))
    assert "missing" in compare({"a": 1}, {"a": 1, "b": 2})
    assert compare(0.1 + 0.2, 0.3) is None
    assert "expected 3" in compare(4, 3)
    assert "NaN" in compare(np.array([np.nan]), np.array([1.0]))
