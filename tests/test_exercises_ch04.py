"""Tests of the chapter 4 exercise checkers (rvqlib.exercises.ch04)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rvqlib.exercises import ch04
from rvqlib.nn import VectorQuantizer


def _ok(res) -> None:
    assert res.ok and bool(res)
    assert res.message.startswith("Correct")


def _wrong(res, *words: str) -> None:
    assert not res.ok and not bool(res)
    assert res.message.startswith("Not yet")
    for w in words:
        assert w in res.message, (w, res.message)


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
    _ok(ch04.check_by_hand(2.5, 0.625, [-2.0, 1.0], [0.5, -0.25]))
    _ok(ch04.check_by_hand(*ch04.hand_answers()))


def test_by_hand_placeholder() -> None:
    _wrong(ch04.check_by_hand(..., ..., ..., ...), "no answer yet")
    _wrong(ch04.check_by_hand(2.5, 0.625, [-2.0, 1.0], ...), "no answer yet")


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
    _wrong(ch04.check_by_hand(*answers), *words)


# ----------------------------------------------------------------- implement
def _good(z, e, beta):
    return F.mse_loss(e, z.detach()), beta * F.mse_loss(z, e.detach())


def test_implement_right() -> None:
    _ok(ch04.check_vq_losses(_good))
    _ok(ch04.check_vq_losses(ch04.reference_vq_losses))

    def manual(z, e, beta):
        return ((z.detach() - e) ** 2).mean(), beta * ((z - e.detach()) ** 2).mean()

    _ok(ch04.check_vq_losses(manual))


def test_implement_placeholder() -> None:
    _wrong(ch04.check_vq_losses(...), "no function yet")

    def empty(z, e, beta): ...

    _wrong(ch04.check_vq_losses(empty), "returned None", "return a pair")


def test_implement_no_detach() -> None:
    def no_sg(z, e, beta):
        return F.mse_loss(e, z), beta * F.mse_loss(z, e)

    _wrong(ch04.check_vq_losses(no_sg), "codebook loss sends a gradient to z")

    def no_sg_e(z, e, beta):
        return F.mse_loss(e, z.detach()), beta * F.mse_loss(z, e)

    _wrong(ch04.check_vq_losses(no_sg_e), "commitment loss sends a gradient to e")

    def both_detached(z, e, beta):
        return F.mse_loss(e.detach(), z.detach()), beta * F.mse_loss(z.detach(), e.detach())

    _wrong(ch04.check_vq_losses(both_detached), "no gradient at all")


def test_implement_value_slips() -> None:
    def summed(z, e, beta):
        return ((z.detach() - e) ** 2).sum(), beta * ((z - e.detach()) ** 2).sum()

    _wrong(ch04.check_vq_losses(summed), "summed over the D")

    def swapped(z, e, beta):
        return beta * F.mse_loss(e, z.detach()), F.mse_loss(z, e.detach())

    _wrong(ch04.check_vq_losses(swapped), "swapped")

    def no_beta(z, e, beta):
        return F.mse_loss(e, z.detach()), F.mse_loss(z, e.detach())

    _wrong(ch04.check_vq_losses(no_beta), "missing the weight beta")

    def floats(z, e, beta):
        return F.mse_loss(e, z).item(), beta * F.mse_loss(z, e).item()

    _wrong(ch04.check_vq_losses(floats), "taking gradients")

    def raises(z, e, beta):
        raise RuntimeError("boom")

    _wrong(ch04.check_vq_losses(raises), "raised RuntimeError")


# ----------------------------------------------------------------- choices
def test_beta_zero() -> None:
    _ok(ch04.check_beta_zero("only e moves"))
    _ok(ch04.check_beta_zero("  Only E moves "))
    _wrong(ch04.check_beta_zero("only z moves"), "beta weights the commitment loss")
    _wrong(ch04.check_beta_zero("both move"), "only feels the commitment loss")
    _wrong(ch04.check_beta_zero("neither moves"), "does not weight the codebook loss")
    _wrong(ch04.check_beta_zero("z"), "not one of the options")
    _wrong(ch04.check_beta_zero(...), "no answer yet")


def test_stop_gradient() -> None:
    _ok(ch04.check_stop_gradient("b"))
    _wrong(ch04.check_stop_gradient("a"), "straight-through")
    _wrong(ch04.check_stop_gradient("c"), "does not change any loss value")
    _wrong(ch04.check_stop_gradient("d"), "backward pass")
    _wrong(ch04.check_stop_gradient("e"), "not one of the options")
    _wrong(ch04.check_stop_gradient(None), "no answer yet")
