"""Tests of the chapter 1 exercise checkers: right answers pass, wrong ones are explained."""

from __future__ import annotations

import math

import numpy as np
import pytest
from exercise_asserts import assert_right, assert_wrong

from rvqlib.exercises import ch01
from rvqlib.scalar import lloyd_max, uniform_quantize


def _reference(x, n_levels, lo, hi):
    step = (hi - lo) / n_levels
    idx = np.clip(np.ceil((np.asarray(x) - lo) / step) - 1, 0, n_levels - 1).astype(np.int64)
    return idx, lo + (idx + 0.5) * step


# --------------------------------------------------------------------------- by hand


def test_by_hand_constants_match_the_library():
    bits, lo, hi = ch01.BY_HAND
    _, levels = uniform_quantize(np.linspace(lo, hi, 1001), 2**bits, lo, hi)
    assert np.allclose(np.diff(np.unique(levels)), 0.5)
    x = np.random.default_rng(0).uniform(lo, hi, 400_000)
    measured = np.mean((x - uniform_quantize(x, 2**bits, lo, hi)[1]) ** 2)
    assert measured == pytest.approx(0.5**2 / 12, rel=0.01)


def test_by_hand_right():
    result = ch01.check_by_hand(0.5, 0.25 / 12)
    assert result and "Correct" in result.message


@pytest.mark.parametrize(("step", "mse"), [(0.5, 0.0208), (0.5, 0.02083), ("0.5", 0.0208)])
def test_by_hand_rounded_right(step, mse):
    if isinstance(step, str):  # a string is not a number: that part is reported, not a crash
        assert_wrong(ch01.check_by_hand(step, mse), "expected a single number", "Correct: the MSE")
    else:
        result = ch01.check_by_hand(step, mse)
        assert_right(result)
        assert "agrees to 3 significant figures" in result.message and "0.0208333" in result.message


def test_by_hand_reports_both_parts():
    result = ch01.check_by_hand(4 / 7, 0.25 / 12)
    assert_wrong(result, "K - 1 instead of K", "Correct: the MSE")
    assert result.message.index("Not yet") < result.message.index("Correct")


def test_by_hand_k_minus_1_slip_names_levels_on_the_range_ends():
    # width / (K - 1) spaces levels from end to end; with K = 8 there is no level
    # at 0, so the slip must not be called the spacing of a midtread quantizer
    result = ch01.check_by_hand(4 / 7, 0.25 / 12)
    assert_wrong(result, "levels placed on the ends of the range")
    assert "midtread" not in result.message


def test_by_hand_mse_of_the_readers_own_step_is_named():
    assert_wrong(ch01.check_by_hand(4 / 7, (4 / 7) ** 2 / 12), "you used your step", "fix the step")


def test_by_hand_rounded_slips_are_named():
    assert_wrong(ch01.check_by_hand(0.571, 0.0208), "K - 1 instead of K")
    assert_wrong(ch01.check_by_hand(0.5, 0.0417), "without squaring")
    assert_wrong(ch01.check_by_hand(0.5, 1.33), "variance of the input")
    assert_wrong(ch01.check_by_hand(0.5, 0.021), "2 significant figures")


def test_by_hand_placeholder():
    result = ch01.check_by_hand(..., ...)
    assert not result and "no answer yet" in result.message


@pytest.mark.parametrize(
    ("step", "mse", "phrase"),
    [
        (4 / 7, 0.25 / 12, "K - 1 instead of K"),
        (4 / 3, 0.25 / 12, "number of bits instead of the number of levels"),
        (0.25, 0.25 / 12, "half the range"),
        (0.5, 0.25, "forgot to divide"),
        (0.5, 0.5 / 12, "without squaring"),
        (0.5, 0.0625, "largest error"),
        (0.5, 0.5 / math.sqrt(12), "root-mean-square"),
        (0.5, 0.03, "too large"),
        (0.5, 4 / 3, "variance of the input"),
        (0.5, None, "got None"),
        (0.5, [0.02], "Correct: the step"),
    ],
)
def test_by_hand_wrong(step, mse, phrase):
    result = ch01.check_by_hand(step, mse)
    assert not result and phrase in result.message


def test_by_hand_step_reported_before_mse():
    result = ch01.check_by_hand(1.0, ...)
    assert not result and "the step" in result.message
    assert "no answer yet" in result.message  # the MSE part is still reported


# --------------------------------------------------------------------------- implement


def test_my_uniform_quantize_right():
    result = ch01.check_my_uniform_quantize(_reference)
    assert result and "Correct" in result.message


def test_my_uniform_quantize_library_itself_passes():
    assert ch01.check_my_uniform_quantize(uniform_quantize)


def test_my_uniform_quantize_placeholder():
    result = ch01.check_my_uniform_quantize(...)
    assert not result and "no function yet" in result.message


def test_my_uniform_quantize_floor_fails_on_thresholds():
    def floor_version(x, n_levels, lo, hi):
        step = (hi - lo) / n_levels
        idx = np.clip(np.floor((np.asarray(x) - lo) / step), 0, n_levels - 1).astype(np.int64)
        return idx, lo + (idx + 0.5) * step

    result = ch01.check_my_uniform_quantize(floor_version)
    assert not result
    assert "[-0.75, -0.25, 0.0, 0.5]" in result.message  # the threshold case is named
    assert "lower cell" in result.message


def test_my_uniform_quantize_without_clip_fails():
    def no_clip(x, n_levels, lo, hi):
        step = (hi - lo) / n_levels
        idx = (np.ceil((np.asarray(x) - lo) / step) - 1).astype(np.int64)
        return idx, lo + (idx + 0.5) * step

    result = ch01.check_my_uniform_quantize(no_clip)
    assert not result and "[-3.0, -1.0, 1.0, 2.5]" in result.message


def test_my_uniform_quantize_wrong_return_type_fails():
    result = ch01.check_my_uniform_quantize(lambda x, n, lo, hi: _reference(x, n, lo, hi)[1])
    assert not result and "returned" in result.message and "expected" in result.message


def test_my_uniform_quantize_float_indices_are_refused():
    def float_indices(x, n_levels, lo, hi):
        idx, x_hat = _reference(x, n_levels, lo, hi)
        return idx.astype(float), x_hat

    assert_wrong(ch01.check_my_uniform_quantize(float_indices), "right values", "astype")


def test_my_uniform_quantize_without_return_says_so():
    def no_return(x, n_levels, lo, hi):
        _reference(x, n_levels, lo, hi)

    assert_wrong(ch01.check_my_uniform_quantize(no_return), "returned None", "no `return`")


def test_my_uniform_quantize_torch_version_passes():
    import torch

    def torch_version(x, n_levels, lo, hi):
        t = torch.as_tensor(x, dtype=torch.float64)
        step = (hi - lo) / n_levels
        idx = torch.clamp(torch.ceil((t - lo) / step) - 1, 0, n_levels - 1).long()
        return idx, lo + (idx + 0.5) * step

    assert_right(ch01.check_my_uniform_quantize(torch_version))


def test_my_uniform_quantize_wrong_type():
    assert_wrong(ch01.check_my_uniform_quantize(3.0), "expected a function")


def test_my_uniform_quantize_raising_function_is_reported():
    def broken(x, n_levels, lo, hi):
        raise ZeroDivisionError("oops")

    result = ch01.check_my_uniform_quantize(broken)
    assert not result and "raised ZeroDivisionError" in result.message


# --------------------------------------------------------------------------- one more bit


def test_one_more_bit_right():
    result = ch01.check_one_more_bit("B")
    assert result and "Correct" in result.message and "6.02" in result.message


@pytest.mark.parametrize(
    ("choice", "phrase"), [("a", "divides the MSE"), ("c", "two bits"), ("d", "logarithmic")]
)
def test_one_more_bit_wrong(choice, phrase):
    result = ch01.check_one_more_bit(choice)
    assert not result and "not right" in result.message and phrase in result.message


@pytest.mark.parametrize("form", ["b", " (b) ", 6, "6", "6 dB", "6.02", 6.02, "about 6 dB"])
def test_one_more_bit_equivalent_forms(form):
    assert_right(ch01.check_one_more_bit(form))


@pytest.mark.parametrize(
    ("form", "phrase"), [("3 dB", "factor of 2"), (12, "two bits"), ("doubles", "logarithmic")]
)
def test_one_more_bit_numbers_name_their_option(form, phrase):
    assert_wrong(ch01.check_one_more_bit(form), "not right", phrase)


def test_one_more_bit_placeholder_and_invalid():
    assert "no answer yet" in ch01.check_one_more_bit(...).message
    assert "not one of the options" in ch01.check_one_more_bit("e").message
    assert_wrong(ch01.check_one_more_bit(None), "not one of the options")
    assert_wrong(ch01.check_one_more_bit({"b": 1}), "not one of the options")


def test_one_more_bit_claim_holds():
    """The explanation's 6.02 dB is what the library measures on a sine."""
    sine = np.sin(2 * np.pi * np.random.default_rng(1).uniform(0, 1, 200_000))
    snr = [
        10
        * np.log10(np.mean(sine**2) / np.mean((sine - uniform_quantize(sine, 2**b, -1, 1)[1]) ** 2))
        for b in (10, 11)
    ]
    assert snr[1] - snr[0] == pytest.approx(6.02, abs=0.3)


# --------------------------------------------------------------------------- centroid


def test_centroid_right():
    result = ch01.check_centroid("c")
    assert_right(result)
    assert "conditional mean" in result.message
    assert_right(ch01.check_centroid("(C)"))
    assert_right(ch01.check_centroid("conditional mean"))


@pytest.mark.parametrize(
    ("choice", "phrase"), [("a", "mode"), ("b", "median"), ("median", "absolute"), ("d", "flat")]
)
def test_centroid_wrong(choice, phrase):
    assert_wrong(ch01.check_centroid(choice), "not right", phrase)


def test_centroid_right_option_is_not_the_longest():
    lengths = {k: len(v) for k, v in ch01.CENTROID_OPTIONS.items()}
    assert max(lengths, key=lengths.get) != "c"


def test_centroid_placeholder_and_wrong_type():
    assert "no answer yet" in ch01.check_centroid(...).message
    assert_wrong(ch01.check_centroid(None), "not one of the options")
    assert_wrong(ch01.check_centroid(3.5), "not one of the options")


# --------------------------------------------------------------------------- uniform density


def test_uniform_density_expected_is_one_sixteenth():
    assert lloyd_max(4, "uniform").mse == pytest.approx(1 / 16, rel=1e-9)


def test_uniform_density_right():
    result = ch01.check_uniform_density(0.0625)
    assert result and "Correct" in result.message
    assert_right(ch01.check_uniform_density(1 / 16))
    assert_right(ch01.check_uniform_density(np.float32(0.0625)))


def test_uniform_density_rounded():
    assert_right(ch01.check_uniform_density(0.06250))
    assert_wrong(ch01.check_uniform_density(0.063), "2 significant figures")
    assert_wrong(ch01.check_uniform_density(0.0208), "[-1, 1]")  # 1/48 rounded: still named


def test_uniform_density_placeholder():
    assert "no answer yet" in ch01.check_uniform_density(...).message


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        (1 / 48, "[-1, 1]"),
        (0.75, "forgot to divide"),
        (math.sqrt(3) / 2 / 12, "without squaring"),
        (1 / 9, "K - 1 instead of K"),
        (0.25, "root-mean-square"),
        (0.125, "2x too large"),
        (np.array(["x"]), "expected a single number"),
        (None, "got None"),
        (-12.04, "decibels"),
    ],
)
def test_uniform_density_wrong(value, phrase):
    result = ch01.check_uniform_density(value)
    assert not result and phrase in result.message


def _uniform_with(index_rule, *, clip=True, midpoint=True):
    def fn(x, n_levels, lo, hi):
        step = (hi - lo) / n_levels
        idx = index_rule((np.asarray(x) - lo) / step)
        if clip:
            idx = np.clip(idx, 0, n_levels - 1)
        idx = idx.astype(np.int64)
        return idx, lo + (idx + (0.5 if midpoint else 0.0)) * step

    return fn


@pytest.mark.parametrize(
    ("fn", "phrase"),
    [
        (_uniform_with(np.floor), "you used floor"),
        (_uniform_with(np.round), "you rounded"),
        (_uniform_with(lambda u: np.ceil(u) - 1, clip=False), "some indices fall outside 0..K-1"),
        (
            _uniform_with(lambda u: np.ceil(u) - 1, midpoint=False),
            "the indices are right but x_hat",
        ),
        (lambda x, n, lo, hi: uniform_quantize(x, n, lo, hi)[1], "return the pair"),
    ],
)
def test_my_uniform_quantize_names_the_slip(fn, phrase):
    res = ch01.check_my_uniform_quantize(fn)
    assert not res and f"Likely slip: {phrase}" in res.message
    right = ch01.check_my_uniform_quantize(_uniform_with(lambda u: np.ceil(u) - 1))
    assert right and "Correct" in right.message
