"""Nearest-codeword search and vector quantization (chapter 2, "Vector quantization").

A vector quantizer with codebook ``E`` of shape ``(K, D)`` maps ``z`` to the
codeword at the smallest squared Euclidean distance,

.. math:: i^*(z) = \\arg\\min_k \\lVert z - e_k \\rVert^2
          = \\arg\\min_k \\left(\\lVert e_k \\rVert^2 - 2\\, z \\cdot e_k\\right),

since :math:`\\lVert z \\rVert^2` is the same for every ``k``. The second form is
one matrix product, which is how :func:`nearest` computes it, in chunks of rows
so that the ``N x K`` block of scores stays within 8 MiB.

Ties go to the lowest index. ``argmin`` alone guarantees this for scores that tie
exactly (for instance when all coordinates are small integers, where every
product and sum is exact). Identical codewords are a case where floating-point
matrix kernels could break a tie by rounding differently per column, so
duplicates are removed before the product and only the first copy can win.
"""

from __future__ import annotations

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
    ``(D - 1) * eps * norm`` whatever the order of summation), so the exact row
    comparison only runs when two sorted norms are that close; distinct
    codebooks, the usual case, cost one sort of ``K`` numbers.
    """
    k, d = codebook.shape
    if k == 1:
        return codebook, norms, None
    if isinstance(codebook, np.ndarray):
        s = np.sort(norms)
        if not np.any(np.diff(s) <= 2 * d * np.finfo(s.dtype).eps * s[1:]):
            return codebook, norms, None
        _, first = np.unique(codebook, axis=0, return_index=True)
        if first.size == k:
            return codebook, norms, None
        first = np.sort(first).astype(np.int64)
        return codebook[first], norms[first], first
    import torch

    s = torch.sort(norms).values
    if not bool(torch.any(torch.diff(s) <= 2 * d * torch.finfo(s.dtype).eps * s[1:])):
        return codebook, norms, None
    _, inverse = torch.unique(codebook, dim=0, return_inverse=True)
    n_unique = int(inverse.max()) + 1
    if n_unique == k:
        return codebook, norms, None
    first = torch.full((n_unique,), k, dtype=torch.long, device=codebook.device)
    first.scatter_reduce_(
        0, inverse, torch.arange(k, device=codebook.device), reduce="amin", include_self=True
    )
    first = torch.sort(first).values
    return codebook[first], norms[first], first


def _chunk_rows(k: int, itemsize: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return chunk_size
    return max(1, DEFAULT_CHUNK_BYTES // (k * itemsize))


def _nearest_flat(z: Any, codebook: Any, chunk_size: int | None = None) -> Any:
    """Nearest-codeword indices for validated ``z`` (N, D) and ``codebook`` (K, D).

    Internal fast path (no validation) shared by :mod:`rvqlib.kmeans` and
    :mod:`rvqlib.rvq`; both arguments must share backend, dtype and device.
    """
    n = z.shape[0]
    if isinstance(z, np.ndarray):
        cb, norms, first = _dedupe(codebook, np.einsum("kd,kd->k", codebook, codebook))
        k = cb.shape[0]
        m2t = cb.T * (-2.0)  # exact scaling by a power of two
        rows = _chunk_rows(k, z.itemsize, chunk_size)
        if n <= rows:
            scores = z @ m2t
            scores += norms
            out = scores.argmin(axis=1).astype(np.int64, copy=False)
        else:
            out = np.empty(n, dtype=np.int64)
            buf = np.empty((rows, k), dtype=np.result_type(z, m2t))  # reused: no page faults
            for s in range(0, n, rows):
                zc = z[s : s + rows]
                scores = np.matmul(zc, m2t, out=buf[: zc.shape[0]])
                scores += norms
                out[s : s + rows] = scores.argmin(axis=1)
        return first[out] if first is not None else out
    import torch

    with torch.no_grad():  # indices carry no gradient: do not record the distance graph
        cb, norms, first = _dedupe(codebook, (codebook * codebook).sum(dim=1))
        k = cb.shape[0]
        m2t = cb.T * (-2.0)
        rows = _chunk_rows(k, z.element_size(), chunk_size)
        # torch.min(dim=1) returns the first minimal index like argmin, and is much
        # faster than argmin over the last axis on CPU
        if n <= rows:
            out = torch.addmm(norms, z, m2t).min(dim=1).indices
        else:
            out = torch.empty(n, dtype=torch.long, device=z.device)
            buf = torch.empty((rows, k), dtype=z.dtype, device=z.device)
            for s in range(0, n, rows):
                zc = z[s : s + rows]
                scores = torch.addmm(norms, zc, m2t, out=buf[: zc.shape[0]])
                out[s : s + rows] = scores.min(dim=1).indices
        return first[out] if first is not None else out
