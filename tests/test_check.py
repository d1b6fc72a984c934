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
    assert "2x too large" in check_close(0.801, 0.4, name="d").message  # rounded slip
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

    assert is_placeholder(...) and not is_placeholder(None) and not is_placeholder(0)
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


def test_check_close_accepts_three_significant_figures_and_says_the_exact_value():
    res = check_close(0.0208, 1 / 48, name="the MSE")
    assert res and "0.0208333" in res.message and "3 significant figures" in res.message
    assert check_close(0.02083, 1 / 48, name="the MSE")
    assert check_close(1 / 48, 1 / 48, name="the MSE").message == "Correct: the MSE = 0.0208333."
    res = check_close(0.021, 1 / 48, name="the MSE")  # two figures only: close, not right
    assert not res and "close" in res.message and "2 significant figures" in res.message
    assert not check_close(0.0209, 1 / 48, name="the MSE")  # the third figure is wrong
    assert check_close(9.99, 9.994, name="x") and check_close(10.0, 9.996, name="x")
    assert not check_close(0.0208, 1 / 48, name="the MSE", sig_figs=None)  # computed numbers


def test_slips_are_named_with_the_same_tolerance():
    mistakes = {"you took the square root": 0.5**0.5}
    res = check_close(0.707, 0.5, name="d", mistakes=mistakes)
    assert not res and "square root" in res.message
    # a slip that equals the right answer to 3 figures never hides a right answer
    assert check_close(0.5, 0.5, name="d", mistakes={"a slip": 0.50001})


def test_none_is_an_answer_not_a_placeholder():
    res = check_close(None, 0.4, name="d")
    assert not res and "no answer yet" not in res.message and "None" in res.message
    res = check_choice(None, "None", name="q", options=["None", "zero"])
    assert res
    res = check_function(lambda x: None, [((1,), 2)], name="f")
    assert not res and "no `return`" in res.message


def test_check_choice_normalises_equivalent_forms():
    opts = ["a", "b", "c", "d"]
    for form in ["(a)", "a)", " A. ", "'a'", "[a]", "a!"]:
        assert check_choice(form, "a", name="q", options=opts), form
    zero = ["Zero", "Half", "Unchanged"]
    for form in [0, 0.0, "0", "zero", " ZERO."]:
        assert check_choice(form, "Zero", name="q", options=zero), form
    aliases = {"<=": "Lower or equal", "non-increasing": "Lower or equal"}
    opts2 = ["Lower or equal", "Higher"]
    for form in ["<=", "Non-increasing", "lower or equal."]:
        assert check_choice(form, "Lower or equal", name="q", options=opts2, aliases=aliases)
    for odd in [{}, [1, 2], object(), 3.7, True, b"a"]:
        res = check_choice(odd, "a", name="q", options=opts)
        assert not res and "not one of the options" in res.message


def test_check_array_by_hand_and_integer_answers():
    want = np.array([[1.3636364, 0.3409091], [0.0, 1.9444444]])
    assert check_array([[1.36, 0.341], [0, 1.94]], want, name="e", sig_figs=3)
    assert not check_array([[1.36, 0.341], [0, 1.95]], want, name="e", sig_figs=3)
    res = check_array([0.0, 2.0], np.array([0, 2]), name="codes", exact=True)
    assert not res and "not integers" in res.message
    res = check_array([2, 0], [0, 2], name="codes", exact=True, mistakes={"swapped": [2, 0]})
    assert not res and "swapped" in res.message
    assert "None" in check_array(None, [1, 2], name="r").message
    assert "array of numbers" in check_array("12", [1, 2], name="r").message


def test_check_function_rejects_float_indices_and_survives_odd_returns():
    cases = [((np.array([0.2, 0.7]),), np.array([0, 1]))]
    res = check_function(lambda x: np.round(x), cases, name="f")
    assert not res and "indices must be integers" in res.message
    assert check_function(lambda x: np.round(x).astype(int), cases, name="f")
    res = check_function(lambda x: {"a": 1}, cases, name="f")
    assert not res and "returned" in res.message


def test_never_raises_turns_a_crash_into_a_verdict():
    from rvqlib.exercises._check import never_raises

    @never_raises
    def check_thing(answer):
        return check_close(answer["x"], 1.0, name="x")

    res = check_thing(3.0)
    assert not res and "could not read this answer" in res.message
    assert check_thing({"x": 1.0})
    assert check_thing.__name__ == "check_thing"


def test_all_parts_reports_every_part_wrong_first():
    from rvqlib.exercises._check import all_parts

    good, bad = check_close(1.0, 1.0, name="a"), check_close(2.0, 1.0, name="b")
    res = all_parts([good, bad])
    assert not res and res.message.index("b:") < res.message.index("Correct: a")
    res = all_parts([good, bad], "the two numbers")
    assert res.message.startswith("Not yet: 1 of 2 parts of the two numbers needs another look:")
    assert all_parts([good, good])


def test_choice_with_brackets_and_punctuation():
    for form in ["(c).", "(c)!", "[C];", "c)."]:
        assert check_choice(form, "c", name="q", options=["a", "b", "c"]), form
