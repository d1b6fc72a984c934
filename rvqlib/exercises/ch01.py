"""Checkers for the exercises of chapter 1, "Scalar quantization".

One function per exercise, in the order of the chapter:

- :func:`check_by_hand` (``ch01-ex-by-hand``): step and MSE of a uniform quantizer;
- :func:`check_my_uniform_quantize` (``ch01-ex-my-uniform-quantize``): implement it;
- :func:`check_one_more_bit` (``ch01-ex-one-more-bit``): predict, then run;
- :func:`check_centroid` (``ch01-ex-centroid``): why levels are conditional means;
- :func:`check_uniform_density` (``ch01-ex-uniform-density``): Lloyd-Max for a flat density.

Every expected value is computed with :mod:`rvqlib.scalar`, not typed in, and
every checker is wrapped in :func:`~rvqlib.exercises._check.never_raises`: it
returns a verdict whatever it is passed. Numbers worked out by hand are right to
3 significant figures, and the named slips match with the same tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from rvqlib.exercises._check import (
    CheckResult,
    all_parts,
    as_numpy,
    check_choice,
    check_close,
    check_function,
    never_raises,
)
from rvqlib.scalar import lloyd_max, uniform_quantize

__all__ = [
    "BY_HAND",
    "CENTROID_OPTIONS",
    "check_by_hand",
    "check_centroid",
    "check_my_uniform_quantize",
    "check_one_more_bit",
    "check_uniform_density",
]

#: The quantizer of exercise ``ch01-ex-by-hand``: (bits, lo, hi).
BY_HAND = (3, -2.0, 2.0)


@never_raises
def check_by_hand(step: Any, mse: Any) -> CheckResult:
    """Exercise ``ch01-ex-by-hand``: step and MSE of a 3-bit uniform quantizer on [-2, 2].

    Parameters
    ----------
    step : float
        The reader's step size Δ.
    mse : float
        The reader's MSE for an input uniform on [-2, 2].

    Returns
    -------
    CheckResult
        Both parts are reported, the wrong ones first. An MSE that is right
        for the reader's own (wrong) step is recognised as such.
    """
    bits, lo, hi = BY_HAND
    n_levels = 2**bits
    width = hi - lo
    true_step = width / n_levels
    step_result = check_close(
        step,
        true_step,
        name="the step Δ",
        hint="Δ = (hi - lo) / K with K = 2**bits levels",
        mistakes={
            "you divided the range by K - 1 instead of K (that is the spacing of levels "
            "placed on the ends of the range)": width / (n_levels - 1),
            "you divided the range by the number of bits instead of the number of levels": width
            / bits,
            "you used half the range (hi) instead of hi - lo": hi / n_levels,
        },
    )
    true_mse = true_step**2 / 12
    mistakes = {
        "you forgot to divide Δ² by 12": true_step**2,
        "you used Δ/12, without squaring Δ": true_step / 12,
        "you squared the largest error, (Δ/2)² = Δ²/4, instead of averaging": true_step**2 / 4,
        "you used the root-mean-square error Δ/√12 instead of its square": true_step
        / math.sqrt(12),
        "you gave the variance of the input, (hi - lo)²/12 = 4/3, not of the error": width**2 / 12,
    }
    own_step = None if step_result.ok else _number(step)
    if own_step is not None and own_step > 0:
        mistakes[
            f"you used your step {own_step:.4g}: Δ²/12 is the right formula, fix the step first"
        ] = own_step**2 / 12
    mse_result = check_close(
        mse,
        true_mse,
        name="the MSE",
        hint="the error is uniform on [-Δ/2, Δ/2]; its mean square is Δ²/12",
        mistakes=mistakes,
    )
    return all_parts([step_result, mse_result])


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a plain finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _cases() -> list[tuple[tuple[Any, ...], Any]]:
    """Inputs for :func:`check_my_uniform_quantize`, with rvqlib's answers."""
    inputs = [
        (np.array([-0.9, -0.3, 0.1, 0.6, 0.95]), 8, -1.0, 1.0),  # plain values inside the range
        (np.array([-3.0, -1.0, 1.0, 2.5]), 8, -1.0, 1.0),  # the ends and beyond: clipping
        (np.array([-0.75, -0.25, 0.0, 0.5]), 8, -1.0, 1.0),  # exactly on thresholds: lower cell
        (np.array([[0.2, 1.7], [3.9, 2.05]]), 4, 0.0, 4.0),  # 2-D input, another range
        (np.linspace(-5.0, 5.0, 41), 16, -4.0, 4.0),
    ]
    return [(args, uniform_quantize(*args)) for args in inputs]


def _same_quantization(got: Any, want: tuple[Any, Any]) -> bool:
    if not isinstance(got, tuple | list) or len(got) != 2:
        return False
    idx, xhat = (as_numpy(v) for v in got)
    want_idx, want_xhat = want
    if idx is None or xhat is None or idx.shape != want_idx.shape:
        return False
    if xhat.shape != want_xhat.shape or not np.issubdtype(xhat.dtype, np.number):
        return False
    if not np.issubdtype(idx.dtype, np.integer) or not np.array_equal(idx, want_idx):
        return False  # indices are integers: floats, even with the right values, are refused
    return bool(np.allclose(xhat, want_xhat, rtol=1e-12, atol=1e-12))


def _diagnose_uniform(args: tuple[Any, ...], got: Any, want: tuple[Any, Any]) -> str | None:
    """Name the slip behind a wrong ``my_uniform_quantize`` result, or None."""
    x, n_levels, lo, hi = args
    if not isinstance(got, tuple | list) or len(got) != 2:
        return "return the pair (indices, x_hat), not a single array"
    idx, xhat = as_numpy(got[0]), as_numpy(got[1])
    want_idx, want_xhat = want
    if idx is None or xhat is None or idx.shape != want_idx.shape:
        return f"both arrays must have the shape of x, {want_idx.shape}"
    if not np.issubdtype(idx.dtype, np.integer):
        if np.issubdtype(idx.dtype, np.floating) and np.array_equal(idx, want_idx):
            return (
                f"the indices have the right values but are {idx.dtype} numbers: indices are "
                "integers, convert them with .astype(np.int64)"
            )
        return f"the indices must be integers, got {idx.dtype}"
    if np.any(idx < 0) or np.any(idx > n_levels - 1):
        return (
            "some indices fall outside 0..K-1: clip them, so that inputs beyond [lo, hi] go "
            "to the end cells"
        )
    if np.array_equal(idx, want_idx):
        return "the indices are right but x_hat is not: the levels are the cell midpoints"
    step = (hi - lo) / n_levels
    u = (np.asarray(x, dtype=float) - lo) / step
    if np.array_equal(idx, np.clip(np.floor(u), 0, n_levels - 1)):
        return (
            "you used floor((x - lo) / step): on a threshold that picks the upper cell; "
            "ceil((x - lo) / step) - 1 picks the lower one"
        )
    if np.array_equal(idx, np.clip(np.round(u), 0, n_levels - 1)):
        return "you rounded (x - lo) / step: that puts the thresholds where the levels should be"
    return None


@never_raises
def check_my_uniform_quantize(fn: Callable[..., Any]) -> CheckResult:
    """Exercise ``ch01-ex-my-uniform-quantize``: a reader's midrise uniform quantizer.

    Parameters
    ----------
    fn : callable
        ``fn(x, n_levels, lo, hi) -> (indices, x_hat)``, to agree with
        :func:`rvqlib.scalar.uniform_quantize` (indices exactly, levels to 1e-12).

    Returns
    -------
    CheckResult
        A wrong function is told the first input on which it differs and, where
        it is recognised, its slip (floor instead of ceil, rounding, no clip,
        wrong levels, float indices, only one array returned, no ``return``).
    """
    return check_function(
        fn,
        _cases(),
        name="my_uniform_quantize",
        compare=_same_quantization,
        diagnose=_diagnose_uniform,
        hint=(
            "return a pair (indices, x_hat); index = ceil((x - lo) / step) - 1 clipped to "
            "0..K-1 (so a value on a threshold goes to the lower cell), "
            "x_hat = lo + (index + 0.5) * step"
        ),
    )


@never_raises
def check_one_more_bit(choice: Any) -> CheckResult:
    """Exercise ``ch01-ex-one-more-bit``: how much SNR one more bit buys (predict, then run).

    Parameters
    ----------
    choice : str
        ``"a"`` (about 3 dB), ``"b"`` (about 6 dB), ``"c"`` (about 12 dB) or ``"d"`` (it
        doubles); the number of decibels itself (``6``, ``"6 dB"``, ``"6.02"``) is read
        as the option it names.

    Returns
    -------
    CheckResult
    """
    db_per_bit = 10 * math.log10(4)  # one bit halves Δ: MSE / 4
    aliases: dict[Any, str] = {"doubles": "d", "it doubles": "d", "x2": "d", "twice": "d"}
    for option, db in (("a", 3), ("b", 6), ("c", 12)):
        for form in (db, f"{db}", f"{db} dB", f"{db}dB", f"about {db} dB", f"+{db} dB"):
            aliases[form] = option
    for form in (6.02, "6.02", "6.02 dB", "6.02dB", round(db_per_bit, 2)):
        aliases[form] = "b"
    return check_choice(
        choice,
        "b",
        name="the SNR gained by one more bit",
        options=["a", "b", "c", "d"],
        aliases=aliases,
        explanations={
            "a": "3 dB is a factor of 2 in error power; halving Δ divides the MSE Δ²/12 by 4",
            "b": f"halving Δ divides Δ²/12 by 4, that is 10·log10(4) = {db_per_bit:.2f} dB",
            "c": "12 dB would be a factor of 16 in error power, two bits' worth",
            "d": "decibels are already logarithmic: each bit adds a fixed number of dB, "
            "it does not multiply the SNR",
        },
    )


#: The options of exercise ``ch01-ex-centroid``, as the chapter prints them.
CENTROID_OPTIONS: dict[str, str] = {
    "a": "it is the value of X that is most likely within the cell",
    "b": "it splits the probability of the cell into two equal halves",
    "c": "it minimises E[(X - y)^2 | X in the cell] over all constants y",
    "d": "it is the midpoint of the cell, so no error can exceed half the cell's width",
}


@never_raises
def check_centroid(choice: Any) -> CheckResult:
    """Exercise ``ch01-ex-centroid``: why each Lloyd-Max level is its cell's conditional mean.

    Parameters
    ----------
    choice : str
        One of the keys of :data:`CENTROID_OPTIONS`.

    Returns
    -------
    CheckResult
    """
    return check_choice(
        choice,
        "c",
        name="why the centroid condition",
        options=list(CENTROID_OPTIONS),
        aliases={"mean": "c", "conditional mean": "c", "median": "b", "mode": "a"},
        explanations={
            "a": "that is the mode; it would be the best level if only exact hits counted, "
            "but the MSE weighs every value of the cell by its squared distance",
            "b": "that is the median of the cell, the best level for the mean *absolute* "
            "error; for the squared error it is the mean",
            "c": "E[(X - y)^2 | cell] = Var(X | cell) + (E[X | cell] - y)^2, smallest at the "
            "conditional mean, and the cell's term of the MSE is this times its probability",
            "d": "the midpoint bounds the largest error, but the MSE averages the error; the "
            "mean is the midpoint only where the density is flat over the cell",
        },
    )


@never_raises
def check_uniform_density(mse: Any) -> CheckResult:
    """Exercise ``ch01-ex-uniform-density``: 4-level Lloyd-Max MSE for the uniform density.

    Parameters
    ----------
    mse : float
        The reader's MSE for the unit-variance uniform density on [-√3, √3].

    Returns
    -------
    CheckResult
    """
    n_levels = 4
    expected = lloyd_max(n_levels, "uniform").mse
    width = 2 * math.sqrt(3)
    step = width / n_levels
    return check_close(
        mse,
        expected,
        name="the MSE",
        hint="the optimum here is the uniform quantizer on [-√3, √3]; its MSE is Δ²/12",
        mistakes={
            "you used the range [-1, 1] instead of [-√3, √3] (that density has variance 1/3)": (
                2 / n_levels
            )
            ** 2
            / 12,
            "you forgot to divide Δ² by 12": step**2,
            "you used Δ/12, without squaring Δ": step / 12,
            "you divided the range by K - 1 instead of K": (width / (n_levels - 1)) ** 2 / 12,
            "you gave the MSE in decibels, 10·log10(1/16); the question asks for the MSE itself": 10
            * math.log10(1 / 16),
            "you gave the root-mean-square error Δ/√12 = 1/4 instead of its square": step
            / math.sqrt(12),
        },
    )
