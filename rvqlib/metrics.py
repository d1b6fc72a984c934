"""Distortion measures used throughout the book (chapter 1 defines them).

The book measures a quantizer by its mean squared error and by its
signal-to-noise ratio in decibels, always in the same way:

.. math:: \\mathrm{MSE} = \\frac{1}{M} \\sum_{m=1}^{M} (x_m - \\hat x_m)^2, \\qquad
          \\mathrm{SNR} = 10 \\log_{10}
          \\frac{\\sum_m x_m^2}{\\sum_m (x_m - \\hat x_m)^2}\\ \\mathrm{dB},

where the sums run over every entry of the arrays (every sample, or every
coordinate of every vector). The SNR is signal power over error power; for a
zero-mean signal the signal power is its variance.

Codebook health (chapter 9, "Keeping every code alive") is measured on the
codes a quantizer emits: :func:`code_usage` counts how often each index
occurs, and :func:`code_perplexity` turns those counts into the effective
number of codes in use,

.. math:: \\mathrm{PPL} = \\exp\\Big(-\\sum_{k} p_k \\ln p_k\\Big), \\qquad
          p_k = \\frac{n_k}{\\sum_j n_j},

which is ``K`` when all ``K`` codes are used equally often and 1 when a
single code takes every vector.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rvqlib._pow2 import ldexp_, pow2_shift
from rvqlib._validate import as_float, as_index, check_finite, is_torch, positive_int, uses_torch

__all__ = ["code_perplexity", "code_usage", "mse", "snr_db"]


def _pair(x: Any, x_hat: Any) -> tuple[Any, Any]:
    uses_torch(x=x, x_hat=x_hat)
    x = as_float(x, "x")
    x_hat = as_float(x_hat, "x_hat")
    if tuple(x.shape) != tuple(x_hat.shape):
        raise ValueError(
            f"x_hat must have the same shape as x: x has shape {tuple(x.shape)}, "
            f"x_hat has shape {tuple(x_hat.shape)}"
        )
    if math.prod(x.shape) == 0:
        raise ValueError("x is empty: distortion needs at least one value")
    check_finite(x, "x")
    check_finite(x_hat, "x_hat")
    return x, x_hat


def _as_float64(x: Any) -> Any:
    """``x`` in float64, without an autograd graph (MPS has no float64: via the CPU)."""
    if is_torch(x):
        import torch

        x = x.detach()
        if x.device.type == "mps":
            x = x.cpu()
        return x.to(torch.float64)
    return np.atleast_1d(np.asarray(x, dtype=np.float64))  # 0-d: differences stay arrays


def _peak(v: Any) -> float:
    return max(float(v.max()), -float(v.min()))


def _sum_sq(v: Any, scratch: bool = False) -> tuple[float, int]:
    """``sum(v**2)`` of float64 ``v`` as ``(q, e)`` with ``sum(v**2) == q * 4**e``.

    When the largest magnitude is outside the safe range, ``v`` is first scaled by
    the power of two ``2**-e`` that brings it into ``[1/2, 1)``: exact, so ``q`` is
    the float64 sum of squares itself, rescaled, and neither overflows nor underflows.
    ``scratch``: ``v`` is a temporary, squared in place.
    """
    peak = _peak(v)
    if peak == 0.0:
        return 0.0, 0
    e = pow2_shift(peak)
    if e:
        if not scratch:
            v = v.clone() if is_torch(v) else v.copy()
        v, scratch = ldexp_(v, e), True
    if not scratch:
        return float((v * v).sum()), e
    if is_torch(v):
        return float(v.square_().sum()), e
    return float(np.square(v, out=v).sum()), e


def _error_sum_sq(x: Any, x_hat: Any) -> tuple[float, int]:
    """``sum((x - x_hat)**2)`` as :func:`_sum_sq` gives it, for finite float64 inputs."""
    with np.errstate(over="ignore"):
        d = x - x_hat
    if math.isfinite(_peak(d)):
        return _sum_sq(d, scratch=True)
    # the difference overflowed (magnitudes near 2**1024): halve both first, exactly
    q, e = _sum_sq(x * 0.5 - x_hat * 0.5, scratch=True)
    return q, e + 1


def _times_4_pow(q: float, e: int) -> float:
    """``q * 4**e``; ``inf`` beyond the float64 range, 0.0 below it."""
    try:
        return math.ldexp(q, 2 * e)
    except OverflowError:
        return math.inf


def mse(x: Any, x_hat: Any) -> float:
    """Mean squared error per entry between a signal and its reconstruction.

    Parameters
    ----------
    x : array_like or torch.Tensor
        The original values, any shape.
    x_hat : array_like or torch.Tensor
        The reconstruction, same shape and backend as ``x``.

    Returns
    -------
    float
        The mean of ``(x - x_hat) ** 2`` over all entries. For vectors of
        dimension ``D`` the mean squared error per vector is ``D`` times this.
        A plain float for torch input too (no gradient: it is a measure, not a
        loss); ``inf`` only when the mean squared error itself exceeds the
        largest float64 (about ``1.8e308``, errors of magnitude above ``1e154``).

    Raises
    ------
    TypeError
        Non-numeric input, or torch mixed with numpy.
    ValueError
        Shapes differ, the input is empty, or it holds NaN/inf.

    Notes
    -----
    The arithmetic is float64 whatever the input's dtype, and the error is
    scaled by a power of two before it is squared (exact), so neither float16
    or float32 input nor values near the ends of the float64 range overflow or
    underflow: the result is the float64 reference's, rounded once.

    Examples
    --------
    >>> mse([1.0, 2.0], [1.0, 3.0])
    0.5
    """
    x, x_hat = _pair(x, x_hat)
    q, e = _error_sum_sq(_as_float64(x), _as_float64(x_hat))
    return _times_4_pow(q / math.prod(x.shape), e)


def snr_db(x: Any, x_hat: Any) -> float:
    """Signal-to-noise ratio of a reconstruction, in decibels.

    Parameters
    ----------
    x : array_like or torch.Tensor
        The original signal, any shape.
    x_hat : array_like or torch.Tensor
        The reconstruction, same shape and backend as ``x``.

    Returns
    -------
    float
        ``10 log10(sum(x**2) / sum((x - x_hat)**2))``; ``inf`` for a perfect
        reconstruction.

    Raises
    ------
    TypeError
        Non-numeric input, or torch mixed with numpy.
    ValueError
        Shapes differ, the input is empty or all zero, or it holds NaN/inf.

    Notes
    -----
    Both sums are taken in float64 on copies scaled by powers of two (exact),
    so the SNR is the same at any scale of the signals and for any input
    dtype: float16 or float32 input, or values near the ends of the float64
    range, neither overflow nor underflow.

    Examples
    --------
    >>> round(snr_db([1.0, -1.0], [0.9, -1.1]), 2)
    20.0
    """
    x, x_hat = _pair(x, x_hat)
    x, x_hat = _as_float64(x), _as_float64(x_hat)
    signal, e_signal = _sum_sq(x)
    if signal == 0.0:
        raise ValueError("x is all zeros: its SNR is undefined")
    noise, e_noise = _error_sum_sq(x, x_hat)
    if noise == 0.0:
        return math.inf
    ratio = _times_4_pow(signal / noise, e_signal - e_noise)
    if ratio == 0.0 or math.isinf(ratio):  # beyond float64: add the logarithms instead
        return 10.0 * math.log10(signal / noise) + 20.0 * math.log10(2.0) * (e_signal - e_noise)
    return 10.0 * math.log10(ratio)


#: Largest ``codebook_size`` :func:`code_usage` counts for (8 TiB of int64 counts).
_MAX_CODEBOOK_SIZE = 2**40


def code_usage(codes: Any, codebook_size: int) -> Any:
    """How often each of the ``codebook_size`` indices occurs in ``codes``.

    Parameters
    ----------
    codes : array_like or torch.Tensor of int
        Indices in ``[0, codebook_size)``, any shape (all entries are pooled;
        pass ``codes[..., q]`` for stage ``q`` of residual codes). Integral
        floats are accepted; an empty array gives all-zero counts.
    codebook_size : int
        Number of codewords ``K`` (>= 1).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``int64`` counts of shape ``(K,)`` (a ``torch.long`` tensor on the
        device of ``codes`` for torch input); they sum to the number of entries.

    Raises
    ------
    TypeError
        Non-integer ``codes`` or ``codebook_size``.
    ValueError
        ``codebook_size < 1``, or a code outside ``[0, codebook_size)``.

    Examples
    --------
    >>> code_usage([0, 2, 2, 3], 5)
    array([1, 0, 2, 1, 0])
    """
    k = positive_int(codebook_size, "codebook_size")
    if k > _MAX_CODEBOOK_SIZE:
        raise ValueError(
            f"codebook_size must be at most 2**40 (its counts are an array of that many "
            f"int64), got {k}"
        )
    codes = as_index(codes, "codes")
    flat = codes.reshape(-1)
    if is_torch(flat):
        import torch

        if flat.numel() == 0:
            return torch.zeros(k, dtype=torch.long, device=flat.device)
        _check_code_range(int(flat.min()), int(flat.max()), k)
        return torch.bincount(flat, minlength=k)
    if flat.size == 0:
        return np.zeros(k, dtype=np.int64)
    _check_code_range(int(flat.min()), int(flat.max()), k)
    return np.bincount(flat, minlength=k).astype(np.int64, copy=False)


def code_perplexity(codes: Any, codebook_size: int) -> float:
    """Effective number of codes in use: ``exp`` of the entropy of their frequencies.

    With ``p_k`` the fraction of entries of ``codes`` equal to ``k``, the
    perplexity is ``exp(-sum_k p_k ln p_k)`` (the entropy in nats, or
    ``2 ** H`` with ``H`` in bits). It lies between 1 (one code takes every
    vector) and ``codebook_size`` (every code equally often). It is what
    :meth:`rvqlib.nn.VectorQuantizer.perplexity` reports for a module's
    running counts, computed here from any array of codes.

    Parameters
    ----------
    codes : array_like or torch.Tensor of int
        Indices in ``[0, codebook_size)``, any shape, at least one entry.
    codebook_size : int
        Number of codewords ``K`` (>= 1).

    Returns
    -------
    float
        The perplexity, in ``[1, codebook_size]``.

    Raises
    ------
    TypeError
        Non-integer ``codes`` or ``codebook_size``.
    ValueError
        Empty ``codes``, ``codebook_size < 1``, or a code outside the range.

    Examples
    --------
    >>> code_perplexity([0, 1, 2, 3], 8)
    4.0
    >>> round(code_perplexity([0, 0, 0, 1], 8), 3)
    1.755
    """
    counts = code_usage(codes, codebook_size)
    if is_torch(counts):
        counts = counts.cpu().numpy()
    total = int(counts.sum())
    if total == 0:
        raise ValueError("codes is empty: need at least one code to measure a perplexity")
    p = counts[counts > 0] / total
    entropy = float(-np.sum(p * np.log(p)))
    return float(min(max(math.exp(max(entropy, 0.0)), 1.0), int(codebook_size)))


def _check_code_range(lo: int, hi: int, k: int) -> None:
    if lo < 0 or hi >= k:
        raise ValueError(
            f"codes must lie in [0, {k}) for codebook_size={k}, got values in [{lo}, {hi}]"
        )
