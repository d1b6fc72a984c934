"""Tests of the chapter 8 exercise checkers (rvqlib.exercises.ch08)."""

from __future__ import annotations

import numpy as np
import torch

from rvqlib.exercises import ch08


def _ok(res) -> None:
    assert res.ok and bool(res)
    assert res.message.startswith("Correct")


def _wrong(res, *words: str) -> None:
    assert not res.ok and not bool(res)
    assert res.message.startswith("Not yet")
    for w in words:
        assert w in res.message, (w, res.message)


# ----------------------------------------------------------------- by hand
def test_hand_answers_are_the_arithmetic() -> None:
    fwd, grad, grad_at_z = ch08.hand_answers()
    assert np.allclose(fwd, [0.0, 2.0])
    assert np.allclose(grad, [-2.0, 2.0])
    assert np.allclose(grad_at_z, [-1.4, 1.4])


def test_by_hand_right() -> None:
    _ok(ch08.check_by_hand([0.0, 2.0], [-2.0, 2.0]))
    _ok(ch08.check_by_hand(torch.tensor([0.0, 2.0]), np.array([-2.0, 2.0])))


def test_by_hand_slips() -> None:
    _wrong(ch08.check_by_hand([0.3, 1.7], [-2.0, 2.0]), "forward value is z itself")
    _wrong(ch08.check_by_hand([0.0, 2.0], [-1.4, 1.4]), "gradient at z")
    _wrong(ch08.check_by_hand([0.0, 2.0], [-1.0, 1.0]), "half the gradient")
    _wrong(ch08.check_by_hand([0.0, 2.0], [0.0, 0.0]), "argmin")
    _wrong(ch08.check_by_hand([0.0, 2.0], [1.0, 1.0]), "dL/d out")
    _wrong(ch08.check_by_hand([0.0, 1.0], [-2.0, 2.0]), "forward value")
    _wrong(ch08.check_by_hand([0.0, 2.0], [2.0, -2.0]), "gradient dL/dz")


def test_by_hand_placeholder() -> None:
    _wrong(ch08.check_by_hand(..., ...), "no answer yet")
    _wrong(ch08.check_by_hand([0.0, 2.0], ...), "no answer yet")


# ----------------------------------------------------------------- implement
def test_straight_through_right() -> None:
    _ok(ch08.check_straight_through(lambda z, zq: z + (zq - z).detach()))


def test_straight_through_slips() -> None:
    _wrong(ch08.check_straight_through(lambda z, zq: z), "z's value")
    _wrong(ch08.check_straight_through(lambda z, zq: zq.detach()), "no gradient flows")
    _wrong(ch08.check_straight_through(lambda z, zq: z + (zq - z)), "z gets no gradient")
    _wrong(ch08.check_straight_through(lambda z, zq: zq + (z - zq).detach()), "z's value")
    _wrong(ch08.check_straight_through(lambda z, zq: zq + 0 * z), "goes to zq")
    _wrong(ch08.check_straight_through(lambda z, zq: 2 * z + (zq - 2 * z).detach()), "identity")
    _wrong(ch08.check_straight_through(lambda z, zq: z + zq - z.detach()), "also reaches zq")
    _wrong(ch08.check_straight_through(lambda z, zq: zq.tolist()), "torch tensor")
    _wrong(ch08.check_straight_through(3), "expected a function")


def test_straight_through_placeholder() -> None:
    _wrong(ch08.check_straight_through(...), "no function yet")
    _wrong(ch08.check_straight_through(lambda z, zq: ...), "no answer yet")


# ----------------------------------------------------------------- predict
def test_no_ste_gradient_matches_autograd() -> None:
    z = torch.tensor([[0.3], [1.7]], requires_grad=True)
    codebook = torch.tensor([[0.0], [1.0], [2.0]], requires_grad=True)
    k = torch.cdist(z, codebook).argmin(dim=1)
    ((codebook[k] - 1.0) ** 2).sum().backward()
    assert z.grad is None and codebook.grad is not None
    _ok(ch08.check_no_ste_gradient("None"))
    _ok(ch08.check_no_ste_gradient(" none "))


def test_no_ste_gradient_wrong_and_placeholder() -> None:
    _wrong(ch08.check_no_ste_gradient("zeros"), "not on any path")
    _wrong(ch08.check_no_ste_gradient("ones"), "estimator")
    _wrong(ch08.check_no_ste_gradient("maybe"), "not one of the options")
    _wrong(ch08.check_no_ste_gradient(...), "no answer yet")


# ----------------------------------------------------------------- explain
def test_bias() -> None:
    _ok(ch08.check_bias("a"))
    _ok(ch08.check_bias("A"))
    _wrong(ch08.check_bias("b"), "exactly z_q")
    _wrong(ch08.check_bias("c"), "without the estimator")
    _wrong(ch08.check_bias("d"), "codebook")
    _wrong(ch08.check_bias(...), "no answer yet")
