"""Tests for rvqlib.vq: nearest/quantize against brute force, ties, backends, errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rvqlib.vq import nearest, quantize


def brute_nearest(z: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Reference: explicit differences, first index of the minimum."""
    d = ((z[..., None, :] - codebook) ** 2).sum(-1)
    return d.argmin(-1)


small_ints = st.integers(min_value=-8, max_value=8).map(float)


@st.composite
def int_problem(draw):
    """z and codebook with small-integer entries: every distance is exact, ties are real."""
    d = draw(st.integers(1, 4))
    k = draw(st.integers(1, 7))
    n = draw(st.integers(0, 12))
    z = draw(hnp.arrays(np.float64, (n, d), elements=small_ints))
    cb = draw(hnp.arrays(np.float64, (k, d), elements=small_ints))
    return z, cb


@settings(max_examples=150, deadline=None)
@given(int_problem(), st.integers(1, 5))
def test_nearest_equals_brute_force_exactly_on_integer_data(problem, chunk):
    z, cb = problem
    expected = brute_nearest(z, cb)
    np.testing.assert_array_equal(nearest(z, cb), expected)
    np.testing.assert_array_equal(nearest(z, cb, chunk_size=chunk), expected)
    got_t = nearest(torch.from_numpy(z), torch.from_numpy(cb), chunk_size=chunk)
    np.testing.assert_array_equal(got_t.numpy(), expected)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 5))
def test_nearest_matches_brute_force_on_random_floats(seed, k, d):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(37, d))
    cb = rng.normal(size=(k, d))
    got = nearest(z, cb, chunk_size=4)
    dist = ((z[:, None, :] - cb) ** 2).sum(-1)
    # the chosen codeword is at the minimum distance (up to rounding of near-ties)
    np.testing.assert_allclose(dist[np.arange(len(z)), got], dist.min(1), rtol=1e-12, atol=1e-12)
    assert got.min() >= 0 and got.max() < k


def test_identical_codewords_go_to_lowest_index():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(5, 16))
    cb = np.concatenate([base, base[::-1], base])  # every codeword appears three times
    z = base + 1e-3 * rng.normal(size=base.shape)
    np.testing.assert_array_equal(nearest(z, cb), np.arange(5))
    np.testing.assert_array_equal(
        nearest(torch.from_numpy(z), torch.from_numpy(cb)).numpy(), np.arange(5)
    )
    np.testing.assert_array_equal(nearest(z, cb, chunk_size=2), np.arange(5))


def test_equidistant_codewords_tie_to_lowest_index():
    cb = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    z = np.array([[0.0, 0.0], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]])
    np.testing.assert_array_equal(nearest(z, cb), [0, 0, 1, 2])
    np.testing.assert_array_equal(nearest(torch.tensor(z), torch.tensor(cb)).numpy(), [0, 0, 1, 2])


def test_chunked_path_equals_unchunked_on_large_input():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3000, 8))
    cb = rng.normal(size=(50, 8))
    full = nearest(z, cb, chunk_size=10**6)
    for chunk in (1, 7, 256, 2999):
        np.testing.assert_array_equal(nearest(z, cb, chunk_size=chunk), full)


def test_shapes_and_leading_axes():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(2, 3, 4, 5))
    cb = rng.normal(size=(6, 5))
    idx, zq = quantize(z, cb)
    assert idx.shape == (2, 3, 4) and idx.dtype == np.int64
    assert zq.shape == z.shape and zq.dtype == np.float64
    np.testing.assert_array_equal(idx, brute_nearest(z, cb))
    np.testing.assert_array_equal(zq, cb[idx])
    # a single vector gives a 0-d index
    one = nearest(z[0, 0, 0], cb)
    assert one.shape == () and int(one) == idx[0, 0, 0]
    # no vectors at all
    assert nearest(np.zeros((0, 5)), cb).shape == (0,)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out(dtype):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 9, 3, generator=g, dtype=dtype)
    cb = torch.randn(11, 3, generator=g, dtype=dtype)
    idx, zq = quantize(z, cb)
    assert isinstance(idx, torch.Tensor) and idx.dtype == torch.long and idx.shape == (4, 9)
    assert isinstance(zq, torch.Tensor) and zq.dtype == dtype and zq.device == z.device
    np.testing.assert_array_equal(idx.numpy(), nearest(z.numpy(), cb.numpy()))
    assert torch.equal(zq, cb[idx])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_in_numpy_out(dtype):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(10, 4)).astype(dtype)
    cb = rng.normal(size=(3, 4)).astype(dtype)
    idx, zq = quantize(z, cb)
    assert isinstance(idx, np.ndarray) and idx.dtype == np.int64
    assert isinstance(zq, np.ndarray) and zq.dtype == dtype


def test_array_likes_are_accepted():
    idx, zq = quantize([[0.9, 0.1], [0.2, 0.8]], [[1, 0], [0, 1]])
    np.testing.assert_array_equal(idx, [0, 1])
    assert zq.dtype == np.float64


@pytest.mark.parametrize(
    ("z", "cb", "kwargs", "exc", "match"),
    [
        (np.zeros((3, 2)), np.zeros((0, 2)), {}, ValueError, "codebook is empty"),
        (np.zeros((3, 2)), np.zeros((4, 3)), {}, ValueError, "dimension mismatch: z"),
        (np.zeros((3, 2)), np.zeros(2), {}, ValueError, r"codebook must have shape \(K, D\)"),
        (np.zeros((3, 2)), np.zeros((1, 4, 2)), {}, ValueError, r"codebook must have shape"),
        (np.float64(1.0), np.zeros((4, 1)), {}, ValueError, "z must have shape"),
        (np.zeros((3, 0)), np.zeros((4, 0)), {}, ValueError, "z must have a non-empty last axis"),
        (np.array([[np.nan, 0.0]]), np.zeros((4, 2)), {}, ValueError, "z must be finite"),
        (np.zeros((3, 2)), np.array([[np.inf, 0.0]]), {}, ValueError, "codebook must be finite"),
        (np.zeros((3, 2)), np.zeros((4, 2)), {"chunk_size": 0}, ValueError, "chunk_size must be"),
        (np.zeros((3, 2)), np.zeros((4, 2)), {"chunk_size": 2.5}, TypeError, "chunk_size must be"),
        (np.zeros((3, 2)), np.zeros((4, 2), complex), {}, TypeError, "codebook must be an array"),
        ("abc", np.zeros((4, 2)), {}, TypeError, "z must be an array"),
        (torch.zeros(3, 2), np.zeros((4, 2)), {}, TypeError, "z is a torch.Tensor but codebook"),
        (np.zeros((3, 2)), torch.zeros(4, 2), {}, TypeError, "codebook is a torch.Tensor but z"),
    ],
)
def test_bad_input(z, cb, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        nearest(z, cb, **kwargs)
    with pytest.raises(exc, match=match):
        quantize(z, cb, **kwargs)


def test_far_apart_duplicates_and_duplicate_zero_rows():
    rng = np.random.default_rng(4)
    cb = rng.normal(size=(300, 7)) / 3
    cb[290] = cb[5]
    cb[100] = cb[200] = 0.0
    z = np.stack([cb[5] + 1e-9, np.zeros(7)])
    np.testing.assert_array_equal(nearest(z, cb), [5, 100])
    np.testing.assert_array_equal(
        nearest(torch.from_numpy(z), torch.from_numpy(cb)).numpy(), [5, 100]
    )


def test_gradients_flow_to_zq_not_to_indices():
    cb = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), requires_grad=True)
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), requires_grad=True)
    idx, zq = quantize(z, cb)
    assert not idx.requires_grad and idx.dtype == torch.long
    zq.sum().backward()
    counts = torch.bincount(idx, minlength=6).to(cb.dtype)
    assert torch.equal(cb.grad, counts[:, None].expand(6, 3))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_dedupe_keeps_first_copies_in_order(backend):
    vq_module = sys.modules["rvqlib.vq"]
    rng = np.random.default_rng(5)
    cb = rng.normal(size=(6, 5))
    cb[4] = cb[1]
    cb[5] = cb[0]
    if backend == "torch":
        cb = torch.from_numpy(cb)
    norms = (cb * cb).sum(1)
    rows, rnorms, first = vq_module._dedupe(cb, norms)
    np.testing.assert_array_equal(np.asarray(first), [0, 1, 2, 3])
    np.testing.assert_array_equal(np.asarray(rows), np.asarray(cb)[:4])
    distinct = cb[:4]
    rows, _, first = vq_module._dedupe(distinct, (distinct * distinct).sum(1))
    assert first is None and rows is distinct


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("seed", range(5))
def test_dedupe_matches_brute_force_with_equal_norm_decoys(backend, seed):
    # permuted rows have the same norm but are not duplicates: they share runs of
    # close sorted norms with the real copies, which must still be found exactly
    vq_module = sys.modules["rvqlib.vq"]
    rng = np.random.default_rng(seed)
    base = rng.integers(-3, 4, size=(40, 4)).astype(np.float32)
    cb = np.concatenate([base, base[:, ::-1], base[rng.integers(0, 40, size=30)]])
    cb = cb[rng.permutation(len(cb))]
    _, first_bf = np.unique(cb, axis=0, return_index=True)
    expected = np.sort(first_bf)
    arr = torch.from_numpy(cb) if backend == "torch" else cb
    rows, rnorms, first = vq_module._dedupe(arr, (arr * arr).sum(1))
    assert first is not None
    np.testing.assert_array_equal(np.asarray(first), expected)
    np.testing.assert_array_equal(np.asarray(rows), cb[expected])
    np.testing.assert_array_equal(np.asarray(rnorms), (cb * cb).sum(1)[expected])


# ------------------------------------------------------------ far from the origin (float32)


def _brute64(z, cb) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    cb = np.asarray(cb, dtype=np.float64)
    return ((z[:, None, :] - cb) ** 2).sum(-1)


@pytest.mark.parametrize("offset", [1e2, 1e3, 1e4, -3e4])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_float32_far_from_origin_finds_the_nearest_codeword(offset, backend):
    # before the shift: 0.5% wrong at 1e2, 37% at 1e3, 99% at 1e4, up to 75x the true
    # nearest distance (the expansion cancels); the shifted search agrees with float64
    rng = np.random.default_rng(20)
    cb = (offset + rng.normal(size=(256, 8))).astype(np.float32)
    z = (offset + rng.normal(size=(3000, 8))).astype(np.float32)
    d = _brute64(z, cb)
    for chunk in (None, 100):
        if backend == "torch":
            got = nearest(torch.from_numpy(z), torch.from_numpy(cb), chunk_size=chunk).numpy()
        else:
            got = nearest(z, cb, chunk_size=chunk)
        rows = np.arange(len(z))
        # the float32 inputs are exact; only near-ties at the float32 resolution may differ
        excess = d[rows, got] - d.min(1)
        assert np.all(excess <= 1e-5 * d.min(1) + 1e-5)
        assert np.mean(got == d.argmin(1)) > 0.999


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_exact_ties_on_a_dyadic_grid_far_from_origin_in_every_path(backend):
    # codewords a, b and z = their midpoint, all on a 1/4 grid near 2000: the shift keeps
    # them on the grid, so the tie is exact and goes to the lowest index, chunked or not
    rng = np.random.default_rng(21)
    a = (2000 + rng.integers(-8, 8, size=(200, 3)) / 4).astype(np.float32)
    b = a.copy()
    b[np.arange(200), rng.integers(0, 3, 200)] += 0.5
    z = (a + b) / 2
    for i in range(200):
        for cb, want in ((np.stack([a[i], b[i]]), 0), (np.stack([b[i], a[i], b[i]]), 0)):
            zz = np.stack([z[i], z[i], z[i]])
            for chunk in (None, 1, 2):
                got = nearest(zz, cb, chunk_size=chunk)
                if backend == "torch":
                    got = nearest(torch.from_numpy(zz), torch.from_numpy(cb), chunk_size=chunk)
                assert np.asarray(got).tolist() == [want] * 3


def test_origin_shift_rule():
    vq_module = sys.modules["rvqlib.vq"]
    shift = vq_module._origin_shift
    rng = np.random.default_rng(22)
    centred = rng.normal(size=(64, 5))
    assert shift(centred) is None  # the usual case: nothing is shifted
    assert shift(centred + 0.2) is None  # midrange within s/2 of the origin
    assert shift(np.zeros((0, 5))) is None and shift(np.ones((4, 5))) is None  # s = 0
    far = (1e3 + rng.normal(size=(64, 5))).astype(np.float32)
    c = shift(far)
    assert c.dtype == np.float32 and c.shape == (5,)
    half = float(((far.max(0) - far.min(0)) / 2).max())
    q = 2.0 ** np.ceil(np.log2(half))
    assert half < q <= 2 * half
    np.testing.assert_array_equal(np.asarray(c, np.float64) % q, 0)  # a multiple of q
    assert np.abs(far - c).max() <= half + q / 2  # shifted codewords within 2 s of zero
    ct = shift(torch.from_numpy(far))
    assert ct.dtype == torch.float32 and torch.equal(ct, torch.from_numpy(c))
    # a shift the dtype cannot hold is dropped: column 0 (all 65504, half-range 0) would
    # round to 65536 = inf in float16, with q = 65536 set by column 1
    top = np.array([[65504.0, -30000.0], [65504.0, 30000.0]], dtype=np.float16)
    assert shift(top) is None
    assert shift(torch.from_numpy(top)) is None
    assert shift(np.array([[-1.7e308], [1.7e308]])) is None  # no overflow of hi - lo


def test_centred_codebook_search_is_unchanged_bit_for_bit():
    # no shift for centred codebooks: the scores are exactly the plain expansion's
    rng = np.random.default_rng(23)
    z = rng.normal(size=(500, 6)).astype(np.float32)
    cb = rng.normal(size=(40, 6)).astype(np.float32)
    scores = (cb * cb).sum(1) + z @ (cb.T * np.float32(-2.0))
    np.testing.assert_array_equal(nearest(z, cb), scores.argmin(1))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(8, 16), (32, 1024), (33, 1024), (300, 700)])
def test_torch_row_argmin_keeps_the_first_minimum_on_both_sides_of_the_threshold(threads, shape):
    vq_module = sys.modules["rvqlib.vq"]
    g = torch.Generator().manual_seed(24)
    scores = torch.randint(0, 3, shape, generator=g).float()  # many exact ties per row
    first = (scores == scores.min(dim=1, keepdim=True).values).float().argmax(dim=1)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = vq_module._argmin_rows(scores)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(got, first)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from([np.float16, np.float32, np.float64]),
    st.floats(-6, 6),
    st.floats(-3, 3),
)
def test_origin_shift_is_exact_and_brings_rows_within_four_half_ranges(seed, dtype, log_m, log_s):
    rng = np.random.default_rng(seed)
    offset = rng.choice([-1, 1], size=3) * 10.0**log_m * rng.uniform(0, 1, size=3)
    with np.errstate(over="ignore"):
        a = (offset + 10.0**log_s * rng.normal(size=(20, 3))).astype(dtype)
    assume(np.isfinite(a).all())
    c = sys.modules["rvqlib.vq"]._origin_shift(a)
    a64 = a.astype(np.float64)
    s = float(((a64.max(0) - a64.min(0)) / 2).max())
    shifted = a64 if c is None else (a - c).astype(np.float64)
    if c is not None:
        assert c.dtype == dtype
        np.testing.assert_array_equal(shifted, a64 - c.astype(np.float64))  # exact
    if s > 0:
        assert np.abs(shifted).max() <= 4 * s


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_dedupe_treats_negative_zero_as_zero(backend):
    vq_module = sys.modules["rvqlib.vq"]
    cb = np.array([[1.0, 0.0], [2.0, 1.0], [1.0, -0.0], [-0.0, 1.0]], dtype=np.float32)
    arr = torch.from_numpy(cb) if backend == "torch" else cb
    _, _, first = vq_module._dedupe(arr, (arr * arr).sum(1))
    np.testing.assert_array_equal(np.asarray(first), [0, 1, 3])
    assert int(np.asarray(nearest(arr[2:3], arr))[0]) == 0
