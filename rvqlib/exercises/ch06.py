"""Checkers for the exercises of chapter 6, "Residual vector quantization".

One function per exercise; each returns a :class:`~rvqlib.exercises._check.CheckResult`
that is truthy when the answer is right and otherwise says what is wrong. Expected
values are computed with :mod:`rvqlib` from the exercise's constants below.
"""

from __future__ import annotations

import decimal
import math
from typing import Any

import numpy as np

from rvqlib.exercises._check import (
    CheckResult,
    _as_numpy,
    _is_placeholder,
    _right,
    _to_float,
    _wrong,
    check_array,
    check_choice,
    check_close,
    check_function,
    matches,
    never_raises,
)
from rvqlib.rvq import rvq_decode, rvq_encode
from rvqlib.vq import nearest

__all__ = [
    "BY_HAND_C1",
    "BY_HAND_C2",
    "BY_HAND_Z",
    "FLAT_BYTES_PER_FLOAT",
    "FLAT_D",
    "FLAT_K",
    "FLAT_N_Q",
    "SMALLER_OPTIONS",
    "ZERO_OPTIONS",
    "by_hand_solution",
    "check_by_hand",
    "check_flat_memory",
    "check_my_rvq_encode",
    "check_why_smaller",
    "check_zero_codeword",
    "implement_cases",
]

# ----------------------------------------------------------------- exercise "by hand"
#: The input vector of exercise ``ch06-ex-by-hand``.
BY_HAND_Z: tuple[float, float] = (-1.3, 4.2)
#: Stage-1 codebook of exercise ``ch06-ex-by-hand`` (codewords 0 and 1).
BY_HAND_C1: tuple[tuple[float, float], ...] = ((-1.0, 4.0), (-2.0, 5.0))
#: Stage-2 codebook of exercise ``ch06-ex-by-hand`` (codewords 0 and 1).
BY_HAND_C2: tuple[tuple[float, float], ...] = ((0.4, 0.6), (-0.25, 0.25))


def by_hand_solution() -> tuple[np.ndarray, np.ndarray, float]:
    """The right answer of exercise ``ch06-ex-by-hand``, computed with :mod:`rvqlib`.

    Returns
    -------
    codes : numpy.ndarray
        ``(2,)`` int64 indices ``[k1, k2]`` (0-based).
    zhat : numpy.ndarray
        ``(2,)`` reconstruction (sum of the two chosen codewords).
    sq_error : float
        ``||z - zhat||^2``.
    """
    z = np.array(BY_HAND_Z)
    books = [np.array(BY_HAND_C1), np.array(BY_HAND_C2)]
    codes = rvq_encode(z, books)
    zhat = rvq_decode(codes, books)
    return codes, zhat, float(((z - zhat) ** 2).sum())


def _by_hand_slips() -> dict[str, dict[str, Any]]:
    """Answers that common slips give, keyed by the slip."""
    z = np.array(BY_HAND_Z)
    c1, c2 = np.array(BY_HAND_C1), np.array(BY_HAND_C2)
    k1 = int(nearest(z, c1))
    k2_wrong = int(nearest(z, c2))  # stage 2 applied to z instead of the residual
    k2 = int(nearest(z - c1[k1], c2))
    return {
        "codes": {
            "you counted codewords from 1; count from 0 as Python does": [k1 + 1, k2 + 1],
            "stage 2 quantized z itself instead of the residual r1 = z - e_{1,k1}": [k1, k2_wrong],
        },
        "zhat": {
            "you stopped after stage 1 (zhat is the sum of BOTH chosen codewords)": c1[k1],
            "stage 2 quantized z itself instead of the residual": c1[k1] + c2[k2_wrong],
            "you subtracted the stage-2 codeword; the decoder adds every stage": c1[k1] - c2[k2],
            "you gave the residual r1 = z - e_{1,k1}; zhat is the sum of the chosen codewords": (
                z - c1[k1]
            ),
            "you copied z; zhat is built from the codewords only (it is not exactly z here)": z,
        },
        "sq_error": {
            "you took the square root (give the squared error)": float(
                np.sqrt(((z - c1[k1] - c2[k2]) ** 2).sum())
            ),
            "you stopped after stage 1": float(((z - c1[k1]) ** 2).sum()),
            "you took the error to be zero, as in the worked example; here r1 is not a "
            "codeword of stage 2": 0.0,
            "you added the two stages' smallest squared distances": float(
                ((z - c1[k1]) ** 2).sum() + ((z - c1[k1] - c2[k2]) ** 2).sum()
            ),
        },
    }


@never_raises
def check_by_hand(codes: Any, zhat: Any, sq_error: Any) -> CheckResult:
    """Exercise ``ch06-ex-by-hand``: a two-stage RVQ of ``BY_HAND_Z`` by hand.

    The indices must be integers and exact; ``zhat`` and the squared error are right
    to 3 significant figures, and the slips of ``_by_hand_slips`` are named with the
    same tolerance (a squared error rounded to fewer decimals is named as such).

    Parameters
    ----------
    codes : array-like
        The two chosen indices ``[k1, k2]``, counted from 0.
    zhat : array-like
        The reconstruction, shape ``(2,)``.
    sq_error : float
        The squared error ``||z - zhat||^2``.

    Returns
    -------
    CheckResult
        Checks the three parts in order and names the first one that is wrong.
    """
    name = "the two-stage example"
    for part, value in (("codes", codes), ("zhat", zhat), ("sq_error", sq_error)):
        if _is_placeholder(value):
            return _wrong(f"{name} ({part})", "no answer yet", "fill in codes, zhat and sq_error")
    want_codes, want_zhat, want_err = by_hand_solution()
    slips = _by_hand_slips()

    got = _as_numpy(codes)
    if got is None or got.shape != (2,) or not np.issubdtype(got.dtype, np.number):
        return _wrong(f"{name} (codes)", f"expected two indices [k1, k2], got {codes!r}", None)
    res = check_array(
        codes,
        want_codes,
        name=f"{name} (codes)",
        exact=True,
        mistakes=slips["codes"],
        hint="stage 1: the nearest codeword of C1 to z; stage 2: of C2 to r1 = z - e_1",
    )
    if not res:
        return res

    res = check_array(
        zhat,
        want_zhat,
        name=f"{name} (zhat)",
        sig_figs=3,
        mistakes=slips["zhat"],
        hint="zhat = e_{1,k1} + e_{2,k2}",
    )
    if not res:
        return res

    got_err = _to_float(sq_error)
    if got_err is not None and not matches(got_err, want_err):
        exact = decimal.Decimal(f"{want_err:.12g}")  # 0.005, without binary noise
        for places in (1, 2):
            q = decimal.Decimal(1).scaleb(-places)
            rounded = {
                float(exact.quantize(q, rounding=mode))
                for mode in (decimal.ROUND_HALF_UP, decimal.ROUND_HALF_EVEN)
            }
            if got_err in rounded and got_err not in (0.0, float(exact)):
                return _wrong(
                    f"{name} (sq_error)",
                    f"{got_err:g} is the squared error rounded to {places} decimal "
                    f"place{'s' if places > 1 else ''}; "
                    f"give it to 3 significant figures",
                    "sum of the squared coordinates of z - zhat",
                )
    result = check_close(
        sq_error,
        want_err,
        name=f"{name} (sq_error)",
        mistakes=slips["sq_error"],
        hint="sum of the squared coordinates of z - zhat",
    )
    if not result:
        return result
    return _right(
        name,
        f"codes {want_codes.tolist()}, zhat {np.round(want_zhat, 6).tolist()}, "
        f"error {want_err:.3g}",
    )


# ------------------------------------------------------------ exercise "implement"
def implement_cases() -> list[tuple[tuple[Any, ...], np.ndarray]]:
    """Test cases ``((z, codebooks), expected_codes)`` of exercise ``ch06-ex-implement``.

    The expected codes come from :func:`rvqlib.rvq.rvq_encode`. Inputs are
    ``(N, D)`` arrays and lists of ``(K_i, D)`` codebooks (sizes differ per stage).
    The last case has exact ties at both stages, which go to the lowest index.
    """
    rng = np.random.default_rng(6)
    cases: list[tuple[np.ndarray, list[np.ndarray]]] = [
        (
            np.array([[5.8, 2.4]]),
            [np.array([[5.0, 2.0], [6.0, 3.0]]), np.array([[-0.2, -0.6], [0.9, 0.5]])],
        ),
        (np.array([BY_HAND_Z]), [np.array(BY_HAND_C1), np.array(BY_HAND_C2)]),
        (
            rng.normal(size=(40, 3)),
            [rng.normal(scale=s, size=(k, 3)) for s, k in ((1.0, 8), (0.5, 4), (0.2, 2))],
        ),
        (rng.normal(size=(25, 5)), [rng.normal(scale=1.0, size=(16, 5))]),
        (
            rng.normal(size=(30, 2)),
            [rng.normal(scale=s, size=(6, 2)) for s in (2.0, 1.0, 0.5, 0.25)],
        ),
        _tie_case(),
    ]
    return [((z, books), rvq_encode(z, books)) for z, books in cases]


def _tie_case() -> tuple[np.ndarray, list[np.ndarray]]:
    """Exact ties at both stages: dyadic values, so any distance formula ties exactly.

    Stage 1: ``[0.5, 0.5]`` is 0.5 from all four codewords and ``[0.5, 0]`` is 0.25
    from codewords 0 and 2. Stage 2 holds two identical codewords (0 and 1).
    """
    z = np.array([[0.5, 0.5], [0.5, 0.0], [2.0, 1.0]])
    stage1 = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    stage2 = np.array([[0.5, 0.5], [0.5, 0.5], [-0.5, 0.0]])
    return z, [stage1, stage2]


def _no_residual_codes(z: np.ndarray, books: list[np.ndarray]) -> np.ndarray:
    """What an encoder that forgets to subtract gives: every stage quantizes z."""
    return np.stack([nearest(z, cb) for cb in books], axis=-1)


def _last_tie_codes(z: np.ndarray, books: list[np.ndarray]) -> np.ndarray:
    """What an encoder that breaks ties toward the highest index gives."""
    r = np.array(z, dtype=float)
    out = []
    for cb in books:
        d = ((r[:, None, :] - cb[None]) ** 2).sum(axis=-1)
        k = len(cb) - 1 - np.argmin(d[:, ::-1], axis=1)
        r = r - cb[k]
        out.append(k)
    return np.stack(out, axis=-1)


def _added_codes(z: np.ndarray, books: list[np.ndarray]) -> np.ndarray:
    """What an encoder that adds the chosen codeword to the residual gives."""
    r = np.array(z, dtype=float)
    out = []
    for cb in books:
        k = nearest(r, cb)
        r = r + cb[k]
        out.append(k)
    return np.stack(out, axis=-1)


@never_raises
def check_my_rvq_encode(fn: Any) -> CheckResult:
    """Exercise ``ch06-ex-implement``: ``my_rvq_encode(z, codebooks) -> codes``.

    Parameters
    ----------
    fn : callable
        The reader's encoder: ``z`` of shape ``(N, D)`` and a list of ``(K_i, D)``
        codebooks in, ``(N, n_q)`` integer codes out.

    Returns
    -------
    CheckResult
        Compared with :func:`rvqlib.rvq.rvq_encode` on six cases, the last with exact
        ties (which must go to the lowest index); a wrong answer says which case
        failed and names a known slip only when the reader's codes match it on
        **every** case (codes transposed, every stage quantizing ``z``, the codeword
        added to the residual instead of subtracted, ties to the highest index).
    """
    name = "my_rvq_encode"
    if _is_placeholder(fn) or not callable(fn):
        return check_function(fn, [], name=name)
    cases = implement_cases()
    outputs = []
    for (z, books), _ in cases:
        try:
            got = _as_numpy(fn(z.copy(), [b.copy() for b in books]))
        except Exception:  # the reader's code may raise anything; check_function reports it
            got = None
        outputs.append(got)
    wants = [want for _, want in cases]
    for g, w in zip(outputs, wants, strict=True):
        if g is not None and g.ndim == 2 and g.shape == w.shape[::-1] != w.shape:
            return _wrong(
                name,
                f"codes have shape {g.shape}, expected {w.shape} (transposed?)",
                "stack the per-stage indices on the last axis: np.stack(codes, axis=-1)",
            )
    slips = {
        "every stage quantized z itself: the residual is never updated": (
            _no_residual_codes,
            "after stage i, subtract the chosen codeword: residual = residual - cb[k]",
        ),
        "you added the chosen codeword to the residual; subtract it (r <- r - e_k)": (
            _added_codes,
            "the residual is what is left to encode: residual = residual - cb[k]",
        ),
        "ties went to the highest index; the exercise asks for the lowest": (
            _last_tie_codes,
            "np.argmin returns the first of equal minima: k = d.argmin(axis=1)",
        ),
    }
    for what, (slip_fn, hint) in slips.items():
        bad = [slip_fn(z, books) for (z, books), _ in cases]
        if all(
            g is not None and g.shape == b.shape and np.array_equal(g, b)
            for g, b in zip(outputs, bad, strict=True)
        ) and any(not np.array_equal(b, w) for b, w in zip(bad, wants, strict=True)):
            return _wrong(name, what, hint)
    return check_function(
        fn,
        cases,
        name=name,
        hint="start from residual = z; for each codebook take the nearest codeword and subtract it",
    )


# ------------------------------------------------------ exercise "zero codeword"
#: The options of exercise ``ch06-ex-zero-codeword``, as the notebook prints them.
ZERO_OPTIONS: dict[str, str] = {
    "a": "it can increase for some vectors, because the new codebook was never trained on them",
    "b": "it can never increase for any vector",
    "c": "it always strictly decreases for every vector",
    "d": "it cannot increase only if the new codebook was trained with k-means on the residuals",
}


@never_raises
def check_zero_codeword(answer: Any) -> CheckResult:
    """Exercise ``ch06-ex-zero-codeword`` (predict, then run).

    What happens to each vector's squared error when a stage whose codebook
    contains the zero vector is appended? Options ``"a"``..``"d"``
    (:data:`ZERO_OPTIONS`); the answer is ``"b"``.
    """
    explanations = {
        "a": "the greedy encoder compares against the zero codeword, which changes nothing, "
        "so an untrained codebook can waste bits but never add error",
        "b": "the new error is min_k ||r - e_k||^2 <= ||r - 0||^2 = the old error",
        "c": "if no codeword beats zero (say every other codeword is far away) the error "
        "stays exactly the same",
        "d": "training is not needed: the argument uses only that 0 is in the codebook",
    }
    return check_choice(
        answer,
        "b",
        name="the error after adding a stage with a zero codeword",
        options=list(ZERO_OPTIONS),
        explanations=explanations,
    )


# ------------------------------------------------------- exercise "why smaller"
#: The options of exercise ``ch06-ex-why-smaller``, as the notebook prints them.
SMALLER_OPTIONS: dict[str, str] = {
    "a": "stage 2 has fewer codewords than stage 1, so each covers less ground",
    "b": "stage 2 is fitted to stage 1's errors, which are small",
    "c": "the training divides each later codebook by a fixed factor",
    "d": "stage 2 also sees z and stores only small corrections to it",
}


@never_raises
def check_why_smaller(answer: Any) -> CheckResult:
    """Exercise ``ch06-ex-why-smaller`` (explain): why do later stages learn smaller codewords?

    Options ``"a"``..``"d"`` (:data:`SMALLER_OPTIONS`); the answer is ``"b"``.
    """
    explanations = {
        "a": "every stage in the chapter has the same K; smaller codewords come from smaller "
        "data, not from fewer codewords",
        "b": "stage 2 is trained on the residuals of stage 1, and a centroid is the mean of "
        "the residuals in its cell, so its norm is on the scale of those residuals",
        "c": "nothing in train_rvq_codebooks or ResidualVQ scales codebooks; k-means alone does it",
        "d": "stage 2 never sees z, only the residual r1 = z - e_{1,k1}",
    }
    return check_choice(
        answer,
        "b",
        name="why stage 2 learns smaller codewords",
        options=list(SMALLER_OPTIONS),
        explanations=explanations,
    )


# ------------------------------------------------------- exercise "flat memory"
#: Number of stages of exercise ``ch06-ex-flat-memory``.
FLAT_N_Q: int = 4
#: Codewords per stage of exercise ``ch06-ex-flat-memory``.
FLAT_K: int = 256
#: Vector dimension of exercise ``ch06-ex-flat-memory``.
FLAT_D: int = 64
#: Bytes per stored number (float32) in exercise ``ch06-ex-flat-memory``.
FLAT_BYTES_PER_FLOAT: int = 4


@never_raises
def check_flat_memory(value: Any) -> CheckResult:
    """Exercise ``ch06-ex-flat-memory``: bytes of the flat codebook with the same bits.

    The flat codebook of an RVQ with ``FLAT_N_Q`` stages of ``FLAT_K`` codewords has
    ``FLAT_K ** FLAT_N_Q`` codewords of ``FLAT_D`` float32 numbers each. The answer is
    a count, so it must be exact (``2**40``); a rounded one (``1.1e12``) is told that
    it is close, and the usual slips are named.
    """
    n_q, k, d, b = FLAT_N_Q, FLAT_K, FLAT_D, FLAT_BYTES_PER_FLOAT
    expected = k**n_q * d * b
    name = "the flat codebook's size in bytes"
    hint = "count the codewords first (one per combination of indices), then bytes per codeword"
    mistakes = {
        "you computed the RVQ's memory (n_q * K codewords), not the flat codebook's": float(
            n_q * k * d * b
        ),
        "you forgot the 4 bytes per float32": float(k**n_q * d),
        "you counted bits, not bytes (a float32 is 4 bytes, not 32)": float(k**n_q * d * 32),
        "you used 8 bytes per number (float64); the codebook is float32, 4 bytes": float(
            k**n_q * d * 8
        ),
        "you forgot the D numbers per codeword": float(k**n_q * b),
        "you counted codewords, not bytes": float(k**n_q),
        "you used n_q ** K instead of K ** n_q": float(n_q**k * d * b),
    }
    if isinstance(value, int) and not isinstance(value, bool):  # Python ints may be huge
        if value == expected:
            return _right(name, f"= {expected:,} = 2^{expected.bit_length() - 1}")
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
    got = _to_float(value)
    if got is not None and got != expected and matches(got, expected):
        return _wrong(
            name,
            f"{got:g} is close: it agrees to 3 significant figures, but this is a count, "
            "so give the exact number of bytes (Python's ** computes it exactly)",
            hint,
        )
    return check_close(
        value,
        float(expected),
        name=name,
        sig_figs=None,
        rtol=1e-12,
        mistakes=mistakes,
        hint=hint,
    )
