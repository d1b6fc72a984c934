"""Checkers for the exercises of chapter 2, "Vector quantization".

One function per exercise of ``notebooks/02_vector_quantization.ipynb``. Every
expected value is computed here with :mod:`rvqlib` (or, for a by-hand exercise,
from the exercise's own numbers), never typed in as a bare constant, and every
checker returns a :class:`~rvqlib.exercises._check.CheckResult` instead of
raising (each is wrapped in :func:`~rvqlib.exercises._check.never_raises`), so
that a wrong answer is told what is wrong. Numbers worked out by hand are right
to 3 significant figures, and the named slips match with the same tolerance.
"""

from __future__ import annotations

import math
import tracemalloc
from typing import Any

import numpy as np

from rvqlib.exercises._check import (
    CheckResult,
    all_parts,
    as_numpy,
    check_choice,
    check_close,
    check_function,
    matches,
    never_raises,
    wrong,
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
    "BROADCAST_CASE",
    "BROADCAST_PEAK_BYTES",
    "WHY_OPTIONS",
    "check_by_hand",
    "check_memory",
    "check_my_nearest",
    "check_rate",
    "check_why_vq_wins",
]

#: Exercise ``ch02-ex-by-hand``: the input vector ...
BY_HAND_Z: tuple[float, float] = (1.5, 0.5)
#: ... and the four codewords ``e_0 .. e_3`` (rows) it is compared with.
#: The nearest is e_3 = (2, 0): its index (3), the 1-based count (4) and its
#: coordinates (2, 0) are all different numbers, so each confusion can be named.
BY_HAND_CODEBOOK: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.0, 2.0), (2.0, 2.0), (2.0, 0.0))

#: Exercise ``ch02-ex-rate``: codebook size and vector dimension.
RATE_K: int = 4096
RATE_D: int = 64

#: Exercise ``ch02-ex-memory``: one hour of latent frames at 75 frames per second ...
MEMORY_N: int = 75 * 3600
#: ... searched against a codebook of this many codewords ...
MEMORY_K: int = 2048
#: ... with distances stored as float32 (4 bytes each).
MEMORY_BYTES_PER_ENTRY: int = np.dtype(np.float32).itemsize


@never_raises
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
        Both parts are reported, the wrong ones first. A codeword given in
        place of its index is recognised, and so is each of the equally far
        codewords (e_0, e_1 and e_2 tie) given in place of the nearest.
    """
    z = np.asarray(BY_HAND_Z)
    codebook = np.asarray(BY_HAND_CODEBOOK)
    d2 = ((codebook - z) ** 2).sum(axis=1)
    k = int(nearest(z, codebook))
    name = "the index k*"
    as_vector = None if isinstance(k_star, str) else as_numpy(k_star)
    if as_vector is not None and as_vector.shape == codebook.shape[1:]:
        rows = [j for j, e in enumerate(codebook) if np.allclose(as_vector, e)]
        which = f": {tuple(float(v) for v in as_vector)} is e_{rows[0]}" if rows else ""
        index_result = wrong(
            name,
            f"give the index, not the codeword{which}",
            "k* is the position of the nearest codeword in the codebook (0, 1, 2 or 3)",
        )
    else:
        coordinate = float(codebook[k][0])
        coordinate_slip = "you gave the first coordinate of the nearest codeword, not its index"
        mistakes = {"you counted codewords from 1 (Python counts from 0)": float(k + 1)}
        # every farthest codeword is named, not only the first of a tie
        farthest = [j for j in range(len(d2)) if d2[j] == d2.max()]
        if len(farthest) == 1:
            tie = f"(at squared distance {d2.max():g})"
        else:
            names = [f"e_{j}" for j in farthest]
            tie = f"({', '.join(names[:-1])} and {names[-1]} are all at {d2.max():g})"
        for j in farthest:
            slip = f"you took e_{j}, a farthest codeword, instead of the nearest {tie}"
            if j == coordinate:
                slip += f", or {coordinate_slip[4:]}"
            mistakes[slip] = float(j)
        if coordinate not in farthest:
            mistakes[coordinate_slip] = coordinate
        index_result = check_close(
            k_star,
            float(k),
            name=name,
            sig_figs=None,
            mistakes=mistakes,
            hint="compute ||z - e_k||^2 for all four codewords and take the smallest",
        )
        if index_result.ok and not float(k_star).is_integer():
            index_result = wrong(name, "it must be a whole number")
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
            "you averaged over the D = 2 coordinates (that is the MSE per entry, not the "
            "squared distance)": float(d2[k] / 2),
        },
        hint="square each coordinate difference and add them; do not take a square root",
    )
    return all_parts([index_result, distance_result])


@never_raises
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
    return all_parts([vector_result, dim_result])


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


#: The case on which :func:`check_my_nearest` measures memory: its (N, K, D)
#: temporary would take N * K * D * 8 bytes (32.8 MB), the (N, K) scores 1 MB.
BROADCAST_CASE: tuple[int, int, int] = (1000, 128, 32)
#: The largest peak of traced memory (bytes) allowed on that case: a quarter of
#: the (N, K, D) temporary, eight times the (N, K) score matrix.
BROADCAST_PEAK_BYTES: int = BROADCAST_CASE[0] * BROADCAST_CASE[1] * BROADCAST_CASE[2] * 8 // 4


def _slip_outputs(z: np.ndarray, codebook: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """What each common slip returns on one case, with the words that name it."""
    e_sq = (codebook * codebook).sum(axis=1)[None, :]
    cross = 2.0 * z @ codebook.T
    scores = e_sq - cross
    k = codebook.shape[0]
    return [
        (
            (-cross).argmin(axis=1),
            "you left out ||e_k||^2: without it, long codewords win too often",
        ),
        (scores.argmax(axis=1), "you took the argmax: the nearest codeword has the smallest score"),
        ((e_sq + cross).argmin(axis=1), "the cross term has the wrong sign: it is - 2 z . e_k"),
        (
            k - 1 - scores[:, ::-1].argmin(axis=1),
            "ties go to the highest index: they must go to the lowest (np.argmin returns the "
            "first minimum; do not reverse the codebook or use <= when scanning)",
        ),
    ]


def _diagnose_nearest(fn: Any, cases: list[tuple[tuple[Any, ...], Any]]) -> Any:
    """A ``diagnose`` for :func:`check_function` that names a slip only when it explains
    the reader's output on *every* case (so a coincidence on one case names nothing)."""

    def diagnose(args: tuple[Any, ...], got: Any, want: np.ndarray) -> str | None:
        z, codebook = args
        arr = np.asarray(got)
        if arr.shape == (len(z), len(codebook)):
            return "you returned the score matrix: take its argmin along the codeword axis (axis=1)"
        if arr.shape != want.shape:
            return f"return one index per input vector, shape {want.shape}; got shape {arr.shape}"
        if not np.issubdtype(arr.dtype, np.integer):
            if np.issubdtype(arr.dtype, np.floating) and np.array_equal(arr, want):
                return f"the indices are right but they are {arr.dtype}: return integers (argmin)"
            return f"return integer indices (e.g. the result of argmin), not {arr.dtype}"
        outputs = []
        for case_args, _ in cases:
            try:
                outputs.append(np.asarray(fn(*case_args)))
            except Exception:  # a diagnosis is a bonus
                return None
        for j, (_, why) in enumerate(_slip_outputs(*cases[0][0])):
            if all(
                out.shape == slips[j][0].shape and np.array_equal(out, slips[j][0])
                for out, slips in zip(outputs, (_slip_outputs(*a) for a, _ in cases), strict=True)
            ):
                return why
        return None

    return diagnose


def _broadcast_peak(my_nearest: Any) -> tuple[int, bool]:
    """Peak traced memory (bytes) of one call on :data:`BROADCAST_CASE`, and its correctness."""
    n, k, d = BROADCAST_CASE
    rng = np.random.default_rng(5)
    z, codebook = rng.normal(size=(n, d)), rng.normal(size=(k, d))
    want = nearest(z, codebook)
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        got = my_nearest(z, codebook)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not already:
            tracemalloc.stop()
    arr = as_numpy(got)
    ok = arr is not None and arr.shape == want.shape and bool(np.array_equal(arr, want))
    return peak, ok


@never_raises
def check_my_nearest(my_nearest: Any) -> CheckResult:
    """Exercise ``ch02-ex-implement``: ``my_nearest(z, codebook)`` via the expansion.

    The reader's function takes ``z`` of shape ``(N, D)`` and ``codebook`` of
    shape ``(K, D)`` (numpy arrays) and must return the ``(N,)`` integer
    indices that :func:`rvqlib.vq.nearest` returns, ties to the lowest index,
    without the ``(N, K, D)`` temporary of the direct form: on
    :data:`BROADCAST_CASE` its peak of traced memory must stay below
    :data:`BROADCAST_PEAK_BYTES`.

    Parameters
    ----------
    my_nearest : callable
        The reader's implementation.

    Returns
    -------
    CheckResult
        A wrong function is told the first failing input and, where a slip
        explains its output on every case, the slip (no ``||e||^2`` term, wrong
        sign, argmax, ties to the highest index, the score matrix or floats
        returned); a function that returns nothing is told so, and a right
        answer computed through the forbidden broadcast is told its memory.
    """

    def same(got: Any, want: np.ndarray) -> bool:
        arr = as_numpy(got)
        return (
            arr is not None
            and arr.shape == want.shape
            and np.issubdtype(arr.dtype, np.integer)
            and bool(np.array_equal(arr, want))
        )

    cases = _my_nearest_cases()
    hint = (
        "scores = ||e_k||^2 - 2 z @ E.T (the ||z||^2 term does not change the argmin); "
        "return scores.argmin(axis=1), an (N,) integer array"
    )
    if callable(my_nearest):
        try:
            first = my_nearest(*cases[0][0])
        except Exception:  # reported, with the input, by check_function below
            first = None
        if first is Ellipsis:
            return wrong(
                "my_nearest",
                "no answer yet (your function returns `...`; write its body and `return` "
                "the indices)",
            )
    result = check_function(
        my_nearest,
        cases,
        name="my_nearest",
        compare=same,
        diagnose=_diagnose_nearest(my_nearest, cases),
        hint=hint,
    )
    if not result:
        return result
    n, k, d = BROADCAST_CASE
    peak, ok = _broadcast_peak(my_nearest)
    if not ok:
        return wrong(
            "my_nearest",
            f"right on the small cases but not on random data with N = {n}, K = {k}, D = {d}",
            hint,
        )
    if peak > BROADCAST_PEAK_BYTES:
        return wrong(
            "my_nearest",
            f"the indices are right, but for N = {n}, K = {k}, D = {d} your function "
            f"allocated {peak / 2**20:.1f} MiB at its peak, about the {n * k * d * 8 / 2**20:.0f}"
            " MiB of the (N, K, D) difference array the exercise forbids (the (N, K) scores "
            f"take {n * k * 8 / 2**20:.0f} MiB)",
            "use the expansion ||e_k||^2 - 2 z . e_k (one matrix product), not z[:, None] - E",
        )
    return result


@never_raises
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
        of scores in :func:`rvqlib.vq.nearest`. A whole count, so it must be
        exact (``1024.0`` is fine, a rounded ``1020`` is not).

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
    rows_name = f"rows per {mib} MiB chunk"
    rows_mistakes = {
        f"you used {mib} MB = {mib} * 10**6 bytes instead of {mib} MiB = {mib} * 2**20": (
            float(mib * 10**6 // (k * b))
        ),
        "you used 8 bytes per entry (float64)": float(DEFAULT_CHUNK_BYTES // (k * 8)),
        "you forgot the bytes per entry": float(DEFAULT_CHUNK_BYTES // k),
    }
    rows_hint = f"one row holds K float32 numbers, K * 4 bytes; divide {mib} * 2**20 by that"
    rows_result = check_close(
        chunk_rows,
        float(rows),
        name=rows_name,
        sig_figs=None,  # a count of whole rows: exact, not rounded
        mistakes=rows_mistakes,
        hint=rows_hint,
    )
    got_rows = as_numpy(chunk_rows)
    if (
        not rows_result.ok
        and got_rows is not None
        and got_rows.size == 1
        and np.issubdtype(got_rows.dtype, np.number)
        and not np.issubdtype(got_rows.dtype, np.bool_)
    ):
        got = float(got_rows.reshape(()))
        if got not in rows_mistakes.values() and matches(got, float(rows), sig_figs=2):
            rows_result = wrong(
                rows_name,
                f"got {got:g}, which is close, but the number of rows is an exact whole "
                "count: give it exactly",
                rows_hint,
            )
    return all_parts([full_result, rows_result])


#: The options of exercise ``ch02-ex-why``, as the chapter prints them.
WHY_OPTIONS: dict[str, str] = {
    "a": "k-means fits each coordinate's marginal density better than Lloyd-Max does",
    "b": "the vector quantizer spends more bits: 16 codewords against 4 + 4 levels",
    "c": "the scalar pair's grid puts codewords where the data never go",
    "d": "the k-means cells are hexagons, and hexagons beat squares by about 4 dB",
}


@never_raises
def check_why_vq_wins(choice: Any) -> CheckResult:
    """Exercise ``ch02-ex-why``: why VQ beats per-coordinate scalar quantization.

    Parameters
    ----------
    choice : str
        One of the keys of :data:`WHY_OPTIONS`.

    Returns
    -------
    CheckResult
    """
    hexagon_db = 10 * math.log10((1 / 12) / (5 / (36 * math.sqrt(3))))
    explanations = {
        "a": (
            "each coordinate of the data is a unit Gaussian, and Lloyd-Max is the best "
            "quantizer of that marginal there is; the loss is in the pairs, not the marginals"
        ),
        "b": (
            "16 codewords take log2(16) = 4 bits, and two 4-level quantizers 2 + 2 = 4 bits: "
            "the rates are the same (levels multiply, they do not add: 4 x 4 = 16 pairs)"
        ),
        "c": (
            "with rho = 0.9 the points hug the diagonal; the product of two scalar "
            "quantizers must place a codeword at every pair of levels, wasting some on the "
            "empty corners, while the VQ's cells follow the data"
        ),
        "d": (
            f"hexagons beat squares by only {hexagon_db:.2f} dB (the space-filling advantage), "
            "and with rho = 0, where only that and shape are left, the whole VQ gain is a "
            "fraction of a dB"
        ),
    }
    return check_choice(
        choice,
        "c",
        name="why VQ beats scalar quantization on correlated data",
        options=list(WHY_OPTIONS),
        explanations=explanations,
    )
