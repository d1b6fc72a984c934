"""The exercise-checker machinery: right answers pass, wrong ones are explained."""

from __future__ import annotations

import numpy as np
import torch

from rvqlib.exercises import check_array, check_choice, check_close, check_function


def test_check_close_right_and_placeholder():
    assert check_close(0.4, 0.4, name="d")
    assert check_close(torch.tensor(0.4), 0.4, name="d")
    res = check_close(..., 0.4, name="d")
    assert not res and "no answer yet" in res.message


def test_check_close_names_the_slip():
    res = check_close(0.632, 0.4, name="d", mistakes={"you took the square root": 0.632})
    assert not res and "square root" in res.message
    assert "wrong sign" in check_close(-0.4, 0.4, name="d").message
    assert "2x too large" in check_close(0.8, 0.4, name="d").message
    assert "too small" in check_close(0.1, 0.4, name="d").message
    assert "single number" in check_close([1, 2], 0.4, name="d").message
    assert "single number" in check_close("0.4", 0.4, name="d").message


def test_check_array_shape_and_first_difference():
    assert check_array([1, 2], np.array([1.0, 2.0]), name="r")
    res = check_array([[1, 2], [3, 4]], np.zeros((2, 3)), name="r")
    assert not res and "shape (2, 2)" in res.message
    res = check_array([[1, 3]], [[1], [3]], name="r")
    assert "transposed" in res.message
    res = check_array([1, 5], [1, 2], name="r", exact=True)
    assert "first at r[1]: got 5, expected 2" in res.message
    assert "wrong sign" in check_array([-1.0, -2.0], [1.0, 2.0], name="r").message


def test_check_choice():
    opts = ["a", "b"]
    assert check_choice("A", "a", name="q", options=opts)
    res = check_choice("b", "a", name="q", options=opts, explanations={"b": "b ignores X"})
    assert not res and "b ignores X" in res.message
    assert "not one of the options" in check_choice("c", "a", name="q", options=opts).message


def test_check_function_reports_first_failing_case():
    cases = [((1,), 2), ((2,), 4)]
    assert check_function(lambda x: 2 * x, cases, name="f")
    res = check_function(lambda x: x + 1, cases, name="f")
    assert not res and "f(2) returned 3, expected 4" in res.message
    res = check_function(lambda x: 1 / 0, cases, name="f")
    assert "raised ZeroDivisionError" in res.message
    assert "expected a function" in check_function(3, cases, name="f").message
    assert "no function yet" in check_function(..., cases, name="f").message


def test_result_renders_for_jupyter():
    res = check_close(1.0, 2.0, name="x <y>")
    assert repr(res) == res.message
    assert "&lt;y&gt;" in res._repr_html_()


def test_public_helpers_for_chapter_checkers():
    from rvqlib.exercises._check import as_numpy, is_placeholder, right, wrong

    assert is_placeholder(...) and is_placeholder(None) and not is_placeholder(0)
    np.testing.assert_array_equal(as_numpy(torch.tensor([1.0, 2.0], requires_grad=True)), [1, 2])
    assert as_numpy([[1, 2], [3]]) is None  # ragged: not an array
    ok = right("the step", "(0.5)")
    assert ok and ok.message == "Correct: the step (0.5)."
    bad = wrong("the step", "it is negative", "a step is a length")
    assert not bad and bad.message == "Not yet: the step: it is negative\nHint: a step is a length"


def test_check_function_diagnose_names_the_slip():
    cases = [((np.array([1.0, -2.0]),), np.array([1.0, 2.0]))]

    def diagnose(args, got, want):
        return "you returned x unchanged" if np.array_equal(got, args[0]) else None

    res = check_function(lambda x: x, cases, name="my_abs", diagnose=diagnose)
    assert not res and "Likely slip: you returned x unchanged" in res.message
    res = check_function(lambda x: -x, cases, name="my_abs", diagnose=diagnose)
    assert not res and "Likely slip" not in res.message  # not recognised: no guess
    res = check_function(np.abs, cases, name="my_abs", diagnose=diagnose)
    assert res and "Correct" in res.message

    def broken(args, got, want):
        raise RuntimeError("diagnosis bug")

    res = check_function(lambda x: x, cases, name="my_abs", diagnose=broken)
    assert not res and "returned" in res.message and "Likely slip" not in res.message
