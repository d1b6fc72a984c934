"""Nearest-codeword search and vector quantization (chapter 2, "Vector quantization").

A vector quantizer with codebook ``E`` of shape ``(K, D)`` maps ``z`` to the
codeword at the smallest squared Euclidean distance,

.. math:: i^*(z) = \\arg\\min_k \\lVert z - e_k \\rVert^2
          = \\arg\\min_k \\left(\\lVert e_k \\rVert^2 - 2\\, z \\cdot e_k\\right),

since :math:`\\lVert z \\rVert^2` is the same for every ``k``. The second form is
one matrix product, which is how :func:`nearest` computes it, in chunks of rows
so that the ``N x K`` block of scores stays within 8 MiB. (For torch tensors the
norms go into the same product, ``[z, 1] @ [-2 E^T; ||e||^2]``, which saves a
pass over the scores; numpy adds them to the block after the product.)

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

Ties go to the lowest index. ``argmin`` alone guarantees this for scores that tie
exactly (for instance when all coordinates are small integers, where every
product and sum is exact). Identical codewords are a case where floating-point
matrix kernels could break a tie by rounding differently per column, so
duplicates are removed before the product and only the first copy can win.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rvqlib._validate import (
    check_codebook,
    check_same_dim,
    check_vectors,
    common_float,
    positive_int,
    uses_torch,
)

__all__ = ["nearest", "quantize", "DEFAULT_CHUNK_BYTES"]

#: Size budget of one ``chunk x K`` block of scores used by :func:`nearest`.
DEFAULT_CHUNK_BYTES = 8 * 2**20


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
        Mixed torch/numpy arguments, non-numeric input, non-integer chunk_size.
    ValueError
        Wrong rank, empty codebook, mismatched ``D``, NaN/inf, chunk_size < 1,
        tensors on different devices.

    Notes
    -----
    The scores are ``||e_k||^2 - 2 z . e_k``, computed after ``z`` and the
    codebook are moved together near the origin when the codebook lies far
    from it (see the module docstring: the shift is exact and leaves centred
    codebooks alone), so float32 data with a large common offset keep their
    nearest codeword.

    Examples
    --------
    >>> nearest([[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.0, 1.0]])
    array([0, 1])
    """
    z, codebook = _prepare(z, codebook)
    if chunk_size is not None:
        chunk_size = positive_int(chunk_size, "chunk_size")
    flat = z.reshape(-1, z.shape[-1])
    idx = _nearest_flat(flat, codebook, chunk_size)
    return idx.reshape(tuple(z.shape[:-1]))


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
    z, codebook = _prepare(z, codebook)
    if chunk_size is not None:
        chunk_size = positive_int(chunk_size, "chunk_size")
    flat = z.reshape(-1, z.shape[-1])
    idx = _nearest_flat(flat, codebook, chunk_size)
    zq = codebook[idx].reshape(z.shape)
    return idx.reshape(tuple(z.shape[:-1])), zq


def _prepare(z: Any, codebook: Any) -> tuple[Any, Any]:
    uses_torch(z=z, codebook=codebook)
    z = check_vectors(z, "z")
    codebook = check_codebook(codebook, "codebook")
    check_same_dim(z, "z", codebook, "codebook")
    return common_float(z, "z", codebook, "codebook")


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
    busy machine waking a second thread costs milliseconds per operation.
    """
    if isinstance(a, np.ndarray):
        return a
    import torch

    if a.device.type == "cpu" and a.dtype in (torch.float16, torch.float32, torch.float64):
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
_ARGMIN_MAX_ELEMENTS = 32768


def _chunk_rows(k: int, itemsize: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return chunk_size
    return max(1, DEFAULT_CHUNK_BYTES // (k * itemsize))


class _Prepared:
    """A codebook made ready for :func:`_search`: shift, distinct rows, norms and ``-2 E^T``.

    Built by :func:`_prepare_codebook`; holds no reference to the caller's codebook, so
    a cached instance stays valid only as long as that codebook is not changed (callers
    that cache it key it on the tensor's version counter, see :mod:`rvqlib.nn`).
    """

    __slots__ = ("shift", "norms", "m2t", "first", "k", "aug")

    def __init__(self, shift: Any, cb: Any, norms: Any, first: Any) -> None:
        self.shift = shift
        self.norms = norms
        self.first = first
        self.k = cb.shape[0]
        if isinstance(cb, np.ndarray):
            self.m2t = cb.T * (-2.0)  # exact scaling by a power of two
            self.aug = None
            return
        import torch

        # torch: aug = [-2 E^T; ||e||^2], (D + 1, K); m2t is a view of its first D rows
        d = cb.shape[1]
        aug = torch.empty((d + 1, self.k), dtype=cb.dtype, device=cb.device)
        aug_np, cb_np, n_np = _numpy_view(aug), _numpy_view(cb), _numpy_view(norms)
        if aug_np is not None and cb_np is not None and n_np is not None:
            np.multiply(cb_np.T, -2.0, out=aug_np[:d])  # numpy starts no threads
            aug_np[d] = n_np
        else:
            torch.mul(cb.T, -2.0, out=aug[:d])
            aug[d] = norms
        self.aug = aug
        self.m2t = aug[:d]


def _prepare_codebook(codebook: Any) -> _Prepared:
    """Shift, de-duplicate and transpose a validated ``(K, D)`` codebook for :func:`_search`."""
    shift = _origin_shift(codebook)
    if isinstance(codebook, np.ndarray):
        if shift is not None:
            codebook = codebook - shift
        cb, norms, first = _dedupe(codebook, np.einsum("kd,kd->k", codebook, codebook))
        return _Prepared(shift, cb, norms, first)
    import torch

    with torch.no_grad():
        codebook = codebook.detach()
        if shift is not None:
            codebook = _shifted(codebook, shift)
        cb_np = _numpy_view(codebook)
        if cb_np is not None and cb_np.dtype != np.float16:  # numpy starts no threads
            norms = torch.from_numpy(np.einsum("kd,kd->k", cb_np, cb_np))
        else:
            norms = (codebook * codebook).sum(dim=1)
        cb, norms, first = _dedupe(codebook, norms)
        return _Prepared(shift, cb, norms, first)


def _nearest_flat(z: Any, codebook: Any, chunk_size: int | None = None) -> Any:
    """Nearest-codeword indices for validated ``z`` (N, D) and ``codebook`` (K, D).

    Internal fast path (no validation) shared by :mod:`rvqlib.kmeans` and
    :mod:`rvqlib.rvq`; both arguments must share backend, dtype and device.
    """
    return _search(z, _prepare_codebook(codebook), chunk_size)


def _search(z: Any, prep: _Prepared, chunk_size: int | None = None) -> Any:
    """Nearest-codeword indices of validated ``z`` (N, D) in a prepared codebook."""
    n = z.shape[0]
    shift, norms, m2t, first, k = prep.shift, prep.norms, prep.m2t, prep.first, prep.k
    if isinstance(z, np.ndarray):
        rows = _chunk_rows(k, z.itemsize, chunk_size)
        if n <= rows:
            zs = z if shift is None else z - shift
            scores = zs @ m2t
            scores += norms
            out = scores.argmin(axis=1).astype(np.int64, copy=False)
        else:
            out = np.empty(n, dtype=np.int64)
            buf = np.empty((rows, k), dtype=np.result_type(z, m2t))  # reused: no page faults
            zbuf = None if shift is None else np.empty((rows, z.shape[1]), dtype=z.dtype)
            for s in range(0, n, rows):
                zc = z[s : s + rows]
                if zbuf is not None:
                    zc = np.subtract(zc, shift, out=zbuf[: zc.shape[0]])
                scores = np.matmul(zc, m2t, out=buf[: zc.shape[0]])
                scores += norms
                out[s : s + rows] = scores.argmin(axis=1)
        return first[out] if first is not None else out
    import torch

    with torch.no_grad():  # indices carry no gradient: do not record the distance graph
        z = z.detach()
        rows = max(1, min(n, _chunk_rows(k, z.element_size(), chunk_size)))
        d = z.shape[1]
        aug = prep.aug
        out = torch.empty(n, dtype=torch.long, device=z.device)
        buf = torch.empty((rows, k), dtype=z.dtype, device=z.device)  # reused: no page faults
        # [z - c, 1] @ [-2 E^T; ||e||^2]: the norms ride in the product (one kernel, no
        # separate pass over the scores, ~15% faster than addmm at K = 1024 on CPU)
        zbuf = torch.empty((rows, d + 1), dtype=z.dtype, device=z.device)
        zbuf[:, d] = 1
        zbuf_np = _numpy_view(zbuf)
        for s in range(0, n, rows):
            zc = z[s : s + rows]
            m = zc.shape[0]
            target = zbuf[:m, :d]
            if zbuf_np is not None:  # numpy starts no threads for these copies
                if shift is None:
                    np.copyto(zbuf_np[:m, :d], _numpy_view(zc))
                else:
                    np.subtract(_numpy_view(zc), _numpy_view(shift), out=zbuf_np[:m, :d])
            elif shift is None:
                target.copy_(zc)
            else:
                torch.sub(zc, shift, out=target)
            scores = torch.mm(zbuf[:m], aug, out=buf[:m])
            out[s : s + m] = _argmin_rows(scores)
        return first[out] if first is not None else out


def _with_ones(z: Any) -> Any:
    """A new ``(N, D + 1)`` tensor ``[z, 1]``, the form :func:`_search_aug` takes."""
    import torch

    out = torch.empty((z.shape[0], z.shape[1] + 1), dtype=z.dtype, device=z.device)
    out[:, -1] = 1
    out_np, z_np = _numpy_view(out), _numpy_view(z)
    if out_np is not None and z_np is not None:
        np.copyto(out_np[:, :-1], z_np)  # numpy starts no threads
    else:
        out[:, :-1].copy_(z)
    return out


def _search_aug(zaug: Any, prep: _Prepared, chunk_size: int | None = None) -> Any:
    """:func:`_search` for torch ``zaug = [z, 1]`` (N, D + 1) and a prepared codebook
    with no shift: the same scores, without copying ``z`` into a block buffer."""
    import torch

    with torch.no_grad():
        n, k = zaug.shape[0], prep.k
        rows = max(1, min(n, _chunk_rows(k, zaug.element_size(), chunk_size)))
        out = torch.empty(n, dtype=torch.long, device=zaug.device)
        buf = torch.empty((rows, k), dtype=zaug.dtype, device=zaug.device)
        for s in range(0, n, rows):
            zc = zaug[s : s + rows]
            out[s : s + rows] = _argmin_rows(torch.mm(zc, prep.aug, out=buf[: zc.shape[0]]))
        return prep.first[out] if prep.first is not None else out


def _argmin_rows(scores: Any) -> Any:
    """First index of the minimum of every row of a torch tensor (see _ARGMIN_MAX_ELEMENTS)."""
    import torch

    if scores.numel() <= _ARGMIN_MAX_ELEMENTS and torch.get_num_threads() > 1:
        return scores.argmin(dim=1)
    return scores.min(dim=1).indices
