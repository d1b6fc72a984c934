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

from typing import Any

import numpy as np

from rvqlib.exercises._check import (
    CheckResult,
    as_numpy,
    check_array,
    check_choice,
    check_function,
    is_placeholder,
    right,
    wrong,
)

__all__ = [
    "COUNTS_HAND",
    "DECAY_HAND",
    "EPS_HAND",
    "N_HAND",
    "M_HAND",
    "SUMS_HAND",
    "check_decay_zero",
    "check_ema_step",
    "check_ema_update",
    "check_laplace",
    "hand_answers",
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


def _match(got: Any, bad: np.ndarray) -> bool:
    arr = as_numpy(got)
    if arr is None or arr.size != bad.size or not np.issubdtype(arr.dtype, np.number):
        return False
    return bool(np.allclose(arr.reshape(bad.shape).astype(float), bad, rtol=1e-4, atol=1e-6))


def check_ema_step(cluster_size: Any, codebook: Any) -> CheckResult:
    """Checker for exercise ``ch05-ex-by-hand``: one EMA step by hand.

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
        return wrong("the EMA step", "no answer yet", "fill in both answers")
    n_want, e_want = hand_answers()
    g, eps = DECAY_HAND, EPS_HAND
    n_swap = (1 - g) * N_HAND + g * COUNTS_HAND
    if _match(cluster_size, n_swap) and not _match(cluster_size, n_want):
        return wrong(
            "the new cluster sizes",
            "you swapped gamma and 1 - gamma: the old value keeps the weight gamma",
            "N_i <- gamma N_i + (1 - gamma) n_i",
        )
    res = check_array(
        cluster_size,
        n_want,
        name="the new cluster sizes",
        rtol=1e-4,
        hint="N_i <- gamma N_i + (1 - gamma) n_i",
    )
    if not res:
        return res
    m_want = g * M_HAND + (1 - g) * SUMS_HAND
    slips = {
        "you skipped the Laplace smoothing (divided m_i by N_i itself)": m_want / n_want[:, None],
        "you swapped gamma and 1 - gamma": ((1 - g) * M_HAND + g * SUMS_HAND)
        / _smoothed(n_swap, eps)[:, None],
        "you took the batch means (gamma = 0): the EMA keeps a share gamma of the past": (
            SUMS_HAND / COUNTS_HAND[:, None]
        ),
        "you smoothed with N_i + eps but forgot to rescale by N / (N + K eps)": m_want
        / (n_want + eps)[:, None],
    }
    for slip, bad in slips.items():
        if _match(codebook, bad) and not _match(codebook, e_want):
            return wrong("the new codebook", slip, None)
    res = check_array(
        codebook,
        e_want,
        name="the new codebook",
        rtol=1e-4,
        hint="update m_i like N_i, smooth the N_i, then divide",
    )
    if not res:
        return res
    return right("the EMA step", "(VectorQuantizer's formulas agree)")


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


def _triple(got: Any) -> list[np.ndarray] | None:
    try:
        parts = [as_numpy(v) for v in got]
    except TypeError:
        return None
    if len(parts) != 3 or any(p is None for p in parts):
        return None
    return [p.astype(float) for p in parts]  # type: ignore[union-attr]


def check_ema_update(fn: Any) -> CheckResult:
    """Checker for exercise ``ch05-ex-implement``: ``my_ema_update``.

    The reader's ``my_ema_update(cluster_size, embed_sum, z, indices, decay, eps)`` takes
    the EMA state (``(K,)`` and ``(K, D)`` numpy arrays), a batch ``z`` of shape
    ``(N, D)`` with the index of each vector's nearest code, the decay and the
    smoothing constant, and returns ``(cluster_size, embed_sum, codebook)`` after one
    step, compared with :func:`reference_ema_update`.

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
        parts = _triple(got)
        if parts is None:
            return "return three arrays: (cluster_size, embed_sum, codebook)"
        n_new, m_new, _ = want
        counts = np.bincount(idx, minlength=len(cluster_size))
        swapped = (1 - decay) * cluster_size + decay * counts
        if parts[0].shape == n_new.shape and np.allclose(parts[0], swapped):
            return "you swapped decay and 1 - decay: the old state keeps the weight decay"
        if np.allclose(parts[0], n_new) and np.allclose(parts[1], m_new):
            if parts[2].shape == m_new.shape and np.allclose(parts[2], m_new / n_new[:, None]):
                return "you skipped the Laplace smoothing: divide by (N_i + eps)/(N + K eps) * N"
            return "the state is right but the codebook is not: e_i = m_i / smoothed N_i"
        k = len(cluster_size)
        if parts[0].shape != (k,):
            return f"cluster_size must have shape ({k},): count with np.bincount(idx, minlength=K)"
        return None

    return check_function(
        fn,
        cases,
        name="my_ema_update",
        compare=compare,
        diagnose=diagnose,
        hint="counts by np.bincount(indices, minlength=K), sums by np.add.at",
    )


_GAMMA_ZERO_OPTIONS = ("a", "b", "c", "d")


def check_decay_zero(choice: Any) -> CheckResult:
    """Checker for exercise ``ch05-ex-gamma-zero``: what ``gamma = 0`` does.

    Parameters
    ----------
    choice : str
        One of ``"a"``, ``"b"``, ``"c"``, ``"d"``.

    Returns
    -------
    CheckResult
    """
    return check_choice(
        choice,
        "a",
        name="what gamma = 0 does",
        options=_GAMMA_ZERO_OPTIONS,
        explanations={
            "a": "with gamma = 0 the state is the current batch alone, so every code jumps to "
            "the mean of the vectors it won in this batch: one Lloyd step per batch, with no "
            "memory, and the codebook jitters with the batch noise",
            "b": "the codebook stays put only when gamma = 1 (the old state keeps all weight); "
            "gamma = 0 gives all weight to the new batch",
            "c": "an average over all batches is what gamma close to 1 approximates; gamma = 0 "
            "forgets everything before the current batch",
            "d": "each codeword becomes an average of data vectors, so it stays inside the "
            "data: nothing diverges, it only gets noisy",
        },
    )


_LAPLACE_OPTIONS = ("a", "b", "c", "d")


def check_laplace(choice: Any) -> CheckResult:
    """Checker for exercise ``ch05-ex-laplace``: why Laplace smoothing is needed.

    Parameters
    ----------
    choice : str
        One of ``"a"``, ``"b"``, ``"c"``, ``"d"``.

    Returns
    -------
    CheckResult
    """
    return check_choice(
        choice,
        "b",
        name="why Laplace smoothing is needed",
        options=_LAPLACE_OPTIONS,
        explanations={
            "a": "smoothing moves a few eps of weight between codes; it cannot spread usage "
            "evenly (that is dead-code replacement's job)",
            "b": "a code that wins nothing has N_i decaying like gamma^t toward 0 (exactly 0 "
            "with gamma = 0 or from an all-zero start), and m_i / N_i becomes 0/0 or blows up; "
            "adding eps keeps every divisor positive while keeping the total N unchanged",
            "c": "the smoothing barely changes the codewords of used codes (eps = 1e-5 against "
            "counts of many vectors), so it does not speed anything up",
            "d": "the EMA's start-up bias toward the initial state is a different matter; "
            "VectorQuantizer avoids it by starting the statistics from the first batch",
        },
    )
