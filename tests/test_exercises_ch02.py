"""Tests of the chapter 2 exercise checkers (rvqlib.exercises.ch02)."""

from __future__ import annotations

import math

import numpy as np
import pytest

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
    # the by-hand arithmetic of the solution: 2.5, 0.5, 2.5, 2.5
    np.testing.assert_allclose(d2, [2.5, 0.5, 2.5, 2.5])
    result = ch02.check_by_hand(1, 0.5)
    assert result.ok
    assert "Correct" in result.message


@pytest.mark.parametrize(
    ("k", "d2", "needle"),
    [
        (2, 0.5, "counted codewords from 1"),
        (1, math.sqrt(0.5), "square root"),
        (1, 1.0, "|differences|"),
        (1, 0.7, "too large"),
        (1.5, 0.5, "got 1.5"),
        (0, 2.5, "index k*"),
    ],
)
def test_by_hand_wrong(k: float, d2: float, needle: str) -> None:
    result = ch02.check_by_hand(k, d2)
    assert not result.ok
    assert needle in result.message


def test_by_hand_placeholder() -> None:
    result = ch02.check_by_hand(..., ...)
    assert not result.ok
    assert "no answer yet" in result.message


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


def test_my_nearest_float_output_is_caught() -> None:
    result = ch02.check_my_nearest(lambda z, e: _right_nearest(z, e).astype(float))
    assert not result.ok


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


def test_my_nearest_empty_body_is_no_answer_yet() -> None:
    def my_nearest(
        z: np.ndarray, codebook: np.ndarray
    ) -> None: ...  # the reader has not written it yet

    result = ch02.check_my_nearest(my_nearest)
    assert not result.ok
    assert "no answer yet" in result.message and "returns None" in result.message


def test_my_nearest_returning_ellipsis_is_no_answer_yet() -> None:
    result = ch02.check_my_nearest(lambda z, codebook: ...)
    assert not result.ok
    assert "no answer yet" in result.message and "returns Ellipsis" in result.message


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


def test_memory_placeholder() -> None:
    assert "no answer yet" in ch02.check_memory(..., ...).message


# --------------------------------------------------------------------------- explain
def test_why_right() -> None:
    result = ch02.check_why_vq_wins("b")
    assert result.ok
    assert "Correct" in result.message
    assert ch02.check_why_vq_wins(" B ").ok


@pytest.mark.parametrize(
    ("choice", "needle"),
    [("a", "same rate"), ("c", "local optimum"), ("d", "dimension alone"), ("e", "not one of")],
)
def test_why_wrong(choice: str, needle: str) -> None:
    result = ch02.check_why_vq_wins(choice)
    assert not result.ok
    assert needle in result.message


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
        (lambda z, e: _scores(z, e).argmin(axis=1).astype(float), "return integer indices"),
    ],
)
def test_my_nearest_names_the_slip(fn, phrase) -> None:
    res = ch02.check_my_nearest(fn)
    assert not res and "\nLikely slip: " in res.message
    assert phrase in res.message.split("Likely slip: ")[1]
    assert ch02.check_my_nearest(lambda z, e: _scores(z, e).argmin(axis=1))
