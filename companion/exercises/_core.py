"""The exercise machinery behind ``ex.q1.check(answer)``, ``ex.q1.hint()``, ``ex.q1.solution()``.

An exercise compares a learner's answer with the companion's reference implementation, which is
also what :meth:`Exercise.solution` shows, so there is one source of truth.

Two kinds of answer are supported:

* a **value** (number, tuple, NumPy array, tensor, dict ...): :class:`ValueExercise` compares it
  with the value the reference computes;
* a **function**: :class:`FunctionExercise` calls it on a list of test cases and compares each
  result with the reference's result on the same case.

Every check returns a :class:`Feedback` whose state is ``not attempted``, ``incorrect`` (with a
specific reason: wrong type, shape, dtype, values with the worst element, or the exception the
learner's code raised) or ``correct``. A check never raises because the answer is wrong.
"""

from __future__ import annotations

import html
import inspect
import math
import textwrap
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

NOT_ATTEMPTED = "not attempted"
INCORRECT = "incorrect"
CORRECT = "correct"

_COLOURS = {NOT_ATTEMPTED: "#8a6d00", INCORRECT: "#b00020", CORRECT: "#1b7f3b"}
_ICONS = {NOT_ATTEMPTED: "…", INCORRECT: "✗", CORRECT: "✓"}


@dataclass
class Feedback:
    """The outcome of one check. Rich in Jupyter, plain text in a console."""

    question: str
    state: str
    message: str = ""

    @property
    def correct(self) -> bool:
        return self.state == CORRECT

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        head = f"[{self.question}] {_ICONS[self.state]} {self.state.capitalize()}"
        return head + (f": {self.message}" if self.message else "")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = _COLOURS[self.state]
        body = html.escape(self.message).replace("\n", "<br>")
        return (
            f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0">'
            f'<b style="color:{colour}">{_ICONS[self.state]} {self.state.capitalize()}</b>'
            f' <span style="color:#666">({html.escape(self.question)})</span>'
            + (f"<div>{body}</div>" if body else "")
            + "</div>"
        )


class _Text:
    """A hint or a solution: Markdown in Jupyter, plain text in a console."""

    def __init__(self, title: str, text: str, code: str | None = None):
        self.title, self.text, self.code = title, text, code

    def __str__(self) -> str:
        parts = [self.title, self.text] + ([self.code] if self.code else [])
        return "\n".join(p for p in parts if p)

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        md = f"**{self.title}** {self.text}"
        if self.code:
            md += f"\n\n```python\n{self.code}\n```"
        return md


# --------------------------------------------------------------------------------------------
# Comparison of a learner's value with the expected value
# --------------------------------------------------------------------------------------------


def _is_array(x: Any) -> bool:
    if isinstance(x, np.ndarray):
        return True
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return False
    return isinstance(x, torch.Tensor)


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    return x.detach().cpu().numpy()


def _dtype_name(x: Any) -> str:
    return str(x.dtype).replace("torch.", "")


def compare(got: Any, expected: Any, *, atol: float = 1e-5, rtol: float = 1e-4,
            check_dtype: bool = False, path: str = "answer") -> str | None:
    """``None`` when ``got`` matches ``expected``, otherwise a sentence saying what differs."""
    if _is_array(expected):
        if not _is_array(got):
            if isinstance(got, (list, tuple)):
                got = np.asarray(got)
            else:
                return f"{path} should be an array/tensor, got {type(got).__name__}"
        if check_dtype and isinstance(expected, np.ndarray) != isinstance(got, np.ndarray):
            if not isinstance(expected, np.ndarray):
                return f"{path} should be a torch.Tensor, got {type(got).__name__}"
        g, e = _to_numpy(got), _to_numpy(expected)
        if g.shape != e.shape:
            return f"{path} has shape {tuple(g.shape)}, expected {tuple(e.shape)}"
        if check_dtype and _dtype_name(got) != _dtype_name(expected):
            return f"{path} has dtype {_dtype_name(got)}, expected {_dtype_name(expected)}"
        if e.dtype == bool or g.dtype == bool:
            diff = g.astype(bool) != e.astype(bool)
            if diff.any():
                idx = np.unravel_index(np.argmax(diff), diff.shape)
                return (f"{path} differs in {int(diff.sum())} of {diff.size} elements; "
                        f"first at index {tuple(int(i) for i in idx)}: got {g[idx]}, expected {e[idx]}")
            return None
        g64, e64 = g.astype(np.float64), e.astype(np.float64)
        if np.isnan(g64).any() and not np.isnan(e64).any():
            return f"{path} contains NaN"
        err = np.abs(g64 - e64)
        tol = atol + rtol * np.abs(e64)
        bad = ~(err <= tol) & ~(np.isnan(g64) & np.isnan(e64))
        if bad.any():
            idx = np.unravel_index(np.argmax(np.where(bad, err, -1)), err.shape)
            where = tuple(int(i) for i in idx)
            return (f"{path} has wrong values: {int(bad.sum())} of {bad.size} elements outside the "
                    f"tolerance (atol={atol:g}, rtol={rtol:g}); worst at index {where}: "
                    f"got {g64[idx]:.6g}, expected {e64[idx]:.6g}")
        return None
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        if got != expected or type(got) is not type(expected) and not (
                isinstance(expected, bool) and isinstance(got, (bool, np.bool_))):
            return f"{path} is {got!r}, expected {expected!r}"
        return None
    if isinstance(expected, (int, float, np.integer, np.floating)):
        if _is_array(got) and np.size(got) == 1:
            got = _to_numpy(got).item()
        if not isinstance(got, (int, float, np.integer, np.floating)) or isinstance(got, bool):
            return f"{path} should be a number, got {type(got).__name__} {got!r}"
        if isinstance(expected, (int, np.integer)) and not isinstance(expected, bool):
            if float(got) != float(expected):
                return f"{path} is {got!r}, expected {expected!r}"
            return None
        if math.isnan(float(expected)):
            return None if math.isnan(float(got)) else f"{path} is {got!r}, expected nan"
        if not abs(float(got) - float(expected)) <= atol + rtol * abs(float(expected)):
            return f"{path} is {got!r}, expected {float(expected):.6g} (atol={atol:g}, rtol={rtol:g})"
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{path} should be a dict, got {type(got).__name__}"
        missing = set(expected) - set(got)
        if missing:
            return f"{path} is missing the keys {sorted(map(str, missing))}"
        for k in expected:
            msg = compare(got[k], expected[k], atol=atol, rtol=rtol, check_dtype=check_dtype,
                          path=f"{path}[{k!r}]")
            if msg:
                return msg
        return None
    if isinstance(expected, (list, tuple)):
        if _is_array(got):
            got = _to_numpy(got).tolist()
        if not isinstance(got, (list, tuple)):
            return f"{path} should be a {type(expected).__name__}, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"{path} has length {len(got)}, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            msg = compare(g, e, atol=atol, rtol=rtol, check_dtype=check_dtype, path=f"{path}[{i}]")
            if msg:
                return msg
        return None
    if got != expected:
        return f"{path} is {got!r}, expected {expected!r}"
    return None


def _describe_exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (line {frames[-1].lineno} of {frames[-1].name})" if frames else ""
    return f"your code raised {type(exc).__name__}: {exc}{where}"


def _unattempted(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


# --------------------------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------------------------


@dataclass(repr=False)
class Exercise:
    """Base class: a name, a prompt, hints and a reference solution."""

    name: str
    prompt: str
    reference: Callable
    hints: Sequence[str] = field(default_factory=list)
    atol: float = 1e-5
    rtol: float = 1e-4
    check_dtype: bool = False

    # -- what the learner calls ------------------------------------------------------------
    def check(self, answer: Any = None) -> Feedback:
        try:
            if _unattempted(answer):
                return Feedback(self.name, NOT_ATTEMPTED,
                                "replace the `...`/None placeholder with your answer, then run the check")
            return self._check(answer)
        except _NotAttempted:
            return Feedback(self.name, NOT_ATTEMPTED, "your function still raises NotImplementedError")
        except Exception as exc:  # never crash on a wrong answer
            return Feedback(self.name, INCORRECT, _describe_exception(exc))

    def hint(self, n: int = 1) -> _Text:
        if not self.hints:
            return _Text(f"Hint ({self.name}):", "no hints for this one. Try `solution()`.")
        n = max(1, min(int(n), len(self.hints)))
        more = f" (hint {n} of {len(self.hints)})" if len(self.hints) > 1 else ""
        return _Text(f"Hint{more}:", self.hints[n - 1])

    def solution(self) -> _Text:
        return _Text(f"Solution ({self.name}):", self._solution_text(), _source(self.reference))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {self.prompt}>"

    def _repr_markdown_(self) -> str:
        return f"**{self.name}.** {self.prompt}"

    # -- subclasses --------------------------------------------------------------------------
    def _check(self, answer: Any) -> Feedback:  # pragma: no cover - abstract
        raise NotImplementedError

    def _solution_text(self) -> str:
        return "the companion's reference implementation:"

    def _verdict(self, msg: str | None, ok: str = "") -> Feedback:
        if msg:
            return Feedback(self.name, INCORRECT, msg)
        return Feedback(self.name, CORRECT, ok)


class _NotAttempted(Exception):
    pass


def _source(obj: Callable) -> str:
    try:
        return textwrap.dedent(inspect.getsource(obj)).rstrip()
    except (OSError, TypeError):
        return repr(obj)


@dataclass(repr=False)
class ValueExercise(Exercise):
    """The answer is a value; the expected value is ``reference(*args)``."""

    args: tuple = ()

    def expected(self) -> Any:
        return self.reference(*self.args)

    def _check(self, answer: Any) -> Feedback:
        if callable(answer) and not _is_array(answer):
            return Feedback(self.name, INCORRECT, "expected a value, got a function; call it first")
        msg = compare(answer, self.expected(), atol=self.atol, rtol=self.rtol,
                      check_dtype=self.check_dtype)
        return self._verdict(msg)

    def _solution_text(self) -> str:
        shown = ", ".join(repr(a) if not _is_array(a) else f"<{type(a).__name__}>" for a in self.args)
        return f"compute it with the reference below: `{self.reference.__name__}({shown})`."


@dataclass(repr=False)
class FunctionExercise(Exercise):
    """The answer is a function; it must agree with ``reference`` on every case.

    ``cases`` is a list of argument tuples (or a callable returning one, for cases that need
    fresh random tensors). ``kwcases``, if given, is a parallel list of keyword dicts.
    """

    cases: Sequence[tuple] | Callable[[], Sequence[tuple]] = ()
    kwcases: Sequence[dict] | None = None

    def _cases(self) -> list[tuple]:
        cases = self.cases() if callable(self.cases) else self.cases
        return [c if isinstance(c, tuple) else (c,) for c in cases]

    def _check(self, answer: Any) -> Feedback:
        if not callable(answer):
            return Feedback(self.name, INCORRECT,
                            f"expected a function, got {type(answer).__name__}")
        cases = self._cases()
        kws = list(self.kwcases) if self.kwcases is not None else [{} for _ in cases]
        for i, (args, kw) in enumerate(zip(cases, kws)):
            expected = self.reference(*_copy(args), **kw)
            try:
                got = answer(*_copy(args), **kw)
            except NotImplementedError:
                raise _NotAttempted() from None
            except Exception as exc:
                return Feedback(self.name, INCORRECT,
                                f"on test case {i + 1} of {len(cases)} ({_short(args, kw)}), "
                                + _describe_exception(exc))
            msg = compare(got, expected, atol=self.atol, rtol=self.rtol,
                          check_dtype=self.check_dtype, path="the result")
            if msg:
                return Feedback(self.name, INCORRECT,
                                f"on test case {i + 1} of {len(cases)} ({_short(args, kw)}): {msg}")
        return Feedback(self.name, CORRECT, f"matches the reference on all {len(cases)} test cases")


def _copy(args: tuple) -> tuple:
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            a = a.copy()
        elif _is_array(a):
            a = a.clone()
        out.append(a)
    return tuple(out)


def _short(args: tuple, kw: dict) -> str:
    def one(a: Any) -> str:
        if _is_array(a):
            return f"{type(a).__name__}{tuple(a.shape)}"
        r = repr(a)
        return r if len(r) <= 40 else r[:37] + "..."
    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in kw.items()]
    return "inputs: " + ", ".join(parts)


class ExerciseSet:
    """A section's exercises as attributes ``q1, q2, ...``; ``all()`` lists them."""

    def __init__(self, section: str, **exercises: Exercise):
        self.section = section
        self._exercises = exercises
        for key, ex in exercises.items():
            setattr(self, key, ex)

    def all(self) -> dict[str, Exercise]:
        return dict(self._exercises)

    def __repr__(self) -> str:
        lines = [f"Exercises for {self.section}:"]
        lines += [f"  {k}: {ex.prompt}" for k, ex in self._exercises.items()]
        return "\n".join(lines)
