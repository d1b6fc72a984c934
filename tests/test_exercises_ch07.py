"""Tests for the checkers of chapter 7 (rvqlib.exercises.ch07)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from exercise_asserts import assert_right, assert_wrong

from rvqlib.exercises import ch07


# ---------------------------------------------------------------- ch07-ex-by-hand
def test_by_hand_right() -> None:
    result = ch07.check_bitrate_by_hand(6.0)
    assert result and "Correct" in result.message


def test_by_hand_rounded_and_other_forms() -> None:
    assert_right(ch07.check_bitrate_by_hand(6))
    assert_right(ch07.check_bitrate_by_hand(np.float32(6.0)))
    assert_right(ch07.check_bitrate_by_hand(6.001))  # 3 significant figures


def test_by_hand_placeholder_and_wrong_types() -> None:
    assert_wrong(ch07.check_bitrate_by_hand(...), "no answer yet")
    assert_wrong(ch07.check_bitrate_by_hand(None), "expected a single number, got None")
    assert_wrong(ch07.check_bitrate_by_hand("6 kbps"), "expected a single number")
    assert_wrong(ch07.check_bitrate_by_hand([6.0, 3.0]), "expected a single number")


@pytest.mark.parametrize(
    ("wrong", "fragment"),
    [
        (6000, "bits per second"),
        (6000 / 1024, "kibibits"),
        (5.86, "kibibits"),  # the slip, rounded to 3 significant figures
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


def test_my_bitrate_float32_is_right() -> None:
    """A float32 implementation is exact to ~1e-7: it must pass (review: 1e-9 rejected it)."""

    def f32(sample_rate, hop, n_q, codebook_size):
        fps = np.float32(sample_rate) / np.float32(hop)
        return fps * np.float32(n_q) * np.log2(np.float32(codebook_size))

    exact = 16_000 / 320 * math.log2(1000)  # 498.2892142...; float32 gives 498.2892151
    assert not math.isclose(f32(16_000, 320, 1, 1000), exact, rel_tol=1e-9)
    assert_right(ch07.check_my_bitrate(f32))


def test_my_bitrate_natural_log() -> None:
    def ln(sample_rate, hop, n_q, codebook_size):
        return (sample_rate / hop) * n_q * math.log(codebook_size)

    assert_wrong(ch07.check_my_bitrate(ln), "natural logarithm", "log base 2")


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
    assert_wrong(ch07.check_my_bitrate(None), "expected a function")
    assert_wrong(ch07.check_my_bitrate(lambda *a: "6000"), "returned '6000'")


# ---------------------------------------------------------------- ch07-ex-predict
def test_predict_right() -> None:
    result = ch07.check_double_k_or_nq("n_q")
    assert result and "Correct" in result.message and "12 kbps" in result.message


def test_predict_other_forms() -> None:
    assert_right(ch07.check_double_k_or_nq(" N_q "))
    assert_right(ch07.check_double_k_or_nq("(n_q)"))


def test_predict_wrong_and_placeholder() -> None:
    assert_wrong(ch07.check_double_k_or_nq("K"), "one bit per stage", "6.6 kbps")
    assert_wrong(ch07.check_double_k_or_nq("same"), "6.6 kbps")
    assert_wrong(ch07.check_double_k_or_nq("bigger"), "not one of the options")
    assert_wrong(ch07.check_double_k_or_nq(...), "no answer yet")
    assert_wrong(ch07.check_double_k_or_nq(None), "not one of the options")
    assert_wrong(ch07.check_double_k_or_nq(2), "not one of the options")


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


def test_dac_other_forms_placeholder_and_wrong_types() -> None:
    assert_right(ch07.check_dac_explain("(b)"))
    assert_right(ch07.check_dac_explain(" b. "))
    assert_wrong(ch07.check_dac_explain(...), "no answer yet")
    assert_wrong(ch07.check_dac_explain("e"), "not one of the options")
    assert_wrong(ch07.check_dac_explain(None), "not one of the options")
    assert_wrong(ch07.check_dac_explain({"b": 1}), "not one of the options")


# ---------------------------------------------------------------- ch07-ex-budget
def test_budget_right() -> None:
    assert_right(ch07.check_quantizers_for_budget(13))
    assert_right(ch07.check_quantizers_for_budget(np.int64(13)))
    assert_right(ch07.check_quantizers_for_budget(13.0))  # a whole number, written as a float


def test_budget_wrong() -> None:
    assert_wrong(ch07.check_quantizers_for_budget(14), "10.5 kbps", "rounded up")
    assert_wrong(ch07.check_quantizers_for_budget(10_000 / 750), "not a whole number")
    assert_wrong(ch07.check_quantizers_for_budget(12), "too small")
    assert_wrong(ch07.check_quantizers_for_budget(...), "no answer yet")
    assert_wrong(ch07.check_quantizers_for_budget(None), "expected a single number")
    assert_wrong(ch07.check_quantizers_for_budget("13"), "expected a single number")


# ---------------------------------------------------------------- ch07-ex-entropy
def test_entropy_right() -> None:
    result = ch07.check_entropy_by_hand(1.75)
    assert result and "Correct" in result.message
    assert_right(ch07.check_entropy_by_hand(np.float64(1.75)))
    assert_right(ch07.check_entropy_by_hand(1.7504))  # agrees to 3 significant figures


def test_entropy_wrong() -> None:
    assert_wrong(ch07.check_entropy_by_hand(1.75 * math.log(2)), "natural logarithm")
    assert_wrong(ch07.check_entropy_by_hand(1.75 * math.log10(2)), "log base 10")
    assert_wrong(ch07.check_entropy_by_hand(2.0), "fixed-length cost")
    assert_wrong(ch07.check_entropy_by_hand(-1.75), "wrong sign")
    assert_wrong(ch07.check_entropy_by_hand(0.25), "saving per code")
    assert_wrong(ch07.check_entropy_by_hand(14), "total for all 8 codes")
    assert_wrong(ch07.check_entropy_by_hand(1.21), "natural logarithm")  # rounded slip
    assert_wrong(ch07.check_entropy_by_hand(...), "no answer yet")
    assert_wrong(ch07.check_entropy_by_hand(None), "expected a single number")
    assert_wrong(ch07.check_entropy_by_hand("1.75"), "expected a single number")


# ---------------------------------------------------------------- ch07-ex-entropy, part 2
def test_entropy_saving_right_and_rounded() -> None:
    assert_right(ch07.check_entropy_saving(2))
    assert_right(ch07.check_entropy_saving(2.0))
    assert_right(ch07.check_entropy_saving(np.float32(2.0)))
    assert_right(ch07.check_entropy_saving(2.004))  # 3 significant figures


@pytest.mark.parametrize(
    ("wrong", "fragment"),
    [
        (0.25, "saving per code"),
        (14, "entropy coder spends"),
        (16, "fixed-length indices"),
        (8 * (2 - 1.75 * math.log(2)), "natural logarithm"),
        (6.30, "natural logarithm"),  # the same slip, rounded
        (8 * (math.log(4) - 1.75 * math.log(2)), "in nats"),
        (12.5, "percentage"),
        (-2, "wrong sign"),
        (3, "too large"),
    ],
)
def test_entropy_saving_slips_are_named(wrong: float, fragment: str) -> None:
    assert_wrong(ch07.check_entropy_saving(wrong), fragment)


def test_entropy_saving_placeholder_and_wrong_types() -> None:
    assert_wrong(ch07.check_entropy_saving(...), "no answer yet")
    assert_wrong(ch07.check_entropy_saving(None), "expected a single number")
    assert_wrong(ch07.check_entropy_saving("2 bits"), "expected a single number")
    assert_wrong(ch07.check_entropy_saving({"bits": 2}), "expected a single number")
