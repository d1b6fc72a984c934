"""Tests for rvqlib.scalar: uniform quantizer, Lloyd-Max against Max (1960) and integrals."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from rvqlib.scalar import (
    MAX_1960_GAUSSIAN,
    MAX_1960_SOURCE,
    LloydMax,
    lloyd_max,
    uniform_quantize,
)
from rvqlib.vq import nearest

# independent unit-variance densities from scipy.stats (not rvqlib's closed forms)
PDFS = {
    "gaussian": stats.norm().pdf,
    "laplace": stats.laplace(scale=1 / math.sqrt(2)).pdf,
    "uniform": stats.uniform(loc=-math.sqrt(3), scale=2 * math.sqrt(3)).pdf,
}
SUPPORT = {"gaussian": (-np.inf, np.inf), "laplace": (-np.inf, np.inf)}
SUPPORT["uniform"] = (-math.sqrt(3), math.sqrt(3))


def _quad(f, a, b):
    return integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-12, limit=200)[0]


# ----------------------------------------------------------------------------- Max's table


def test_max_table_has_n_1_to_8_with_source():
    assert set(range(1, 9)) <= set(MAX_1960_GAUSSIAN)
    assert "Max" in MAX_1960_SOURCE and "1960" in MAX_1960_SOURCE
    for n, entry in MAX_1960_GAUSSIAN.items():
        assert len(entry.levels) == n and len(entry.thresholds) == n - 1
        assert list(entry.levels) == sorted(entry.levels)


@pytest.mark.parametrize("n", range(1, 9))
def test_lloyd_max_reproduces_max_1960(n):
    q = lloyd_max(n)
    ref = MAX_1960_GAUSSIAN[n]
    np.testing.assert_allclose(q.levels, ref.levels, atol=1e-3, rtol=0)
    np.testing.assert_allclose(q.thresholds, ref.thresholds, atol=1e-3, rtol=0)
    assert q.mse == pytest.approx(ref.mse, abs=1e-3)


# ----------------------------------------------------------------------------- fixed point


@pytest.mark.parametrize("distribution", ["gaussian", "laplace", "uniform"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_lloyd_max_is_a_fixed_point_by_numerical_integration(distribution, n):
    q = lloyd_max(n, distribution)
    assert isinstance(q, LloydMax)
    assert q.thresholds.shape == (n - 1,) and q.levels.shape == (n,)
    pdf = PDFS[distribution]
    lo, hi = SUPPORT[distribution]
    # nearest-neighbour condition
    np.testing.assert_allclose(q.thresholds, (q.levels[:-1] + q.levels[1:]) / 2, atol=1e-12)
    # centroid condition and the MSE, with scipy.integrate.quad on scipy.stats densities
    edges = [lo, *q.thresholds, hi]
    mse = 0.0
    for i, y in enumerate(q.levels):
        a, b = edges[i], edges[i + 1]
        mass = _quad(pdf, a, b)
        mean = _quad(lambda t: t * pdf(t), a, b) / mass
        assert y == pytest.approx(mean, abs=1e-6)
        mse += _quad(lambda t, y=y: (t - y) ** 2 * pdf(t), a, b)
    assert q.mse == pytest.approx(mse, abs=1e-6)


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("n", range(1, 11))
def test_uniform_density_closed_form(n):
    q = lloyd_max(n, "uniform")
    delta = 2 * math.sqrt(3) / n
    edges = -math.sqrt(3) + delta * np.arange(n + 1)
    np.testing.assert_allclose(q.levels, (edges[:-1] + edges[1:]) / 2, atol=1e-9)
    np.testing.assert_allclose(q.thresholds, edges[1:-1], atol=1e-9)
    assert q.mse == pytest.approx(delta**2 / 12, rel=1e-9)
    assert q.mse == pytest.approx(1 / n**2, rel=1e-9)


def test_two_level_closed_forms():
    g = lloyd_max(2, "gaussian")
    np.testing.assert_allclose(g.levels, [-math.sqrt(2 / math.pi), math.sqrt(2 / math.pi)])
    assert g.mse == pytest.approx(1 - 2 / math.pi, abs=1e-12)
    lap = lloyd_max(2, "laplace")
    np.testing.assert_allclose(lap.levels, [-1 / math.sqrt(2), 1 / math.sqrt(2)], atol=1e-12)
    assert lap.mse == pytest.approx(0.5, abs=1e-12)
    assert lloyd_max(1, "laplace").mse == pytest.approx(1.0, abs=1e-12)


def test_laplace_three_levels_against_independent_solution():
    # 3 levels {-y, 0, y}, threshold t = y/2. For the unit-variance Laplace (scale s),
    # the centroid of (t, inf) is t + s, so y = y/2 + s: y = 2 s = sqrt(2), t = 1/sqrt(2).
    q = lloyd_max(3, "laplace")
    np.testing.assert_allclose(q.levels, [-math.sqrt(2), 0.0, math.sqrt(2)], atol=1e-8)
    np.testing.assert_allclose(q.thresholds, [-1 / math.sqrt(2), 1 / math.sqrt(2)], atol=1e-8)


def test_mse_decreases_with_levels_and_laplace_is_harder():
    for dist in ("gaussian", "laplace", "uniform"):
        mses = [lloyd_max(n, dist).mse for n in range(1, 9)]
        assert np.all(np.diff(mses) < 0)
    for n in range(2, 9):
        assert lloyd_max(n, "uniform").mse < lloyd_max(n, "gaussian").mse
        assert lloyd_max(n, "gaussian").mse < lloyd_max(n, "laplace").mse


@pytest.mark.parametrize(
    ("distribution", "limit"),
    [("gaussian", math.sqrt(3) * math.pi / 2), ("laplace", 4.5)],
)
def test_high_resolution_limit(distribution, limit):
    # Panter-Dite: L^2 * mse -> (integral of p^(1/3))^3 / 12, which is sqrt(3) pi / 2 for the
    # unit Gaussian and 9/2 for the unit-variance Laplace density
    scaled = [n * n * lloyd_max(n, distribution).mse for n in (16, 32, 64)]
    assert scaled[0] < scaled[1] < scaled[2] < limit
    assert scaled[2] == pytest.approx(limit, rel=0.04)


def test_mse_matches_monte_carlo():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(400_000)
    q = lloyd_max(4)
    xhat = q.levels[np.searchsorted(q.thresholds, x)]
    assert np.mean((x - xhat) ** 2) == pytest.approx(q.mse, rel=0.01)


def test_lloyd_max_warns_without_convergence():
    with pytest.warns(RuntimeWarning, match="did not converge"):
        lloyd_max(8, max_iter=2)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((0,), {}, ValueError, "n_levels must be positive"),
        ((2.0,), {}, TypeError, "n_levels must be an integer"),
        ((4, "cauchy"), {}, ValueError, "distribution must be one of"),
        ((4, 3), {}, TypeError, "distribution must be a string"),
        ((4,), {"tol": 0.0}, ValueError, "tol must be a finite number > 0"),
        ((4,), {"tol": "small"}, TypeError, "tol must be a real number"),
        ((4,), {"max_iter": 0}, ValueError, "max_iter must be positive"),
    ],
)
def test_lloyd_max_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        lloyd_max(*args, **kwargs)


# ----------------------------------------------------------------------------- uniform


def test_uniform_quantize_example_and_clipping():
    idx, xhat = uniform_quantize([-3.0, -1.0, -0.2, 0.0, 0.3, 0.5, 1.0, 7.0], 4, -1.0, 1.0)
    assert idx.dtype == np.int64
    # thresholds -0.5, 0, 0.5: values on a threshold go to the lower cell
    assert idx.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert xhat.tolist() == [-0.75, -0.75, -0.25, -0.25, 0.25, 0.25, 0.75, 0.75]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(-80, 80), min_size=1, max_size=30),
    st.sampled_from([1, 2, 4, 8]),
)
def test_uniform_quantize_is_nearest_level_with_ties_low(values, n_levels):
    # dyadic values on [-2, 2]: every comparison is exact, ties are real ties
    x = np.asarray(values, dtype=np.float64) / 16
    lo, hi = -2.0, 2.0
    step = (hi - lo) / n_levels
    levels = lo + step * (np.arange(n_levels) + 0.5)
    idx, xhat = uniform_quantize(x, n_levels, lo, hi)
    np.testing.assert_array_equal(idx, nearest(x[:, None], levels[:, None]))
    np.testing.assert_array_equal(xhat, levels[idx])
    inside = (x >= lo) & (x <= hi)
    assert np.all(np.abs(x - xhat)[inside] <= step / 2)


def test_uniform_quantize_mse_is_step_squared_over_12():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=200_000)
    _, xhat = uniform_quantize(x, 16, -1.0, 1.0)
    assert np.mean((x - xhat) ** 2) == pytest.approx((2 / 16) ** 2 / 12, rel=0.02)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_uniform_quantize_torch(dtype):
    x = torch.linspace(-2, 2, 41, dtype=dtype).reshape(41, 1)
    idx, xhat = uniform_quantize(x, 8, -1.5, 1.5)
    assert idx.dtype == torch.long and idx.shape == x.shape
    assert xhat.dtype == dtype and xhat.shape == x.shape
    ref_idx, ref_hat = uniform_quantize(x.double().numpy(), 8, -1.5, 1.5)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    np.testing.assert_allclose(xhat.double().numpy(), ref_hat, rtol=1e-6)


def test_uniform_quantize_numpy_dtype_kept():
    _, xhat = uniform_quantize(np.zeros(3, np.float32), 2, -1, 1)
    assert xhat.dtype == np.float32


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        (([0.0], 0, -1.0, 1.0), ValueError, "n_levels must be positive"),
        (([0.0], 4, 1.0, 1.0), ValueError, "lo must be smaller than hi"),
        (([0.0], 4, 2.0, 1.0), ValueError, "lo must be smaller than hi"),
        (([0.0], 4, -np.inf, 1.0), ValueError, "lo must be finite"),
        (([0.0], 4, -1.0, "1"), TypeError, "hi must be a real number"),
        (([np.nan], 4, -1.0, 1.0), ValueError, "x must be finite"),
        ((["a"], 4, -1.0, 1.0), TypeError, "x must be an array of real numbers"),
    ],
)
def test_uniform_quantize_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        uniform_quantize(*args)


@pytest.mark.parametrize("x", [0.3, np.float64(0.3), np.array(0.3), np.float32(0.3), 1])
def test_uniform_quantize_scalar_gives_zero_d_arrays(x):
    # was: TypeError "return arrays must be of ArrayType" (np.clip(out=) on a numpy scalar)
    idx, xhat = uniform_quantize(x, 4, 0.0, 1.0)
    assert isinstance(idx, np.ndarray) and idx.shape == () and idx.dtype == np.int64
    assert isinstance(xhat, np.ndarray) and xhat.shape == ()
    assert xhat.dtype == (np.float32 if isinstance(x, np.float32) else np.float64)
    expected = (3, 0.875) if x == 1 else (1, 0.375)
    assert (int(idx), float(xhat)) == expected


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_uniform_quantize_values_far_outside_go_to_the_end_cells(backend, dtype):
    # was: the int64 conversion came before the clipping, so -1e30 wrapped to the top cell
    big = float(np.finfo(dtype).max)
    with np.errstate(over="ignore"):  # 1e19 and 1e30 are inf in float16: drop those
        x = np.array([-big, -1e30, -1e19, -2.0, 2.0, 1e19, 1e30, big]).astype(dtype)
    x = x[np.isfinite(x)]
    xx = torch.from_numpy(x) if backend == "torch" else x
    idx, xhat = uniform_quantize(xx, 4, -1.0, 1.0)
    n = len(x) // 2
    assert np.asarray(idx).tolist() == [0] * n + [3] * n
    np.testing.assert_array_equal(np.asarray(xhat, np.float64), [-0.75] * n + [0.75] * n)


def test_uniform_quantize_half_precision_index_is_computed_in_float64():
    # bfloat16 has 8 significant bits: (x - lo) * L/(hi - lo) near 200 would round to
    # whole cells; the index is computed in float64 and equals the float64 one
    x = torch.linspace(-1, 1, 1001, dtype=torch.float64).to(torch.bfloat16)
    idx, xhat = uniform_quantize(x, 256, -1.0, 1.0)
    ref, _ = uniform_quantize(x.double().numpy(), 256, -1.0, 1.0)
    np.testing.assert_array_equal(idx.numpy(), ref)
    assert xhat.dtype == torch.bfloat16


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_uniform_quantize_float32_value_just_past_an_edge_gets_the_float64_cell(backend):
    # was: 45118, the float32 (x - lo) * L/(hi - lo) rounds this value, 0.004 cells past
    # the edge of cell 45119, back onto the edge; float64 (and exact arithmetic) give 45119
    x = np.array([0.3769226372241974], np.float32)
    assert 0 < (float(x[0]) + 1) * 32768 - 45119 < 0.01  # exact position: just past the edge
    xx = torch.from_numpy(x) if backend == "torch" else x
    idx, xhat = uniform_quantize(xx, 65536, -1.0, 1.0)
    assert np.asarray(idx).tolist() == [45119]
    assert xhat.dtype == xx.dtype
    assert float(xhat[0]) == float(np.float32(-1 + 45119.5 / 32768))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_uniform_quantize_narrow_dtypes_get_the_float64_reference(backend, dtype):
    # was: float32 input computed in float32, off by one cell for ~0.1 % of samples at 16 bits
    if dtype == "bfloat16" and backend == "numpy":
        pytest.skip("numpy has no bfloat16")
    rng = np.random.default_rng(3)
    x64 = rng.uniform(-1.1, 1.1, 100_000)
    if backend == "torch":
        xx = torch.from_numpy(x64).to(getattr(torch, dtype))
        values = xx.double().numpy()
    else:
        xx = x64.astype(dtype)
        values = xx.astype(np.float64)
    for n_levels in (65536, 1000, 7):
        idx, xhat = uniform_quantize(xx, n_levels, -1.0, 1.0)
        ref_idx, ref_xhat = uniform_quantize(values, n_levels, -1.0, 1.0)
        np.testing.assert_array_equal(np.asarray(idx), ref_idx)
        assert xhat.dtype == xx.dtype
        if backend == "torch":
            expected = torch.from_numpy(ref_xhat).to(xx.dtype)
            assert torch.equal(xhat, expected)
        else:
            np.testing.assert_array_equal(xhat, ref_xhat.astype(dtype))
    # and the float64 reference itself is exact arithmetic's cell (midrise, ties down)
    if backend == "numpy" and dtype == "float32":
        from fractions import Fraction

        for v, i in zip(
            values[:300], uniform_quantize(values[:300], 65536, -1.0, 1.0)[0], strict=True
        ):
            pos = (Fraction(float(v)) + 1) * 32768
            want = min(max(math.ceil(pos) - 1, 0), 65535)
            assert i == want


# ------------------------------------------------------------------- Lloyd-Max at many levels


@pytest.mark.parametrize("distribution", ["gaussian", "laplace"])
def test_newton_solution_is_the_limit_of_lloyds_iteration(distribution):
    # plain Lloyd iteration (alternate the two conditions) from the quantile start, with the
    # partial moments that the quadrature tests above check: lloyd_max must be its limit
    moments = sys.modules["rvqlib.scalar"]._DENSITIES[distribution].moments
    ppf = stats.norm().ppf if distribution == "gaussian" else stats.laplace(scale=0.5**0.5).ppf
    n = 12
    y = ppf((np.arange(n) + 0.5) / n)
    for _ in range(5000):
        t = np.concatenate([[-np.inf], (y[:-1] + y[1:]) / 2, [np.inf]])
        mass, m1, _ = moments(t[:-1], t[1:])
        y = m1 / mass
    np.testing.assert_allclose(lloyd_max(n, distribution).levels, y, atol=1e-9)


@pytest.mark.parametrize("distribution", ["gaussian", "laplace", "uniform"])
def test_lloyd_max_256_levels_is_fast_and_converges(distribution, recwarn):
    # was: 12-15 s, and a non-convergence warning for the Laplace density
    import time

    start = time.perf_counter()
    q = lloyd_max(256, distribution)
    assert time.perf_counter() - start < 1.0  # measured ~1-5 ms
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert np.all(np.diff(q.levels) > 0)
    np.testing.assert_array_equal(q.levels, -q.levels[::-1])
    np.testing.assert_allclose(q.thresholds, (q.levels[:-1] + q.levels[1:]) / 2, atol=1e-15)
    # Panter-Dite: 256^2 * mse is within 1% below its limit (1 for the uniform: exact)
    limit = {"gaussian": math.sqrt(3) * math.pi / 2, "laplace": 4.5, "uniform": 1.0}
    assert 0.99 * limit[distribution] < 256**2 * q.mse <= limit[distribution] * (1 + 1e-9)


@pytest.mark.parametrize("distribution", ["gaussian", "laplace"])
def test_lloyd_max_256_levels_are_centroids_by_quadrature(distribution):
    q = lloyd_max(256, distribution)
    pdf = PDFS[distribution]
    edges = [-np.inf, *q.thresholds, np.inf]
    for i in (128, 129, 200, 250, 254, 255):  # positive cells, the far tail included
        a, b = edges[i], edges[i + 1]
        mass = integrate.quad(pdf, a, b, epsabs=0, epsrel=1e-13, limit=200)[0]
        mean = integrate.quad(lambda t: t * pdf(t), a, b, epsabs=0, epsrel=1e-13)[0] / mass
        assert q.levels[i] == pytest.approx(mean, abs=1e-10)


def test_laplace_tail_moments_keep_relative_precision():
    # the outermost cells of many-level Laplace quantizers hold masses ~1e-7..1e-13, where
    # differences of the cumulative closed forms lose every digit
    moments = sys.modules["rvqlib.scalar"]._laplace_moments
    a = np.array([10.0, 15.0, 20.0, -21.0, 0.0, -3.0])
    b = np.array([10.5, np.inf, 20.0 + 1e-6, -20.0, 1e-9, 3.0])
    mass, m1, _ = moments(a, b)
    # reference in extended precision, each tail from its own side: P(t > x) = e^(-x/s) / 2
    s = np.longdouble(1) / np.sqrt(np.longdouble(2))
    la, lb = a.astype(np.longdouble), b.astype(np.longdouble)
    tail = lambda x: np.exp(-np.abs(x) / s) / 2  # noqa: E731
    exact = np.where(a >= 0, tail(la) - tail(lb), np.where(b <= 0, tail(lb) - tail(la), 0))
    exact = np.where((a < 0) & (b > 0), 1 - tail(la) - tail(lb), exact)
    np.testing.assert_allclose(mass, exact.astype(np.float64), rtol=1e-9)
    for lo, hi, m, w in zip(a, b, m1, mass, strict=True):
        # conditional mean by quadrature of the density rescaled by a constant (so that it
        # is ~1 on the cell: quad loses accuracy on values ~1e-13)
        near = min(abs(lo), abs(hi)) if lo >= 0 or hi <= 0 else 0.0
        f = lambda t, near=near: np.exp(-(abs(t) - near) * math.sqrt(2))  # noqa: E731
        hi = min(hi, lo + 60)  # beyond, the tail holds a fraction e^-85 of the cell
        z0 = integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
        z1 = integrate.quad(lambda t, f=f: t * f(t), lo, hi, epsabs=1e-14, epsrel=1e-13)[0]
        assert m / w == pytest.approx(z1 / z0, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("distribution", ["gaussian", "laplace", "uniform"])
@pytest.mark.parametrize("n", [5, 6])
def test_newton_jacobian_matches_finite_differences(distribution, n):
    sc = sys.modules["rvqlib.scalar"]
    density = sc._DENSITIES[distribution]
    odd, m = n % 2 == 1, n // 2
    pos = density.compander_quantile((np.arange(n) + 0.5) / n)[n - m :] * 1.1
    _, jac = sc._half_centroid_map(pos, density, odd)
    h = 1e-6
    for k in range(m):
        e = np.zeros(m)
        e[k] = h
        col = (
            sc._half_centroid_map(pos + e, density, odd)[0]
            - sc._half_centroid_map(pos - e, density, odd)[0]
        ) / (2 * h)
        expected = np.zeros(m)
        expected[k] = jac[1, k]
        if k > 0:
            expected[k - 1] = jac[2, k - 1]
        if k < m - 1:
            expected[k + 1] = jac[0, k + 1]
        np.testing.assert_allclose(col, expected, atol=1e-7)
