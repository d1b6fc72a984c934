"""Exact ties in the nearest-codeword search go to the lowest index, whatever the rounding.

The search scores ``||e||^2 - 2 z.e``; when ``z`` is not dyadic that expansion can
round two exactly equal distances differently (``z = (3, 2.37)`` between
``(2, 2)`` and ``(4, 2)``), and a plain argmin then picks either codeword. These
tests build exact ties on purpose, with non-dyadic coordinates where the two
codewords agree and exact midpoints where they differ, and compare every path
(numpy and torch, each floating dtype, chunked or not, the RVQ encoder's numpy
and torch paths) with a reference in exact rational arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rvqlib.explorer import book_grid_codebooks
from rvqlib.rvq import rvq_encode
from rvqlib.vq import nearest, quantize

DTYPES = {"float64": np.float64, "float32": np.float32, "float16": np.float16}

#: The arguments of :func:`tie_problem` the property tests draw (with a dtype).
TIE_PROBLEMS = {
    "seed": st.integers(0, 2**32 - 1),
    "n": st.integers(1, 12),
    "d": st.integers(1, 9),
    "decoys": st.integers(0, 20),
}


def exact_nearest(z: np.ndarray, codebook: np.ndarray) -> list[int]:
    """First index of the smallest squared distance, in exact rationals of the float values."""
    book = [[Fraction(float(v)) for v in e] for e in codebook]
    out = []
    for row in z:
        r = [Fraction(float(v)) for v in row]
        d = [sum((a - b) ** 2 for a, b in zip(r, e, strict=True)) for e in book]
        out.append(d.index(min(d)))
    return out


def tie_problem(seed: int, n: int, d: int, decoys: int, dtype: type) -> tuple:
    """``z`` (n, D) and a codebook in which every ``z`` is exactly equidistant from two codewords.

    For row ``i`` codewords ``a_i`` and ``b_i`` agree in the coordinates where ``z``
    takes a random (non-dyadic) value and sit at ``z_d -/+ h_d`` elsewhere, with
    ``h_d`` a multiple of 1/8 and ``z_d`` a multiple of 1/8 too, so both differences
    are exact. Both copies are placed at random positions, among random decoys a
    little farther away, so that which of the two comes first varies.
    """
    rng = np.random.default_rng(seed)
    z = rng.uniform(-4, 4, size=(n, d))
    pairs = []
    for i in range(n):
        mirror = rng.random(d) < 0.5
        mirror[rng.integers(d)] = True  # at least one coordinate where a and b differ
        z[i, mirror] = np.round(z[i, mirror] * 8) / 8
        h = rng.integers(1, 9, size=d) / 8
        off = rng.normal(scale=0.3, size=d)  # shared coordinates: not dyadic
        a = np.where(mirror, z[i] - h, z[i] + off)
        b = np.where(mirror, z[i] + h, z[i] + off)
        pairs += [a, b]
    scale = np.sqrt(((np.array(pairs[::2]) - z) ** 2).sum(1)).max()
    extra = rng.normal(size=(decoys, d))
    extra *= 1.5 * scale / np.linalg.norm(extra, axis=1, keepdims=True).clip(1e-9)
    extra += z[rng.integers(n, size=decoys)]
    book = np.vstack(pairs + [extra])[rng.permutation(2 * n + decoys)]
    return z.astype(dtype), book.astype(dtype)


@settings(max_examples=60, deadline=None)
@given(
    **TIE_PROBLEMS,
    dtype=st.sampled_from(sorted(DTYPES)),
    chunk=st.sampled_from([None, 1, 3]),
)
def test_exact_ties_go_to_the_lowest_index_in_every_path(seed, n, d, decoys, dtype, chunk):
    z, book = tie_problem(seed, n, d, decoys, DTYPES[dtype])
    want = exact_nearest(z, book)
    assert nearest(z, book, chunk_size=chunk).tolist() == want
    zt, bt = torch.from_numpy(z), torch.from_numpy(book)
    assert nearest(zt, bt, chunk_size=chunk).tolist() == want
    idx, zq = quantize(zt, bt, chunk_size=chunk)
    assert idx.tolist() == want and torch.equal(zq, bt[idx])
    assert rvq_encode(zt, [bt])[:, 0].tolist() == want  # the RVQ encoder's blocks
    assert rvq_encode(z, [book])[:, 0].tolist() == want  # and its numpy path
    if dtype != "float16":
        assert nearest(zt.to(torch.bfloat16), bt.to(torch.bfloat16)).tolist() == exact_nearest(
            zt.to(torch.bfloat16).float().numpy(), bt.to(torch.bfloat16).float().numpy()
        )


def test_the_reported_ties_and_far_from_the_origin() -> None:
    # chapter 6's first grid codebook: each z is exactly between two codewords
    # ((4, 2) and (6, 2), or (2, 2) and (4, 2)), and 2 z.e rounds differently for the
    # two; float64 gave [10, 10, 5, 5, 5] with numpy and got the last wrong with torch
    book = book_grid_codebooks()[0]
    z = np.array([[5.0, 1.6], [5.0, 1.85], [3.0, 2.05], [3.0, 2.3], [3.0, 2.37]])
    want = exact_nearest(z, book)
    assert want == [5, 5, 0, 0, 0]
    for dt in (np.float64, np.float32):
        zd, bd = z.astype(dt), book.astype(dt)
        assert nearest(zd, bd).tolist() == exact_nearest(zd, bd) == want
        assert nearest(torch.from_numpy(zd), torch.from_numpy(bd)).tolist() == want
    # shifted codebooks (far from the origin) keep the check: the shift is exact
    zf, bf = (z + 3000).astype(np.float32), (book + 3000).astype(np.float32)
    assert exact_nearest(zf, bf) == want
    assert nearest(zf, bf).tolist() == want
    assert nearest(torch.from_numpy(zf), torch.from_numpy(bf)).tolist() == want


def _exact_greedy(points: np.ndarray, books: list[np.ndarray]) -> list[list[int]]:
    """Greedy RVQ codes in exact rationals (ties to the lowest index)."""
    out = []
    for p in points:
        r = [Fraction(float(v)) for v in p]
        codes = []
        for cb in books:
            exact = [[Fraction(float(v)) for v in e] for e in cb]
            d = [sum((x - y) ** 2 for x, y in zip(r, e, strict=True)) for e in exact]
            k = d.index(min(d))
            codes.append(k)
            r = [x - y for x, y in zip(r, exact[k], strict=True)]
        out.append(codes)
    return out


def test_rvq_encode_keeps_the_explorer_grid_ties() -> None:
    # chapter 6's grid codebooks and slider points: every point where some stage's two
    # smallest float64 distances agree to 1e-9 is compared with the exact greedy codes
    books = book_grid_codebooks()
    ticks = np.round(np.arange(1.5, 10.5 + 1e-9, 0.05), 2)
    a, b = np.meshgrid(ticks, ticks)
    points = np.column_stack([a.ravel(), b.ravel()])
    near = np.zeros(len(points), dtype=bool)
    r = points.copy()
    for cb in books:
        d = ((r[:, None, :] - cb[None]) ** 2).sum(-1)
        two = np.sort(d, axis=1)[:, :2]
        near |= two[:, 1] - two[:, 0] <= 1e-9 * two[:, 1]
        r = r - cb[d.argmin(1)]
    assert near.sum() > 5000  # the grid is full of exact ties
    ties = points[near][::8]  # a spread-out eighth of them, for time
    want = _exact_greedy(ties, books)
    for dt in (torch.float64, torch.float32):
        tb = [torch.from_numpy(cb).to(dt) for cb in books]
        assert rvq_encode(torch.from_numpy(ties).to(dt), tb).tolist() == want, dt
        nb = [cb.astype(str(dt).removeprefix("torch.")) for cb in books]
        assert rvq_encode(ties.astype(nb[0].dtype), nb).tolist() == want, dt


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_continuous_data_still_get_the_float64_nearest(dtype) -> None:
    # the check changes nothing where there is no tie: codes agree with a float64
    # brute force
    rng = np.random.default_rng(5)
    z = rng.normal(size=(2000, 16)).astype(dtype)
    book = rng.normal(size=(300, 16)).astype(dtype)
    dist = ((z[:, None, :].astype(np.float64) - book.astype(np.float64)) ** 2).sum(-1)
    for got in (nearest(z, book), nearest(torch.from_numpy(z), torch.from_numpy(book)).numpy()):
        assert np.array_equal(got, dist.argmin(1))


@contextmanager
def torch_only_check() -> Iterator[None]:
    """Hide the CPU tensors' numpy views from the search, so the tie check runs in torch ops."""
    import rvqlib.vq as vq_module

    real = vq_module._numpy_view
    vq_module._numpy_view = lambda a: a if isinstance(a, np.ndarray) else None
    try:
        yield
    finally:
        vq_module._numpy_view = real


@settings(max_examples=25, deadline=None)
@given(
    **TIE_PROBLEMS,
    dtype=st.sampled_from(sorted(DTYPES)),
)
def test_the_torch_only_check_used_off_the_cpu_views_agrees(seed, n, d, decoys, dtype):
    # on GPUs (and wherever numpy cannot view a tensor) the check runs in torch ops;
    # hiding the CPU views from the search exercises that branch here
    z, book = tie_problem(seed, n, d, decoys, DTYPES[dtype])
    want = exact_nearest(z, book)
    with torch_only_check():
        got = nearest(torch.from_numpy(z), torch.from_numpy(book), chunk_size=5)
    assert got.tolist() == want


@settings(max_examples=40, deadline=None)
@given(
    **TIE_PROBLEMS,
    dtype=st.sampled_from(["float64", "float32"]),
)
def test_kmeans_passes_keep_exact_ties_with_norms_computed_once(seed, n, d, decoys, dtype):
    # k-means computes the rows' norms once for the near-tie bounds of every pass;
    # a pass given them (which resolves near ties per batch of blocks) must find
    # what a pass computing them per block finds
    from rvqlib.kmeans import _chunk_rows, _lloyd_pass, _row_norms

    z, book = tie_problem(seed, n, d, decoys, DTYPES[dtype])
    zt, bt = torch.from_numpy(z), torch.from_numpy(book)
    norms = _row_norms(zt)
    assert norms is not None and norms.shape == (n,)
    want = exact_nearest(z, book)
    for chunk in (_chunk_rows(bt.shape[0], zt.dtype), 1, 3):
        with_norms = _lloyd_pass(zt, None, bt, chunk, None, norms)
        without = _lloyd_pass(zt, None, bt, chunk, None, None)
        assert with_norms[0].tolist() == want
        assert without[0].tolist() == want
        assert with_norms[1] == without[1]
        assert torch.equal(with_norms[2], without[2])


def with_long_codewords(book: np.ndarray, seed: int, count: int, length: float) -> np.ndarray:
    """``book`` plus ``count`` codewords ``length`` times longer than its longest, far away.

    They raise the codebook's largest norm, and with it the codebook-wide error bound,
    far above what the rows near the tied pairs need: the per-row bound of
    :func:`rvqlib.vq._row_tolerance` is then the one that decides.
    """
    rng = np.random.default_rng(seed)
    d = book.shape[1]
    far = rng.normal(size=(count, d))
    far *= length * np.abs(book).max() / np.linalg.norm(far, axis=1, keepdims=True)
    out = np.vstack([book, far.astype(book.dtype)])
    return out[rng.permutation(out.shape[0])]


@settings(max_examples=60, deadline=None)
@given(
    **TIE_PROBLEMS,
    dtype=st.sampled_from(["float64", "float32"]),
    length=st.sampled_from([3.0, 30.0, 1e3]),
)
def test_exact_ties_survive_long_codewords_in_every_path(seed, n, d, decoys, dtype, length):
    z, book = tie_problem(seed, n, d, decoys, DTYPES[dtype])
    book = with_long_codewords(book, seed, 3, length)
    want = exact_nearest(z, book)
    zt, bt = torch.from_numpy(z), torch.from_numpy(book)
    assert nearest(z, book).tolist() == want
    assert nearest(zt, bt, chunk_size=3).tolist() == want
    assert rvq_encode(zt, [bt])[:, 0].tolist() == want
    assert rvq_encode(z, [book])[:, 0].tolist() == want
    with torch_only_check():  # as on a GPU
        assert nearest(zt, bt, chunk_size=5).tolist() == want


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.sampled_from([1, 2, 8, 64, 128]),
    k=st.integers(2, 64),
    spread=st.sampled_from([1e-3, 1.0, 1e3]),
    length=st.sampled_from([1.0, 10.0, 1e4]),
)
def test_the_per_row_bound_covers_every_codeword_that_could_be_nearest(seed, d, k, spread, length):
    """The lemma behind :func:`rvqlib.vq._row_tolerance`, checked on float32 scores.

    Every codeword with a norm at most the row's radius ``R`` has a score within the
    returned bound of its exact value; every longer one is strictly farther than the
    row's argmin.
    """
    from rvqlib.vq import _RADIUS_MARGIN, _prepare_codebook, _row_tolerance

    rng = np.random.default_rng(seed)
    book = rng.normal(scale=spread, size=(k, d)).astype(np.float32)
    book[0] *= length  # one long codeword
    z = (book[rng.integers(k, size=200)] + rng.normal(scale=spread, size=(200, d)) / 4).astype(
        np.float32
    )
    prep = _prepare_codebook(torch.from_numpy(book))
    e = prep.rows.numpy()  # the rows the search compares (shift and duplicates applied)
    a = z if prep.shift is None else z - prep.shift.numpy()
    scores = torch.addmm(prep.norms, torch.from_numpy(a), prep.m2t).numpy()
    exact = (e.astype(np.float64) ** 2).sum(1)[None, :] - 2 * a.astype(np.float64) @ e.T.astype(
        np.float64
    )
    t0, t1 = prep.tol[0], prep.tol[1]
    a_norms = torch.linalg.vector_norm(torch.from_numpy(a), dim=1).numpy().astype(np.float64)
    j = scores.argmin(1)
    best = scores[np.arange(200), j].astype(np.float64)
    tau = t0 + t1 * a_norms
    bound = _row_tolerance(a_norms, best, tau, prep.tol)
    assert (bound <= tau).all() and (bound > 0).all()
    if length >= 1e4:  # one codeword far longer than the rest: a much tighter bound
        assert (bound < tau / 10).any()
    g, emax = prep.tol[2], prep.tol[3]
    big_a = a_norms * (1 + 3 * g)
    radius = np.minimum(
        (big_a + np.sqrt(np.maximum(big_a**2 + best, 0) + 2 * tau)) * (1 + _RADIUS_MARGIN), emax
    )
    e_norms = np.linalg.norm(e.astype(np.float64), axis=1)
    err = np.abs(scores.astype(np.float64) - exact)
    short = e_norms[None, :] <= radius[:, None]
    assert short[np.arange(200), j].all()  # the argmin itself is short
    assert (err[short] <= np.broadcast_to(bound[:, None], err.shape)[short]).all()
    exact_best = exact[np.arange(200), j]
    assert (exact[~short] > np.broadcast_to(exact_best[:, None], err.shape)[~short]).all()
