"""Distortion measures used throughout the book (chapter 1 defines them).

The book measures a quantizer by its mean squared error and by its
signal-to-noise ratio in decibels, always in the same way:

.. math:: \\mathrm{MSE} = \\frac{1}{M} \\sum_{m=1}^{M} (x_m - \\hat x_m)^2, \\qquad
          \\mathrm{SNR} = 10 \\log_{10}
          \\frac{\\sum_m x_m^2}{\\sum_m (x_m - \\hat x_m)^2}\\ \\mathrm{dB},

where the sums run over every entry of the arrays (every sample, or every
coordinate of every vector). The SNR is signal power over error power; for a
zero-mean signal the signal power is its variance.
"""

from __future__ import annotations

import math
from typing import Any

from rvqlib._validate import as_float, check_finite, uses_torch

__all__ = ["mse", "snr_db"]


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

    Raises
    ------
    TypeError
        Non-numeric input, or torch mixed with numpy.
    ValueError
        Shapes differ, the input is empty, or it holds NaN/inf.

    Examples
    --------
    >>> mse([1.0, 2.0], [1.0, 3.0])
    0.5
    """
    x, x_hat = _pair(x, x_hat)
    return float(((x - x_hat) ** 2).mean())


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

    Examples
    --------
    >>> round(snr_db([1.0, -1.0], [0.9, -1.1]), 2)
    20.0
    """
    x, x_hat = _pair(x, x_hat)
    signal = float((x * x).sum())
    if signal == 0.0:
        raise ValueError("x is all zeros: its SNR is undefined")
    noise = float(((x - x_hat) ** 2).sum())
    return math.inf if noise == 0.0 else 10.0 * math.log10(signal / noise)
