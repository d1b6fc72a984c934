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
    is_torch,
    positive_int,
    uses_torch,
)
from rvqlib.kmeans import kmeans
from rvqlib.vq import _numpy_view, _prepare_codebook, _search, _search_aug, _with_ones

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
        ``int64`` codes; ``codes[..., s]`` indexes ``codebooks[s]``.

    Raises
    ------
    TypeError
        Mixed torch/numpy arguments, non-numeric input, a non-sequence ``codebooks``.
    ValueError
        Empty ``codebooks`` or codebook, mismatched ``D``, NaN/inf, bad ranks,
        ``n_q < 1`` or ``n_q`` larger than the number of stages.

    Examples
    --------
    >>> books = [[[5.0, 2.0], [6.0, 3.0]], [[-0.2, -0.6], [0.9, 0.5]]]
    >>> rvq_encode([[5.8, 2.4]], books)
    array([[1, 0]])
    """
    books = _check_codebooks(codebooks)
    uses_torch(z=z, codebooks=books[0])
    z = check_vectors(z, "z")
    check_same_dim(z, "z", books[0], "codebooks[0]")
    n_q = _check_n_q(n_q, len(books))
    z, books = _common(z, books)
    return _encode_prepared(z, books[:n_q], [_prepare_codebook(cb) for cb in books[:n_q]])


def _encode_prepared(z: Any, books: list[Any], preps: list[Any]) -> Any:
    """Greedy RVQ codes of validated ``z`` (..., D) with codebooks already prepared.

    ``books`` are the codebooks (same backend, dtype and device as ``z``) and
    ``preps`` their :func:`rvqlib.vq._prepare_codebook` forms. The residual is
    one buffer updated in place, so the peak memory is about twice the input's.
    """
    n_q = len(books)
    flat = z.reshape(-1, z.shape[-1])
    lead = tuple(z.shape[:-1])
    n = flat.shape[0]
    if not is_torch(z):
        codes = np.empty((n, n_q), dtype=np.int64)
        residual = flat
        for s in range(n_q):
            idx = _search(residual, preps[s])
            codes[:, s] = idx
            if s + 1 < n_q:
                if residual is flat:
                    residual = flat - books[s][idx]
                else:
                    residual -= books[s][idx]
        return codes.reshape(lead + (n_q,))
    import torch

    with torch.no_grad():
        d = flat.shape[1]
        codes = torch.empty((n, n_q), dtype=torch.long, device=z.device)
        # one (N, D + 1) buffer [residual, 1], updated in place: the ones column carries
        # the codeword norms through the product (see rvqlib.vq._search_aug)
        res_aug = _with_ones(flat.detach())
        residual = res_aug[:, :d]
        res_np = _numpy_view(residual)
        for s in range(n_q):
            prep = preps[s]
            idx = _search_aug(res_aug, prep) if prep.shift is None else _search(residual, prep)
            codes[:, s] = idx
            if s + 1 == n_q:
                break
            book = books[s].detach()
            book_np = _numpy_view(book)
            if res_np is not None and book_np is not None:
                # numpy's gather and subtraction start no threads (see rvqlib.vq._numpy_view)
                np.subtract(res_np, book_np[idx.numpy()], out=res_np)
            else:
                residual.sub_(book.index_select(0, idx))
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
