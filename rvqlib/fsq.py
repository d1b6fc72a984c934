"""Quantizers without a learned codebook: FSQ, LFQ and residual FSQ (chapter 10).

- :func:`fsq` / :func:`fsq_decode`: finite scalar quantization (Mentzer et al.,
  2023). Each coordinate is bounded to ``[-1, 1]`` and rounded to one of
  ``levels[d]`` equally spaced values; the code is the mixed-radix number of
  the per-coordinate positions.
- :func:`lfq` / :func:`lfq_decode`: lookup-free quantization (Yu et al., 2023),
  the one-bit-per-coordinate case: ``zq = sign(z)``.
- :class:`FSQ`, :class:`LFQ`, :class:`ResidualFSQ`: the same as torch modules
  with straight-through gradients; :class:`LFQ` adds the entropy penalty of
  Yu et al. that keeps every implicit code in use.

The implicit codebook of :func:`fsq` is the grid of all ``prod(levels)``
combinations of per-coordinate values, and that of :func:`lfq` the ``2**D``
corners of the cube ``{-1, +1}**D``. Nothing is learned and nothing is
searched: the nearest grid point of a bounded vector is found coordinate by
coordinate, which is why these quantizers cannot collapse onto a few codes the
way a learned codebook can (chapter 9).

Functions follow the library's conventions (numpy in, numpy out; torch in,
torch out on the same device; codes are ``int64``; bad input raises a
``ValueError`` or ``TypeError`` that names the argument). Internally numpy
input is computed with torch on a zero-copy view, so both back ends give the
same bits.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rvqlib._validate import (
    as_index,
    check_vectors,
    is_torch,
    make_callable,
    nonnegative_float,
    positive_int,
)
from rvqlib.nn import _masked_mse

__all__ = ["FSQ", "LFQ", "ResidualFSQ", "fsq", "fsq_decode", "lfq", "lfq_decode"]

#: Largest ``dim`` whose ``2**dim`` LFQ codes fit in ``int64``.
LFQ_MAX_DIM = 63

#: Floor of the code log-probabilities ``log q(c | z)`` before ``exp`` in
#: :class:`LFQ`'s codebook entropy. On CPU, torch's ``exp`` takes a path 10-30x
#: slower for results below float32's smallest normal number (arguments below
#: about -87.3); at a low temperature almost every ``log q`` is there. A
#: probability below ``exp(-80) ~ 1.8e-35`` changes the entropy by less than
#: ``2**bits * 80 * exp(-80) ~ 1.5e-30`` nats (``bits = 10``): nothing, in float32
#: or float64.
_LOG_Q_FLOOR = -80.0


# --------------------------------------------------------------------------- validation
def _check_levels(levels: Any) -> tuple[int, ...]:
    """``levels`` as a tuple of Python ints >= 2 whose product fits an int64 code."""
    if is_torch(levels) or isinstance(levels, np.ndarray):
        if levels.ndim != 1:
            raise ValueError(
                f"levels must be a 1-D sequence of integers, got shape {tuple(levels.shape)}"
            )
        if is_torch(levels):
            integral = not (levels.is_floating_point() or levels.is_complex())
            integral = integral and levels.dtype != torch.bool
        else:
            integral = levels.dtype.kind in "iu"
        if not integral:
            raise TypeError(f"levels must hold integers, got dtype {levels.dtype}")
        levels = [int(v) for v in levels.tolist()]
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence):
        raise TypeError(
            f"levels must be a sequence of integers >= 2 (one per coordinate), "
            f"got {type(levels).__name__}"
        )
    if len(levels) == 0:
        raise ValueError("levels is empty: give at least one coordinate's number of levels")
    out = []
    for d, value in enumerate(levels):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(
                f"levels[{d}] must be an integer >= 2, got {value!r} ({type(value).__name__})"
            )
        if int(value) < 2:
            raise ValueError(
                f"levels[{d}] must be >= 2 (a coordinate needs two values), got {value}"
            )
        out.append(int(value))
    if math.prod(out) > 2**63:
        raise ValueError(
            f"levels give prod(levels) = {math.prod(out)} codes, more than an int64 code can "
            f"index (2**63); use fewer or coarser coordinates"
        )
    return tuple(out)


def _check_lfq_dim(dim: Any) -> int:
    dim = positive_int(dim, "dim")
    if dim > LFQ_MAX_DIM:
        raise ValueError(
            f"dim must be at most {LFQ_MAX_DIM}: 2**dim codes must fit in int64, got dim={dim}"
        )
    return dim


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every narrower float is computed in float32 (LFQ's entropies)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _quantize_dtype(device: torch.device) -> torch.dtype:
    """The dtype FSQ bounds and rounds in: float64 for every input dtype where the device has it.

    The codes are then those of the float64 computation on the same input
    values whatever the input dtype: in float32, ``tanh`` rounds values just
    inside a cell edge onto it (``tanh(-0.5493061)`` is ``-0.5`` exactly in
    float32, ``-0.49999996`` in float64), and beyond ``2**24`` levels float32
    cannot tell neighbouring levels apart. MPS has no float64: there the
    computation stays in float32, and values within a float32 rounding of a
    cell edge may land in the neighbouring cell.

    On CPU, :func:`fsq` and :class:`FSQ` reach the same codes and values
    faster for float32, float16 and bfloat16 input that needs no gradient
    and levels up to ``2**10`` (:func:`_fsq_fast`): they bound and round in
    float32 and recompute in float64 only the entries whose float32 scaled
    value lies within ``(max(half) + 1) 2**-18`` of a cell edge, a tolerance
    over 25 times float32's error there.
    """
    return torch.float32 if device.type == "mps" else torch.float64


def _to_torch(z: Any, name: str) -> tuple[torch.Tensor, bool]:
    """Validate vectors ``(..., D)`` and return them as a tensor plus 'came as numpy'."""
    z = check_vectors(z, name)
    if is_torch(z):
        return z, False
    arr = np.ascontiguousarray(z)
    if not arr.flags.writeable:
        arr = arr.copy()
    return torch.from_numpy(arr), True


def _codes_to_torch(codes: Any, name: str) -> tuple[torch.Tensor, bool]:
    codes = as_index(codes, name)
    if is_torch(codes):
        return codes, False
    return torch.from_numpy(np.ascontiguousarray(codes)), True


def _output_dtype(dtype: Any, numpy_out: bool) -> torch.dtype:
    if dtype is None:
        return torch.float64 if numpy_out else torch.get_default_dtype()
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        return dtype
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a floating numpy or torch dtype, got {dtype!r}") from None
    if np_dtype.kind != "f":
        raise TypeError(f"dtype must be a floating dtype, got {np_dtype}")
    return torch.from_numpy(np.zeros(0, dtype=np_dtype)).dtype


def _check_code_range(codes: torch.Tensor, n_codes: int, what: str) -> None:
    if codes.numel() == 0:
        return
    lo, hi = int(codes.min()), int(codes.max())
    if lo < 0 or hi > n_codes - 1:
        raise ValueError(f"codes must lie in [0, {n_codes}) for {what}, got values in [{lo}, {hi}]")


def _radix_basis(levels: tuple[int, ...], device: torch.device) -> torch.Tensor:
    basis = [1]
    for level in levels[:-1]:
        basis.append(basis[-1] * level)
    return torch.tensor(basis, dtype=torch.long, device=device)


# --------------------------------------------------------------------------- FSQ core
def _grid(
    levels: tuple[int, ...], cdtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-coordinate constants ``(half, shift, off)`` of the grids of ``levels``.

    ``half = (L - 1)/2``; in the centred coordinate ``c = y * half`` the grid is
    ``{-half, ..., half}`` in unit steps, integers for odd ``L`` and
    half-integers for even ``L`` (``off = half - floor(half)`` is 0 or 1/2;
    ``shift = 1/2 - off``).
    """
    half = (torch.tensor(levels, dtype=cdtype, device=device) - 1) / 2
    off = half - torch.floor(half)
    return half, 0.5 - off, off


def _round_centred(
    y: torch.Tensor, half: torch.Tensor, shift: torch.Tensor, off: torch.Tensor
) -> torch.Tensor:
    """The nearest grid point ``g`` (centred, ``|g| <= half``) of bounded values ``y``.

    ``y`` holds values in ``[-1, 1]``. With ``c = y (L - 1)/2``, ``g`` is ``c``
    rounded to the nearest point of ``{-half, ..., half}``, ties away from 0:
    ``g = sign(c) (off + floor(|c| + 1/2 - off))``, so ``-y`` gets ``-g``
    exactly; ``y = 0`` with an even ``L`` (exactly between the two middle
    values) gets ``+1/2``, as ``sign(0) = +1`` in :func:`lfq`. No clamp is
    needed: ``|c| <= half`` gives ``|g| <= half``. The level index is
    ``k = g + half`` and the value ``g / half``.
    """
    y = y.detach()
    g = (y * half).abs_().add_(shift).floor_().add_(off)
    # sign(c) g with sign(+-0) = +1: y + 0.0 turns -0.0 into +0.0 (one pass, no mask)
    return g.copysign_(y + 0.0)


def _mixed_radix(k: torch.Tensor, levels: tuple[int, ...]) -> torch.Tensor:
    """Codes ``sum_d k_d prod(levels[:d])`` of integer-valued float digits ``(..., D)``."""
    basis = _radix_basis(levels, k.device)
    exact = 2**24 if k.dtype == torch.float32 else 2**53
    if math.prod(levels) <= exact:  # every partial sum is an integer the float holds exactly
        return (k @ basis.to(k.dtype)).to(torch.long)
    return (k.to(torch.long) * basis).sum(dim=-1)


def _level_values(k: torch.Tensor, levels_t: torch.Tensor, cdtype: torch.dtype) -> torch.Tensor:
    """The value ``(k - half) / half = (2k - (L-1)) / (L-1)`` of level ``k``.

    Bit for bit the ``g / half`` of :func:`_fsq_torch` (``k - half`` is exact),
    and mirror-symmetric about 0.
    """
    half = ((levels_t - 1) / 2).to(cdtype)
    return (k.to(cdtype) - half) / half


#: Largest level of :func:`_fsq_fast`: its tolerance ``(half + 1) 2**-18`` stays far
#: above float32's error on ``u`` and far below a cell (``u`` is at most 512 there).
_FAST_MAX_LEVEL = 2**10

#: The input dtypes :func:`_fsq_fast` takes: float32 holds each of their values exactly.
_FAST_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _fsq_torch(
    z: torch.Tensor, levels: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(codes, values, bounded)`` of vectors ``z``: the codes and values of :func:`_fsq_exact`.

    Narrow CPU input that needs no gradient takes :func:`_fsq_fast`, which gives the
    same codes and the same values once cast to ``z.dtype``; its ``bounded`` is float32
    ``tanh`` and carries no gradient, so :func:`_with_straight_through` ignores it.
    Input that needs a gradient, float64, other devices, levels above
    ``_FAST_MAX_LEVEL`` and code being compiled by ``torch.compile`` take
    :func:`_fsq_exact`.
    """
    if (
        z.device.type == "cpu"
        and z.dtype in _FAST_DTYPES
        and max(levels) <= _FAST_MAX_LEVEL
        and not (z.requires_grad and torch.is_grad_enabled())
        and not torch.compiler.is_compiling()
    ):
        return _fsq_fast(z, levels)
    return _fsq_exact(z, levels)


def _fsq_fast(
    z: torch.Tensor, levels: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_fsq_exact`'s codes and values, in float32 but at the entries near a cell edge.

    With ``u = |tanh(z)| half + shift`` the magnitude of the grid point is
    ``floor(u) + off``. Float32 computes ``u`` within ``(2.52 half + 0.5) 2**-24``
    of its exact value (CPU float32 ``tanh`` is within 0.52 float32 ulps of
    float64's on every 61st float32 in ``[0, 10]``; the product and the sum
    add half an ulp each), float64 within far less; so where the float32 ``u``
    lies farther than ``tol = (max(half) + 1) 2**-18`` (over 25 times that bound)
    from every integer, both floors agree. The entries within ``tol`` are
    recomputed as :func:`_fsq_exact` does, in float64. The sign is that of
    ``z + 0.0``, which is the sign of the float64 ``tanh(z) + 0.0`` (float64
    ``tanh`` of a nonzero float32 is nonzero). ``g`` and ``half`` are exact in
    float32 and float32's quotient ``g / half`` rounds to ``z.dtype`` as float64's
    does (double rounding through a float with at least ``2p + 2`` bits is
    innocuous for division), so the values agree bit for bit too.
    """
    half_t, shift, off = _grid(levels, torch.float32, z.device)
    half: torch.Tensor | float = half_t
    if len(set(levels)) == 1:  # Python scalars: a (D,) operand costs a broadcast per pass
        half, shift, off = (levels[0] - 1) / 2, float(shift[0]), float(off[0])
    z32 = z.detach().to(torch.float32).contiguous()
    bounded = torch.tanh(z32)
    u = bounded.abs().mul_(half)
    if not isinstance(shift, float) or shift != 0.0:
        u.add_(shift)
    g = u.floor().add_(off)
    # u - g - shift = u - floor(u) - 1/2, exact for u >= 1 and within 2**-25 below
    frac = u.sub_(g)
    if not isinstance(shift, float) or shift != 0.0:
        frac.sub_(shift)
    tol = (max(levels) + 1) / 2 * 2.0**-18  # (max(half) + 1) 2**-18
    near = frac.abs_().gt_(0.5 - tol).view(-1)  # 1.0 where u is within tol of an integer
    if near.any():
        at = near.nonzero().squeeze(1)
        d = at % len(levels)
        half64, shift64, off64 = _grid(levels, torch.float64, z.device)
        y = torch.tanh(z32.view(-1)[at].to(torch.float64))
        exact = (y * half64[d]).abs_().add_(shift64[d]).floor_().add_(off64[d])
        g.view(-1)[at] = exact.to(torch.float32)  # an integer or half-integer below 2**10: exact
    g.copysign_(z32 + 0.0)
    values = g / half  # a correctly rounded division, also by a Python scalar
    codes = _mixed_radix(g.add_(half), levels)  # g + half = the level index k
    return codes, values, bounded


def _fsq_exact(
    z: torch.Tensor, levels: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(codes, values, bounded)`` of vectors ``z``, computed in :func:`_quantize_dtype`."""
    cdtype = _quantize_dtype(z.device)
    half, shift, off = _grid(levels, cdtype, z.device)
    bounded = torch.tanh(z.to(cdtype))
    g = _round_centred(bounded, half, shift, off)
    values = g / half
    codes = _mixed_radix(g.add_(half), levels)  # g + half = the level index k
    return codes, values, bounded


def _digits(codes: torch.Tensor, levels: tuple[int, ...]) -> torch.Tensor:
    """Mixed-radix digits ``(..., D)`` of codes, coordinate 0 least significant."""
    basis = _radix_basis(levels, codes.device)
    levels_l = torch.tensor(levels, dtype=torch.long, device=codes.device)
    return torch.div(codes.unsqueeze(-1), basis, rounding_mode="floor") % levels_l


def _with_straight_through(values: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """``values`` exactly, with the gradient of ``soft``: ``values + (soft - sg(soft))``.

    ``soft - soft.detach()`` is exactly zero, so the value is bit-for-bit
    ``values`` (``soft + sg(values - soft)`` can be one rounding off), while
    the gradient reaching ``soft`` is the identity.
    """
    if not soft.requires_grad:
        return values
    return values.detach() + (soft - soft.detach())


def fsq(z: Any, levels: Sequence[int]) -> tuple[Any, Any]:
    """Finite scalar quantization of vectors (Mentzer et al., 2023).

    Coordinate ``d`` of each vector is **bounded** to ``[-1, 1]`` by ``tanh``
    and **rounded** to the nearest of ``L = levels[d]`` equally spaced values

    .. math:: v_k = \\frac{2k - (L - 1)}{L - 1}, \\qquad k = 0, \\dots, L - 1,

    i.e. ``-1, -1 + 2/(L-1), ..., 1`` (both ends included, for odd and even
    ``L`` alike). In the scaled coordinate ``u = (tanh(z) + 1)(L - 1)/2`` in
    ``[0, L - 1]`` the position ``k`` is ``u`` rounded to the nearest integer,
    **ties away from the centre** ``(L - 1)/2``. The rule is symmetric:
    ``fsq(-z)`` gives the mirrored values ``-zq`` for every ``z`` except the
    single tie ``tanh(z) = 0`` of an even ``L``, which goes to the value just
    above 0 (as ``sign(0) = +1`` in :func:`lfq`; with ``levels = [2] * D``,
    ``fsq`` *is* :func:`lfq`).

    Why this bound. ``tanh`` maps the real line onto ``(-1, 1)``, so every
    value is reachable: level 0 for ``tanh(z) < -1 + 1/(L-1)``, level ``L-1``
    for ``tanh(z) >= 1 - 1/(L-1)``, and every level in between on an interval
    of width ``2/(L-1)`` of the bounded coordinate. The reference code of
    Mentzer et al. (their appendix A.1) bounds with
    ``tanh(z + s) (1 - 1e-3)(L - 1)/2 - o`` (``o = 1/2`` for even ``L``, 0 for
    odd), rounds to integers and divides by ``L // 2``: for odd ``L`` that is
    the grid above (with cell edges moved by the factor ``1 - 1e-3``), but for
    even ``L`` it is the asymmetric set ``{-L/2, ..., L/2 - 1} / (L/2)``
    (``-1, -1/2, 0, 1/2`` for ``L = 4``), whose largest value is not 1. The
    rule here is the symmetric one, also vector-quantize-pytorch's
    ``preserve_symmetry=True``: values inside ``[-1, 1]``, both ends reached,
    mirror-symmetric for every ``L``.

    Parameters
    ----------
    z : array_like or torch.Tensor
        Vectors of shape ``(..., D)`` with ``D = len(levels)``, finite.
    levels : sequence of int
        Number of values of each coordinate, each ``>= 2``; the implicit
        codebook has ``prod(levels)`` codes (at most ``2**63``).

    Returns
    -------
    codes : numpy.ndarray or torch.Tensor
        ``int64`` codes of shape ``z.shape[:-1]`` in ``[0, prod(levels))``:
        ``sum_d k_d * prod(levels[:d])``, coordinate 0 the least significant
        digit.
    zq : numpy.ndarray or torch.Tensor
        The quantized vectors ``v_{k_d}``, shape and dtype of ``z``. For a
        torch ``z`` that requires grad, ``zq`` carries the straight-through
        gradient of the bound: ``d zq / dz = 1 - tanh(z)**2``, the rounding
        treated as the identity.

    Raises
    ------
    TypeError
        Non-numeric ``z``; ``levels`` not a sequence of integers.
    ValueError
        NaN/inf in ``z``; last axis of ``z`` not ``len(levels)``; a level
        below 2; ``prod(levels) > 2**63``.

    See Also
    --------
    fsq_decode : codes back to ``zq``.
    FSQ : the torch module.

    Notes
    -----
    Any floating dtype gives the codes of float64: for float16, bfloat16 and
    float32 input the bound and the rounding are computed in float64 on the
    input's values (``fsq(z)`` has the codes of ``fsq(z.double())``, and its
    ``zq`` is that ``zq`` cast to ``z.dtype``). In float32, ``tanh`` rounds
    values just inside a cell edge onto the edge, and more than ``2**24``
    levels cannot be told apart at all. On MPS, which has no float64, the
    computation is in float32, with those errors at cell edges.

    On CPU, float32, float16 and bfloat16 input that needs no gradient, with
    every level at most ``2**10``, takes a faster path with the same codes and
    ``zq`` bit for bit: the bound and the rounding in float32, and in float64
    only the entries whose scaled float32 value ``|tanh(z)| (L - 1)/2 + shift``
    lies within ``(max(levels) + 1)/2 * 2**-18`` of an integer (a cell edge), a
    tolerance over 25 times float32's error there (CPU float32 ``tanh`` is
    within 0.52 float32 ulps of float64's). Input that needs a gradient, and
    code compiled by ``torch.compile``, keep the float64 computation throughout.

    Examples
    --------
    >>> codes, zq = fsq([[0.1, -3.0], [2.0, 0.0]], levels=[3, 4])
    >>> codes
    array([1, 8])
    >>> zq
    array([[ 0.        , -1.        ],
           [ 1.        ,  0.33333333]])
    """
    levels = _check_levels(levels)
    zt, numpy_out = _to_torch(z, "z")
    if zt.shape[-1] != len(levels):
        raise ValueError(
            f"z must have shape (..., {len(levels)}) (last axis = len(levels)), "
            f"got shape {tuple(zt.shape)}"
        )
    codes, values, bounded = _fsq_torch(zt, levels)
    zq = _with_straight_through(values, bounded).to(zt.dtype)
    if numpy_out:
        return codes.numpy(), zq.numpy()
    return codes, zq


def fsq_decode(codes: Any, levels: Sequence[int], *, dtype: Any = None) -> Any:
    """The quantized vectors of FSQ codes: the inverse of :func:`fsq`'s indexing.

    Digit ``d`` of the mixed-radix code (coordinate 0 least significant) is the
    level ``k_d`` of coordinate ``d``, whose value is ``(2 k_d - (L_d - 1)) /
    (L_d - 1)``. ``fsq_decode(fsq(z, levels)[0], levels, dtype=z.dtype)``
    equals ``fsq(z, levels)[1]`` exactly.

    Parameters
    ----------
    codes : array_like or torch.Tensor of int
        Codes in ``[0, prod(levels))``, any shape.
    levels : sequence of int
        As in :func:`fsq`.
    dtype : numpy or torch floating dtype, optional
        Dtype of the result. Default: float64 for numpy codes, torch's default
        dtype for torch codes.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape ``codes.shape + (len(levels),)``, values in ``[-1, 1]``; a tensor
        on the device of ``codes`` for torch input.

    Raises
    ------
    TypeError
        Non-integer codes, bad ``levels`` or a non-floating ``dtype``.
    ValueError
        Codes outside ``[0, prod(levels))``.

    Examples
    --------
    >>> fsq_decode([1, 8], levels=[3, 4])
    array([[ 0.        , -1.        ],
           [ 1.        ,  0.33333333]])
    """
    levels = _check_levels(levels)
    ct, numpy_out = _codes_to_torch(codes, "codes")
    out_dtype = _output_dtype(dtype, numpy_out)
    _check_code_range(ct, math.prod(levels), f"levels={list(levels)}")
    cdtype = _quantize_dtype(ct.device)  # as fsq computes zq, then cast
    levels_t = torch.tensor(levels, dtype=cdtype, device=ct.device)
    values = _level_values(_digits(ct, levels), levels_t, cdtype).to(out_dtype)
    return values.numpy() if numpy_out else values


# --------------------------------------------------------------------------- LFQ core
def _lfq_torch(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    positive = z >= 0
    d = z.shape[-1]
    if d <= 24:  # the bits as float32 digits: one exact matmul (partial sums < 2**24)
        weights = torch.pow(2.0, torch.arange(d, device=z.device, dtype=torch.float32))
        codes = (positive.to(torch.float32) @ weights).to(torch.long)
    else:
        weights = torch.pow(2, torch.arange(d, device=z.device, dtype=torch.long))
        codes = (positive.to(torch.long) * weights).sum(dim=-1)
    values = positive.to(z.dtype).mul_(2).sub_(1)
    return codes, values


def lfq(z: Any) -> tuple[Any, Any]:
    """Lookup-free quantization (Yu et al., 2023): each coordinate to its sign.

    ``zq = sign(z)`` with ``sign(0) = +1`` (also for ``-0.0``), and the code is
    the binary number whose bit ``d`` is ``[z_d >= 0]``:
    ``codes = sum_d [z_d >= 0] * 2**d``. The implicit codebook is the ``2**D``
    corners of ``{-1, +1}**D``; the nearest corner of any vector is its sign
    pattern, so no search is needed.

    Parameters
    ----------
    z : array_like or torch.Tensor
        Vectors of shape ``(..., D)``, ``1 <= D <= 63``, finite.

    Returns
    -------
    codes : numpy.ndarray or torch.Tensor
        ``int64`` codes of shape ``z.shape[:-1]`` in ``[0, 2**D)``.
    zq : numpy.ndarray or torch.Tensor
        ``+1``/``-1`` of the shape and dtype of ``z``. For a torch ``z`` that
        requires grad, ``zq`` carries the straight-through gradient (the
        identity).

    Raises
    ------
    TypeError
        Non-numeric ``z``.
    ValueError
        NaN/inf in ``z``, or ``D > 63``.

    See Also
    --------
    lfq_decode, LFQ

    Examples
    --------
    >>> codes, zq = lfq([[0.3, -1.2, 0.0]])
    >>> codes, zq
    (array([5]), array([[ 1., -1.,  1.]]))
    """
    zt, numpy_out = _to_torch(z, "z")
    _check_lfq_dim_of(zt.shape[-1], tuple(zt.shape))
    codes, values = _lfq_torch(zt)
    zq = _with_straight_through(values, zt)
    if numpy_out:
        return codes.numpy(), zq.numpy()
    return codes, zq


def _check_lfq_dim_of(d: int, shape: tuple[int, ...]) -> None:
    if d > LFQ_MAX_DIM:
        raise ValueError(
            f"z must have at most {LFQ_MAX_DIM} coordinates on its last axis (2**D codes must "
            f"fit in int64), got shape {shape}"
        )


def lfq_decode(codes: Any, dim: int, *, dtype: Any = None) -> Any:
    """The ``+1``/``-1`` vectors of LFQ codes: bit ``d`` of the code gives coordinate ``d``.

    ``lfq_decode(lfq(z)[0], D, dtype=z.dtype)`` equals ``lfq(z)[1]``.

    Parameters
    ----------
    codes : array_like or torch.Tensor of int
        Codes in ``[0, 2**dim)``, any shape.
    dim : int
        Number of coordinates ``D``, ``1 <= D <= 63``.
    dtype : numpy or torch floating dtype, optional
        Dtype of the result. Default: float64 for numpy codes, torch's default
        dtype for torch codes.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape ``codes.shape + (dim,)``.

    Raises
    ------
    TypeError
        Non-integer codes or ``dim``, non-floating ``dtype``.
    ValueError
        ``dim`` outside ``[1, 63]``, codes outside ``[0, 2**dim)``.

    Examples
    --------
    >>> lfq_decode([5, 0], 3)
    array([[ 1., -1.,  1.],
           [-1., -1., -1.]])
    """
    dim = _check_lfq_dim(dim)
    ct, numpy_out = _codes_to_torch(codes, "codes")
    out_dtype = _output_dtype(dtype, numpy_out)
    _check_code_range(ct, 2**dim, f"dim={dim}")
    bits = torch.arange(dim, device=ct.device, dtype=torch.long)
    positive = torch.bitwise_and(torch.bitwise_right_shift(ct.unsqueeze(-1), bits), 1) == 1
    values = torch.where(positive, 1.0, -1.0).to(out_dtype)
    return values.numpy() if numpy_out else values


# --------------------------------------------------------------------------- modules
def _check_channel_dim(channel_dim: Any) -> int:
    if isinstance(channel_dim, bool) or not isinstance(channel_dim, numbers.Integral):
        raise TypeError(f"channel_dim must be an integer axis, got {type(channel_dim).__name__}")
    return int(channel_dim)


def _channels_last(z: Any, name: str, dim: int, channel_dim: int) -> torch.Tensor:
    """Validate a torch input and move its channel axis last."""
    if not is_torch(z):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(z).__name__}")
    if z.ndim == 0 or not -z.ndim <= channel_dim < z.ndim:
        raise ValueError(
            f"channel_dim={channel_dim} is not an axis of {name} with shape {tuple(z.shape)}"
        )
    if z.shape[channel_dim] != dim:
        raise ValueError(
            f"{name} must have {dim} channels on axis channel_dim={channel_dim}, "
            f"got shape {tuple(z.shape)}"
        )
    z = z.movedim(channel_dim, -1)
    return check_vectors(z, name)


def _channels_back(zq: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """Inverse of :func:`_channels_last` for an output with the input's rank."""
    return zq.movedim(-1, channel_dim)


class FSQ(nn.Module):
    """Finite scalar quantization as a torch module (Mentzer et al., 2023).

    ``forward(z)`` is :func:`fsq` on the channel axis: each coordinate is
    bounded by ``tanh`` and rounded to one of ``levels[d]`` equally spaced
    values in ``[-1, 1]``. The output carries straight-through gradients
    through the rounding, so the gradient reaching ``z`` is ``1 - tanh(z)**2``
    times the gradient reaching ``zq``. There is no codebook, no parameter and
    no auxiliary loss: ``losses`` is an empty dict (so ``sum(losses.values())``
    is 0 in a training loop written for :class:`rvqlib.nn.ResidualVQ`).

    Derived in chapter 10 ("Quantizers without a learned codebook").

    Parameters
    ----------
    levels : sequence of int
        Number of values of each of the ``D = len(levels)`` coordinates
        (each >= 2). Mentzer et al. recommend e.g. ``[8, 5, 5, 5]`` for about
        ``2**10`` codes.
    channel_dim : int, default -1
        Axis of ``z`` that holds the ``D`` coordinates (``1`` for ``(B, D, T)``);
        outputs keep the input layout, codes drop that axis.

    Attributes
    ----------
    levels : tuple of int
    dim : int
        ``len(levels)``.
    codebook_size : int
        ``prod(levels)``.

    Examples
    --------
    >>> fsq_module = FSQ([8, 5, 5, 5])
    >>> fsq_module.codebook_size
    1000
    >>> zq, codes, losses = fsq_module(torch.randn(2, 7, 4))
    >>> codes.shape, losses
    (torch.Size([2, 7]), {})
    >>> torch.equal(fsq_module.decode(codes), zq)
    True
    """

    def __init__(self, levels: Sequence[int], *, channel_dim: int = -1) -> None:
        super().__init__()
        self.levels = _check_levels(levels)
        self.dim = len(self.levels)
        self.codebook_size = math.prod(self.levels)
        self.channel_dim = _check_channel_dim(channel_dim)

    def extra_repr(self) -> str:
        return f"levels={list(self.levels)}, channel_dim={self.channel_dim}"

    @property
    def bits(self) -> float:
        """Bits per code, ``log2(prod(levels))``."""
        return math.log2(self.codebook_size)

    def forward(
        self, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Quantize ``z``.

        Parameters
        ----------
        z : torch.Tensor
            ``D`` coordinates on axis ``channel_dim``, finite. A batch with
            no vectors gives empty outputs.

        Returns
        -------
        zq : torch.Tensor
            Shape and dtype of ``z``, straight-through gradients.
        codes : torch.Tensor
            ``torch.long`` codes, the shape of ``z`` without the channel axis.
        losses : dict
            Empty: FSQ needs no auxiliary loss.
        """
        zl = _channels_last(z, "z", self.dim, self.channel_dim)
        codes, values, bounded = _fsq_torch(zl, self.levels)
        zq = _with_straight_through(values, bounded).to(zl.dtype)
        return _channels_back(zq, self.channel_dim), codes, {}

    @torch.no_grad()
    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes of ``z`` (shape of ``z`` without the channel axis)."""
        return _fsq_torch(_channels_last(z, "z", self.dim, self.channel_dim), self.levels)[0]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Quantized vectors of ``codes``, channel axis at ``channel_dim``.

        ``dtype`` defaults to torch's default dtype; ``decode(codes)`` equals
        ``forward(z)[0]`` for a ``z`` of that dtype.
        """
        if not is_torch(codes):
            raise TypeError(f"codes must be a torch.Tensor, got {type(codes).__name__}")
        return _channels_back(fsq_decode(codes, self.levels, dtype=dtype), self.channel_dim)


class LFQ(nn.Module):
    """Lookup-free quantization with the entropy penalty of Yu et al. (2023).

    ``forward(z)`` quantizes each coordinate to its sign (:func:`lfq`) with
    straight-through gradients and returns the auxiliary losses

    - ``"entropy"``: ``entropy_weight * (H_sample - diversity_weight * H_codebook)``;
    - ``"commitment"``: ``commitment_weight * mean((z - sg(zq))**2)`` (present
      only when ``commitment_weight > 0``).

    **The entropy term.** Each vector ``z`` gets a soft assignment to the
    ``2**D`` implicit codes ``c`` in ``{-1, +1}**D``,

    .. math:: q(c \\mid z) \\propto \\exp(-\\lVert z - c \\rVert^2 / \\tau),

    the soft assignment vector-quantize-pytorch's ``LFQ`` uses (a softmax of
    ``2 <z, c> / tau``, the same thing since ``||c||**2 = D`` for every code;
    its ``inv_temperature=100`` is ``temperature=0.01`` here). Minimising
    ``H_sample``, the mean over the batch of the entropy of ``q(. | z)``, makes
    each assignment confident; maximising ``H_codebook``, the entropy of the
    batch-averaged ``q``, spreads the batch over all codes. Entropies are in
    nats.

    How it is computed, without ``2**D`` where possible. Because
    ``||z - c||**2`` is a sum over coordinates, ``q(c | z)`` factorises into
    independent bits, ``q(c_d = +1 | z) = sigmoid(4 z_d / tau)``, so
    ``H_sample`` is *exactly* a sum of ``D`` binary entropies (cost ``O(N D)``
    for ``N`` vectors, any ``D``). The batch average of products does not
    factorise, so ``H_codebook`` is computed exactly over all ``2**D`` codes
    (one ``(N, D) x (D, 2**D)`` product: ``O(N D 2**D)`` time, ``N 2**D``
    memory) when ``D <= exact_entropy_bits``. For larger ``D`` the
    coordinates are split into ``ceil(D / exact_entropy_bits)`` contiguous
    groups of nearly equal size, each group's joint entropy is computed
    exactly and the group entropies are summed: an upper bound on the true
    ``H_codebook`` (``H(X, Y) <= H(X) + H(Y)``), equal to it when the groups
    are independent under the batch distribution, and never more than
    ``D log 2``. With ``exact_entropy_bits=1`` this is the fully factorised
    "sum of bit entropies". Code log-probabilities below -80 are raised to -80
    before the ``exp`` (CPU ``exp`` is 10-30 times slower where float32
    underflows, below about -87.3, which at ``temperature=0.01`` is almost every
    code); that changes ``H_codebook`` by less than ``1e-29`` nats.

    Derived in chapter 10 ("Quantizers without a learned codebook").

    Parameters
    ----------
    dim : int
        Number of coordinates ``D`` (``2**D`` codes), ``1 <= D <= 63``.
    entropy_weight : float, default 0.1
        Weight of the entropy term (vector-quantize-pytorch's default).
    commitment_weight : float, default 0.25
        Weight of the commitment loss, as :class:`rvqlib.nn.VectorQuantizer`
        (vector-quantize-pytorch's ``LFQ`` defaults to 0; set 0 to drop it).
    diversity_weight : float, default 1.0
        Weight ``gamma`` of ``H_codebook`` inside the entropy term.
    temperature : float, default 0.01
        ``tau`` above, > 0.
    exact_entropy_bits : int, default 10
        Largest group of coordinates whose ``2**bits`` joint codes are
        enumerated for ``H_codebook`` (memory ``N * 2**bits`` per group).
    channel_dim : int, default -1
        Axis of ``z`` holding the ``D`` coordinates.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> lfq_module = LFQ(4)
    >>> z = torch.randn(64, 4, requires_grad=True)
    >>> zq, codes, losses = lfq_module(z)
    >>> sorted(losses)
    ['commitment', 'entropy']
    >>> torch.equal(zq, torch.where(z >= 0, 1.0, -1.0))
    True
    """

    def __init__(
        self,
        dim: int,
        *,
        entropy_weight: float = 0.1,
        commitment_weight: float = 0.25,
        diversity_weight: float = 1.0,
        temperature: float = 0.01,
        exact_entropy_bits: int = 10,
        channel_dim: int = -1,
    ) -> None:
        super().__init__()
        self.dim = _check_lfq_dim(dim)
        self.codebook_size = 2**self.dim
        self.entropy_weight = nonnegative_float(entropy_weight, "entropy_weight")
        self.commitment_weight = nonnegative_float(commitment_weight, "commitment_weight")
        self.diversity_weight = nonnegative_float(diversity_weight, "diversity_weight")
        self.temperature = nonnegative_float(temperature, "temperature")
        if self.temperature == 0:
            raise ValueError("temperature must be > 0, got 0.0")
        self.exact_entropy_bits = positive_int(exact_entropy_bits, "exact_entropy_bits")
        if self.exact_entropy_bits > 20:
            raise ValueError(
                f"exact_entropy_bits must be at most 20 (2**20 codes per vector), "
                f"got {self.exact_entropy_bits}"
            )
        self.channel_dim = _check_channel_dim(channel_dim)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, entropy_weight={self.entropy_weight}, "
            f"commitment_weight={self.commitment_weight}, temperature={self.temperature}"
        )

    @property
    def bits(self) -> int:
        """Bits per code, ``dim``."""
        return self.dim

    def entropy_groups(self) -> list[tuple[int, int]]:
        """The ``(start, stop)`` coordinate ranges whose joint entropies make ``H_codebook``."""
        n_groups = math.ceil(self.dim / self.exact_entropy_bits)
        edges = [round(i * self.dim / n_groups) for i in range(n_groups + 1)]
        return list(zip(edges[:-1], edges[1:], strict=True))

    def entropies(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """``H_sample`` and ``H_codebook`` (nats) of a batch, differentiable.

        Parameters
        ----------
        z : torch.Tensor
            ``dim`` coordinates on axis ``channel_dim``.

        Returns
        -------
        dict
            ``"per_sample"``: mean entropy of ``q(. | z)`` over the vectors
            (exact); ``"codebook"``: entropy of the batch-mean ``q`` (exact
            when ``dim <= exact_entropy_bits``, the group bound otherwise).
            Both are 0 for a batch with no vectors.
        """
        zl = _channels_last(z, "z", self.dim, self.channel_dim)
        return self._entropies(zl.reshape(-1, self.dim))

    def _entropies(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        x = flat.to(_compute_dtype(flat.dtype))
        if x.shape[0] == 0:  # no vectors: no uncertainty to lower or spread (0, not NaN)
            zero = x.sum() * 0.0
            return {"per_sample": zero, "codebook": zero}
        logits = 4.0 * x / self.temperature  # log q(+1) - log q(-1), per coordinate
        log_plus = torch.nn.functional.logsigmoid(logits)
        log_minus = torch.nn.functional.logsigmoid(-logits)
        # q(+1) = exp(log_plus) is sigmoid(logits): computed directly, without an exp
        per_sample = -(
            (torch.sigmoid(logits) * log_plus + torch.sigmoid(-logits) * log_minus).sum(-1).mean()
        )
        codebook = x.new_zeros(())
        tiny = torch.finfo(x.dtype).tiny
        for start, stop in self.entropy_groups():
            width = stop - start
            bits = (
                torch.arange(2**width, device=x.device).unsqueeze(-1)
                >> torch.arange(width, device=x.device)
            ) & 1
            # log q(c | z) = sum_d log q(-1) + sum_d [c_d = +1] (log q(+1) - log q(-1)),
            # and log q(+1) - log q(-1) is the logit itself: one (N, width) x (width, 2**width)
            # product gives every code's log-probability
            log_q = logits[:, start:stop] @ bits.to(x.dtype).T
            log_q += log_minus[:, start:stop].sum(-1, keepdim=True)
            # the batch-mean assignment, (2**width,); the floor keeps exp off its slow path
            avg = log_q.clamp_(min=_LOG_Q_FLOOR).exp_().mean(0)
            codebook = codebook - (avg * avg.clamp_min(tiny).log()).sum()
        return {"per_sample": per_sample, "codebook": codebook}

    def forward(
        self, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Quantize ``z`` and compute the auxiliary losses.

        Parameters
        ----------
        z : torch.Tensor
            ``dim`` coordinates on axis ``channel_dim``, finite. A batch with
            no vectors gives empty outputs and zero losses.

        Returns
        -------
        zq : torch.Tensor
            ``sign(z)`` (``+1`` at 0), shape and dtype of ``z``, straight-through
            gradients (the identity).
        codes : torch.Tensor
            ``torch.long`` codes ``sum_d [z_d >= 0] 2**d``, the shape of ``z``
            without the channel axis.
        losses : dict of str to torch.Tensor
            ``"entropy"`` and, when ``commitment_weight > 0``, ``"commitment"``
            (already weighted; add them to the training loss). They are
            computed in ``eval()`` mode too, at the cost of the entropy term
            (``O(N D 2**bits)``); :meth:`encode` and :func:`lfq` quantize alone.
        """
        zl = _channels_last(z, "z", self.dim, self.channel_dim)
        codes, values = _lfq_torch(zl)
        zq = _with_straight_through(values, zl)
        ent = self._entropies(zl.reshape(-1, self.dim))
        entropy = self.entropy_weight * (
            ent["per_sample"] - self.diversity_weight * ent["codebook"]
        )
        losses = {"entropy": entropy.to(zl.dtype)}
        if self.commitment_weight > 0:
            commit = _masked_mse(zl, values.detach(), None)  # 0 for an empty batch
            losses["commitment"] = self.commitment_weight * commit
        return _channels_back(zq, self.channel_dim), codes, losses

    @torch.no_grad()
    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes of ``z`` (shape of ``z`` without the channel axis)."""
        return _lfq_torch(_channels_last(z, "z", self.dim, self.channel_dim))[0]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``+1``/``-1`` vectors of ``codes``, channel axis at ``channel_dim``."""
        if not is_torch(codes):
            raise TypeError(f"codes must be a torch.Tensor, got {type(codes).__name__}")
        return _channels_back(lfq_decode(codes, self.dim, dtype=dtype), self.channel_dim)


class ResidualFSQ(nn.Module):
    """Residual FSQ: ``n_q`` FSQ stages, each on the residual the stages before it left.

    **The rule.** Per coordinate, with ``L = levels[d]`` and ``n_q`` the number
    of stages built, the input is first bounded by a scaled ``tanh``,

    .. math::

        t = \\kappa \\tanh(z / \\kappa), \\qquad
        \\kappa = 1 + \\frac{1}{L} + \\dots + \\frac{1}{L^{n_q - 1}}
               = \\frac{L - L^{1 - n_q}}{L - 1}

    (:meth:`bound_scale`). Stage ``i = 0, 1, ...`` quantizes the residual
    ``r_i = t - (q_0 + ... + q_{i-1})`` (``r_0 = t``) on the grid ``v_k`` of
    :func:`fsq` **scaled by** ``s_i = L**-i`` (:meth:`scales`):
    ``q_i = s_i v[k_i]`` with ``k_i`` the level nearest to
    ``clamp(r_i / s_i, -1, 1)`` (the rounding of :func:`fsq`, ties away from
    0). ``zq`` is ``q_0 + ... + q_{n-1}`` and stage ``i``'s code is the
    mixed-radix number of its ``k_i`` (as :func:`fsq`).

    **The grid.** Stage 0 leaves ``|r_1| <= 1/(L-1)``, half its step. Scaled
    by ``1/L``, the ``L`` values of stage 1 sit at spacing ``2/(L(L-1))`` and
    continue each other exactly from one stage-0 cell to the next, so by
    induction the sums of ``n`` stages form **one uniform grid of** ``L**n``
    **distinct values** per coordinate, step
    ``Delta_n = 2 / ((L - 1) L**(n-1))``, from
    ``-(1 + 1/L + ... + L**(1-n))`` to its mirror, and ``n`` stages round
    ``t`` to the nearest of them: the grid index is the base-``L`` number
    ``k_0 k_1 ... k_{n-1}``, stage 0 its most significant digit. (With
    ``(L - 1)**-i`` the end values of neighbouring cells would coincide, and
    ``(L-1)**n + 1`` distinct values would be shared among ``L**n`` codes.)
    With all ``n_q`` stages the grid ends at ``+-kappa``: residual FSQ *is*
    FSQ with ``L**n_q`` levels, scaled by ``kappa``,
    ``zq = kappa * fsq(z / kappa, [L**n_q for L in levels])[1]`` (up to float
    rounding at cell edges), its level index sent as ``n_q`` digits, coarse
    to fine.

    **Why this bound: every value is reachable.** ``t`` covers
    ``(-kappa, kappa)``, and the outermost values ``+-kappa`` are reached, as
    FSQ's ``+-1``, on half cells such as ``[kappa - Delta/2, kappa)``. With
    ``tanh`` alone (``t`` in ``(-1, 1)``) every grid value whose cell lies
    beyond ``+-1`` would never be sent: 12 of the 16 values of ``L = 4``
    with two stages are reachable, 21 of 25 for ``L = 5`` with two, 19 of 27
    for ``L = 3`` with three. vector-quantize-pytorch's ``ResidualFSQ``
    reaches them all by soft-clamping to ``1 + 1/(L-1) = L/(L-1)``
    (``soft_clamp_input_value``), the limit of ``kappa`` for ``n_q -> oo``,
    whatever ``n_q``: its outer cells are as wide as the inner ones, and one
    stage of it is not FSQ. The ``kappa`` here ends the bound at the grid's
    outermost value, as FSQ's ``tanh`` ends at its outermost value 1.

    **Does one stage equal FSQ?** ``ResidualFSQ(levels, 1)`` is
    :class:`FSQ` bit for bit (``kappa = 1``). The first stage of a
    ``ResidualFSQ`` built with ``n_q > 1`` stages has FSQ's values and code
    numbering but the wider bound ``kappa > 1``, so it is *not* FSQ: its
    codes differ where ``tanh(z)`` and ``kappa tanh(z / kappa)`` fall in
    different cells.

    **Prefixes and the error bound.** With the first ``n <= n_q`` stages
    (``forward(z, n_q=n)``), ``zq`` lies on the ``n``-stage grid, every one of
    its ``L**n`` values is reached by some ``z``, and for every ``z``

    .. math:: |z_q - t| \\le \\frac{\\Delta_n}{2} = \\frac{1}{(L - 1) L^{n - 1}}

    per coordinate (``kappa <= L/(L-1)``, the end of the ``n``-stage grid
    plus half its step, so no ``t`` is farther from the grid). A stage's code
    does not depend on how many stages are used, only, through ``kappa``, on
    how many were built.

    **Gradients.** ``zq = sg(q_0 + ... + q_{n-1}) + (t - sg(t))``: the value
    is the sum of the stages and the gradient is that of the bound,
    ``d zq / dz = 1 - tanh(z / kappa)**2`` (FSQ's ``1 - tanh(z)**2`` when
    ``n_q = 1``), never zero and 1 at ``z = 0``, however many stages are used
    (vector-quantize-pytorch instead passes a straight-through gradient
    through every stage, which multiplies it by the number of stages). No
    auxiliary loss: ``losses`` is empty.

    The stages are computed in float64 for every input dtype (as in
    :func:`fsq`; float32 on MPS, which has no float64), so the codes are those
    of float64 on the input's values and ``zq`` is the float64 sum cast to
    ``z.dtype``. In float32 output, a stage whose step ``2 / ((L-1) L**i)``
    approaches the float resolution near 1 (about ``1e-7``) no longer changes
    ``zq``, though its codes still refine the float64 value; ``n_q`` is meant
    to be a handful.

    Derived in chapter 10 ("Quantizers without a learned codebook").

    Parameters
    ----------
    levels : sequence of int
        Levels of every stage (each >= 2), one per coordinate.
    n_q : int
        Number of stages.
    channel_dim : int, default -1
        Axis of ``z`` that holds the coordinates.

    Examples
    --------
    >>> rfsq = ResidualFSQ([5, 5, 5], n_q=3)
    >>> rfsq.bound_scale()  # 1 + 1/5 + 1/25
    tensor([1.2400, 1.2400, 1.2400], dtype=torch.float64)
    >>> z = torch.randn(10, 3)
    >>> zq, codes, losses = rfsq(z)
    >>> codes.shape
    torch.Size([10, 3])
    >>> t = 1.24 * torch.tanh(z / 1.24)
    >>> bool(((zq - t).abs() <= 1 / (4 * 25) + 1e-6).all())
    True
    >>> torch.equal(ResidualFSQ([5, 5, 5], 1)(z)[0], FSQ([5, 5, 5])(z)[0])
    True
    """

    def __init__(self, levels: Sequence[int], n_q: int, *, channel_dim: int = -1) -> None:
        super().__init__()
        self.levels = _check_levels(levels)
        self.n_q = positive_int(n_q, "n_q")
        self.dim = len(self.levels)
        self.codebook_size = math.prod(self.levels)
        self.channel_dim = _check_channel_dim(channel_dim)

    def extra_repr(self) -> str:
        return f"levels={list(self.levels)}, n_q={self.n_q}, channel_dim={self.channel_dim}"

    @property
    def bits(self) -> float:
        """Bits per frame with all stages, ``n_q * log2(prod(levels))``."""
        return self.n_q * math.log2(self.codebook_size)

    def scales(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The ``(n_q, D)`` stage scales ``levels[d] ** -i``."""
        levels_t = torch.tensor(self.levels, dtype=dtype)
        return torch.stack([levels_t ** (-i) for i in range(self.n_q)])

    def bound_scale(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The ``(D,)`` bound ``kappa = 1 + 1/L + ... + L**(1 - n_q)`` of each coordinate.

        The input is bounded to ``t = kappa * tanh(z / kappa)``; ``kappa`` is
        the outermost value of the ``n_q``-stage grid (exactly 1 for one
        stage). Summed in float64, then cast to ``dtype``.
        """
        return self.scales(torch.float64).sum(dim=0).to(dtype)

    def _stages(self, n_q: Any) -> int:
        if n_q is None:
            return self.n_q
        n_q = positive_int(n_q, "n_q")
        if n_q > self.n_q:
            raise ValueError(f"n_q must be between 1 and {self.n_q} (the stages built), got {n_q}")
        return n_q

    def _quantize(
        self, zl: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cdtype = _quantize_dtype(zl.device)
        scales = self.scales(cdtype).to(zl.device)
        kappa = self.bound_scale(cdtype).to(zl.device)
        half, shift, off = _grid(self.levels, cdtype, zl.device)
        bounded = torch.tanh(zl.to(cdtype) / kappa) * kappa  # exactly tanh for kappa = 1
        residual = bounded.detach().clone()
        total = torch.zeros_like(residual)
        codes = []
        for i in range(n):
            scale = scales[i]
            y = (residual / scale).clamp_(-1.0, 1.0)  # scale 1 for stage 0: no rounding
            g = _round_centred(y, half, shift, off)
            q = g / half * scale  # the stage's value s_i v_k: fsq's g / half for stage 0
            total += q
            residual -= q
            codes.append(_mixed_radix(g.add_(half), self.levels))
        return torch.stack(codes, dim=-1), total, bounded

    def forward(
        self, z: torch.Tensor, n_q: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Quantize ``z`` with the first ``n_q`` stages.

        Parameters
        ----------
        z : torch.Tensor
            ``len(levels)`` coordinates on axis ``channel_dim``, finite. A
            batch with no vectors gives empty outputs.
        n_q : int, optional
            Stages to use, ``1..n_q`` (default all).

        Returns
        -------
        zq : torch.Tensor
            Shape and dtype of ``z``: the sum of the stages, straight-through
            gradients as :class:`FSQ`.
        codes : torch.Tensor
            ``torch.long``, the shape of ``z`` without the channel axis plus a
            last axis of the ``n`` stages used.
        losses : dict
            Empty.
        """
        n = self._stages(n_q)
        zl = _channels_last(z, "z", self.dim, self.channel_dim)
        codes, total, bounded = self._quantize(zl, n)
        zq = _with_straight_through(total, bounded).to(zl.dtype)
        return _channels_back(zq, self.channel_dim), codes, {}

    @torch.no_grad()
    def encode(self, z: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """Codes of ``z``: its shape without the channel axis, plus a last axis of stages."""
        n = self._stages(n_q)
        return self._quantize(_channels_last(z, "z", self.dim, self.channel_dim), n)[0]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Sum of the stage values of ``codes`` ``(..., n)``, ``n <= n_q`` stages.

        ``decode(encode(z))`` equals ``forward(z)[0]`` for ``z`` of ``dtype``
        (default: torch's default dtype). The channel axis is put at
        ``channel_dim``.
        """
        if not is_torch(codes):
            raise TypeError(f"codes must be a torch.Tensor, got {type(codes).__name__}")
        ct = as_index(codes, "codes")
        if ct.ndim == 0 or not 1 <= ct.shape[-1] <= self.n_q:
            raise ValueError(
                f"codes must have shape (..., n) with 1 <= n <= n_q={self.n_q} stages on the "
                f"last axis, got shape {tuple(ct.shape)}"
            )
        _check_code_range(ct, self.codebook_size, f"levels={list(self.levels)}")
        out_dtype = _output_dtype(dtype, False)
        cdtype = _quantize_dtype(ct.device)  # as forward computes the sum, then cast
        scales = self.scales(cdtype).to(ct.device)
        half = _grid(self.levels, cdtype, ct.device)[0]
        total = torch.zeros(ct.shape[:-1] + (self.dim,), dtype=cdtype, device=ct.device)
        for i in range(ct.shape[-1]):
            g = _digits(ct[..., i], self.levels).to(cdtype) - half
            total += g / half * scales[i]  # exactly as in forward
        return _channels_back(total.to(out_dtype), self.channel_dim)


# ``rvqlib.fsq`` is this module (``import rvqlib.fsq as m`` gives it) and calls fsq()
make_callable(__name__)
