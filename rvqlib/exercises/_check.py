"""Checkers for the book's exercises.

Each chapter's exercises end with a call such as ``ch01.check_mse(my_answer)``.
A checker never raises on a wrong answer: it returns a :class:`CheckResult`
that is truthy only when the answer is right and whose text says *what* is
wrong (wrong shape, wrong sign, off by a factor of two, a known slip, ...), so
that a reader in Jupyter sees a helpful message. The book's own solution cells
use ``assert check(...)``, which fails the build if a solution drifts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CheckResult",
    "as_numpy",
    "check_array",
    "check_choice",
    "check_close",
    "check_function",
    "is_placeholder",
    "right",
    "wrong",
]

_PLACEHOLDER_HINT = "replace the `...` (or None) with your answer and run the cell again"


@dataclass(frozen=True)
class CheckResult:
    """The verdict of a checker.

    Attributes
    ----------
    ok : bool
        True when the answer is right.
    message : str
        What a reader should read: a confirmation, or what is wrong and a hint.
    """

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#b35900"
        text = self.message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f'<pre style="color:{colour};white-space:pre-wrap">{text}</pre>'


def right(name: str, detail: str = "") -> CheckResult:
    """The verdict for a right answer: ``"Correct: <name> <detail>."``.

    Parameters
    ----------
    name : str
        What was checked (e.g. ``"the step Δ"``).
    detail : str
        Optional explanation appended after the name.

    Returns
    -------
    CheckResult
        Truthy.
    """
    return CheckResult(True, f"Correct: {name}{(' ' + detail) if detail else ''}.")


def wrong(name: str, what: str, hint: str | None = None) -> CheckResult:
    """The verdict for a wrong answer: ``"Not yet: <name>: <what>"`` and a hint line.

    Chapter checkers use it for the cases the generic checkers cannot
    recognise; ``what`` should say *what* is wrong, not only that it is.

    Parameters
    ----------
    name : str
        What was checked.
    what : str
        What is wrong with the answer.
    hint : str, optional
        How to get it right, shown on its own line.

    Returns
    -------
    CheckResult
        Falsy.
    """
    text = f"Not yet: {name}: {what}"
    if hint:
        text += f"\nHint: {hint}"
    return CheckResult(False, text)


def is_placeholder(value: Any) -> bool:
    """True for the ``...`` (or ``None``) an exercise cell holds before it is answered."""
    return value is None or value is Ellipsis


# Private names kept for checkers written before these were public.
_right, _wrong, _is_placeholder = right, wrong, is_placeholder


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        arr = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
    except Exception:
        return None
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        return None
    return float(arr.reshape(()))


def check_close(
    value: Any,
    expected: float,
    *,
    name: str,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    hint: str | None = None,
    mistakes: Mapping[str, float] | None = None,
) -> CheckResult:
    """Check a single number.

    Parameters
    ----------
    value : number-like
        The reader's answer (a Python number, a 0-d or 1-element array or tensor).
    expected : float
        The right answer.
    name : str
        What the number is, used in the message (e.g. ``"the MSE"``).
    rtol, atol : float
        Tolerances, as in :func:`math.isclose`.
    hint : str, optional
        Shown with any wrong answer.
    mistakes : mapping of str to float, optional
        Known wrong answers and what slip produces them, e.g.
        ``{"you used the distance, not its square": 0.632}``; a match is named.

    Returns
    -------
    CheckResult
    """
    if _is_placeholder(value):
        return _wrong(name, "no answer yet", _PLACEHOLDER_HINT)
    got = _to_float(value)
    if got is None:
        return _wrong(name, f"expected a single number, got {type(value).__name__}", hint)
    if math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
        return _right(name, f"= {expected:.6g}")
    for slip, wrong in (mistakes or {}).items():
        if math.isclose(got, wrong, rel_tol=max(rtol, 1e-9), abs_tol=atol):
            return _wrong(name, f"{got:.6g} is what you get if {slip}", hint)
    what = f"got {got:.6g}"
    if math.isnan(got):
        what += " (NaN: something divided by zero or used an empty array)"
    elif expected != 0 and math.isclose(got, -expected, rel_tol=rtol, abs_tol=atol):
        what += ", which has the wrong sign"
    elif expected != 0 and got != 0:
        ratio = got / expected
        if ratio > 0:
            for factor in (2.0, 10.0, 1000.0):
                if math.isclose(ratio, factor, rel_tol=1e-3):
                    what += f", exactly {factor:g}x too large"
                elif math.isclose(ratio, 1.0 / factor, rel_tol=1e-3):
                    what += f", exactly {factor:g}x too small"
            if "exactly" not in what:
                what += ", too large" if got > expected else ", too small"
    return _wrong(name, what, hint)


def as_numpy(value: Any) -> np.ndarray | None:
    """A reader's answer as a numpy array, or None when it is not array-like.

    Torch tensors (on any device, with or without grad) are detached and
    copied to the CPU; ragged lists and other objects give None, so a checker
    can report "expected an array" instead of raising.

    Parameters
    ----------
    value : Any
        The answer.

    Returns
    -------
    numpy.ndarray or None
    """
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    if arr.dtype == object:
        return None
    return arr


_as_numpy = as_numpy


def check_array(
    value: Any,
    expected: Any,
    *,
    name: str,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    hint: str | None = None,
    exact: bool = False,
) -> CheckResult:
    """Check an array (numpy array, tensor or nested list) element by element.

    Parameters
    ----------
    value : array-like
        The reader's answer.
    expected : array-like
        The right answer.
    name : str
        What the array is, used in the message.
    rtol, atol : float
        Tolerances, as in :func:`numpy.allclose`; ignored when ``exact``.
    hint : str, optional
        Shown with any wrong answer.
    exact : bool
        Compare for equality (for indices and codes).

    Returns
    -------
    CheckResult
        A wrong answer names the shape difference or the first wrong entry.
    """
    if _is_placeholder(value):
        return _wrong(name, "no answer yet", _PLACEHOLDER_HINT)
    got = _as_numpy(value)
    want = np.asarray(expected)
    if got is None or not np.issubdtype(got.dtype, np.number) and got.dtype != bool:
        return _wrong(name, f"expected an array of numbers, got {type(value).__name__}", hint)
    if got.shape != want.shape:
        what = f"shape {got.shape}, expected {want.shape}"
        if got.shape == want.shape[::-1] and got.ndim == 2:
            what += " (transposed?)"
        return _wrong(name, what, hint)
    same = got == want if exact else np.isclose(got, want, rtol=rtol, atol=atol)
    if bool(np.all(same)):
        return _right(name)
    bad = np.argwhere(~same)
    first = tuple(int(i) for i in bad[0])
    where = f"[{', '.join(map(str, first))}]" if first else ""
    what = (
        f"{len(bad)} of {want.size} entries differ; first at {name}{where}: "
        f"got {got[first].item()!r}, expected {want[first].item()!r}"
    )
    if not exact and np.allclose(got, -want, rtol=rtol, atol=atol):
        what += " (every entry has the wrong sign)"
    return _wrong(name, what, hint)


def check_choice(
    value: Any,
    expected: Any,
    *,
    name: str,
    options: Sequence[Any],
    explanations: Mapping[Any, str] | None = None,
) -> CheckResult:
    """Check a multiple-choice answer (predict-then-run and explain exercises).

    Parameters
    ----------
    value : Any
        The reader's choice; strings are compared case-insensitively.
    expected : Any
        The right option.
    name : str
        The question, used in the message.
    options : sequence
        The valid options; anything else is reported as not an option.
    explanations : mapping, optional
        For each option, why it is right or wrong; shown with the verdict.

    Returns
    -------
    CheckResult
    """

    def norm(x: Any) -> Any:
        return x.strip().lower() if isinstance(x, str) else x

    if _is_placeholder(value):
        return _wrong(name, "no answer yet", f"pick one of {list(options)}")
    normalised = {norm(o): o for o in options}
    if norm(value) not in normalised:
        return _wrong(name, f"{value!r} is not one of the options {list(options)}", None)
    chosen = normalised[norm(value)]
    why = (explanations or {}).get(chosen, "")
    if chosen == expected:
        return _right(name, f"({chosen!r}){(': ' + why) if why else ''}")
    return _wrong(name, f"{chosen!r} is not right{(': ' + why) if why else ''}", None)


def check_function(
    fn: Any,
    cases: Iterable[tuple[tuple[Any, ...], Any]],
    *,
    name: str,
    compare: Callable[[Any, Any], bool] | None = None,
    hint: str | None = None,
    diagnose: Callable[[tuple[Any, ...], Any, Any], str | None] | None = None,
) -> CheckResult:
    """Check a reader's implementation of a function against known cases.

    Parameters
    ----------
    fn : callable
        The reader's function.
    cases : iterable of (args, expected)
        Positional arguments and the expected return value for each case.
    name : str
        The function's name, used in the message.
    compare : callable, optional
        ``compare(got, expected) -> bool``; defaults to exact equality of
        arrays (``numpy.array_equal``) after converting tensors to numpy.
    hint : str, optional
        Shown with any wrong answer.
    diagnose : callable, optional
        ``diagnose(args, got, expected) -> str | None``, called on the first
        failing case: it names the likely slip (e.g. "you used floor instead of
        ceil"), shown as a "Likely slip:" line, or returns None. An exception
        it raises is ignored.

    Returns
    -------
    CheckResult
        A wrong implementation is told the first failing input, what it
        returned (or raised), what was expected and, where ``diagnose``
        recognises it, the slip.
    """
    if _is_placeholder(fn):
        return _wrong(name, "no function yet", _PLACEHOLDER_HINT)
    if not callable(fn):
        return _wrong(name, f"expected a function, got {type(fn).__name__}", hint)

    def default_compare(got: Any, want: Any) -> bool:
        g, w = _as_numpy(got), _as_numpy(want)
        return g is not None and w is not None and g.shape == w.shape and np.array_equal(g, w)

    same = compare or default_compare
    n = 0
    for args, want in cases:
        n += 1
        shown = ", ".join(_short(a) for a in args)
        try:
            got = fn(*args)
        except Exception as exc:  # the reader's code may raise anything
            return _wrong(name, f"{name}({shown}) raised {type(exc).__name__}: {exc}", hint)
        if not same(got, want):
            result = _wrong(
                name, f"{name}({shown}) returned {_short(got)}, expected {_short(want)}", hint
            )
            try:
                slip = diagnose(args, got, want) if diagnose is not None else None
            except Exception:  # a diagnosis is a bonus; never let it hide the verdict
                slip = None
            if slip:
                result = CheckResult(False, f"{result.message}\nLikely slip: {slip}")
            return result
    return _right(name, f"(all {n} test cases pass)")


def _short(x: Any) -> str:
    text = repr(_as_numpy(x).tolist() if hasattr(x, "shape") else x)
    return text if len(text) <= 80 else text[:77] + "..."
