"""Tests of the chapter 9 exercise checkers (rvqlib.exercises.ch09)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_asserts import assert_right, assert_wrong

from rvqlib.estimators import rotation_trick
from rvqlib.exercises import ch09
from rvqlib.metrics import code_perplexity
from rvqlib.vq import nearest

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------- stage share
def test_stage_share_answers_are_the_arithmetic() -> None:
    share, thr = ch09.stage_share_answers()
    assert share == pytest.approx(1200 * (0.5 + 0.5 / 8) / 1024)
    assert thr == pytest.approx(share / 10)


def test_stage_share_right_and_rounded() -> None:
    assert_right(ch09.check_stage_share(*ch09.stage_share_answers()))
    assert_right(ch09.check_stage_share(0.659, 0.0659))
    assert_right(ch09.check_stage_share(675 / 1024, np.float64(0.06592)))
    assert_wrong(ch09.check_stage_share(0.66, 0.066), "(a)", "2 significant figures")


@pytest.mark.parametrize(
    ("share", "fragment"),
    [
        (1.17, "dropout out"),
        (0.0732, "only the dropped clips"),
        (0.586, "(N_q - s + 1) / N_q"),
        (675, "number of frames B_s"),
    ],
)
def test_stage_share_slips(share: float, fragment: str) -> None:
    assert_wrong(ch09.check_stage_share(share, 0.0659), fragment)


def test_stage_share_threshold_slips() -> None:
    assert_wrong(ch09.check_stage_share(0.659, 0.659), "(b)", "share itself")
    assert_wrong(ch09.check_stage_share(0.659, 0.117), "(b)", "without the dropout")


def test_stage_share_placeholder_and_wrong_type() -> None:
    assert_wrong(ch09.check_stage_share(..., ...), "no answer yet")
    assert_wrong(ch09.check_stage_share(0.659, ...), "no answer yet")
    assert_wrong(ch09.check_stage_share("0.659", 0.0659), "expected a single number")
    assert_wrong(ch09.check_stage_share(0.659, None), "(b)", "got None")


# ----------------------------------------------------------------- find the bug
def _buggy(z, codebooks, beta=0.25):  # the exercise's function
    residual, zq, losses = z, 0.0, []
    for book in codebooks:
        q = book[nearest(residual.detach(), book)]
        losses.append(beta * F.mse_loss(residual, q))
        out = residual + (q - residual).detach()
        residual = residual - out
        zq = zq + out
    return zq, losses


def _fixed(z, codebooks, beta=0.25):  # the solution
    residual, total, losses = z, torch.zeros_like(z), []
    for book in codebooks:
        q = book[nearest(residual.detach(), book)]
        losses.append(beta * F.mse_loss(residual, q))
        residual = residual - q
        total = total + q
    return z + (total - z).detach(), losses


def test_rvq_forward_right() -> None:
    assert_right(ch09.check_rvq_forward(_fixed))
    assert_right(ch09.check_rvq_forward(partial(ch09.reference_rvq_forward)))

    def stacked(z, codebooks, beta=0.25):  # losses as one tensor is accepted
        zq, losses = _fixed(z, codebooks, beta)
        return zq, torch.stack(losses)

    assert_right(ch09.check_rvq_forward(stacked))


def test_rvq_forward_named_slips() -> None:
    assert_wrong(ch09.check_rvq_forward(_buggy), "issue #25", "stages 2, 3")
    detached = partial(ch09.reference_rvq_forward, order="residual-detached")
    assert_wrong(ch09.check_rvq_forward(detached), "n_q times the identity")
    encodec = partial(ch09.reference_rvq_forward, order="encodec")
    assert_wrong(ch09.check_rvq_forward(encodec), "issue #25")

    def no_beta(z, codebooks, beta=0.25):
        return _fixed(z, codebooks, 1.0)

    assert_wrong(ch09.check_rvq_forward(no_beta), "factor beta")

    def plain_sum(z, codebooks, beta=0.25):
        zq, losses = _fixed(z, codebooks, beta)
        return zq.detach(), losses

    assert_wrong(ch09.check_rvq_forward(plain_sum), "carries no gradient")

    def dead_losses(z, codebooks, beta=0.25):
        zq, _ = _fixed(z, codebooks, beta)
        residual, losses = z.detach(), []
        for book in codebooks:
            q = book[nearest(residual, book)]
            losses.append(beta * F.mse_loss(residual, q))
            residual = residual - q
        return zq, losses

    assert_wrong(ch09.check_rvq_forward(dead_losses), "no loss sends any gradient")

    def wrong_values(z, codebooks, beta=0.25):
        zq, losses = _fixed(z, codebooks, beta)
        return zq + 1.0, losses

    assert_wrong(ch09.check_rvq_forward(wrong_values), "nearest codewords")


def test_rvq_forward_placeholder_and_wrong_type() -> None:
    assert_wrong(ch09.check_rvq_forward(...), "no function yet")
    assert_wrong(ch09.check_rvq_forward(3), "expected a function")
    assert_wrong(ch09.check_rvq_forward(lambda z, c, b: None), "returned None")
    assert_wrong(ch09.check_rvq_forward(lambda z, c, b: z), "return a pair")

    def crash(z, c, b):
        raise RuntimeError("boom")

    assert_wrong(ch09.check_rvq_forward(crash), "raised RuntimeError: boom")


def test_reference_orders_have_the_derived_jacobians() -> None:
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(30, 3, generator=gen, requires_grad=True)
    books = [torch.randn(6, 3, generator=gen) / (2**i) for i in range(3)]
    w = torch.randn(30, 3, generator=gen)
    for order, factor in (("one-estimator", 1), ("residual-detached", 3), ("encodec", 1)):
        zq, losses = ch09.reference_rvq_forward(z, books, order=order)
        (g,) = torch.autograd.grad((zq * w).sum(), z, retain_graph=True)
        assert torch.allclose(g, factor * w)
        later = [torch.autograd.grad(lo, z, retain_graph=True)[0] for lo in losses[1:]]
        assert all((float(x.abs().max()) == 0.0) == (order == "encodec") for x in later)
    with pytest.raises(ValueError, match="order must be"):
        ch09.reference_rvq_forward(z, books, order="fast")


# ----------------------------------------------------------------- rotation by hand
def test_rotation_answer_matches_rotation_trick() -> None:
    z = torch.tensor([ch09.Z_HAND], requires_grad=True)
    rotation_trick(z, torch.tensor([ch09.ZQ_HAND])).backward(torch.tensor([ch09.G_HAND]))
    assert np.allclose(z.grad[0].numpy(), ch09.rotation_answer(), atol=1e-6)
    assert np.allclose(ch09.rotation_answer(), [1.6, -1.2])


def test_rotation_right_and_rounded() -> None:
    assert_right(ch09.check_rotation_by_hand([1.6, -1.2]))
    assert_right(ch09.check_rotation_by_hand(torch.tensor([1.6, -1.2])))
    assert_right(ch09.check_rotation_by_hand((1.60, -1.20)))
    assert_wrong(ch09.check_rotation_by_hand([1.6, -1.3]), "entries differ")


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ([1.0, 0.0], "straight-through gradient"),
        ([1.6, 1.2], "R instead of R^T"),
        ([0.8, -0.6], "forgot the scale"),
        ([0.4, -0.3], "inverted lambda"),
        ([0.8, 0.6], "R (not R^T) and forgot lambda"),
    ],
)
def test_rotation_slips(answer: list[float], fragment: str) -> None:
    assert_wrong(ch09.check_rotation_by_hand(answer), fragment)


def test_rotation_placeholder_and_wrong_type() -> None:
    assert_wrong(ch09.check_rotation_by_hand(...), "no answer yet")
    assert_wrong(ch09.check_rotation_by_hand("1.6, -1.2"), "expected an array")
    assert_wrong(ch09.check_rotation_by_hand([1.6, -1.2, 0.0]), "shape")


# ----------------------------------------------------------------- stage health
def _health(codes, codebook_size):
    usage, ppl = [], []
    for col in np.asarray(codes).T:
        counts = np.bincount(col, minlength=codebook_size)
        p = counts[counts > 0] / counts.sum()
        usage.append((counts > 0).mean())
        ppl.append(np.exp(-(p * np.log(p)).sum()))
    return np.array(usage), np.array(ppl)


def test_stage_health_right() -> None:
    assert_right(ch09.check_stage_health(_health))
    assert_right(
        ch09.check_stage_health(
            lambda c, k: (
                [float((np.bincount(col, minlength=k) > 0).mean()) for col in c.T],
                [code_perplexity(col, k) for col in c.T],
            )
        )
    )


def _entropy(codes, k, base):
    out = []
    for col in codes.T:
        counts = np.bincount(col, minlength=k)
        p = counts[counts > 0] / counts.sum()
        out.append(-(p * np.log(p)).sum() / np.log(base))
    return np.array(out)


@pytest.mark.parametrize(
    ("fn", "fragment"),
    [
        (lambda c, k: (_health(c, k)[0], _entropy(c, k, np.e)), "entropy in nats"),
        (lambda c, k: (_health(c, k)[0], _entropy(c, k, 2)), "entropy in bits"),
        (lambda c, k: (_health(c, k)[0], np.exp(_entropy(c, k, 2))), "2 ** H for bits"),
        (
            lambda c, k: (_health(c, k)[0] * k, _health(c, k)[1]),
            "divide the count by codebook_size",
        ),
        (
            lambda c, k: (
                _health(c, k)[0],
                np.full(c.shape[1], _health(c.reshape(-1, 1), k)[1][0]),
            ),
            "pooled all stages",
        ),
        (lambda c, k: _health(c.T, k), "columns of codes"),
        (lambda c, k: _health(c, k)[0], "return two arrays"),
    ],
)
def test_stage_health_slips(fn, fragment: str) -> None:
    assert_wrong(ch09.check_stage_health(fn), fragment)


def test_stage_health_nan_slip() -> None:
    def with_zeros(codes, k):
        usage, _ = _health(codes, k)
        out = []
        for col in codes.T:
            p = np.bincount(col, minlength=k) / len(col)
            with np.errstate(all="ignore"):
                out.append(np.exp(-(p * np.log(p)).sum()))
        return usage, np.array(out)

    assert_wrong(ch09.check_stage_health(with_zeros), "0 log 0")


def test_stage_health_placeholder_and_wrong_type() -> None:
    assert_wrong(ch09.check_stage_health(...), "no function yet")
    assert_wrong(ch09.check_stage_health("f"), "expected a function")
    assert_wrong(ch09.check_stage_health(lambda c, k: None), "returned None")


# ----------------------------------------------------------------- adam
def test_adam_choice() -> None:
    assert_right(ch09.check_adam_equivalence("b"))
    assert_right(ch09.check_adam_equivalence("(B)"))
    assert_wrong(ch09.check_adam_equivalence("a"), "1/n_q of its weight")
    assert_wrong(ch09.check_adam_equivalence("c"), "mix")
    assert_wrong(ch09.check_adam_equivalence("d"), "EnCodec's order")
    assert_wrong(ch09.check_adam_equivalence(...), "no answer yet")
    assert_wrong(ch09.check_adam_equivalence(7), "not one of the options")
    assert_wrong(ch09.check_adam_equivalence(None), "not one of the options")


def test_options_match_the_notebook() -> None:
    nb = ROOT / "notebooks" / "09_keeping_codes_alive.ipynb"
    text = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"])
    text = text.replace("$\\beta$", "beta").replace("$n_q$", "n_q")  # the math, in words
    for key, option in ch09.ADAM_OPTIONS.items():
        assert f"**{key}** {option}" in text
    lengths = {k: len(v) for k, v in ch09.ADAM_OPTIONS.items()}
    assert lengths["b"] < max(lengths.values())  # the right option is not the longest
