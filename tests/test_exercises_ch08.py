"""Tests of the chapter 8 exercise checkers (rvqlib.exercises.ch08)."""

from __future__ import annotations

import numpy as np
import torch
from exercise_asserts import assert_right, assert_wrong

from rvqlib.exercises import ch08


# ----------------------------------------------------------------- by hand
def test_hand_answers_are_the_arithmetic() -> None:
    fwd, grad, grad_at_z = ch08.hand_answers()
    assert np.allclose(fwd, [0.0, 2.0])
    assert np.allclose(grad, [-2.0, 2.0])
    assert np.allclose(grad_at_z, [-1.4, 1.4])


def test_by_hand_right() -> None:
    assert_right(ch08.check_by_hand([0.0, 2.0], [-2.0, 2.0]))
    assert_right(ch08.check_by_hand(torch.tensor([0.0, 2.0]), np.array([-2.0, 2.0])))


def test_by_hand_slips() -> None:
    assert_wrong(ch08.check_by_hand([0.3, 1.7], [-2.0, 2.0]), "forward value is z itself")
    assert_wrong(ch08.check_by_hand([0.0, 2.0], [-1.4, 1.4]), "gradient at z")
    assert_wrong(ch08.check_by_hand([0.0, 2.0], [-1.0, 1.0]), "half the gradient")
    assert_wrong(ch08.check_by_hand([0.0, 2.0], [0.0, 0.0]), "argmin")
    assert_wrong(ch08.check_by_hand([0.0, 2.0], [1.0, 1.0]), "dL/d out")
    assert_wrong(ch08.check_by_hand([0.0, 1.0], [-2.0, 2.0]), "forward value")
    assert_wrong(ch08.check_by_hand([0.0, 2.0], [2.0, -2.0]), "gradient dL/dz")


def test_by_hand_placeholder() -> None:
    assert_wrong(ch08.check_by_hand(..., ...), "no answer yet")
    assert_wrong(ch08.check_by_hand([0.0, 2.0], ...), "no answer yet")


# ----------------------------------------------------------------- implement
def test_straight_through_right() -> None:
    assert_right(ch08.check_straight_through(lambda z, zq: z + (zq - z).detach()))


def test_straight_through_slips() -> None:
    assert_wrong(ch08.check_straight_through(lambda z, zq: z), "z's value")
    assert_wrong(ch08.check_straight_through(lambda z, zq: zq.detach()), "no gradient flows")
    assert_wrong(ch08.check_straight_through(lambda z, zq: z + (zq - z)), "z gets no gradient")
    assert_wrong(ch08.check_straight_through(lambda z, zq: zq + (z - zq).detach()), "z's value")
    assert_wrong(ch08.check_straight_through(lambda z, zq: zq + 0 * z), "goes to zq")
    assert_wrong(
        ch08.check_straight_through(lambda z, zq: 2 * z + (zq - 2 * z).detach()), "identity"
    )
    assert_wrong(ch08.check_straight_through(lambda z, zq: z + zq - z.detach()), "also reaches zq")
    assert_wrong(ch08.check_straight_through(lambda z, zq: zq.tolist()), "torch tensor")
    assert_wrong(ch08.check_straight_through(3), "expected a function")


def test_straight_through_placeholder() -> None:
    assert_wrong(ch08.check_straight_through(...), "no function yet")
    assert_wrong(ch08.check_straight_through(lambda z, zq: ...), "no answer yet")


# ----------------------------------------------------------------- predict
def test_no_ste_gradient_matches_autograd() -> None:
    z = torch.tensor([[0.3], [1.7]], requires_grad=True)
    codebook = torch.tensor([[0.0], [1.0], [2.0]], requires_grad=True)
    k = torch.cdist(z, codebook).argmin(dim=1)
    ((codebook[k] - 1.0) ** 2).sum().backward()
    assert z.grad is None and codebook.grad is not None
    assert_right(ch08.check_no_ste_gradient("None"))
    assert_right(ch08.check_no_ste_gradient(" none "))


def test_no_ste_gradient_wrong_and_placeholder() -> None:
    assert_wrong(ch08.check_no_ste_gradient("zeros"), "not on any path")
    assert_wrong(ch08.check_no_ste_gradient("ones"), "estimator")
    assert_wrong(ch08.check_no_ste_gradient("maybe"), "not one of the options")
    assert_wrong(ch08.check_no_ste_gradient(...), "no answer yet")


# ----------------------------------------------------------------- explain
def test_bias() -> None:
    assert_right(ch08.check_bias("a"))
    assert_right(ch08.check_bias("A"))
    assert_wrong(ch08.check_bias("b"), "exactly z_q")
    assert_wrong(ch08.check_bias("c"), "without the estimator")
    assert_wrong(ch08.check_bias("d"), "codebook")
    assert_wrong(ch08.check_bias(...), "no answer yet")
