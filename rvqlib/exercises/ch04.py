"""Checkers for the exercises of chapter 4, "The codebook and commitment losses".

One function per exercise, each returning a :class:`~rvqlib.exercises._check.CheckResult`
and never raising, whatever it is passed:

- :func:`check_by_hand` -- the two losses and their gradients for one vector by hand.
- :func:`check_vq_losses` -- implement ``my_vq_losses(z, e, beta)``.
- :func:`check_beta_zero` -- predict what moves when ``beta = 0``.
- :func:`check_stop_gradient` -- explain why the stop-gradient is needed.

The losses follow :class:`rvqlib.nn.VectorQuantizer`: means over all elements
(``torch.nn.functional.mse_loss``), the commitment loss multiplied by ``beta``.
Expected values and gradients are computed here with torch autograd, never typed in.
Numbers worked out by hand are right to 3 significant figures, and the named
slips are recognised with the same tolerance.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rvqlib.exercises._check import (
    CheckResult,
    all_parts,
    as_numpy,
    check_array,
    check_choice,
    check_close,
    check_function,
    is_placeholder,
    never_raises,
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


def _check_vector(value: Any, want: np.ndarray, name: str, slips: dict[str, Any]) -> CheckResult:
    """A hand-worked 2-vector: a list, an array of shape (2,) or (1, 2), or a tensor."""
    got = as_numpy(value) if not is_placeholder(value) else None
    if got is not None and got.size == want.size and np.issubdtype(got.dtype, np.number):
        value = got.reshape(want.shape)
    res = check_array(
        value,
        want,
        name=name,
        sig_figs=3,
        mistakes=slips,
        hint="differentiate the mean over the D = 2 entries",
    )
    if res.ok:
        return CheckResult(True, f"Correct: {name} = {want.tolist()}.")
    return res


@never_raises
def check_by_hand(
    codebook_loss: Any, commitment_loss: Any, grad_e: Any, grad_z: Any
) -> CheckResult:
    """Checker for exercise ``ch04-ex-by-hand``: losses and gradients for one vector.

    All four parts are checked and reported at once. Each number is right
    when it agrees with autograd to 3 significant figures; the common slips
    (the paper's sum over D instead of the mean, a forgotten factor 2 or
    beta, the sign of a gradient, ...) are named with the same tolerance.

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
    if all(is_placeholder(a) for a in answers):
        return wrong("the losses and gradients", "no answer yet", "fill in all four answers")
    cb, cm, g_e, g_z = hand_answers()
    d, beta = len(Z_HAND), BETA_HAND
    sq = float(((Z_HAND - E_HAND) ** 2).sum())
    parts = [
        check_close(
            codebook_loss,
            cb,
            name="the codebook loss",
            mistakes={
                "you summed over the D coordinates instead of averaging": sq,
                "you multiplied by beta: the codebook loss is unweighted": beta * cb,
                "you took the distance, not its square": math.sqrt(sq),
            },
            hint="square each entry of z - e and average over the two entries",
        ),
        check_close(
            commitment_loss,
            cm,
            name="the commitment loss",
            mistakes={
                "you forgot the weight beta": cb,
                "you summed over the D coordinates instead of averaging": beta * sq,
                "you multiplied by beta squared": beta**2 * cb,
            },
            hint="it is beta times the same mean squared distance",
        ),
        _check_vector(
            grad_e,
            g_e,
            "the gradient with respect to e",
            {
                "you got the sign wrong: the loss grows as e moves away from z": -g_e,
                "you forgot to divide by D (you differentiated the sum)": d * g_e,
                "you forgot the factor 2 from the square": g_e / 2,
                "you multiplied by beta: the codebook loss is unweighted": beta * g_e,
            },
        ),
        _check_vector(
            grad_z,
            g_z,
            "the gradient with respect to z",
            {
                "you got the sign wrong: the loss grows as z moves away from e": -g_z,
                "you forgot to divide by D (you differentiated the sum)": d * g_z,
                "you forgot the weight beta": g_z / beta,
                "you forgot the factor 2 from the square": g_z / 2,
            },
        ),
    ]
    if parts[0].ok:
        parts[0] = right("the codebook loss", f"= {cb:g}")
    if parts[1].ok:
        parts[1] = right("the commitment loss", f"= {cm:g}")
    result = all_parts(parts, "the losses and gradients")
    if result.ok:
        return CheckResult(True, result.message + "\n(autograd agrees with all four)")
    return result


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


def _gradient_verdict(fn: Any, name: str) -> CheckResult | None:
    """Back-propagate the reader's losses; None when every gradient matches autograd's."""
    for z0, e0, beta in _cases():
        z, e = z0.clone().requires_grad_(True), e0.clone().requires_grad_(True)
        zr, er = z0.clone().requires_grad_(True), e0.clone().requires_grad_(True)
        cb_ref, cm_ref = reference_vq_losses(zr, er, beta)
        want_cb = torch.autograd.grad(cb_ref, er)[0]
        want_cm = torch.autograd.grad(cm_ref, zr)[0]
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
        for what, got, want, tensor in (
            ("codebook loss", g_cb[1], want_cb, "e"),
            ("commitment loss", g_cm[0], want_cm, "z"),
        ):
            if got.shape != want.shape or not torch.allclose(
                got.to(want.dtype), want, rtol=1e-6, atol=1e-12
            ):
                ratio = float((got.to(want.dtype) * want).sum() / (want * want).sum())
                return wrong(
                    name,
                    f"the {what} has the right value but the wrong gradient with respect to "
                    f"{tensor} (about {ratio:.3g} times autograd's of the reference): "
                    f"part of it is detached or computed from the values only",
                    "write each loss as one expression of z and e with a single .detach()",
                )
    return None


@never_raises
def check_vq_losses(fn: Any) -> CheckResult:
    """Checker for exercise ``ch04-ex-implement``: ``my_vq_losses(z, e, beta)``.

    The reader's function takes encoder outputs ``z`` and their codewords ``e``
    (torch tensors of shape ``(N, D)``) and the weight ``beta`` and returns
    ``(codebook_loss, commitment_loss)``. The checker compares the values with
    :func:`reference_vq_losses` on several cases and then, with autograd, the
    gradients: the codebook loss must send to ``e`` (and only to ``e``) the
    gradient of the reference, the commitment loss likewise to ``z``.

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
    bad = _gradient_verdict(fn, name)
    if bad is not None:
        return bad
    return right(name, "(values and gradients match autograd on all 3 cases)")


_BETA_ZERO_OPTIONS = ("only e moves", "only z moves", "both move", "neither moves")
_BETA_ZERO_ALIASES = {
    "e": "only e moves",
    "only e": "only e moves",
    "e moves": "only e moves",
    "e only": "only e moves",
    "only e moves, z stays": "only e moves",
    "only the codebook moves": "only e moves",
    "only the codebook": "only e moves",
    "the codebook": "only e moves",
    "codebook": "only e moves",
    "only the codewords move": "only e moves",
    "the codewords": "only e moves",
    "codewords": "only e moves",
    "z": "only z moves",
    "only z": "only z moves",
    "z moves": "only z moves",
    "only the encoder moves": "only z moves",
    "only the encoder": "only z moves",
    "the encoder": "only z moves",
    "encoder": "only z moves",
    "both": "both move",
    "e and z": "both move",
    "z and e": "both move",
    "neither": "neither moves",
    "nothing moves": "neither moves",
    "nothing": "neither moves",
    "none": "neither moves",
}


@never_raises
def check_beta_zero(choice: Any) -> CheckResult:
    """Checker for exercise ``ch04-ex-beta-zero``: what moves when ``beta = 0``.

    The game is played without the decoder (the two VQ losses only).

    Parameters
    ----------
    choice : str
        One of ``"only e moves"`` (also ``"e"``, ``"only the codebook moves"``,
        ...), ``"only z moves"``, ``"both move"``, ``"neither moves"``.

    Returns
    -------
    CheckResult
    """
    return check_choice(
        choice,
        "only e moves",
        name="what moves when beta = 0 (no decoder)",
        options=_BETA_ZERO_OPTIONS,
        aliases=_BETA_ZERO_ALIASES,
        explanations={
            "only e moves": "the codebook loss still pulls each codeword toward the mean of "
            "its encoder outputs, while the commitment term, and with it every gradient the "
            "VQ losses send to the encoder, is multiplied by zero",
            "only z moves": "that is the other way round: beta weights the commitment loss, "
            "which is the encoder's pull; with beta = 0 the encoder gets nothing",
            "both move": "without the decoder the encoder only feels the commitment loss, "
            "which beta = 0 switches off; the stop-gradient keeps the codebook loss from "
            "reaching it (with the decoder, the reconstruction would move it)",
            "neither moves": "beta does not weight the codebook loss, so the codewords still "
            "move toward the encoder outputs",
        },
    )


_SG_OPTIONS = ("a", "b", "c", "d")


@never_raises
def check_stop_gradient(choice: Any) -> CheckResult:
    """Checker for exercise ``ch04-ex-stop-gradient``: why the stop-gradient is needed.

    Parameters
    ----------
    choice : str
        One of ``"a"``, ``"b"``, ``"c"``, ``"d"`` (the options are stated in
        the chapter's exercise).

    Returns
    -------
    CheckResult
    """
    return check_choice(
        choice,
        "d",
        name="why the stop-gradient is needed",
        options=_SG_OPTIONS,
        explanations={
            "a": "the reconstruction never reaches the codebook, with or without these "
            "stop-gradients: z_q = z + sg[e - z] has no path to e; that is the "
            "straight-through estimator's own stop-gradient",
            "b": "without sg the sum is (1 + beta) ||z - e||^2, a function of both tensors, so "
            "autograd sends both the same pull (opposite signs): the encoder moves too",
            "c": "neither loss differentiates the index k*: e = codebook[k*] is a lookup, "
            "and the gradient reaches the selected rows whether or not sg is used",
            "d": "without sg, (1 + beta) ||z - e||^2 pulls z and e equally hard; with it the "
            "codebook follows the data at full strength while beta alone sets how firmly the "
            "encoder is held",
        },
    )
