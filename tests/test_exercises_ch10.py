"""Tests for the chapter 10 exercise checkers (rvqlib.exercises.ch10)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from exercise_asserts import assert_right, assert_wrong

from rvqlib.bakeoff import SeedSummary
from rvqlib.exercises import ch10
from rvqlib.fsq import fsq

# ------------------------------------------------------------------ by hand
RIGHT_ZQ = [0.5, -1 / 3]
RIGHT_CODE = 8


def test_by_hand_solution_matches_hand_arithmetic():
    zq, code = ch10.by_hand_solution()
    assert np.allclose(zq, RIGHT_ZQ) and code == RIGHT_CODE
    # tanh(0.8) = 0.664 -> 0.5 (k = 3); tanh(-0.75) = -0.635 -> -1/3 (k = 1)
    assert code == 3 + 5 * 1


def test_by_hand_right_and_rounded_right():
    assert_right(ch10.check_fsq_by_hand(RIGHT_ZQ, RIGHT_CODE))
    assert_right(ch10.check_fsq_by_hand([0.5, -0.333], 8))  # 3 significant figures
    assert_right(ch10.check_fsq_by_hand(np.array([0.5, -0.3333]), np.int64(8)))
    assert_right(ch10.check_fsq_by_hand(torch.tensor([0.5, -1 / 3]), torch.tensor(8)))


@pytest.mark.parametrize(
    ("zq", "fragment"),
    [
        ([1.0, -1.0], "rounded z itself"),
        ([0.5, -0.667], "half-integers"),
        ([3.0, 1.0], "level indices k"),
        ([0.664, -0.635], "before rounding"),
        ([0.5, -0.33], "1 of 2 entries differ"),  # too few figures
        ([0.5, -1 / 3, 0.0], "shape"),
    ],
)
def test_by_hand_zq_slips(zq, fragment):
    assert_wrong(ch10.check_fsq_by_hand(zq, RIGHT_CODE), "(zq)", fragment)


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        (4, "rounded z itself"),
        (13, "most significant"),
        (14, "counted levels from 1"),
        (7, "place value"),
        (9, "got 9"),
    ],
)
def test_by_hand_code_slips(code, fragment):
    assert_wrong(ch10.check_fsq_by_hand(RIGHT_ZQ, code), "(code)", fragment)


def test_by_hand_wrong_types_and_placeholder():
    assert_wrong(ch10.check_fsq_by_hand(RIGHT_ZQ, 8.0), "a float")
    assert_wrong(ch10.check_fsq_by_hand(RIGHT_ZQ, 8.5), "not a whole number")
    assert_wrong(ch10.check_fsq_by_hand(RIGHT_ZQ, "8"), "one integer code")
    assert_wrong(ch10.check_fsq_by_hand(RIGHT_ZQ, True), "a bool")
    assert_wrong(ch10.check_fsq_by_hand("0.5, -0.33", 8), "expected an array")
    assert_wrong(ch10.check_fsq_by_hand(None, 8), "expected an array")
    assert_wrong(ch10.check_fsq_by_hand(..., ...), "no answer yet")
    assert_wrong(ch10.check_fsq_by_hand(RIGHT_ZQ, ...), "no answer yet")


# ------------------------------------------------------------ find the bug
def _fixed_fsq(z, levels):
    z = np.asarray(z, dtype=float)
    lv = np.asarray(levels)
    k = np.round((np.tanh(z) + 1) * (lv - 1) / 2)
    basis = np.cumprod([1, *lv[:-1]])
    return (k * basis).sum(axis=-1).astype(np.int64), 2 * k / (lv - 1) - 1


def test_colleague_fsq_has_the_even_level_bug():
    z = 2.0 * np.random.default_rng(0).standard_normal((5000, 2))
    _, zq = ch10.colleague_fsq(z, [4, 5])
    assert len(np.unique(zq[:, 0])) == 3  # L - 1 values for the even L = 4
    assert np.allclose(zq[:, 1], fsq(z, [4, 5])[1][:, 1])  # the odd one is right


def test_my_fsq_right():
    assert_right(ch10.check_my_fsq(_fixed_fsq))
    assert_right(ch10.check_my_fsq(lambda z, levels: fsq(z, levels)))
    # a torch implementation returning tensors is fine too
    assert_right(ch10.check_my_fsq(lambda z, levels: fsq(torch.from_numpy(z), levels)))


def test_my_fsq_named_slips():
    assert_wrong(ch10.check_my_fsq(ch10.colleague_fsq), "still the colleague's quantizer")
    assert_wrong(ch10.check_my_fsq(ch10._no_bound_fsq), "clip")
    assert_wrong(ch10.check_my_fsq(ch10._reversed_fsq), "most significant digit")


def test_my_fsq_wrong_types_and_placeholder():
    assert_wrong(ch10.check_my_fsq(...), "no function yet")
    assert_wrong(ch10.check_my_fsq(42), "expected a function")

    def float_codes(z, levels):
        codes, zq = fsq(z, levels)
        return codes.astype(float), zq

    assert_wrong(ch10.check_my_fsq(float_codes), "my_fsq")

    def returns_nothing(z, levels):
        fsq(z, levels)

    assert_wrong(ch10.check_my_fsq(returns_nothing), "returned None")

    def crashes(z, levels):
        raise RuntimeError("boom")

    assert_wrong(ch10.check_my_fsq(crashes), "raised RuntimeError")


def test_my_fsq_cases_cover_odd_and_even_levels():
    cases = ch10.my_fsq_cases()
    all_levels = [lv for (_, levels), _ in cases for lv in levels]
    assert any(lv % 2 == 0 for lv in all_levels) and any(lv % 2 for lv in all_levels)
    for (z, levels), (codes, zq) in cases:
        assert codes.dtype == np.int64 and zq.shape == z.shape
        # no input sits on a cell edge, where implementations may round either way
        u = (np.tanh(z) + 1) * (np.asarray(levels) - 1) / 2
        assert np.min(np.abs(u - np.floor(u) - 0.5)) > 1e-6


# ----------------------------------------------------- LFQ temperature
def test_lfq_temperature():
    assert_right(ch10.check_lfq_temperature("b"))
    assert_right(ch10.check_lfq_temperature("(B)"))
    for other in ("a", "c", "d"):
        assert_wrong(ch10.check_lfq_temperature(other), "is not right")
    assert_wrong(ch10.check_lfq_temperature("e"), "not one of the options")
    assert_wrong(ch10.check_lfq_temperature(None), "not one of the options")
    assert_wrong(ch10.check_lfq_temperature(...), "no answer yet")


def test_temperature_options_match_the_notebook_wording():
    assert set(ch10.TEMPERATURE_OPTIONS) == {"a", "b", "c", "d"}
    longest = max(ch10.TEMPERATURE_OPTIONS.values(), key=len)
    assert longest != ch10.TEMPERATURE_OPTIONS["b"]


# ------------------------------------------------------- residual grid
def test_grid_solution():
    assert ch10.grid_solution() == (125, pytest.approx(0.02), pytest.approx(0.01))


def test_rfsq_grid_right_and_rounded():
    assert_right(ch10.check_rfsq_grid(125, 0.02, 0.01))
    assert_right(ch10.check_rfsq_grid(np.int64(125), 0.0200, 0.0100))
    assert_right(ch10.check_rfsq_grid(125.0, 2 / 100, 1 / 100))


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ((85, 0.02, 0.01), "(L-1)**-i"),  # the 1/32 grid the solution enumerates
        ((15, 0.02, 0.01), "added the stages"),
        ((5, 0.02, 0.01), "one stage only"),
        ((125, 2 / 124, 0.01), "FSQ with L**n levels"),
        ((125, 2 / 64, 0.01), "2 / (L-1)**(i+1)"),
        ((125, 0.004, 0.002), "instead of L**(n-1)"),
        ((125, 0.02, 0.02), "whole step"),
        ((125, 0.02, 0.25), "stage 0's error alone"),
        ((126, 0.02, 0.01), "got 126"),
    ],
)
def test_rfsq_grid_slips(answer, fragment):
    assert_wrong(ch10.check_rfsq_grid(*answer), fragment)


def test_rfsq_grid_wrong_types_and_placeholder():
    assert_wrong(ch10.check_rfsq_grid(125.5, 0.02, 0.01), "not a whole number")
    assert_wrong(ch10.check_rfsq_grid("125", 0.02, 0.01), "expected one integer")
    assert_wrong(ch10.check_rfsq_grid(True, 0.02, 0.01), "a bool")
    assert_wrong(ch10.check_rfsq_grid(125, None, 0.01), "expected a single number")
    assert_wrong(ch10.check_rfsq_grid(..., 0.02, 0.01), "no answer yet")
    assert_wrong(ch10.check_rfsq_grid(125, 0.02, ...), "no answer yet")


# ----------------------------------------------------- read the bake-off
def test_bakeoff_reading():
    assert_right(ch10.check_bakeoff_reading("b"))
    assert_right(ch10.check_bakeoff_reading(" B. "))
    assert "levels of the FSQ paper" in str(ch10.check_bakeoff_reading("b"))
    for other in ("a", "c", "d"):
        assert_wrong(ch10.check_bakeoff_reading(other), "is not right")
    assert_wrong(ch10.check_bakeoff_reading(3), "not one of the options")
    assert_wrong(ch10.check_bakeoff_reading(...), "no answer yet")


def test_bakeoff_options_right_one_not_longest():
    longest = max(ch10.BAKEOFF_OPTIONS.values(), key=len)
    assert longest != ch10.BAKEOFF_OPTIONS["b"]


# ----------------------------------------------------- width or levels
def _width_snr(equal, paper, given):
    """A summarize dict of the three configurations, SNRs per seed."""
    return {
        ("fsq", 8): SeedSummary(tuple(equal)),
        ("fsq_paper", 8): SeedSummary(tuple(paper)),
        ("fsq_custom", 8): SeedSummary(tuple(given)),
    }


EQUAL = (10.8, 10.2, 10.3)
PAPER = (10.0, 9.5, 9.8)
WIDTH_CASES = {
    # [5, 4, 4, 3] ties both (its seeds overlap each), as in the chapter's runs
    "d": _width_snr(EQUAL, PAPER, (10.6, 10.0, 9.7)),
    # at the same width no step; at the same codes a step: the width
    "a": _width_snr(EQUAL, PAPER, (10.7, 10.25, 10.4)),
    # a step at the same width, none at the same codes: the levels
    "b": _width_snr(EQUAL, PAPER, (9.9, 9.6, 9.7)),
    # a step each: both
    "c": _width_snr(EQUAL, PAPER, (10.1, 10.05, 10.15)),
}


@pytest.mark.parametrize("right", sorted(WIDTH_CASES))
def test_width_or_levels_answer_follows_the_seed_rule(right):
    snr = WIDTH_CASES[right]
    assert ch10.width_or_levels_answer(snr) == right
    assert_right(ch10.check_width_or_levels(right, snr))
    assert_right(ch10.check_width_or_levels(f" ({right.upper()}). ", snr))
    for other in sorted(set(ch10.WIDTH_OPTIONS) - {right}):
        assert_wrong(ch10.check_width_or_levels(other, snr), "is not right")


def test_width_or_levels_without_a_gap():
    snr = _width_snr(EQUAL, (10.4, 9.5, 9.8), (9.0, 9.1, 9.2))  # the gap is a tie
    assert ch10.width_or_levels_answer(snr) == "d"
    assert_right(ch10.check_width_or_levels("d", snr))
    assert "no gap to explain" in str(ch10.check_width_or_levels("d", snr))
    for other in "abc":
        assert_wrong(ch10.check_width_or_levels(other, snr), "no gap to explain")


@pytest.mark.parametrize(
    ("right", "answer", "fragments"),
    [
        # reading the means: [4, 4, 4, 4] > [5, 4, 4, 3] > [8, 6, 5] on average only
        ("d", "c", ("at the same 4 coordinates", "at the same 240 codes", "not means")),
        ("d", "a", ("at the same 240 codes", "tie by the seed rule", "not means")),
        ("d", "b", ("at the same 4 coordinates", "tie by the seed rule", "not means")),
        # the width step counts: b misreads it, c and d misread the levels step
        ("a", "b", ("at the same 240 codes", "every seed of [5, 4, 4, 3]")),
        ("a", "c", ("at the same 4 coordinates", "tie by the seed rule")),
        ("a", "d", ("at the same 240 codes", "every seed of [5, 4, 4, 3]")),
        ("b", "a", ("at the same 4 coordinates", "every seed of [4, 4, 4, 4]")),
        ("c", "d", ("every seed of [4, 4, 4, 4]", "every seed of [5, 4, 4, 3]")),
    ],
)
def test_width_or_levels_names_the_misread_comparison(right, answer, fragments):
    result = ch10.check_width_or_levels(answer, WIDTH_CASES[right])
    assert_wrong(result, "is not right", *fragments)


def test_width_or_levels_wrong_types_and_placeholder():
    snr = WIDTH_CASES["d"]
    assert_wrong(ch10.check_width_or_levels(..., snr), "no answer yet", "pick one of")
    assert_wrong(ch10.check_width_or_levels("d", ...), "no runs yet")
    assert_wrong(ch10.check_width_or_levels(4, snr), "not one of the options")
    assert_wrong(ch10.check_width_or_levels(None, snr), "not one of the options")
    assert_wrong(ch10.check_width_or_levels("e", snr), "not one of the options")
    assert_wrong(ch10.check_width_or_levels("d", [1, 2]), "summarize, got list")
    missing = {k: v for k, v in snr.items() if k != ("fsq_custom", 8)}
    assert_wrong(ch10.check_width_or_levels("d", missing), "no SeedSummary for [5, 4, 4, 3]")
    not_summary = {**snr, ("fsq", 8): (10.8, 10.2, 10.3)}
    assert_wrong(ch10.check_width_or_levels("d", not_summary), "no SeedSummary for [4, 4")
    fewer = {**snr, ("fsq_paper", 8): SeedSummary((10.0, 9.5))}
    assert_wrong(ch10.check_width_or_levels("d", fewer), "the same seeds")
    nan = {**snr, ("fsq_paper", 8): SeedSummary((10.0, float("nan"), 9.8))}
    assert_wrong(ch10.check_width_or_levels("d", nan), "not all finite")
    with pytest.raises(ValueError, match="summarize"):
        ch10.width_or_levels_answer("snr")


def test_width_levels_and_options():
    assert ch10.WIDTH_LEVELS == (5, 4, 4, 3) and int(np.prod(ch10.WIDTH_LEVELS)) == 240
    assert set(ch10.WIDTH_OPTIONS) == {"a", "b", "c", "d"}
    # any option can be right, so none stands out by its length
    lengths = [len(v) for v in ch10.WIDTH_OPTIONS.values()]
    assert max(lengths) < 1.2 * min(lengths)
