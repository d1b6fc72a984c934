"""Regression tests for the nine defects of issue 11 (rvqlib 0.2).

Each test failed on rvqlib 0.1.0 and passes now; the defect's number is in the
test's name. The torch.compile / jit.trace defect (1) is in test_compile.py.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
import torch

import rvqlib
from rvqlib import (
    ResidualVQ,
    VectorQuantizer,
    bitrate,
    frame_rate,
    kmeans,
    kmeans_plusplus,
    lloyd_max,
    nearest,
    quantize,
    rvq_decode,
    rvq_encode,
    uniform_quantize,
)


def brute64(z, codebook) -> np.ndarray:
    """Nearest codeword by explicit differences in float64 (ties to the lowest index)."""
    z = np.asarray(torch.as_tensor(z).double() if isinstance(z, torch.Tensor) else z, np.float64)
    cb = np.asarray(
        torch.as_tensor(codebook).double() if isinstance(codebook, torch.Tensor) else codebook,
        np.float64,
    )
    d = ((z[..., None, :] - cb) ** 2).sum(-1)
    return d.argmin(-1)


# ---------------------------------------------------------------- 2: half precision
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_defect2_half_precision_search_gives_the_float64_answer(dtype):
    z = torch.tensor([[300.0, 0.0]], dtype=dtype)
    cb = torch.tensor([[0.0, 0.0], [290.0, 0.0], [300.0, 20.0]], dtype=dtype)
    assert int(nearest(z, cb)[0]) == 1  # 0.1.0: 0 in float16 (squared norms > 65,504)
    idx, zq = quantize(z, cb)
    assert zq.dtype == dtype and torch.equal(zq, cb[1:2])
    # the battery: D = 128, coordinates of standard deviation 24
    gen = torch.Generator().manual_seed(0)
    book = (24 * torch.randn(256, 128, generator=gen)).to(dtype)
    x = (24 * torch.randn(2000, 128, generator=gen)).to(dtype)
    np.testing.assert_array_equal(nearest(x, book).numpy(), brute64(x, book))
    codes = rvq_encode(x, [book, (book.float() / 8).to(dtype)])
    ref0 = brute64(x, book)
    assert np.array_equal(codes[:, 0].numpy(), ref0)
    # numpy float16 too
    xn, bn = x.float().numpy().astype(np.float16), book.float().numpy().astype(np.float16)
    np.testing.assert_array_equal(nearest(xn, bn), brute64(xn, bn))


# ---------------------------------------------------------------- 3: huge magnitudes
def test_defect3_huge_finite_values_give_the_right_codes():
    z = [[1e30, 0.0]]
    cb = [[0.0, 0.0], [1e30, 1e29], [1e30, 0.0]]
    for backend in (np.asarray, torch.tensor):
        assert (
            int(nearest(backend(np.array(z, np.float32)), backend(np.array(cb, np.float32)))[0])
            == 2
        )
    # float32 at its range's ends, and tiny values whose squares underflow float32
    for scale in (1e38, 3e-39, 1e-30):
        zz = np.array([[1.0, 0.3], [-0.5, 0.9]], np.float32) * np.float32(scale)
        bb = np.array([[0.9, 0.2], [-0.4, 1.0], [0.0, 0.0]], np.float32) * np.float32(scale)
        np.testing.assert_array_equal(nearest(zz, bb), brute64(zz, bb))
        np.testing.assert_array_equal(
            nearest(torch.from_numpy(zz), torch.from_numpy(bb)).numpy(), brute64(zz, bb)
        )
    # float64 beyond 2**400: scaled exactly, right answer while the nearest distance fits
    z64 = np.array([[1e200, 0.0]])
    assert int(nearest(z64, np.array([[0.0, 0.0], [1e200, 1e199], [1e200, 0.0]]))[0]) == 2
    # ... and a clear error when no codeword is at a distance float64 can hold
    with pytest.raises(ValueError, match="overflow float64"):
        nearest(z64, np.array([[-1e200, 0.0], [0.0, 1e200]]))
    with pytest.raises(ValueError, match="overflow float64"):
        rvq_encode(
            torch.tensor(z64), [torch.tensor([[-1e200, 0.0], [0.0, 1e200]], dtype=torch.float64)]
        )


def test_defect3_kmeans_inertia_of_huge_values_is_finite_and_right():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 2))
    for scale, dtype in ((1e25, np.float32), (1e-30, np.float32), (1e150, np.float64)):
        x = (base * scale).astype(dtype)
        res = kmeans(x, 3, seed=0)
        assert res.centroids.dtype == dtype and np.isfinite(res.centroids).all()
        ref = kmeans(base, 3, seed=0)  # the same problem at unit scale
        np.testing.assert_array_equal(res.labels, ref.labels)
        assert res.inertia == pytest.approx(ref.inertia * scale * scale, rel=1e-5)
        assert all(np.diff(res.history) <= 0)
    with pytest.raises(ValueError, match="inertia .* overflows float64"):
        kmeans(base * 1e300, 3, seed=0)  # the sum of squared distances is beyond 1e308
    t = kmeans(torch.from_numpy((base * 1e25).astype(np.float32)), 3, seed=0)
    assert np.isfinite(t.inertia) and t.inertia > 1e49


# ---------------------------------------------------------------- 4: uninitialised codebooks
def test_defect4_eval_before_any_initialisation_raises():
    z = torch.randn(10, 4)
    rvq = ResidualVQ(4, 2, 8).eval()
    for call in (
        lambda: rvq.encode(z),
        lambda: rvq(z),
        lambda: rvq.decode(torch.zeros(3, 2, dtype=torch.long)),
    ):
        with pytest.raises(RuntimeError, match="never been initialised"):
            call()
    vq = VectorQuantizer(4, 8).eval()
    with pytest.raises(RuntimeError, match="never been initialised"):
        vq(z)
    # initialised by set_codebooks, by a training batch, by load_state_dict, or kmeans_init=False
    rvq.set_codebooks([torch.randn(8, 4), torch.randn(8, 4)])
    assert rvq.encode(z).shape == (10, 2)
    trained = ResidualVQ(4, 2, 8)
    trained(torch.randn(64, 4))
    fresh = ResidualVQ(4, 2, 8)
    fresh.load_state_dict(trained.state_dict())
    assert torch.equal(fresh.eval().encode(z), trained.eval().encode(z))
    assert VectorQuantizer(4, 8, kmeans_init=False).eval()(z)[1].shape == (10,)


# ---------------------------------------------------------------- 5: meta and sparse tensors
def test_defect5_meta_and_sparse_tensors_get_the_documented_errors():
    cb = torch.randn(5, 4)
    meta = torch.randn(3, 4, device="meta")
    sparse = torch.randn(3, 4).to_sparse()
    calls = {
        "nearest": lambda z: nearest(z, cb if z.device.type != "meta" else cb.to("meta")),
        "quantize": lambda z: quantize(z, cb if z.device.type != "meta" else cb.to("meta")),
        "rvq_encode": lambda z: rvq_encode(z, [cb if z.device.type != "meta" else cb.to("meta")]),
        "kmeans": lambda z: kmeans(z, 2),
        "kmeans_plusplus": lambda z: kmeans_plusplus(z, 2),
        "uniform_quantize": lambda z: uniform_quantize(z, 4, -1.0, 1.0),
        "VectorQuantizer": lambda z: VectorQuantizer(4, 5)(z),
    }
    for call in calls.values():
        with pytest.raises(ValueError, match=r"meta tensor"):
            call(meta)
        with pytest.raises(TypeError, match=r"dense \(strided\)"):
            call(sparse)
    with pytest.raises(TypeError, match="codebook must be a dense"):
        nearest(torch.randn(3, 4), cb.to_sparse())
    with pytest.raises(ValueError, match="codes is a meta tensor"):
        rvq_decode(torch.zeros(2, 1, dtype=torch.long, device="meta"), [cb])


# ---------------------------------------------------------------- 6: lloyd_max at large sizes
def test_defect6_lloyd_max_at_300000_levels_takes_a_few_newton_steps(monkeypatch):
    import rvqlib.scalar as scalar

    steps = []
    newton = scalar._newton_step
    monkeypatch.setattr(scalar, "_newton_step", lambda r, j: steps.append(1) or newton(r, j))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "did not converge"
        q = lloyd_max(300_000)
    assert len(steps) <= 10  # 0.1.0: the Newton steps stalled and ~100,000 Lloyd steps ran
    assert np.all(np.diff(q.levels) > 0)
    # the high-resolution constant sqrt(3) pi / 2 of Panter and Dite
    assert q.mse * 300_000**2 == pytest.approx(np.sqrt(3) * np.pi / 2, rel=1e-4)


def test_defect6_lloyd_max_rejects_sizes_it_cannot_serve():
    with pytest.raises(ValueError, match=r"n_levels must be at most 1,048,576"):
        lloyd_max(2**20 + 1)


# ---------------------------------------------------------------- 7: four small defects
def test_defect7_residualvq_encode_of_an_empty_batch():
    books = [torch.randn(8, 4), torch.randn(8, 4)]
    rvq = ResidualVQ(4, 2, 8)
    rvq.set_codebooks(books)
    empty = torch.zeros(0, 4)
    assert rvq.eval().encode(empty).shape == rvq_encode(empty, books).shape == (0, 2)
    assert rvq(empty)[1].shape == (0, 2)


def test_defect7_uniform_quantize_and_bitrate_near_the_float_range():
    x = np.array([0.0, 1e308, -1e308, 5e307, -7e307])
    idx, xhat = uniform_quantize(x, 4, -1e308, 1e308)
    assert idx.tolist() == [1, 3, 0, 2, 0]
    np.testing.assert_array_equal(xhat, [-2.5e307, 7.5e307, -7.5e307, 2.5e307, -7.5e307])
    idx_t, xhat_t = uniform_quantize(torch.tensor(x), 4, -1e308, 1e308)
    assert idx_t.tolist() == idx.tolist() and torch.equal(xhat_t, torch.tensor(xhat))
    # a range too narrow for n_levels / (hi - lo): still the right cells
    assert uniform_quantize(np.array([0.0, 1e-310, 3e-311]), 4, 0.0, 1e-310)[0].tolist() == [
        0,
        3,
        1,
    ]
    # float32 x whose levels float32 cannot hold: an error, not inf
    with pytest.raises(ValueError, match="cannot hold the reconstruction levels"):
        uniform_quantize(np.array([0.5], np.float32), 4, -1e308, 1e308)
    with pytest.raises(ValueError, match="overflows"):
        bitrate(1e308, 1e-308, 8, 1024)
    with pytest.raises(ValueError, match="overflows"):
        bitrate(1e300, 1e-10, 8, 2**62)
    with pytest.raises(ValueError, match="underflows"):
        frame_rate(1e-308, 1e308)
    assert bitrate(24_000, 320, 8, 1024) == 6000.0


def test_defect7_import_rvqlib_kmeans_gives_the_module():
    import inspect

    import rvqlib.bitrate as br
    import rvqlib.kmeans as km

    assert inspect.ismodule(km) and inspect.ismodule(br)
    assert km is sys.modules["rvqlib.kmeans"] and km.KMeans is rvqlib.KMeans
    # the contract's calls still work: the modules forward calls to their function
    x = [[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]]
    assert rvqlib.kmeans(x, 2, seed=0).inertia == km.kmeans(x, 2, seed=0).inertia == 1.0
    assert rvqlib.bitrate(24_000, 320, 8, 1024) == br.bitrate(24_000, 320, 8, 1024) == 6000.0
    assert list(inspect.signature(rvqlib.kmeans).parameters)[:2] == ["x", "k"]


def test_import_rvqlib_fsq_gives_the_module_and_rvqlib_fsq_still_calls_fsq():
    # regression: rvqlib/__init__ bound rvqlib.fsq to the function, so rvqlib.fsq.FSQ
    # raised AttributeError and `import rvqlib.fsq as m` gave the function
    import inspect

    import rvqlib.fsq as m

    assert inspect.ismodule(m) and m is sys.modules["rvqlib.fsq"] and rvqlib.fsq is m
    assert rvqlib.fsq.FSQ is rvqlib.FSQ and rvqlib.fsq.fsq_decode is rvqlib.fsq_decode
    codes, zq = rvqlib.fsq([[0.1, -3.0], [2.0, 0.0]], levels=[3, 4])
    ref_codes, ref_zq = m.fsq([[0.1, -3.0], [2.0, 0.0]], levels=[3, 4])
    assert np.array_equal(codes, ref_codes) and np.array_equal(zq, ref_zq)
    assert list(inspect.signature(rvqlib.fsq).parameters) == ["z", "levels"]


def test_defect7_rvq_encode_peak_memory_is_what_the_docstring_says():
    """Peak extra memory (numpy path, seen by tracemalloc): codes + one score block + 3 blocks."""
    from rvqlib.rvq import RVQ_BLOCK_BYTES

    rng = np.random.default_rng(0)
    n, d, k, n_q = 200_000, 16, 64, 4
    z = rng.normal(size=(n, d))
    books = [rng.normal(size=(k, d)) * 0.5**s for s in range(n_q)]
    rvq_encode(z[:100], books)  # warm-up: lazy imports and caches
    tracemalloc.start()
    try:
        codes = rvq_encode(z, books)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rows = RVQ_BLOCK_BYTES // (k * 8)
    bound = codes.nbytes + RVQ_BLOCK_BYTES + 3 * rows * d * 8 + 2**20  # 1 MiB slack
    assert peak <= bound, (peak / z.nbytes, bound / z.nbytes)
    assert peak < 0.9 * z.nbytes  # 0.1.0: about 3.25 times the input


# ---------------------------------------------------------------- 8: import cost
def test_defect8_import_rvqlib_pays_only_for_numpy_and_torch():
    code = (
        "import rvqlib, sys; print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'scipy','matplotlib','IPython','sklearn'}))\n"
        # the helpers stay reachable from the top level, imported on first use
        "assert 'rvqlib.book' not in sys.modules and 'torch._dynamo' not in sys.modules\n"
        "assert callable(rvqlib.setup) and callable(rvqlib.animation_html)\n"
        "assert rvqlib.data.gaussian_blobs and rvqlib.exercises.CheckResult\n"
        "from rvqlib import setup; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split("\n")[:2] == ["[]", "ok"], out.stdout + out.stderr[-2000:]


# ---------------------------------------------------------------- 9: k-means++ seeding
def sklearn_greedy_kmeanspp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """scikit-learn's greedy k-means++ (2 + floor(ln k) candidates, float64 distances)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    trials = 2 + int(np.log(k))
    idx = [int(rng.integers(n))]

    def d2(rows):
        return ((x[None, :, :] - x[rows][:, None, :]) ** 2).sum(-1)

    closest = d2([idx[0]])[0]
    potential = closest.sum()
    for _ in range(1, k):
        cand = np.searchsorted(np.cumsum(closest), rng.uniform(size=trials) * potential)
        cand = np.clip(cand, None, n - 1)
        d = np.minimum(closest, d2(cand))
        pots = d.sum(1)
        best = int(np.argmin(pots))
        idx.append(int(cand[best]))
        potential, closest = pots[best], d[best]
    return np.array(idx)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_defect9_kmeanspp_is_scikit_learns_greedy_seeding_in_float64(backend):
    """Tight float32 clusters far apart: float32 distances lost the D^2 weights in 0.1.0."""
    rng = np.random.default_rng(0)
    centres = rng.uniform(-1000, 1000, size=(12, 3))
    x = (centres[rng.integers(12, size=600)] + 1e-3 * rng.normal(size=(600, 3))).astype(np.float32)
    xx = torch.from_numpy(x) if backend == "torch" else x
    for seed in range(4):
        _, ours = kmeans_plusplus(xx, 12, np.random.default_rng(seed), return_indices=True)
        np.testing.assert_array_equal(
            ours, sklearn_greedy_kmeanspp(x, 12, np.random.default_rng(seed))
        )
