"""Checkers for the exercises of chapter 8, "The straight-through estimator, and a tiny codec".

One function per exercise, each returning a :class:`~rvqlib.exercises._check.CheckResult`:

- :func:`check_by_hand` -- forward value and gradient of the estimator for a tiny example.
- :func:`check_straight_through` -- implement ``my_straight_through(z, zq)``.
- :func:`check_no_ste_gradient` -- predict what gradient ``z`` gets without the estimator.
- :func:`check_bias` -- explain what is biased about the estimator.

Expected values are computed here with :func:`rvqlib.nn.straight_through`,
:func:`rvqlib.vq.quantize` and torch autograd, never typed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rvqlib.exercises._check import (
    CheckResult,
    as_numpy,
    check_array,
    check_choice,
    check_function,
    is_placeholder,
    right,
    wrong,
)
from rvqlib.nn import straight_through
from rvqlib.vq import quantize

__all__ = [
    "CODEBOOK_HAND",
    "TARGET_HAND",
    "Z_HAND",
    "check_bias",
    "check_by_hand",
    "check_no_ste_gradient",
    "check_straight_through",
    "hand_answers",
]

#: The two scalar encoder outputs of the by-hand exercise.
Z_HAND: np.ndarray = np.array([0.3, 1.7])
#: The 1-D codebook of the by-hand exercise (three codewords).
CODEBOOK_HAND: np.ndarray = np.array([0.0, 1.0, 2.0])
#: The target of the loss ``L = sum((out - t)**2)`` in the by-hand exercise.
TARGET_HAND: np.ndarray = np.array([1.0, 1.0])


def hand_answers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The by-hand exercise solved with rvqlib and autograd.

    Returns
    -------
    forward : numpy.ndarray
        The value of ``straight_through(z, z_q)``: the quantized ``z_q``.
    grad : numpy.ndarray
        ``dL/dz`` through the estimator for ``L = sum((out - t)**2)``: ``2 (z_q - t)``.
    grad_at_z : numpy.ndarray
        The gradient of the same loss at the unquantized ``z``: ``2 (z - t)``
        (what the estimator does *not* pass).
    """
    z = torch.tensor(Z_HAND, requires_grad=True)
    zq = quantize(z.detach()[:, None], torch.tensor(CODEBOOK_HAND)[:, None])[1][:, 0]
    out = straight_through(z, zq)
    ((out - torch.tensor(TARGET_HAND)) ** 2).sum().backward()
    assert z.grad is not None
    grad_at_z = 2 * (Z_HAND - TARGET_HAND)
    return out.detach().numpy(), z.grad.numpy(), grad_at_z


def check_by_hand(forward: Any, grad: Any) -> CheckResult:
    """Exercise "The estimator by hand": the forward value and ``dL/dz``.

    Parameters
    ----------
    forward : array-like
        The reader's value of ``straight_through(z, z_q)`` for :data:`Z_HAND`.
    grad : array-like
        The reader's gradient ``dL/dz`` for ``L = sum((out - t)**2)``.

    Returns
    -------
    CheckResult
    """
    name = "the forward value and the gradient"
    if is_placeholder(forward) or is_placeholder(grad):
        return wrong(name, "no answer yet", "replace the ... with two arrays of two numbers")
    want_fwd, want_grad, grad_at_z = hand_answers()
    f, g = as_numpy(forward), as_numpy(grad)
    if f is not None and f.shape == Z_HAND.shape and np.allclose(f, Z_HAND):
        return wrong(name, "the forward value is z itself; the estimator's value is z_q")
    res = check_array(forward, want_fwd, name="the forward value")
    if not res:
        return res
    if g is not None and g.shape == Z_HAND.shape:
        if np.allclose(g, grad_at_z):
            return wrong(
                name,
                "that is the gradient at z; the loss is evaluated at z_q, so it is 2 (z_q - t)",
            )
        if np.allclose(g, 0.0):
            return wrong(name, "a zero gradient is what argmin gives without the estimator")
        if np.allclose(2 * g, want_grad):
            return wrong(
                name,
                "that is half the gradient: the derivative of (out - t)**2 is 2 (out - t)",
            )
        if np.allclose(g, 1.0):
            return wrong(name, "d out/dz = 1, but you still need dL/d out = 2 (out - t)")
    res = check_array(grad, want_grad, name="the gradient dL/dz")
    if not res:
        return res
    return right(name, f"forward {want_fwd.tolist()}, gradient {want_grad.tolist()}")


def _cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(8)
    z1 = torch.randn(5, 3, generator=gen)
    return [
        (torch.tensor([0.3, 1.7]), torch.tensor([0.0, 2.0])),
        (z1, torch.round(z1 * 2) / 2),
        (torch.tensor([[-1.25]]), torch.tensor([[-1.0]])),
    ]


def check_straight_through(fn: Any) -> CheckResult:
    """Exercise "Implement the estimator": ``my_straight_through(z, zq)``.

    The function must return a tensor equal to ``zq`` whose gradient with
    respect to ``z`` is the identity and which sends no gradient to ``zq``.

    Parameters
    ----------
    fn : callable
        The reader's ``my_straight_through(z, zq)``.

    Returns
    -------
    CheckResult
        A wrong implementation is told whether the value or the gradient is wrong.
    """
    name = "my_straight_through"
    if callable(fn):
        try:
            if is_placeholder(fn(*_cases()[0])):
                return wrong(name, "no answer yet", "return z + (something detached)")
        except Exception:  # the reader's code may raise anything; check_function reports it
            pass
    cases = [((z, zq), straight_through(z, zq)) for z, zq in _cases()]

    def same(got: Any, want: Any) -> bool:
        return (
            isinstance(got, torch.Tensor)
            and got.shape == want.shape
            and torch.allclose(got.detach().to(want.dtype), want, atol=1e-6)
        )

    def diagnose(args: tuple[Any, ...], got: Any, want: Any) -> str | None:
        if not isinstance(got, torch.Tensor):
            return "return a torch tensor (use torch operations and .detach())"
        if torch.allclose(got.detach().to(args[0].dtype), args[0]):
            return "you returned z's value; the forward value must be zq"
        return None

    res = check_function(
        fn, cases, name=name, compare=same, diagnose=diagnose, hint="value zq, gradient identity"
    )
    if not res:
        return res
    for z0, zq0 in _cases():
        z = z0.clone().requires_grad_(True)
        zq = zq0.clone().requires_grad_(True)
        weights = torch.arange(1, z.numel() + 1, dtype=z.dtype).reshape(z.shape)
        out = fn(z, zq)
        if not out.requires_grad:
            return wrong(name, "no gradient flows back through your result: did you detach it all?")
        (weights * out).sum().backward()
        if z.grad is None or torch.allclose(z.grad, torch.zeros_like(z)):
            what = "z gets no gradient"
            if zq.grad is not None and torch.allclose(zq.grad, weights):
                what += " (it goes to zq instead: detach the other term)"
            return wrong(name, what, "write z + (zq - z).detach()")
        if not torch.allclose(z.grad, weights):
            return wrong(name, "the gradient with respect to z is not the identity")
        if zq.grad is not None and not torch.allclose(zq.grad, torch.zeros_like(zq)):
            return wrong(name, "a gradient also reaches zq; only z should receive it")
    return right(name, "(value zq, identity gradient to z, none to zq)")


NO_STE_OPTIONS = ("None", "zeros", "ones", "the gradient at z_q")


def check_no_ste_gradient(answer: Any) -> CheckResult:
    """Exercise "Predict: no estimator": what is ``z.grad`` after ``backward``?

    Parameters
    ----------
    answer : str
        One of :data:`NO_STE_OPTIONS`.

    Returns
    -------
    CheckResult
    """
    return check_choice(
        answer,
        "None",
        name="z.grad without the estimator",
        options=NO_STE_OPTIONS,
        explanations={
            "None": "argmin returns integers, so the graph from the loss back to z is cut; "
            "autograd never visits z and leaves its .grad as None",
            "zeros": "autograd does not fill in zeros: z is simply not on any path from the loss",
            "ones": "that is the straight-through estimator's d out/dz, not what plain "
            "indexing gives",
            "the gradient at z_q": "only the estimator copies that gradient to z",
        },
    )


BIAS_OPTIONS = ("a", "b", "c", "d")


def check_bias(answer: Any) -> CheckResult:
    """Exercise "What is biased about it?": multiple choice.

    Options: (a) the loss is evaluated at z_q, so z receives the gradient at z_q,
    not the gradient of a smooth function at z; (b) the forward value is z, not
    z_q; (c) the gradient is always zero; (d) it makes the codebook's gradient wrong.

    Parameters
    ----------
    answer : str
        ``"a"``, ``"b"``, ``"c"`` or ``"d"``.

    Returns
    -------
    CheckResult
    """
    return check_choice(
        answer,
        "a",
        name="what is biased about the straight-through estimator",
        options=BIAS_OPTIONS,
        explanations={
            "a": "the estimator pretends dz_q/dz = I, so z receives dL/dz_q, the slope at "
            "the codeword; it differs from the slope at z by as much as the quantization error",
            "b": "no: the forward value is exactly z_q (the decoder sees the quantized vector)",
            "c": "no: that is argmin without the estimator; the estimator passes dL/dz_q",
            "d": "no: the codebook is trained by its own loss or by EMA, not through the estimator",
        },
    )
