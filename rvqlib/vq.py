"""Nearest-codeword search and vector quantization (chapter 2, "Vector quantization").

A vector quantizer with codebook ``E`` of shape ``(K, D)`` maps ``z`` to the
codeword at the smallest squared Euclidean distance,

.. math:: i^*(z) = \\arg\\min_k \\lVert z - e_k \\rVert^2
          = \\arg\\min_k \\left(\\lVert e_k \\rVert^2 - 2\\, z \\cdot e_k\\right),

since :math:`\\lVert z \\rVert^2` is the same for every ``k``. The second form is
one matrix product, which is how :func:`nearest` computes it, in chunks of rows
so that the ``N x K`` block of scores stays within 8 MiB (for torch tensors one
``addmm`` with the norms as its bias; numpy adds them after the product), and the
first-index argmin is numpy's.

Far from the origin the second form cancels: when the codewords are about
``m`` away from 0 but only about ``s`` from each other and from ``z``, the
scores are of size ``m^2`` while the differences that decide the argmin are of
size ``s^2``, and float32 keeps only about 7 significant digits. Distances do
not change when ``z`` and the codebook move together, so :func:`nearest` first
subtracts a shift ``c`` from both that brings the codebook near the origin:

* ``s`` is the largest half-range ``(max - min) / 2`` of a codebook
  coordinate, and ``q`` the power of two with ``s < q <= 2 s``;
* ``c`` is the codebook's midrange ``(max + min) / 2``, coordinate by
  coordinate, rounded to a multiple of ``q``;
* a coordinate keeps its ``c_d`` only if the codebook's values in it all lie
  on the side of ``c_d`` and at least ``|c_d| / 2`` from the origin; otherwise
  ``c_d = 0`` (also when the dtype cannot hold ``c_d`` exactly). This makes the
  subtraction exact for every codeword: by Sterbenz' lemma for values between
  ``c_d / 2`` and ``c_d``; beyond ``c_d`` the difference is smaller than the
  value and a multiple of its last bit or of ``q``, so it is representable.

So a coordinate is shifted only when the codebook sits on one side of the
origin, about three half-ranges or more away from it; centred data, the usual
case, are not shifted and ``z`` is not touched (the scores are then exactly the
plain expansion's). After the shift every codeword coordinate lies within
``4 s`` of zero (within ``2 s`` where shifted), so the rounding error of the
scores scales with the spread of the codebook, not with its distance from the
origin; the price is one subtraction pass over ``z``. Codewords come through the
shift unchanged up to the exact subtraction, and so do vectors ``z`` within the
codebook's range, so exact ties (for instance on a dyadic grid) stay exact.

Ties go to the lowest index. ``argmin`` alone guarantees this only for scores
that tie exactly (for instance when all coordinates are small integers, where
every product and sum is exact). Otherwise the expansion can break an exact tie
by rounding: ``z = (5, 1.6)`` is equidistant from ``(4, 2)`` and ``(6, 2)``, but
``2 z . e`` rounds differently for the two, so that in chapter 6's grid codebook
the plain argmin picked the second. So every block of scores is checked after its argmin (see
:func:`_exact_ties`). A score is off by at most
``tau = 2 g (max_k ||e_k||^2 + ||z|| max_k ||e_k||)`` with ``g`` just above
``gamma_{D+2} = (D + 2) u / (1 - (D + 2) u)``, ``u`` the unit roundoff (the
classical bound for a dot product, in any order of summation), so only rows whose
second-smallest score lies within ``2 tau`` of the smallest can hold a tie the
scores got wrong. For those rows (few on continuous data: 34 of the 36,000
searches of an 8-stage RVQ encode of 4,500 Gaussian vectors with Gaussian
codebooks, D = 128, K = 1024)
the codewords within ``2 tau`` of the best score are compared by their squared
distances computed directly, ``sum_d (z_d - e_d)^2`` in float64 (or the inputs'
wider dtype), and the lowest index among the smallest of those wins. Float64
holds the differences and squares of float32 and half-precision data exactly,
and a direct sum keeps symmetric ties (the same coordinate differences up to
sign, as on a grid) exact for float64 data too. The check costs a second pass
over each block of scores (its row minima once the argmin is set aside) and the
norms of ``z``: about 5 % of a full-size encode (D = 128, K = 1024), more for
small ``D`` and ``K``, where the product is cheap. Identical codewords are
removed before the product, so only their first copy can win.

**Floating types and magnitudes.** The scores are computed in a *work type*
chosen from the inputs' dtype and magnitude, so that every floating dtype gives
the codes of a float64 reference:

* float16 and bfloat16 inputs are searched in float32: half precision cannot
  hold a squared norm beyond 65,504 (a vector of norm 256 already overflows
  float16) and keeps only 11 (float16) or 8 (bfloat16) significant bits, too
  few for the argmin; float32 holds the product of two such numbers exactly;
* float32 stays float32 while the largest magnitude ``M`` among ``z`` and the
  codebook keeps every squared distance, at most ``D (2 M)^2``, within its
  range, and ``M >= 2**-40`` (below that the squared norms fall into float32's
  subnormals and lose their digits); otherwise the search runs in float64,
  which holds the squares of every float32 number;
* float64 stays float64, scaled by a power of two (exactly, and undone in
  nothing but the decision) when ``M`` lies beyond ``2**±400``.

Where the nearest codeword of some vector is at a squared distance that float64
cannot represent (``z = [1e200, 0]`` against ``[[-1e200, 0], [0, 1e200]]``),
no float64 reference has an answer and :func:`nearest` raises ``ValueError``
saying that the distances overflow. Index outputs and ``zq`` do not depend on
the work type: ``zq`` is the chosen codewords in the inputs' dtype.

**Compiling and tracing.** The search chooses its arithmetic from the data and
writes through zero-copy numpy views of CPU tensors (numpy starts no threads),
which no tracer can record: under ``torch.compile`` the public functions run
eagerly (a graph break; the compiled model gets the uncompiled codes), and
under ``torch.jit.trace`` they raise ``RuntimeError`` (see
``rvqlib._validate.eager``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from rvqlib._pow2 import ldexp_ as _ldexp
from rvqlib._validate import (
    check_codebook,
    check_same_dim,
    check_vectors,
    common_float,
    compiling,
    eager,
    finite_max_abs,
    positive_int,
    uses_torch,
)

__all__ = ["nearest", "quantize", "DEFAULT_CHUNK_BYTES"]

#: Size budget of one ``chunk x K`` block of scores used by :func:`nearest`.
DEFAULT_CHUNK_BYTES = 8 * 2**20


@eager
def nearest(z: Any, codebook: Any, *, chunk_size: int | None = None) -> Any:
    """Index of the nearest codeword for every vector in ``z``.

    Parameters
    ----------
    z : array_like or torch.Tensor, shape (..., D)
        Vectors to quantize (last axis is the vector).
    codebook : array_like or torch.Tensor, shape (K, D)
        Codewords, one per row. Must be the same backend as ``z``.
    chunk_size : int, optional
        Number of vectors scored at once. Default: as many as keep one
        ``chunk_size x K`` block within :data:`DEFAULT_CHUNK_BYTES` (8 MiB).

    Returns
    -------
    numpy.ndarray or torch.Tensor, shape z.shape[:-1]
        ``int64`` indices in ``[0, K)`` (``torch.long`` on ``z``'s device).
        Ties go to the lowest index.

    Raises
    ------
    TypeError
        Mixed torch/numpy arguments, non-numeric input, a sparse tensor,
        non-integer chunk_size.
    ValueError
        Wrong rank, empty codebook, mismatched ``D``, NaN/inf, chunk_size < 1,
        tensors on different devices, ``meta`` tensors, or squared distances
        that overflow even float64 (see the module docstring).

    Notes
    -----
    The scores are ``||e_k||^2 - 2 z . e_k``, computed after ``z`` and the
    codebook are moved together near the origin when the codebook lies far
    from it (see the module docstring: the shift is exact and leaves centred
    codebooks alone), so float32 data with a large common offset keep their
    nearest codeword; half-precision inputs and extreme magnitudes are searched
    in a wider work type.

    Examples
    --------
    >>> nearest([[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.0, 1.0]])
    array([0, 1])
    """
    z, codebook, plan = _prepare(z, codebook)
    if chunk_size is not None:
        chunk_size = positive_int(chunk_size, "chunk_size")
    flat = z.reshape(-1, z.shape[-1])
    idx = _search(flat, _prepare_codebook(codebook, plan), chunk_size)
    return idx.reshape(tuple(z.shape[:-1]))


@eager
def quantize(z: Any, codebook: Any, *, chunk_size: int | None = None) -> tuple[Any, Any]:
    """Quantize ``z`` to its nearest codewords.

    Parameters
    ----------
    z : array_like or torch.Tensor, shape (..., D)
        Vectors to quantize.
    codebook : array_like or torch.Tensor, shape (K, D)
        Codewords, one per row.
    chunk_size : int, optional
        Passed to :func:`nearest`.

    Returns
    -------
    indices : numpy.ndarray or torch.Tensor, shape z.shape[:-1]
        ``int64`` index of the chosen codeword (ties to the lowest index).
    zq : numpy.ndarray or torch.Tensor, shape z.shape
        The chosen codewords ``codebook[indices]``, in the promoted floating
        dtype of ``z`` and ``codebook`` (the same dtype when they agree).

    Raises
    ------
    TypeError, ValueError
        As :func:`nearest`.

    Examples
    --------
    >>> idx, zq = quantize([[0.9, 0.1]], [[1.0, 0.0], [0.0, 1.0]])
    >>> idx, zq
    (array([0]), array([[1., 0.]]))
    """
    z, codebook, plan = _prepare(z, codebook)
    if chunk_size is not None:
        chunk_size = positive_int(chunk_size, "chunk_size")
    flat = z.reshape(-1, z.shape[-1])
    idx = _search(flat, _prepare_codebook(codebook, plan), chunk_size)
    zq = codebook[idx].reshape(z.shape)
    return idx.reshape(tuple(z.shape[:-1])), zq


def _prepare(z: Any, codebook: Any) -> tuple[Any, Any, _Plan]:
    """Validate, promote to one dtype, and choose the work type of the search."""
    uses_torch(z=z, codebook=codebook)
    z = check_vectors(z, "z", finite=False)
    codebook = check_codebook(codebook, "codebook")
    check_same_dim(z, "z", codebook, "codebook")
    z, codebook = common_float(z, "z", codebook, "codebook")
    magnitude = max(finite_max_abs(z, "z"), finite_max_abs(codebook, "codebook"))
    return z, codebook, plan_search(z.dtype, magnitude, z.shape[-1])


# --------------------------------------------------------------------------- work type
class _Plan(NamedTuple):
    """How a search computes: in dtype ``work``, on the inputs times ``2**-exp``."""

    work: Any
    exp: int


def _work_dtype(dtype: Any) -> Any:
    """float32 for the half-precision types (numpy or torch), else ``dtype`` itself."""
    if isinstance(dtype, np.dtype):
        return np.dtype(np.float32) if dtype.itemsize < 4 else dtype
    import torch

    return torch.float32 if dtype.itemsize < 4 else dtype


def _wider(dtype: Any) -> Any:
    if isinstance(dtype, np.dtype):
        return np.dtype(np.float64)
    import torch

    return torch.float64


def _max_exponent(dtype: Any) -> int:
    """``e`` with the dtype's largest finite value just below ``2**e``."""
    if isinstance(dtype, np.dtype):
        return int(np.finfo(dtype).maxexp)
    import torch

    return math.frexp(torch.finfo(dtype).max)[1]


#: Smallest magnitude (as a binary exponent) kept in float32 without promotion:
#: squares of 2**-40 are 2**-80, far above float32's smallest normal number 2**-126.
_F32_MIN_EXP = -40
#: float64 (and wider) data are scaled by a power of two outside 2**±_WIDE_EXP.
_WIDE_EXP = 400


def plan_search(dtype: Any, magnitude: float, dim: int, growth: int = 2) -> _Plan:
    """The work type and scaling of a search on data of ``dtype`` and ``max |x| = magnitude``.

    ``growth`` bounds the vectors searched in units of ``magnitude``: 2 for one
    search (``|z - e| <= 2 M``); residual quantization with ``n`` stages passes
    ``n + 1``. See the module docstring for the rules.
    """
    work = _work_dtype(dtype)
    if not magnitude > 0:
        return _Plan(work, 0)
    e = math.frexp(magnitude)[1]  # magnitude < 2**e
    for _ in range(2):
        top = _max_exponent(work)
        # a score is at most about 4 D (growth M)^2 in magnitude: keep it below 2**(top - 1)
        hi = (top - 3 - math.ceil(math.log2(dim))) // 2 - math.ceil(math.log2(growth))
        lo = _F32_MIN_EXP if top <= 128 else -_WIDE_EXP
        if top > 128:
            hi = min(hi, _WIDE_EXP)
        if lo <= e <= hi:
            return _Plan(work, 0)
        if top <= 128:  # float32 work: float64 holds float32's range and its squares
            work = _wider(work)
            continue
        break
    return _Plan(work, e)


def _to_work(a: Any, plan: _Plan) -> Any:
    """``a`` in the work type, times ``2**-exp``: ``a`` itself when nothing changes."""
    work, exp = plan
    if isinstance(a, np.ndarray):
        out = a.astype(work, copy=exp != 0)
    else:
        out = a.detach().to(work)
        if exp and out.data_ptr() == a.data_ptr():
            out = out.clone()
    return _ldexp(out, exp) if exp else out


# --------------------------------------------------------------------------- codebook
def _dedupe(codebook: Any, norms: Any) -> tuple[Any, Any, Any]:
    """Rows of ``codebook`` without repeats, in order of first occurrence.

    Returns ``(unique_rows, their_norms, first_index)``, or
    ``(codebook, norms, None)`` when every row is distinct. ``first_index`` is
    increasing, so a tie between distinct rows still resolves to the lowest
    original index. Identical rows have squared norms that differ at most by
    the rounding of a ``D``-term sum of non-negative numbers (at most
    ``(D - 1) * eps * norm`` whatever the order of summation), so after one sort
    of the ``K`` norms only the rows in runs of sorted norms that close (any row
    sorted between two identical ones is in their run) are compared exactly;
    distinct codebooks, the usual case, cost that sort and a few near-collisions.
    """
    k, d = codebook.shape
    if k == 1:
        return codebook, norms, None
    if isinstance(codebook, np.ndarray):
        order = np.argsort(norms, kind="stable")
        s = norms[order]
        close = np.diff(s) <= 2 * d * np.finfo(s.dtype).eps * s[1:]
        if not close.any():
            return codebook, norms, None
        in_run = np.zeros(k, dtype=bool)
        in_run[:-1] |= close
        in_run[1:] |= close
        cand = np.sort(order[in_run])
        repeats = _repeated_rows(codebook[cand], cand)
        if not repeats:
            return codebook, norms, None
        keep = np.ones(k, dtype=bool)
        keep[repeats] = False
        first = np.flatnonzero(keep).astype(np.int64)
        return codebook[first], norms[first], first
    import torch

    s, order = torch.sort(norms)
    close = torch.diff(s) <= 2 * d * torch.finfo(s.dtype).eps * s[1:]
    if not bool(close.any()):
        return codebook, norms, None
    in_run = torch.zeros(k, dtype=torch.bool, device=codebook.device)
    in_run[:-1] |= close
    in_run[1:] |= close
    cand = torch.sort(order[in_run]).values
    sub = codebook[cand].cpu()
    if sub.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
        sub = sub.float()
    repeats = _repeated_rows(sub.numpy(), cand.cpu().numpy())
    if not repeats:
        return codebook, norms, None
    keep = torch.ones(k, dtype=torch.bool, device=codebook.device)
    keep[torch.tensor(repeats, dtype=torch.long, device=codebook.device)] = False
    first = keep.nonzero().flatten()
    return codebook[first], norms[first], first


def _repeated_rows(rows: np.ndarray, index: np.ndarray) -> list[int]:
    """``index`` of every row of ``rows`` equal to an earlier one (``index`` increasing).

    Rows are compared by their bytes after adding ``0.0`` (which turns ``-0.0`` into
    ``0.0``, the one pair of equal floats with different bytes; NaN cannot occur).
    """
    seen: set[bytes] = set()
    repeats = []
    for row, i in zip(np.ascontiguousarray(rows + 0.0), index.tolist(), strict=True):
        key = row.tobytes()
        if key in seen:
            repeats.append(i)
        else:
            seen.add(key)
    return repeats


def _origin_shift(a: Any) -> Any | None:
    """Shift that brings the rows of ``a`` (M, D) near the origin, or None when zero.

    The midrange of every column of ``a``, rounded to a multiple of the power of
    two ``q`` with ``s < q <= 2 s``, ``s`` the largest half-range of a column, kept
    only in columns where subtracting it is exact for every row (see the module
    docstring). Returns a ``(D,)`` array/tensor of ``a``'s dtype and
    device, or ``None`` when that shift is zero, when ``a`` is empty or all its
    rows are equal (``s == 0``). A ``c_d`` that ``a``'s dtype cannot hold exactly
    (it would round, or overflow to inf) is set to 0. The arithmetic on the two
    ``(D,)`` column summaries is done in float64
    numpy: for torch input this costs one reduction and one transfer of ``2 D``
    numbers, instead of a dozen tiny device operations.
    """
    if a.shape[0] == 0:
        return None
    arr = _numpy_view(a)
    if arr is not None:
        halves = np.stack([arr.min(axis=0), arr.max(axis=0)]).astype(np.float64)
    else:
        import torch

        # amin/amax rather than aminmax, whose CPU kernel starts threads at every size;
        # .cpu() before the cast: MPS has no float64
        halves = torch.stack([a.amin(dim=0), a.amax(dim=0)]).cpu().double().numpy()
    halves *= 0.5  # halves first: hi - lo and hi + lo could overflow near the dtype's maximum
    half = float((halves[1] - halves[0]).max())
    if not half > 0:
        return None
    expo = math.frexp(half)[1]  # half = m * 2**expo with 0.5 <= m < 1
    if expo >= 1000:  # q would overflow: values this spread out need no shift
        return None
    q = math.ldexp(1.0, expo)  # half < q <= 2 half
    mid = halves[0] + halves[1]
    if float(np.abs(mid).max()) < 0.5 * q:  # every coordinate rounds to 0: no shift
        return None
    c = np.round(mid / q) * q  # exact: scaling by powers of two
    # keep c_d only where every value lies on c_d's side, at least |c_d| / 2 from 0:
    # then value - c_d is exact (halves hold min/2 and max/2)
    exact = np.where(c > 0, halves[0] >= c / 4, halves[1] <= c / 4)
    c = np.where(exact, c, 0.0)
    if not c.any():
        return None
    # c_d must be exactly representable in a's dtype (not rounded, not inf)
    if isinstance(a, np.ndarray):
        with np.errstate(over="ignore"):
            cast = c.astype(a.dtype)
        c = np.where(cast.astype(np.float64) == c, c, 0.0)
        return c.astype(a.dtype) if c.any() else None
    import torch

    cast = torch.from_numpy(c).to(a.dtype)
    c = np.where(cast.double().numpy() == c, c, 0.0)
    return torch.from_numpy(c).to(device=a.device, dtype=a.dtype) if c.any() else None


def _numpy_view(a: Any) -> np.ndarray | None:
    """``a`` itself (numpy), a shared-memory numpy view of a CPU tensor, or None.

    numpy's reductions and element-wise operations on CPU tensors' memory start no
    threads: torch's do for anything above its grain size (32768 elements), and on a
    busy machine waking a second thread costs milliseconds per operation. None while
    ``torch.compile`` traces (a tracer cannot see writes through a numpy view).
    """
    if isinstance(a, np.ndarray):
        return a
    import torch

    if (
        a.device.type == "cpu"
        and a.dtype in (torch.float16, torch.float32, torch.float64)
        and not compiling()
    ):
        return a.detach().numpy()
    return None


def _shifted(z: Any, shift: Any, out: Any | None = None) -> Any:
    """``z - shift`` for a torch tensor, written into ``out`` when given."""
    import torch

    z_np = _numpy_view(z)
    if z_np is None:
        return torch.sub(z, shift, out=out) if out is not None else z - shift
    if out is None:
        out = torch.empty(z.shape, dtype=z.dtype, device=z.device)
    np.subtract(z_np, _numpy_view(shift), out=out.numpy())
    return out


#: Largest ``N x K`` score block that the torch path reduces with ``argmin`` when torch
#: may use several threads; otherwise it uses ``min(dim=1)``. Measured on CPU (torch 2.13):
#: ``min(dim=1)`` is about twice as fast as ``argmin`` per element, but it starts its
#: parallel threads at every size, while ``argmin`` does so only above torch's grain size
#: of 32768 elements; on a busy machine waking a second thread costs milliseconds
#: (~4 ms against ~0.002 ms for an 8 x 16 block). Both return the first minimal index.
#: CPU blocks that numpy can view skip both: numpy's vectorized ``argmin`` over the last
#: axis (also the first minimal index) costs about 3% of the product that made the block
#: (2048 x 1024 scores from D = 128, one thread), against about 27% for ``min(dim=1)``.
_ARGMIN_MAX_ELEMENTS = 32768


def _chunk_rows(k: int, itemsize: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return chunk_size
    return max(1, DEFAULT_CHUNK_BYTES // (k * itemsize))


def _itemsize(dtype: Any) -> int:
    return int(dtype.itemsize)


class _Prepared:
    """A codebook made ready for :func:`_search`.

    Holds the work plan (dtype and power-of-two scale), the codebook in that work
    space (``scaled``, all ``K`` rows, unshifted: residual updates subtract these),
    the origin shift, the distinct rows' norms and ``m2t = -2 E^T``, a transposed
    view of a contiguous ``(K, D)`` array (so the product ``z @ m2t`` runs as the
    BLAS "NT" kernel: measured about 20% faster at K = 1024, D = 128 than the same
    product with ``-2 E^T`` contiguous, as 0.1 stored it inside
    ``[-2 E^T; ||e||^2]``). Built by
    :func:`_prepare_codebook`; holds no reference to the caller's codebook, so a
    cached instance stays valid only as long as that codebook is not changed
    (callers that cache it key it on the tensor's version counter, see
    :mod:`rvqlib.nn`).
    """

    __slots__ = (
        "shift",
        "norms",
        "m2t",
        "first",
        "k",
        "scaled",
        "plan",
        "n_rows",
        "rows",
        "rows_np",
        "tol",
    )

    def __init__(
        self, shift: Any, cb: Any, norms: Any, first: Any, scaled: Any, plan: _Plan
    ) -> None:
        self.shift = shift
        self.norms = norms
        self.first = first
        self.k = cb.shape[0]
        self.n_rows = scaled.shape[0]
        self.scaled = scaled
        self.plan = plan
        self.rows = cb  # the distinct rows, shifted: the exact tie check compares with these
        self.rows_np = _numpy_view(cb)  # None for tensors numpy cannot view
        self.tol = _tie_tolerance(norms, cb.shape[1], cb.dtype)
        if isinstance(cb, np.ndarray):
            self.m2t = (cb * -2.0).T  # exact scaling by a power of two
            return
        import torch

        cb_np = _numpy_view(cb)
        if cb_np is not None:  # numpy starts no threads
            self.m2t = torch.from_numpy(np.multiply(cb_np, -2.0)).T
        else:
            self.m2t = torch.mul(cb, -2.0).T


def _tie_tolerance(norms: Any, d: int, dtype: Any) -> tuple[float, float, float, float, float]:
    """``(t0, t1, g, emax, floor)``: a score is off by at most ``t0 + t1 ||a||`` (see _exact_ties).

    A score is ``n_k + sum_d a_d (-2 e_kd)`` with ``n_k`` the computed ``||e_k||^2``,
    itself a ``D``-term sum off by at most ``gamma_D n_k``; the ``D + 1``-term sum with
    the bias is off by at most ``gamma_{D+1} (n_k + 2 ||a|| ||e_k||)`` in any order of
    summation (Cauchy-Schwarz for the dot product), ``gamma_n = n u / (1 - n u)`` with
    ``u`` the unit roundoff. So with ``g = 1.01 gamma_{D+2}`` (the margin covers the
    rounding of ``||a||`` and of these constants) codeword ``k``'s score is off by at
    most ``E(||e_k||) = 2 g (||e_k||^2 + ||a|| ||e_k||) + floor``, ``floor`` being ``4 D``
    times the smallest normal number (products that underflow). With ``emax`` the
    largest ``||e_k||``: ``t0 = 2 g emax^2 + floor`` and ``t1 = 2 g emax``.
    """
    if norms.shape[0] == 0:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    if isinstance(norms, np.ndarray):
        nmax = float(norms.max())
        info = np.finfo(dtype)
        eps, tiny = float(info.eps), float(info.tiny)
    else:
        import torch

        nmax = float(norms.max())
        info = torch.finfo(dtype)
        eps, tiny = float(info.eps), float(info.tiny)
    nu = (d + 2) * eps / 2
    g = 1.01 * nu / (1.0 - nu)
    emax = math.sqrt(nmax) * (1.0 + g)  # sqrt of the computed max norm: up to g low
    floor = 4.0 * d * tiny
    return 2.0 * g * nmax + floor, 2.0 * g * math.sqrt(nmax), g, emax, floor


#: Relative margin on the radius of :func:`_row_tolerance` (covers its own rounding).
_RADIUS_MARGIN = 2.0**-10


def _row_tolerance(a_norms: Any, best: Any, tau: Any, tol: tuple[float, ...]) -> Any:
    """A per-row score error bound, at most the codebook-wide ``tau``.

    ``a_norms``, ``best`` and ``tau`` are the flagged rows' values, as arrays (or
    tensors) of the wide dtype of :func:`_exact_ties` (float64 or wider; float32
    on MPS).

    ``tau = t0 + t1 ||a||`` bounds every codeword's score error with the largest
    codeword norm ``emax``. A row only needs the codewords that could be its nearest,
    and those are never long: with ``j`` its argmin, ``best`` its score and ``A`` an
    upper bound of ``||a||``, the exact ``||a - e_j||^2 = ||a||^2 + s_j`` is at most
    ``S^2 = max(A^2 + best, 0) + 2 tau``, so ``||e_j|| <= A + S <= R``, with
    ``R = (A + S)(1 + 2**-10)`` capped at ``emax``. Any codeword longer than ``R``
    has ``s_k >= (||e_k|| - ||a||)^2 - ||a||^2 > S^2 - ||a||^2 >= s_j``: it is
    strictly farther than ``e_j``, so it is neither nearer nor tied. Every codeword
    that could be the nearest or tied, ``e_j`` included, is at most ``R`` long, and
    its score is off by at most ``E(R) = 2 g (R^2 + A R) + floor``
    (:func:`_tie_tolerance`): the returned ``min(tau, E(R))`` serves both tests of
    :func:`_exact_ties`. (The ``2 tau`` and the ``2**-10`` cover the rounding of
    ``A^2 + best`` and of the square root; ``A`` is ``||a||`` as computed, raised by
    ``3 g``.) On the data of the benchmarks it is 2-3 times tighter than ``tau`` at
    the first RVQ stage, whose codebook has a few long codewords.
    """
    _, _, g, emax, floor = tol
    big_a = a_norms * (1.0 + 3.0 * g)
    s2 = big_a * big_a + best
    if isinstance(s2, np.ndarray):  # np.maximum and np.minimum: np.clip costs more here
        np.maximum(s2, 0.0, out=s2)
        s2 += 2.0 * tau
        radius = np.sqrt(s2, out=s2)
        radius += big_a
        radius *= 1.0 + _RADIUS_MARGIN
        np.minimum(radius, emax, out=radius)
    else:
        radius = (s2.clamp_(min=0.0) + 2.0 * tau).sqrt_().add_(big_a).mul_(1.0 + _RADIUS_MARGIN)
        radius = radius.clamp_(max=emax)
    bound = (radius * radius + big_a * radius) * (2.0 * g) + floor
    return np.minimum(bound, tau) if isinstance(bound, np.ndarray) else bound.minimum(tau)


def _exact_ties(
    a: Any,
    scores: Any,
    idx: Any,
    rows: Any,
    tol: tuple[float, float],
    shared: Any = None,
    a_norms: Any = None,
) -> Any:
    """Argmin ``idx`` of ``scores`` with the ties that rounding broke restored to the lowest index.

    ``a`` (m, D) are the vectors in the work space, shifted like the codebook, ``rows``
    (K, D) the codebook's distinct rows in the same space, ``scores`` the ``(m, K)``
    block of scores (modified: the argmin entries are overwritten, then restored only
    in rows that are checked), ``idx`` its argmin (indices into ``rows``) and ``tol``
    the codebook's ``(t0, t1)``, all numpy arrays or all torch tensors; ``shared`` is
    a CPU tensor sharing the memory of numpy ``scores``, when there is one. Every score is
    within ``tau = t0 + t1 ||a||`` of its exact value (:func:`_tie_tolerance`); so a row
    whose second-smallest score exceeds the smallest by more than ``2 tau`` has a
    unique nearest codeword, and ``idx`` is it. The rows this codebook-wide test
    flags are tested again with the tighter bound of their own
    (:func:`_row_tolerance`), which only the codewords that could be nearest need,
    and keep it as their ``tau``. In the rows left the codewords with
    a score within ``2 tau`` of the smallest (every exact minimum among them) are
    compared by their squared distances computed directly in float64 (or the wider
    dtype of ``a``; float32 on MPS, which has no float64), and the lowest index
    among the smallest wins. ``a_norms``, when given, are the rows' Euclidean norms
    ``||a||`` as computed in ``a``'s dtype (callers that search the same rows many
    times, as k-means does, compute them once). Returns ``idx`` (the same object,
    corrected in place).
    """
    m, k = scores.shape
    if m == 0 or k < 2:
        return idx
    if isinstance(scores, np.ndarray):
        best, slack = _tie_slack(scores, idx, shared)
        if a_norms is None:
            if shared is not None:
                import torch

                a_norms = torch.linalg.vector_norm(torch.from_numpy(a), dim=1).numpy()
            else:
                a_norms = np.sqrt(np.einsum("nd,nd->n", a, a))
        return _resolve_ties(a, scores, idx, rows, tol, best, slack, a_norms)
    import torch

    at = torch.arange(m, device=scores.device)
    best = scores[at, idx]
    scores[at, idx] = math.inf
    slack = scores.amin(dim=1).sub_(best)
    a_norms = (a * a).sum(dim=1).sqrt_()
    tau = a_norms * tol[1] + tol[0]
    near = torch.nonzero(slack <= 2 * tau).flatten()
    if near.numel() == 0:
        return idx
    wide = torch.float32 if a.device.type == "mps" else torch.promote_types(a.dtype, torch.float64)
    best_w = best[near].to(wide)
    tau = _row_tolerance(a_norms[near].to(wide), best_w, tau[near].to(wide), tol)
    keep = torch.nonzero(slack[near].to(wide) <= 2 * tau).flatten()
    if keep.numel() == 0:
        return idx
    near, tau = near[keep], tau[keep]
    best = best[near]
    sub = scores[near]
    sub[torch.arange(near.numel(), device=sub.device), idx[near]] = best
    r, cols = torch.nonzero(sub.to(wide) <= (best_w[keep] + 2 * tau)[:, None], as_tuple=True)
    diff = a[near[r]].to(wide) - rows[cols].to(wide)
    dist = (diff * diff).sum(dim=1)
    c = near.numel()
    low = torch.full((c,), math.inf, dtype=wide, device=dist.device)
    low = low.scatter_reduce(0, r, dist, reduce="amin")
    key = torch.where(dist == low[r], cols, k)
    choice = torch.full((c,), k, dtype=cols.dtype, device=cols.device)
    idx[near] = choice.scatter_reduce(0, r, key, reduce="amin")
    return idx


def _tie_slack(scores: np.ndarray, idx: np.ndarray, shared: Any = None) -> tuple[Any, Any]:
    """First half of :func:`_exact_ties` on a numpy block: ``(best, slack)`` per row.

    ``best`` is each row's smallest score (at ``idx``, its argmin) and ``slack`` the
    second smallest minus ``best``. The argmin entries of ``scores`` are overwritten
    with ``inf`` (:func:`_resolve_ties` restores the ones it reads). ``shared``: a CPU
    tensor on ``scores``' memory, whose row minimum is torch's (the fastest found,
    76 us on 1024 x 1024); without it numpy's argmin finds the second smallest
    (faster than ``np.min`` along rows, 104 vs 130 us, and than ``np.fmin``).
    """
    m, k = scores.shape
    # a view (score blocks are C-contiguous; were it a copy, every row would be checked)
    flat = scores.reshape(-1)
    pos = np.arange(0, m * k, k)
    pos += idx
    best = flat[pos]
    flat[pos] = np.inf
    if shared is not None:
        slack = shared.amin(dim=1).numpy()
    else:
        pos -= idx
        pos += scores.argmin(axis=1)
        slack = flat[pos]
    slack -= best
    return best, slack


def _resolve_ties(
    a: np.ndarray,
    scores: np.ndarray,
    idx: np.ndarray,
    rows: np.ndarray,
    tol: tuple[float, ...],
    best: np.ndarray,
    slack: np.ndarray,
    a_norms: np.ndarray,
) -> np.ndarray:
    """Second half of :func:`_exact_ties` on numpy blocks: the near rows, rechecked.

    ``best`` and ``slack`` come from :func:`_tie_slack` on the same ``scores``
    (whose argmin entries it set to ``inf``); ``scores`` may be several blocks'
    scores stacked, each with its own :func:`_tie_slack` (k-means resolves the near
    rows of a batch of blocks at once). Returns ``idx``, corrected in place.
    """
    t0, t1 = tol[0], tol[1]
    tau = a_norms * t1  # a new array: the caller's norms are left as they are
    tau += t0
    near = np.flatnonzero(slack <= 2 * tau)
    if near.size == 0:
        return idx
    # the codebook-wide bound flagged these rows; the per-row one clears most of them
    wide = np.result_type(a.dtype, np.float64)
    best = best[near].astype(wide)
    tau = _row_tolerance(a_norms[near].astype(wide), best, tau[near].astype(wide), tol)
    keep = np.flatnonzero(slack[near] <= 2 * tau)
    if keep.size == 0:
        return idx
    near, best, tau = near[keep], best[keep], tau[keep]
    sub = scores[near]
    sub[np.arange(near.size), idx[near]] = best
    r, cols = np.nonzero(sub <= (best + 2 * tau)[:, None])  # every row holds its argmin
    diff = a[near[r]].astype(wide) - rows[cols].astype(wide)
    # the candidates' exact distances in a dense (rows, K) block, inf elsewhere: its
    # first-index argmin is the lowest column among each row's smallest distances
    dense = np.full(sub.shape, np.inf, dtype=wide)
    dense[r, cols] = np.einsum("nd,nd->n", diff, diff)
    idx[near] = dense.argmin(axis=1)
    return idx


def _block_codes(a: Any, prep: _Prepared, buf: Any, a_norms: Any = None) -> Any:
    """Codes of the rows of torch ``a`` (m, D), in the work space and shifted like ``prep``.

    The scores ``||e||^2 - 2 a.e`` come from one ``addmm`` (the norms as its bias,
    ``-2 E^T`` in the "NT" layout: measured within 3% of the bare product, where a
    separate pass adding the norms cost 11%) into the flat buffer ``buf`` (at least
    ``m * prep.k`` elements); the first-index argmin is numpy's on CPU (no threads,
    and the cheapest found), torch's elsewhere; ties that the scores broke by rounding
    go back to the lowest index (:func:`_exact_ties`). Duplicate codewords map back to
    their first copy. ``a_norms``: the rows' norms, when the caller has them
    (numpy, for the CPU path; see :func:`_exact_ties`).
    """
    import torch

    m = a.shape[0]
    scores = torch.addmm(prep.norms, a, prep.m2t, out=buf[: m * prep.k].view(m, prep.k))
    view = _numpy_view(scores)
    a_np = _numpy_view(a) if view is not None and prep.rows_np is not None else None
    if a_np is not None:
        idx = view.argmin(axis=1)
        idx = _exact_ties(a_np, view, idx, prep.rows_np, prep.tol, scores, a_norms)
        idx = torch.from_numpy(idx)
    else:
        idx = _exact_ties(a, scores, _argmin_rows(scores), prep.rows, prep.tol)
    return prep.first[idx] if prep.first is not None else idx


def _prepare_codebook(codebook: Any, plan: _Plan | None = None) -> _Prepared:
    """Move a validated ``(K, D)`` codebook to the work space, shift, de-duplicate, transpose.

    ``plan`` defaults to the codebook's own dtype without scaling (callers such as
    :mod:`rvqlib.kmeans` that bring their data to the work space themselves).
    """
    if plan is None:
        plan = _Plan(codebook.dtype, 0)
    if isinstance(codebook, np.ndarray):
        scaled = _to_work(codebook, plan)
        shift = _origin_shift(scaled)
        cb = scaled - shift if shift is not None else scaled
        cb, norms, first = _dedupe(cb, np.einsum("kd,kd->k", cb, cb))
        return _Prepared(shift, cb, norms, first, scaled, plan)
    import torch

    with torch.no_grad():
        scaled = _to_work(codebook, plan)
        shift = _origin_shift(scaled)
        cb = _shifted(scaled, shift) if shift is not None else scaled
        cb_np = _numpy_view(cb)
        if cb_np is not None and cb_np.dtype != np.float16:  # numpy starts no threads
            norms = torch.from_numpy(np.einsum("kd,kd->k", cb_np, cb_np))
        else:
            norms = (cb * cb).sum(dim=1)
        cb, norms, first = _dedupe(cb, norms)
        return _Prepared(shift, cb, norms, first, scaled, plan)


def _nearest_flat(z: Any, codebook: Any, chunk_size: int | None = None) -> Any:
    """Nearest-codeword indices for validated ``z`` (N, D) and ``codebook`` (K, D).

    Internal path without validation (``z`` and ``codebook`` share backend, dtype and
    device and are finite); chooses the work type like :func:`nearest`.
    """
    magnitude = max(finite_max_abs(z, "z"), finite_max_abs(codebook, "codebook"))
    plan = plan_search(z.dtype, magnitude, z.shape[-1])
    return _search(z, _prepare_codebook(codebook, plan), chunk_size)


# --------------------------------------------------------------------------- search
def _search(z: Any, prep: _Prepared, chunk_size: int | None = None) -> Any:
    """Nearest-codeword indices of validated ``z`` (N, D) in a prepared codebook.

    ``z`` is in the inputs' dtype; each block of rows is brought to the work space
    (converted, scaled, shifted) in a reused buffer.
    """
    n = z.shape[0]
    shift, norms, m2t, first, k = prep.shift, prep.norms, prep.m2t, prep.first, prep.k
    work, exp = prep.plan
    if isinstance(z, np.ndarray):
        direct = z.dtype == work and exp == 0
        rows = _chunk_rows(k, _itemsize(work), chunk_size)
        if n <= rows and direct:
            zs = z if shift is None else z - shift
            scores = zs @ m2t
            scores += norms
            out = _exact_ties(zs, scores, scores.argmin(axis=1), prep.rows, prep.tol)
            out = out.astype(np.int64, copy=False)
        else:
            out = np.empty(n, dtype=np.int64)
            m0 = min(rows, n)
            buf = np.empty((m0, k), dtype=np.result_type(work, m2t))  # reused: no page faults
            zbuf = None if (direct and shift is None) else np.empty((m0, z.shape[1]), dtype=work)
            for s in range(0, n, rows):
                zc = z[s : s + rows]
                if zbuf is not None:
                    target = zbuf[: zc.shape[0]]
                    np.copyto(target, zc)
                    if exp:
                        _ldexp(target, exp)
                    if shift is not None:
                        np.subtract(target, shift, out=target)
                    zc = target
                scores = np.matmul(zc, m2t, out=buf[: zc.shape[0]])
                scores += norms
                idx = _exact_ties(zc, scores, scores.argmin(axis=1), prep.rows, prep.tol)
                out[s : s + rows] = idx
        out = first[out] if first is not None else out
        if exp > 0:
            _check_no_overflow(_to_work(z, prep.plan), prep, out)
        return out
    import torch

    with torch.no_grad():  # indices carry no gradient: do not record the distance graph
        z = z.detach()
        rows = max(1, min(n, _chunk_rows(k, _itemsize(work), chunk_size)))
        d = z.shape[1]
        out = torch.empty(n, dtype=torch.long, device=z.device)
        buf = torch.empty(rows * k, dtype=work, device=z.device)  # reused: no page faults
        direct = z.dtype == work and exp == 0 and shift is None
        zbuf = None if direct else torch.empty((rows, d), dtype=work, device=z.device)
        zbuf_np = None if zbuf is None else _numpy_view(zbuf)
        shift_np = None if shift is None else _numpy_view(shift)
        for s in range(0, n, rows):
            zc = z[s : s + rows]
            m = zc.shape[0]
            if zbuf is not None:
                target = zbuf[:m]
                zc_np = _numpy_view(zc) if zbuf_np is not None else None
                if zc_np is not None:  # numpy starts no threads for these copies
                    t_np = zbuf_np[:m]
                    np.copyto(t_np, zc_np)
                    if exp:
                        _ldexp(t_np, exp)
                    if shift_np is not None:
                        np.subtract(t_np, shift_np, out=t_np)
                else:
                    target.copy_(zc)
                    if exp:
                        _ldexp(target, exp)
                    if shift is not None:
                        target.sub_(shift)
                zc = target
            out[s : s + m] = _block_codes(zc, prep, buf)
        if exp > 0:
            _check_no_overflow(_to_work(z, prep.plan), prep, out)
        return out


def _check_no_overflow(zs: Any, prep: _Prepared, idx: Any, name: str = "z") -> None:
    """Raise when some vector's chosen (nearest) codeword is at an unrepresentable distance.

    ``zs`` are the vectors in the work space (scaled). Only searches of scaled-down
    data (``exp > 0``: float64 beyond ``2**400``) can meet this. The squared distance
    is recomputed from the differences in the scaled space and compared with
    float64's largest number after undoing the scale.
    """
    exp = prep.plan.exp
    limit = math.frexp(np.finfo(np.float64).max)[1] - 2 * exp  # log2 bound in the scaled space
    if isinstance(zs, np.ndarray):
        diff = zs - prep.scaled[idx]
        dist = np.einsum("nd,nd->n", diff, diff)
        worst = float(dist.max()) if dist.size else 0.0
    else:
        diff = zs - prep.scaled.index_select(0, idx)
        worst = float((diff * diff).sum(dim=1).max()) if diff.shape[0] else 0.0
    if worst > 0 and math.log2(worst) >= limit:
        raise ValueError(
            f"{name} and the codebook: the squared distances overflow float64 (values up to "
            f"about 2**{exp}); some vector has no codeword at a distance float64 can hold, "
            "so no nearest codeword can be told apart. Rescale the data."
        )


def _argmin_rows(scores: Any) -> Any:
    """First index of the minimum of every row of a torch tensor (see _ARGMIN_MAX_ELEMENTS)."""
    import torch

    view = _numpy_view(scores)
    if view is not None:
        return torch.from_numpy(view.argmin(axis=1))
    if scores.numel() <= _ARGMIN_MAX_ELEMENTS and torch.get_num_threads() > 1:
        return scores.argmin(dim=1)
    return scores.min(dim=1).indices
