"""Checkers for the book's exercises.

Each chapter's exercises end with a call such as ``ch01.check_mse(my_answer)``.
A checker never raises, whatever it is passed: it returns a
:class:`CheckResult` that is truthy only when the answer is right and whose
text says *what* is wrong (wrong shape, wrong sign, off by a factor of two, a
known slip, ...), so that a reader in Jupyter sees a helpful message. The
book's own solution cells use ``assert check(...)``, which fails the build if a
solution drifts.

The rules every checker follows:

- Only ``...`` (the Ellipsis an answer cell holds before it is answered) means
  "no answer yet"; ``None`` is an answer like any other, since it is the right
  one to some questions.
- A number worked out by hand is right when it agrees with the exact value to
  :data:`SIG_FIGS` significant figures (``0.0208`` for 1/48); the verdict then
  gives the exact value. A known slip is recognised with the same tolerance,
  so a rounded slip is still named.
- Multiple-choice answers are compared after normalisation: case, spaces,
  quotes, brackets and trailing punctuation do not matter (``"(a)"``, ``"A."``),
  small whole numbers match their words (``0`` for ``"zero"``), ``None``
  matches ``"none"``, and each exercise may add synonyms.
- Every public checker is wrapped in :func:`never_raises`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "SIG_FIGS",
    "CheckResult",
    "all_parts",
    "as_numpy",
    "check_array",
    "check_choice",
    "check_close",
    "check_function",
    "is_placeholder",
    "matches",
    "never_raises",
    "right",
    "wrong",
]

_PLACEHOLDER_HINT = "replace the `...` with your answer and run the cell again"

#: Significant figures to which a number worked out by hand must agree.
SIG_FIGS = 3


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
    """True for the ``...`` an exercise cell holds before it is answered.

    ``None`` is *not* a placeholder: it is a legitimate answer (the gradient of
    a detached tensor is ``None``), and a function that returns nothing is
    reported as such.
    """
    return value is Ellipsis


def never_raises(checker: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
    """Decorator: a checker that raises returns a "could not read" verdict instead.

    Every public ``check_*`` function of the chapter modules is wrapped, so an
    answer of an unexpected type (a dict, a string, a generator, ...) gets a
    message, never a traceback in the middle of an exercise.

    Parameters
    ----------
    checker : callable
        A function returning a :class:`CheckResult`.

    Returns
    -------
    callable
        The same function, with any exception turned into a falsy verdict.
    """

    @functools.wraps(checker)
    def wrapped(*args: Any, **kwargs: Any) -> CheckResult:
        try:
            result = checker(*args, **kwargs)
        except Exception as exc:  # the answer may be anything at all
            return wrong(
                checker.__name__.removeprefix("check_").replace("_", " "),
                f"the checker could not read this answer ({type(exc).__name__}: {exc})",
                "give the kind of answer the exercise asks for (see the comment in the cell)",
            )
        if not isinstance(result, CheckResult):  # a checker bug, still not a crash
            return wrong(checker.__name__, f"the checker returned {type(result).__name__}")
        return result

    return wrapped


def all_parts(results: Sequence[CheckResult], name: str | None = None) -> CheckResult:
    """One verdict for an exercise with several answers, every part reported.

    The verdict is right only when every part is; the wrong parts come first,
    then the right ones, so a learner sees everything that needs another look
    at once instead of one part at a time.

    Parameters
    ----------
    results : sequence of CheckResult
        The verdicts on the parts, in the order of the exercise.
    name : str, optional
        What the parts are together (e.g. ``"one Lloyd iteration"``); when
        given, a wrong verdict opens with how many parts need another look.

    Returns
    -------
    CheckResult
    """
    if all(r.ok for r in results):
        return CheckResult(True, "\n".join(r.message for r in results))
    bad = [r.message for r in results if not r.ok]
    good = [r.message for r in results if r.ok]
    lines = bad + good
    if name is not None:
        verb = "needs" if len(bad) == 1 else "need"
        lines.insert(
            0, f"Not yet: {len(bad)} of {len(results)} parts of {name} {verb} another look:"
        )
    return CheckResult(False, "\n".join(lines))


# Private names kept for checkers written before these were public.
_right, _wrong, _is_placeholder = right, wrong, is_placeholder


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    try:
        arr = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
    except Exception:
        return None
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        return None
    try:
        return float(arr.reshape(()))
    except (TypeError, ValueError, OverflowError):
        return None


def _sig_tolerance(x: float, sig_figs: int) -> float:
    """Half a unit in the last of ``sig_figs`` significant figures of ``x``."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return 0.5 * 10.0 ** (math.floor(math.log10(abs(x))) - sig_figs + 1)


def matches(
    got: float,
    want: float,
    *,
    sig_figs: int | None = SIG_FIGS,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> bool:
    """True when ``got`` agrees with ``want`` to ``sig_figs`` significant figures.

    ``got`` may carry more digits than ``sig_figs`` (``0.020833`` and ``0.0208``
    both match 1/48) but no fewer (``0.021`` does not). With ``sig_figs=None``
    only ``rtol`` and ``atol`` count, as in :func:`math.isclose`.

    Parameters
    ----------
    got, want : float
        The answer and the value it should agree with.
    sig_figs : int or None
        Significant figures; ``None`` for a plain relative/absolute test.
    rtol, atol : float
        Extra relative and absolute tolerances, added to the rounding one.

    Returns
    -------
    bool
    """
    if not (math.isfinite(got) and math.isfinite(want)):
        return got == want
    tol = _sig_tolerance(want, sig_figs) * (1 + 1e-9) if sig_figs is not None else 0.0
    return abs(got - want) <= max(tol, rtol * abs(want), atol) + 1e-15 * abs(want)


def check_close(
    value: Any,
    expected: float,
    *,
    name: str,
    sig_figs: int | None = SIG_FIGS,
    rtol: float = 1e-9,
    atol: float = 1e-12,
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
    sig_figs : int or None
        An answer agreeing with ``expected`` to this many significant figures
        is right (a number worked out by hand and rounded); ``None`` requires
        agreement within ``rtol``/``atol`` only (a computed number).
    rtol, atol : float
        Tolerances for float rounding, as in :func:`math.isclose`.
    hint : str, optional
        Shown with any wrong answer.
    mistakes : mapping of str to float, optional
        Known wrong answers and what slip produces them, e.g.
        ``{"you used the distance, not its square": 0.632}``; a match (with the
        same tolerance as the right answer) is named. When an answer matches
        both the right value and a slip, it is right.

    Returns
    -------
    CheckResult
    """
    if _is_placeholder(value):
        return _wrong(name, "no answer yet", _PLACEHOLDER_HINT)
    got = _to_float(value)
    if got is None:
        kind = "None" if value is None else type(value).__name__
        return _wrong(name, f"expected a single number, got {kind}", hint)
    expected = float(expected)

    def near(a: float, b: float) -> bool:
        return matches(a, b, sig_figs=sig_figs, rtol=rtol, atol=atol)

    if near(got, expected):
        if got == expected or math.isclose(got, expected, rel_tol=1e-9, abs_tol=atol):
            return _right(name, f"= {expected:.6g}")
        return _right(
            name,
            f"= {expected:.6g} (your {got:.6g} agrees to {sig_figs} significant figures)",
        )
    slips = [(abs(got - v), slip, v) for slip, v in (mistakes or {}).items() if near(got, v)]
    if slips:
        _, slip, _ = min(slips)
        return _wrong(name, f"{got:.6g} is what you get if {slip}", hint)
    what = f"got {got:.6g}"
    if math.isnan(got):
        what += " (NaN: something divided by zero or used an empty array)"
    elif math.isinf(got):
        what += " (infinite: something overflowed or divided by zero)"
    elif expected != 0 and near(-got, expected):
        what += ", which has the wrong sign"
    elif sig_figs is not None and matches(got, expected, sig_figs=2):
        what += f", which is close: it agrees to 2 significant figures; give at least {sig_figs}"
    elif expected != 0 and got != 0:
        ratio = got / expected
        if ratio > 0:
            for factor in (2.0, 10.0, 1000.0):
                if math.isclose(ratio, factor, rel_tol=2e-3):
                    what += f", about {factor:g}x too large"
                elif math.isclose(ratio, 1.0 / factor, rel_tol=2e-3):
                    what += f", about {factor:g}x too small"
            if "about" not in what:
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
    try:
        if hasattr(value, "detach"):
            value = value.detach().cpu()
            if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
                value = value.float()
            value = value.numpy()
        arr = np.asarray(value)
    except Exception:
        return None
    if arr.dtype == object or arr.dtype.kind in "USV":
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
    sig_figs: int | None = None,
    hint: str | None = None,
    exact: bool = False,
    mistakes: Mapping[str, Any] | None = None,
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
    sig_figs : int, optional
        For arrays worked out by hand: every entry is right when it agrees
        with the expected entry to this many significant figures (entries
        that should be 0 may be off by half a unit in the last such figure of
        the largest entry).
    hint : str, optional
        Shown with any wrong answer.
    exact : bool
        Compare for equality (for indices and codes); a float answer to an
        integer question is then reported as such.
    mistakes : mapping of str to array-like, optional
        Known wrong arrays and the slip that produces them; a match (with the
        same tolerance) is named.

    Returns
    -------
    CheckResult
        A wrong answer names the shape difference or the first wrong entry.
    """
    if _is_placeholder(value):
        return _wrong(name, "no answer yet", _PLACEHOLDER_HINT)
    got = _as_numpy(value) if value is not None and not isinstance(value, str) else None
    want = np.asarray(expected)
    if got is None or not (np.issubdtype(got.dtype, np.number) or got.dtype == bool):
        kind = "None" if value is None else type(value).__name__
        return _wrong(name, f"expected an array of numbers, got {kind}", hint)
    if got.shape != want.shape:
        what = f"shape {got.shape}, expected {want.shape}"
        if got.shape == want.shape[::-1] and got.ndim == 2:
            what += " (transposed?)"
        return _wrong(name, what, hint)

    def close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if exact:
            return a == b
        if sig_figs is None:
            return np.isclose(a, b, rtol=rtol, atol=atol)
        a, b = a.astype(np.float64), b.astype(np.float64)
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        tol = np.array([_sig_tolerance(float(x), sig_figs) for x in b.ravel()]).reshape(b.shape)
        tol = np.where(b == 0, _sig_tolerance(scale, sig_figs), tol) * (1 + 1e-9)
        return np.abs(a - b) <= np.maximum(tol, atol)

    same = close(got, want)
    if bool(np.all(same)):
        if (
            exact
            and np.issubdtype(want.dtype, np.integer)
            and not np.issubdtype(got.dtype, np.integer)
        ):
            return _wrong(
                name,
                f"the values are right but they are {got.dtype} numbers, not integers",
                "indices are integers: use .astype(int) (numpy) or .long() (torch)",
            )
        return _right(name)
    for slip, bad_value in (mistakes or {}).items():
        b = np.asarray(bad_value)
        if b.shape == got.shape and bool(np.all(close(got, b))):
            return _wrong(name, f"that is what you get if {slip}", hint)
    bad = np.argwhere(~same)
    first = tuple(int(i) for i in bad[0])
    where = f"[{', '.join(map(str, first))}]" if first else ""
    what = (
        f"{len(bad)} of {want.size} entries differ; first at {name}{where}: "
        f"got {got[first].item()!r}, expected {want[first].item()!r}"
    )
    if not exact and bool(np.all(close(-got, want))):
        what += " (every entry has the wrong sign)"
    return _wrong(name, what, hint)


_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def _normalise_choice(x: Any) -> Any:
    """The comparable form of a multiple-choice answer or option."""
    if x is None:
        return "none"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int | np.integer) and 0 <= x < len(_NUMBER_WORDS):
        return _NUMBER_WORDS[int(x)]
    if isinstance(x, float | np.floating) and float(x).is_integer() and 0 <= x < 13:
        return _NUMBER_WORDS[int(x)]
    if isinstance(x, int | float | np.integer | np.floating):
        return repr(x)
    if isinstance(x, str):
        text = x.strip().lower()
        text = re.sub(r"\s+", " ", text)
        text = text.strip("\"'`“”‘’")
        for _ in range(2):  # "(c).": punctuation after the brackets, or inside them
            text = re.sub(r"^(.*?)\s*[.:;,!?]+$", r"\1", text)  # "a.", "zero!"
            text = re.sub(r"^[(\[]\s*(.*?)\s*[)\]]$", r"\1", text)  # "(a)", "[a]"
            text = re.sub(r"^(.*?)\s*[).:;,!?]+$", r"\1", text)  # "a)"
        text = text.strip().strip("\"'`“”‘’").strip()
        if text.isdigit() and int(text) < len(_NUMBER_WORDS):
            return _NUMBER_WORDS[int(text)]
        return text
    return None


def check_choice(
    value: Any,
    expected: Any,
    *,
    name: str,
    options: Sequence[Any],
    explanations: Mapping[Any, str] | None = None,
    aliases: Mapping[Any, Any] | None = None,
) -> CheckResult:
    """Check a multiple-choice answer (predict-then-run and explain exercises).

    Parameters
    ----------
    value : Any
        The reader's choice. Strings are compared after normalisation (case,
        spaces, quotes, surrounding brackets and trailing punctuation are
        ignored), small whole numbers match their words (``0`` and
        ``"zero"``), ``None`` matches ``"none"``.
    expected : Any
        The right option.
    name : str
        The question, used in the message.
    options : sequence
        The valid options; anything else is reported as not an option.
    explanations : mapping, optional
        For each option, why it is right or wrong; shown with the verdict.
    aliases : mapping, optional
        Other ways to give an option (``{"<=": "lower or equal"}``), normalised
        the same way.

    Returns
    -------
    CheckResult
    """
    if _is_placeholder(value):
        return _wrong(name, "no answer yet", f"pick one of {list(options)}")
    normalised = {_normalise_choice(o): o for o in options}
    for alias, option in (aliases or {}).items():
        normalised.setdefault(_normalise_choice(alias), option)
    key = _normalise_choice(value)
    if key is None or key not in normalised:
        shown = _short(value)
        return _wrong(name, f"{shown} is not one of the options {list(options)}", None)
    chosen = normalised[key]
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
        arrays (``numpy.array_equal``) after converting tensors to numpy, where
        a float array never equals an integer one (indices are integers).
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
        if g is None or w is None or g.shape != w.shape:
            return False
        if np.issubdtype(w.dtype, np.integer) and not np.issubdtype(g.dtype, np.integer):
            return False
        return bool(np.array_equal(g, w))

    same = compare or default_compare
    n = 0
    for args, want in cases:
        n += 1
        shown = ", ".join(_short(a) for a in args)
        try:
            got = fn(*args)
        except Exception as exc:  # the reader's code may raise anything
            return _wrong(name, f"{name}({shown}) raised {type(exc).__name__}: {exc}", hint)
        if got is None and want is not None:
            return _wrong(
                name,
                f"{name}({shown}) returned None: the function has no `return` (or returns nothing)",
                hint,
            )
        try:
            ok = bool(same(got, want))
        except Exception:  # an answer of an unexpected type is simply not equal
            ok = False
        if not ok:
            what = f"{name}({shown}) returned {_short(got)}, expected {_short(want)}"
            g, w = _as_numpy(got), _as_numpy(want)
            if (
                g is not None
                and w is not None
                and g.shape == w.shape
                and np.issubdtype(w.dtype, np.integer)
                and np.issubdtype(g.dtype, np.floating)
                and np.array_equal(g, w)
            ):
                what += f" (the values are right, but as {g.dtype}: indices must be integers)"
            result = _wrong(name, what, hint)
            try:
                slip = diagnose(args, got, want) if diagnose is not None else None
            except Exception:  # a diagnosis is a bonus; never let it hide the verdict
                slip = None
            if slip:
                result = CheckResult(False, f"{result.message}\nLikely slip: {slip}")
            return result
    return _right(name, f"(all {n} test cases pass)")


def _short(x: Any) -> str:
    try:
        text = repr(_as_numpy(x).tolist() if hasattr(x, "shape") else x)
    except Exception:
        text = f"<{type(x).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."
