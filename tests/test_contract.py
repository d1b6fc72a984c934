"""Contract tests: rvqlib checked against /work/shared/rvqlib-contract.md as a user would use it.

These tests complement the per-module tests (tests/test_<module>.py): they
probe the cross-cutting promises of the contract (backend and dtype in = out,
int64 indices, edge shapes, validation of every public function) and the
numerical claims on inputs the module tests do not use (float32 data with a
large offset, non-blob k-means data, EMA with changing assignments).

A test marked ``xfail(strict=True)`` records a known defect: it must keep
failing until the library is fixed, then the marker is removed.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import rvqlib
from rvqlib import (
    CODECS,
    MAX_1960_GAUSSIAN,
    ResidualVQ,
    VectorQuantizer,
    bitrate,
    bits_per_frame,
    empirical_entropy,
    frame_rate,
    kmeans,
    kmeans_plusplus,
    lloyd_max,
    nearest,
    quantize,
    rotation_trick,
    rvq_decode,
    rvq_encode,
    straight_through,
    train_rvq_codebooks,
    uniform_quantize,
)
from rvqlib.data import latent_like


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: on a loaded 2-core machine torch's parallel reductions on
    tiny tensors wait for a free core (~20 ms per call), which would dominate runtime."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- helpers

NP_DTYPES = {"float32": np.float32, "float64": np.float64}
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def brute_sqdist(z: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Squared distances by explicit differences, in float64 (exact up to float64 rounding)."""
    z = np.asarray(z, dtype=np.float64)
    codebook = np.asarray(codebook, dtype=np.float64)
    return ((z[..., None, :] - codebook) ** 2).sum(-1)


def reference_rvq(z: np.ndarray, books: list[np.ndarray]) -> np.ndarray:
    r = np.asarray(z, dtype=np.float64).reshape(-1, z.shape[-1])
    codes = []
    for cb in books:
        idx = brute_sqdist(r, cb).argmin(1)
        codes.append(idx)
        r = r - np.asarray(cb, dtype=np.float64)[idx]
    return np.stack(codes, -1).reshape(z.shape[:-1] + (len(books),))


def to_backend(a: np.ndarray, backend: str, dtype: str):
    if backend == "numpy":
        return a.astype(NP_DTYPES[dtype])
    return torch.tensor(a, dtype=TORCH_DTYPES[dtype])


def is_float_dtype(x, dtype: str) -> bool:
    if isinstance(x, torch.Tensor):
        return x.dtype == TORCH_DTYPES[dtype]
    return isinstance(x, np.ndarray) and x.dtype == NP_DTYPES[dtype]


def is_index(x, backend: str) -> bool:
    if backend == "torch":
        return isinstance(x, torch.Tensor) and x.dtype == torch.long
    return isinstance(x, np.ndarray) and x.dtype == np.int64


def as_np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


# ================================================================ backend / dtype contract


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_array_function_keeps_backend_and_float_dtype(backend, dtype):
    """numpy in -> numpy out, torch in -> torch out, same float dtype, int64 indices,
    shapes from (B, T, D) inputs, and the caller's arrays are never modified."""
    rng = np.random.default_rng(0)
    z_np = rng.normal(size=(3, 5, 4))
    books_np = [rng.normal(size=(6, 4)), 0.5 * rng.normal(size=(3, 4))]
    z = to_backend(z_np, backend, dtype)
    books = [to_backend(b, backend, dtype) for b in books_np]
    z_copy = as_np(z).copy()
    books_copy = [as_np(b).copy() for b in books]

    idx, xhat = uniform_quantize(z, 8, -2.0, 2.0)
    assert is_index(idx, backend) and idx.shape == (3, 5, 4)
    assert is_float_dtype(xhat, dtype) and xhat.shape == (3, 5, 4)

    idx = nearest(z, books[0])
    assert is_index(idx, backend) and idx.shape == (3, 5)
    idx, zq = quantize(z, books[0])
    assert is_index(idx, backend) and is_float_dtype(zq, dtype) and zq.shape == z.shape

    res = kmeans(z, 4, seed=0, n_iter=5)
    assert is_float_dtype(res.centroids, dtype) and res.centroids.shape == (4, 4)
    assert is_index(res.labels, backend) and res.labels.shape == (3, 5)
    assert isinstance(res.inertia, float) and all(isinstance(h, float) for h in res.history)
    centers = kmeans_plusplus(z.reshape(15, 4), 3, 0)
    assert is_float_dtype(centers, dtype) and centers.shape == (3, 4)

    codes = rvq_encode(z, books)
    assert is_index(codes, backend) and codes.shape == (3, 5, 2)
    zhat = rvq_decode(codes, books)
    assert is_float_dtype(zhat, dtype) and zhat.shape == z.shape
    trained = train_rvq_codebooks(z, 2, [4, 2], seed=0, n_iter=3)
    assert [tuple(cb.shape) for cb in trained] == [(4, 4), (2, 4)]
    assert all(is_float_dtype(cb, dtype) for cb in trained)

    h = empirical_entropy(codes[..., 0], 6)
    assert isinstance(h, float) and 0.0 <= h <= math.log2(6)

    np.testing.assert_array_equal(as_np(z), z_copy)
    for b, c in zip(books, books_copy, strict=True):
        np.testing.assert_array_equal(as_np(b), c)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_modules_keep_dtype_and_index_type(dtype):
    torch.manual_seed(0)
    z = torch.randn(2, 16, 3, dtype=dtype)
    vq = VectorQuantizer(3, 4).to(dtype)
    zq, idx, losses = vq(z)
    assert zq.dtype == dtype and idx.dtype == torch.long and idx.shape == (2, 16)
    assert vq.codebook.dtype == dtype and all(v.dtype == dtype for v in losses.values())
    rvq = ResidualVQ(3, 2, 4).to(dtype)
    zq, codes, losses = rvq(z)
    assert zq.dtype == dtype and codes.dtype == torch.long and codes.shape == (2, 16, 2)
    rvq.eval()
    assert rvq.decode(rvq.encode(z)).dtype == dtype
    assert all(cb.dtype == dtype for cb in rvq.codebooks)


def test_integer_bool_and_list_inputs_are_promoted_as_documented():
    # rvqlib._validate: integer/bool numpy input becomes float64; integer torch input becomes
    # torch's default float dtype; lists are array-likes
    z = [[0, 1], [3, 3], [5, 4]]
    cb = np.array([[0, 0], [4, 4]], dtype=np.int32)
    idx, zq = quantize(z, cb)
    np.testing.assert_array_equal(idx, [0, 1, 1])
    assert idx.dtype == np.int64 and zq.dtype == np.float64
    res = kmeans(np.array(z), 2, seed=0)
    assert res.centroids.dtype == np.float64
    t = kmeans(torch.tensor(z), 2, seed=0)
    assert t.centroids.dtype == torch.get_default_dtype()
    _, xhat = uniform_quantize([-1, 0, 1], 2, -1, 1)
    assert xhat.dtype == np.float64
    assert nearest(np.array([[True, False]]), np.array([[1.0, 0.0], [0.0, 1.0]])).tolist() == [0]
    # bitrate helpers take numpy scalar types too
    assert bitrate(np.int64(24_000), np.float32(320), np.int32(8), np.int64(1024)) == 6000.0


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_int32_and_integral_float_codes_decode_like_int64(backend):
    rng = np.random.default_rng(1)
    books_np = [rng.normal(size=(5, 3)), rng.normal(size=(4, 3))]
    codes64 = np.stack([rng.integers(0, 5, 20), rng.integers(0, 4, 20)], -1)
    if backend == "numpy":
        books = books_np
        variants = [codes64.astype(np.int32), codes64.astype(np.uint8), codes64.astype(float)]
        ref = rvq_decode(codes64, books)
    else:
        books = [torch.from_numpy(b) for b in books_np]
        base = torch.from_numpy(codes64)
        variants = [base.to(torch.int32), base.to(torch.int16), base.to(torch.float32)]
        ref = rvq_decode(base, books)
    for codes in variants:
        out = rvq_decode(codes, books)
        assert type(out) is type(ref)
        np.testing.assert_array_equal(as_np(out), as_np(ref))


def test_half_precision_torch_inputs_work_and_keep_their_dtype():
    # small integers: every product and sum is exact even in bfloat16, so the
    # reduced-precision search must give exactly the float64 answer
    rng = np.random.default_rng(2)
    z_np = rng.integers(-4, 5, size=(64, 3)).astype(np.float64)
    books_np = [rng.integers(-4, 5, size=(7, 3)).astype(np.float64) for _ in range(2)]
    expected_idx = brute_sqdist(z_np, books_np[0]).argmin(1)
    expected_codes = reference_rvq(z_np, books_np)
    for dt in (torch.float16, torch.bfloat16):
        z = torch.tensor(z_np, dtype=dt)
        books = [torch.tensor(b, dtype=dt) for b in books_np]
        idx, zq = quantize(z, books[0])
        assert zq.dtype == dt
        np.testing.assert_array_equal(idx.numpy(), expected_idx)
        codes = rvq_encode(z, books)
        np.testing.assert_array_equal(codes.numpy(), expected_codes)
        assert rvq_decode(codes, books).dtype == dt
        assert uniform_quantize(z, 4, -4.0, 4.0)[1].dtype == dt
        assert kmeans(z, 3, seed=0).centroids.dtype == dt
        torch.manual_seed(0)
        zq, idx, _ = VectorQuantizer(3, 4)(z)
        assert zq.dtype == dt and idx.dtype == torch.long
    # numpy float16 too
    idx, zq = quantize(z_np.astype(np.float16), books_np[0].astype(np.float16))
    assert zq.dtype == np.float16
    np.testing.assert_array_equal(idx, expected_idx)


def test_tensors_requiring_grad_and_non_contiguous_tensors():
    g = torch.Generator().manual_seed(3)
    base = torch.randn(6, 40, 3, generator=g)
    z_nc = base.transpose(0, 1)  # (40, 6, 3), not contiguous
    assert not z_nc.is_contiguous()
    cb_nc = torch.randn(3, 8, generator=g).T  # (8, 3), not contiguous
    assert not cb_nc.is_contiguous()
    z_c, cb_c = z_nc.contiguous(), cb_nc.contiguous()
    assert torch.equal(nearest(z_nc, cb_nc), nearest(z_c, cb_c))
    assert torch.equal(rvq_encode(z_nc, [cb_nc, cb_nc]), rvq_encode(z_c, [cb_c, cb_c]))
    a, b = kmeans(z_nc, 4, seed=1), kmeans(z_c, 4, seed=1)
    assert torch.equal(a.labels, b.labels) and torch.allclose(a.centroids, b.centroids)

    zg = z_c.clone().requires_grad_(True)
    cbg = cb_c.clone().requires_grad_(True)
    assert torch.equal(nearest(zg, cbg), nearest(z_c, cb_c))
    idx, zq = quantize(zg, cbg)
    zq.sum().backward()  # zq = codebook[idx] is differentiable in the codebook
    torch.testing.assert_close(cbg.grad[:, 0], torch.bincount(idx.reshape(-1), minlength=8).float())
    assert torch.equal(rvq_encode(zg, [cbg, cbg]), rvq_encode(z_c, [cb_c, cb_c]))
    res = kmeans(zg, 4, seed=1)  # clustering an encoder output that requires grad
    assert not res.centroids.requires_grad
    assert torch.equal(res.labels, b.labels)
    assert train_rvq_codebooks(zg, 2, 4, seed=0, n_iter=3)[0].shape == (4, 3)
    assert kmeans_plusplus(zg.reshape(-1, 3), 3, 0).shape == (3, 3)
    assert uniform_quantize(zg, 4, -1.0, 1.0)[0].dtype == torch.long


def test_single_vector_and_leading_axes_everywhere():
    rng = np.random.default_rng(4)
    books = [rng.normal(size=(5, 3)), rng.normal(size=(4, 3))]
    z = rng.normal(size=3)
    assert nearest(z, books[0]).shape == ()
    codes = rvq_encode(z, books)
    assert codes.shape == (2,)
    np.testing.assert_array_equal(codes, reference_rvq(z[None], books)[0])
    assert rvq_decode(codes, books).shape == (3,)
    zb = rng.normal(size=(2, 3, 4, 3))
    assert rvq_encode(zb, books, n_q=1).shape == (2, 3, 4, 1)
    torch.manual_seed(0)
    rvq = ResidualVQ(3, 2, 4)
    rvq(torch.randn(64, 3))
    rvq.eval()
    zt = torch.randn(3)
    zq, codes, _ = rvq(zt)
    assert zq.shape == (3,) and codes.shape == (2,)
    assert torch.equal(rvq.encode(zt), rvq_encode(zt, rvq.codebooks))
    _, idx, _ = rvq.layers[0](zt)
    assert idx.shape == ()


def test_empty_batch_behaviour():
    """N = 0: the functional API and the modules return empty results; k-means raises."""
    cb = np.eye(3)
    for z, books in ((np.zeros((0, 3)), [cb, cb]), (torch.zeros(2, 0, 3), [torch.eye(3)] * 2)):
        idx, zq = quantize(z, books[0])
        assert idx.shape == z.shape[:-1] and zq.shape == z.shape
        codes = rvq_encode(z, books)
        assert codes.shape == z.shape[:-1] + (2,) and is_index(
            codes, "torch" if isinstance(z, torch.Tensor) else "numpy"
        )
        assert rvq_decode(codes, books).shape == z.shape
        assert uniform_quantize(z, 4, -1.0, 1.0)[0].shape == z.shape
        assert nearest(z, books[0], chunk_size=1).shape == z.shape[:-1]
    with pytest.raises(ValueError, match=r"\bx has no vectors"):
        kmeans(np.zeros((0, 3)), 1)
    zq, idx, losses = VectorQuantizer(3, 4)(torch.zeros(0, 3))
    assert zq.shape == (0, 3) and idx.shape == (0,) and float(losses["commitment"]) == 0
    rvq = ResidualVQ(3, 2, 4)
    zq, codes, _ = rvq(torch.zeros(0, 3))  # training: nothing to learn from, nothing changes
    assert codes.shape == (0, 2) and not any(bool(layer.initialized) for layer in rvq.layers)
    rvq.set_codebooks([torch.eye(4, 3)] * 2)
    # like rvq_encode: shape (0, n_q), also for leading axes and the (B, D, T) layout
    assert rvq.eval().encode(torch.zeros(0, 3)).shape == (0, 2)
    assert rvq.encode(torch.zeros(2, 0, 3)).shape == (2, 0, 2)
    enc = ResidualVQ(3, 2, 4, channel_dim=1)
    enc.set_codebooks([torch.eye(4, 3)] * 2)
    assert enc.encode(torch.zeros(0, 3, 7)).shape == (0, 2, 7)
    assert rvq.decode(torch.zeros(0, 2, dtype=torch.long)).shape == (0, 3)
    with pytest.raises(ValueError, match="codes is empty"):
        empirical_entropy(np.zeros(0, dtype=int), 4)


def test_k_equal_one_and_d_equal_one():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 1))
    cb = rng.normal(size=(4, 1))
    np.testing.assert_array_equal(nearest(x, cb), brute_sqdist(x, cb).argmin(1))
    np.testing.assert_array_equal(nearest(x, cb[:1]), np.zeros(30, dtype=np.int64))
    res = kmeans(x, 1, seed=0)
    np.testing.assert_allclose(res.centroids, x.mean(0, keepdims=True), rtol=1e-12)
    assert res.inertia == pytest.approx(float(((x - x.mean()) ** 2).sum()), rel=1e-12)
    assert bits_per_frame(4, 1) == 0.0
    torch.manual_seed(0)
    rvq = ResidualVQ(1, 2, 1)
    zq, codes, _ = rvq(torch.tensor(x, dtype=torch.float32))
    assert torch.equal(codes, torch.zeros(30, 2, dtype=torch.long))
    for dist in ("gaussian", "laplace", "uniform"):
        q = lloyd_max(1, dist)
        assert q.thresholds.shape == (0,) and q.levels.tolist() == [0.0]
        assert q.mse == pytest.approx(1.0, abs=1e-12)  # unit variance: the mean is the level


# ========================================================= nearest: precision and memory


def _disagreements(z, cb, got) -> tuple[int, int]:
    """(number of disagreements with brute force, number that are not near-ties)."""
    d = brute_sqdist(as_np(z), as_np(cb))
    got = as_np(got)
    rows = np.arange(len(d))
    ref = d.argmin(1)
    dis = got != ref
    gap = d[rows, got] - d[rows, ref]
    genuine = gap > 1e-4 * d[rows, ref] + 1e-6
    return int(dis.sum()), int((dis & genuine).sum())


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_nearest_float64_with_large_offset_agrees_with_brute_force(backend):
    # measured: 0 of 20000 disagreements at offsets 1e2..1e5 in float64
    rng = np.random.default_rng(6)
    cb = 1e4 + rng.normal(size=(128, 8))
    z = 1e4 + rng.normal(size=(4000, 8))
    if backend == "torch":
        z, cb = torch.from_numpy(z), torch.from_numpy(cb)
    n_dis, n_genuine = _disagreements(z, cb, nearest(z, cb))
    assert n_genuine == 0 and n_dis <= 4


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_nearest_float32_with_offset_agrees_with_brute_force(backend):
    rng = np.random.default_rng(7)
    cb = (1e3 + rng.normal(size=(64, 8))).astype(np.float32)
    z = (1e3 + rng.normal(size=(2000, 8))).astype(np.float32)
    if backend == "torch":
        z, cb = torch.from_numpy(z), torch.from_numpy(cb)
    _, n_genuine = _disagreements(z, cb, nearest(z, cb))
    assert n_genuine == 0


def _exact_ties(offset: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 pairs (a, b) and z = their midpoint, all exact: |z-a|^2 == |z-b|^2 exactly."""
    rng = np.random.default_rng(seed)
    a = (offset + rng.integers(-8, 8, size=(n, 4)) / 4).astype(np.float32)
    b = a.copy()
    b[np.arange(n), rng.integers(0, 4, n)] += rng.integers(1, 4, n).astype(np.float32) / 2
    z = ((a.astype(np.float64) + b) / 2).astype(np.float32)
    assert np.array_equal(((z - a) ** 2).sum(1), ((z - b) ** 2).sum(1))  # float32 ties
    return z, np.stack([a, b], 1)


def test_exact_ties_go_to_lowest_index_in_float32_near_zero():
    z, pairs = _exact_ties(0.0, 300, 8)
    got = [int(nearest(z[i], pairs[i][::s])) for i in range(300) for s in (1, -1)]
    assert got == [0] * 600


def test_exact_ties_go_to_lowest_index_in_float32_with_offset():
    z, pairs = _exact_ties(1e3, 300, 9)
    got = [int(nearest(z[i], pairs[i][::s])) for i in range(300) for s in (1, -1)]
    assert got == [0] * 600


def test_nearest_memory_is_bounded_and_small_chunks_agree():
    rng = np.random.default_rng(10)
    z = rng.normal(size=(40_000, 8))
    cb = rng.normal(size=(512, 8))
    full_matrix_mib = z.shape[0] * cb.shape[0] * 8 / 2**20  # 156 MiB if not chunked
    nearest(z[:10], cb)
    tracemalloc.start()
    try:
        idx = nearest(z, cb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / 2**20 < 40 < full_matrix_mib  # measured ~17 MiB: one 8 MiB block (+ copy)
    sub = slice(0, 3000)
    np.testing.assert_array_equal(idx[sub], brute_sqdist(z[sub], cb).argmin(1))
    zt, cbt = torch.from_numpy(z[:10_000]), torch.from_numpy(cb)
    np.testing.assert_array_equal(nearest(zt, cbt, chunk_size=7).numpy(), idx[:10_000])
    np.testing.assert_array_equal(nearest(z[:10_000], cb, chunk_size=13), idx[:10_000])


# ================================================================== scalar quantization


def test_uniform_quantize_scalar_input():
    idx, xhat = uniform_quantize(0.3, 4, 0.0, 1.0)
    assert int(idx) == 1 and float(xhat) == 0.375


def test_uniform_quantize_zero_d_tensor():
    idx, xhat = uniform_quantize(torch.tensor(0.3), 4, 0.0, 1.0)
    assert idx.shape == () and int(idx) == 1 and float(xhat) == 0.375


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_uniform_quantize_clips_huge_values_to_the_right_end(backend):
    x = np.array([-1e30, -1e19, 1e19, 1e30])
    x = torch.from_numpy(x) if backend == "torch" else x
    with np.errstate(invalid="ignore"):
        idx, _ = uniform_quantize(x, 4, -1.0, 1.0)
    assert as_np(idx).tolist() == [0, 0, 3, 3]


def test_max_1960_table_is_the_published_one():
    # typed independently from Max (1960), Table I (N = 2, 4, 8), non-negative halves
    published = {
        2: ((0.0,), (0.7980,), 0.3634),
        4: ((0.0, 0.9816), (0.4528, 1.510), 0.1175),
        8: ((0.0, 0.5006, 1.050, 1.748), (0.2451, 0.7560, 1.344, 2.152), 0.03454),
    }
    for n, (x, y, eps) in published.items():
        entry = MAX_1960_GAUSSIAN[n]
        assert tuple(t for t in entry.thresholds if t >= 0) == x
        assert tuple(v for v in entry.levels if v >= 0) == y
        assert entry.mse == eps
        q = lloyd_max(n)
        assert np.max(np.abs(q.levels[q.levels >= 0] - np.array(y))) < 1e-3


@pytest.mark.parametrize("n", [2, 3, 4, 7, 12])
def test_laplace_outer_cell_closed_form_and_symmetry(n):
    # the Laplace tail beyond t is memoryless: its conditional mean is t + scale, scale = 1/sqrt 2
    q = lloyd_max(n, "laplace")
    assert q.levels[-1] - q.thresholds[-1] == pytest.approx(1 / math.sqrt(2), abs=1e-9)
    for dist in ("gaussian", "laplace", "uniform"):
        q = lloyd_max(n, dist)
        np.testing.assert_allclose(q.levels, -q.levels[::-1], atol=1e-12)
        assert np.all(np.diff(q.levels) > 0)


@pytest.mark.parametrize("distribution", ["gaussian", "laplace"])
def test_lloyd_max_fixed_point_with_sixteen_levels(distribution):
    q = lloyd_max(16, distribution)
    pdf = stats.norm().pdf if distribution == "gaussian" else stats.laplace(scale=0.5**0.5).pdf
    edges = [-np.inf, *q.thresholds, np.inf]
    mse = 0.0
    for i, y in enumerate(q.levels):
        a, b = edges[i], edges[i + 1]
        mass = integrate.quad(pdf, a, b, epsabs=1e-14, epsrel=1e-12)[0]
        mean = integrate.quad(lambda t: t * pdf(t), a, b, epsabs=1e-14, epsrel=1e-12)[0] / mass
        assert y == pytest.approx(mean, abs=1e-6)
        mse += integrate.quad(lambda t, y=y: (t - y) ** 2 * pdf(t), a, b, epsabs=1e-14)[0]
    assert q.mse == pytest.approx(mse, abs=1e-6)


# =============================================================================== k-means


def _sklearn_inertia(x: np.ndarray, k: int, seeds) -> float:
    cluster = pytest.importorskip("sklearn.cluster")
    return float(
        np.mean([cluster.KMeans(k, n_init=1, random_state=s).fit(x).inertia_ for s in seeds])
    )


def test_kmeans_quality_close_to_sklearn_on_non_blob_data():
    seeds = range(10)
    rng = np.random.default_rng(11)
    square = rng.uniform(size=(800, 2))  # no cluster structure at all
    ours = np.mean([kmeans(square, 12, seed=s).inertia for s in seeds])
    assert ours <= 1.05 * _sklearn_inertia(square, 12, seeds)
    lat = latent_like(800, 6, seed=1).astype(np.float32)  # heavy-tailed, torch float32
    ours = np.mean([kmeans(torch.from_numpy(lat), 16, seed=s).inertia for s in seeds])
    assert ours <= 1.05 * _sklearn_inertia(lat, 16, seeds)


def test_kmeans_float32_data_with_offset():
    rng = np.random.default_rng(12)
    centers = rng.normal(scale=3, size=(6, 4))
    x = (1e4 + np.concatenate([c + 0.3 * rng.normal(size=(100, 4)) for c in centers])).astype(
        np.float32
    )
    res = kmeans(x, 6, seed=0)
    d = brute_sqdist(x, res.centroids)
    assert np.mean(res.labels == d.argmin(1)) > 0.99
    assert res.inertia <= 1.05 * _sklearn_inertia(x, 6, [0, 1, 2])


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_kmeans_duplicate_points(init, backend):
    distinct = np.array([[0.0, 0.0], [5.0, 0.0], [9.0, 1.0]])
    x = np.repeat(distinct, [30, 2, 1], axis=0)
    xx = torch.from_numpy(x).float() if backend == "torch" else x
    for seed in range(4):
        res = kmeans(xx, 3, init=init, seed=seed)  # k == number of distinct points
        assert res.inertia == 0.0
        np.testing.assert_array_equal(np.unique(as_np(res.centroids), axis=0), distinct)
        more = kmeans(xx, 5, init=init, seed=seed)  # k > distinct points: no crash, exact fit
        assert more.inertia == 0.0 and as_np(more.labels).max() < 5
        np.testing.assert_array_equal(as_np(more.centroids)[as_np(more.labels)], x)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 9), st.sampled_from(["k-means++", "random"]))
def test_kmeans_torch_float32_history_and_determinism(seed, k, init):
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.standard_t(df=3, size=(50, 3)), dtype=torch.float32)
    a = kmeans(x, k, init=init, seed=seed, tol=0.0)
    b = kmeans(x, k, init=init, seed=seed, tol=0.0)
    assert a.history == b.history and torch.equal(a.centroids, b.centroids)
    assert all(h1 <= h0 for h0, h1 in zip(a.history, a.history[1:], strict=False))
    assert a.inertia == a.history[-1]
    d = brute_sqdist(x.numpy(), a.centroids.numpy())
    assert a.inertia == pytest.approx(d.min(1).sum(), rel=1e-4)


# ================================================================ residual quantization


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 6), min_size=1, max_size=4))
def test_rvq_encode_float32_equals_reference_on_exact_data(seed, sizes):
    # dyadic data: the greedy argmin is exact in float32, so codes must match bit for bit
    rng = np.random.default_rng(seed)
    books = [rng.integers(-8, 9, size=(k, 3)) / 2**s for s, k in enumerate(sizes)]
    z = rng.integers(-16, 17, size=(2, 9, 3)) / 2
    expected = reference_rvq(z, books)
    got_np = rvq_encode(z.astype(np.float32), [b.astype(np.float32) for b in books])
    got_t = rvq_encode(
        torch.tensor(z, dtype=torch.float32), [torch.tensor(b, dtype=torch.float32) for b in books]
    )
    np.testing.assert_array_equal(got_np, expected)
    np.testing.assert_array_equal(got_t.numpy(), expected)


# ======================================================================== torch modules


def test_first_batch_kmeans_init_on_leading_axes_input():
    torch.manual_seed(0)
    x = torch.tensor(latent_like(1024, 4, seed=2), dtype=torch.float32).reshape(8, 128, 4)
    vq = VectorQuantizer(4, 16, kmeans_iters=30, dead_code_threshold=0.0)
    assert torch.count_nonzero(vq.codebook) == 0  # nothing before the first batch
    vq(x)
    flat = x.reshape(-1, 4)
    theirs = np.mean([kmeans(flat, 16, n_iter=30, seed=s).inertia for s in range(3)])
    ours = float(brute_sqdist(flat.numpy(), vq.codebook.numpy()).min(1).sum())
    assert ours <= 1.1 * theirs
    assert ours < 0.5 * float(brute_sqdist(flat.numpy(), flat[:16].numpy()).min(1).sum())


def test_ema_reaches_the_means_of_the_data_each_codeword_wins():
    # assignments change during training (latent-like data, no clean blobs); at the end
    # every used codeword is the mean of the vectors it wins (a Lloyd fixed point)
    torch.manual_seed(1)
    x = torch.tensor(latent_like(1536, 4, seed=3), dtype=torch.float64).reshape(12, 128, 4)
    vq = VectorQuantizer(4, 8, decay=0.7, dead_code_threshold=0.0, kmeans_init=False).double()
    vq.set_codebook(x.reshape(-1, 4)[:8] + 0.1)  # a poor start
    for _ in range(120):
        vq(x)
    vq.eval()
    cb = vq.codebook
    _, idx, _ = vq(x)
    flat, idx = x.reshape(-1, 4), idx.reshape(-1)
    counts = torch.bincount(idx, minlength=8)
    assert (counts > 0).all()
    means = torch.stack([flat[idx == j].mean(0) for j in range(8)])
    assert float((cb - means).norm(dim=1).max()) < 1e-4


def test_quantizer_dropout_draws_uniform_numbers_of_stages():
    torch.manual_seed(2)
    rvq = ResidualVQ(2, 4, 2, quantizer_dropout=True, kmeans_iters=1)
    x = torch.randn(16, 2)
    used = np.array([rvq(x)[1].shape[-1] for _ in range(400)])
    counts = np.bincount(used, minlength=5)[1:]
    assert counts.sum() == 400 and counts.min() >= 60  # expected 100 each; 60 is > 4 sigma
    rvq.eval()
    assert {rvq(x)[1].shape[-1] for _ in range(10)} == {4}


def test_rvq_training_step_with_gradients_and_dropout():
    torch.manual_seed(3)
    rvq = ResidualVQ(4, 3, 8, ema=False, quantizer_dropout=True)
    z = torch.randn(2, 32, 4, requires_grad=True)
    zq, codes, losses = rvq(z, n_q=2)
    assert set(losses) == {"commitment", "codebook"} and codes.shape == (2, 32, 2)
    w = torch.randn_like(z)
    (zq * w).sum().backward(retain_graph=True)
    torch.testing.assert_close(z.grad, w)  # straight-through: identity
    losses["codebook"].backward()
    grads = [layer.embed.grad for layer in rvq.layers]
    assert grads[0] is not None and grads[1] is not None and grads[2] is None
    rvq.eval()
    with pytest.raises(RuntimeError, match="never been initialised"):
        rvq(z.detach())  # stage 3 never saw a batch: no silent all-zero codebook
    rvq.layers[2].set_codebook(torch.randn(8, 4))
    before = [cb.clone() for cb in rvq.codebooks]
    zq, codes, _ = rvq(z.detach())
    assert torch.equal(codes, rvq_encode(z.detach(), rvq.codebooks))
    assert all(torch.equal(a, b) for a, b in zip(before, rvq.codebooks, strict=True))
    torch.testing.assert_close(zq, rvq_decode(codes, rvq.codebooks), rtol=0, atol=1e-5)


def test_straight_through_does_not_broadcast():
    with pytest.raises(ValueError, match="zq"):
        straight_through(torch.zeros(3, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="zq"):
        straight_through(torch.zeros(3, 2), torch.zeros(2))


# =============================================================================== bitrate


def test_non_integer_hop_is_accepted_as_a_real_number():
    # some codecs resample, so frames per second need not be an integer division
    assert frame_rate(24_000, 320.5) == 24_000 / 320.5
    assert bitrate(24_000, 320.5, 8, 1024) == pytest.approx(24_000 / 320.5 * 80)
    assert frame_rate(44_100, 512) == pytest.approx(86.1328125)


def test_required_codecs_cite_their_source_and_give_the_numbers():
    required = {
        "encodec_24khz": (24_000, 75.0, 1024, "Défossez"),
        "soundstream": (24_000, 75.0, 1024, "Zeghidour"),
        "dac_44khz": (44_100, 44_100 / 512, 1024, "Kumar"),
        "mimi": (24_000, 12.5, 2048, "Moshi"),
    }
    for key, (sr, fps, k, who) in required.items():
        cfg = CODECS[key]
        assert (cfg.sample_rate, cfg.frame_rate, cfg.codebook_size) == (sr, fps, k)
        assert who in cfg.source and cfg.citation
    assert rvqlib.CODECS is CODECS


# ================================================================ validation everywhere


BAD = [
    (lambda: nearest(np.eye(3), np.eye(3), chunk_size=True), TypeError, "chunk_size"),
    (lambda: nearest(np.eye(3), [1.0, 2.0, 3.0]), ValueError, "codebook"),
    (lambda: nearest([[1, 2, 3], [1, 2]], np.eye(3)), TypeError, r"\bz\b"),
    (lambda: quantize(np.eye(3), np.eye(3)[None]), ValueError, "codebook"),
    (lambda: uniform_quantize([0.0], 4, np.array([0.0]), 1.0), TypeError, r"\blo\b"),
    (lambda: uniform_quantize([0.0], 4, 0.0, torch.tensor(1.0)), TypeError, r"\bhi\b"),
    (lambda: uniform_quantize([0.0], True, 0.0, 1.0), TypeError, "n_levels"),
    (lambda: lloyd_max(4, "Gaussian"), ValueError, "distribution"),
    (lambda: lloyd_max(-2), ValueError, "n_levels"),
    (lambda: lloyd_max(4, tol=float("nan")), ValueError, "tol"),
    (lambda: kmeans(np.zeros((5, 2)), True), TypeError, r"\bk\b"),
    (lambda: kmeans(np.zeros((5, 2)), 2, init=np.zeros((1, 2))), ValueError, "init"),
    (lambda: kmeans(np.zeros((5, 2)), 2, seed=np.random.RandomState(0)), TypeError, "seed"),
    (lambda: kmeans(np.zeros((5, 2)), 2, tol=float("nan")), ValueError, "tol"),
    (lambda: kmeans(np.zeros((5, 0)), 1), ValueError, r"\bx\b"),
    (lambda: kmeans(np.full((5, 2), np.inf), 1), ValueError, r"\bx\b"),
    (lambda: kmeans_plusplus(np.zeros(4), 1), ValueError, r"\bx\b"),
    (lambda: kmeans_plusplus(np.zeros((4, 2)), 0), ValueError, r"\bk\b"),
    (lambda: rvq_encode(np.zeros((2, 3)), (c for c in [np.eye(3)])), TypeError, "codebooks"),
    (lambda: rvq_encode(np.zeros((2, 3)), [np.eye(3)], n_q=True), TypeError, "n_q"),
    (lambda: rvq_encode(np.zeros((2, 3)), [np.eye(3)], n_q=2), ValueError, "n_q"),
    (lambda: rvq_encode(np.zeros(2), [np.eye(3)]), ValueError, "dimension mismatch"),
    (lambda: rvq_decode(np.array([[True]]), [np.eye(3)]), TypeError, "codes"),
    (lambda: rvq_decode(np.array([[np.nan]]), [np.eye(3)]), ValueError, "codes"),
    (lambda: rvq_decode(torch.tensor([[0.5]]), [torch.eye(3)]), ValueError, "codes"),
    (lambda: rvq_decode(torch.tensor([[3]]), [torch.eye(3)]), ValueError, "codes"),
    (lambda: rvq_decode(np.array([[0, 0]]), [np.eye(3)]), ValueError, "codes"),
    (lambda: train_rvq_codebooks(np.zeros((5, 2)), 2, [2, 2.0]), TypeError, r"k\[1\]"),
    (lambda: frame_rate(np.array([24_000]), 320), TypeError, "sample_rate"),
    (lambda: frame_rate(24_000, float("nan")), ValueError, "hop"),
    (lambda: bits_per_frame(True, 1024), TypeError, "n_q"),
    (lambda: bitrate(24_000, 320, 8, -1), ValueError, "codebook_size"),
    (lambda: empirical_entropy([0, 1], 4.0), TypeError, "codebook_size"),
    (lambda: empirical_entropy(np.array([[0, 5]]), 4), ValueError, "codes"),
    (lambda: straight_through(np.zeros(3), np.zeros(3)), TypeError, r"\bz\b"),
    (lambda: VectorQuantizer(2, 4, decay=float("nan")), ValueError, "decay"),
    (lambda: VectorQuantizer(2, 4, eps=-1.0), ValueError, "eps"),
    (lambda: VectorQuantizer(2, 4, beta=0.3), TypeError, "beta"),
    (lambda: VectorQuantizer(2, 4).set_codebook(torch.zeros(4, 3)), ValueError, "codebook"),
    (lambda: VectorQuantizer(2, 4).perplexity(torch.tensor([0.5])), ValueError, "indices"),
    (lambda: ResidualVQ(2, 2, 4, beta=1), TypeError, "beta"),
    (lambda: ResidualVQ(2, 2, 4).encode(np.zeros((3, 2))), TypeError, r"\bz\b"),
    (lambda: ResidualVQ(2, 2, 4).eval()(torch.zeros(3, 2), n_q=True), TypeError, "n_q"),
    (lambda: ResidualVQ(2, 2, 4).decode(torch.tensor([[0, 4]])), ValueError, "codes"),
    (lambda: ResidualVQ(2, 2, 4).decode(torch.tensor([[0, 0, 0]])), ValueError, "codes"),
    (lambda: ResidualVQ(2, 2, 4).set_codebooks(c for c in []), TypeError, "codebooks"),
    # ---- rvqlib 0.2
    (lambda: nearest(torch.zeros(2, 2, device="meta"), torch.zeros(2, 2)), ValueError, r"\bz\b"),
    (lambda: nearest(torch.zeros(2, 2), torch.eye(2).to_sparse()), TypeError, "codebook"),
    (lambda: quantize(torch.zeros(2, 2).to_sparse(), torch.eye(2)), TypeError, r"\bz\b"),
    (lambda: kmeans(torch.zeros(4, 2, device="meta"), 2), ValueError, r"\bx\b"),
    (
        lambda: rvq_decode(torch.zeros(1, 1, dtype=torch.long).to_sparse(), [torch.eye(2)]),
        TypeError,
        "codes",
    ),
    (lambda: nearest(np.array([[1e200, 0.0]]), np.array([[-1e200, 0.0]])), ValueError, "overflow"),
    (
        lambda: kmeans(np.array([[1e300, 0.0], [-1e300, 0.0], [0.0, 1e300]]), 1),
        ValueError,
        "inertia",
    ),
    (lambda: lloyd_max(2**21), ValueError, "n_levels"),
    (lambda: uniform_quantize(np.zeros(1, np.float32), 4, -1e300, 1e300), ValueError, r"\bx\b"),
    (lambda: bitrate(1e308, 1e-308, 8, 1024), ValueError, "sample_rate"),
    (lambda: frame_rate(1e-308, 1e308), ValueError, "hop"),
    (lambda: rotation_trick(torch.zeros(2), np.zeros(2)), TypeError, "zq"),
    (lambda: rotation_trick(torch.zeros(2, 3), torch.zeros(3, 2)), ValueError, "shape"),
    (lambda: VectorQuantizer(2, 4, codebook_dim=0), ValueError, "codebook_dim"),
    (lambda: VectorQuantizer(2, 4, normalize=1), TypeError, "normalize"),
    (lambda: VectorQuantizer(2, 4, gradient="straight"), ValueError, "gradient"),
    (lambda: VectorQuantizer(2, 4, channel_dim="1"), TypeError, "channel_dim"),
    (
        lambda: VectorQuantizer(2, 4)(torch.zeros(3, 2), mask=torch.ones(2, dtype=torch.bool)),
        ValueError,
        "mask",
    ),
    (lambda: VectorQuantizer(2, 4)(torch.zeros(3, 2), mask=torch.ones(3)), TypeError, "mask"),
    (lambda: VectorQuantizer(2, 4, channel_dim=1)(torch.zeros(2, 3)), ValueError, "channel_dim"),
    (lambda: VectorQuantizer(2, 4).eval()(torch.zeros(3, 2)), RuntimeError, "initialised"),
    (lambda: ResidualVQ(2, 2, 4, quantizer_dropout="sometimes"), ValueError, "quantizer_dropout"),
    (lambda: ResidualVQ(2, 2, 4, quantizer_dropout=0.5), TypeError, "quantizer_dropout"),
    (
        lambda: ResidualVQ(2, 2, 4, quantizer_dropout_prob=-0.1),
        ValueError,
        "quantizer_dropout_prob",
    ),
    (lambda: ResidualVQ(2, 2, 4, quantizer_dropout_prob=2.0), ValueError, "quantizer_dropout_prob"),
    (
        lambda: ResidualVQ(2, 2, 4, channel_dim=1).decode(torch.zeros(3, 5, 2, dtype=torch.long)),
        ValueError,
        "codes",
    ),
    (lambda: ResidualVQ(2, 2, 4).eval().encode(torch.zeros(3, 2)), RuntimeError, "initialised"),
]


@pytest.mark.parametrize(("call", "exc", "name"), BAD, ids=range(len(BAD)))
def test_bad_input_raises_naming_the_argument(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


# ================================================================ any dtype, any magnitude

#: dtype name -> (numpy dtype or None, torch dtype, decimal exponents it can hold with
#: room for D-term sums, unit roundoff)
WORK_DTYPES = {
    "float16": (np.float16, torch.float16, (-3, 3), 2.0**-11),
    "bfloat16": (None, torch.bfloat16, (-30, 30), 2.0**-8),
    "float32": (np.float32, torch.float32, (-37, 37), 2.0**-24),
    "float64": (np.float64, torch.float64, (-300, 300), 2.0**-53),
}


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(sorted(WORK_DTYPES)),
    st.sampled_from(["numpy", "torch"]),
    st.floats(0.0, 1.0),
    st.integers(1, 6),
    st.integers(1, 5),
    st.integers(1, 7),
    st.integers(0, 2**32 - 1),
    st.floats(0.0, 1.0),
)
def test_nearest_gives_the_float64_reference_for_every_dtype_and_magnitude(
    dtype, backend, where, n, d, k, seed, offset
):
    """Codes of the float64 reference (explicit differences) on the values as stored, for
    finite inputs of any magnitude the dtype holds; where that reference itself overflows
    for a vector, a ValueError saying so."""
    np_dtype, torch_dtype, (lo, hi), _ = WORK_DTYPES[dtype]
    if backend == "numpy" and np_dtype is None:
        backend = "torch"  # numpy has no bfloat16
    rng = np.random.default_rng(seed)
    scale = 10.0 ** (lo + where * (hi - lo))
    centre = offset * 30 * rng.normal(size=d)  # data far from the origin, sometimes
    z = (centre + rng.normal(size=(n, d))) * scale
    cb = (centre + rng.normal(size=(k, d))) * scale
    if backend == "numpy":
        with np.errstate(over="ignore"):  # beyond the dtype's range: skipped below
            zt, cbt = z.astype(np_dtype), cb.astype(np_dtype)
        z64, cb64 = zt.astype(np.float64), cbt.astype(np.float64)
    else:
        zt, cbt = torch.tensor(z).to(torch_dtype), torch.tensor(cb).to(torch_dtype)
        z64, cb64 = zt.double().numpy(), cbt.double().numpy()
    if not (np.isfinite(z64).all() and np.isfinite(cb64).all()):
        return  # beyond the dtype's range: not a finite input
    with np.errstate(over="ignore"):
        dist = brute_sqdist(z64, cb64)
    best = dist.min(axis=1)
    if not np.isfinite(best).all():
        with pytest.raises(ValueError, match="overflow"):
            nearest(zt, cbt)
        return
    got = as_np(nearest(zt, cbt))
    assert is_index(nearest(zt, cbt), backend)
    ref = dist.argmin(axis=1)
    # the reference's own rounding: a codeword closer than this to the best is a tie
    u = 2.0**-24 if dtype != "float64" else 2.0**-53
    with np.errstate(over="ignore"):
        norms = (z64**2).sum(1) + (cb64**2).sum(1).max()
    tie = 4 * (d + 2) * u * norms
    for i in range(n):
        if got[i] != ref[i]:
            assert dist[i, got[i]] - best[i] <= tie[i], (i, dist[i], got[i], ref[i])
    # exactly the reference wherever it is not a near tie
    second = np.sort(dist, axis=1)[:, 1] if k > 1 else np.full(n, np.inf)
    clear = second - best > tie
    np.testing.assert_array_equal(got[clear], ref[clear])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_functional_api_stays_on_the_cuda_device():
    dev = torch.device("cuda")
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 50, 4, generator=g).to(dev)
    books = [torch.randn(8, 4, generator=g).to(dev) for _ in range(2)]
    idx, zq = quantize(z, books[0])
    assert idx.device == dev and zq.device == dev and idx.dtype == torch.long
    assert torch.equal(idx.cpu(), nearest(z.cpu(), books[0].cpu()))
    codes = rvq_encode(z, books)
    assert codes.device == dev and rvq_decode(codes, books).device == dev
    res = kmeans(z, 4, seed=0)
    assert res.centroids.device == dev and res.labels.device == dev
    assert uniform_quantize(z, 4, -1.0, 1.0)[0].device == dev
    assert all(cb.device == dev for cb in train_rvq_codebooks(z, 2, 4, seed=0, n_iter=3))
    assert empirical_entropy(codes[..., 0], 8) >= 0.0
