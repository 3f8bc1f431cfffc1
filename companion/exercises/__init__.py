"""Exercises with check / hint / solution, one module per section.

    from companion.exercises import ex26_1 as ex
    ex.q1.check(my_answer); ex.q1.hint(); ex.q1.hint(2); ex.q1.solution()

Each module defines ``EXERCISES`` (an :class:`ExerciseSet`), exposes ``q1``, ``q2`` ... at
module level, and a ``WRONG_ANSWERS`` dict mapping a question key to a plausible wrong answer,
which the test suite uses to prove every check can fail.
"""

from companion.exercises._core import (CORRECT, INCORRECT, NOT_ATTEMPTED, Exercise, ExerciseSet,
                                       Feedback, FunctionExercise, ValueExercise, compare)

__all__ = ["CORRECT", "INCORRECT", "NOT_ATTEMPTED", "Exercise", "ExerciseSet", "Feedback",
           "FunctionExercise", "ValueExercise", "compare"]
