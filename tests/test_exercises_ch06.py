"""Tests for the chapter 6 exercise checkers (rvqlib.exercises.ch06)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from exercise_asserts import assert_right, assert_wrong

from rvqlib.exercises import ch06
from rvqlib.rvq import rvq_encode

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ by hand
RIGHT_CODES = [0, 1]
RIGHT_ZHAT = [-1.25, 4.25]
RIGHT_ERROR = 0.005


def test_by_hand_solution_matches_hand_arithmetic():
    codes, zhat, err = ch06.by_hand_solution()
    assert codes.tolist() == RIGHT_CODES
    assert np.allclose(zhat, RIGHT_ZHAT)
    assert np.isclose(err, RIGHT_ERROR)


def test_by_hand_right_answer():
    assert_right(ch06.check_by_hand(RIGHT_CODES, RIGHT_ZHAT, RIGHT_ERROR))
    assert_right(
        ch06.check_by_hand(np.array(RIGHT_CODES), np.array(RIGHT_ZHAT), np.float64(RIGHT_ERROR))
    )


def test_by_hand_rounded_right():
    assert_right(ch06.check_by_hand(RIGHT_CODES, [-1.25, 4.25], 0.00500))
    assert_right(ch06.check_by_hand(RIGHT_CODES, [-1.25, 4.25], 0.005001))  # 3 figures
    assert_right(ch06.check_by_hand((np.int64(0), np.int64(1)), (-1.25, 4.25), 5e-3))


def test_by_hand_wrong_types():
    assert_wrong(ch06.check_by_hand([0.0, 1.0], RIGHT_ZHAT, RIGHT_ERROR), "not integers")
    assert_wrong(ch06.check_by_hand("0, 1", RIGHT_ZHAT, RIGHT_ERROR), "expected two indices")
    assert_wrong(ch06.check_by_hand(RIGHT_CODES, None, RIGHT_ERROR), "(zhat)", "expected an array")
    assert_wrong(ch06.check_by_hand(RIGHT_CODES, RIGHT_ZHAT, "0.005"), "expected a single number")
    assert_wrong(ch06.check_by_hand(RIGHT_CODES, RIGHT_ZHAT, None), "expected a single number")


def test_by_hand_placeholder():
    assert_wrong(ch06.check_by_hand(..., ..., ...), "no answer yet")
    assert_wrong(ch06.check_by_hand(RIGHT_CODES, RIGHT_ZHAT, ...), "no answer yet")


@pytest.mark.parametrize(
    ("codes", "fragment"),
    [
        ([1, 2], "counted codewords from 1"),
        ([0, 0], "quantized z itself instead of the residual"),
        ([1, 1], "1 of 2 entries differ"),
        ([0, 1, 2], "expected two indices"),
    ],
)
def test_by_hand_wrong_codes(codes, fragment):
    assert_wrong(ch06.check_by_hand(codes, RIGHT_ZHAT, RIGHT_ERROR), "(codes)", fragment)


@pytest.mark.parametrize(
    ("zhat", "fragment"),
    [
        ([-1.0, 4.0], "stopped after stage 1"),
        ([-0.6, 4.6], "quantized z itself"),
        ([-0.75, 3.75], "subtracted the stage-2 codeword"),
        ([-0.3, 0.2], "you gave the residual r1"),
        ([-1.3, 4.2], "you copied z"),
        ([0.0, 0.0], "2 of 2 entries differ"),
        ([-1.25, 4.3], "1 of 2 entries differ"),
    ],
)
def test_by_hand_wrong_zhat(zhat, fragment):
    assert_wrong(ch06.check_by_hand(RIGHT_CODES, zhat, RIGHT_ERROR), "(zhat)", fragment)


@pytest.mark.parametrize(
    ("err", "fragment"),
    [
        (np.sqrt(0.005), "square root"),
        (0.13, "stopped after stage 1"),
        (0.135, "added the two stages"),
        (0.05, "10x too large"),
        (0.01, "rounded to 2 decimal places"),
        (0.0, "error to be zero"),
        (0.0707, "square root"),  # the slip, rounded, is still named
        (0.130, "stopped after stage 1"),
    ],
)
def test_by_hand_wrong_error(err, fragment):
    assert_wrong(ch06.check_by_hand(RIGHT_CODES, RIGHT_ZHAT, err), "(sq_error)", fragment)


# ------------------------------------------------------------------ implement
def _good_encode(z, codebooks):
    residual = np.array(z, dtype=float)
    codes = []
    for cb in codebooks:
        k = ((residual[:, None, :] - cb[None]) ** 2).sum(-1).argmin(1)
        residual = residual - cb[k]
        codes.append(k)
    return np.stack(codes, axis=1)


def _no_residual(z, codebooks):
    return np.stack([((z[:, None, :] - cb[None]) ** 2).sum(-1).argmin(1) for cb in codebooks], 1)


def test_implement_cases_come_from_rvqlib():
    cases = ch06.implement_cases()
    assert len(cases) >= 4
    (z, books), want = cases[0]
    assert want.tolist() == [[1, 0]]
    for (z, books), want in cases:
        assert np.array_equal(want, rvq_encode(z, books))
    assert len({len(b) for b in cases[2][0][1]}) > 1  # codebook sizes differ per stage


def test_implement_right_answer():
    assert_right(ch06.check_my_rvq_encode(_good_encode))


def test_implement_placeholder_and_not_callable():
    assert_wrong(ch06.check_my_rvq_encode(...), "no function yet")
    assert_wrong(ch06.check_my_rvq_encode(42), "expected a function")


def test_implement_no_residual():
    assert_wrong(ch06.check_my_rvq_encode(_no_residual), "residual is never updated")


def _added(z, codebooks):
    residual = np.array(z, dtype=float)
    codes = []
    for cb in codebooks:
        k = ((residual[:, None, :] - cb[None]) ** 2).sum(-1).argmin(1)
        residual = residual + cb[k]
        codes.append(k)
    return np.stack(codes, axis=1)


def test_implement_added_instead_of_subtracted_is_not_called_no_residual():
    # on the first case both slips give the same codes; only the add slip matches all
    message = ch06.check_my_rvq_encode(_added).message
    assert_wrong(ch06.check_my_rvq_encode(_added), "added the chosen codeword")
    assert "never updated" not in message


def test_implement_a_slip_is_named_only_when_every_case_matches_it():
    def sometimes_no_residual(z, codebooks):
        if len(codebooks) == 2:  # the two small cases: right
            return _good_encode(z, codebooks)
        return _no_residual(z, codebooks)

    result = ch06.check_my_rvq_encode(sometimes_no_residual)
    assert_wrong(result, "returned", "expected")
    assert "never updated" not in result.message


def test_implement_returns_floats_or_none():
    assert_wrong(
        ch06.check_my_rvq_encode(lambda z, b: _good_encode(z, b).astype(float)), "integers"
    )
    assert_wrong(ch06.check_my_rvq_encode(lambda z, b: None), "no `return`")


def test_implement_transposed():
    assert_wrong(ch06.check_my_rvq_encode(lambda z, books: _good_encode(z, books).T), "transposed")


def test_implement_raises():
    def broken(z, books):
        raise RuntimeError("oops")

    assert_wrong(ch06.check_my_rvq_encode(broken), "raised RuntimeError: oops")


def test_implement_argmax_slip():
    def argmax(z, codebooks):
        residual = np.array(z, dtype=float)
        codes = []
        for cb in codebooks:
            k = ((residual[:, None, :] - cb[None]) ** 2).sum(-1).argmax(1)
            residual = residual - cb[k]
            codes.append(k)
        return np.stack(codes, axis=1)

    assert_wrong(ch06.check_my_rvq_encode(argmax), "returned", "expected")


def _ties_to_highest(z, codebooks):
    residual = np.array(z, dtype=float)
    codes = []
    for cb in codebooks:
        d = ((residual[:, None, :] - cb[None]) ** 2).sum(-1)
        k = len(cb) - 1 - d[:, ::-1].argmin(1)
        residual = residual - cb[k]
        codes.append(k)
    return np.stack(codes, axis=1)


def test_implement_cases_include_exact_ties():
    (z, books), want = ch06.implement_cases()[-1]
    residual = z
    for stage, cb in enumerate(books):
        d = ((residual[:, None, :] - cb[None]) ** 2).sum(-1)
        assert np.array_equal(d.argmin(1), want[:, stage])  # ties to the lowest index
        assert np.any((d == d.min(1, keepdims=True)).sum(1) > 1)  # an exact tie here
        residual = residual - cb[want[:, stage]]
    assert not np.array_equal(_ties_to_highest(z, books), want)


def test_implement_ties_to_highest_index():
    assert_wrong(ch06.check_my_rvq_encode(_ties_to_highest), "ties went to the highest index")


def test_implement_ties_slip_named_only_when_every_case_matches_it():
    def ties_wrong_on_one_stage(z, codebooks):
        codes = _good_encode(z, codebooks)
        if len(z) == 3:  # the tie case: highest index at stage 1 only
            codes[:, 0] = _ties_to_highest(z, codebooks)[:, 0]
        return codes

    result = ch06.check_my_rvq_encode(ties_wrong_on_one_stage)
    assert_wrong(result, "returned", "expected")
    assert "highest index" not in result.message


def test_implement_only_first_stage():
    assert_wrong(ch06.check_my_rvq_encode(lambda z, books: _good_encode(z, books[:1])), "expected")


# ------------------------------------------------------------------ multiple choice
def test_zero_codeword():
    assert_right(ch06.check_zero_codeword("b"))
    assert_right(ch06.check_zero_codeword(" B "))
    assert_right(ch06.check_zero_codeword("(b)"))
    assert_wrong(ch06.check_zero_codeword(...), "no answer yet")
    assert_wrong(ch06.check_zero_codeword("a"), "'a' is not right", "zero codeword")
    assert_wrong(ch06.check_zero_codeword("c"), "'c' is not right", "stays exactly the same")
    assert_wrong(ch06.check_zero_codeword("d"), "'d' is not right", "training is not needed")
    assert_wrong(ch06.check_zero_codeword("e"), "not one of the options")
    assert_wrong(ch06.check_zero_codeword(2), "not one of the options")


def test_why_smaller():
    assert_right(ch06.check_why_smaller("b"))
    assert_wrong(ch06.check_why_smaller(...), "no answer yet")
    assert_wrong(ch06.check_why_smaller("d"), "'d' is not right", "never sees z")
    assert_wrong(ch06.check_why_smaller("a"), "same K")
    assert_wrong(ch06.check_why_smaller("c"), "k-means alone")
    assert_wrong(ch06.check_why_smaller("z"), "not one of the options")
    assert_wrong(ch06.check_why_smaller(None), "not one of the options")


def test_the_right_options_are_not_the_longest():
    for options in (ch06.ZERO_OPTIONS, ch06.SMALLER_OPTIONS):
        assert len(options["b"]) < max(len(v) for v in options.values())


def test_options_are_printed_in_the_notebook():
    nb = json.loads((ROOT / "notebooks" / "06_residual_vq.ipynb").read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    text = " ".join(text.split())
    for options in (ch06.ZERO_OPTIONS, ch06.SMALLER_OPTIONS):
        for key, option in options.items():
            assert f"**{key}** {option}" in text, option


# ------------------------------------------------------------------ flat memory
def test_flat_memory():
    assert_right(ch06.check_flat_memory(2**40))
    assert_right(ch06.check_flat_memory(float(256**4 * 64 * 4)))
    assert_right(ch06.check_flat_memory(np.int64(2**40)))
    assert_wrong(ch06.check_flat_memory(...), "no answer yet")
    assert_wrong(ch06.check_flat_memory(1.1e12), "close", "exact number of bytes")
    assert_wrong(ch06.check_flat_memory(1.0995e12), "close", "exact number of bytes")
    assert_wrong(ch06.check_flat_memory(4 * 256 * 64 * 4), "RVQ's memory")
    assert_wrong(ch06.check_flat_memory(256**4 * 64), "4 bytes per float32")
    assert_wrong(ch06.check_flat_memory(256**4), "counted codewords")
    assert_wrong(ch06.check_flat_memory(2**40 * 8), "counted bits, not bytes")
    assert_wrong(ch06.check_flat_memory(2**41), "8 bytes per number (float64)")
    assert_wrong(ch06.check_flat_memory(256**4 * 4), "D numbers")
    assert_wrong(ch06.check_flat_memory(4**256 * 64 * 4), "n_q ** K")
    assert_wrong(ch06.check_flat_memory(2**39), "2x too small")
    assert_wrong(ch06.check_flat_memory(1e12), "too small")
    assert_wrong(ch06.check_flat_memory(10**400), "infinite")
    assert_wrong(ch06.check_flat_memory("a lot"), "expected a single number")
    assert_wrong(ch06.check_flat_memory(None), "expected a single number")
