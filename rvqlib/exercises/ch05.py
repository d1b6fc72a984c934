"""Checkers for the exercises of chapter 5, "EMA codebook updates".

One function per exercise, each returning a :class:`~rvqlib.exercises._check.CheckResult`:

- :func:`check_ema_step` -- one EMA step with Laplace smoothing by hand.
- :func:`check_ema_update` -- implement ``my_ema_update(...)``.
- :func:`check_decay_zero` -- predict what the decay ``gamma = 0`` does.
- :func:`check_laplace` -- explain why Laplace smoothing is needed.

The update follows :class:`rvqlib.nn.VectorQuantizer` with ``ema=True``; the
reference :func:`reference_ema_update` is tested against its buffers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rvqlib.exercises._check import (
    SIG_FIGS,
    CheckResult,
    as_numpy,
    check_array,
    check_choice,
    check_function,
    is_placeholder,
    never_raises,
    right,
    wrong,
)

__all__ = [
    "COUNTS_HAND",
    "DECAY_HAND",
    "EPS_HAND",
    "GAMMA_ZERO_OPTIONS",
    "LAPLACE_OPTIONS",
    "M_HAND",
    "N_HAND",
    "SUMS_HAND",
    "check_decay_zero",
    "check_ema_step",
    "check_ema_update",
    "check_laplace",
    "hand_answers",
    "hand_slips",
    "reference_ema_update",
]

#: EMA cluster sizes ``N_i`` before the step of the by-hand exercise (K = 2 codes).
N_HAND: np.ndarray = np.array([2.0, 2.0])
#: EMA sums ``m_i`` before the step (so the codewords are ``m_i / N_i`` = (1, 0) and (0, 2)).
M_HAND: np.ndarray = np.array([[2.0, 0.0], [0.0, 4.0]])
#: How many vectors of the batch each code wins in the by-hand exercise.
COUNTS_HAND: np.ndarray = np.array([3.0, 1.0])
#: The sums of the vectors each code wins in that batch.
SUMS_HAND: np.ndarray = np.array([[6.0, 3.0], [0.0, 2.0]])
#: The decay gamma of the by-hand exercise.
DECAY_HAND: float = 0.75
#: The Laplace smoothing constant of the by-hand exercise (large, so that it shows).
EPS_HAND: float = 0.5


def _smoothed(cluster_size: np.ndarray, eps: float) -> np.ndarray:
    n = cluster_size.sum()
    return (cluster_size + eps) / (n + len(cluster_size) * eps) * n


def reference_ema_update(
    cluster_size: np.ndarray,
    embed_sum: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    decay: float,
    eps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One EMA codebook step with Laplace smoothing, as ``VectorQuantizer`` does it.

    Parameters
    ----------
    cluster_size : numpy.ndarray, shape (K,)
        EMA cluster sizes ``N_i`` before the step.
    embed_sum : numpy.ndarray, shape (K, D)
        EMA sums ``m_i`` before the step.
    counts : numpy.ndarray, shape (K,)
        ``n_i``: how many vectors of the batch code ``i`` wins.
    sums : numpy.ndarray, shape (K, D)
        The sum of the vectors code ``i`` wins in the batch.
    decay : float
        The decay gamma in ``[0, 1)``.
    eps : float
        The Laplace smoothing constant (> 0).

    Returns
    -------
    cluster_size, embed_sum, codebook : numpy.ndarray
        ``N_i <- gamma N_i + (1 - gamma) n_i``, ``m_i <- gamma m_i + (1 - gamma) s_i`` and
        ``e_i = m_i / N~_i`` with ``N~_i = (N_i + eps) / (N + K eps) N``.
    """
    n_new = decay * np.asarray(cluster_size, float) + (1 - decay) * np.asarray(counts, float)
    m_new = decay * np.asarray(embed_sum, float) + (1 - decay) * np.asarray(sums, float)
    return n_new, m_new, m_new / _smoothed(n_new, eps)[:, None]


def hand_answers() -> tuple[np.ndarray, np.ndarray]:
    """The right answers of the by-hand exercise: new cluster sizes and new codebook."""
    n_new, _, e_new = reference_ema_update(
        N_HAND, M_HAND, COUNTS_HAND, SUMS_HAND, DECAY_HAND, EPS_HAND
    )
    return n_new, e_new


def hand_slips() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The answers that common slips give in the by-hand exercise.

    Returns
    -------
    cluster_size_slips, codebook_slips : dict of str to numpy.ndarray
        Each maps a description of the slip to the answer it produces.
    """
    g, eps = DECAY_HAND, EPS_HAND
    n_want, _ = hand_answers()
    n_swap = (1 - g) * N_HAND + g * COUNTS_HAND
    m_want = g * M_HAND + (1 - g) * SUMS_HAND
    sizes = {
        "you swapped gamma and 1 - gamma: the old value keeps the weight gamma": n_swap,
        "you took this batch's counts alone (gamma = 0): the EMA keeps a share gamma of "
        "the old N_i": COUNTS_HAND,
        "you gave the smoothed sizes N~_i; the state N_i itself is not smoothed (the "
        "smoothing only enters the division)": _smoothed(n_want, eps),
        "you added the counts without decaying (N_i + n_i)": N_HAND + COUNTS_HAND,
    }
    books = {
        "you skipped the Laplace smoothing (divided m_i by N_i itself)": m_want / n_want[:, None],
        "you swapped gamma and 1 - gamma": ((1 - g) * M_HAND + g * SUMS_HAND)
        / _smoothed(n_swap, eps)[:, None],
        "you took the batch means (gamma = 0): the EMA keeps a share gamma of the past": (
            SUMS_HAND / COUNTS_HAND[:, None]
        ),
        "you smoothed with N_i + eps but forgot to rescale by N / (N + K eps)": m_want
        / (n_want + eps)[:, None],
        "you divided the old sums m_i by the new sizes: update m_i <- gamma m_i + "
        "(1 - gamma) s_i first": M_HAND / _smoothed(n_want, eps)[:, None],
        "you gave the new sums m_i; the codewords are e_i = m_i / N~_i": m_want,
        "you transposed the codebook: row i is the codeword e_i": (
            m_want / _smoothed(n_want, eps)[:, None]
        ).T,
    }
    return sizes, books


@never_raises
def check_ema_step(cluster_size: Any, codebook: Any) -> CheckResult:
    """Checker for exercise ``ch05-ex-by-hand``: one EMA step by hand.

    Entries worked out by hand are right when they agree to 3 significant figures
    (the solution prints ``1.364``, ``0.341``, ``1.944``); the common slips of
    :func:`hand_slips` are named with the same tolerance.

    Parameters
    ----------
    cluster_size : array_like, shape (2,)
        The new EMA cluster sizes ``N_i`` for :data:`N_HAND`, :data:`COUNTS_HAND`,
        ``gamma =`` :data:`DECAY_HAND`.
    codebook : array_like, shape (2, 2)
        The new codewords ``e_i = m_i / N~_i`` with ``eps =`` :data:`EPS_HAND`.

    Returns
    -------
    CheckResult
    """
    if is_placeholder(cluster_size) or is_placeholder(codebook):
        return wrong(
            "the EMA step",
            "no answer yet",
            "fill in both answers (replace each `...` and run the cell again)",
        )
    n_want, e_want = hand_answers()
    size_slips, book_slips = hand_slips()
    res = check_array(
        cluster_size,
        n_want,
        name="the new cluster sizes",
        sig_figs=SIG_FIGS,
        mistakes=size_slips,
        hint="N_i <- gamma N_i + (1 - gamma) n_i",
    )
    if not res:
        return res
    res = check_array(
        codebook,
        e_want,
        name="the new codebook",
        sig_figs=SIG_FIGS,
        mistakes=book_slips,
        hint="update m_i like N_i, smooth the N_i, then divide: e_i = m_i / N~_i",
    )
    if not res:
        return res
    shown = np.array2string(e_want, precision=4, floatmode="fixed", separator=", ")
    return right(
        "the EMA step",
        f"N = {n_want.tolist()}, e = {' '.join(shown.split())} (VectorQuantizer agrees)",
    )


def _cases() -> list[tuple[tuple[Any, ...], tuple[np.ndarray, ...]]]:
    rng = np.random.default_rng(5)
    out = []
    for k, d, n, decay, eps in ((3, 2, 20, 0.9, 1e-5), (5, 3, 12, 0.5, 0.1), (4, 2, 30, 0.0, 1e-3)):
        cluster_size = rng.uniform(0.5, 5.0, k)
        embed_sum = rng.normal(size=(k, d)) * cluster_size[:, None]
        z = rng.normal(size=(n, d))
        idx = rng.integers(0, k - 1, n)  # the last code wins nothing
        counts = np.bincount(idx, minlength=k).astype(float)
        sums = np.zeros((k, d))
        np.add.at(sums, idx, z)
        want = reference_ema_update(cluster_size, embed_sum, counts, sums, decay, eps)
        out.append(((cluster_size, embed_sum, z, idx, decay, eps), want))
    return out


_NAMES = ("cluster_size", "embed_sum", "codebook")


def _triple(got: Any) -> list[np.ndarray] | None:
    """The three returned arrays, from a tuple/list or a dict keyed by their names."""
    if isinstance(got, Mapping):
        if not set(_NAMES) <= set(got):
            return None
        got = [got[k] for k in _NAMES]
    if isinstance(got, (str, bytes)) or not hasattr(got, "__len__"):
        return None
    try:
        if len(got) != 3:
            return None
        parts = [as_numpy(v) for v in got]
    except (TypeError, ValueError):
        return None
    if any(p is None or not np.issubdtype(p.dtype, np.number) for p in parts):
        return None
    return [p.astype(float) for p in parts]  # type: ignore[union-attr]


@never_raises
def check_ema_update(fn: Any) -> CheckResult:
    """Checker for exercise ``ch05-ex-implement``: ``my_ema_update``.

    The reader's ``my_ema_update(cluster_size, embed_sum, z, indices, decay, eps)`` takes
    the EMA state (``(K,)`` and ``(K, D)`` numpy arrays), a batch ``z`` of shape
    ``(B, D)`` with the index of each vector's nearest code, the decay and the
    smoothing constant, and returns ``(cluster_size, embed_sum, codebook)`` after one
    step (a tuple, or a dict with those three keys), compared with
    :func:`reference_ema_update` on three cases, one of them with ``decay = 0``, each
    with a code that wins nothing and codes that win several vectors.

    Parameters
    ----------
    fn : callable
        The reader's ``my_ema_update``.

    Returns
    -------
    CheckResult
    """
    cases = _cases()

    def compare(got: Any, want: Any) -> bool:
        parts = _triple(got)
        return parts is not None and all(
            p.shape == w.shape and np.allclose(p, w, rtol=1e-6, atol=1e-9)
            for p, w in zip(parts, want, strict=True)
        )

    def diagnose(args: tuple[Any, ...], got: Any, want: Any) -> str | None:
        cluster_size, embed_sum, z, idx, decay, eps = args
        if isinstance(got, Mapping):
            return (
                f"return the three arrays as a tuple (cluster_size, embed_sum, codebook) "
                f"(or a dict with those keys), got a dict with keys {sorted(map(str, got))}"
            )
        parts = _triple(got)
        if parts is None:
            return "return three arrays: (cluster_size, embed_sum, codebook)"
        n_new, m_new, _ = want
        k = len(cluster_size)
        counts = np.bincount(idx, minlength=k)
        swapped = (1 - decay) * cluster_size + decay * counts
        if parts[0].shape == n_new.shape and np.allclose(parts[0], swapped):
            return "you swapped decay and 1 - decay: the old state keeps the weight decay"
        if parts[0].shape != (k,):
            return f"cluster_size must have shape ({k},): count with np.bincount(idx, minlength=K)"
        buffered = np.zeros_like(embed_sum)
        buffered[idx] += z  # what the slip computes: one vector per repeated index
        m_buffered = decay * embed_sum + (1 - decay) * buffered
        if parts[1].shape == m_new.shape and np.allclose(parts[1], m_buffered):
            return (
                "sums[indices] += z adds only one vector per code when an index repeats "
                "(numpy buffers a fancy-indexed +=): use np.add.at(sums, indices, z)"
            )
        used = counts > 0
        kept = np.where(used, n_new, cluster_size)
        if (~used).any() and np.allclose(parts[0], kept) and not np.allclose(parts[0], n_new):
            return (
                "the codes that win nothing must decay too: N_i <- decay N_i and "
                "m_i <- decay m_i even when n_i = 0"
            )
        if np.allclose(parts[0], n_new) and parts[1].shape == m_new.shape:
            if np.allclose(parts[1], m_new):
                e = parts[2]
                if e.shape == m_new.shape and np.allclose(e, m_new / n_new[:, None]):
                    return (
                        "you skipped the Laplace smoothing: divide by (N_i + eps)/(N + K eps) * N"
                    )
                if e.shape == m_new.shape and np.allclose(
                    e, m_new / ((n_new + eps) / (n_new.sum() + k * eps))[:, None]
                ):
                    return "you forgot the factor N in the smoothing: (N_i + eps)/(N + K eps) * N"
                return "the state is right but the codebook is not: e_i = m_i / smoothed N_i"
        return None

    return check_function(
        fn,
        cases,
        name="my_ema_update",
        compare=compare,
        diagnose=diagnose,
        hint="counts by np.bincount(indices, minlength=K), sums by np.add.at",
    )


#: The options of exercise ``ch05-ex-gamma-zero`` (what ``decay = 0`` does), as printed.
GAMMA_ZERO_OPTIONS: dict[str, str] = {
    "a": "each used code jumps to the mean of what it won in that batch",
    "b": "the codebook stops moving, as if the old state were frozen",
    "c": "each code becomes the average of all it has won since the start",
    "d": "the codewords blow up, because nothing damps the update",
}


@never_raises
def check_decay_zero(choice: Any) -> CheckResult:
    """Checker for exercise ``ch05-ex-gamma-zero``: what ``gamma = 0`` does.

    Parameters
    ----------
    choice : str
        One of ``"a"``, ``"b"``, ``"c"``, ``"d"`` (:data:`GAMMA_ZERO_OPTIONS`).

    Returns
    -------
    CheckResult
    """
    return check_choice(
        choice,
        "a",
        name="what gamma = 0 does",
        options=list(GAMMA_ZERO_OPTIONS),
        explanations={
            "a": "with gamma = 0 the state is the current batch alone, so every code that "
            "wins vectors jumps to their mean: one Lloyd step per batch when every code "
            "wins something, with no memory, so the codebook jitters with the batch noise; "
            "a code that wins nothing gets m_i = 0 and jumps to the origin",
            "b": "the old state is kept whole only when gamma = 1; gamma is the weight of the "
            "past, and gamma = 0 gives all the weight to the new batch",
            "c": "an average over all batches since the start is what gamma close to 1 "
            "approximates; gamma = 0 forgets everything before the current batch",
            "d": "a used code becomes the mean of the vectors it won, so it stays inside the "
            "data; only a code that wins nothing moves far, to the origin (m_i = 0), not "
            "to infinity: the update is an average, there is nothing to damp",
        },
    )


#: The options of exercise ``ch05-ex-laplace`` (why smooth the counts), as printed.
LAPLACE_OPTIONS: dict[str, str] = {
    "a": "so that all codes end up used equally often",
    "b": "so that an unused code never divides by zero",
    "c": "so that rarely used codes move faster toward the data",
    "d": "to remove the EMA's bias toward its initial state",
}


@never_raises
def check_laplace(choice: Any) -> CheckResult:
    """Checker for exercise ``ch05-ex-laplace``: why Laplace smoothing is needed.

    Parameters
    ----------
    choice : str
        One of ``"a"``, ``"b"``, ``"c"``, ``"d"`` (:data:`LAPLACE_OPTIONS`).

    Returns
    -------
    CheckResult
    """
    return check_choice(
        choice,
        "b",
        name="why Laplace smoothing is needed",
        options=list(LAPLACE_OPTIONS),
        explanations={
            "a": "smoothing moves a few eps of weight between codes; it cannot spread usage "
            "evenly (that is dead-code replacement's job)",
            "b": "a code that wins nothing has N_i decaying like gamma^t toward 0 (exactly 0 "
            "with gamma = 0, or when it won nothing in the first batch), and m_i / N_i "
            "becomes 0/0 or blows up; adding eps keeps every divisor positive while "
            "keeping the total N unchanged",
            "c": "the smoothing barely changes the codewords of used codes (eps = 1e-5 against "
            "counts of many vectors), so it does not speed anything up",
            "d": "the EMA's start-up bias toward the initial state is a different matter; "
            "VectorQuantizer avoids it by starting the statistics from the first batch",
        },
    )
