"""Tests for rvqlib.estimators: the straight-through estimator and the rotation trick."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rvqlib
from rvqlib.estimators import rotation_trick, straight_through


def rotation_reference(z: torch.Tensor, zq: torch.Tensor) -> tuple[float, torch.Tensor]:
    """lambda and the D x D matrix R of Fifty et al. (2024), formed explicitly (float64)."""
    z, zq = z.double(), zq.double()
    u, w = z / z.norm(), zq / zq.norm()
    r = (u + w) / (u + w).norm()
    eye = torch.eye(z.numel(), dtype=torch.float64)
    return float(zq.norm() / z.norm()), eye - 2 * torch.outer(r, r) + 2 * torch.outer(w, u)


def test_the_estimators_are_one_function_under_every_name():
    assert rvqlib.straight_through is straight_through is rvqlib.nn.straight_through
    assert rvqlib.rotation_trick is rotation_trick is rvqlib.nn.rotation_trick


def test_rotation_trick_value_is_exactly_zq_and_no_gradient_reaches_zq():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(5, 7, 6, generator=gen, requires_grad=True)
    zq = torch.randn(5, 7, 6, generator=gen, requires_grad=True)
    out = rotation_trick(z, zq)
    assert torch.equal(out, zq) and out.dtype == zq.dtype
    out.sum().backward()
    assert zq.grad is None and z.grad is not None


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(0, 2**31 - 1), st.floats(0.05, 20.0))
def test_rotation_trick_jacobian_is_lambda_times_a_proper_rotation(d, seed, scale):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(d, generator=gen, dtype=torch.float64)
    zq = scale * torch.randn(d, generator=gen, dtype=torch.float64)
    u, w = z / z.norm(), zq / zq.norm()
    if float(u @ w) < -0.99:  # nearly opposite: the rotation is ill-conditioned
        return
    jac = torch.autograd.functional.jacobian(lambda t: rotation_trick(t, zq), z)
    lam, r_ref = rotation_reference(z, zq)
    torch.testing.assert_close(jac, lam * r_ref, rtol=1e-12, atol=1e-12)
    rot = jac / lam
    torch.testing.assert_close(rot.T @ rot, torch.eye(d, dtype=torch.float64), atol=1e-12, rtol=0)
    assert float(torch.linalg.det(rot)) == pytest.approx(1.0, abs=1e-10)
    torch.testing.assert_close(rot @ u, w, atol=1e-12, rtol=0)
    # lambda R maps z onto zq exactly (in exact arithmetic): zq = lambda R z
    torch.testing.assert_close(jac @ z, zq, atol=1e-11, rtol=0)
    # directions orthogonal to both z and zq are left alone
    if d >= 3:
        basis = torch.linalg.qr(
            torch.stack(
                [u, w] + [torch.randn(d, generator=gen, dtype=torch.float64) for _ in range(d - 2)],
                1,
            )
        )[0]
        for i in range(2, d):
            torch.testing.assert_close(rot @ basis[:, i], basis[:, i], atol=1e-11, rtol=0)


def test_rotation_trick_backward_on_a_batch_matches_the_formed_matrices():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(16, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    zq = torch.randn(16, 5, generator=gen, dtype=torch.float64)
    g = torch.randn(16, 5, generator=gen, dtype=torch.float64)
    rotation_trick(z, zq).backward(g)
    for i in range(16):
        lam, r = rotation_reference(z[i].detach(), zq[i])
        torch.testing.assert_close(z.grad[i], lam * r.T @ g[i], rtol=1e-12, atol=1e-12)


def test_rotation_trick_falls_back_to_straight_through_without_a_rotation():
    z = torch.tensor([[0.0, 0.0], [1.0, 2.0], [1.0, 0.0], [3.0, 1.0]], requires_grad=True)
    zq = torch.tensor([[1.0, 1.0], [0.0, 0.0], [-2.0, 0.0], [6.0, 2.0]])
    g = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [1.0, -1.0]])
    rotation_trick(z, zq).backward(g)
    # zero z, zero zq, opposite directions: the gradient passes straight through
    torch.testing.assert_close(z.grad[:3], g[:3])
    # same direction: R = I, lambda = |zq| / |z| = 2
    torch.testing.assert_close(z.grad[3], 2 * g[3])


def test_rotation_trick_half_precision_and_shapes():
    z = torch.randn(3, 4, dtype=torch.float16, requires_grad=True)
    zq = torch.randn(3, 4, dtype=torch.float16)
    out = rotation_trick(z, zq)
    assert out.dtype == torch.float16 and torch.equal(out, zq)
    out.float().sum().backward()
    assert z.grad.dtype == torch.float16 and torch.isfinite(z.grad).all()


@pytest.mark.parametrize("fn", [rotation_trick, straight_through])
def test_estimators_validate(fn):
    with pytest.raises(TypeError, match=r"\bz\b"):
        fn(np.zeros(3), torch.zeros(3))
    with pytest.raises(TypeError, match="zq"):
        fn(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="same shape"):
        fn(torch.zeros(2, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="same shape"):
        fn(torch.zeros(1, 3), torch.zeros(2, 3))


def test_rotation_trick_of_vectors_with_no_entries():
    # regression: the backward pass raised IndexError from torch's amax on an empty axis
    z = torch.zeros(3, 0, requires_grad=True)
    out = rotation_trick(z, torch.zeros(3, 0))
    assert out.shape == (3, 0)
    out.sum().backward()
    assert z.grad is not None and z.grad.shape == (3, 0)
