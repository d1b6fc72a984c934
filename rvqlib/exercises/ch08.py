"""Checkers for the exercises of chapter 8, "The straight-through estimator, and a tiny codec".

One function per exercise, each returning a :class:`~rvqlib.exercises._check.CheckResult`:

- :func:`check_by_hand` -- forward value and gradient of the estimator for a tiny example.
- :func:`check_straight_through` -- implement ``my_straight_through(z, zq)``.
- :func:`check_no_ste_gradient` -- predict what gradient ``z`` gets without the estimator.
- :func:`check_bias` -- explain what is biased about the estimator.
- :func:`check_stream_bytes` -- the size of a packed code file, by hand.

Expected values are computed here with :func:`rvqlib.nn.straight_through`,
:func:`rvqlib.vq.quantize`, torch autograd and :func:`rvqlib.bitstream.packed_size`,
never typed in. Every checker is wrapped in
:func:`~rvqlib.exercises._check.never_raises`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from rvqlib.bitstream import HEADER_BYTES, packed_size
from rvqlib.exercises._check import (
    CheckResult,
    check_array,
    check_choice,
    check_close,
    check_function,
    is_placeholder,
    never_raises,
    right,
    wrong,
)
from rvqlib.nn import straight_through
from rvqlib.vq import quantize

__all__ = [
    "CODEBOOK_HAND",
    "STREAM_CONFIG",
    "TARGET_HAND",
    "Z_HAND",
    "check_bias",
    "check_by_hand",
    "check_no_ste_gradient",
    "check_stream_bytes",
    "check_straight_through",
    "hand_answers",
    "stream_bytes",
]

#: The two scalar encoder outputs of the by-hand exercise.
Z_HAND: np.ndarray = np.array([0.3, 1.7])
#: The 1-D codebook of the by-hand exercise (three codewords whose values are not
#: their indices 0, 1, 2, so that a confusion of the two shows).
CODEBOOK_HAND: np.ndarray = np.array([-1.0, 0.5, 2.0])
#: The target of the loss ``L = sum((out - t)**2)`` in the by-hand exercise.
TARGET_HAND: np.ndarray = np.array([1.0, 1.0])


def _hand_indices() -> np.ndarray:
    return quantize(Z_HAND[:, None], CODEBOOK_HAND[:, None])[0]


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


@never_raises
def check_by_hand(forward: Any, grad: Any) -> CheckResult:
    """Exercise "The estimator by hand": the forward value and ``dL/dz``.

    Both are checked to 3 significant figures; the common slips are named: the
    indices given instead of the codewords, ``z`` itself as the forward value,
    the gradient at ``z``, half the gradient, zero or one as the gradient, and
    the gradient computed from the indices.

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
    idx = _hand_indices().astype(float)
    res = check_array(
        forward,
        want_fwd,
        name="the forward value",
        sig_figs=3,
        mistakes={
            "you gave the indices of the nearest codewords, not the codewords themselves": idx,
            "you took z itself; the estimator's forward value is z_q": Z_HAND,
        },
    )
    if not res:
        return res
    res = check_array(
        grad,
        want_grad,
        name="the gradient dL/dz",
        sig_figs=3,
        mistakes={
            "you took the gradient at z; the loss is evaluated at z_q, so it is 2 (z_q - t)": (
                grad_at_z
            ),
            "you left out the factor 2: the derivative of (out - t)**2 is 2 (out - t)": (
                want_grad / 2
            ),
            "you used the indices as the forward value: use the codewords z_q": 2
            * (idx - TARGET_HAND),
            "a zero gradient is what argmin gives without the estimator": np.zeros(2),
            "d out/dz = 1, but you still need dL/d out = 2 (out - t)": np.ones(2),
        },
    )
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


@never_raises
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
            and torch.allclose(got.detach().to(want.dtype), want, rtol=1e-5, atol=1e-6)
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
        if not torch.allclose(z.grad.to(weights.dtype), weights, rtol=1e-5, atol=1e-6):
            return wrong(name, "the gradient with respect to z is not the identity")
        if zq.grad is not None and not torch.allclose(zq.grad, torch.zeros_like(zq)):
            return wrong(name, "a gradient also reaches zq; only z should receive it")
    return right(name, "(value zq, identity gradient to z, none to zq)")


NO_STE_OPTIONS = ("None", "zeros", "ones", "the gradient at z_q")


@never_raises
def check_no_ste_gradient(answer: Any) -> CheckResult:
    """Exercise "Predict: no estimator": what is ``z.grad`` after ``backward``?

    Python's ``None`` (what ``z.grad`` literally is) counts as the answer ``"None"``.

    Parameters
    ----------
    answer : str or None
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
        aliases={"zero": "zeros", "0": "zeros", "one": "ones", "1": "ones", "no gradient": "None"},
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


@never_raises
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
            "the codeword; it differs from the slope at z by about the curvature of L times the "
            "quantization error (twice the error for a squared loss)",
            "b": "no: the forward value is exactly z_q (the decoder sees the quantized vector)",
            "c": "no: that is argmin without the estimator; the estimator passes dL/dz_q",
            "d": "no: the codebook is trained by its own loss or by EMA, not through the estimator",
        },
    )


#: Exercise ch08-ex-bytes: a clip coded by a codec like chapter 8's and packed with
#: :func:`rvqlib.bitstream.pack_codes`.
STREAM_CONFIG: dict[str, float] = {
    "seconds": 2.5,
    "sample_rate": 16_000,
    "hop": 128,
    "n_q": 3,
    "codebook_size": 256,
}


def stream_bytes() -> int:
    """Bytes of the file of exercise ch08-ex-bytes: header plus fixed-width codes.

    The clip is zero-padded to a whole number of frames, ``ceil(seconds *
    sample_rate / hop)``; each frame holds ``n_q`` codes of ``log2 K`` bits.

    Returns
    -------
    int
    """
    c = STREAM_CONFIG
    frames = math.ceil(c["seconds"] * c["sample_rate"] / c["hop"])
    return packed_size(frames, int(c["n_q"]), int(c["codebook_size"]))


@never_raises
def check_stream_bytes(answer: Any) -> CheckResult:
    """Exercise "How big is the file?": the size in bytes of a packed code stream.

    Parameters
    ----------
    answer : int
        The reader's number of bytes (an exact count).

    Returns
    -------
    CheckResult
        Names the slips: no header, bits instead of bytes, frames rounded down,
        the nominal bitrate times the duration (half a frame short), rounded
        either way, with or without the header.
    """
    c = STREAM_CONFIG
    want = stream_bytes()
    bits = math.log2(c["codebook_size"])
    exact_frames = c["seconds"] * c["sample_rate"] / c["hop"]
    frames = math.ceil(exact_frames)
    payload_bits = frames * c["n_q"] * bits
    mistakes = {
        f"you left out the {HEADER_BYTES}-byte header": payload_bits / 8,
        "you counted bits, not bytes (divide the payload by 8)": payload_bits + HEADER_BYTES,
        "you rounded the frames down; the clip is padded to a whole frame": (
            math.floor(exact_frames) * c["n_q"] * bits / 8 + HEADER_BYTES
        ),
        "you used K instead of log2 K bits per code": (
            frames * c["n_q"] * c["codebook_size"] / 8 + HEADER_BYTES
        ),
    }
    # the nominal bitrate times the duration is a fraction of a byte: name it
    # rounded either way too, with and without the header
    nominal = exact_frames * c["n_q"] * bits / 8
    for extra, what in ((HEADER_BYTES, ""), (0, f", and left out the {HEADER_BYTES}-byte header")):
        for value, how in ((nominal, ""), (math.floor(nominal), " (rounded down)"),
                           (math.ceil(nominal), " (rounded up)")):  # fmt: skip
            msg = (
                f"you multiplied the nominal bitrate by the duration{how}{what}; "
                "the last frame is sent whole"
            )
            mistakes[msg] = value + extra
    return check_close(
        answer,
        want,
        name="the file size in bytes",
        sig_figs=None,
        rtol=0.0,
        atol=1e-9,
        mistakes=mistakes,
        hint="frames = ceil(duration x frame rate); bits = frames x n_q x log2 K; "
        f"bytes = bits / 8 + {HEADER_BYTES}",
    )
