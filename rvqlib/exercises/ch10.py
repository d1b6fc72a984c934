"""Checkers for the exercises of chapter 10, "Quantizers without a learned codebook".

One function per exercise; each returns a :class:`~rvqlib.exercises._check.CheckResult`
that is truthy when the answer is right and otherwise says what is wrong. Expected
values are computed with :mod:`rvqlib` from the exercise's constants below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rvqlib.bakeoff import SeedSummary, beats
from rvqlib.exercises._check import (
    CheckResult,
    as_numpy,
    check_array,
    check_choice,
    check_close,
    check_function,
    is_placeholder,
    never_raises,
    right,
    wrong,
)
from rvqlib.fsq import fsq

__all__ = [
    "BAKEOFF_OPTIONS",
    "BY_HAND_LEVELS",
    "BY_HAND_Z",
    "GRID_LEVELS",
    "GRID_STAGES",
    "TEMPERATURE_OPTIONS",
    "WIDTH_LEVELS",
    "WIDTH_OPTIONS",
    "by_hand_solution",
    "check_bakeoff_reading",
    "check_fsq_by_hand",
    "check_lfq_temperature",
    "check_my_fsq",
    "check_rfsq_grid",
    "check_width_or_levels",
    "colleague_fsq",
    "grid_solution",
    "my_fsq_cases",
    "width_or_levels_answer",
]


# ------------------------------------------------------------------ exercise "by hand"
#: The vector of exercise ``ch10-ex-by-hand``.
BY_HAND_Z: tuple[float, float] = (0.8, -0.75)
#: The levels of exercise ``ch10-ex-by-hand``: 5 values for coordinate 0, 4 for coordinate 1.
BY_HAND_LEVELS: tuple[int, int] = (5, 4)


def by_hand_solution() -> tuple[np.ndarray, int]:
    """The right answer of exercise ``ch10-ex-by-hand``, computed with :func:`rvqlib.fsq.fsq`.

    Returns
    -------
    zq : numpy.ndarray
        The two quantized values.
    code : int
        The mixed-radix code.
    """
    codes, zq = fsq(np.array(BY_HAND_Z), list(BY_HAND_LEVELS))
    return zq, int(codes)


def _grid_values(level: int) -> np.ndarray:
    return (2 * np.arange(level) - (level - 1)) / (level - 1)


def _nearest_level(y: float, level: int) -> int:
    return int(np.argmin(np.abs(_grid_values(level) - y)))


def _by_hand_slips() -> tuple[dict[str, np.ndarray], dict[str, int]]:
    z = np.array(BY_HAND_Z)
    l0, l1 = BY_HAND_LEVELS
    t = np.tanh(z)
    k = [_nearest_level(t[0], l0), _nearest_level(t[1], l1)]
    k_raw = [_nearest_level(z[0], l0), _nearest_level(z[1], l1)]  # no bound
    zq_raw = np.array([_grid_values(l0)[k_raw[0]], _grid_values(l1)[k_raw[1]]])
    half1 = (l1 - 1) / 2  # the colleague's bug: integers in the centred coordinate
    zq_mid = np.array([_grid_values(l0)[k[0]], np.round(t[1] * half1) / half1])
    zq_slips = {
        "you rounded z itself: bound it first, y = tanh(z)": zq_raw,
        "you rounded tanh(z) (L-1)/2 to an integer for the even L = 4: its levels are "
        "half-integers there (its values are -1, -1/3, 1/3, 1: neither 0 nor +-2/3)": zq_mid,
        "you gave the level indices k, not the values v_k = (2k - (L-1))/(L-1)": np.array(
            k, dtype=float
        ),
        "you gave tanh(z), before rounding": t,
    }
    code_slips = {
        "you rounded z itself instead of tanh(z)": k_raw[0] + l0 * k_raw[1],
        "you made coordinate 0 the most significant digit; it is the least significant": (
            k[1] + l1 * k[0]
        ),
        "you counted levels from 1; count them from 0": (k[0] + 1) + l0 * (k[1] + 1),
        "you multiplied digit 1 by its own number of levels (4); the place value of digit 1 "
        "is levels[0] = 5": k[0] + l1 * k[1],
    }
    want = by_hand_solution()[1]
    return zq_slips, {s: v for s, v in code_slips.items() if v != want}


@never_raises
def check_fsq_by_hand(zq: Any, code: Any) -> CheckResult:
    """Exercise ``ch10-ex-by-hand``: FSQ of ``BY_HAND_Z`` with ``BY_HAND_LEVELS`` by hand.

    Parameters
    ----------
    zq : array-like
        The two quantized values (3 significant figures are enough).
    code : int
        The mixed-radix code (an exact integer).

    Returns
    -------
    CheckResult
        The values first, then the code; the usual slips are named (no bound,
        even levels rounded as odd ones, indices for values, digits in the
        wrong order or counted from 1).
    """
    name = "FSQ by hand"
    for part, value in (("zq", zq), ("code", code)):
        if is_placeholder(value):
            return wrong(f"{name} ({part})", "no answer yet", "fill in zq and code")
    want_zq, want_code = by_hand_solution()
    zq_slips, code_slips = _by_hand_slips()
    res = check_array(
        zq,
        want_zq,
        name=f"{name} (zq)",
        sig_figs=3,
        mistakes=zq_slips,
        hint="bound each coordinate with tanh, then take the nearest of its L values "
        "v_k = (2k - (L-1))/(L-1)",
    )
    if not res:
        return res
    if isinstance(code, bool):
        return wrong(f"{name} (code)", "expected an integer code, got a bool", None)
    got = as_numpy(code)
    if got is None or got.size != 1 or not np.issubdtype(got.dtype, np.number):
        return wrong(f"{name} (code)", f"expected one integer code, got {code!r}", None)
    value = got.reshape(()).item()
    if not np.issubdtype(got.dtype, np.integer):
        if isinstance(value, float) and value.is_integer() and int(value) == want_code:
            return wrong(
                f"{name} (code)",
                f"{value!r} is right but a float; a code is an integer (write {want_code})",
                None,
            )
        if not (isinstance(value, float) and value.is_integer()):
            return wrong(f"{name} (code)", f"{value!r} is not a whole number", None)
    res = check_close(
        int(value),
        want_code,
        name=f"{name} (code)",
        sig_figs=None,
        mistakes=code_slips,
        hint="code = k_0 + levels[0] * k_1, with k_d the position (from 0) of coordinate "
        "d's value among its levels",
    )
    if not res:
        return res
    return right(name, f"zq = {np.round(want_zq, 4).tolist()}, code {want_code}")


# --------------------------------------------------------- exercise "find the bug"
def colleague_fsq(z: Any, levels: Any) -> tuple[np.ndarray, np.ndarray]:
    """A colleague's FSQ in numpy, for exercise ``ch10-ex-find-bug``. It has one bug.

    Parameters
    ----------
    z : array_like
        Vectors ``(..., D)``.
    levels : sequence of int
        Levels per coordinate.

    Returns
    -------
    codes : numpy.ndarray
        Mixed-radix codes.
    zq : numpy.ndarray
        Quantized values.
    """
    z = np.asarray(z, dtype=float)
    levels = np.asarray(levels)
    half = (levels - 1) / 2  # 2.0 for L = 5, 1.5 for L = 4
    k = np.round(np.tanh(z) * half) + half  # the level index 0 .. L-1
    zq = k / half - 1  # its value in [-1, 1]
    basis = np.cumprod([1, *levels[:-1]])  # place values, coordinate 0 first
    codes = (k * basis).sum(axis=-1).astype(np.int64)
    return codes, zq


def _no_bound_fsq(z: Any, levels: Any) -> tuple[np.ndarray, np.ndarray]:
    """FSQ that rounds clip(z, -1, 1) instead of tanh(z) (a slip)."""
    z = np.clip(np.asarray(z, dtype=float), -1.0, 1.0)
    levels = np.asarray(levels)
    k = np.round((z + 1) * (levels - 1) / 2)
    basis = np.cumprod([1, *levels[:-1]])
    return (k * basis).sum(-1).astype(np.int64), 2 * k / (levels - 1) - 1


def _reversed_fsq(z: Any, levels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Right values, but coordinate 0 the most significant digit (a slip)."""
    levels = list(levels)
    codes, zq = fsq(np.asarray(z, dtype=float), levels)
    k = np.round((zq + 1) * (np.asarray(levels) - 1) / 2).astype(np.int64)
    basis = np.cumprod([1, *levels[::-1][:-1]])[::-1]
    return (k * basis).sum(-1), zq


def my_fsq_cases() -> list[tuple[tuple[np.ndarray, list[int]], tuple[np.ndarray, np.ndarray]]]:
    """Test cases ``((z, levels), (codes, zq))`` of exercise ``ch10-ex-find-bug``.

    Odd and even levels, mixed in one vector; no input lies on a cell edge.
    Expected answers come from :func:`rvqlib.fsq.fsq`.
    """
    rng = np.random.default_rng(10)
    cases = [
        (np.array([[0.8, -0.75]]), [5, 4]),
        (1.5 * rng.standard_normal((50, 4)), [8, 5, 5, 5]),
        (rng.standard_normal((40, 2)), [4, 4]),
        (2.0 * rng.standard_normal((30, 3)), [2, 6, 3]),
        (rng.standard_normal((25, 1)), [7]),
    ]
    return [((z, levels), fsq(z, levels)) for z, levels in cases]


def _same_fsq(got: Any, want: Any) -> bool:
    if not isinstance(got, tuple | list) or len(got) != 2:
        return False
    codes, zq = as_numpy(got[0]), as_numpy(got[1])
    w_codes, w_zq = want
    if codes is None or zq is None or codes.shape != w_codes.shape or zq.shape != w_zq.shape:
        return False
    if not np.issubdtype(codes.dtype, np.integer):
        return False
    return bool(np.array_equal(codes, w_codes) and np.allclose(zq, w_zq, rtol=0, atol=1e-9))


@never_raises
def check_my_fsq(fn: Any) -> CheckResult:
    """Exercise ``ch10-ex-find-bug``: a fixed ``my_fsq(z, levels) -> (codes, zq)``.

    Parameters
    ----------
    fn : callable
        The reader's FSQ on numpy arrays: ``z`` of shape ``(N, D)`` and a list of
        ``D`` levels in, ``(codes, zq)`` out (integer codes ``(N,)``, values
        ``(N, D)``).

    Returns
    -------
    CheckResult
        Compared with :func:`rvqlib.fsq.fsq` on five cases; when the reader's
        outputs match a known slip on **every** case it is named (the
        colleague's bug kept, the bound dropped, the digits reversed).
    """
    name = "my_fsq"
    if is_placeholder(fn) or not callable(fn):
        return check_function(fn, [], name=name)
    cases = my_fsq_cases()
    outputs = []
    for (z, levels), _ in cases:
        try:
            outputs.append(fn(z.copy(), list(levels)))
        except Exception:  # the reader's code may raise anything; check_function reports it
            outputs.append(None)
    slips = {
        "this is still the colleague's quantizer: rounding tanh(z) (L-1)/2 to integers is "
        "right for odd L only; for even L the grid points of that coordinate are half-integers "
        "(each coordinate must take exactly L values)": (
            colleague_fsq,
            "round the position u = (tanh(z) + 1)(L - 1)/2 in [0, L - 1] to an integer instead",
        ),
        "you bounded with a clip to [-1, 1], not tanh": (
            _no_bound_fsq,
            "FSQ bounds with tanh(z): it never overloads, and its gradient is never zero "
            "in exact arithmetic",
        ),
        "the values are right but coordinate 0 is the most significant digit of your codes": (
            _reversed_fsq,
            "code = sum_d k_d * prod(levels[:d]): coordinate 0 is the least significant digit",
        ),
    }
    for what, (slip_fn, hint) in slips.items():
        bad = [slip_fn(z, levels) for (z, levels), _ in cases]
        if all(
            g is not None and _same_fsq(g, b) for g, b in zip(outputs, bad, strict=True)
        ) and not all(_same_fsq(b, w) for b, (_, w) in zip(bad, cases, strict=True)):
            return wrong(name, what, hint)
    return check_function(
        fn,
        cases,
        name=name,
        compare=_same_fsq,
        hint="return (codes, zq): integer mixed-radix codes and the quantized values of fsq",
    )


# ----------------------------------------------------- exercise "LFQ temperature"
#: The options of exercise ``ch10-ex-lfq-temperature``, as the notebook prints them.
TEMPERATURE_OPTIONS: dict[str, str] = {
    "a": "both temperatures spread the batch over many codes",
    "b": "only tau = 1 spreads it; at tau = 0.01 it stays on one code",
    "c": "only tau = 0.01 spreads it; at tau = 1 the soft codes are too blurred to push",
    "d": "neither: the per-sample entropy cancels the codebook entropy",
}


@never_raises
def check_lfq_temperature(answer: Any) -> CheckResult:
    """Exercise ``ch10-ex-lfq-temperature`` (predict, then run); the answer is ``"b"``.

    Options ``"a"``..``"d"`` (:data:`TEMPERATURE_OPTIONS`).
    """
    explanations = {
        "a": "at tau = 0.01 the bits' probabilities sigmoid(4 z / tau) are saturated at 0 or 1, "
        "so the entropy's gradient is about exp(-4|z|/tau): numerically zero",
        "b": "q(c_d = +1 | z) = sigmoid(4 z_d / tau): with tau = 0.01 and |z_d| = 0.5 the "
        "logit is 200, its gradient vanishes and nothing moves; with tau = 1 the codebook "
        "entropy has a usable gradient and pushes the vectors apart",
        "c": "a low temperature makes the soft assignment hard, and a hard assignment has no "
        "gradient; it is the warm one that can push",
        "d": "the two terms pull in different directions but do not cancel: at tau = 1 the "
        "codebook entropy wins and the codes spread",
    }
    return check_choice(
        answer,
        "b",
        name="which temperature un-collapses the batch",
        options=list(TEMPERATURE_OPTIONS),
        explanations=explanations,
    )


# ------------------------------------------------------- exercise "residual grid"
#: Levels per coordinate of every stage in exercise ``ch10-ex-rfsq-grid``.
GRID_LEVELS: int = 5
#: Number of stages in exercise ``ch10-ex-rfsq-grid``.
GRID_STAGES: int = 3


def grid_solution() -> tuple[int, float, float]:
    """``(n_values, step, max_error)`` of exercise ``ch10-ex-rfsq-grid``.

    One coordinate of residual FSQ with ``GRID_STAGES`` stages of ``GRID_LEVELS``
    levels, stage ``i`` scaled by ``L**-i``: the sums of the stage values form
    one uniform grid of ``L**n`` values with step ``2 / ((L - 1) L**(n - 1))``;
    the error in the bounded coordinate is at most half a step.
    """
    level, n = GRID_LEVELS, GRID_STAGES
    step = 2 / ((level - 1) * level ** (n - 1))
    return level**n, step, step / 2


@never_raises
def check_rfsq_grid(n_values: Any, step: Any, max_error: Any) -> CheckResult:
    """Exercise ``ch10-ex-rfsq-grid``: the grid of three residual-FSQ stages of 5 levels.

    Parameters
    ----------
    n_values : int
        Number of distinct values one coordinate can take (an exact integer).
    step : float
        Spacing of those values (3 significant figures).
    max_error : float
        Largest error in the bounded coordinate (3 significant figures).

    Returns
    -------
    CheckResult
    """
    name = "the residual FSQ grid"
    for part, value in (("n_values", n_values), ("step", step), ("max_error", max_error)):
        if is_placeholder(value):
            return wrong(f"{name} ({part})", "no answer yet", "fill in all three")
    level, n = GRID_LEVELS, GRID_STAGES
    want_n, want_step, want_err = grid_solution()
    if isinstance(n_values, bool):
        return wrong(f"{name} (n_values)", "expected an integer count, got a bool", None)
    got = as_numpy(n_values)
    if got is None or got.size != 1 or not np.issubdtype(got.dtype, np.number):
        return wrong(f"{name} (n_values)", f"expected one integer, got {n_values!r}", None)
    count = got.reshape(()).item()
    if isinstance(count, float) and not count.is_integer():
        return wrong(f"{name} (n_values)", f"{count!r} is not a whole number of values", None)
    res = check_close(
        count,
        want_n,
        name=f"{name} (n_values)",
        sig_figs=None,
        mistakes={
            # the sums are then the multiples of 2 / (L-1)**n up to sum_i (L-1)**-i
            "the stages were scaled by (L-1)**-i: then neighbouring cells share their end values": (
                sum((level - 1) ** j for j in range(1, n + 1)) + 1
            ),
            "you added the stages' levels; their combinations multiply": n * level,
            "you counted the values of one stage only": level,
        },
        hint="every combination of the stages' levels gives a different value",
    )
    if not res:
        return res
    res = check_close(
        step,
        want_step,
        name=f"{name} (step)",
        mistakes={
            "you spread L**n values evenly over [-1, 1], as FSQ with L**n levels would: the "
            "residual grid runs past +-1, to +-(1 + 1/L + 1/L**2)": 2 / (level**n - 1),
            "you took stage i's step as 2 / (L-1)**(i+1) (scaling by (L-1)**-i)": 2
            / (level - 1) ** n,
            "you divided stage 0's step by L**n instead of L**(n-1)": 2 / ((level - 1) * level**n),
            "you took 1 / L**n": 1 / level**n,
        },
        hint="stage 0's step is 2/(L-1); each later stage divides it by L",
    )
    if not res:
        return res
    res = check_close(
        max_error,
        want_err,
        name=f"{name} (max_error)",
        mistakes={
            "you gave the whole step: a value is at most half a step from its nearest grid point": (
                want_step
            ),
            "you gave stage 0's error alone, 1/(L-1)": 1 / (level - 1),
        },
        hint="the nearest of evenly spaced values is at most half a step away",
    )
    if not res:
        return res
    return right(name, f"{want_n} values, step {want_step:.4g}, error at most {want_err:.4g}")


# ------------------------------------------------------- exercise "read the bake-off"
#: The options of exercise ``ch10-ex-read-bakeoff``, as the notebook prints them.
BAKEOFF_OPTIONS: dict[str, str] = {
    "a": "FSQ used all 256 of its codes at 8 bits, since a fixed grid cannot collapse",
    "b": "RVQ with EMA beat FSQ at both rates, on every seed",
    "c": "the rotation trick beat plain EMA at both rates",
    "d": "LFQ's entropy term brought its code usage to 100 %",
}


@never_raises
def check_bakeoff_reading(answer: Any) -> CheckResult:
    """Exercise ``ch10-ex-read-bakeoff``: which claim the bake-off's numbers support.

    Options ``"a"``..``"d"`` (:data:`BAKEOFF_OPTIONS`); the answer is ``"b"``
    (the notebook asserts each fact the explanations state).
    """
    explanations = {
        "a": "no code of a fixed grid can die, but the encoder used only part of the grid: "
        "the measured usage is far below 100 %",
        "b": "every seed of RVQ with EMA (and dead-code replacement at half a vector per "
        "batch) had a higher SNR than every seed of FSQ, at 8 and at 16 bits, with the "
        "equal-bit levels and with the levels of the FSQ paper alike",
        "c": "at 8 bits plain EMA won on every seed; at 16 bits the two tied within the "
        "spread of the seeds",
        "d": "its usage stayed far from 100 %; the entropy term raised the perplexity, not to "
        "the full codebook",
    }
    return check_choice(
        answer,
        "b",
        name="what the bake-off shows",
        options=list(BAKEOFF_OPTIONS),
        explanations=explanations,
    )


# ------------------------------------------------------- exercise "width or levels"
#: The levels of exercise ``ch10-ex-width-or-levels``: the 240 codes of the paper's
#: levels ``[8, 6, 5]`` on the 4 coordinates of the equal-bit FSQ ``[4, 4, 4, 4]``.
WIDTH_LEVELS: tuple[int, ...] = (5, 4, 4, 3)

#: The options of exercise ``ch10-ex-width-or-levels``, as the notebook prints them.
#: Which one is right depends on the runs (:func:`width_or_levels_answer`), so no
#: option is much longer than another.
WIDTH_OPTIONS: dict[str, str] = {
    "a": "the width: [5, 4, 4, 3] beats [8, 6, 5] and is not beaten by [4, 4, 4, 4]",
    "b": "the levels: [4, 4, 4, 4] beats [5, 4, 4, 3], which does not beat [8, 6, 5]",
    "c": "both: [4, 4, 4, 4] beats [5, 4, 4, 3], which in turn beats [8, 6, 5]",
    "d": "cannot tell: [5, 4, 4, 3] ties both, or there is no gap to explain",
}

#: The configurations of exercise ``ch10-ex-width-or-levels`` in a
#: :func:`rvqlib.bakeoff.summarize` dict, and how the verdicts name them.
_WIDTH_KEYS: dict[str, tuple[str, int]] = {
    "[4, 4, 4, 4]": ("fsq", 8),
    "[8, 6, 5]": ("fsq_paper", 8),
    "[5, 4, 4, 3]": ("fsq_custom", 8),
}


#: What each option of exercise ``ch10-ex-width-or-levels`` claims, when the seed
#: rule sees the gap: ``(the levels step counts, the width step counts)``.
_WIDTH_CLAIMS: dict[str, tuple[bool, bool]] = {
    "a": (False, True),
    "b": (True, False),
    "c": (True, True),
    "d": (False, False),
}


def _width_summaries(snr: Any) -> tuple[SeedSummary, SeedSummary, SeedSummary]:
    """``(equal, paper, given)`` from a summarize dict, or ValueError saying what is missing."""
    if not isinstance(snr, Mapping):
        raise ValueError(
            f"expected the dict of SNR summaries from rvqlib.bakeoff.summarize, got "
            f"{type(snr).__name__}"
        )
    found = []
    for label, key in _WIDTH_KEYS.items():
        summary = snr.get(key)
        if not isinstance(summary, SeedSummary) or not summary.values:
            raise ValueError(f"no SeedSummary for {label} under the key {key!r}")
        if not all(np.isfinite(v) for v in summary.values):
            raise ValueError(f"the SNRs of {label} are not all finite")
        found.append(summary)
    if len({len(f.values) for f in found}) != 1:
        raise ValueError("the three configurations must be trained with the same seeds")
    equal, paper, given = found
    return equal, paper, given


def width_or_levels_answer(snr: Mapping[tuple[str, int], SeedSummary]) -> str:
    """The right option of exercise ``ch10-ex-width-or-levels``, by the seed rule.

    Two steps lead from ``[4, 4, 4, 4]`` to the paper's ``[8, 6, 5]`` at 8 bits:
    other levels at the same width (to :data:`WIDTH_LEVELS`, 240 codes on 4
    coordinates), then the same 240 codes on 3 coordinates. A step counts when
    :func:`rvqlib.bakeoff.beats` holds for it (every seed better); the gap
    itself must count first.

    Parameters
    ----------
    snr : dict
        From :func:`rvqlib.bakeoff.summarize`, with the test SNRs of
        ``("fsq", 8)``, ``("fsq_paper", 8)`` and ``("fsq_custom", 8)`` (trained
        with :data:`WIDTH_LEVELS`) over the same seeds.

    Returns
    -------
    str
        ``"a"`` (the width step counts, the levels step does not), ``"b"`` (the
        levels step only), ``"c"`` (both) or ``"d"`` (neither, or no gap).

    Raises
    ------
    ValueError
        ``snr`` not such a dict.
    """
    equal, paper, given = _width_summaries(snr)
    if not beats(equal, paper):
        return "d"
    counts = (beats(equal, given), beats(given, paper))
    return next(o for o, claim in _WIDTH_CLAIMS.items() if claim == counts)


def _seed_rule_txt(a_name: str, a: SeedSummary, b_name: str, b: SeedSummary) -> str:
    """What the seed rule says of two configurations, in words, with their ranges."""
    ra = f"{a_name} ({a.low:.2f} to {a.high:.2f} dB)"
    rb = f"{b_name} ({b.low:.2f} to {b.high:.2f} dB)"
    if beats(a, b):
        return f"every seed of {ra} is above every seed of {rb}"
    if beats(b, a):
        return f"every seed of {rb} is above every seed of {ra}"
    hi, lo = (a_name, b_name) if a.mean >= b.mean else (b_name, a_name)
    return (
        f"{ra} and {rb} tie by the seed rule, their seeds overlap (the mean of {hi} is "
        f"{abs(a.mean - b.mean):.2f} dB higher, but the rule counts seeds, not means)"
    )


@never_raises
def check_width_or_levels(answer: Any, snr: Any) -> CheckResult:
    """Exercise ``ch10-ex-width-or-levels``: does the width or the levels explain the gap?

    Parameters
    ----------
    answer : str
        One of ``"a"``..``"d"`` (:data:`WIDTH_OPTIONS`).
    snr : dict
        The notebook's ``snr_width``: test SNRs from
        :func:`rvqlib.bakeoff.summarize` of ``[4, 4, 4, 4]`` (``"fsq"``),
        ``[8, 6, 5]`` (``"fsq_paper"``) and :data:`WIDTH_LEVELS`
        (``"fsq_custom"``) at 8 bits, the same seeds each.

    Returns
    -------
    CheckResult
        The right option is decided from ``snr`` by the seed rule
        (:func:`width_or_levels_answer`), never fixed in advance; a wrong one is
        told which comparison it misreads, with the seed ranges (reading the
        means instead of the seeds is the usual slip).
    """
    name = "what explains the gap of the paper's levels"
    if is_placeholder(answer):
        return wrong(name, "no answer yet", f"pick one of {list(WIDTH_OPTIONS)}")
    if is_placeholder(snr):
        return wrong(name, "no runs yet", "run the cell that trains [5, 4, 4, 3] first")
    try:
        equal, paper, given = _width_summaries(snr)
    except ValueError as exc:
        return wrong(name, str(exc), "pass snr_width, as the answer cell does")
    e_name, p_name, g_name = _WIDTH_KEYS
    expected = width_or_levels_answer(snr)
    gap = _seed_rule_txt(e_name, equal, p_name, paper)
    levels = "at the same 4 coordinates (other levels, 16 codes fewer), " + _seed_rule_txt(
        e_name, equal, g_name, given
    )
    width = "at the same 240 codes (3 coordinates instead of 4), " + _seed_rule_txt(
        g_name, given, p_name, paper
    )
    if not beats(equal, paper):
        no_gap = f"there is no gap to explain by the seed rule: {gap}"
        explanations = {o: no_gap for o in WIDTH_OPTIONS}
    else:
        counts = (beats(equal, given), beats(given, paper))
        explanations = {}
        for option, claim in _WIDTH_CLAIMS.items():
            misread = [
                txt for txt, c, m in zip((levels, width), claim, counts, strict=True) if c != m
            ]
            explanations[option] = "; ".join(misread or [levels, width])
    return check_choice(
        answer,
        expected,
        name=name,
        options=list(WIDTH_OPTIONS),
        explanations=explanations,
    )
