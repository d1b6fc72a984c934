"""Tests of the chapter 4 exercise checkers (rvqlib.exercises.ch04)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_asserts import assert_right, assert_wrong

from rvqlib.exercises import ch04
from rvqlib.nn import VectorQuantizer


# ----------------------------------------------------------------- by hand
def test_hand_answers_match_formulas_and_vector_quantizer() -> None:
    cb, cm, g_e, g_z = ch04.hand_answers()
    assert (cb, cm) == (2.5, 0.625)
    assert np.allclose(g_e, [-2.0, 1.0]) and np.allclose(g_z, [0.5, -0.25])
    vq = VectorQuantizer(2, 1, ema=False, kmeans_init=False, dead_code_threshold=0)
    vq.set_codebook(torch.tensor(ch04.E_HAND[None], dtype=torch.float32))
    _, _, losses = vq(torch.tensor(ch04.Z_HAND[None], dtype=torch.float32))
    assert np.isclose(float(losses["codebook"].detach()), cb) and np.isclose(
        float(losses["commitment"].detach()), cm
    )


def test_by_hand_right() -> None:
    assert_right(ch04.check_by_hand(2.5, 0.625, [-2.0, 1.0], [0.5, -0.25]))
    assert_right(ch04.check_by_hand(*ch04.hand_answers()))


def test_by_hand_placeholder() -> None:
    assert_wrong(ch04.check_by_hand(..., ..., ..., ...), "no answer yet")
    assert_wrong(ch04.check_by_hand(2.5, 0.625, [-2.0, 1.0], ...), "no answer yet")


@pytest.mark.parametrize(
    ("answers", "words"),
    [
        ((5.0, 0.625, [-2, 1], [0.5, -0.25]), ["codebook loss", "summed over the D"]),
        ((2.5, 2.5, [-2, 1], [0.5, -0.25]), ["commitment loss", "forgot the weight beta"]),
        ((2.5, 1.25, [-2, 1], [0.5, -0.25]), ["commitment loss", "summed"]),
        ((2.5, 0.625, [2, -1], [0.5, -0.25]), ["respect to e", "sign wrong"]),
        ((2.5, 0.625, [-4, 2], [0.5, -0.25]), ["respect to e", "divide by D"]),
        ((2.5, 0.625, [-1, 0.5], [0.5, -0.25]), ["respect to e", "factor 2"]),
        ((2.5, 0.625, [-2, 1], [2, -1]), ["respect to z", "forgot the weight beta"]),
        ((2.5, 0.625, [-2, 1], [-0.5, 0.25]), ["respect to z", "sign wrong"]),
        ((2.5, 0.625, [-2, 1], [0.3, 0.3]), ["respect to z"]),
    ],
)
def test_by_hand_wrong(answers, words) -> None:
    assert_wrong(ch04.check_by_hand(*answers), *words)


# ----------------------------------------------------------------- implement
def _good(z, e, beta):
    return F.mse_loss(e, z.detach()), beta * F.mse_loss(z, e.detach())


def test_implement_right() -> None:
    assert_right(ch04.check_vq_losses(_good))
    assert_right(ch04.check_vq_losses(ch04.reference_vq_losses))

    def manual(z, e, beta):
        return ((z.detach() - e) ** 2).mean(), beta * ((z - e.detach()) ** 2).mean()

    assert_right(ch04.check_vq_losses(manual))


def test_implement_placeholder() -> None:
    assert_wrong(ch04.check_vq_losses(...), "no function yet")

    def empty(z, e, beta): ...

    assert_wrong(ch04.check_vq_losses(empty), "returned None", "return a pair")


def test_implement_no_detach() -> None:
    def no_sg(z, e, beta):
        return F.mse_loss(e, z), beta * F.mse_loss(z, e)

    assert_wrong(ch04.check_vq_losses(no_sg), "codebook loss sends a gradient to z")

    def no_sg_e(z, e, beta):
        return F.mse_loss(e, z.detach()), beta * F.mse_loss(z, e)

    assert_wrong(ch04.check_vq_losses(no_sg_e), "commitment loss sends a gradient to e")

    def both_detached(z, e, beta):
        return F.mse_loss(e.detach(), z.detach()), beta * F.mse_loss(z.detach(), e.detach())

    assert_wrong(ch04.check_vq_losses(both_detached), "no gradient at all")


def test_implement_value_slips() -> None:
    def summed(z, e, beta):
        return ((z.detach() - e) ** 2).sum(), beta * ((z - e.detach()) ** 2).sum()

    assert_wrong(ch04.check_vq_losses(summed), "summed over the D")

    def swapped(z, e, beta):
        return beta * F.mse_loss(e, z.detach()), F.mse_loss(z, e.detach())

    assert_wrong(ch04.check_vq_losses(swapped), "swapped")

    def no_beta(z, e, beta):
        return F.mse_loss(e, z.detach()), F.mse_loss(z, e.detach())

    assert_wrong(ch04.check_vq_losses(no_beta), "missing the weight beta")

    def floats(z, e, beta):
        return F.mse_loss(e, z).item(), beta * F.mse_loss(z, e).item()

    assert_wrong(ch04.check_vq_losses(floats), "taking gradients")

    def raises(z, e, beta):
        raise RuntimeError("boom")

    assert_wrong(ch04.check_vq_losses(raises), "raised RuntimeError")


# ----------------------------------------------------------------- choices
def test_beta_zero() -> None:
    assert_right(ch04.check_beta_zero("only e moves"))
    assert_right(ch04.check_beta_zero("  Only E moves "))
    assert_wrong(ch04.check_beta_zero("only z moves"), "beta weights the commitment loss")
    assert_wrong(ch04.check_beta_zero("both move"), "only feels the commitment loss")
    assert_wrong(ch04.check_beta_zero("neither moves"), "does not weight the codebook loss")
    assert_wrong(ch04.check_beta_zero("z"), "not one of the options")
    assert_wrong(ch04.check_beta_zero(...), "no answer yet")


def test_stop_gradient() -> None:
    assert_right(ch04.check_stop_gradient("b"))
    assert_wrong(ch04.check_stop_gradient("a"), "straight-through")
    assert_wrong(ch04.check_stop_gradient("c"), "does not change any loss value")
    assert_wrong(ch04.check_stop_gradient("d"), "backward pass")
    assert_wrong(ch04.check_stop_gradient("e"), "not one of the options")
    assert_wrong(ch04.check_stop_gradient(None), "no answer yet")
