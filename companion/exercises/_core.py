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

Robustness promises (each tested in ``tests/test_exercise_checker.py``):

* a tensor answer is judged like the NumPy array it stands for: 0-d / 1-element tensors count
  as numbers, bfloat16 is widened to float32, sparse tensors are densified, gradients detached;
  complex, object and string arrays are never accepted for real-valued answers;
* feedback never embeds a huge repr: values are summarised (type, shape, dtype, a capped repr);
* a learner's function runs in a worker thread with a time limit (``time_limit`` seconds per
  test case, default 20). When it does not return in time the check says so and stops the
  function by raising an exception inside it at its next Python instruction. **Limitation:**
  Python cannot stop a thread that is stuck inside one long C call (a huge matrix product, a
  blocking wait); the check still returns and says the function may keep running in the
  background (restart the kernel to stop it);
* what the learner's code prints is captured and shown with the feedback;
* a failure inside the checker itself is reported as the checker's fault, not the learner's.
"""

from __future__ import annotations

import contextlib
import ctypes
import html
import inspect
import io
import math
import reprlib
import textwrap
import threading
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
    printed: str = ""  # what the learner's code printed during the check (capped)

    @property
    def correct(self) -> bool:
        return self.state == CORRECT

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        head = f"[{self.question}] {_ICONS[self.state]} {self.state.capitalize()}"
        text = head + (f": {self.message}" if self.message else "")
        if self.printed:
            text += "\nyour code printed:\n" + self.printed
        return text

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = _COLOURS[self.state]
        body = html.escape(self.message).replace("\n", "<br>")
        return (
            f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0">'
            f'<b style="color:{colour}">{_ICONS[self.state]} {self.state.capitalize()}</b>'
            f' <span style="color:#666">({html.escape(self.question)})</span>'
            + (f"<div>{body}</div>" if body else "")
            + (f'<div style="color:#666">your code printed:</div><pre>{html.escape(self.printed)}'
               f"</pre>" if self.printed else "")
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


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return None
    return torch


def _is_array(x: Any) -> bool:
    if isinstance(x, np.ndarray):
        return True
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def _numel(x: Any) -> int:
    """Number of elements of an array or tensor (``np.size`` of a tensor is a bound method)."""
    return int(x.size) if isinstance(x, np.ndarray) else int(x.numel())


def _to_numpy(x: Any) -> np.ndarray:
    """A NumPy view of an array/tensor: gradients detached, sparse densified, bfloat16 (which
    NumPy lacks) widened to float32, conjugate/negative bits resolved, moved to the CPU."""
    if isinstance(x, np.ndarray):
        return x
    torch = _torch()
    t = x.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.is_quantized:
        t = t.dequantize()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.cpu().resolve_conj().resolve_neg().numpy()


def _dtype_name(x: Any) -> str:
    return str(x.dtype).replace("torch.", "")


_REPR = reprlib.Repr()
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 6
_REPR.maxdict, _REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 4, 3, 60, 80, 40
_MAX_SHOWN = 200


def _show(x: Any) -> str:
    """A short description of a value for feedback: type, shape and dtype of arrays, a capped
    repr of everything else (never the full repr of a huge answer)."""
    if _is_array(x):
        text = f"{type(x).__name__} of shape {tuple(x.shape)}, dtype {_dtype_name(x)}"
        if _numel(x) <= 6:
            with contextlib.suppress(Exception):
                text += f": {_to_numpy(x).tolist()}"
        return text
    try:
        text = _REPR.repr(x)
    except Exception:  # a broken __repr__ in the learner's object
        text = f"<{type(x).__name__}>"
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN - 3] + "..."
    if isinstance(x, (list, tuple, dict, set, frozenset, str, bytes)) and len(x) > 6:
        text += f" ({type(x).__name__} of length {len(x)})"
    return text


def _cap(text: str, limit: int = 2000, lines: int = 40) -> str:
    rows = text.splitlines()
    cut = "\n".join(rows[:lines])
    if len(cut) > limit:
        cut = cut[:limit]
    if len(cut) < len(text.rstrip("\n")):
        cut += f"\n... ({len(text) - len(cut)} more characters not shown)"
    return cut


_KIND_NAMES = {"c": "complex", "O": "object (Python objects)", "U": "string", "S": "bytes",
               "M": "datetime", "m": "timedelta", "V": "structured"}


def compare(got: Any, expected: Any, *, atol: float = 1e-5, rtol: float = 1e-4,
            check_dtype: bool = False, path: str = "answer") -> str | None:
    """``None`` when ``got`` matches ``expected``, otherwise a sentence saying what differs."""
    if _is_array(expected):
        if not _is_array(got):
            if isinstance(got, (list, tuple)):
                got = np.asarray(got)
            else:
                return f"{path} should be an array/tensor, got {_show(got)}"
        if check_dtype and isinstance(expected, np.ndarray) != isinstance(got, np.ndarray):
            if not isinstance(expected, np.ndarray):
                return f"{path} should be a torch.Tensor, got {type(got).__name__}"
        g, e = _to_numpy(got), _to_numpy(expected)
        wrong_kind = _wrong_kind(g, e, path, got)
        if wrong_kind:
            return wrong_kind
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
        as_type = np.complex128 if e.dtype.kind == "c" else np.float64
        g64, e64 = g.astype(as_type), e.astype(as_type)
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
        same_type = type(got) is type(expected) or (
            isinstance(expected, bool) and isinstance(got, (bool, np.bool_)))
        if not same_type or not _equal(got, expected):
            return f"{path} is {_show(got)}, expected {_show(expected)}"
        return None
    if isinstance(expected, (int, float, np.integer, np.floating)):
        if _is_array(got):
            if _numel(got) != 1:
                return f"{path} should be a number, got {_show(got)}"
            arr = _to_numpy(got)
            if arr.dtype.kind not in "biuf":
                return (f"{path} should be a real number, got a one-element {type(got).__name__} "
                        f"of dtype {_dtype_name(got)}")
            got = arr.reshape(-1)[0].item()
        if not isinstance(got, (int, float, np.integer, np.floating)) or isinstance(got, bool):
            return f"{path} should be a real number, got {type(got).__name__} {_show(got)}"
        if isinstance(expected, (int, np.integer)) and not isinstance(expected, bool):
            if float(got) != float(expected):
                return f"{path} is {_show(got)}, expected {expected!r}"
            return None
        if math.isnan(float(expected)):
            return None if math.isnan(float(got)) else f"{path} is {_show(got)}, expected nan"
        if not abs(float(got) - float(expected)) <= atol + rtol * abs(float(expected)):
            return (f"{path} is {_show(got)}, expected {float(expected):.6g} "
                    f"(atol={atol:g}, rtol={rtol:g})")
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{path} should be a dict, got {_show(got)}"
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
            return f"{path} should be a {type(expected).__name__}, got {_show(got)}"
        if len(got) != len(expected):
            return f"{path} has length {len(got)}, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            msg = compare(g, e, atol=atol, rtol=rtol, check_dtype=check_dtype, path=f"{path}[{i}]")
            if msg:
                return msg
        return None
    if not _equal(got, expected):
        return f"{path} is {_show(got)}, expected {_show(expected)}"
    return None


def _equal(got: Any, expected: Any) -> bool:
    """``got == expected`` as one bool; an answer whose ``==`` is not a plain truth value (an
    array, a broken ``__eq__``) is simply not equal."""
    try:
        return bool(got == expected)
    except Exception:
        return False


def _wrong_kind(g: np.ndarray, e: np.ndarray, path: str, got: Any) -> str | None:
    """Complex values for a real answer, or object/string/... arrays, are never accepted."""
    kind = g.dtype.kind
    if kind in "biuf" or (kind == "c" and e.dtype.kind == "c"):
        return None
    what = _KIND_NAMES.get(kind, str(g.dtype))
    return (f"{path} has {what} dtype {_dtype_name(got)}; expected "
            + ("real numbers" if e.dtype.kind in "biuf" else f"dtype {e.dtype}")
            + f" like the reference ({e.dtype})")


def _describe_exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (line {frames[-1].lineno} of {frames[-1].name})" if frames else ""
    text = str(exc)
    if len(text) > 300:
        text = text[:297] + "..."
    return f"your code raised {type(exc).__name__}: {text}{where}"


def _checker_failed(exc: BaseException) -> str:
    return (f"the checker itself failed while judging your answer ({type(exc).__name__}: "
            f"{str(exc)[:300]}); this is a fault in the checker, not a verdict on your code — "
            f"please report it")


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
    time_limit: float = 20.0  # seconds per call of a learner's function

    # -- what the learner calls ------------------------------------------------------------
    def check(self, answer: Any = None) -> Feedback:
        try:
            if _unattempted(answer):
                return Feedback(self.name, NOT_ATTEMPTED,
                                "replace the `...`/None placeholder with your answer, then run the check")
            return self._check(answer)
        except _NotAttempted as exc:
            return Feedback(self.name, NOT_ATTEMPTED, "your function still raises NotImplementedError",
                            printed=exc.printed)
        except Exception as exc:  # never crash; the learner's own errors are caught in _check
            return Feedback(self.name, INCORRECT, _checker_failed(exc))

    def hint(self, n: int = 1) -> _Text:
        """Hint number ``n`` (1 = the first); a level past the last shows the last one."""
        if not self.hints:
            return _Text(f"Hint ({self.name}):", "no hints for this one. Try `solution()`.")
        k = len(self.hints)
        level = None
        if isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)):
            level = int(n)
        elif isinstance(n, (float, np.floating)) and math.isfinite(n) and float(n).is_integer():
            level = int(n)
        if level is None or level < 1:
            choices = "hint(1)" if k == 1 else f"hint(1) ... hint({k})"
            return _Text(f"Hint ({self.name}):",
                         f"there {'is 1 hint' if k == 1 else f'are {k} hints'}: ask for {choices}, "
                         f"a whole number from 1 to {k}; got {_show(n)}.")
        level = min(level, k)
        more = f" (hint {level} of {k})" if k > 1 else ""
        return _Text(f"Hint{more}:", self.hints[level - 1])

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
    def __init__(self, printed: str = ""):
        super().__init__()
        self.printed = printed


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
    ``alternatives`` maps a description to another published rule that is accepted as well
    (e.g. a paper's pseudo-code and its released code treating a boundary differently): the
    answer is correct when it agrees with the reference, or with one alternative, on every case.
    Each call of the learner's function runs with :func:`run_with_time_limit`.
    """

    cases: Sequence[tuple] | Callable[[], Sequence[tuple]] = ()
    kwcases: Sequence[dict] | None = None
    alternatives: dict[str, Callable] = field(default_factory=dict)

    def _cases(self) -> list[tuple]:
        cases = self.cases() if callable(self.cases) else self.cases
        return [c if isinstance(c, tuple) else (c,) for c in cases]

    def _check(self, answer: Any) -> Feedback:
        if not callable(answer):
            return Feedback(self.name, INCORRECT,
                            f"expected a function, got {_show(answer)}")
        cases = self._cases()
        kws = list(self.kwcases) if self.kwcases is not None else [{} for _ in cases]
        rules = {"the reference": self.reference, **self.alternatives}
        alive = dict(rules)
        first_msg = None
        printed = []
        for i, (args, kw) in enumerate(zip(cases, kws)):
            where = f"on test case {i + 1} of {len(cases)} ({_short(args, kw)})"
            run = run_with_time_limit(answer, _copy(args), kw, self.time_limit)
            if run.printed:
                printed.append(f"[test case {i + 1}] {run.printed}")
            shown = _cap("\n".join(printed))
            if run.timed_out:
                stop = ("it was stopped" if run.stopped else
                        "it could not be stopped (it is inside a long C call) and may still be "
                        "running in the background: restart the kernel if it keeps the CPU busy")
                return Feedback(self.name, INCORRECT,
                                f"{where}: your function did not return within "
                                f"{self.time_limit:g} s (an endless loop?); {stop}", shown)
            if run.error is not None:
                if isinstance(run.error, NotImplementedError):
                    raise _NotAttempted(shown)
                return Feedback(self.name, INCORRECT, f"{where}, " + _describe_exception(run.error),
                                shown)
            for label, rule in list(alive.items()):
                msg = compare(run.value, rule(*_copy(args), **kw), atol=self.atol, rtol=self.rtol,
                              check_dtype=self.check_dtype, path="the result")
                if msg:
                    del alive[label]
                    if label == "the reference" and first_msg is None:
                        first_msg = f"{where}: {msg}"
            if not alive:
                return Feedback(self.name, INCORRECT, first_msg, shown)
        which = next(iter(alive))
        how = "the reference" if which == "the reference" else f"{which} (also accepted)"
        return Feedback(self.name, CORRECT, f"matches {how} on all {len(cases)} test cases",
                        _cap("\n".join(printed)))


@dataclass
class _Run:
    value: Any = None
    error: BaseException | None = None
    printed: str = ""
    timed_out: bool = False
    stopped: bool = False


class _TimeLimitReached(BaseException):
    """Raised inside a learner's function that ran past its time limit (a BaseException, so
    that the learner's ``except Exception`` does not swallow it)."""


def run_with_time_limit(fn: Callable, args: tuple, kwargs: dict, seconds: float) -> _Run:
    """Call ``fn(*args, **kwargs)`` in a worker thread, capturing what it prints; give up after
    ``seconds`` and then stop it by raising :class:`_TimeLimitReached` inside it (takes effect
    at its next Python instruction; a thread stuck in one C call cannot be stopped)."""
    run = _Run()
    out = io.StringIO()

    def target():
        try:
            run.value = fn(*args, **kwargs)
        except _TimeLimitReached:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported to the learner
            run.error = exc

    worker = threading.Thread(target=target, name="exercise-check", daemon=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        worker.start()
        try:
            worker.join(seconds)
        finally:
            if worker.is_alive():
                run.timed_out = True
                _raise_in_thread(worker)
                worker.join(1.0)
                run.stopped = not worker.is_alive()
    run.printed = out.getvalue()
    return run


def _raise_in_thread(thread: threading.Thread) -> None:
    ident = thread.ident
    if ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                                   ctypes.py_object(_TimeLimitReached))


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
        r = _REPR.repr(a)
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
