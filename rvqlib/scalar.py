"""Scalar quantization: uniform and Lloyd-Max quantizers (chapter 1, "Scalar quantization").

Two quantizers of one real number are built here.

* :func:`uniform_quantize` cuts ``[lo, hi]`` into ``L`` equal cells of width
  ``Δ = (hi - lo) / L`` and reconstructs at the cell midpoints ("midrise").
* :func:`lloyd_max` finds the ``L``-level quantizer with the smallest mean
  squared error for a unit-variance density, the fixed point of the two
  optimality conditions of Lloyd (1982) and Max (1960): every threshold is
  the midpoint of its two neighbouring levels (nearest neighbour), every
  level is the conditional mean of its cell (centroid). The conditional means
  and the cell errors are computed from closed forms of the partial moments
  of the exact density, never from samples. Lloyd's iteration reaches the
  fixed point slowly when ``L`` is large, so :func:`lloyd_max` starts from the
  high-resolution approximation and takes Newton steps on the same fixed-point
  equations (falling back on a Lloyd iteration whenever a Newton step would not
  help): a few milliseconds even for 256 levels.

:data:`MAX_1960_GAUSSIAN` holds Max's published table for the unit Gaussian,
the reference the book and the tests check :func:`lloyd_max` against.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from rvqlib._validate import as_float, check_finite, finite_float, is_torch, positive_int

__all__ = [
    "uniform_quantize",
    "lloyd_max",
    "LloydMax",
    "MaxTableEntry",
    "MAX_1960_GAUSSIAN",
    "MAX_1960_SOURCE",
    "MAX_LLOYD_MAX_LEVELS",
    "DISTRIBUTIONS",
]


# ----------------------------------------------------------------------------- uniform


def uniform_quantize(x: Any, n_levels: int, lo: float, hi: float) -> tuple[Any, Any]:
    """Midrise uniform quantizer on ``[lo, hi]``.

    The interval is cut into ``n_levels`` cells of width
    ``Δ = (hi - lo) / n_levels``; cell ``i`` is ``(lo + iΔ, lo + (i+1)Δ]`` and is
    reconstructed at its midpoint ``lo + (i + 1/2)Δ``. Values below ``lo`` go to
    cell 0 and values above ``hi`` to cell ``n_levels - 1`` (clipping). A value
    exactly on a threshold is equidistant from two levels and goes to the lower
    cell, the library-wide rule "ties to the lowest index".

    Parameters
    ----------
    x : array_like or torch.Tensor
        Values to quantize, any shape (each element separately).
    n_levels : int
        Number of levels ``L >= 1``.
    lo, hi : float
        The quantizer's range, ``lo < hi``, both finite.

    Returns
    -------
    indices : numpy.ndarray or torch.Tensor
        ``int64`` cell index in ``[0, n_levels)``, shape of ``x``.
    xhat : numpy.ndarray or torch.Tensor
        Reconstructed values (same floating dtype and device as ``x``).

    Notes
    -----
    A Python number or 0-d array gives 0-d numpy arrays (shape ``()``; ``int()``
    and ``float()`` read them), as a 0-d tensor gives 0-d tensors; a list gives
    arrays. Any finite value is accepted, however far outside ``[lo, hi]``:
    the clipping happens before the conversion to integers. The index and the
    levels are computed in float64 for every input dtype, so float16, bfloat16
    and float32 input gets the indices of the float64 reference on its values
    (``uniform_quantize(x, ...)`` has the indices of
    ``uniform_quantize(x.astype(np.float64), ...)``, and its ``xhat`` is that
    ``xhat`` cast to ``x``'s dtype); in float32, ``(x - lo) / Δ`` rounds values
    just past a cell edge back onto it, one cell low. On MPS, which has no
    float64, the computation is in float32, with those errors at cell edges.
    When the range is too wide (``hi - lo`` overflows, as for
    ``[-1e308, 1e308]``) or too narrow (``n_levels / (hi - lo)`` overflows) for
    the plain formulas, they are replaced by forms that cannot overflow.

    Raises
    ------
    TypeError
        Non-numeric ``x``, non-integer ``n_levels``, non-real ``lo``/``hi``.
    ValueError
        ``n_levels < 1``, ``lo >= hi``, non-finite ``lo``/``hi`` or NaN/inf in ``x``;
        a reconstruction level that ``x``'s dtype cannot hold (float32 ``x`` with
        ``lo = -1e300``, say), instead of returning ``inf``.

    Examples
    --------
    >>> idx, xhat = uniform_quantize([-3.0, -0.2, 0.3, 0.5, 7.0], 4, -1.0, 1.0)
    >>> idx.tolist(), xhat.tolist()
    ([0, 1, 2, 2, 3], [-0.75, -0.25, 0.25, 0.25, 0.75])
    """
    x = as_float(x, "x")
    check_finite(x, "x")
    n_levels = positive_int(n_levels, "n_levels")
    lo = finite_float(lo, "lo")
    hi = finite_float(hi, "hi")
    if not lo < hi:
        raise ValueError(f"lo must be smaller than hi, got lo={lo}, hi={hi}")
    width = hi - lo  # inf when the range is wider than float64 holds
    scale = n_levels / width if width > 0 else math.inf
    step = width / n_levels
    # The plain formulas need a finite width, a finite scale (a range of 1e-310 has
    # none) and lo, hi representable in the dtype the index is computed in; otherwise
    # the index and the levels are computed in float64 from forms that cannot overflow.
    plain = math.isfinite(width) and math.isfinite(scale) and step > 0
    # below 2**52 levels t = idx + 1 (a whole float) gives t - 1/2 = idx + 1/2 exactly, so the
    # levels can be computed in t's buffer, one pass fewer
    reuse = plain and n_levels <= 2**52
    # cell index i = ceil((x - lo) / Δ) - 1; the float is clipped to [1, L] before the
    # integer conversion, so values far outside [lo, hi] (even ones whose scaled value
    # overflows to inf) land in the end cells instead of wrapping around in int64
    if is_torch(x):
        import torch

        # float64 for every input dtype (the float64 reference's cells); MPS has no float64
        cdtype = torch.float32 if x.device.type == "mps" else torch.float64
        xs = x.detach().to(cdtype)  # xhat carries no gradient (it never did)
        if not (plain and max(abs(lo), abs(hi)) <= torch.finfo(cdtype).max):
            xs = xs.double()
        if reuse:
            t = (xs - lo).mul_(scale).ceil_().clamp_(1, n_levels)
            idx = t.to(torch.long).sub_(1)
            out = t.sub_(0.5).mul_(step).add_(lo).to(x.dtype)
        else:
            pos = (xs - lo) * scale if plain else _robust_position(xs, lo, hi, width) * n_levels
            t = torch.ceil(pos)
            idx = (t.clamp_(1, n_levels).to(torch.long) - 1).clamp_(0, n_levels - 1)
            out = _levels(idx.to(xs.dtype), lo, hi, width, step, n_levels, plain).to(x.dtype)
        if max(abs(lo), abs(hi)) > torch.finfo(x.dtype).max and bool(torch.isinf(out).any()):
            raise ValueError(_level_overflow(x.dtype, lo, hi))
        return idx, out
    # float64 for every input dtype: a float32 (x - lo) * scale rounds values just past a
    # cell edge back onto it, one cell below the float64 reference
    xs = x.astype(np.float64, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        if reuse:
            t = np.subtract(xs, lo, out=np.empty(xs.shape))  # out=: a 0-d array stays an array
            np.multiply(t, scale, out=t)
            np.ceil(t, out=t)
            np.clip(t, 1, n_levels, out=t)
            idx = t.astype(np.int64)
            idx -= 1
            t -= 0.5
            t *= step
            t += lo
            out = t.astype(x.dtype, copy=False)
        else:
            pos = (xs - lo) * scale if plain else _robust_position(xs, lo, hi, width) * n_levels
            t = np.ceil(pos)
            idx = np.clip(np.clip(t, 1, n_levels).astype(np.int64) - 1, 0, n_levels - 1)
            xhat = _levels(idx.astype(np.float64), lo, hi, width, step, n_levels, plain)
            out = xhat.astype(x.dtype, copy=False)
    if max(abs(lo), abs(hi)) > float(np.finfo(x.dtype).max) and np.isinf(out).any():
        raise ValueError(_level_overflow(x.dtype, lo, hi))
    # numpy ufuncs turn 0-d arrays into scalars; keep 0-d arrays, like torch's 0-d tensors
    return np.asarray(idx), np.asarray(out)


def _robust_position(xs: Any, lo: float, hi: float, width: float) -> Any:
    """``(x - lo) / (hi - lo)`` without overflow or 0/0 (float64 ``xs``).

    A width that overflows is replaced by half-width arithmetic (``x/2 - lo/2`` and
    ``hi/2 - lo/2`` cannot overflow); ``x - lo`` overflowing to ``±inf`` only saturates
    to the end cells, as clipping would.
    """
    if math.isfinite(width):
        return (xs - lo) / width
    return (xs / 2 - lo / 2) / (hi / 2 - lo / 2)


def _levels(
    i: Any, lo: float, hi: float, width: float, step: float, n_levels: int, plain: bool
) -> Any:
    """Reconstruction levels ``lo + (i + 1/2) Δ`` of the cell indices ``i`` (float)."""
    if plain:
        return lo + (i + 0.5) * step
    if math.isfinite(width):  # a tiny range: (i + 1/2) / L <= 1 keeps the product finite
        return lo + ((i + 0.5) / n_levels) * width
    centre, half = lo / 2 + hi / 2, hi / 2 - lo / 2
    return centre + ((2 * i + 1 - n_levels) / n_levels) * half


def _level_overflow(dtype: Any, lo: float, hi: float) -> str:
    return (
        f"x has dtype {dtype}, which cannot hold the reconstruction levels of "
        f"[lo, hi] = [{lo!r}, {hi!r}] that x falls on (they overflow to inf); "
        "pass x in a wider dtype (float64) or a range the dtype can hold"
    )


# ----------------------------------------------------------------------------- densities

_SQRT3 = math.sqrt(3.0)
_LAPLACE_B = 1.0 / math.sqrt(2.0)  # Laplace scale with variance 2 b^2 = 1


def _gauss_moments(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mass, first and second partial moments of N(0, 1) on [a, b].

    Uses Phi' = phi, (-phi)' = x phi and (Phi - x phi)' = x^2 phi.
    """

    def xphi(t: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            out = t * np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
        return np.where(np.isfinite(t), out, 0.0)

    from scipy import special  # imported here: `import rvqlib` must not pay for scipy

    phi_a = np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    phi_b = np.exp(-0.5 * b * b) / math.sqrt(2 * math.pi)
    # mass: subtract the smaller tail probabilities for accuracy far from 0
    mass = np.where(a >= 0, special.ndtr(-a) - special.ndtr(-b), special.ndtr(b) - special.ndtr(a))
    m1 = phi_a - phi_b
    m2 = mass - (xphi(b) - xphi(a))
    return mass, m1, m2


def _laplace_moments(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mass and partial moments of the unit-variance Laplace density on [a, b].

    With scale ``s = 1/sqrt(2)`` and ``f(t) = exp(-|t|/s) / (2s)``, the integrals
    from 0 to ``x`` (``u = |x|``, ``e = exp(-u/s)``) are
    ``G0 = sign(x) (1 - e) / 2``, ``G1 = (s - (u + s) e) / 2`` (even in x) and
    ``G2 = sign(x) (2 s^2 - (u^2 + 2 s u + 2 s^2) e) / 2``.
    """
    s = _LAPLACE_B

    def g(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u = np.abs(x)
        e = np.exp(-u / s)
        sg = np.sign(x)
        finite = np.isfinite(u)
        with np.errstate(invalid="ignore"):
            t1 = np.where(finite, (u + s) * e, 0.0)
            t2 = np.where(finite, (u * u + 2 * s * u + 2 * s * s) * e, 0.0)
        return sg * (1 - e) / 2, (s - t1) / 2, sg * (2 * s * s - t2) / 2

    a0, a1, a2 = g(a)
    b0, b1, b2 = g(b)
    mass, m1, m2 = b0 - a0, b1 - a1, b2 - a2
    # A cell on one side of 0 is a truncated exponential: with ``u`` the distance of its
    # near edge from 0 and ``w`` its width, its mass is ``exp(-u/s) (1 - exp(-w/s)) / 2``
    # and its mean lies ``s - w / expm1(w/s)`` beyond the near edge. These forms keep full
    # relative precision in the far tail, where the differences above cancel (the
    # outermost cell of a 256-level quantizer holds a mass of ~3e-7).
    one_side = (a >= 0) | (b <= 0)
    if np.any(one_side):
        sign = np.where(b <= 0, -1.0, 1.0)
        u = np.where(b <= 0, -b, a)
        w = b - a
        with np.errstate(invalid="ignore", over="ignore"):
            tail_mass = np.exp(-u / s) * -np.expm1(-w / s) / 2
            beyond = np.where(np.isinf(w), s, s - w / np.expm1(w / s))
        beyond = np.where(w > 0, beyond, 0.0)
        mass = np.where(one_side, tail_mass, mass)
        m1 = np.where(one_side, tail_mass * sign * (u + beyond), m1)
    return mass, m1, m2


def _uniform_moments(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mass and partial moments of the uniform density on [-sqrt 3, sqrt 3] on [a, b]."""
    a = np.clip(a, -_SQRT3, _SQRT3)
    b = np.clip(b, -_SQRT3, _SQRT3)
    c = 1.0 / (2 * _SQRT3)
    w = b - a  # factored forms: no cancellation between b**k and a**k for narrow cells
    return c * w, c * w * (b + a) / 2, c * w * (a * a + a * b + b * b) / 3


_Moments = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
_Curve = Callable[[np.ndarray], np.ndarray]


def _ndtri(p: np.ndarray) -> np.ndarray:
    from scipy import special

    return special.ndtri(p)


def _laplace_quantile(p: np.ndarray, scale: float) -> np.ndarray:
    return -scale * np.sign(p - 0.5) * np.log1p(-2 * np.abs(p - 0.5))


class _Density(NamedTuple):
    moments: _Moments  # mass, first and second partial moments on [a, b]
    pdf: _Curve
    # quantile function of p^(1/3) normalised: the high-resolution (companding) point
    # density of the optimal quantizer (Panter & Dite 1951), used as the starting levels
    compander_quantile: _Curve
    kinks: tuple[float, ...]  # points where the density is not smooth
    support: tuple[float, float] = (-math.inf, math.inf)


#: Gauss-Legendre rule used on narrow cells (see :func:`_cell_stats`).
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
#: Cells at most this wide (and without a kink of the density inside) are integrated
#: by the Gauss-Legendre rule: its error is below 1e-18 relative for these densities.
_NARROW = 0.5


def _cell_stats(
    density: _Density, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mass, centroid and variance about the centroid of every cell ``[a, b]``.

    Wide cells (and the outer cells, which reach infinity) use the closed forms of
    the partial moments. In narrow cells those closed forms are differences of
    nearly equal numbers: for a 300,000-level Gaussian quantizer the centroid of
    the cells near 0 loses four or five digits, enough for the Newton iteration to
    stall above ``tol``. There the moments come from an 8-point Gauss-Legendre rule
    written about the cell's midpoint, so the centroid's offset from the midpoint
    (and the variance) keep their relative precision: the centroid is exact to a
    few units of its last bit.
    """
    a = np.maximum(a, density.support[0])  # the outer cells of a bounded density are finite
    b = np.minimum(b, density.support[1])
    mass, m1, m2 = density.moments(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = m1 / mass
        var = np.maximum(m2 / mass - centroid * centroid, 0.0)
    w = b - a
    narrow = np.isfinite(w) & (w <= _NARROW) & (w > 0)
    for k in density.kinks:
        narrow &= ~((a < k) & (k < b))
    if np.any(narrow):
        lo, hi = a[narrow], b[narrow]
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        t = half[:, None] * _GL_NODES[None, :]  # node offsets from the midpoint
        f = density.pdf(mid[:, None] + t) * _GL_WEIGHTS[None, :]
        f0 = f.sum(axis=1)
        delta = (f * t).sum(axis=1) / f0
        dev = t - delta[:, None]
        mass = mass.copy()
        centroid = centroid.copy()
        var = var.copy()
        mass[narrow] = f0 * half
        centroid[narrow] = mid + delta
        var[narrow] = (f * dev * dev).sum(axis=1) / f0
    return mass, centroid, var


_DENSITIES: dict[str, _Density] = {
    # p^(1/3) of N(0, 1) is proportional to the N(0, 3) density
    "gaussian": _Density(
        _gauss_moments,
        lambda t: np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi),
        lambda p: math.sqrt(3.0) * _ndtri(p),
        (),
    ),
    # p^(1/3) of a Laplace density of scale b is a Laplace density of scale 3 b
    "laplace": _Density(
        _laplace_moments,
        lambda t: np.exp(-np.abs(t) / _LAPLACE_B) / (2 * _LAPLACE_B),
        lambda p: _laplace_quantile(p, 3 * _LAPLACE_B),
        (0.0,),
    ),
    "uniform": _Density(
        _uniform_moments,
        lambda t: np.where(np.abs(t) <= _SQRT3, 1 / (2 * _SQRT3), 0.0),
        lambda p: _SQRT3 * (2 * p - 1),
        (-_SQRT3, _SQRT3),
        (-_SQRT3, _SQRT3),
    ),
}

#: Names of the unit-variance densities :func:`lloyd_max` knows.
DISTRIBUTIONS: tuple[str, ...] = tuple(_DENSITIES)


# ----------------------------------------------------------------------------- Lloyd-Max


class LloydMax(NamedTuple):
    """Result of :func:`lloyd_max`.

    Attributes
    ----------
    thresholds : numpy.ndarray, shape (L - 1,)
        Interior decision thresholds, increasing (the outer edges are ``±inf``,
        or the support's ends for the uniform density).
    levels : numpy.ndarray, shape (L,)
        Reconstruction levels, increasing.
    mse : float
        Mean squared error of the quantizer for the unit-variance density.
    """

    thresholds: np.ndarray
    levels: np.ndarray
    mse: float


def lloyd_max(
    n_levels: int,
    distribution: str = "gaussian",
    *,
    tol: float = 1e-10,
    max_iter: int = 100_000,
) -> LloydMax:
    """Optimal (minimum-MSE) scalar quantizer for a unit-variance density.

    Solves the two optimality conditions together: nearest neighbour
    (thresholds at midpoints of adjacent levels) and centroid (levels at the
    conditional means of their cells). Lloyd's iteration alternates them; one
    iteration is the map ``y -> T(y)`` from levels to the centroids of their
    cells, and the optimum is its fixed point ``T(y) = y``. Here that equation is
    solved by Newton's method, which needs ~5 iterations where Lloyd's needs
    thousands for ``L = 256``, until a step moves no level by ``tol`` or more.

    Parameters
    ----------
    n_levels : int
        Number of levels ``L >= 1``.
    distribution : {"gaussian", "laplace", "uniform"}
        Zero-mean, unit-variance density: standard normal; Laplace with scale
        ``1/sqrt(2)``; uniform on ``[-sqrt(3), sqrt(3)]``.
    tol : float, default 1e-10
        Convergence threshold on the largest change of a level in one iteration
        (the Newton step; near the fixed point it also bounds the remaining error).
    max_iter : int, default 100000
        Iteration cap; a ``RuntimeWarning`` is issued if it is reached.

    Returns
    -------
    LloydMax
        ``(thresholds, levels, mse)``.

    Raises
    ------
    TypeError
        Non-integer ``n_levels``/``max_iter``, non-string ``distribution``.
    ValueError
        ``n_levels < 1`` or above :data:`MAX_LLOYD_MAX_LEVELS` (``2**20``),
        unknown ``distribution``, ``tol <= 0``, ``max_iter < 1``.

    Warns
    -----
    RuntimeWarning
        If ``max_iter`` is reached, or if the iteration stalls at the float64
        rounding limit above ``tol`` (five Lloyd steps in a row that do not
        halve the residual): the levels returned are then as accurate as
        float64 allows, and the cost stays a few iterations of ``O(L)``.

    Notes
    -----
    Start: the high-resolution (companding) approximation of Panter & Dite
    (1951), whose optimal density of levels is proportional to ``p(x)^(1/3)``;
    the levels start at the quantiles ``(i + 1/2) / L`` of that normalised
    density (``N(0, 3)`` for the Gaussian, a Laplace density of three times the
    scale for the Laplace, the uniform density itself for the uniform).

    Iteration: all three densities are symmetric and log-concave, so the optimum
    is unique (Fleischer 1964) and symmetric, and only the ``L // 2`` positive
    levels are unknowns (an odd ``L`` has a level at 0). The Jacobian of ``T`` is
    tridiagonal (a centroid depends on its two thresholds, ``dc/dt = p(t) |t - c|
    / mass``), so a Newton step costs ``O(L)``. A step that would break the order
    of the levels or not shrink the largest ``|T(y) - y|`` is replaced by one
    Lloyd iteration ``y <- T(y)``.

    Closed forms: for the uniform density the optimum is the uniform quantizer
    itself, with step ``Δ = 2 sqrt(3) / L``, levels at the cell midpoints and
    ``mse = Δ² / 12 = 1 / L²``. For two levels the levels are ``±E|X|``:
    ``±sqrt(2/π)`` with ``mse = 1 - 2/π`` for the Gaussian and ``±1/sqrt(2)``
    with ``mse = 1/2`` for the Laplace density.

    Precision and cost: the cells' masses and centroids come from closed forms,
    except in narrow cells (width at most 0.5, the density smooth inside),
    where a Gauss-Legendre rule about the cell's midpoint keeps the centroid
    exact to its last bits (see ``_cell_stats``); the MSE is summed as
    ``mass * ((centroid - level)^2 + variance)`` per cell, again without
    cancellation. Newton's method then needs about six iterations at every
    size, so the cost grows linearly with ``L``: about 1 s at ``2**20`` levels.

    Examples
    --------
    >>> q = lloyd_max(2)
    >>> round(float(q.levels[1]), 4), round(q.mse, 4)
    (0.7979, 0.3634)
    """
    n_levels = positive_int(n_levels, "n_levels")
    if n_levels > MAX_LLOYD_MAX_LEVELS:
        raise ValueError(
            f"n_levels must be at most {MAX_LLOYD_MAX_LEVELS:,} (2**20, 20 bits per sample), "
            f"got {n_levels:,}: each iteration holds 8 density values per level, and "
            "neighbouring levels of larger quantizers are closer than the fixed-point "
            "iteration resolves in float64"
        )
    if not isinstance(distribution, str):
        raise TypeError(f"distribution must be a string, got {type(distribution).__name__}")
    if distribution not in _DENSITIES:
        raise ValueError(f"distribution must be one of {list(DISTRIBUTIONS)}, got {distribution!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)):
        raise TypeError(f"tol must be a real number, got {type(tol).__name__}")
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0, got {tol}")
    max_iter = positive_int(max_iter, "max_iter")
    density = _DENSITIES[distribution]

    # every density here is symmetric and log-concave, so the optimum is unique (Fleischer
    # 1964) and symmetric: solve for the m = L // 2 positive levels; an odd L adds level 0
    odd = n_levels % 2 == 1
    m = n_levels // 2
    start = density.compander_quantile((np.arange(n_levels) + 0.5) / n_levels)
    pos = np.asarray(start, dtype=np.float64)[n_levels - m :]
    change = 0.0
    best = math.inf  # smallest largest-residual seen
    stalled = 0  # Lloyd fallbacks in a row that did not halve it
    converged = m == 0
    for _ in range(max_iter if m else 0):
        centroids, jac = _half_centroid_map(pos, density, odd)
        residual = centroids - pos  # how far one Lloyd iteration would move each level
        res_size = float(np.max(np.abs(residual)))
        step = _newton_step(residual, jac)
        new = pos + step
        size = float(np.max(np.abs(step)))
        ok = bool(np.all(np.isfinite(new)) and new[0] > 0 and np.all(np.diff(new) > 0))
        if ok and size >= tol:  # accept a Newton step only if it shrinks the residual
            new_residual = _half_centroid_map(new, density, odd)[0] - new
            ok = float(np.max(np.abs(new_residual))) < res_size
        if not ok:  # far from the fixed point: fall back on one Lloyd iteration
            new = centroids
            size = res_size
            stalled = stalled + 1 if res_size > 0.5 * best else 0
        else:
            stalled = 0
        best = min(best, res_size)
        change = size
        pos = new
        if change < tol:
            converged = True
            break
        if stalled >= _STALL_LIMIT:
            # neither Newton nor Lloyd steps make progress: the levels sit at the
            # float64 rounding limit of the fixed-point map, above tol
            break
    if not converged:
        reason = (
            f"the levels stopped improving at a change of {change:.3g} (the float64 rounding "
            "limit of the fixed-point map)"
            if stalled >= _STALL_LIMIT
            else f"max_iter={max_iter} iterations were not enough (last change {change:.3g})"
        )
        warnings.warn(
            f"lloyd_max did not converge to tol={tol}: {reason}", RuntimeWarning, stacklevel=2
        )
    middle = np.zeros(1) if odd else np.zeros(0)
    levels = np.concatenate([-pos[::-1], middle, pos])
    inf = np.array([np.inf])
    thresholds = (levels[:-1] + levels[1:]) / 2
    edges = np.concatenate([-inf, thresholds, inf])
    mass, centroid, var = _cell_stats(density, edges[:-1], edges[1:])
    # E (X - y)^2 over a cell = mass * ((centroid - y)^2 + variance): no cancellation
    offset = centroid - levels
    mse = float(math.fsum(mass * (offset * offset + var)))
    return LloydMax(thresholds, levels, mse)


#: Largest ``n_levels`` :func:`lloyd_max` accepts (2**20, 20 bits per sample).
MAX_LLOYD_MAX_LEVELS = 2**20
#: Lloyd fallback steps in a row that fail to halve the residual before the
#: iteration is declared stalled at the rounding limit.
_STALL_LIMIT = 5


def _half_centroid_map(
    pos: np.ndarray, density: _Density, odd: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One Lloyd iteration on the positive levels of a symmetric quantizer, and its Jacobian.

    The positive cells are ``(t_{i-1}, t_i]`` with ``t_i = (y_i + y_{i+1}) / 2`` and
    ``t_m = inf``; the first starts at 0 (even ``L``) or at ``y_1 / 2`` (odd ``L``, whose
    middle level is 0). The centroid of a cell is ``c_i = M1 / M0`` (partial moments);
    differentiating the integrals, ``dc_i/dt_i = p(t_i) (t_i - c_i) / M0`` and
    ``dc_i/dt_{i-1} = p(t_{i-1}) (c_i - t_{i-1}) / M0``, and a threshold moves by half of
    each neighbouring level's move. Returns ``T(y)`` and the tridiagonal Jacobian as
    ``jac`` of shape ``(3, m)``: ``jac[0, i] = dc_i/dy_{i-1}``, ``jac[1, i] = dc_i/dy_i``,
    ``jac[2, i] = dc_i/dy_{i+1}``.

    Solving for one half keeps Newton's method away from the threshold at 0 of an even
    ``L``: there the Laplace density has a kink, and on the full set of levels the
    Jacobian is singular along the direction that moves every level together.
    """
    thresholds = (pos[:-1] + pos[1:]) / 2
    first = pos[:1] / 2 if odd else np.zeros(1)
    lo = np.concatenate([first, thresholds])
    hi = np.concatenate([thresholds, [np.inf]])
    mass, c, _ = _cell_stats(density, lo, hi)
    d_lo = density.pdf(lo) * (c - lo) / mass
    with np.errstate(invalid="ignore"):
        d_hi = np.where(np.isfinite(hi), density.pdf(hi) * (hi - c) / mass, 0.0)
    diag = (d_lo + d_hi) / 2
    if not odd:
        diag[0] = d_hi[0] / 2  # the first cell starts at 0, which does not move
    return c, np.stack([d_lo / 2, diag, d_hi / 2])


def _newton_step(residual: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """Solve ``(I - J) step = residual``: Newton's step for the fixed point ``T(y) = y``.

    ``I - J`` is tridiagonal, so the step costs ``O(L)`` (a banded LU solve).
    """
    n = residual.size
    ab = np.zeros((3, n))
    ab[0, 1:] = -jac[2, :-1]  # superdiagonal: row i, column i + 1
    ab[1] = 1.0 - jac[1]
    ab[2, :-1] = -jac[0, 1:]  # subdiagonal: row i + 1, column i
    from scipy import linalg

    try:
        return linalg.solve_banded((1, 1), ab, residual)
    except (linalg.LinAlgError, ValueError):  # singular: let the caller take a Lloyd step
        return np.full(n, np.nan)


# ----------------------------------------------------------------------------- Max (1960)


class MaxTableEntry(NamedTuple):
    """One row of Max's (1960) Table I for the unit Gaussian.

    Attributes
    ----------
    thresholds : tuple of float
        Interior thresholds ``x_j`` (both signs, increasing).
    levels : tuple of float
        Output levels ``y_j`` (both signs, increasing).
    mse : float
        Mean squared error ``ε``.
    """

    thresholds: tuple[float, ...]
    levels: tuple[float, ...]
    mse: float


#: Citation for :data:`MAX_1960_GAUSSIAN` (bibliography key ``max1960``).
MAX_1960_SOURCE = (
    'J. Max, "Quantizing for minimum distortion", IRE Transactions on Information '
    "Theory, 6(1):7-12, 1960, Table I (optimum quantizer for a normal signal of unit "
    "variance)"
)


# Max prints, for each N, the non-negative x_j and y_j of the (symmetric) optimum
# quantizer to four significant digits, and the error epsilon. The values below are
# typed from that table; each was cross-checked against lloyd_max(), computed here to
# 1e-10: all agree to better than 5e-4, the differences sitting in the last printed
# digit (for example Max's 0.7980 for N = 2 against sqrt(2/pi) = 0.797885).
_MAX_HALF = {
    # N: (x_j >= 0, y_j >= 0, ε)
    1: ((), (0.0,), 1.0),
    2: ((0.0,), (0.7980,), 0.3634),
    3: ((0.6120,), (0.0, 1.224), 0.1902),
    4: ((0.0, 0.9816), (0.4528, 1.510), 0.1175),
    5: ((0.3823, 1.244), (0.0, 0.7646, 1.724), 0.07994),
    6: ((0.0, 0.6589, 1.447), (0.3177, 1.000, 1.894), 0.05798),
    7: ((0.2803, 0.8744, 1.611), (0.0, 0.5606, 1.188, 2.033), 0.04400),
    8: ((0.0, 0.5006, 1.050, 1.748), (0.2451, 0.7560, 1.344, 2.152), 0.03454),
}


def _expand(half: tuple[float, ...]) -> tuple[float, ...]:
    neg = tuple(-v for v in reversed(half) if v != 0.0)
    return neg + tuple(half)


#: Max (1960), Table I: the minimum-MSE quantizer of a unit-variance Gaussian for
#: ``N = 1..8`` levels, as ``{N: MaxTableEntry(thresholds, levels, mse)}`` with both
#: signs written out. Source: :data:`MAX_1960_SOURCE`.
MAX_1960_GAUSSIAN: dict[int, MaxTableEntry] = {
    n: MaxTableEntry(_expand(x), _expand(y), eps) for n, (x, y, eps) in _MAX_HALF.items()
}
