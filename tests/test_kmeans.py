"""Tests for rvqlib.kmeans: Lloyd's algorithm, seeding, determinism, quality, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rvqlib.kmeans import KMeans, kmeans, kmeans_plusplus
from rvqlib.vq import nearest


def blobs(n_per: int, k: int, dim: int, seed: int, spread: float = 1.0, sep: float = 10.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=sep, size=(k, dim))
    x = np.concatenate([c + spread * rng.normal(size=(n_per, dim)) for c in centers])
    return x


def direct_inertia(x, c, labels):
    return float(((x - c[labels]) ** 2).sum())


def test_small_worked_example():
    x = [[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]]
    res = kmeans(x, 2, seed=0)
    assert isinstance(res, KMeans)
    assert sorted(res.centroids.tolist()) == [[0.0, 0.5], [10.0, 0.5]]
    assert res.inertia == 1.0 and res.history[-1] == 1.0
    assert res.labels[0] == res.labels[1] != res.labels[2] == res.labels[3]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.sampled_from(["k-means++", "random"]))
def test_history_non_increasing_and_consistent(seed, k, init):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(df=3, size=(60, 3))
    res = kmeans(x, k, init=init, seed=seed, tol=0.0)
    h = np.asarray(res.history)
    assert len(h) >= 1
    assert np.all(np.diff(h) <= 0)
    assert res.inertia == h[-1]
    # the returned labels are the nearest centroids and the inertia is theirs
    np.testing.assert_array_equal(res.labels, nearest(x, res.centroids))
    assert res.inertia == pytest.approx(direct_inertia(x, res.centroids, res.labels), rel=1e-12)
    assert res.labels.dtype == np.int64 and res.labels.min() >= 0 and res.labels.max() < k


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_same_seed_same_result(init):
    x = blobs(50, 5, 4, seed=1)
    a = kmeans(x, 7, init=init, seed=123)
    b = kmeans(x, 7, init=init, seed=123)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.history == b.history
    c = kmeans(x, 7, init=init, seed=np.random.default_rng(123))
    np.testing.assert_array_equal(a.centroids, c.centroids)
    # torch uses the same random stream: same clustering
    t = kmeans(torch.from_numpy(x), 7, init=init, seed=123)
    np.testing.assert_allclose(t.centroids.numpy(), a.centroids, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(t.labels.numpy(), a.labels)


def test_different_seeds_can_differ():
    x = np.random.default_rng(0).normal(size=(200, 2))
    results = {tuple(np.round(kmeans(x, 5, seed=s).centroids[0], 9)) for s in range(5)}
    assert len(results) > 1


def test_empty_cluster_reseeded_with_farthest_point():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [12.0, 0.0]])
    init = np.array([[0.5, 0.0], [11.0, 0.0], [100.0, 100.0]])  # third centroid gets no point
    for xx, ii in ((x, init), (torch.from_numpy(x), torch.from_numpy(init))):
        res = kmeans(xx, 3, init=ii, tol=0.0)
        # iteration 1: means (0.5, 0) and (11, 0); the empty cluster takes the farthest point,
        # a tie at squared distance 1 between x[2] and x[3] that goes to x[2] = (10, 0);
        # reassignment gives inertia 0.25 + 0.25 + 0 + 1 = 1.5; iteration 2 moves centroid 1 to
        # (12, 0): inertia 0.5, labels unchanged, stop.
        assert res.history == [1.5, 0.5]
        np.testing.assert_array_equal(
            np.asarray(res.centroids), [[0.5, 0.0], [12.0, 0.0], [10.0, 0.0]]
        )
        np.testing.assert_array_equal(np.asarray(res.labels), [0, 0, 2, 1])


def test_duplicate_points_random_init_is_handled():
    # 3 distinct values, k = 3, random init may pick two copies of one value
    x = np.repeat(np.array([[0.0], [5.0], [9.0]]), [10, 1, 1], axis=0)
    for seed in range(10):
        res = kmeans(x, 3, init="random", seed=seed)
        assert res.inertia == 0.0
        np.testing.assert_array_equal(np.sort(res.centroids[:, 0]), [0.0, 5.0, 9.0])


def test_random_init_uses_distinct_points():
    x = np.random.default_rng(4).normal(size=(9, 2))
    res = kmeans(x, 9, init="random", seed=0)
    assert res.inertia == 0.0
    np.testing.assert_array_equal(np.sort(res.centroids, axis=0), np.sort(x, axis=0))


def test_kmeans_plusplus_properties():
    x = np.random.default_rng(5).normal(size=(30, 3))
    centers, idx = kmeans_plusplus(x, 30, 0, return_indices=True)
    np.testing.assert_array_equal(np.sort(idx), np.arange(30))  # k = N: every point once
    np.testing.assert_array_equal(centers, x[idx])
    # D^2 weighting never re-picks a point identical to a chosen centre
    dup = np.concatenate([np.zeros((50, 2)), np.eye(2)])
    _, idx = kmeans_plusplus(dup, 3, 1, return_indices=True)
    assert sorted(np.unique(dup[idx], axis=0).tolist()) == [[0, 0], [0, 1], [1, 0]]
    a = kmeans_plusplus(torch.from_numpy(x), 5, 7)
    b = kmeans_plusplus(x, 5, 7)
    assert isinstance(a, torch.Tensor)
    np.testing.assert_array_equal(a.numpy(), b)


def test_kmeans_plusplus_beats_random_seeding_on_blobs():
    x = blobs(100, 10, 2, seed=3)
    pp = np.mean([kmeans(x, 10, seed=s, n_iter=1).inertia for s in range(10)])
    rnd = np.mean([kmeans(x, 10, init="random", seed=s, n_iter=1).inertia for s in range(10)])
    assert pp < rnd


def test_explicit_init_and_tol():
    x = blobs(40, 3, 2, seed=6)
    init = x[[0, 40, 80]]
    res = kmeans(x, 3, init=init)
    assert res.inertia < direct_inertia(x, init, nearest(x, init))
    one = kmeans(x, 3, init=init, tol=1e9)  # any improvement is "too small": one iteration
    assert len(one.history) == 1
    capped = kmeans(x, 3, init="random", seed=0, n_iter=2, tol=0.0)
    assert len(capped.history) <= 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out(dtype):
    x = torch.from_numpy(blobs(30, 4, 3, seed=7)).to(dtype)
    res = kmeans(x, 4, seed=0)
    assert isinstance(res.centroids, torch.Tensor) and res.centroids.dtype == dtype
    assert res.labels.dtype == torch.long and res.labels.device == x.device
    assert isinstance(res.inertia, float)
    assert torch.equal(res.labels, nearest(x, res.centroids))


def test_leading_axes():
    x = blobs(20, 2, 3, seed=8).reshape(4, 10, 3)
    res = kmeans(x, 2, seed=0)
    assert res.labels.shape == (4, 10)
    assert res.centroids.shape == (2, 3)


def test_quality_close_to_sklearn_on_blobs():
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    x = blobs(150, 8, 6, seed=9, spread=1.0, sep=6.0)
    ours = [kmeans(x, 8, seed=s).inertia for s in range(10)]
    theirs = [
        sklearn_cluster.KMeans(8, n_init=1, algorithm="lloyd", random_state=s).fit(x).inertia_
        for s in range(10)
    ]
    assert np.mean(ours) <= 1.05 * np.mean(theirs)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((np.zeros((3, 2)), 4), {}, ValueError, "k=4 is larger than the number of points N=3"),
        ((np.zeros((3, 2)), 0), {}, ValueError, "k must be positive"),
        ((np.zeros((3, 2)), 2.0), {}, TypeError, "k must be an integer"),
        ((np.zeros((3, 2)), 2), {"n_iter": 0}, ValueError, "n_iter must be positive"),
        ((np.zeros((3, 2)), 2), {"tol": -1.0}, ValueError, "tol must be"),
        ((np.zeros((3, 2)), 2), {"init": "kmeans"}, ValueError, "init must be 'k-means"),
        ((np.zeros((3, 2)), 2), {"init": np.zeros((3, 2))}, ValueError, r"init must have shape"),
        ((np.zeros((3, 2)), 2), {"init": torch.zeros(2, 2)}, TypeError, "init is a torch.Tensor"),
        ((np.zeros((3, 2)), 2), {"init": np.full((2, 2), np.nan)}, ValueError, "init must be fin"),
        ((np.array([[np.nan, 1.0]]), 1), {}, ValueError, "x must be finite"),
        ((np.zeros((0, 2)), 1), {}, ValueError, "x has no vectors"),
        ((np.zeros((3, 2)), 2), {"seed": 1.5}, TypeError, "seed must be None, an int"),
        ((np.zeros((3, 2)), 2), {"seed": -1}, ValueError, "seed must be non-negative"),
        ((["a", "b"], 1), {}, TypeError, "x must be an array of real numbers"),
    ],
)
def test_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        kmeans(*args, **kwargs)


def test_kmeans_plusplus_bad_input():
    with pytest.raises(ValueError, match="k=5 is larger than the number of points N=2"):
        kmeans_plusplus(np.zeros((2, 2)), 5, 0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\)"):
        kmeans_plusplus(np.zeros((2, 2, 2)), 1, 0)
    with pytest.raises(TypeError, match="rng must be None, an int"):
        kmeans_plusplus(np.zeros((2, 2)), 1, "zero")


def test_torch_input_with_requires_grad_gives_plain_tensors():
    x = torch.from_numpy(blobs(20, 3, 2, seed=10)).requires_grad_(True)
    res = kmeans(x, 3, seed=0)
    assert not res.centroids.requires_grad
    assert not kmeans_plusplus(x, 3, 0).requires_grad


def test_iteration_that_raises_inertia_is_undone(monkeypatch):
    import rvqlib.kmeans as km  # the module (it is also callable, as the function)

    x = blobs(30, 3, 2, seed=11)
    init = x[[0, 1, 2]]
    true_pass = km._lloyd_pass
    calls = []

    def fake(*args):  # rounding "noise": the second iteration looks worse
        labels, value, sums, counts = true_pass(*args)
        calls.append(value)
        return labels, value + (1e6 if len(calls) == 3 else 0.0), sums, counts

    monkeypatch.setattr(km, "_lloyd_pass", fake)
    res = kmeans(x, 3, init=init, tol=0.0)
    # calls: initial state, iteration 1 (accepted), iteration 2 (rejected)
    assert len(calls) == 3 and len(res.history) == 2
    assert res.history == [calls[1], calls[1]]
    assert res.inertia == calls[1]
    np.testing.assert_array_equal(res.labels, nearest(x, res.centroids))
    assert res.inertia == pytest.approx(direct_inertia(x, res.centroids, res.labels))


# ------------------------------------------------------------ far from the origin (float32)


def _brute64(x, c) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    return ((x[:, None, :] - c) ** 2).sum(-1)


@pytest.mark.parametrize("offset", [1e3, 1e4, -5e4])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_float32_data_far_from_origin_cluster_like_centred_data(offset, backend):
    # before the data were shifted near the origin: 35x the inertia of scikit-learn at 1e4
    x0 = blobs(100, 6, 4, seed=12, spread=0.3, sep=3.0)
    ref = kmeans(x0, 6, seed=0)  # float64, centred: the answer to reproduce
    x = (offset + x0).astype(np.float32)
    xx = torch.from_numpy(x) if backend == "torch" else x
    res = kmeans(xx, 6, seed=0)
    labels, centroids = np.asarray(res.labels), np.asarray(res.centroids)
    d = _brute64(x, centroids)
    assert np.mean(labels == d.argmin(1)) > 0.99
    true_inertia = float(d[np.arange(len(x)), labels].sum())
    assert res.inertia == pytest.approx(true_inertia, rel=1e-3)
    assert res.inertia <= 1.01 * ref.inertia  # float32 rounding of the data: ~1e-3 each
    assert all(h1 <= h0 for h0, h1 in zip(res.history, res.history[1:], strict=False))


def test_data_far_from_origin_come_back_exactly():
    # the shift is exact for the data: with k = N every centroid is a data point, bit for bit
    rng = np.random.default_rng(13)
    for dtype in (np.float32, np.float64):
        x = (7e3 + rng.normal(size=(12, 3))).astype(dtype)
        res = kmeans(x, 12, init="random", seed=0)
        assert res.inertia == 0.0 and res.centroids.dtype == dtype
        np.testing.assert_array_equal(np.sort(res.centroids, axis=0), np.sort(x, axis=0))
        centres, idx = kmeans_plusplus(x, 4, 0, return_indices=True)
        np.testing.assert_array_equal(centres, x[idx])
    init = x[:3] + 0.25
    a = kmeans(x, 3, init=init, tol=0.0)
    b = kmeans(x - 7e3, 3, init=init - 7e3, tol=0.0)  # same problem, centred by hand
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.centroids - 7e3, b.centroids, atol=1e-9)


def test_kmeans_plusplus_far_from_origin_matches_centred_choice():
    x = blobs(60, 5, 3, seed=14, spread=0.5, sep=4.0)
    idx_c = kmeans_plusplus(x, 5, 3, return_indices=True)[1]
    far = (2e4 + x).astype(np.float32)
    idx_f = kmeans_plusplus(far, 5, 3, return_indices=True)[1]
    np.testing.assert_array_equal(idx_f, idx_c)  # the D^2 weights survive the offset


# ------------------------------------------------------------------ empty clusters at the end


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_no_cluster_is_left_empty_by_the_tolerance_stop(backend):
    # found by search: the first iteration leaves centroid 1 empty after reassignment and
    # improves the inertia by more than tol = 0.5, so the run used to stop there with
    # counts [4, 0, 5] and inertia 14; re-seeding the empty cluster first gives inertia 1
    x = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 5.0, 3.0, 5.0, 5.0])[:, None]
    init = np.array([6.989, 7.345, 3.255])[:, None]
    if backend == "torch":
        x, init = torch.from_numpy(x), torch.from_numpy(init)
    res = kmeans(x, 3, init=init, tol=0.5)
    counts = np.bincount(np.asarray(res.labels), minlength=3)
    assert counts.min() >= 1
    assert res.inertia == 1.0
    assert all(h1 <= h0 for h0, h1 in zip(res.history, res.history[1:], strict=False))


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_empty_clusters_only_when_fewer_distinct_points_than_k(init):
    rng = np.random.default_rng(15)
    for trial in range(40):
        distinct = rng.integers(-3, 4, size=(int(rng.integers(2, 7)), 2)).astype(float)
        distinct = np.unique(distinct, axis=0)
        m = len(distinct)
        x = np.repeat(distinct, rng.integers(1, 5, size=m), axis=0)
        for k in range(1, min(len(x), m + 3) + 1):
            res = kmeans(x, k, init=init, seed=trial)
            owned = int((np.bincount(res.labels, minlength=k) > 0).sum())
            if k <= m:
                assert owned == k
            else:
                assert res.inertia == 0.0 and owned == m


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_result_does_not_depend_on_the_number_of_threads(backend):
    """Blocks are shared among torch.get_num_threads() workers in fixed groups."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5000, 4)).astype(np.float32)
    x = torch.from_numpy(x) if backend == "torch" else x
    before = torch.get_num_threads()
    try:
        runs = []
        for threads in (1, 2, 3):  # 2 MiB blocks of 1,310 rows: 4 groups
            torch.set_num_threads(threads)
            runs.append(kmeans(x, 400, seed=0, n_iter=4))
            # torch runs at one thread during the loop and is given its threads back
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    for r in runs[1:]:
        assert r.inertia == runs[0].inertia and r.history == runs[0].history
        np.testing.assert_array_equal(np.asarray(r.centroids), np.asarray(runs[0].centroids))
        np.testing.assert_array_equal(np.asarray(r.labels), np.asarray(runs[0].labels))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("batch", [1, 3])
def test_batched_passes_match_the_block_by_block_pass(monkeypatch, backend, batch):
    """CPU passes resolve near ties, inertia, counts and sums per batch of blocks.

    The labels, sums and so every centroid are those of the block-by-block pass
    (used when the rows' norms are not given), bit for bit. The data hold exact
    ties (a grid of integers), duplicate points and a cluster left empty, and the
    blocks are small (40 rows) so that batches, groups and a short last block all
    occur.
    """
    import rvqlib.kmeans as km

    rng = np.random.default_rng(7)
    grid = np.round(rng.normal(scale=2.0, size=(900, 3)))
    x = np.concatenate([grid, np.repeat(grid[:5], 20, axis=0)]).astype(np.float32)
    init = np.concatenate([x[:30], x[:2]])  # two duplicate centroids: one left empty
    x, init = (torch.from_numpy(x), torch.from_numpy(init)) if backend == "torch" else (x, init)
    monkeypatch.setattr(km, "_KMEANS_CHUNK_BYTES", 40 * 32 * 4)  # 40 rows at k = 32
    monkeypatch.setattr(km, "_BATCH_BLOCKS", batch)
    calls = []
    real = km._lloyd_batches

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(km, "_lloyd_batches", spy)
    got = kmeans(x, 32, init=init, n_iter=8, tol=0.0)
    assert calls  # the batched pass ran
    monkeypatch.setattr(km, "_row_norms", lambda x: None)  # the block-by-block pass
    calls.clear()
    want = kmeans(x, 32, init=init, n_iter=8, tol=0.0)
    assert not calls
    assert got.history == want.history
    np.testing.assert_array_equal(np.asarray(got.labels), np.asarray(want.labels))
    np.testing.assert_array_equal(np.asarray(got.centroids), np.asarray(want.centroids))
    np.testing.assert_array_equal(np.asarray(got.labels), nearest(x, got.centroids))


@pytest.mark.parametrize("mode", ["inference_mode", "no_grad", "enable_grad"])
def test_thread_pool_runs_under_the_callers_autograd_mode(mode):
    """Pool threads do not inherit torch's thread-local modes: inference mode used to
    crash the multi-threaded pass ("Inplace update to inference tensor outside
    InferenceMode")."""
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.normal(size=(5000, 4)).astype(np.float32))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # 4 groups of blocks on the pool
        reference = kmeans(x, 400, seed=0, n_iter=3)
        with getattr(torch, mode)():
            got = kmeans(x, 400, seed=0, n_iter=3)
    finally:
        torch.set_num_threads(before)
    assert got.inertia == reference.inertia
    np.testing.assert_array_equal(np.asarray(got.labels), np.asarray(reference.labels))
    np.testing.assert_array_equal(np.asarray(got.centroids), np.asarray(reference.centroids))
