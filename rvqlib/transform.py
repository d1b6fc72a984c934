"""Transform coding: rotate, allocate bits, quantize each coordinate (chapter 2).

The classical answer to "quantize a correlated vector with scalar quantizers"
(Huang and Schultheiss, 1963) has three steps, one function each:

* :func:`klt` finds the Karhunen-Loève transform of a data set: the rotation
  onto the eigenvectors of its covariance, which makes the coordinates
  uncorrelated and sorts them by variance;
* :func:`allocate_bits` shares a budget of bits among the rotated
  coordinates, giving each next bit to the coordinate whose MSE it lowers
  most (optimal because the Lloyd-Max MSE is convex in the bits);
* :func:`transform_code` rotates, quantizes every coordinate with the
  Lloyd-Max quantizer of its own variance (:func:`rvqlib.scalar.lloyd_max`),
  and rotates back.

Chapter 2 uses it as the baseline that separates what a linear transform
already buys from what only a vector quantizer buys.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from rvqlib._pow2 import pow2_shift
from rvqlib._validate import as_float, check_finite, is_torch, positive_int
from rvqlib.scalar import DISTRIBUTIONS, MAX_LLOYD_MAX_LEVELS, lloyd_max

__all__ = ["KLT", "allocate_bits", "klt", "lloyd_max_mse_table", "transform_code"]


class KLT(NamedTuple):
    """A Karhunen-Loève transform, as returned by :func:`klt`.

    Attributes
    ----------
    mean : numpy.ndarray, shape (D,)
        The data mean, subtracted before rotating.
    basis : numpy.ndarray, shape (D, D)
        Orthonormal columns: column ``j`` is the direction of the ``j``-th
        largest variance. Coordinates are ``u = (x - mean) @ basis`` and
        ``x = u @ basis.T + mean``.
    variances : numpy.ndarray, shape (D,)
        The variance of each rotated coordinate (the covariance's eigenvalues),
        in decreasing order.
    """

    mean: np.ndarray
    basis: np.ndarray
    variances: np.ndarray


def _as_matrix(x: Any, name: str) -> np.ndarray:
    if is_torch(x):
        x = x.detach().cpu().numpy()
    arr = np.asarray(as_float(x, name), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N, D) with N, D >= 1, got {arr.shape}")
    check_finite(arr, name)
    return arr


def klt(x: Any) -> KLT:
    """The Karhunen-Loève transform (principal axes) of a data set.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (N, D)
        The data, one vector per row (``N >= 2``).

    Returns
    -------
    KLT
        The mean, the rotation and the rotated variances (the covariance is
        the biased one, divided by ``N``). The basis is deterministic: each
        column's entry of largest magnitude is positive (the first such entry
        on a tie).

    Raises
    ------
    TypeError
        If ``x`` is not an array of real numbers.
    ValueError
        If ``x`` is not a finite ``(N, D)`` array with ``N >= 2``, or if its
        variances overflow float64 (values spread over more than about
        ``1e154``), instead of returning ``nan``.

    Notes
    -----
    Data of any finite magnitude are scaled by a power of two (exactly) before
    the covariance is formed, so neither the mean nor the sums of squares
    overflow or underflow; the variances are scaled back, and a variance below
    the smallest float64 comes back as 0.
    """
    arr = _as_matrix(x, "x")
    if arr.shape[0] < 2:
        raise ValueError(
            f"x must hold at least 2 vectors to estimate a covariance, got {arr.shape}"
        )
    # Data beyond about 1e154 (or below 1e-154) in magnitude make the sums of squares
    # overflow (underflow): scale by a power of two, which is exact, so the basis and the
    # mean are those of the unscaled computation, and scale the variances back
    top = float(np.abs(arr).max())
    shift = pow2_shift(top)
    xs = np.ldexp(arr, -shift) if shift else arr
    mean = xs.mean(axis=0)
    centred = xs - mean
    cov = centred.T @ centred / arr.shape[0]
    eigvals, eigvecs = np.linalg.eigh(cov)  # ascending
    order = np.argsort(-eigvals, kind="stable")
    variances = np.clip(eigvals[order], 0.0, None)
    basis = eigvecs[:, order]
    pivot = np.argmax(np.abs(basis), axis=0)  # the first entry of largest magnitude
    basis = basis * np.sign(basis[pivot, np.arange(basis.shape[1])])
    if shift:
        mean = np.ldexp(mean, shift)
        with np.errstate(over="ignore"):
            scaled = np.ldexp(variances, 2 * shift)
        if not np.isfinite(scaled).all():
            digits = math.log10(float(variances[0])) + 2 * shift * math.log10(2.0)
            raise ValueError(
                f"the variances of x overflow float64 (the largest is about 1e{digits:.0f}, "
                "above 1.8e308): scale x down before computing its KLT"
            )
        variances = scaled
    return KLT(mean=mean, basis=basis, variances=variances)


def _distribution(distribution: Any) -> str:
    if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    return distribution


#: The most bits :func:`lloyd_max_mse_table` and :func:`allocate_bits` take: the
#: largest Lloyd-Max quantizer has ``MAX_LLOYD_MAX_LEVELS = 2**20`` levels.
_MAX_TABLE_BITS = MAX_LLOYD_MAX_LEVELS.bit_length() - 1


def _max_bits(max_bits: Any) -> int:
    try:
        value = positive_int(max_bits, "max_bits", minimum=0)  # TypeError if not an integer
    except ValueError:
        value = -1
    if not 0 <= value <= _MAX_TABLE_BITS:
        raise ValueError(
            f"max_bits must lie between 0 and {_MAX_TABLE_BITS} (the largest Lloyd-Max "
            f"quantizer has 2**{_MAX_TABLE_BITS} levels), got {int(max_bits)}"
        )
    return value


def lloyd_max_mse_table(max_bits: int, distribution: str = "gaussian") -> np.ndarray:
    """MSE of the unit-variance Lloyd-Max quantizer with 0, 1, ..., ``max_bits`` bits.

    Entry ``b`` is :func:`rvqlib.scalar.lloyd_max` ``(2**b, distribution).mse``;
    entry 0 is 1, the MSE of sending nothing and reconstructing at the mean.

    Parameters
    ----------
    max_bits : int
        The largest number of bits, 0 to 20 (:data:`rvqlib.scalar.MAX_LLOYD_MAX_LEVELS`
        is ``2**20``).
    distribution : {"gaussian", "laplace", "uniform"}
        The unit-variance density.

    Returns
    -------
    numpy.ndarray, shape (max_bits + 1,)

    Raises
    ------
    TypeError
        For a non-integer ``max_bits``.
    ValueError
        For ``max_bits`` outside 0 to 20 or an unknown ``distribution``.
    """
    max_bits = _max_bits(max_bits)
    distribution = _distribution(distribution)
    return np.array(
        [1.0] + [lloyd_max(2**b, distribution).mse for b in range(1, max_bits + 1)],
        dtype=np.float64,
    )


def allocate_bits(
    variances: Any,
    total_bits: int,
    *,
    distribution: str = "gaussian",
    max_bits: int = 12,
) -> np.ndarray:
    """Share ``total_bits`` among coordinates of these variances (greedy, integer).

    Coordinate ``j`` quantized with ``b_j`` bits by the Lloyd-Max quantizer of
    its variance has MSE ``variances[j] * d(b_j)``, where ``d`` is
    :func:`lloyd_max_mse_table`. Each bit in turn goes to the coordinate whose
    MSE it lowers most (ties to the lowest index). Because ``d`` is convex
    (each extra bit saves less than the one before), this greedy allocation
    minimises the total MSE among all integer allocations of ``total_bits``
    bits.

    Parameters
    ----------
    variances : array_like, shape (D,)
        Variances of the coordinates (finite, at least 0).
    total_bits : int
        The budget, at least 0.
    distribution : {"gaussian", "laplace", "uniform"}
        The shape of every coordinate's density.
    max_bits : int, default 12
        No coordinate gets more than this many bits; 0 to 20 (the largest
        Lloyd-Max quantizer has ``2**20`` levels).

    Returns
    -------
    numpy.ndarray of int64, shape (D,)
        Bits per coordinate; they sum to ``total_bits``.

    Raises
    ------
    TypeError
        For a non-numeric ``variances`` or non-integer ``total_bits``/``max_bits``.
    ValueError
        For negative or non-finite variances, a negative budget, ``max_bits``
        outside 0 to 20, or a budget larger than ``D * max_bits``.
    """
    var = np.asarray(as_float(variances, "variances"), dtype=np.float64)
    if var.ndim != 1 or var.size == 0:
        raise ValueError(f"variances must have shape (D,) with D >= 1, got {var.shape}")
    check_finite(var, "variances")
    if np.any(var < 0):
        raise ValueError("variances must be >= 0")
    total_bits = positive_int(total_bits, "total_bits", minimum=0)
    max_bits = _max_bits(max_bits)
    if total_bits > var.size * max_bits:
        raise ValueError(
            f"total_bits = {total_bits} exceeds D * max_bits = {var.size} * {max_bits}"
        )
    d = lloyd_max_mse_table(max_bits, distribution)
    bits = np.zeros(var.size, dtype=np.int64)
    for _ in range(total_bits):
        saving = np.where(
            bits < max_bits, var * (d[bits] - d[np.minimum(bits + 1, max_bits)]), -np.inf
        )
        bits[int(np.argmax(saving))] += 1  # argmax: the first (lowest index) of ties
    return bits


def transform_code(
    x: Any,
    bits: Any,
    transform: KLT,
    *,
    distribution: str = "gaussian",
) -> tuple[np.ndarray, np.ndarray]:
    """Transform coding: rotate, quantize each coordinate with Lloyd-Max, rotate back.

    Coordinate ``j`` of ``u = (x - mean) @ basis`` is quantized with the
    ``2**bits[j]``-level Lloyd-Max quantizer of ``distribution``, scaled to
    the standard deviation ``sqrt(variances[j])`` (a value on a threshold goes
    to the lower cell); a coordinate with 0 bits is reconstructed at 0, the
    mean. The fixed rate is ``sum(bits)`` bits per vector.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (N, D)
        The vectors to code.
    bits : array_like of int, shape (D,)
        Bits per rotated coordinate, e.g. from :func:`allocate_bits`.
    transform : KLT
        From :func:`klt` (usually fitted on training data), or any
        ``KLT(mean, basis, variances)`` with an orthonormal basis.
    distribution : {"gaussian", "laplace", "uniform"}
        The density the scalar quantizers are designed for.

    Returns
    -------
    codes : numpy.ndarray of int64, shape (N, D)
        The index of each rotated coordinate, in ``0 .. 2**bits[j] - 1``.
    x_hat : numpy.ndarray, shape (N, D)
        The reconstruction, in the original coordinates.

    Raises
    ------
    TypeError
        If ``transform`` is not a :class:`KLT` or ``bits`` are not integers.
    ValueError
        If the shapes disagree, the transform's mean, basis or variances hold
        NaN or inf, a variance is negative, the basis is not orthonormal, or a
        coordinate with bits has zero variance.
    """
    if not isinstance(transform, KLT):
        raise TypeError(
            f"transform must be a KLT (from rvqlib.transform.klt), got {type(transform).__name__}"
        )
    arr = _as_matrix(x, "x")
    dim = arr.shape[1]
    mean = np.asarray(transform.mean, dtype=np.float64)
    basis = np.asarray(transform.basis, dtype=np.float64)
    var = np.asarray(transform.variances, dtype=np.float64)
    if mean.shape != (dim,) or basis.shape != (dim, dim) or var.shape != (dim,):
        raise ValueError(
            f"transform has mean {mean.shape}, basis {basis.shape}, variances {var.shape}; "
            f"x has D = {dim}"
        )
    for field, value in (("mean", mean), ("basis", basis), ("variances", var)):
        if not np.isfinite(value).all():
            raise ValueError(f"transform.{field} must be finite, got NaN or inf in {value}")
    if np.any(var < 0):
        raise ValueError(f"transform.variances must be >= 0, got {var}")
    if not np.allclose(basis.T @ basis, np.eye(dim), atol=1e-8):
        raise ValueError("transform.basis must have orthonormal columns")
    b = np.asarray(bits)
    if b.dtype == bool or not np.issubdtype(b.dtype, np.integer):
        raise TypeError(f"bits must be integers, got dtype {b.dtype}")
    if b.shape != (dim,):
        raise ValueError(f"bits must have shape ({dim},), got {b.shape}")
    if np.any(b < 0) or np.any(b > 16):
        raise ValueError("bits must lie between 0 and 16")
    distribution = _distribution(distribution)
    u = (arr - mean) @ basis
    codes = np.zeros(u.shape, dtype=np.int64)
    u_hat = np.zeros_like(u)
    for j in range(dim):
        if b[j] == 0:
            continue
        if var[j] <= 0:
            raise ValueError(f"coordinate {j} has zero variance but {int(b[j])} bits")
        q = lloyd_max(2 ** int(b[j]), distribution)
        scale = math.sqrt(var[j])
        codes[:, j] = np.searchsorted(q.thresholds * scale, u[:, j], side="left")
        u_hat[:, j] = q.levels[codes[:, j]] * scale
    return codes, u_hat @ basis.T + mean
