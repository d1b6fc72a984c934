"""Residual vector quantization: greedy encoding, decoding and training
(chapter 6, "Residual vector quantization"; used again in chapters 7 and 8).

An RVQ with stages ``1..n_q`` and codebooks ``C_1..C_{n_q}`` encodes a vector
greedily (multistage VQ, Juang & Gray 1982):

.. math:: r_0 = z,\\quad i_s = \\arg\\min_k \\lVert r_{s-1} - C_s[k] \\rVert^2,
          \\quad r_s = r_{s-1} - C_s[i_s],

and decodes by summing the chosen codewords, ``zhat = sum_s C_s[i_s]``, so that
``z - zhat`` is the last residual ``r_{n_q}``. Every stage uses
:func:`rvqlib.vq.nearest` (ties to the lowest index). Codebook sizes may differ
between stages; all share the dimension ``D``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rvqlib._validate import (
    as_generator,
    as_index,
    check_codebook,
    check_same_dim,
    check_vectors,
    common_float,
    eager,
    finite_max_abs,
    is_torch,
    positive_int,
    uses_torch,
)
from rvqlib.kmeans import kmeans
from rvqlib.vq import (
    _block_codes,
    _check_no_overflow,
    _exact_ties,
    _ldexp,
    _numpy_view,
    _Plan,
    _prepare_codebook,
    _Prepared,
    plan_search,
)

__all__ = ["rvq_encode", "rvq_decode", "train_rvq_codebooks"]


def _check_codebooks(codebooks: Any) -> list[Any]:
    """Validate a sequence of (K_i, D) codebooks; returns them as a list."""
    if is_torch(codebooks) or isinstance(codebooks, np.ndarray):
        if codebooks.ndim != 3:
            raise ValueError(
                "codebooks must be a sequence of (K, D) arrays or one (n_stages, K, D) array, "
                f"got an array of shape {tuple(codebooks.shape)}"
            )
        items = list(codebooks)
    elif isinstance(codebooks, Sequence) and not isinstance(codebooks, (str, bytes)):
        items = list(codebooks)
    else:
        raise TypeError(
            f"codebooks must be a sequence of (K, D) arrays, got {type(codebooks).__name__}"
        )
    if not items:
        raise ValueError("codebooks is empty: it must hold at least one stage's codebook")
    uses_torch(**{f"codebooks[{i}]": cb for i, cb in enumerate(items)})
    out = [check_codebook(cb, f"codebooks[{i}]") for i, cb in enumerate(items)]
    for i, cb in enumerate(out[1:], start=1):
        check_same_dim(cb, f"codebooks[{i}]", out[0], "codebooks[0]")
    return out


def _common(z: Any, books: list[Any]) -> tuple[Any, list[Any]]:
    """Promote ``z`` and all codebooks to one floating dtype (same device for torch)."""
    for i, cb in enumerate(books):
        z, _ = common_float(z, "z", cb, f"codebooks[{i}]")
    books = [common_float(z, "z", cb, f"codebooks[{i}]")[1] for i, cb in enumerate(books)]
    return z, books


@eager
def rvq_encode(z: Any, codebooks: Any, n_q: int | None = None) -> Any:
    """Greedy residual vector quantization, stage by stage.

    Parameters
    ----------
    z : array_like or torch.Tensor, shape (..., D)
        Vectors to encode.
    codebooks : sequence of (K_i, D) arrays, or one (n_stages, K, D) array
        One codebook per stage (sizes ``K_i`` may differ); same backend as ``z``.
    n_q : int, optional
        Number of stages to use (the first ``n_q``); default all of them.

    Returns
    -------
    numpy.ndarray or torch.Tensor, shape z.shape[:-1] + (n_q,)
        ``int64`` codes; ``codes[..., s]`` indexes ``codebooks[s]``. An empty
        batch gives an empty array of that shape.

    Raises
    ------
    TypeError
        Mixed torch/numpy arguments, non-numeric input, a non-sequence
        ``codebooks``, sparse tensors.
    ValueError
        Empty ``codebooks`` or codebook, mismatched ``D``, NaN/inf, bad ranks,
        ``n_q < 1`` or ``n_q`` larger than the number of stages, ``meta``
        tensors, squared distances that overflow float64.

    Notes
    -----
    Every stage searches like :func:`rvqlib.vq.nearest` (same work type for
    half precision and extreme magnitudes, chosen once for all stages). The
    stages run block by block: a block of rows (as many as keep one block of
    scores within ``RVQ_BLOCK_BYTES``) goes through every
    stage while its residual is in cache, so besides the codes the encoder
    needs only a few block-sized buffers, whatever the number of vectors:
    peak extra memory is the ``N x n_q`` int64 codes plus one block of scores
    (``RVQ_BLOCK_BYTES``, 4 MiB) and three blocks of ``D`` floats (1.5 MiB at
    ``K = 1024``, ``D = 128`` in float32).

    Examples
    --------
    >>> books = [[[5.0, 2.0], [6.0, 3.0]], [[-0.2, -0.6], [0.9, 0.5]]]
    >>> rvq_encode([[5.8, 2.4]], books)
    array([[1, 0]])
    """
    books = _check_codebooks(codebooks)
    uses_torch(z=z, codebooks=books[0])
    z = check_vectors(z, "z", finite=False)
    check_same_dim(z, "z", books[0], "codebooks[0]")
    n_q = _check_n_q(n_q, len(books))
    z, books = _common(z, books)
    books = books[:n_q]
    magnitude = max(
        [finite_max_abs(z, "z")]
        + [finite_max_abs(cb, f"codebooks[{i}]") for i, cb in enumerate(books)]
    )
    plan = rvq_plan(z.dtype, magnitude, z.shape[-1], n_q)
    return _encode_prepared(z, [_prepare_codebook(cb, plan) for cb in books])


#: Score block of the RVQ encoder (4 MiB: 1024 rows at K = 1024 in float32). Every
#: block goes through all stages while its residual is in cache; blocks of 4 MiB were
#: a few percent faster than the 8 MiB of :data:`rvqlib.vq.DEFAULT_CHUNK_BYTES` here
#: (D = 128, K = 1024, n_q = 8; measured on a busy machine, so within its noise).
RVQ_BLOCK_BYTES = 4 * 2**20


def rvq_plan(dtype: Any, magnitude: float, dim: int, n_q: int) -> _Plan:
    """Work type of an ``n_q``-stage encode (residuals grow to at most ``(n_q + 1) M``)."""
    return plan_search(dtype, magnitude, dim, growth=n_q + 1)


def _encode_prepared(z: Any, preps: list[_Prepared], chunk_size: int | None = None) -> Any:
    """Greedy RVQ codes of validated ``z`` (..., D) with codebooks already prepared.

    ``preps`` are the stages' :func:`rvqlib.vq._prepare_codebook` forms, all with the
    same work plan. Rows go through all stages one block at a time (see
    :func:`rvq_encode`): the residual of a block lives in one reused buffer.
    """
    n_q = len(preps)
    d = z.shape[-1]
    flat = z.reshape(-1, d)
    lead = tuple(z.shape[:-1])
    n = flat.shape[0]
    work, exp = preps[0].plan
    kmax = max(p.k for p in preps)
    if chunk_size is None:
        chunk_size = max(1, RVQ_BLOCK_BYTES // (kmax * int(work.itemsize)))
    rows = max(1, min(n, chunk_size))
    shifted = any(p.shift is not None for p in preps)
    if not is_torch(z):
        codes = np.empty((n, n_q), dtype=np.int64)
        if n == 0:
            return codes.reshape(lead + (n_q,))
        res = np.empty((rows, d), dtype=work)
        tmp = np.empty((rows, d), dtype=work) if shifted else None
        gather = np.empty((rows, d), dtype=work)
        scores_buf = np.empty(rows * kmax, dtype=work)
        for s0 in range(0, n, rows):
            zc = flat[s0 : s0 + rows]
            m = zc.shape[0]
            r = res[:m]
            np.copyto(r, zc)
            if exp:
                _ldexp(r, exp)
            for s, p in enumerate(preps):
                a = r if p.shift is None else np.subtract(r, p.shift, out=tmp[:m])
                scores = np.matmul(a, p.m2t, out=scores_buf[: m * p.k].reshape(m, p.k))
                scores += p.norms
                idx = _exact_ties(a, scores, scores.argmin(axis=1), p.rows, p.tol)
                if p.first is not None:
                    idx = p.first[idx]
                codes[s0 : s0 + m, s] = idx
                if exp > 0:
                    _check_no_overflow(r, p, idx)
                if s + 1 < n_q:
                    g = np.take(p.scaled, idx, axis=0, out=gather[:m])
                    np.subtract(r, g, out=r)
        return codes.reshape(lead + (n_q,))
    import torch

    with torch.no_grad():
        flat = flat.detach()
        dev = flat.device
        codes = torch.empty((n, n_q), dtype=torch.long, device=dev)
        if n == 0:
            return codes.reshape(lead + (n_q,))
        res = torch.empty((rows, d), dtype=work, device=dev)
        tmp = torch.empty((rows, d), dtype=work, device=dev) if shifted else None
        gather = torch.empty((rows, d), dtype=work, device=dev)
        scores_buf = torch.empty(rows * kmax, dtype=work, device=dev)
        res_np = _numpy_view(res)
        tmp_np = _numpy_view(tmp) if shifted else None
        g_np = _numpy_view(gather) if res_np is not None else None
        books_np = [_numpy_view(p.scaled) for p in preps] if res_np is not None else None
        for s0 in range(0, n, rows):
            zc = flat[s0 : s0 + rows]
            m = zc.shape[0]
            zc_np = _numpy_view(zc) if res_np is not None else None
            r = res[:m]
            if zc_np is not None:  # numpy's copies and subtractions start no threads
                r_np = res_np[:m]
                np.copyto(r_np, zc_np)
                if exp:
                    _ldexp(r_np, exp)
            else:
                r.copy_(zc)
                if exp:
                    _ldexp(r, exp)
            for s, p in enumerate(preps):
                if p.shift is None:
                    a = r
                elif zc_np is not None:
                    a = tmp[:m]
                    np.subtract(r_np, _numpy_view(p.shift), out=tmp_np[:m])
                else:
                    a = torch.sub(r, p.shift, out=tmp[:m])
                idx = _block_codes(a, p, scores_buf)
                codes[s0 : s0 + m, s] = idx
                if exp > 0:
                    _check_no_overflow(r, p, idx)
                if s + 1 == n_q:
                    break
                if zc_np is not None and books_np[s] is not None:
                    g = np.take(books_np[s], idx.numpy(), axis=0, out=g_np[:m])
                    np.subtract(r_np, g, out=r_np)
                else:
                    torch.index_select(p.scaled, 0, idx, out=gather[:m])
                    r.sub_(gather[:m])
        return codes.reshape(lead + (n_q,))


def rvq_decode(codes: Any, codebooks: Any) -> Any:
    """Sum of the chosen codewords of every stage.

    Parameters
    ----------
    codes : array_like or torch.Tensor of int, shape (..., n)
        Codes from :func:`rvq_encode`; ``n <= len(codebooks)`` stages are
        decoded with the first ``n`` codebooks.
    codebooks : sequence of (K_i, D) arrays, or one (n_stages, K, D) array
        The codebooks used for encoding; same backend as ``codes``.

    Returns
    -------
    numpy.ndarray or torch.Tensor, shape codes.shape[:-1] + (D,)
        ``sum_s codebooks[s][codes[..., s]]`` in the codebooks' floating dtype.

    Raises
    ------
    TypeError
        Mixed torch/numpy arguments, non-integer codes.
    ValueError
        More stages in ``codes`` than codebooks, codes out of range, a 0-d
        ``codes`` or one with no stage, bad codebooks.

    Examples
    --------
    >>> books = [[[5.0, 2.0], [6.0, 3.0]], [[-0.2, -0.6], [0.9, 0.5]]]
    >>> rvq_decode([[1, 0]], books)
    array([[5.8, 2.4]])
    """
    books = _check_codebooks(codebooks)
    uses_torch(codes=codes, codebooks=books[0])
    codes = as_index(codes, "codes")
    if codes.ndim < 1:
        raise ValueError("codes must have shape (..., n_q) with at least one axis, got a scalar")
    n = codes.shape[-1]
    if n == 0:
        raise ValueError("codes must hold at least one stage on its last axis, got n_q = 0")
    if n > len(books):
        raise ValueError(
            f"codes has {n} stages on its last axis but codebooks has only {len(books)}"
        )
    dtype_ref = books[0]
    for i, cb in enumerate(books[1:], start=1):
        dtype_ref, _ = common_float(dtype_ref, "codebooks[0]", cb, f"codebooks[{i}]")
    if is_torch(codes):
        if codes.device != books[0].device:
            raise ValueError(
                f"codes is on device {codes.device} but codebooks on {books[0].device}"
            )
        books = [cb.to(dtype_ref.dtype) for cb in books]
    else:
        books = [cb.astype(dtype_ref.dtype, copy=False) for cb in books]
    flat = codes.reshape(-1, n)
    for s in range(n):
        col = flat[:, s]
        k = books[s].shape[0]
        if flat.shape[0] and (int(col.min()) < 0 or int(col.max()) >= k):
            raise ValueError(
                f"codes[..., {s}] must lie in [0, {k}) for codebooks[{s}] of size {k}, "
                f"got values in [{int(col.min())}, {int(col.max())}]"
            )
    out = books[0][flat[:, 0]]
    for s in range(1, n):
        out = out + books[s][flat[:, s]]
    return out.reshape(tuple(codes.shape[:-1]) + (books[0].shape[1],))


def _check_n_q(n_q: Any, n_stages: int) -> int:
    if n_q is None:
        return n_stages
    n_q = positive_int(n_q, "n_q")
    if n_q > n_stages:
        raise ValueError(f"n_q={n_q} is larger than the number of stages ({n_stages}) in codebooks")
    return n_q


@eager
def train_rvq_codebooks(
    x: Any,
    n_q: int,
    k: int | Sequence[int],
    *,
    seed: Any = None,
    n_iter: int = 50,
    init: str = "k-means++",
    tol: float = 1e-6,
) -> list[Any]:
    """Train RVQ codebooks stage by stage with k-means on the residuals.

    Stage 1 runs :func:`rvqlib.kmeans.kmeans` on ``x``; stage ``s`` runs it on
    the residuals left by greedy encoding with stages ``1..s-1``. With these
    codebooks, :func:`rvq_encode` reproduces exactly the assignments made
    during training.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (..., D)
        Training vectors.
    n_q : int
        Number of stages (>= 1).
    k : int or sequence of int
        Codebook size, one for all stages or one per stage (length ``n_q``);
        each at most the number of training vectors.
    seed : None, int or numpy.random.Generator
        Seeds the k-means++ (or random) initialisation of every stage, from one
        generator used in stage order: the same seed gives the same codebooks.
    n_iter : int, default 50
        Maximum Lloyd iterations per stage.
    init : {"k-means++", "random"}
        Seeding of each stage's k-means.
    tol : float, default 1e-6
        Relative-improvement stopping threshold of each stage's k-means.

    Returns
    -------
    list of numpy.ndarray or torch.Tensor
        ``n_q`` codebooks of shape ``(k_s, D)`` (same backend, dtype and device as ``x``).

    Raises
    ------
    TypeError, ValueError
        For bad ``x``, ``n_q``, ``k`` (including ``k`` larger than the number
        of vectors or a per-stage list of the wrong length), ``seed``, ``n_iter``.
    """
    x = check_vectors(x, "x")
    n_q = positive_int(n_q, "n_q")
    if isinstance(k, Sequence) and not isinstance(k, (str, bytes)):
        ks = [positive_int(v, f"k[{i}]") for i, v in enumerate(k)]
        if len(ks) != n_q:
            raise ValueError(f"k must give one size per stage: n_q={n_q} but len(k)={len(ks)}")
    else:
        ks = [positive_int(k, "k")] * n_q
    residual = x.reshape(-1, x.shape[-1])
    n = residual.shape[0]
    for i, kk in enumerate(ks):
        if kk > n:
            name = "k" if not isinstance(k, Sequence) else f"k[{i}]"
            raise ValueError(f"{name}={kk} is larger than the number of training vectors N={n}")
    gen = as_generator(seed, "seed")
    books = []
    for kk in ks:
        res = kmeans(residual, kk, n_iter=n_iter, init=init, seed=gen, tol=tol)
        books.append(res.centroids)
        residual = residual - res.centroids[res.labels]
    return books
