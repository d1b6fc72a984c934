"""Tests for the checkers of chapter 7 (rvqlib.exercises.ch07)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from exercise_asserts import assert_wrong

from rvqlib.exercises import ch07


# ---------------------------------------------------------------- ch07-ex-by-hand
def test_by_hand_right() -> None:
    result = ch07.check_bitrate_by_hand(6.0)
    assert result and "Correct" in result.message


def test_by_hand_placeholder() -> None:
    assert_wrong(ch07.check_bitrate_by_hand(...), "no answer yet")


@pytest.mark.parametrize(
    ("wrong", "fragment"),
    [
        (6000, "bits per second"),
        (6000 / 1024, "kibibits"),
        (50 * 12 * 1024 / 1000, "instead of log2 K"),
        (50 * 12 * math.log(1024) / 1000, "natural logarithm"),
        (0.5, "number of quantizers"),
        (9.0, "24 kHz"),
        (120, "bits per frame"),
        (50, "frame rate"),
        (4.0, "8 quantizers"),
        (7.0, "too large"),
    ],
)
def test_by_hand_slips_are_named(wrong: float, fragment: str) -> None:
    assert_wrong(ch07.check_bitrate_by_hand(wrong), fragment)


# ---------------------------------------------------------------- ch07-ex-implement
def _good(sample_rate, hop, n_q, codebook_size):
    return (sample_rate / hop) * n_q * math.log2(codebook_size)


def test_my_bitrate_right() -> None:
    result = ch07.check_my_bitrate(_good)
    assert result and "Correct" in result.message


def test_my_bitrate_placeholders() -> None:
    assert_wrong(ch07.check_my_bitrate(...), "no function yet")

    def empty(sample_rate, hop, n_q, codebook_size): ...

    assert_wrong(ch07.check_my_bitrate(empty), "no answer yet")


def test_my_bitrate_integer_division() -> None:
    def floor_div(sample_rate, hop, n_q, codebook_size):
        return (sample_rate // hop) * n_q * math.log2(codebook_size)

    assert_wrong(ch07.check_my_bitrate(floor_div), "integer division")


def test_my_bitrate_kbps() -> None:
    assert_wrong(ch07.check_my_bitrate(lambda *a: _good(*a) / 1000), "returns kbps")


def test_my_bitrate_rounded_bits() -> None:
    def ceil_bits(sample_rate, hop, n_q, codebook_size):
        return (sample_rate / hop) * n_q * math.ceil(math.log2(codebook_size))

    assert_wrong(ch07.check_my_bitrate(ceil_bits), "rounded up")


def test_my_bitrate_other_mistakes() -> None:
    def times_k(sample_rate, hop, n_q, codebook_size):
        return (sample_rate / hop) * n_q * codebook_size

    assert_wrong(ch07.check_my_bitrate(times_k), "my_bitrate(24000, 320, 8, 1024) returned 614400")

    def raises(sample_rate, hop, n_q, codebook_size):
        raise RuntimeError("boom")

    assert_wrong(ch07.check_my_bitrate(raises), "raised RuntimeError")
    assert_wrong(ch07.check_my_bitrate(42), "expected a function")


# ---------------------------------------------------------------- ch07-ex-predict
def test_predict_right() -> None:
    result = ch07.check_double_k_or_nq("n_q")
    assert result and "Correct" in result.message and "12 kbps" in result.message


def test_predict_wrong_and_placeholder() -> None:
    assert_wrong(ch07.check_double_k_or_nq("K"), "one bit per stage", "6.6 kbps")
    assert_wrong(ch07.check_double_k_or_nq("same"), "6.6 kbps")
    assert_wrong(ch07.check_double_k_or_nq("bigger"), "not one of the options")
    assert_wrong(ch07.check_double_k_or_nq(...), "no answer yet")


# ---------------------------------------------------------------- ch07-ex-dac
def test_dac_right() -> None:
    result = ch07.check_dac_explain("B")
    assert result and "86.13" in result.message and "7.752" in result.message


@pytest.mark.parametrize(
    ("wrong", "fragment"),
    [("a", "entropy coding"), ("c", "power of two"), ("d", "training trick")],
)
def test_dac_wrong(wrong: str, fragment: str) -> None:
    assert_wrong(ch07.check_dac_explain(wrong), fragment)


def test_dac_placeholder() -> None:
    assert_wrong(ch07.check_dac_explain(...), "no answer yet")


# ---------------------------------------------------------------- ch07-ex-budget
def test_budget_right() -> None:
    assert ch07.check_quantizers_for_budget(13)
    assert ch07.check_quantizers_for_budget(np.int64(13))


def test_budget_wrong() -> None:
    assert_wrong(ch07.check_quantizers_for_budget(14), "10.5 kbps", "rounded up")
    assert_wrong(ch07.check_quantizers_for_budget(10_000 / 750), "not a whole number")
    assert_wrong(ch07.check_quantizers_for_budget(12), "too small")
    assert_wrong(ch07.check_quantizers_for_budget(...), "no answer yet")


# ---------------------------------------------------------------- ch07-ex-entropy
def test_entropy_right() -> None:
    result = ch07.check_entropy_by_hand(1.75)
    assert result and "Correct" in result.message


def test_entropy_wrong() -> None:
    assert_wrong(ch07.check_entropy_by_hand(1.75 * math.log(2)), "natural logarithm")
    assert_wrong(ch07.check_entropy_by_hand(1.75 * math.log10(2)), "log base 10")
    assert_wrong(ch07.check_entropy_by_hand(2.0), "fixed-length cost")
    assert_wrong(ch07.check_entropy_by_hand(-1.75), "wrong sign")
    assert_wrong(ch07.check_entropy_by_hand(0.25), "saving per code")
    assert_wrong(ch07.check_entropy_by_hand(14), "total for all 8 codes")
    assert_wrong(ch07.check_entropy_by_hand(...), "no answer yet")
