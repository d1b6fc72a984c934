"""Tests of rvqlib.transform: the KLT, greedy bit allocation and transform coding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from rvqlib.data import correlated_gaussian
from rvqlib.metrics import mse
from rvqlib.scalar import lloyd_max
from rvqlib.transform import KLT, allocate_bits, klt, lloyd_max_mse_table, transform_code


# --------------------------------------------------------------------------- klt
def test_klt_of_correlated_pairs_is_the_45_degree_rotation() -> None:
    x = correlated_gaussian(200_000, 0.9, seed=0)
    t = klt(x)
    assert t.variances == pytest.approx([1.9, 0.1], rel=0.02)
    assert np.allclose(np.abs(t.basis), np.sqrt(0.5), atol=0.01)
    assert np.allclose(t.basis.T @ t.basis, np.eye(2))
    u = (x - t.mean) @ t.basis
    assert np.allclose(u.var(axis=0), t.variances)
    assert abs(np.corrcoef(u, rowvar=False)[0, 1]) < 1e-10  # decorrelated


def test_klt_sorts_variances_and_fixes_signs() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5000, 4)) * np.array([0.5, 3.0, 1.0, 2.0]) + 7.0
    t = klt(x)
    assert np.all(np.diff(t.variances) <= 0)
    assert np.allclose(t.mean, 7.0, atol=0.1)
    cols = np.arange(4)
    assert np.all(t.basis[np.argmax(np.abs(t.basis), axis=0), cols] > 0)
    again = klt(-x + 14.0)  # the same axes: same basis, by the sign rule
    assert np.allclose(again.basis, t.basis) and np.allclose(again.variances, t.variances)


def test_klt_accepts_torch_and_lists() -> None:
    x = correlated_gaussian(100, 0.5, seed=1)
    ref = klt(x)
    for form in (torch.from_numpy(x), x.tolist()):
        t = klt(form)
        assert isinstance(t, KLT) and np.allclose(t.basis, ref.basis)


@pytest.mark.parametrize(
    ("bad", "error", "phrase"),
    [
        (np.zeros(3), ValueError, "shape (N, D)"),
        (np.zeros((1, 2)), ValueError, "at least 2 vectors"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), ValueError, "finite"),
        ("abc", TypeError, "real numbers"),
    ],
)
def test_klt_rejects_bad_input(bad, error, phrase) -> None:
    with pytest.raises(error, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        klt(bad)


# --------------------------------------------------------------------------- allocation
def test_mse_table_is_lloyd_max_and_convex() -> None:
    for dist in ("gaussian", "laplace", "uniform"):
        d = lloyd_max_mse_table(6, dist)
        assert d[0] == 1.0 and d[2] == pytest.approx(lloyd_max(4, dist).mse)
        assert np.all(np.diff(d) < 0) and np.all(np.diff(d, 2) > 0)  # decreasing, convex


def _brute_force(var: np.ndarray, total: int, d: np.ndarray) -> float:
    best = np.inf
    for bits in itertools.product(range(len(d)), repeat=len(var)):
        if sum(bits) == total:
            best = min(best, float(np.sum(var * d[list(bits)])))
    return best


@pytest.mark.parametrize(
    ("var", "total"),
    [([1.9, 0.1], 4), ([1.0, 1.0], 3), ([4.0, 1.0, 0.25], 6), ([0.3, 2.0, 0.01, 1.0], 7)],
)
def test_greedy_allocation_is_optimal(var, total) -> None:
    var = np.array(var)
    bits = allocate_bits(var, total, max_bits=6)
    d = lloyd_max_mse_table(6)
    assert bits.dtype == np.int64 and bits.sum() == total
    assert np.sum(var * d[bits]) == pytest.approx(_brute_force(var, total, d))


def test_allocation_of_the_chapter_pair_and_ties() -> None:
    assert allocate_bits([1.9, 0.1], 4).tolist() == [3, 1]
    assert allocate_bits([1.0, 1.0], 1).tolist() == [1, 0]  # a tie goes to the lowest index
    assert allocate_bits([1.0, 2.0], 0).tolist() == [0, 0]
    assert allocate_bits([1.0, 0.0], 3, max_bits=2).tolist() == [2, 1]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "phrase"),
    [
        (([1.0, -1.0], 2), {}, ValueError, ">= 0"),
        (([[1.0]], 2), {}, ValueError, "shape"),
        (([1.0], 2.0), {}, TypeError, "total_bits"),
        (([1.0], -1), {}, ValueError, "total_bits"),
        (([1.0], 5), {"max_bits": 4}, ValueError, "exceeds"),
        (([1.0], 1), {"distribution": "cauchy"}, ValueError, "distribution"),
    ],
)
def test_allocation_rejects_bad_input(args, kwargs, error, phrase) -> None:
    with pytest.raises(error, match=phrase):
        allocate_bits(*args, **kwargs)


# --------------------------------------------------------------------------- coding
def test_identity_transform_is_per_coordinate_lloyd_max() -> None:
    x = np.random.default_rng(0).normal(size=(1000, 2))
    ident = KLT(np.zeros(2), np.eye(2), np.ones(2))
    codes, x_hat = transform_code(x, np.array([2, 3]), ident)
    for j, b in enumerate((2, 3)):
        q = lloyd_max(2**b)
        assert np.array_equal(codes[:, j], np.searchsorted(q.thresholds, x[:, j]))
        assert np.allclose(x_hat[:, j], q.levels[codes[:, j]])
    assert codes.dtype == np.int64 and codes.min() == 0 and codes[:, 1].max() == 7


def test_value_on_a_threshold_goes_to_the_lower_cell() -> None:
    q = lloyd_max(4)
    ident = KLT(np.zeros(1), np.eye(1), np.ones(1))
    codes, _ = transform_code(q.thresholds[:, None], np.array([2]), ident)
    assert codes[:, 0].tolist() == [0, 1, 2]


def test_transform_coding_meets_its_prediction() -> None:
    """Coded MSE = sum_j variance_j d(b_j) / D, on Gaussian data (within sampling error)."""
    train = correlated_gaussian(20_000, 0.9, seed=1)
    test = correlated_gaussian(20_000, 0.9, seed=2)
    t = klt(train)
    bits = allocate_bits(t.variances, 4)
    _, x_hat = transform_code(test, bits, t)
    d = lloyd_max_mse_table(4)
    predicted = float(np.sum(t.variances * d[bits]) / 2)
    assert mse(test, x_hat) == pytest.approx(predicted, rel=0.05)
    assert mse(test, x_hat) < 0.5 * mse(test, transform_code(test, np.array([2, 2]), t)[1])
    zero = transform_code(test, np.array([0, 0]), t)[1]  # no bits: the mean
    assert np.allclose(zero, t.mean)


def test_transform_code_rejects_bad_input() -> None:
    x = np.zeros((3, 2))
    t = KLT(np.zeros(2), np.eye(2), np.ones(2))
    with pytest.raises(TypeError, match="KLT"):
        transform_code(x, np.array([1, 1]), (np.zeros(2), np.eye(2), np.ones(2)))
    with pytest.raises(TypeError, match="integers"):
        transform_code(x, np.array([1.0, 1.0]), t)
    with pytest.raises(ValueError, match="shape"):
        transform_code(x, np.array([1, 1, 1]), t)
    with pytest.raises(ValueError, match="orthonormal"):
        transform_code(x, np.array([1, 1]), KLT(np.zeros(2), 2 * np.eye(2), np.ones(2)))
    with pytest.raises(ValueError, match="zero variance"):
        transform_code(x, np.array([1, 1]), KLT(np.zeros(2), np.eye(2), np.array([1.0, 0.0])))
    with pytest.raises(ValueError, match="D = 2"):
        transform_code(x, np.array([1, 1]), KLT(np.zeros(3), np.eye(3), np.ones(3)))


# --------------------------------------------------------------------------- extremes
def test_klt_refuses_variances_that_overflow_instead_of_returning_nan() -> None:
    # was: variances [nan nan]: the covariance (1e400) overflowed
    with pytest.raises(ValueError, match="variances of x overflow float64"):
        klt(np.array([[1e200, 0.0], [-1e200, 1.0]]))


@pytest.mark.parametrize("power", [509, -600, 0])
def test_klt_of_huge_or_tiny_data_is_the_scaled_klt(power) -> None:
    # was: at 2**509 (variances ~2**1020) the sum of squares over N vectors overflowed
    # (NaN); at 2**-600 the covariance underflowed and the basis was arbitrary. A
    # power-of-two scale is exact: the same basis, the mean and variances scaled.
    rng = np.random.default_rng(4)
    mix = np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.2]])
    x = rng.normal(size=(200, 3)) @ mix + 3.0  # an offset, so the mean matters
    ref = klt(x)
    t = klt(np.ldexp(x, power))
    np.testing.assert_array_equal(t.basis, ref.basis)
    np.testing.assert_array_equal(t.mean, np.ldexp(ref.mean, power))
    # 2**-1200 is below the smallest float64: those variances come back as 0
    np.testing.assert_array_equal(t.variances, np.ldexp(ref.variances, 2 * power))
    assert np.isfinite(t.variances).all()


def test_klt_of_values_near_the_float64_limit() -> None:
    # was: the mean's sum overflowed (1.7e308 + 1.7e308), and every field was NaN
    y = np.array([[1.7e308, -1.7e308]] * 4)  # 4 rows: the mean is exact
    t = klt(y)  # no spread at all
    np.testing.assert_array_equal(t.mean, [1.7e308, -1.7e308])
    np.testing.assert_array_equal(t.variances, [0.0, 0.0])
    x = np.array([[1.7e308, 1e300], [1.6e308, 1.2e300], [1.5e308, 1.1e300]])
    with pytest.raises(ValueError, match="about 1e614"):  # spread 1e307: variance 1e614
        klt(x)


@pytest.mark.parametrize("field", ["mean", "basis", "variances"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_transform_code_refuses_a_non_finite_transform(field, bad) -> None:
    # was: KLT(mean, basis, [nan, 1]) gave all-NaN codes and reconstructions
    x = np.random.default_rng(0).normal(size=(5, 2))
    t = klt(np.random.default_rng(1).normal(size=(20, 2)))
    value = np.array(getattr(t, field), dtype=np.float64)
    value.flat[0] = bad
    with pytest.raises(ValueError, match=f"transform.{field} must be finite"):
        transform_code(x, [1, 1], t._replace(**{field: value}))


def test_transform_code_refuses_negative_variances() -> None:
    x = np.zeros((3, 2))
    t = KLT(np.zeros(2), np.eye(2), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="transform.variances must be >= 0"):
        transform_code(x, [1, 0], t)


@pytest.mark.parametrize("max_bits", [21, 64, -1])
def test_max_bits_is_checked_up_front(max_bits) -> None:
    # was: max_bits=21 raised lloyd_max's "n_levels must be at most 1,048,576" error
    with pytest.raises(ValueError, match="max_bits must lie between 0 and 20"):
        allocate_bits([1.0, 1.0], 2, max_bits=max_bits)
    with pytest.raises(ValueError, match="max_bits must lie between 0 and 20"):
        lloyd_max_mse_table(max_bits)


def test_max_bits_of_20_is_allowed() -> None:
    assert allocate_bits([1.0, 4.0], 3, max_bits=20).tolist() == [1, 2]
    with pytest.raises(TypeError, match="max_bits"):
        allocate_bits([1.0], 1, max_bits=2.0)
