"""Checkers for the exercises of chapter 2, "Vector quantization".

One function per exercise of ``notebooks/02_vector_quantization.ipynb``. Every
expected value is computed here with :mod:`rvqlib` (or, for a by-hand exercise,
from the exercise's own numbers), never typed in as a bare constant, and every
checker returns a :class:`~rvqlib.exercises._check.CheckResult` instead of
raising, so that a wrong answer is told what is wrong.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rvqlib.exercises._check import (
    CheckResult,
    check_choice,
    check_close,
    check_function,
)
from rvqlib.vq import DEFAULT_CHUNK_BYTES, nearest

__all__ = [
    "BY_HAND_CODEBOOK",
    "BY_HAND_Z",
    "MEMORY_BYTES_PER_ENTRY",
    "MEMORY_K",
    "MEMORY_N",
    "RATE_D",
    "RATE_K",
    "check_by_hand",
    "check_memory",
    "check_my_nearest",
    "check_rate",
    "check_why_vq_wins",
]

#: Exercise ``ch02-ex-by-hand``: the input vector ...
BY_HAND_Z: tuple[float, float] = (1.5, 0.5)
#: ... and the four codewords ``e_0 .. e_3`` (rows) it is compared with.
BY_HAND_CODEBOOK: tuple[tuple[float, float], ...] = ((0.0, 0.0), (2.0, 0.0), (1.0, 2.0), (2.0, 2.0))

#: Exercise ``ch02-ex-rate``: codebook size and vector dimension.
RATE_K: int = 4096
RATE_D: int = 64

#: Exercise ``ch02-ex-memory``: one hour of latent frames at 75 frames per second ...
MEMORY_N: int = 75 * 3600
#: ... searched against a codebook of this many codewords ...
MEMORY_K: int = 2048
#: ... with distances stored as float32 (4 bytes each).
MEMORY_BYTES_PER_ENTRY: int = np.dtype(np.float32).itemsize


def _both(first: CheckResult, second: CheckResult) -> CheckResult:
    """Combine the verdicts on the two parts of one exercise."""
    if first.ok and second.ok:
        return CheckResult(True, f"{first.message}\n{second.message}")
    bad = [r.message for r in (first, second) if not r.ok]
    good = [r.message for r in (first, second) if r.ok]
    return CheckResult(False, "\n".join(bad + good))


def check_by_hand(k_star: Any, squared_distance: Any) -> CheckResult:
    """Exercise ``ch02-ex-by-hand``: nearest codeword and its squared distance.

    Parameters
    ----------
    k_star : int
        The (0-based) index of the codeword nearest to :data:`BY_HAND_Z` among
        the rows of :data:`BY_HAND_CODEBOOK`.
    squared_distance : float
        ``||z - e_{k*}||^2``.

    Returns
    -------
    CheckResult
    """
    z = np.asarray(BY_HAND_Z)
    codebook = np.asarray(BY_HAND_CODEBOOK)
    d2 = ((codebook - z) ** 2).sum(axis=1)
    k = int(nearest(z, codebook))
    index_mistakes = {
        "you counted codewords from 1 (Python counts from 0)": float(k + 1),
        "you took the farthest codeword instead of the nearest": float(np.argmax(d2)),
    }
    index_result = check_close(
        k_star,
        float(k),
        name="the index k*",
        mistakes=index_mistakes,
        hint="compute ||z - e_k||^2 for all four codewords and take the smallest",
    )
    if index_result.ok and not float(k_star).is_integer():
        index_result = CheckResult(False, "Not yet: the index k*: it must be a whole number")
    distance_result = check_close(
        squared_distance,
        float(d2[k]),
        name="the squared distance ||z - e_k*||^2",
        mistakes={
            "you took the square root (that is the distance, not its square)": math.sqrt(d2[k]),
            "you summed |differences| instead of squared differences": float(
                np.abs(codebook[k] - z).sum()
            ),
            "you used the farthest codeword": float(d2.max()),
        },
        hint="square each coordinate difference and add them; do not take a square root",
    )
    return _both(index_result, distance_result)


def check_rate(bits_per_vector: Any, bits_per_dimension: Any) -> CheckResult:
    """Exercise ``ch02-ex-rate``: bits for :data:`RATE_K` codewords in D = :data:`RATE_D`.

    Parameters
    ----------
    bits_per_vector : float
        ``log2 K``.
    bits_per_dimension : float
        ``log2(K) / D``.

    Returns
    -------
    CheckResult
    """
    per_vector = math.log2(RATE_K)
    per_dim = per_vector / RATE_D
    vector_result = check_close(
        bits_per_vector,
        per_vector,
        name="bits per vector",
        mistakes={
            "you used the natural logarithm instead of log base 2": math.log(RATE_K),
            "you used log base 10": math.log10(RATE_K),
            "you multiplied log2 K by D (that is not how an index is sent)": per_vector * RATE_D,
            "you gave K, the number of codewords, not the bits to write one index": RATE_K,
        },
        hint="one index out of K needs log2(K) bits",
    )
    dim_result = check_close(
        bits_per_dimension,
        per_dim,
        name="bits per dimension",
        mistakes={
            "you used the natural logarithm instead of log base 2": math.log(RATE_K) / RATE_D,
            "you divided K (not log2 K) by D": RATE_K / RATE_D,
            "you forgot to divide by D": per_vector,
            "you divided D by log2 K: the ratio is upside down": RATE_D / per_vector,
        },
        hint="spread the bits of one index over the D coordinates it describes",
    )
    return _both(vector_result, dim_result)


def _my_nearest_cases() -> list[tuple[tuple[Any, ...], Any]]:
    """Inputs for :func:`check_my_nearest`, with the answers of :func:`rvqlib.vq.nearest`."""
    rng = np.random.default_rng(2)
    cases: list[tuple[np.ndarray, np.ndarray]] = [
        # one vector, two codewords (the chapter's worked example)
        (np.array([[5.8, 2.4]]), np.array([[5.0, 2.0], [6.0, 3.0]])),
        # codewords of very different norms: forgetting ||e||^2 picks the wrong one
        (np.array([[0.1, 0.0], [3.0, 0.5]]), np.array([[0.0, 0.0], [3.0, 0.0], [10.0, 0.0]])),
        # exact ties (small integers, so every score is exact): lowest index wins
        (np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])),
        # many vectors, many codewords, D = 5
        (rng.normal(size=(200, 5)), rng.normal(size=(32, 5))),
        # a single codeword: every index is 0
        (rng.normal(size=(7, 3)), rng.normal(size=(1, 3))),
    ]
    return [((z, e), nearest(z, e)) for z, e in cases]


def _diagnose_nearest(args: tuple[Any, ...], got: Any, want: np.ndarray) -> str | None:
    """Name the slip behind a wrong ``my_nearest`` result, or None."""
    z, codebook = args
    arr = np.asarray(got)
    if arr.shape == (len(z), len(codebook)):
        return "you returned the score matrix: take its argmin along the codeword axis (axis=1)"
    if arr.shape != want.shape:
        return f"return one index per input vector, shape {want.shape}; got shape {arr.shape}"
    if not np.issubdtype(arr.dtype, np.integer):
        return f"return integer indices (e.g. the result of argmin), not {arr.dtype}"
    e_sq = (codebook * codebook).sum(axis=1)[None, :]
    cross = 2.0 * z @ codebook.T
    slips = [  # what each slip returns; on a small case several may coincide
        (
            (-cross).argmin(axis=1),
            "you left out ||e_k||^2: without it, long codewords win too often",
        ),
        (
            (e_sq - cross).argmax(axis=1),
            "you took the argmax: the nearest codeword has the smallest score",
        ),
        ((e_sq + cross).argmin(axis=1), "the cross term has the wrong sign: it is - 2 z . e_k"),
    ]
    matches = [why for idx, why in slips if np.array_equal(arr, idx)]
    return " or ".join(matches) if matches else None


def check_my_nearest(my_nearest: Any) -> CheckResult:
    """Exercise ``ch02-ex-implement``: ``my_nearest(z, codebook)`` via the expansion.

    The reader's function takes ``z`` of shape ``(N, D)`` and ``codebook`` of
    shape ``(K, D)`` (numpy arrays) and must return the ``(N,)`` integer
    indices that :func:`rvqlib.vq.nearest` returns, ties to the lowest index.

    Parameters
    ----------
    my_nearest : callable
        The reader's implementation.

    Returns
    -------
    CheckResult
        A wrong function is told the first failing input and, where it is
        recognised, its slip (no ``||e||^2`` term, wrong sign, argmax, the score
        matrix or floats returned).
    """

    def same(got: Any, want: np.ndarray) -> bool:
        arr = np.asarray(got)
        return (
            arr.shape == want.shape
            and np.issubdtype(arr.dtype, np.integer)
            and bool(np.array_equal(arr, want))
        )

    cases = _my_nearest_cases()
    if callable(my_nearest):
        try:
            first = my_nearest(*cases[0][0])
        except Exception:  # reported, with the input, by check_function below
            first = 0
        if first is None or first is Ellipsis:
            return CheckResult(
                False,
                f"Not yet: my_nearest: no answer yet (your function returns {first!r}; "
                "write its body and `return` the indices)",
            )
    return check_function(
        my_nearest,
        cases,
        name="my_nearest",
        compare=same,
        diagnose=_diagnose_nearest,
        hint=(
            "scores = ||e_k||^2 - 2 z @ E.T (the ||z||^2 term does not change the argmin); "
            "return scores.argmin(axis=1), an (N,) integer array"
        ),
    )


def check_memory(full_bytes: Any, chunk_rows: Any) -> CheckResult:
    """Exercise ``ch02-ex-memory``: size of the distance matrix and of one chunk.

    Parameters
    ----------
    full_bytes : int
        Bytes of the full ``N x K`` float32 matrix for ``N =`` :data:`MEMORY_N`
        and ``K =`` :data:`MEMORY_K`.
    chunk_rows : int
        The most rows of that matrix that fit in
        :data:`rvqlib.vq.DEFAULT_CHUNK_BYTES`, the memory budget of one block
        of scores in :func:`rvqlib.vq.nearest`.

    Returns
    -------
    CheckResult
    """
    n, k, b = MEMORY_N, MEMORY_K, MEMORY_BYTES_PER_ENTRY
    full = n * k * b
    rows = DEFAULT_CHUNK_BYTES // (k * b)
    mib = DEFAULT_CHUNK_BYTES // 2**20
    full_result = check_close(
        full_bytes,
        float(full),
        name="bytes of the N x K matrix",
        mistakes={
            "you used 8 bytes per entry (float64) instead of 4 (float32)": float(2 * full),
            "you forgot the bytes per entry (that is the number of entries)": float(n * k),
            "you answered in MiB (2**20 bytes); the question asks for bytes": full / 2**20,
            "you answered in MB (10**6 bytes); the question asks for bytes": full / 1e6,
            "you answered in GiB; the question asks for bytes": full / 2**30,
        },
        hint="entries times bytes per entry: N * K * 4",
    )
    rows_result = check_close(
        chunk_rows,
        float(rows),
        name=f"rows per {mib} MiB chunk",
        mistakes={
            f"you used {mib} MB = {mib} * 10**6 bytes instead of {mib} MiB = {mib} * 2**20": (
                float(mib * 10**6 // (k * b))
            ),
            "you used 8 bytes per entry (float64)": float(DEFAULT_CHUNK_BYTES // (k * 8)),
            "you forgot the bytes per entry": float(DEFAULT_CHUNK_BYTES // k),
        },
        hint=f"one row holds K float32 numbers, K * 4 bytes; divide {mib} * 2**20 by that",
    )
    return _both(full_result, rows_result)


def check_why_vq_wins(choice: Any) -> CheckResult:
    """Exercise ``ch02-ex-why``: why VQ beats per-coordinate scalar quantization.

    Parameters
    ----------
    choice : str
        One of ``"a"``, ``"b"``, ``"c"``, ``"d"``, the options printed in the exercise.

    Returns
    -------
    CheckResult
    """
    explanations = {
        "a": (
            "both spend log2(16) = 4 bits per vector (2 + 2 for the scalar pair), so the "
            "comparison is at the same rate"
        ),
        "b": (
            "with rho = 0.9 the points hug the diagonal; a product of two scalar "
            "quantizers must place codewords at every combination of levels, wasting "
            "some on the empty corners (the memory advantage), while VQ's cells follow the data"
        ),
        "c": (
            "k-means only finds a local optimum, and Lloyd-Max is optimal per coordinate; "
            "the gain comes from the cells' freedom, not from a better optimiser"
        ),
        "d": (
            "the chapter compares the same quantity (MSE per coordinate) for both "
            "quantizers, so the dimension alone changes nothing"
        ),
    }
    return check_choice(
        choice,
        "b",
        name="why VQ beats scalar quantization on correlated data",
        options=["a", "b", "c", "d"],
        explanations=explanations,
    )
