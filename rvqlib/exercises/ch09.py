"""Checkers for the exercises of chapter 9, "Keeping every code alive".

One function per exercise, each returning a :class:`~rvqlib.exercises._check.CheckResult`:

- :func:`check_stage_share` -- the uniform share of the last stage under dropout, by hand.
- :func:`check_rvq_forward` -- find the bug in a residual quantizer and fix it.
- :func:`check_rotation_by_hand` -- one rotation-trick gradient by hand.
- :func:`check_stage_health` -- implement ``my_stage_health(codes, K)``.
- :func:`check_adam_equivalence` -- what ``n_q I`` means under Adam.

:func:`reference_rvq_forward` is the reference residual quantizer of the bug-finding
exercise, in the three orders of operations the chapter compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rvqlib.exercises._check import (
    SIG_FIGS,
    CheckResult,
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
    "ADAM_OPTIONS",
    "CLIPS_HAND",
    "FRAMES_HAND",
    "G_HAND",
    "K_HAND",
    "N_Q_HAND",
    "ORDERS",
    "P_HAND",
    "ZQ_HAND",
    "Z_HAND",
    "check_adam_equivalence",
    "check_rotation_by_hand",
    "check_rvq_forward",
    "check_stage_health",
    "check_stage_share",
    "reference_rvq_forward",
    "rotation_answer",
    "stage_share_answers",
]

# ----------------------------------------------------------------- exercise 1
#: Clips per batch in exercise ``ch09-ex-stage-share``.
CLIPS_HAND: int = 24
#: Frames per clip.
FRAMES_HAND: int = 50
#: Stages ``N_q`` of the residual quantizer.
N_Q_HAND: int = 8
#: Codes per stage ``K``.
K_HAND: int = 1024
#: Fraction ``p`` of the clips that draw their number of stages (DAC's per-example dropout).
P_HAND: float = 0.5


def _share(fraction: float) -> float:
    return CLIPS_HAND * FRAMES_HAND * fraction / K_HAND


def stage_share_answers() -> tuple[float, float]:
    """The right answers of exercise ``ch09-ex-stage-share``.

    Returns
    -------
    share, threshold : float
        The vectors a uniformly used code of the last stage wins per batch,
        ``B (1 - p + p / N_q) / K``, and a tenth of it.
    """
    share = _share((1 - P_HAND) + P_HAND * 1 / N_Q_HAND)
    return share, 0.1 * share


def _share_slips() -> dict[str, float]:
    frames = CLIPS_HAND * FRAMES_HAND
    return {
        "you left the quantizer dropout out: the last stage gets only the frames of the "
        "clips that use it, B (1 - p + p (N_q - s + 1) / N_q)": frames / K_HAND,
        "you counted only the dropped clips: the clips that are not dropped (a fraction "
        "1 - p) use every stage": _share(P_HAND / N_Q_HAND),
        "you used (N_q - s) / N_q: a clip uses stage s when its n_q >= s, which has "
        "probability (N_q - s + 1) / N_q": _share(1 - P_HAND),
        "you gave the number of frames B_s; the share per code is B_s / K": frames
        * ((1 - P_HAND) + P_HAND / N_Q_HAND),
    }


@never_raises
def check_stage_share(share: Any, threshold: Any) -> CheckResult:
    """Checker for exercise ``ch09-ex-stage-share``: the last stage's uniform share.

    Both numbers are right to 3 significant figures; the common slips (no dropout,
    only the dropped clips, an off-by-one in the stage count, frames instead of a
    share per code) are named with the same tolerance.

    Parameters
    ----------
    share : float
        Vectors per code per batch at the last stage, codes used uniformly.
    threshold : float
        A tenth of ``share``.

    Returns
    -------
    CheckResult
    """
    if is_placeholder(share) or is_placeholder(threshold):
        return wrong(
            "the last stage's share",
            "no answer yet",
            "fill in both answers (replace each `...` and run the cell again)",
        )
    want_share, want_thr = stage_share_answers()
    slips = _share_slips()
    res = check_close(
        share,
        want_share,
        name="(a) the share per code",
        mistakes=slips,
        hint="B_s = B (1 - p + p (N_q - s + 1) / N_q) with s = N_q, then divide by K",
    )
    if not res:
        return res
    res = check_close(
        threshold,
        want_thr,
        name="(b) the threshold",
        mistakes={
            "you gave the share itself; the threshold is a tenth of it": want_share,
            "you gave a tenth of B/K without the dropout": 0.1 * CLIPS_HAND * FRAMES_HAND / K_HAND,
        },
        hint="0.1 x the share of (a)",
    )
    if not res:
        return res
    return right(
        "the last stage's share",
        f"B_8 = {CLIPS_HAND * FRAMES_HAND * (1 - P_HAND + P_HAND / N_Q_HAND):.0f} vectors, "
        f"share {want_share:.4f}, threshold {want_thr:.5f}: thirty times below the default 2",
    )


# ----------------------------------------------------------------- exercise 2
#: The orders of operations :func:`reference_rvq_forward` knows.
ORDERS: tuple[str, ...] = ("one-estimator", "residual-detached", "encodec")


def reference_rvq_forward(
    z: Any, codebooks: Sequence[Any], beta: float = 0.25, *, order: str = "one-estimator"
) -> tuple[Any, list[Any]]:
    """A greedy residual quantizer with a commitment loss per stage, in three orders.

    Stage ``i`` picks, for each row of its residual ``r_{i-1}`` (``r_0 = z``), the
    nearest codeword ``q_i`` of ``codebooks[i]`` and has the commitment loss
    ``beta * mean((r_{i-1} - sg[q_i])**2)``. The orders differ in how the residuals
    and the output carry gradients:

    - ``"one-estimator"`` (audiocraft since December 2023, :class:`rvqlib.nn.ResidualVQ`):
      ``r_i = r_{i-1} - sg[q_i]`` and ``zq = z + sg[sum q_i - z]``: every loss reaches
      ``z`` and ``d zq / d z = I``;
    - ``"residual-detached"`` (vector-quantize-pytorch): each stage returns
      ``r_{i-1} + sg[q_i - r_{i-1}]``, ``r_i = r_{i-1} - sg[that]``: every loss reaches
      ``z``, ``d zq / d z = n_q I``;
    - ``"encodec"`` (encodec 0.1.1): ``r_i = r_{i-1} - (r_{i-1} + sg[q_i - r_{i-1}])``:
      only stage 1's loss reaches ``z``, ``d zq / d z = I``.

    Parameters
    ----------
    z : torch.Tensor
        ``(N, D)`` vectors.
    codebooks : sequence of torch.Tensor
        ``n_q`` codebooks of shape ``(K, D)``.
    beta : float, default 0.25
        Commitment weight.
    order : {"one-estimator", "residual-detached", "encodec"}
        The order of operations.

    Returns
    -------
    zq : torch.Tensor
        ``(N, D)``, the sum of the chosen codewords in value.
    losses : list of torch.Tensor
        One scalar commitment loss per stage.

    Raises
    ------
    ValueError
        If ``order`` is not one of :data:`ORDERS`.
    """
    import torch
    import torch.nn.functional as F

    from rvqlib.vq import nearest

    if order not in ORDERS:
        raise ValueError(f"order must be one of {list(ORDERS)}, got {order!r}")
    residual, losses = z, []
    total = torch.zeros_like(z)
    out = torch.zeros_like(z)
    for book in codebooks:
        q = book[nearest(residual.detach(), book)].detach()
        losses.append(beta * F.mse_loss(residual, q))
        if order == "one-estimator":
            residual = residual - q
            total = total + q
        else:
            stage = residual + (q - residual).detach()
            residual = residual - (stage.detach() if order == "residual-detached" else stage)
            out = out + stage
    if order == "one-estimator":
        return z + (total - z).detach(), losses
    return out, losses


def _rvq_cases() -> list[tuple[tuple[Any, ...], Any]]:
    import torch

    gen = torch.Generator().manual_seed(9)
    cases = []
    for n, d, n_q, k, beta in ((40, 2, 3, 5, 0.25), (25, 4, 2, 7, 1.0), (30, 3, 4, 6, 0.5)):
        z = 3.0 * torch.randn(n, d, generator=gen) + 1.0
        books = []
        scale = 3.0
        for _ in range(n_q):
            books.append(scale * torch.randn(k, d, generator=gen))
            scale /= 2.5  # later stages on a smaller scale, as trained ones are
        cases.append(((z.requires_grad_(True), books, beta), None))
    return cases


def _unpack(got: Any, n_q: int) -> tuple[Any, list[Any]] | None:
    import torch

    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return None
    zq, losses = got
    if not isinstance(zq, torch.Tensor):
        return None
    if isinstance(losses, torch.Tensor):
        losses = list(losses.reshape(-1)) if losses.numel() == n_q else None
    if not isinstance(losses, (list, tuple)) or len(losses) != n_q:
        return None
    if not all(isinstance(v, torch.Tensor) and v.numel() == 1 for v in losses):
        return None
    return zq, [v.reshape(()) for v in losses]


def _gradients(z: Any, zq: Any, losses: list[Any], w: Any) -> tuple[list[Any], Any]:
    import torch

    grads = []
    for loss in losses:
        if loss.requires_grad:
            (g,) = torch.autograd.grad(loss, z, retain_graph=True, allow_unused=True)
        else:
            g = None
        grads.append(torch.zeros_like(z) if g is None else g)
    if zq.requires_grad:
        (gw,) = torch.autograd.grad((zq * w).sum(), z, retain_graph=True, allow_unused=True)
    else:
        gw = None
    return grads, (torch.zeros_like(z) if gw is None else gw)


@never_raises
def check_rvq_forward(fn: Any) -> CheckResult:
    """Checker for exercise ``ch09-ex-find-bug``: a residual quantizer whose gradients are right.

    ``fn(z, codebooks, beta)`` must return ``(zq, losses)``: ``zq`` equal in value to
    the sum of the greedily chosen codewords, ``losses`` one commitment loss per stage
    (``beta * mean((r_{i-1} - q_i)**2)``), every loss sending
    ``2 beta (r_{i-1} - q_i) / (N D)`` to ``z`` and ``zq`` having the identity Jacobian.
    Compared with :func:`reference_rvq_forward` (``order="one-estimator"``) on three
    batches; EnCodec's zero gradients and the ``n_q I`` of detaching only the
    residual are named.

    Parameters
    ----------
    fn : callable
        The reader's ``my_rvq_forward``.

    Returns
    -------
    CheckResult
    """
    import torch

    cases = _rvq_cases()
    report: dict[str, str] = {}

    def compare(got: Any, args: tuple[Any, ...]) -> bool:
        report.clear()
        z, books, beta = args
        parts = _unpack(got, len(books))
        if parts is None:
            report["why"] = (
                "return a pair (zq, losses): zq a tensor like z, losses a list with one "
                "scalar tensor per stage"
            )
            return False
        zq, losses = parts
        ref_zq, ref_losses = reference_rvq_forward(z, books, beta)
        if tuple(zq.shape) != tuple(z.shape):
            report["why"] = f"zq must have the shape of z, {tuple(z.shape)}"
            return False
        if not torch.allclose(zq.detach(), ref_zq.detach(), rtol=1e-5, atol=1e-6):
            report["why"] = "zq's values are not the sum of the nearest codewords, stage by stage"
            return False
        values = torch.stack([v.detach() for v in losses])
        ref_values = torch.stack([v.detach() for v in ref_losses])
        if not torch.allclose(values, ref_values, rtol=1e-5, atol=1e-9):
            if torch.allclose(values * beta, ref_values, rtol=1e-5, atol=1e-9):
                report["why"] = "the losses miss the factor beta"
            else:
                report["why"] = (
                    "the losses' values differ from beta * mean((r_{i-1} - q_i)**2) per stage"
                )
            return False
        w = torch.linspace(-1.0, 2.0, z.numel()).reshape(z.shape)
        grads, gw = _gradients(z, zq, losses, w)
        ref_grads, _ = _gradients(z, ref_zq, ref_losses, w)
        zero = [float(g.abs().max()) == 0.0 for g in grads]
        if zero[0] and all(zero):
            report["why"] = (
                "no loss sends any gradient to z: the commitment loss must keep the "
                "residual's gradient, beta * mse(residual, q.detach())"
            )
            return False
        for i, (g, r) in enumerate(zip(grads, ref_grads, strict=True)):
            if not torch.allclose(g, r, rtol=1e-4, atol=1e-9):
                if i > 0 and all(zero[1:]):
                    report["why"] = (
                        "the losses of stages 2, 3, ... send nothing to z: "
                        "`residual = residual - out` subtracts the straight-through output, "
                        "whose derivative cancels the residual's (EnCodec issue #25); "
                        "subtract the detached codeword instead"
                    )
                else:
                    report["why"] = (
                        f"the gradient that stage {i + 1}'s loss sends to z is not "
                        "2 beta (r - q) / (N D)"
                    )
                return False
        n_q = len(books)
        if torch.allclose(gw, w, rtol=1e-5, atol=1e-6):
            return True
        if torch.allclose(gw, n_q * w, rtol=1e-5, atol=1e-6):
            report["why"] = (
                f"zq's Jacobian is {n_q} I (n_q times the identity): every stage's "
                "straight-through output adds an identity once the residual is detached; "
                "add up the detached codewords and apply the estimator once, "
                "z + (total - z).detach()"
            )
        elif float(gw.abs().max()) == 0.0:
            report["why"] = (
                "zq carries no gradient to z: apply the straight-through estimator to the "
                "sum, z + (total - z).detach()"
            )
        else:
            report["why"] = "zq's Jacobian with respect to z is not the identity"
        return False

    if is_placeholder(fn):
        return wrong(
            "my_rvq_forward", "no function yet", "replace the `...` and run the cell again"
        )
    if not callable(fn):
        return wrong("my_rvq_forward", f"expected a function, got {type(fn).__name__}")
    hint = "residual = residual - q (q detached); return z + (total - z).detach(), losses"
    for i, (args, _) in enumerate(cases, start=1):
        z, books, beta = args
        where = (
            f"on batch {i} ({z.shape[0]} vectors of dimension {z.shape[1]}, "
            f"{len(books)} stages, beta = {beta:g})"
        )
        try:
            got = fn(z, [b.clone() for b in books], beta)
        except Exception as exc:  # the reader's code may raise anything
            return wrong("my_rvq_forward", f"{where} it raised {type(exc).__name__}: {exc}", hint)
        if got is None:
            return wrong(
                "my_rvq_forward",
                f"{where} it returned None: the function has no `return` (or returns nothing)",
                hint,
            )
        try:
            ok = compare(got, args)
        except Exception as exc:  # an answer of an unexpected kind is simply wrong
            ok = False
            report.setdefault("why", f"its result could not be used ({type(exc).__name__}: {exc})")
        if not ok:
            return wrong("my_rvq_forward", f"{where}: {report.get('why', 'wrong result')}", hint)
    return right(
        "my_rvq_forward",
        "(all 3 cases: values, every stage's commitment gradient, and d zq/dz = I)",
    )


# ----------------------------------------------------------------- exercise 3
#: The encoder output of exercise ``ch09-ex-rotation``.
Z_HAND: tuple[float, float] = (3.0, 4.0)
#: Its quantized value.
ZQ_HAND: tuple[float, float] = (0.0, 10.0)
#: The gradient the loss sends to the quantized value.
G_HAND: tuple[float, float] = (1.0, 0.0)


def _rotate_back(
    z: np.ndarray, zq: np.ndarray, g: np.ndarray, transpose: bool = True
) -> np.ndarray:
    u = z / np.linalg.norm(z)
    w = zq / np.linalg.norm(zq)
    r = (u + w) / np.linalg.norm(u + w)
    rot = np.eye(len(z)) - 2 * np.outer(r, r) + 2 * np.outer(w, u)
    return (rot.T if transpose else rot) @ g


def rotation_answer() -> np.ndarray:
    """The right answer of exercise ``ch09-ex-rotation``: ``lambda R^T g``."""
    z, zq, g = (np.array(v) for v in (Z_HAND, ZQ_HAND, G_HAND))
    lam = np.linalg.norm(zq) / np.linalg.norm(z)
    return lam * _rotate_back(z, zq, g)


@never_raises
def check_rotation_by_hand(grad: Any) -> CheckResult:
    """Checker for exercise ``ch09-ex-rotation``: ``lambda R^T g`` for the exercise's vectors.

    Right to 3 significant figures; the straight-through answer, ``R`` instead of
    ``R^T``, a missing or inverted ``lambda`` are named.

    Parameters
    ----------
    grad : array_like, shape (2,)
        The gradient the rotation trick sends to ``z``.

    Returns
    -------
    CheckResult
    """
    z, zq, g = (np.array(v) for v in (Z_HAND, ZQ_HAND, G_HAND))
    lam = np.linalg.norm(zq) / np.linalg.norm(z)
    want = rotation_answer()
    slips = {
        "you gave the straight-through gradient g itself; the rotation trick rotates and "
        "scales it": g,
        "you rotated with R instead of R^T (the backward pass uses the transpose)": lam
        * _rotate_back(z, zq, g, transpose=False),
        "you forgot the scale lambda = |zq| / |z| = 2": want / lam,
        "you inverted lambda: it is |zq| / |z|, not |z| / |zq|": want / lam**2,
        "you used R (not R^T) and forgot lambda": _rotate_back(z, zq, g, transpose=False),
    }
    res = check_array(
        grad,
        want,
        name="lambda R^T g",
        sig_figs=SIG_FIGS,
        mistakes=slips,
        hint="lambda = 2; R^T turns g back by the angle from z to zq (36.87 degrees)",
    )
    if not res:
        return res
    return right("lambda R^T g", "= (1.6, -1.2): perpendicular to z, as g is to zq")


# ----------------------------------------------------------------- exercise 4
def _reference_health(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from rvqlib.metrics import code_perplexity, code_usage

    usage = np.array([(code_usage(col, k) > 0).mean() for col in codes.T])
    ppl = np.array([code_perplexity(col, k) for col in codes.T])
    return usage, ppl


def _health_cases() -> list[tuple[tuple[Any, ...], Any]]:
    rng = np.random.default_rng(11)
    out = []
    shapes = ((200, 3, 16), (57, 2, 8), (30, 4, 64))
    for i, (n, n_q, k) in enumerate(shapes):
        codes = np.stack(
            [rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 0.3))) for _ in range(n_q)],
            axis=1,
        ).astype(np.int64)
        if i == 1:
            codes[:, 1] = 5  # a stage that uses a single code: perplexity 1
        out.append(((codes, k), _reference_health(codes, k)))
    return out


def _pair(got: Any) -> list[np.ndarray] | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return None
    parts = [as_numpy(v) for v in got]
    if any(p is None or not np.issubdtype(p.dtype, np.number) for p in parts):
        return None
    return [np.asarray(p, dtype=float) for p in parts]  # type: ignore[arg-type]


@never_raises
def check_stage_health(fn: Any) -> CheckResult:
    """Checker for exercise ``ch09-ex-health``: ``my_stage_health(codes, codebook_size)``.

    The reader's function returns ``(usage, perplexity)``, two ``(n_q,)`` arrays,
    compared with :func:`rvqlib.metrics.code_usage` and
    :func:`rvqlib.metrics.code_perplexity` on three code arrays (one with a stage
    that uses a single code).

    Parameters
    ----------
    fn : callable
        The reader's ``my_stage_health``.

    Returns
    -------
    CheckResult
    """

    def compare(got: Any, want: Any) -> bool:
        parts = _pair(got)
        return parts is not None and all(
            p.shape == w.shape and np.allclose(p, w, rtol=1e-6, atol=1e-9)
            for p, w in zip(parts, want, strict=True)
        )

    def diagnose(args: tuple[Any, ...], got: Any, want: Any) -> str | None:
        codes, k = args
        parts = _pair(got)
        if parts is None:
            return "return two arrays, (usage, perplexity), each with one entry per stage"
        usage, ppl = parts
        want_u, want_p = want
        n_q = codes.shape[1]
        if usage.shape != (n_q,) or ppl.shape != (n_q,):
            if usage.shape == (codes.shape[0],) or ppl.shape == (codes.shape[0],):
                return "one value per stage: loop over the columns of codes (codes.T), not the rows"
            return f"both arrays must have shape ({n_q},), one entry per stage"
        counts = np.stack([np.bincount(c, minlength=k) for c in codes.T])
        if np.allclose(usage, (counts > 0).sum(1)):
            return "usage is the fraction of the K codes in use: divide the count by codebook_size"
        entropy = np.log(want_p)
        if np.allclose(ppl, entropy):
            return "that is the entropy in nats; the perplexity is its exponential"
        if np.allclose(ppl, entropy / np.log(2)):
            return "that is the entropy in bits; the perplexity is 2 ** H (bits) = exp(H) (nats)"
        if np.allclose(ppl, np.exp(entropy / np.log(2))):
            return "you exponentiated the entropy in bits with exp: use 2 ** H for bits"
        pooled = np.bincount(codes.reshape(-1), minlength=k)
        p = pooled[pooled > 0] / pooled.sum()
        if np.allclose(ppl, np.exp(-(p * np.log(p)).sum())):
            return "you pooled all stages; compute the perplexity of each stage's column"
        if np.any(np.isnan(ppl)):
            return "nan: leave out the codes that never occur (0 log 0 is taken as 0)"
        return None

    return check_function(
        fn,
        _health_cases(),
        name="my_stage_health",
        compare=compare,
        diagnose=diagnose,
        hint="per column: counts = np.bincount(col, minlength=K); p = counts[counts > 0] / N",
    )


# ----------------------------------------------------------------- exercise 5
#: The options of exercise ``ch09-ex-adam``, as printed.
ADAM_OPTIONS: dict[str, str] = {
    "a": "the one-estimator order with beta multiplied by n_q",
    "b": "the one-estimator order with beta divided by n_q",
    "c": "exactly the one-estimator order: Adam normalizes every gradient",
    "d": "EnCodec's order: later stages' commitment is lost again",
}


@never_raises
def check_adam_equivalence(choice: Any) -> CheckResult:
    """Checker for exercise ``ch09-ex-adam``: the residual-detached order under Adam.

    Parameters
    ----------
    choice : str
        One of ``"a"`` to ``"d"`` (:data:`ADAM_OPTIONS`).

    Returns
    -------
    CheckResult
    """
    return check_choice(
        choice,
        "b",
        name="the residual-detached order under Adam",
        options=list(ADAM_OPTIONS),
        explanations={
            "a": "the factor n_q multiplies the reconstruction's gradient, not the "
            "commitment's: relative to the reconstruction, commitment gets 1/n_q of its "
            "weight, not n_q times",
            "b": "the encoder gets n_q grad_rec + sum grad_l_i = n_q (grad_rec + sum "
            "grad_l_i / n_q); Adam ignores the common factor n_q (up to its eps), so this "
            "is the one-estimator order with beta / n_q",
            "c": "Adam removes a common scale of each parameter's gradient, but here only "
            "one of the two terms is scaled: the mix of reconstruction and commitment "
            "changes",
            "d": "detaching the residual is what makes every stage's commitment reach the "
            "encoder; it is EnCodec's order that loses them",
        },
    )
