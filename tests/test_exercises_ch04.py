"""Tests of the chapter 4 exercise checkers (rvqlib.exercises.ch04).

Each checker: a right answer, a rounded-right answer (by-hand numbers), each
named slip, a wrong type and the placeholder.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_asserts import assert_right, assert_wrong
from test_exercises_ch03 import options_of

from rvqlib.exercises import ch04
from rvqlib.nn import VectorQuantizer

RIGHT = (2.5, 0.625, [-2.0, 1.0], [0.5, -0.25])


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
    result = ch04.check_by_hand(*RIGHT)
    assert_right(result)
    assert "autograd agrees" in result.message
    assert_right(ch04.check_by_hand(*ch04.hand_answers()))
    # other valid forms: a (1, 2) array, a tensor, numpy scalars
    assert_right(
        ch04.check_by_hand(
            np.float64(2.5),
            torch.tensor(0.625),
            np.array([[-2.0, 1.0]]),
            torch.tensor([0.5, -0.25]),
        )
    )


def test_by_hand_rounded_right() -> None:
    result = ch04.check_by_hand(2.50, 0.625, [-2, 1], [0.5, -0.25])
    assert_right(result)
    # nothing here needs rounding, but an answer within half a unit of the third
    # significant figure is accepted, and the verdict says the exact value
    result = ch04.check_by_hand(2.5, 0.6254, [-2.0, 1.0], [0.5, -0.2502])
    assert_right(result)
    assert "0.625" in result.message
    assert_wrong(ch04.check_by_hand(2.5, 0.63, [-2.0, 1.0], [0.5, -0.25]), "2 significant")


def test_by_hand_placeholder() -> None:
    assert_wrong(ch04.check_by_hand(..., ..., ..., ...), "no answer yet")
    result = ch04.check_by_hand(2.5, 0.625, [-2.0, 1.0], ...)
    assert_wrong(result, "respect to z", "no answer yet")
    assert "Correct: the codebook loss" in result.message


def test_by_hand_wrong_type() -> None:
    assert_wrong(ch04.check_by_hand("2.5", 0.625, [-2, 1], [0.5, -0.25]), "single number")
    assert_wrong(ch04.check_by_hand(2.5, 0.625, None, [0.5, -0.25]), "expected an array")
    assert_wrong(ch04.check_by_hand(2.5, 0.625, [-2, 1, 0], [0.5, -0.25]), "shape")


@pytest.mark.parametrize(
    ("answers", "words"),
    [
        ((5.0, 0.625, [-2, 1], [0.5, -0.25]), ["codebook loss", "summed over the D"]),
        ((0.625, 0.625, [-2, 1], [0.5, -0.25]), ["codebook loss", "unweighted"]),
        ((2.24, 0.625, [-2, 1], [0.5, -0.25]), ["codebook loss", "distance, not its square"]),
        ((2.5, 2.5, [-2, 1], [0.5, -0.25]), ["commitment loss", "forgot the weight beta"]),
        ((2.5, 1.25, [-2, 1], [0.5, -0.25]), ["commitment loss", "summed"]),
        ((2.5, 0.156, [-2, 1], [0.5, -0.25]), ["commitment loss", "beta squared"]),
        ((2.5, 0.625, [2, -1], [0.5, -0.25]), ["respect to e", "sign wrong"]),
        ((2.5, 0.625, [-4, 2], [0.5, -0.25]), ["respect to e", "divide by D"]),
        ((2.5, 0.625, [-1, 0.5], [0.5, -0.25]), ["respect to e", "factor 2"]),
        ((2.5, 0.625, [-0.5, 0.25], [0.5, -0.25]), ["respect to e", "multiplied by beta"]),
        ((2.5, 0.625, [-2, 1], [2, -1]), ["respect to z", "forgot the weight beta"]),
        ((2.5, 0.625, [-2, 1], [-0.5, 0.25]), ["respect to z", "sign wrong"]),
        ((2.5, 0.625, [-2, 1], [1, -0.5]), ["respect to z", "divide by D"]),
        ((2.5, 0.625, [-2, 1], [0.25, -0.125]), ["respect to z", "factor 2"]),
        ((2.5, 0.625, [-2, 1], [0.3, 0.3]), ["respect to z", "2 of 2 entries differ"]),
    ],
)
def test_by_hand_wrong(answers, words) -> None:
    result = ch04.check_by_hand(*answers)
    assert_wrong(result, "1 of 4 parts", *words)
    assert result.message.count("Correct:") == 3  # the three right parts are reported too


def test_by_hand_rounded_slip_is_still_named() -> None:
    # the sum form of the paper, rounded: 0.25 * 5 = 1.25; 1.25 -> "1.25"; beta**2 * 2.5 = 0.15625
    assert_wrong(ch04.check_by_hand(2.5, 0.156, *RIGHT[2:]), "beta squared")
    assert_wrong(ch04.check_by_hand(2.24, *RIGHT[1:]), "distance, not its square")


def test_by_hand_reports_all_four_parts() -> None:
    """The paper's sum over D in every answer: each part names the slip."""
    result = ch04.check_by_hand(5.0, 1.25, [-4, 2], [1, -0.5])
    assert_wrong(result, "4 of 4 parts")
    assert result.message.count("summed over the D") == 2
    assert result.message.count("divide by D") == 2


# ----------------------------------------------------------------- implement
def _good(z, e, beta):
    return F.mse_loss(e, z.detach()), beta * F.mse_loss(z, e.detach())


def test_implement_right() -> None:
    result = ch04.check_vq_losses(_good)
    assert_right(result)
    assert "gradients match" in result.message
    assert_right(ch04.check_vq_losses(ch04.reference_vq_losses))

    def manual(z, e, beta):
        return ((z.detach() - e) ** 2).mean(), beta * ((z - e.detach()) ** 2).mean()

    assert_right(ch04.check_vq_losses(manual))

    def with_data(z, e, beta):  # .data instead of .detach(): also a stop-gradient
        return F.mse_loss(e, z.data), beta * F.mse_loss(z, e.data)

    assert_right(ch04.check_vq_losses(with_data))

    def cloned(z, e, beta):
        with torch.no_grad():
            zt, et = z.clone(), e.clone()
        return F.mse_loss(e, zt), beta * F.mse_loss(z, et)

    assert_right(ch04.check_vq_losses(cloned))


def test_implement_placeholder() -> None:
    assert_wrong(ch04.check_vq_losses(...), "no function yet")

    def empty(z, e, beta): ...

    assert_wrong(ch04.check_vq_losses(empty), "returned None", "no `return`")


def test_implement_wrong_type() -> None:
    assert_wrong(ch04.check_vq_losses(3), "expected a function")
    assert_wrong(ch04.check_vq_losses(None), "expected a function")
    assert_wrong(ch04.check_vq_losses(lambda z, e, beta: "loss"), "return a pair")


def test_implement_no_detach() -> None:
    def no_sg(z, e, beta):
        return F.mse_loss(e, z), beta * F.mse_loss(z, e)

    assert_wrong(ch04.check_vq_losses(no_sg), "codebook loss sends a gradient to z")

    def no_sg_e(z, e, beta):
        return F.mse_loss(e, z.detach()), beta * F.mse_loss(z, e)

    assert_wrong(ch04.check_vq_losses(no_sg_e), "commitment loss sends a gradient to e")

    def swapped_detach(z, e, beta):
        return F.mse_loss(e.detach(), z), beta * F.mse_loss(z.detach(), e)

    assert_wrong(ch04.check_vq_losses(swapped_detach), "sends a gradient to z")

    def both_detached(z, e, beta):
        return F.mse_loss(e.detach(), z.detach()), beta * F.mse_loss(z.detach(), e.detach())

    assert_wrong(ch04.check_vq_losses(both_detached), "no gradient at all")


def test_implement_gradient_values_are_compared() -> None:
    """Right values and the right tensor, but half the gradient: caught by the .grad values."""

    def half_detached(z, e, beta):
        d = z.detach() - e
        return (d * d.detach()).mean(), beta * F.mse_loss(z, e.detach())

    assert_wrong(ch04.check_vq_losses(half_detached), "wrong gradient with respect to e", "0.5")

    def half_detached_z(z, e, beta):
        d = z - e.detach()
        return F.mse_loss(e, z.detach()), beta * (d * d.detach()).mean()

    assert_wrong(ch04.check_vq_losses(half_detached_z), "wrong gradient with respect to z")


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

    def beta_on_both(z, e, beta):
        return beta * F.mse_loss(e, z.detach()), beta * F.mse_loss(z, e.detach())

    assert_wrong(ch04.check_vq_losses(beta_on_both), "codebook loss is unweighted")

    def floats(z, e, beta):
        return F.mse_loss(e, z).item(), beta * F.mse_loss(z, e).item()

    assert_wrong(ch04.check_vq_losses(floats), "taking gradients")

    def raises(z, e, beta):
        raise RuntimeError("boom")

    assert_wrong(ch04.check_vq_losses(raises), "raised RuntimeError")


# ----------------------------------------------------------------- choices
@pytest.mark.parametrize(
    "answer",
    [
        "only e moves",
        "  Only E moves ",
        "only e moves.",
        "only the codebook moves",
        "e",
        "'E'",
        "only the codewords move",
    ],
)
def test_beta_zero_right_in_any_form(answer: str) -> None:
    assert_right(ch04.check_beta_zero(answer))


def test_beta_zero_wrong() -> None:
    assert_wrong(ch04.check_beta_zero("only z moves"), "beta weights the commitment loss")
    assert_wrong(ch04.check_beta_zero("z"), "beta weights the commitment loss")
    assert_wrong(ch04.check_beta_zero("only the encoder moves"), "the other way round")
    assert_wrong(ch04.check_beta_zero("both move"), "only feels the commitment loss")
    assert_wrong(ch04.check_beta_zero("neither moves"), "does not weight the codebook loss")
    assert_wrong(ch04.check_beta_zero(None), "does not weight the codebook loss")  # "none"
    assert_wrong(ch04.check_beta_zero("banana"), "not one of the options")
    assert_wrong(ch04.check_beta_zero(3), "not one of the options")
    assert_wrong(ch04.check_beta_zero(...), "no answer yet")


def test_stop_gradient() -> None:
    assert_right(ch04.check_stop_gradient("d"))
    assert_right(ch04.check_stop_gradient("(D)"))
    assert_wrong(ch04.check_stop_gradient("a"), "never reaches the codebook", "straight-through")
    assert_wrong(ch04.check_stop_gradient("b"), "the encoder moves too")
    assert_wrong(ch04.check_stop_gradient("c"), "lookup")
    assert_wrong(ch04.check_stop_gradient("e"), "not one of the options")
    assert_wrong(ch04.check_stop_gradient(None), "not one of the options")
    assert_wrong(ch04.check_stop_gradient(...), "no answer yet")


def test_stop_gradient_right_option_is_not_the_longest() -> None:
    options = options_of("04_vq_losses.ipynb", "ch04-ex-stop-gradient")
    assert set(options) == {"a", "b", "c", "d"}, options
    assert len(options["d"]) < max(len(v) for v in options.values()), options


def test_stop_gradient_claims_hold() -> None:
    """Without sg, z and e get equal and opposite gradients; the lookup passes gradient."""
    z = torch.tensor([[3.0, 1.0]], requires_grad=True)
    codebook = torch.tensor([[1.0, 2.0], [5.0, 5.0]], requires_grad=True)
    e = codebook[torch.tensor([0])]
    gz, gcb = torch.autograd.grad(1.25 * F.mse_loss(z, e), (z, codebook))
    assert torch.equal(gz, -gcb[:1]) and torch.equal(gcb[1], torch.zeros(2))
