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
