"""k-means by Lloyd's algorithm, with k-means++ seeding (chapter 3, "Learning a codebook").

Lloyd's algorithm (Lloyd 1982) alternates the two optimality conditions of a
vector quantizer: every vector goes to its nearest centroid
(:func:`rvqlib.vq.nearest`), then every centroid moves to the mean of its
vectors. Each half-step can only lower the inertia (the sum of squared
distances), so the history of inertia values is non-increasing.

Seeding follows the greedy k-means++ of scikit-learn (Arthur & Vassilvitskii
2007, with ``2 + floor(ln k)`` candidate centres per step, keeping the candidate
that lowers the potential most).

Determinism: every random draw comes from one ``numpy.random.Generator`` built
from ``seed``, also for torch input, so the same seed gives the same result.
Empty clusters are re-seeded without randomness: they take the points farthest
from their assigned centroids (ties to the lowest point index).

Precision: the data are first moved near the origin by the shift of
:mod:`rvqlib.vq` (their midrange rounded to a power of two comparable to their
spread; zero, and no copy, for data already centred), and the shift is added
back to the centroids at the end. Distances and inertia do not depend on where
the origin is, but float32 rounding does: data far from the origin (an offset of
1e4 with unit spread, say) would otherwise lose the nearest-centroid search to
cancellation. Half-precision data are clustered in float32, and data whose
magnitudes float32 (or float64) cannot square are clustered in float64 (or
scaled by a power of two), as :mod:`rvqlib.vq` searches them; the centroids
are rounded back to the data's dtype at the end. If the inertia itself does
not fit in a float64, :func:`kmeans` raises ``ValueError`` instead of
reporting ``inf``.

Speed: one Lloyd iteration is one pass over the data in blocks of rows (2 MiB
of scores per block): each block's nearest centroids, its squared distances
(the inertia) and its per-cluster sums and counts (the next means) are
computed while the block is in cache, as scikit-learn's Lloyd loop does. On
CPU the near ties, inertia, counts and sums of four consecutive blocks are
handled together (8 MiB of scores per batch), which saves most of the numpy
calls a block would make on its own (labels and centroids are the same, bit
for bit). On CPU with ``torch.get_num_threads() > 1`` the blocks, in at most
eight fixed groups, are shared among that many worker threads, each running
torch with one thread: one parallel region per iteration instead of one per
operation, which on a busy machine keeps operations from waiting for a thread
that another process holds. The groups' sums are added in a fixed order, so the result does
not depend on the number of threads.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from rvqlib._validate import (
    as_float,
    as_generator,
    check_finite,
    check_vectors,
    common_float,
    compiling,
    eager,
    finite_max_abs,
    is_torch,
    make_callable,
    nonnegative_float,
    positive_int,
    uses_torch,
)
from rvqlib.vq import (
    _block_codes,
    _numpy_view,
    _origin_shift,
    _prepare_codebook,
    _resolve_ties,
    _search,
    _tie_slack,
    _to_work,
    plan_search,
)

__all__ = ["KMeans", "kmeans", "kmeans_plusplus"]


class KMeans(NamedTuple):
    """Result of :func:`kmeans`.

    Attributes
    ----------
    centroids : numpy.ndarray or torch.Tensor, shape (k, D)
        Final centroids (same backend, dtype and device as the data).
    labels : numpy.ndarray or torch.Tensor, shape x.shape[:-1]
        ``int64`` index of each vector's nearest centroid in ``centroids``.
    inertia : float
        Sum over vectors of the squared distance to ``centroids[labels]``.
    history : list of float
        Inertia after every iteration; non-increasing, ``history[-1] == inertia``.
    """

    centroids: Any
    labels: Any
    inertia: float
    history: list[float]


@eager
def kmeans_plusplus(x: Any, k: int, rng: Any = None, *, return_indices: bool = False) -> Any:
    """Greedy k-means++ seeding, as in scikit-learn.

    The first centre is a uniformly drawn data point. Each further centre is
    chosen among ``2 + floor(ln k)`` candidates drawn with probability
    proportional to the squared distance to the nearest centre so far
    (the "D^2" weighting); the candidate giving the smallest total potential is kept.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (N, D)
        Data points.
    k : int
        Number of centres, ``1 <= k <= N``.
    rng : None, int or numpy.random.Generator
        Source of randomness (also used for torch input).
    return_indices : bool, default False
        Also return the indices of the chosen points.

    Returns
    -------
    centers : numpy.ndarray or torch.Tensor, shape (k, D)
        Copies of the chosen data points.
    indices : numpy.ndarray, shape (k,)
        Only when ``return_indices``: the ``int64`` row indices of the centres.

    Raises
    ------
    TypeError, ValueError
        For bad ``x``, ``k`` or ``rng`` (``k`` larger than ``N`` included).

    Notes
    -----
    The squared distances are computed on the data shifted near the origin
    (see the module docstring), so that float32 data far from it keep the
    D^2 weights accurate; the returned centres are the original rows.
    """
    x = check_vectors(x, "x", finite=False)
    if is_torch(x):
        x = x.detach()
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, D), got shape {tuple(x.shape)}")
    k = positive_int(k, "k")
    if k > x.shape[0]:
        raise ValueError(f"k={k} is larger than the number of points N={x.shape[0]} in x")
    gen = as_generator(rng, "rng")
    xw = _to_work(x, plan_search(x.dtype, finite_max_abs(x, "x"), x.shape[1]))
    shift = _origin_shift(xw)
    idx = _kmeanspp_indices(xw if shift is None else xw - shift, k, gen)
    centers = x[_index_like(x, idx)].clone() if is_torch(x) else x[idx].copy()
    return (centers, idx) if return_indices else centers


@eager
def kmeans(
    x: Any,
    k: int,
    *,
    n_iter: int = 100,
    init: Any = "k-means++",
    seed: Any = None,
    tol: float = 1e-6,
) -> KMeans:
    """Cluster vectors with Lloyd's algorithm.

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (..., D)
        Data; every leading index is one vector.
    k : int
        Number of clusters, ``1 <= k <= N`` (N = number of vectors).
    n_iter : int, default 100
        Maximum number of Lloyd iterations (>= 1).
    init : {"k-means++", "random"} or array_like of shape (k, D)
        Seeding: greedy k-means++ (:func:`kmeans_plusplus`), ``k`` distinct data
        points drawn uniformly, or explicit starting centroids (same backend
        as ``x``).
    seed : None, int or numpy.random.Generator
        Randomness for the seeding. The same int gives the same result.
    tol : float, default 1e-6
        Stop when the relative improvement ``(J_prev - J) / J_prev`` of the
        inertia falls below ``tol`` (or when the labels stop changing).

    Returns
    -------
    KMeans
        ``(centroids, labels, inertia, history)``.

    Notes
    -----
    One iteration moves every centroid to the mean of its points, re-seeds
    empty clusters, then reassigns every point to its nearest centroid;
    ``history`` records the inertia of that (centroids, labels) pair. An empty
    cluster is re-seeded with the point farthest from its current centroid
    (several empty clusters take the farthest points in decreasing order of
    distance, ties to the lowest point index); this needs no random numbers.
    In exact arithmetic neither step can raise the inertia. If floating-point
    rounding ever made an iteration raise it, that iteration is undone (its
    ``history`` entry repeats the previous inertia) and the run stops, so
    ``history`` is non-increasing by construction and ``history[-1]`` is the
    inertia of the returned centroids and labels.

    The run stops when the labels stop changing, when the inertia reaches 0,
    after ``n_iter`` iterations, or when the relative improvement falls below
    ``tol`` while every cluster owns at least one vector (a cluster left empty
    by the last reassignment is re-seeded first, however small the gain). So a
    returned centroid owns no vector only after ``n_iter`` iterations or when
    the inertia is 0 with ``x`` holding fewer than ``k`` distinct vectors (an
    inertia of 0 puts a centroid on each of the ``m`` distinct vectors and the
    nearest-centroid ties, to the lowest index, leave the other ``k - m``
    empty; ``m`` distinct vectors cannot fill more than ``m`` clusters).

    On CPU with several torch threads (``torch.get_num_threads()``), every
    pass runs as one parallel region on a pool of that many threads, each
    worker scoring whole blocks with one torch thread; torch is set to one
    thread for the whole run (and back after it), so other threads of the
    program that use torch meanwhile get one thread each. The result does not
    depend on the number of threads.

    Data far from the origin are shifted near it first (see the module
    docstring); the shift is exact for the data and is added back to the
    returned centroids, which are then rounded to the data's dtype. Labels and
    inertia are those of the shifted problem: they are the nearest centroids
    and their inertia up to that last rounding (float32 data at an offset of
    1e4 hold about 3 decimals after the point, so this is below their own
    resolution).

    Raises
    ------
    TypeError
        Wrong argument types, or ``init`` an array of the other backend.
    ValueError
        Bad shapes, NaN/inf, ``k > N``, non-positive ``k``/``n_iter``, negative
        ``tol``, unknown ``init`` string, ``init`` of the wrong shape.

    Examples
    --------
    >>> x = [[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]]
    >>> res = kmeans(x, 2, seed=0)
    >>> sorted(res.centroids.tolist()), res.inertia
    ([[0.0, 0.5], [10.0, 0.5]], 1.0)
    """
    uses_torch(x=x, init=None if isinstance(init, str) else init)
    x = check_vectors(x, "x", finite=False)
    if is_torch(x):
        x = x.detach()  # clustering records no autograd graph; results carry no gradient
    lead_shape = tuple(x.shape[:-1])
    xf = x.reshape(-1, x.shape[-1])
    n = xf.shape[0]
    k = positive_int(k, "k")
    n_iter = positive_int(n_iter, "n_iter")
    tol = nonnegative_float(tol, "tol")
    if n == 0:
        raise ValueError("x has no vectors (N = 0); k-means needs at least k points")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of points N={n} in x")
    magnitude = finite_max_abs(xf, "x")
    gen = as_generator(seed, "seed")
    torch_path = is_torch(xf)
    in_dtype = xf.dtype
    plan = plan_search(in_dtype, magnitude, xf.shape[1])
    xf = _to_work(xf, plan)  # xf itself unless half precision or extreme magnitudes
    shift = _origin_shift(xf)  # None for data near the origin: no copy
    if shift is not None:
        xf = xf - shift

    if isinstance(init, str):
        if init == "k-means++":
            idx = _kmeanspp_indices(xf, k, gen)
        elif init == "random":
            idx = np.sort(gen.choice(n, size=k, replace=False)).astype(np.int64)
        else:
            raise ValueError(f"init must be 'k-means++', 'random' or a (k, D) array, got {init!r}")
        centroids = xf[_index_like(xf, idx)] if torch_path else xf[idx]
    else:
        centroids = as_float(init, "init")
        if tuple(centroids.shape) != (k, xf.shape[1]):
            raise ValueError(
                f"init must have shape (k, D) = ({k}, {xf.shape[1]}), "
                f"got shape {tuple(centroids.shape)}"
            )
        check_finite(centroids, "init")
        _, centroids = common_float(x, "x", centroids, "init")
        centroids = _to_work(centroids, plan)
        centroids = centroids.to(xf.dtype) if torch_path else centroids.astype(xf.dtype)
        if shift is not None:
            centroids = centroids - shift
    centroids = centroids.detach().clone() if torch_path else centroids.copy()
    as_numpy = False
    if not torch_path and xf.dtype in (np.float32, np.float64):
        # numpy arrays go through torch on shared memory: its assignment, update and
        # inertia use the threads torch is given (numpy's run the GEMM only), and
        # the loop is the same as for torch input; results go back to numpy
        xf, centroids, as_numpy = _torch_views(xf), _torch_views(centroids), True
    chunk = _chunk_rows(centroids.shape[0], xf.dtype)
    xaug = None  # (reserved: the blocks are searched in place)
    # the rows' norms, for the near-tie bounds of every pass: the rows do not change
    x_norms = _row_norms(xf)

    # Several CPU threads: every pass is one parallel region of whole blocks on a thread
    # pool, each worker with one torch thread (see _lloyd_pass). Torch stays at one
    # thread for the whole loop, the small steps between passes included, so no OpenMP
    # team of torch's is woken between passes to spin beside the pool's workers.
    pool = _pool() if is_torch(xf) and _numpy_view(xf) is not None and not compiling() else None
    threads = None
    if pool is not None:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    try:
        labels, inertia, sums, counts = _lloyd_pass(xf, xaug, centroids, chunk, pool, x_norms)
        history: list[float] = []
        for _ in range(n_iter):
            new_centroids = _means(xf, labels, sums, counts, centroids)
            new_labels, new_inertia, new_sums, new_counts = _lloyd_pass(
                xf, xaug, new_centroids, chunk, pool, x_norms
            )
            if new_inertia > inertia:  # only possible through rounding: reject, stop
                history.append(inertia)
                break
            history.append(new_inertia)
            unchanged = bool((new_labels == labels).all())
            improvement = inertia - new_inertia
            centroids, labels, inertia = new_centroids, new_labels, new_inertia
            sums, counts = new_sums, new_counts
            if unchanged or inertia == 0.0:
                break
            if improvement < tol * (inertia + improvement) and not bool((counts == 0).any()):
                break  # a cluster left empty is re-seeded first, even when the gain is small
    finally:
        if threads is not None:
            torch.set_num_threads(threads)
    if as_numpy:
        centroids, labels = centroids.numpy(), labels.numpy()
    if shift is not None:
        centroids = centroids + shift
    if plan.exp:
        centroids = _to_work(centroids, type(plan)(centroids.dtype, -plan.exp))
    if centroids.dtype != in_dtype:
        centroids = centroids.to(in_dtype) if is_torch(centroids) else centroids.astype(in_dtype)
    scale = 2 * plan.exp  # inertia and history were computed on x * 2**-exp
    if scale:
        try:
            inertia = math.ldexp(inertia, scale)
            history = [math.ldexp(h, scale) for h in history]
        except OverflowError:
            inertia = math.inf
        if not math.isfinite(inertia):
            raise ValueError(
                "x: the inertia (sum of squared distances) of this clustering overflows "
                "float64, so it cannot be reported; rescale the data"
            ) from None
    return KMeans(centroids, labels.reshape(lead_shape), inertia, history)


#: Score block of the assignment step: 2 MiB (2048 rows at K = 256), which stays in the
#: L2 cache. With 50,000 x 64 float32 points and K = 256 (torch 2.13, 1 or 2 threads) it was
#: 5 to 10% faster than :func:`rvqlib.vq.nearest`'s default 8 MiB blocks.
_KMEANS_CHUNK_BYTES = 2 * 2**20


def _chunk_rows(k: int, dtype: Any) -> int:
    """Rows per assignment block (``dtype``: a numpy or torch dtype)."""
    return max(1, _KMEANS_CHUNK_BYTES // (k * dtype.itemsize))


def _torch_views(a: np.ndarray) -> Any:
    """A CPU tensor sharing ``a``'s memory (a contiguous copy only if ``a`` is strided)."""
    import warnings

    import torch

    a = np.ascontiguousarray(a)
    with warnings.catch_warnings():  # read-only arrays: k-means never writes to them
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(a)


def _row_norms(x: Any) -> Any:
    """Euclidean norms of the rows of CPU tensor ``x`` as a numpy array (None otherwise).

    Computed as :func:`rvqlib.vq._exact_ties` computes them for a block of rows,
    so a pass that is given them finds the same near ties as one that is not.
    """
    if not is_torch(x) or x.device.type != "cpu" or compiling() or _numpy_view(x) is None:
        return None
    import torch

    with torch.no_grad():
        return torch.linalg.vector_norm(x, dim=1).numpy()


def _lloyd_pass(
    x: Any,
    xaug: Any,
    centroids: Any,
    chunk: int,
    pool: Any = None,
    x_norms: Any = None,
) -> tuple[Any, float, Any, Any]:
    """Assign every row of ``x`` to its nearest centroid, in one pass over ``x``.

    Returns ``(labels, inertia, sums, counts)``: the labels, the sum of squared
    distances to the assigned centroids (per-vector sums in the data's dtype, the
    total in float64), and the per-cluster sums and counts of the vectors, from
    which the next means follow. Each block of ``chunk`` rows is scored, assigned,
    measured and accumulated while it is in cache. ``xaug`` is unused (None);
    ``x_norms`` are :func:`_row_norms` of ``x`` (or None).
    """
    k, d = centroids.shape
    n = x.shape[0]
    prep = _prepare_codebook(centroids)
    if not is_torch(x):  # numpy dtypes torch lacks (longdouble): the plain passes
        labels = _search(x, prep, chunk)
        diff = x - centroids[labels]
        inertia = float(np.einsum("nd,nd->n", diff, diff).sum(dtype=np.float64))
        sums = np.zeros((k, d), dtype=x.dtype)
        np.add.at(sums, labels, x)
        return labels, inertia, sums, np.bincount(labels, minlength=k)
    import torch

    with torch.no_grad():
        rows = max(1, min(n, chunk))
        dev = x.device
        labels = torch.empty(n, dtype=torch.long, device=dev)
        starts = list(range(0, n, rows))
        n_groups = min(_GROUPS, len(starts))
        bounds = [len(starts) * g // n_groups for g in range(n_groups + 1)]
        groups = [starts[bounds[g] : bounds[g + 1]] for g in range(n_groups)]
        views = dev.type == "cpu" and _numpy_view(x) is not None and not compiling()
        pool = pool if views and n_groups > 1 else None

        inference = torch.is_inference_mode_enabled()

        def run(group: list[int]) -> tuple[float, Any, Any]:
            # grad and inference modes are thread-local: a pool thread must enter the
            # caller's, or it writes to inference tensors outside inference mode
            with torch.inference_mode(inference), torch.no_grad():
                return _lloyd_blocks(x, xaug, centroids, prep, labels, group, rows, views, x_norms)

        if pool is None:
            parts = [run(g) for g in groups]
        else:
            # one parallel region per pass, as scikit-learn's Lloyd loop: each worker
            # runs whole groups of blocks with one torch thread (the caller has set
            # torch to one thread), so no operation waits at a barrier for a thread the
            # machine gave to another process
            parts = list(pool.map(run, groups))
        sums, counts = parts[0][1], parts[0][2]
        for _, s_g, c_g in parts[1:]:  # fixed groups, fixed order: results do not depend
            sums += s_g  # on the number of threads
            counts += c_g
        return labels, math.fsum(p[0] for p in parts), sums, counts


#: Groups of blocks a pass is split into (at most): fixed, so that the sums, added group
#: by group in order, are the same whatever the number of threads that computed them.
_GROUPS = 8
_POOL: list[Any] = []


def _pool() -> Any:
    """A thread pool with ``torch.get_num_threads()`` workers (None for one thread)."""
    import os

    import torch

    threads = torch.get_num_threads()
    if threads <= 1:
        return None
    key = (threads, os.getpid())  # a forked child has the pool object but not its threads
    if not _POOL or _POOL[0][0] != key:
        from concurrent.futures import ThreadPoolExecutor

        if _POOL and _POOL[0][0][1] == key[1]:
            _POOL[0][1].shutdown(wait=False)
        _POOL.clear()
        _POOL.append((key, ThreadPoolExecutor(threads, thread_name_prefix="rvqlib-kmeans")))
    return _POOL[0][1]


def _lloyd_blocks(
    x: Any,
    xaug: Any,
    centroids: Any,
    prep: Any,
    labels: Any,
    starts: list[int],
    rows: int,
    views: bool,
    x_norms: Any = None,
) -> tuple[float, Any, Any]:
    """Labels of the blocks of rows beginning at ``starts``; their inertia, sums and counts."""
    import torch

    k, d = centroids.shape
    dev = x.device
    sums = torch.zeros((k, d), dtype=x.dtype, device=dev)
    counts = torch.zeros(k, dtype=torch.long, device=dev)
    if (
        views
        and x_norms is not None
        and prep.shift is None
        and prep.rows_np is not None
        and prep.k > 1
    ):
        return _lloyd_batches(x, centroids, prep, labels, starts, rows, x_norms, sums, counts)
    scores_buf = torch.empty(rows * prep.k, dtype=x.dtype, device=dev)
    gather = torch.empty((rows, d), dtype=x.dtype, device=dev)
    zbuf = None if prep.shift is None else torch.empty((rows, d), dtype=x.dtype, device=dev)
    acc = torch.float32 if dev.type == "mps" else torch.float64  # no float64 on MPS
    x_np = _numpy_view(x) if views else None
    c_np = _numpy_view(centroids) if views else None
    g_np = _numpy_view(gather) if views else None
    per_block = []
    for s in starts:
        xc = x[s : s + rows]
        m = xc.shape[0]
        a = xc if zbuf is None else torch.sub(xc, prep.shift, out=zbuf[:m])
        # the norms are those of the rows searched: only for an unshifted codebook
        norms = None if x_norms is None or zbuf is not None else x_norms[s : s + m]
        lab = _block_codes(a, prep, scores_buf, norms)
        labels[s : s + m] = lab
        if c_np is not None and g_np is not None:  # numpy's passes start no threads
            per_block.append(_accumulate(xc, x_np[s : s + m], c_np, lab, g_np, sums, counts))
            continue
        g = torch.index_select(centroids, 0, lab, out=gather[:m])
        torch.sub(xc, g, out=g)
        per_block.append(float(g.mul_(g).sum(dim=1).sum(dtype=acc)))
        counts += torch.bincount(lab, minlength=k)
        sums.index_add_(0, lab, xc)
    return math.fsum(per_block), sums, counts


def _accumulate(
    rows: Any,
    rows_np: np.ndarray,
    c_np: np.ndarray,
    lab: Any,
    gather: np.ndarray,
    sums: Any,
    counts: Any,
) -> float:
    """Inertia of CPU ``rows`` labelled ``lab`` (float64); adds their counts and sums.

    ``rows_np`` and ``c_np`` are numpy views of the rows and the centroids, and
    ``gather`` a numpy buffer of at least as many rows (numpy's passes start no threads).
    """
    import torch

    idx = lab.numpy()
    g = np.take(c_np, idx, axis=0, out=gather[: idx.shape[0]])
    np.subtract(rows_np, g, out=g)
    counts += torch.from_numpy(np.bincount(idx, minlength=counts.shape[0]))
    sums.index_add_(0, lab, rows)
    return float(np.einsum("nd,nd->n", g, g).sum(dtype=np.float64))


#: Blocks whose near ties, inertia, counts and sums a CPU pass handles together (see
#: :func:`_lloyd_batches`). Each block is scored and reduced on its own while its scores
#: are in cache; the rest is a fixed number of numpy calls per batch, whatever its size.
_BATCH_BLOCKS = 4


def _lloyd_batches(
    x: Any,
    centroids: Any,
    prep: Any,
    labels: Any,
    starts: list[int],
    rows: int,
    x_norms: np.ndarray,
    sums: Any,
    counts: Any,
) -> tuple[float, Any, Any]:
    """:func:`_lloyd_blocks` on CPU memory, with the per-row work done per batch of blocks.

    The blocks of ``starts`` are consecutive. Every block is scored by one ``addmm``
    into its own part of a batch's score buffer, and its argmin and second-smallest
    score are taken at once (:func:`rvqlib.vq._tie_slack`); the near ties of the whole
    batch are then resolved together (:func:`rvqlib.vq._resolve_ties`, which reads
    the scores of the near rows only), and the batch's inertia, counts and sums are
    taken in one go. The labels are those of :func:`rvqlib.vq._block_codes` row for
    row, and the sums are added in the same order. This costs a score buffer of
    :data:`_BATCH_BLOCKS` blocks (8 MiB at the default block) per worker, and saves
    about 30 numpy calls per block (each a few microseconds of fixed cost): in an
    interleaved comparison on the k-means benchmark (50,000 x 64, K = 256, two
    threads, 7 runs) an iteration took 27.3 ms against 28.7 ms block by block.
    """
    import torch

    d = centroids.shape[1]
    n = x.shape[0]
    span = rows * _BATCH_BLOCKS
    scores_t = torch.empty(span * prep.k, dtype=x.dtype)
    scores_np = scores_t.numpy()
    gather = np.empty((span, d), dtype=scores_np.dtype)
    x_np = _numpy_view(x)
    c_np = _numpy_view(centroids)
    idx_buf = np.empty(span, dtype=np.int64)
    best_buf = np.empty(span, dtype=scores_np.dtype)
    slack_buf = np.empty(span, dtype=scores_np.dtype)
    per_batch = []
    for b in range(0, len(starts), _BATCH_BLOCKS):
        batch = starts[b : b + _BATCH_BLOCKS]
        lo, hi = batch[0], min(batch[-1] + rows, n)
        mb = hi - lo
        scores = scores_t[: mb * prep.k].view(mb, prep.k)
        view = scores_np[: mb * prep.k].reshape(mb, prep.k)
        idx = idx_buf[:mb]
        for s in batch:
            i0, i1 = s - lo, min(s + rows, n) - lo
            torch.addmm(prep.norms, x[s : lo + i1], prep.m2t, out=scores[i0:i1])
            part = view[i0:i1]
            part.argmin(axis=1, out=idx[i0:i1])
            best_buf[i0:i1], slack_buf[i0:i1] = _tie_slack(part, idx[i0:i1], scores[i0:i1])
        xb = x_np[lo:hi]
        idx = _resolve_ties(
            xb, view, idx, prep.rows_np, prep.tol, best_buf[:mb], slack_buf[:mb], x_norms[lo:hi]
        )
        lab = torch.from_numpy(idx)
        if prep.first is not None:  # duplicate centroids map back to their first copy
            lab = prep.first[lab]
        labels[lo:hi] = lab
        per_batch.append(_accumulate(x[lo:hi], xb, c_np, lab, gather, sums, counts))
    return math.fsum(per_batch), sums, counts


def _means(x: Any, labels: Any, sums: Any, counts: Any, centroids: Any) -> Any:
    """Means of the clusters; an empty cluster takes the point farthest from its mean.

    Several empty clusters take the farthest points in decreasing order of their
    squared distance to their own cluster's new mean (ties to the lowest index).
    """
    k = centroids.shape[0]
    if is_torch(x):
        import torch

        new = sums / counts.clamp(min=1).to(x.dtype)[:, None]
        empty = torch.nonzero(counts == 0).flatten()
        n_empty = int(empty.numel())
        if n_empty:
            diff = x - new[labels]
            dist = (diff * diff).sum(dim=1)
            order = torch.sort(-dist, stable=True).indices[:n_empty]
            new[empty] = x[order]
        return new
    new = (sums / np.maximum(counts, 1)[:, None]).astype(x.dtype, copy=False)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        diff = x - new[labels]
        dist = np.einsum("nd,nd->n", diff, diff)
        order = np.argsort(-dist, kind="stable")[: min(k, empty.size)]
        new[empty] = x[order]
    return new


def _index_like(x: Any, idx: np.ndarray) -> Any:
    import torch

    return torch.as_tensor(idx, dtype=torch.long, device=x.device)


def _sq_to_points(x: Any, x_sq: Any, points: Any) -> Any:
    """Squared distances (T, N) from ``points`` (T, D) to every row of ``x``."""
    if is_torch(x):
        p_sq = (points * points).sum(dim=1, keepdim=True)
        d = (p_sq + x_sq[None, :]).addmm_(points, x.T, alpha=-2.0)
        return d.clamp_(min=0)
    d = points @ x.T
    d *= -2.0
    d += np.einsum("td,td->t", points, points)[:, None]
    d += x_sq[None, :]
    np.maximum(d, 0, out=d)
    return d


def _kmeanspp_indices(x: Any, k: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices chosen by greedy k-means++ (scikit-learn's variant).

    The squared distances (the D^2 weights and the candidates' potentials) are
    computed in float64 whatever the data's dtype, as scikit-learn's
    ``_euclidean_distances`` does for float32 data: in float32 the expansion
    ``|x|^2 + |c|^2 - 2 x.c`` loses the small distances of points near a centre
    (an absolute error of about ``1e-7 |x|^2``), and with them the weights that
    decide the next centres.
    """
    n = x.shape[0]
    n_trials = 2 + int(np.log(k))
    torch_path = is_torch(x)
    if torch_path:
        if x.device.type != "mps":  # MPS has no float64
            x = x.double()
    elif x.dtype.itemsize < 8:
        x = x.astype(np.float64)
    idx = np.empty(k, dtype=np.int64)
    idx[0] = rng.integers(n)
    if torch_path:
        import torch

        x_sq = (x * x).sum(dim=1)
        closest = _sq_to_points(x, x_sq, x[int(idx[0])][None, :])[0]
        closest[int(idx[0])] = 0
        to_np = lambda t: t.double().cpu().numpy()  # noqa: E731
    else:
        x_sq = np.einsum("nd,nd->n", x, x)
        closest = _sq_to_points(x, x_sq, x[idx[:1]])[0]
        closest[idx[0]] = 0
        to_np = lambda a: a.astype(np.float64, copy=False)  # noqa: E731
    closest_np = to_np(closest)
    potential = closest_np.sum()
    trial_rows = np.arange(n_trials)
    for c in range(1, k):
        targets = rng.uniform(size=n_trials) * potential
        cand = np.searchsorted(np.cumsum(closest_np), targets)
        np.clip(cand, None, n - 1, out=cand)
        if torch_path:
            cand_t = torch.as_tensor(cand, dtype=torch.long, device=x.device)
            d = _sq_to_points(x, x_sq, x[cand_t])
            d[torch.as_tensor(trial_rows, device=x.device), cand_t] = 0
            d = torch.minimum(d, closest[None, :])
            pots = to_np(d.sum(dim=1))
        else:
            d = _sq_to_points(x, x_sq, x[cand])
            d[trial_rows, cand] = 0
            np.minimum(d, closest[None, :], out=d)
            pots = d.sum(axis=1, dtype=np.float64)
        best = int(np.argmin(pots))
        idx[c] = cand[best]
        potential = float(pots[best])
        closest = d[best]
        closest_np = to_np(closest)
    return idx


make_callable(__name__)
