"""Tests for the checkers of chapter 11 (rvqlib.exercises.ch11)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from exercise_asserts import assert_right, assert_wrong

from rvqlib.entropy import entropy_decode, entropy_encode
from rvqlib.exercises import ch11

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "11_codes_to_bits_and_tokens.ipynb"


# ------------------------------------------------------------------ the exact coder
def test_exact_coder_round_trips_and_matches_the_ideal_length():
    rng = np.random.default_rng(0)
    for freqs in ([4, 2, 1, 1], [1, 1], [5, 0, 3], [7, 9]):
        p = np.asarray(freqs) / sum(freqs)
        for n in (1, 3, 30):
            msg = rng.choice(len(freqs), n, p=p).tolist()
            x = ch11.rans_encode_exact(msg, freqs)
            assert ch11.rans_decode_exact(x, n, freqs) == msg
            # from a large state, each push multiplies x by M / f_s (to 1 part in x / f_s)
            ideal = sum(np.log2(sum(freqs) / freqs[s]) for s in msg)
            big = ch11.rans_encode_exact(msg, freqs, 2**40)
            assert abs(math.log2(big) - 40 - ideal) < 1e-6
            assert ch11.rans_decode_exact(big, n, freqs) == msg


def test_exact_coder_rejects_symbols_without_frequency():
    with pytest.raises(ValueError, match="no frequency"):
        ch11.rans_encode_exact([1], [1, 0])
    with pytest.raises(ValueError, match="positive sum"):
        ch11.rans_encode_exact([0], [0, 0])


def test_the_library_coder_decodes_the_by_hand_message():
    freqs = np.asarray(ch11.BY_HAND_FREQS, float)
    msg = [ch11.BY_HAND_SYMBOLS.index(c) for c in ch11.BY_HAND_MESSAGE]
    data = entropy_encode(msg, freqs / freqs.sum())
    assert entropy_decode(data, freqs / freqs.sum(), len(msg)).tolist() == msg


# ------------------------------------------------------------------ ch11-ex-rans-by-hand
def test_rans_by_hand_right():
    assert_right(ch11.check_rans_by_hand(216))
    assert_right(ch11.check_rans_by_hand(216.0))
    assert_right(ch11.check_rans_by_hand(np.int64(216)))
    assert "7 bits" in ch11.check_rans_by_hand(216).message


@pytest.mark.parametrize(
    ("wrong", "fragment"),
    [
        (78, "message order"),
        (88, "x = 0"),
        (255, "before"),
        (7, "decoder's step"),
        (200, "remainder"),
        (216.5, "not a whole number"),
        (300, "too large"),
        (100, "too small"),
        (10**400, "far too large"),
    ],
)
def test_rans_by_hand_slips(wrong, fragment):
    assert_wrong(ch11.check_rans_by_hand(wrong), fragment)


def test_rans_by_hand_placeholder_and_types():
    assert_wrong(ch11.check_rans_by_hand(...), "no answer yet")
    assert_wrong(ch11.check_rans_by_hand(None), "expected a whole number, got None")
    assert_wrong(ch11.check_rans_by_hand("216"), "expected a whole number")
    assert_wrong(ch11.check_rans_by_hand([216, 1]), "expected a whole number")


def test_rans_by_hand_slips_are_distinct():
    values = list(ch11._by_hand_slips().values())
    assert len(set(values)) == len(values) and 216 not in values


# ------------------------------------------------------------------ ch11-ex-rans-decode
def _good_decode(x, n, freqs):
    m = sum(freqs)
    starts = [sum(freqs[:i]) for i in range(len(freqs))]
    out = []
    for _ in range(n):
        slot = x % m
        s = max(i for i in range(len(freqs)) if starts[i] <= slot and freqs[i] > 0)
        x = freqs[s] * (x // m) + slot - starts[s]
        out.append(s)
    return out


def test_my_rans_decode_right():
    assert_right(ch11.check_my_rans_decode(_good_decode))
    assert_right(ch11.check_my_rans_decode(lambda *a: np.array(_good_decode(*a))))


def test_my_rans_decode_slips():
    assert_wrong(ch11.check_my_rans_decode(lambda *a: _good_decode(*a)[::-1]), "last first")

    def no_mult(x, n, freqs):
        m = sum(freqs)
        starts = [sum(freqs[:i]) for i in range(len(freqs))]
        out = []
        for _ in range(n):
            slot = x % m
            s = max(i for i in range(len(freqs)) if starts[i] <= slot and freqs[i] > 0)
            x = x // m + slot - starts[s]
            out.append(s)
        return out

    assert_wrong(ch11.check_my_rans_decode(no_mult), "f_s * (x // M)")
    assert_wrong(
        ch11.check_my_rans_decode(lambda *a: [float(v) for v in _good_decode(*a)]), "returned"
    )
    assert_wrong(ch11.check_my_rans_decode(lambda *a: None), "returned None")


def test_my_rans_decode_placeholder_and_types():
    assert_wrong(ch11.check_my_rans_decode(...), "no function yet")
    assert_wrong(ch11.check_my_rans_decode(216), "expected a function")


# ------------------------------------------------------------------ ch11-ex-table-payback
def test_table_payback():
    exact = 256 * 256 * 16 / (125 * 0.9)
    assert_right(ch11.check_table_payback(exact))
    assert_right(ch11.check_table_payback(9320.7))  # 3 significant figures and more
    assert_right(ch11.check_table_payback(9.32e3))
    assert_wrong(ch11.check_table_payback(256 * 16 / (125 * 0.9)), "one row")
    assert_wrong(ch11.check_table_payback(582.5), "entries, not bits")
    assert_wrong(ch11.check_table_payback(1165), "divided the bits by 8")
    assert_wrong(ch11.check_table_payback(2.59), "hours")
    assert_wrong(ch11.check_table_payback(155.3), "minutes")
    assert_wrong(ch11.check_table_payback(256 * 256 * 16 * 125 / 0.9), "multiplied")
    assert_wrong(ch11.check_table_payback(9300), "close")
    assert_wrong(ch11.check_table_payback(...), "no answer yet")
    assert_wrong(ch11.check_table_payback("long"), "expected a single number")
    assert_wrong(ch11.check_table_payback(None), "expected a single number")


# ------------------------------------------------------------------ ch11-ex-layout-steps
def test_layout_steps():
    assert_right(ch11.check_layout_steps((1000, 132, 126)))
    assert_right(ch11.check_layout_steps([1000.0, 132.0, 126.0]))
    assert_right(ch11.check_layout_steps(np.array([1000, 132, 126])))
    assert_wrong(ch11.check_layout_steps((125, 132, 126)), "number of frames")
    assert_wrong(ch11.check_layout_steps((1000, 133, 126)), "not n_q")
    assert_wrong(ch11.check_layout_steps((1000, 125, 126)), "after the last frame")
    assert_wrong(ch11.check_layout_steps((1000, 132, 132)), "delayed by one step, not by q")
    assert_wrong(ch11.check_layout_steps((1000, 132, 125)), "one more step")
    assert_wrong(ch11.check_layout_steps((999, 132, 126)), "T * n_q")
    assert_wrong(ch11.check_layout_steps((1000, 132.5, 126)), "whole numbers")
    assert_wrong(ch11.check_layout_steps((1000, 132)), "three numbers")
    assert_wrong(ch11.check_layout_steps(...), "no answer yet")
    assert_wrong(ch11.check_layout_steps(None), "three whole numbers")
    assert_wrong(ch11.check_layout_steps("1000, 132, 126"), "three whole numbers")
    assert_wrong(ch11.check_layout_steps({"flatten": 1000}), "three whole numbers")


# ------------------------------------------------------------------ ch11-ex-layout-choice
def test_layout_choice():
    assert_right(ch11.check_layout_choice("b"))
    assert_right(ch11.check_layout_choice("(B)"))
    assert_right(ch11.check_layout_choice("delay"))
    assert_wrong(ch11.check_layout_choice("a"), "earlier frames")
    assert_wrong(ch11.check_layout_choice("flatten"), "n_q steps a frame")
    assert_wrong(ch11.check_layout_choice("d"), "delay pattern does it")
    assert_wrong(ch11.check_layout_choice("e"), "not one of the options")
    assert_wrong(ch11.check_layout_choice(None), "not one of the options")
    assert_wrong(ch11.check_layout_choice(...), "no answer yet")


def test_the_right_option_is_not_the_longest():
    lengths = {k: len(v) for k, v in ch11.LAYOUT_OPTIONS.items()}
    assert lengths["b"] < max(lengths.values())


@pytest.mark.skipif(not NOTEBOOK.exists(), reason="chapter 11 notebook not written yet")
def test_options_and_data_are_in_the_notebook():
    nb = json.loads(NOTEBOOK.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    text = " ".join(text.split())
    for key, option in ch11.LAYOUT_OPTIONS.items():
        assert f"**{key}** {option}" in text, option
    assert ch11.BY_HAND_MESSAGE in text
