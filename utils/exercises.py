"""Self-checks for the exercises: a student calls a check with an answer and is told why.

Each chapter's checks live in ``utils/checks/<chapter>.py`` and return a :class:`Feedback`::

    from utils.checks import convolution as ex
    ex.check_output_size(my_answer)      # prints "Correct ..." or "Not yet: <hint>"

A check never raises on a wrong or empty answer: it explains.  Tests call the same functions
with a right answer (``ok`` is True) and a typical wrong one (``ok`` is False, with a hint).

Most checks start by reading the answer.  :func:`parse_number`, :func:`parse_pair` and
:func:`parse_shape` do that in one place: each returns the parsed value, or a :class:`Feedback`
("No answer yet" for a placeholder, a hint for an answer of the wrong kind) that the check
returns at once::

    value = parse_number(answer, what="a number between 0 and 1")
    if isinstance(value, Feedback):
        return value
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

#: The key under which a shown :class:`Feedback` names its check in the output's metadata
#: (read by the grader, :func:`utils.assignments.grade`).
METADATA_KEY = "dlbi_check"


def _calling_check() -> str:
    """``module.function`` of the outermost function of ``utils.checks.*`` on the call stack
    (the check a student called), or "" when no check module is on it."""
    frame, found = sys._getframe(1), ""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("utils.checks."):
            found = f"{module.rsplit('.', 1)[-1]}.{frame.f_code.co_name}"
        elif found:
            break
        frame = frame.f_back
    return found


@dataclass
class Feedback:
    """The verdict of one check: ``ok`` and a message that says why.  ``check`` names the
    check that gave it (``chapter_module.check_name``, found on the call stack)."""

    ok: bool
    message: str
    check: str = field(default_factory=_calling_check, compare=False)

    def __bool__(self) -> bool:
        return self.ok

    def _repr_markdown_(self) -> str:
        return ("**Correct.** " if self.ok else "**Not yet.** ") + self.message

    def _repr_mimebundle_(self, include=None, exclude=None):
        """What Jupyter shows (Markdown, plain text) and, in the output's metadata, the verdict
        for the grader: ``{"dlbi_check": {"check": ..., "ok": ..., "answered": ...}}``."""
        data = {"text/markdown": self._repr_markdown_(), "text/plain": repr(self)}
        return data, {METADATA_KEY: {"check": self.check, "ok": self.ok,
                                     "answered": not self.message.startswith("No answer yet")}}

    def __repr__(self) -> str:
        return ("Correct. " if self.ok else "Not yet. ") + self.message


def correct(message: str = "") -> Feedback:
    return Feedback(True, message or "Well done.")


def wrong(hint: str) -> Feedback:
    return Feedback(False, hint)


def is_unanswered(answer) -> bool:
    """True for the placeholders a student version leaves: None, ..., empty strings/arrays."""
    if answer is None or answer is Ellipsis:
        return True
    if isinstance(answer, str) and not answer.strip():
        return True
    try:
        return np.size(answer) == 0
    except Exception:  # pragma: no cover - exotic objects
        return False


def unanswered(what: str = "an answer") -> Feedback:
    return Feedback(False, f"No answer yet: replace the `...` placeholder with {what}.")


def parse_number(answer, what: str = "a number") -> float | Feedback:
    """Read a numeric answer: the answer as a ``float``, or the :class:`Feedback` to return.

    ``what`` describes the expected answer in the messages ("No answer yet: replace the `...`
    placeholder with <what>." and "expected <what>, got ...").
    """
    if is_unanswered(answer):
        return unanswered(what)
    try:
        return float(answer)
    except (TypeError, ValueError):
        return wrong(f"expected {what}, got {type(answer).__name__} {answer!r}.")


def parse_pair(answer, what: str = "a pair (low, high)", *,
               fractions: bool = False) -> tuple[float, float] | Feedback:
    """Read a pair of numbers such as an interval ``(low, high)``: a tuple of two ``float``,
    or the :class:`Feedback` to return.

    The order is kept as given (some checks explain a swapped pair).  With ``fractions=True``
    a value above 1 is taken for a percentage and explained as such.
    """
    if is_unanswered(answer):
        return unanswered(what)
    try:
        lo, hi = (float(v) for v in answer)
    except (TypeError, ValueError):
        return wrong(f"give two numbers as {what}, got {answer!r}.")
    if fractions and (lo > 1 or hi > 1):
        return wrong("give proportions between 0 and 1, not percentages.")
    return lo, hi


def parse_shape(answer, what: str = "a shape tuple (height, width, channels)", *,
                ndim: int = 3) -> tuple[int, ...] | Feedback:
    """Read a tensor shape: a tuple of ``int``, or the :class:`Feedback` to return.

    ``None`` entries (Keras's unknown batch size, as in ``model.output_shape``) are skipped, and
    a leading batch dimension of 1 (``x.shape`` of a single sample) is dropped from a shape of
    ``ndim + 1`` entries, so ``(None, 5, 5, 8)``, ``(1, 5, 5, 8)`` and ``(5, 5, 8)`` all read as
    ``(5, 5, 8)``.  The length is not checked: the checks explain a wrong one themselves.
    """
    if is_unanswered(answer):
        return unanswered(what)
    try:
        shape = tuple(int(v) for v in answer if v is not None)
    except (TypeError, ValueError):
        return wrong(f"expected {what}, got {answer!r}.")
    if len(shape) == ndim + 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def check_number(answer, expected: float, *, rtol: float = 1e-6, atol: float = 1e-9,
                 hints: dict | None = None, what: str = "a number") -> Feedback:
    """Compare a numeric answer; ``hints`` maps typical wrong values to explanations."""
    value = parse_number(answer, what)
    if isinstance(value, Feedback):
        return value
    if np.isclose(value, expected, rtol=rtol, atol=atol):
        return correct()
    for bad, hint in (hints or {}).items():
        if np.isclose(value, bad, rtol=rtol, atol=atol):
            return wrong(hint)
    return wrong(f"{value:g} is not right; re-check your computation.")


def check_array(answer, expected, *, rtol: float = 1e-5, atol: float = 1e-6,
                what: str = "an array") -> Feedback:
    """Compare an array answer: shape first, then values."""
    if is_unanswered(answer):
        return unanswered(what)
    a, e = np.asarray(answer, dtype=float), np.asarray(expected, dtype=float)
    if a.shape != e.shape:
        return wrong(f"your array has shape {a.shape}, the answer has shape {e.shape}.")
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(a - e)), a.shape)
        return wrong(f"the shape is right but values differ, e.g. at index {tuple(int(i) for i in worst)}: "
                     f"{a[worst]:g} instead of {e[worst]:g}.")
    return correct()
