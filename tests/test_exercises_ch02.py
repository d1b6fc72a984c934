"""Tests of the chapter 2 exercise checkers (rvqlib.exercises.ch02)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from exercise_asserts import assert_right, assert_wrong

from rvqlib.exercises import ch02
from rvqlib.vq import DEFAULT_CHUNK_BYTES


def _right_nearest(z: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    scores = (codebook * codebook).sum(axis=1) - 2.0 * z @ codebook.T
    return scores.argmin(axis=1)


# --------------------------------------------------------------------------- by hand
def test_by_hand_right() -> None:
    z = np.asarray(ch02.BY_HAND_Z)
    e = np.asarray(ch02.BY_HAND_CODEBOOK)
    d2 = ((e - z) ** 2).sum(axis=1)
    # the by-hand arithmetic of the solution: 2.5, 2.5, 2.5, 0.5
    np.testing.assert_allclose(d2, [2.5, 2.5, 2.5, 0.5])
    result = ch02.check_by_hand(3, 0.5)
    assert_right(result)
    assert "Correct: the index" in result.message and "Correct: the squared" in result.message


@pytest.mark.parametrize("forms", [(3.0, 0.5), (np.int64(3), 0.50), (torch.tensor(3), 0.5)])
def test_by_hand_equivalent_forms(forms) -> None:
    assert_right(ch02.check_by_hand(*forms))


def test_by_hand_index_and_value_are_distinguishable() -> None:
    """The index (3), its 1-based count (4) and the codeword's coordinates (2, 0) differ."""
    e = np.asarray(ch02.BY_HAND_CODEBOOK)
    k = 3
    assert {k, k + 1}.isdisjoint(set(e[k].tolist()))


@pytest.mark.parametrize(
    ("k", "d2", "needle"),
    [
        (4, 0.5, "counted codewords from 1"),
        (2, 0.5, "first coordinate of the nearest codeword"),
        ((2, 0), 0.5, "give the index, not the codeword: (2.0, 0.0) is e_3"),
        (np.array([1.0, 2.0]), 0.5, "give the index, not the codeword: (1.0, 2.0) is e_1"),
        (0, 2.5, "farthest"),
        (0, 0.5, "you took e_0, a farthest codeword"),
        (1, 0.5, "you took e_1, a farthest codeword"),  # the three-way tie at 2.5
        (2, 0.5, "you took e_2, a farthest codeword"),
        (1, 0.5, "e_0, e_1 and e_2 are all at 2.5"),
        (3, math.sqrt(0.5), "square root"),
        (3, 0.7071, "square root"),  # rounded by hand: still named
        (3, 0.707, "square root"),
        (3, 1.0, "|differences|"),
        (3, 0.25, "averaged over the D = 2 coordinates"),
        (3, 0.7, "too large"),
        (3.5, 0.5, "got 3.5"),
        ("3", 0.5, "expected a single number"),
        (None, 0.5, "got None"),
    ],
)
def test_by_hand_wrong(k, d2, needle) -> None:
    assert_wrong(ch02.check_by_hand(k, d2), needle)


def test_by_hand_other_part_still_reported() -> None:
    result = ch02.check_by_hand(4, 0.5)
    assert_wrong(result, "counted codewords from 1", "Correct: the squared distance")


def test_by_hand_placeholder() -> None:
    result = ch02.check_by_hand(..., ...)
    assert_wrong(result, "no answer yet")


# --------------------------------------------------------------------------- rate
def test_rate_right() -> None:
    result = ch02.check_rate(12, 12 / 64)
    assert result.ok
    assert "Correct" in result.message


@pytest.mark.parametrize(
    ("per_vector", "per_dim", "needle"),
    [
        (math.log(4096), 12 / 64, "natural logarithm"),
        (12, 4096 / 64, "divided K (not log2 K)"),
        (12, 12, "forgot to divide by D"),
        (12 * 64, 12 / 64, "multiplied log2 K by D"),
        (4096, 12 / 64, "the number of codewords"),
        (12, 64 / 12, "upside down"),
    ],
)
def test_rate_wrong(per_vector: float, per_dim: float, needle: str) -> None:
    result = ch02.check_rate(per_vector, per_dim)
    assert not result.ok
    assert needle in result.message


def test_rate_rounded() -> None:
    assert_right(ch02.check_rate(12, 0.188))
    assert_right(ch02.check_rate(12.0, 0.1875))
    assert_wrong(ch02.check_rate(12, 0.19), "2 significant figures")
    assert_wrong(ch02.check_rate(8.32, 0.13), "natural logarithm")  # rounded slips named
    assert_wrong(ch02.check_rate("12", 0.1875), "expected a single number")


def test_rate_placeholder() -> None:
    assert "no answer yet" in ch02.check_rate(..., ...).message


# --------------------------------------------------------------------------- implement
def test_my_nearest_right() -> None:
    result = ch02.check_my_nearest(_right_nearest)
    assert result.ok
    assert "Correct" in result.message


def test_my_nearest_without_codeword_norms_is_caught() -> None:
    result = ch02.check_my_nearest(lambda z, e: (-2.0 * z @ e.T).argmin(axis=1))
    assert not result.ok
    assert "returned" in result.message and "expected" in result.message


def test_my_nearest_argmax_is_caught() -> None:
    def farthest(z: np.ndarray, e: np.ndarray) -> np.ndarray:
        return (((z[:, None, :] - e[None]) ** 2).sum(-1)).argmax(axis=1)

    assert not ch02.check_my_nearest(farthest).ok


def test_my_nearest_tie_to_highest_index_is_caught() -> None:
    def last_of_ties(z: np.ndarray, e: np.ndarray) -> np.ndarray:
        scores = (e * e).sum(axis=1) - 2.0 * z @ e.T
        k = e.shape[0]
        return k - 1 - scores[:, ::-1].argmin(axis=1)

    result = ch02.check_my_nearest(last_of_ties)
    assert not result.ok
    assert "[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]" in result.message
    assert "Likely slip: ties go to the highest index" in result.message


def test_my_nearest_float_output_is_caught() -> None:
    result = ch02.check_my_nearest(lambda z, e: _right_nearest(z, e).astype(float))
    assert_wrong(result, "indices must be integers", "Likely slip: the indices are right")


def test_my_nearest_valid_alternatives_pass() -> None:
    from scipy.spatial.distance import cdist

    def torch_cdist(z: np.ndarray, e: np.ndarray) -> torch.Tensor:
        return torch.cdist(torch.from_numpy(z), torch.from_numpy(e)).argmin(dim=1)

    for fn in (
        lambda z, e: cdist(z, e, "sqeuclidean").argmin(axis=1),
        torch_cdist,
        lambda z, e: list(_right_nearest(z, e)),
        lambda z, e: _right_nearest(z.astype(np.float32), e.astype(np.float32)),
    ):
        assert_right(ch02.check_my_nearest(fn))


def test_my_nearest_direct_broadcast_is_caught() -> None:
    def broadcast(z: np.ndarray, e: np.ndarray) -> np.ndarray:
        return ((z[:, None, :] - e[None, :, :]) ** 2).sum(axis=-1).argmin(axis=1)

    assert_wrong(ch02.check_my_nearest(broadcast), "(N, K, D)", "MiB", "expansion")
    n, k, d = ch02.BROADCAST_CASE
    assert ch02.BROADCAST_PEAK_BYTES >= 8 * n * k * 8  # room for the expansion's (N, K) arrays


def test_my_nearest_broadcast_check_works_while_tracing() -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        assert_right(ch02.check_my_nearest(_right_nearest))
        assert tracemalloc.is_tracing()  # the reader's own tracing is left running
    finally:
        tracemalloc.stop()


def test_my_nearest_cosine_similarity_gets_no_misdiagnosis() -> None:
    def cosine(z: np.ndarray, e: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(e, axis=1, keepdims=True)
        return (z @ (e / np.where(norms == 0, 1.0, norms)).T).argmax(axis=1)

    result = ch02.check_my_nearest(cosine)
    assert_wrong(result, "returned", "expected")
    assert "Likely slip" not in result.message


def test_my_nearest_wrong_type() -> None:
    assert_wrong(ch02.check_my_nearest("np.argmin"), "expected a function")


def test_my_nearest_raising_is_reported() -> None:
    def broken(z: np.ndarray, e: np.ndarray) -> np.ndarray:
        raise RuntimeError("oops")

    result = ch02.check_my_nearest(broken)
    assert not result.ok
    assert "raised RuntimeError: oops" in result.message


def test_my_nearest_placeholder() -> None:
    result = ch02.check_my_nearest(...)
    assert not result.ok
    assert "no function yet" in result.message


def test_my_nearest_without_return_says_so() -> None:
    def my_nearest(z: np.ndarray, codebook: np.ndarray) -> None:
        _right_nearest(z, codebook)  # computed, but not returned

    assert_wrong(ch02.check_my_nearest(my_nearest), "returned None", "no `return`")


def test_my_nearest_returning_ellipsis_is_no_answer_yet() -> None:
    result = ch02.check_my_nearest(lambda z, codebook: ...)
    assert not result.ok
    assert "no answer yet" in result.message and "returns `...`" in result.message


# --------------------------------------------------------------------------- memory
def test_memory_right() -> None:
    full = 75 * 3600 * 2048 * 4
    rows = DEFAULT_CHUNK_BYTES // (2048 * 4)
    result = ch02.check_memory(full, rows)
    assert result.ok
    assert "Correct" in result.message


@pytest.mark.parametrize(
    ("full", "rows", "needle"),
    [
        (75 * 3600 * 2048 * 8, None, "float64"),
        (75 * 3600 * 2048, None, "forgot the bytes per entry"),
        (75 * 3600 * 2048 * 4 / 2**20, None, "answered in MiB"),
        (75 * 3600 * 2048 * 4 / 1e6, None, "answered in MB"),
        (None, DEFAULT_CHUNK_BYTES // 2048, "forgot the bytes per entry"),
        (None, DEFAULT_CHUNK_BYTES // (2048 * 8), "float64"),
    ],
)
def test_memory_wrong(full: float | None, rows: float | None, needle: str) -> None:
    right_full = 75 * 3600 * 2048 * 4
    right_rows = DEFAULT_CHUNK_BYTES // (2048 * 4)
    result = ch02.check_memory(
        right_full if full is None else full, right_rows if rows is None else rows
    )
    assert not result.ok
    assert needle in result.message


def test_memory_mb_instead_of_mib() -> None:
    mib = DEFAULT_CHUNK_BYTES // 2**20
    result = ch02.check_memory(75 * 3600 * 2048 * 4, mib * 10**6 // (2048 * 4))
    assert not result.ok
    assert "MB" in result.message


def test_memory_rows_must_be_exact() -> None:
    rows = DEFAULT_CHUNK_BYTES // (2048 * 4)
    full = 75 * 3600 * 2048 * 4
    assert_right(ch02.check_memory(full, float(rows)))
    assert_right(ch02.check_memory(full, np.float32(rows)))
    for near in (rows - 4, rows + 1, rows + 0.4, 1000):  # 3 significant figures or close
        result = ch02.check_memory(full, near)
        assert_wrong(result, "exact whole count", "Correct: bytes of the N x K matrix")


def test_memory_rounded() -> None:
    rows = DEFAULT_CHUNK_BYTES // (2048 * 4)
    assert_right(ch02.check_memory(2.21e9, rows))
    assert_wrong(ch02.check_memory(2.06, rows), "answered in GiB")  # rounded slip named
    assert_wrong(ch02.check_memory(2.21e3, rows), "answered in MB")
    assert_wrong(ch02.check_memory("2.2 GB", rows), "expected a single number")


def test_memory_placeholder() -> None:
    assert "no answer yet" in ch02.check_memory(..., ...).message


# --------------------------------------------------------------------------- explain
def test_why_right() -> None:
    assert_right(ch02.check_why_vq_wins("c"))
    assert_right(ch02.check_why_vq_wins(" (C) "))
    assert_right(ch02.check_why_vq_wins("c."))


@pytest.mark.parametrize(
    ("choice", "needle"),
    [
        ("a", "marginal"),
        ("b", "same"),
        ("d", "dB"),
        ("e", "not one of"),
        (None, "not one of"),
        (3, "not one of"),
    ],
)
def test_why_wrong(choice, needle) -> None:
    assert_wrong(ch02.check_why_vq_wins(choice), needle)


def test_why_right_option_is_not_the_longest() -> None:
    lengths = {k: len(v) for k, v in ch02.WHY_OPTIONS.items()}
    assert max(lengths, key=lengths.get) != "c"


def test_why_hexagon_figure_is_computed() -> None:
    hexagon_db = 10 * math.log10((1 / 12) / (5 / (36 * math.sqrt(3))))
    assert f"{hexagon_db:.2f} dB" in ch02.check_why_vq_wins("d").message


def test_why_placeholder() -> None:
    assert "no answer yet" in ch02.check_why_vq_wins(...).message


def _scores(z, codebook, *, e_sq=True, sign=-1.0):
    return (codebook * codebook).sum(axis=1)[None, :] * e_sq + sign * 2.0 * z @ codebook.T


@pytest.mark.parametrize(
    ("fn", "phrase"),
    [
        (lambda z, e: _scores(z, e, e_sq=False).argmin(axis=1), "you left out ||e_k||^2"),
        (lambda z, e: _scores(z, e).argmax(axis=1), "you took the argmax"),
        (lambda z, e: _scores(z, e, sign=1.0).argmin(axis=1), "wrong sign"),
        (lambda z, e: _scores(z, e), "you returned the score matrix"),
        (lambda z, e: _scores(z, e).argmin(axis=1).astype(float), "return integers"),
    ],
)
def test_my_nearest_names_the_slip(fn, phrase) -> None:
    res = ch02.check_my_nearest(fn)
    assert not res and "\nLikely slip: " in res.message
    assert phrase in res.message.split("Likely slip: ")[1]
    assert ch02.check_my_nearest(lambda z, e: _scores(z, e).argmin(axis=1))
