"""Checkers for the exercises of chapter 4, "The codebook and commitment losses".

One function per exercise, each returning a :class:`~rvqlib.exercises._check.CheckResult`:

- :func:`check_by_hand` -- the two losses and their gradients for one vector by hand.
- :func:`check_vq_losses` -- implement ``my_vq_losses(z, e, beta)``.
- :func:`check_beta_zero` -- predict what moves when ``beta = 0``.
- :func:`check_stop_gradient` -- explain why the stop-gradient is needed.

The losses follow :class:`rvqlib.nn.VectorQuantizer`: means over all elements
(``torch.nn.functional.mse_loss``), the commitment loss multiplied by ``beta``.
Expected values and gradients are computed here with torch autograd, never typed in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rvqlib.exercises._check import (
    CheckResult,
    as_numpy,
    check_array,
    check_choice,
    check_close,
    check_function,
    is_placeholder,
    right,
    wrong,
)

__all__ = [
    "BETA_HAND",
    "E_HAND",
    "Z_HAND",
    "check_beta_zero",
    "check_by_hand",
    "check_stop_gradient",
    "check_vq_losses",
    "hand_answers",
    "reference_vq_losses",
]

#: The encoder output of the by-hand exercise (one 2-D vector).
Z_HAND: np.ndarray = np.array([3.0, 1.0])
#: The codeword it is quantized to in the by-hand exercise.
E_HAND: np.ndarray = np.array([1.0, 2.0])
#: The commitment weight of the by-hand exercise (VQ-VAE's value).
BETA_HAND: float = 0.25


def reference_vq_losses(
    z: torch.Tensor, e: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The codebook and commitment losses, as the exercises define them.

    Parameters
    ----------
    z : torch.Tensor, shape (N, D)
        Encoder outputs.
    e : torch.Tensor, shape (N, D)
        The codewords they are quantized to (``codebook[k*]``, one row per vector).
    beta : float
        Commitment weight.

    Returns
    -------
    codebook_loss : torch.Tensor
        ``mean((sg[z] - e)**2)``: a gradient reaches ``e`` only.
    commitment_loss : torch.Tensor
        ``beta * mean((z - sg[e])**2)``: a gradient reaches ``z`` only.
    """
    return F.mse_loss(e, z.detach()), beta * F.mse_loss(z, e.detach())


def hand_answers() -> tuple[float, float, np.ndarray, np.ndarray]:
    """The right answers of the by-hand exercise, computed with autograd.

    Returns
    -------
    codebook_loss, commitment_loss : float
        The two losses for :data:`Z_HAND`, :data:`E_HAND`, :data:`BETA_HAND`.
    grad_e : numpy.ndarray, shape (2,)
        Gradient of the codebook loss with respect to the codeword.
    grad_z : numpy.ndarray, shape (2,)
        Gradient of the commitment loss with respect to the encoder output.
    """
    z = torch.tensor(Z_HAND[None], requires_grad=True)
    e = torch.tensor(E_HAND[None], requires_grad=True)
    cb, cm = reference_vq_losses(z, e, BETA_HAND)
    (g_e,) = torch.autograd.grad(cb, e)
    (g_z,) = torch.autograd.grad(cm, z)
    return float(cb.detach()), float(cm.detach()), g_e[0].numpy(), g_z[0].numpy()


def _check_vector(
    value: Any, want: np.ndarray, name: str, slips: dict[str, np.ndarray]
) -> CheckResult:
    if is_placeholder(value):
        return wrong(name, "no answer yet", "fill in all four answers")
    got = as_numpy(value)
    if got is not None and got.size == want.size and np.issubdtype(got.dtype, np.number):
        got = got.reshape(want.shape).astype(float)
        if not np.allclose(got, want):
            for slip, bad in slips.items():
                if np.allclose(got, bad):
                    return wrong(name, f"{got.tolist()} is what you get if {slip}", None)
        value = got
    return check_array(value, want, name=name, hint="differentiate the mean over the D = 2 entries")


def check_by_hand(
    codebook_loss: Any, commitment_loss: Any, grad_e: Any, grad_z: Any
) -> CheckResult:
    """Checker for exercise ``ch04-ex-by-hand``: losses and gradients for one vector.

    Parameters
    ----------
    codebook_loss, commitment_loss : float
        The two losses for ``z =`` :data:`Z_HAND`, ``e =`` :data:`E_HAND` and
        ``beta =`` :data:`BETA_HAND`, as means over the ``D = 2`` entries.
    grad_e : array_like, shape (2,)
        Gradient of the codebook loss with respect to ``e``.
    grad_z : array_like, shape (2,)
        Gradient of the commitment loss with respect to ``z``.

    Returns
    -------
    CheckResult
    """
    answers = (codebook_loss, commitment_loss, grad_e, grad_z)
    if any(is_placeholder(a) for a in answers):
        return wrong("the losses and gradients", "no answer yet", "fill in all four answers")
    cb, cm, g_e, g_z = hand_answers()
    d, beta = len(Z_HAND), BETA_HAND
    sq = float(((Z_HAND - E_HAND) ** 2).sum())
    res = check_close(
        codebook_loss,
        cb,
        name="the codebook loss",
        mistakes={"you summed over the D coordinates instead of averaging": sq},
        hint="square each entry of z - e and average over the two entries",
    )
    if not res:
        return res
    res = check_close(
        commitment_loss,
        cm,
        name="the commitment loss",
        mistakes={
            "you forgot the weight beta": cb,
            "you summed over the D coordinates instead of averaging": beta * sq,
            "you multiplied by beta squared": beta**2 * cb,
        },
        hint="it is beta times the same mean squared distance",
    )
    if not res:
        return res
    res = _check_vector(
        grad_e,
        g_e,
        "the gradient with respect to e",
        {
            "you got the sign wrong: the loss grows as e moves away from z": -g_e,
            "you forgot to divide by D (you differentiated the sum)": d * g_e,
            "you forgot the factor 2 from the square": g_e / 2,
            "you multiplied by beta: the codebook loss is unweighted": beta * g_e,
        },
    )
    if not res:
        return res
    res = _check_vector(
        grad_z,
        g_z,
        "the gradient with respect to z",
        {
            "you got the sign wrong: the loss grows as z moves away from e": -g_z,
            "you forgot to divide by D (you differentiated the sum)": d * g_z,
            "you forgot the weight beta": g_z / beta,
            "you forgot the factor 2 from the square": g_z / 2,
        },
    )
    if not res:
        return res
    return right("the losses and gradients", "(autograd agrees)")


def _cases() -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    g = torch.Generator().manual_seed(4)
    cases = [
        (torch.tensor(Z_HAND[None]), torch.tensor(E_HAND[None]), BETA_HAND),
        (torch.randn(5, 3, generator=g, dtype=torch.float64), None, 1.0),
        (torch.randn(8, 2, generator=g, dtype=torch.float64), None, 4.0),
    ]
    out = []
    for z, e, beta in cases:
        if e is None:
            e = torch.randn(z.shape, generator=g, dtype=torch.float64)
        out.append((z, e, beta))
    return out


def _pair(got: Any) -> tuple[float, float] | None:
    try:
        a, b = (v.detach() if isinstance(v, torch.Tensor) else v for v in got)
        fa, fb = float(a), float(b)
    except Exception:
        return None
    return fa, fb


def check_vq_losses(fn: Any) -> CheckResult:
    """Checker for exercise ``ch04-ex-implement``: ``my_vq_losses(z, e, beta)``.

    The reader's function takes encoder outputs ``z`` and their codewords ``e``
    (torch tensors of shape ``(N, D)``) and the weight ``beta`` and returns
    ``(codebook_loss, commitment_loss)``. The checker compares the values with
    :func:`reference_vq_losses` and then checks, with autograd, that the
    codebook loss sends gradient to ``e`` only and the commitment loss to ``z`` only.

    Parameters
    ----------
    fn : callable
        The reader's ``my_vq_losses``.

    Returns
    -------
    CheckResult
    """
    name = "my_vq_losses"
    cases = [
        ((z, e, b), tuple(float(v) for v in reference_vq_losses(z, e, b))) for z, e, b in _cases()
    ]

    def compare(got: Any, want: Any) -> bool:
        pair = _pair(got)
        return pair is not None and all(
            math.isclose(g, w, rel_tol=1e-6) for g, w in zip(pair, want, strict=True)
        )

    def diagnose(args: tuple[Any, ...], got: Any, want: Any) -> str | None:
        z, e, beta = args
        pair = _pair(got)
        if pair is None:
            return "return a pair (codebook_loss, commitment_loss) of scalar tensors"
        d = z.shape[-1]
        if all(math.isclose(g, w * d, rel_tol=1e-6) for g, w in zip(pair, want, strict=True)):
            return "you summed over the D coordinates; take the mean over all entries"
        if math.isclose(pair[0], want[1], rel_tol=1e-6) and math.isclose(pair[1], want[0]):
            return "the two losses are swapped: beta weights the commitment loss"
        if math.isclose(pair[1], want[0], rel_tol=1e-6):
            return "the commitment loss is missing the weight beta"
        if math.isclose(pair[0], want[1], rel_tol=1e-6):
            return "beta belongs to the commitment loss only; the codebook loss is unweighted"
        return None

    res = check_function(
        fn,
        cases,
        name=name,
        compare=compare,
        diagnose=diagnose,
        hint="use F.mse_loss and .detach()",
    )
    if not res:
        return res
    for z0, e0, beta in _cases()[1:]:
        z, e = z0.clone().requires_grad_(True), e0.clone().requires_grad_(True)
        try:
            cb, cm = fn(z, e, beta)
            if not all(isinstance(t, torch.Tensor) for t in (cb, cm)):
                raise TypeError("a loss is not a torch tensor")
            if not (cb.requires_grad and cm.requires_grad):
                return wrong(
                    name,
                    "a loss carries no gradient at all: you detached the wrong tensor",
                    "detach z in the codebook loss and e in the commitment loss",
                )
            g_cb = torch.autograd.grad(cb, (z, e), allow_unused=True)
            g_cm = torch.autograd.grad(cm, (z, e), allow_unused=True)
        except Exception as exc:
            return wrong(
                name,
                f"taking gradients of your losses failed ({type(exc).__name__}: {exc})",
                "return torch tensors computed from z and e, not Python floats",
            )

        def nonzero(g: torch.Tensor | None) -> bool:
            return g is not None and bool(g.abs().max() > 0)

        if nonzero(g_cb[0]):
            return wrong(
                name,
                "the codebook loss sends a gradient to z; it must train only the codebook",
                "stop the gradient into z with z.detach() (sg[z])",
            )
        if nonzero(g_cm[1]):
            return wrong(
                name,
                "the commitment loss sends a gradient to e; it must train only the encoder",
                "stop the gradient into e with e.detach() (sg[e])",
            )
        if not nonzero(g_cb[1]) or not nonzero(g_cm[0]):
            return wrong(
                name,
                "a loss carries no gradient at all: you detached the wrong tensor",
                "detach z in the codebook loss and e in the commitment loss",
            )
    return right(name, "(values and gradients match)")


_BETA_ZERO_OPTIONS = ("only e moves", "only z moves", "both move", "neither moves")


def check_beta_zero(choice: Any) -> CheckResult:
    """Checker for exercise ``ch04-ex-beta-zero``: what moves when ``beta = 0``.

    Parameters
    ----------
    choice : str
        One of ``"only e moves"``, ``"only z moves"``, ``"both move"``,
        ``"neither moves"``.

    Returns
    -------
    CheckResult
    """
    return check_choice(
        choice,
        "only e moves",
        name="what moves when beta = 0",
        options=_BETA_ZERO_OPTIONS,
        explanations={
            "only e moves": "the codebook loss still pulls each codeword toward the mean of "
            "its encoder outputs, while the commitment term, and with it every gradient the "
            "VQ losses send to the encoder, is multiplied by zero",
            "only z moves": "that is the other way round: beta weights the commitment loss, "
            "which is the encoder's pull; with beta = 0 the encoder gets nothing",
            "both move": "the encoder only feels the commitment loss, which beta = 0 switches "
            "off; the stop-gradient keeps the codebook loss from reaching it",
            "neither moves": "beta does not weight the codebook loss, so the codewords still "
            "move toward the encoder outputs",
        },
    )


_SG_OPTIONS = ("a", "b", "c", "d")


def check_stop_gradient(choice: Any) -> CheckResult:
    """Checker for exercise ``ch04-ex-stop-gradient``: why the stop-gradient is needed.

    Parameters
    ----------
    choice : str
        One of ``"a"``, ``"b"``, ``"c"``, ``"d"``.

    Returns
    -------
    CheckResult
    """
    return check_choice(
        choice,
        "b",
        name="why the stop-gradient is needed",
        options=_SG_OPTIONS,
        explanations={
            "a": "the nearest-neighbour search is never differentiated by either loss: the "
            "index k* is an integer; getting a gradient past it is the straight-through "
            "trick's job (chapter 8), not the stop-gradient's",
            "b": "without sg both terms are the same function of z and e, so their sum is "
            "(1 + beta) ||z - e||^2 and pulls z and e with equal strength; the stop-gradient "
            "splits it so the codebook can move fast while beta sets how hard the encoder "
            "is held",
            "c": "the stop-gradient does not change any loss value in the forward pass, only "
            "which tensors receive gradients",
            "d": "detach costs nothing and saves nothing noticeable in the forward pass; it "
            "changes only the backward pass",
        },
    )
