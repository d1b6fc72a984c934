"""Gradient estimators for quantizers (chapter 8, "The straight-through estimator").

A quantizer's output ``zq`` is a piecewise-constant function of its input
``z``: its true gradient is zero almost everywhere. Training an encoder through
it needs an *estimator*, a surrogate gradient that the backward pass uses
instead. Two are implemented here, both with the value of ``zq`` in the
forward pass and no gradient to ``zq`` itself (the codebook learns from its
own loss or from EMA updates):

- :func:`straight_through` (Bengio et al. 2013, after Hinton; the estimator of
  VQ-VAE): the backward pass copies the gradient unchanged, ``dL/dz = dL/dzq``.
- :func:`rotation_trick` (Fifty et al. 2024): the backward pass rotates and
  scales the gradient, ``dL/dz = λ Rᵀ dL/dzq``, where ``R`` is the rotation
  that turns the direction of ``z`` into that of ``zq`` and ``λ = ‖zq‖/‖z‖``.
  Treating ``λ R`` as a constant, ``zq = λ R z`` holds exactly, so the
  gradient is that of a linear map that sends ``z`` to ``zq``: vectors of the
  same Voronoi cell get different gradients according to where they lie in
  it, which the straight-through estimator cannot tell apart.

The rotation is the one Fifty et al. write as a pair of Householder
reflections acting in the plane of the two directions ``u = z/‖z‖`` and
``w = zq/‖zq‖``,

.. math:: R = I - 2 r r^\\top + 2 w u^\\top, \\qquad r = \\frac{u + w}{\\lVert u + w \\rVert},

which is orthogonal with determinant +1, maps ``u`` to ``w`` and leaves every
direction orthogonal to both unchanged. It is never formed: ``Rᵀ g = g - 2 r
(r·g) + 2 u (w·g)`` costs ``O(D)`` per vector.
"""

from __future__ import annotations

from typing import Any

import torch

from rvqlib._validate import check_finite, is_torch

__all__ = ["rotation_trick", "straight_through"]


def _check_pair(z: Any, zq: Any) -> None:
    for name, t in (("z", z), ("zq", zq)):
        if not is_torch(t):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got dtype {t.dtype}")
    if z.shape != zq.shape:
        raise ValueError(
            f"zq must have the same shape as z, got z {tuple(z.shape)} and zq {tuple(zq.shape)}"
        )
    if z.device != zq.device:
        raise ValueError(f"zq is on device {zq.device} but z is on {z.device}")


def straight_through(z: torch.Tensor, zq: torch.Tensor) -> torch.Tensor:
    """The straight-through estimator: ``z + (zq - z).detach()``.

    The result equals ``zq`` in the forward pass (up to one rounding of the
    sum), while in the backward pass it is the identity with respect to ``z``:
    the gradient the loss sends to the quantized vector is copied unchanged to
    the encoder output ``z``, skipping the non-differentiable ``argmin``.
    No gradient reaches ``zq`` through this function.

    Derived in chapter 8, "The straight-through estimator, and a tiny codec".

    Parameters
    ----------
    z : torch.Tensor
        The continuous vectors (the encoder output), any shape.
    zq : torch.Tensor
        Their quantized values, the same shape (and device) as ``z``.

    Returns
    -------
    torch.Tensor
        ``z + (zq - z).detach()``: value ``zq``, gradient identity in ``z``.

    Raises
    ------
    TypeError
        If ``z`` or ``zq`` is not a floating torch tensor.
    ValueError
        If the shapes differ (nothing is broadcast) or the devices differ.

    Examples
    --------
    >>> z = torch.tensor([0.3, 1.7], requires_grad=True)
    >>> out = straight_through(z, torch.round(z))
    >>> out.detach()
    tensor([0., 2.])
    >>> out.sum().backward(); z.grad
    tensor([1., 1.])
    """
    _check_pair(z, zq)
    return z + (zq - z).detach()


def _rotate_back(z: torch.Tensor, zq: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``λ Rᵀ g`` for every vector (last axis), ``g`` itself where the rotation is undefined."""
    dt = torch.promote_types(torch.promote_types(z.dtype, g.dtype), torch.float32)
    z, zq, g = z.to(dt), zq.to(dt), g.to(dt)
    if z.shape[-1] == 0:  # vectors of no entries: no direction, straight-through (empty)
        return g
    tiny = torch.finfo(dt).tiny
    # directions and lengths from vectors scaled by their largest entry, so that the
    # squares inside the norms neither overflow (|v| near 1e19 in float32) nor
    # underflow (near 1e-23): the rotation of any finite vectors is well defined
    mz = z.abs().amax(dim=-1, keepdim=True)
    mq = zq.abs().amax(dim=-1, keepdim=True)
    mz1 = torch.where(mz > 0, mz, 1.0)  # zero vectors stay zero (straight-through below)
    zs = z / mz1
    qs = zq / torch.where(mq > 0, mq, 1.0)
    nz = torch.linalg.vector_norm(zs, dim=-1, keepdim=True)  # in [1, sqrt(D)], or 0
    nq = torch.linalg.vector_norm(qs, dim=-1, keepdim=True)
    u = zs / nz.clamp(min=tiny)
    w = qs / nq.clamp(min=tiny)
    s = u + w
    ns = torch.linalg.vector_norm(s, dim=-1, keepdim=True)
    r = s / ns.clamp(min=tiny)
    # zero vectors have no direction, and opposite directions no unique rotation:
    # straight-through there
    ok = (mz > 0) & (mq > 0) & (ns > torch.finfo(dt).eps ** 0.5)
    lam = (mq / mz1) * (nq / nz.clamp(min=tiny))
    rg = g - 2 * r * (r * g).sum(dim=-1, keepdim=True) + 2 * u * (w * g).sum(dim=-1, keepdim=True)
    return torch.where(ok, lam * rg, g)


class _RotationTrick(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, zq: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(z, zq)
        return zq.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        z, zq = ctx.saved_tensors
        return _rotate_back(z, zq, grad).to(z.dtype), None


def rotation_trick(z: torch.Tensor, zq: torch.Tensor) -> torch.Tensor:
    """The rotation trick of Fifty et al. (2024): value ``zq``, gradient ``λ Rᵀ g``.

    In the forward pass the result is ``zq`` exactly (a copy). In the backward
    pass, the gradient ``g`` that reaches the result is sent to ``z`` as
    ``λ Rᵀ g``, with ``λ = ‖zq‖ / ‖z‖`` and ``R`` the rotation, in the plane of
    ``z`` and ``zq``, that maps ``z/‖z‖`` onto ``zq/‖zq‖`` (see the module
    docstring); both are treated as constants, so ``zq = λ R z`` and the
    Jacobian of the result with respect to ``z`` is ``λ R``. No gradient
    reaches ``zq``. Vectors are the last axis; where ``z`` or ``zq`` is the
    zero vector (no direction) or the two point in opposite directions (within
    ``sqrt(eps)``, where the rotation is not unique), the gradient passes
    straight through, as with :func:`straight_through`.

    The backward pass costs ``O(D)`` per vector and forms no ``D x D``
    matrix; it is computed in at least float32 and returned in ``z``'s dtype.

    Parameters
    ----------
    z : torch.Tensor, shape (..., D)
        The continuous vectors (the encoder output).
    zq : torch.Tensor, shape (..., D)
        Their quantized values, same shape and device.

    Returns
    -------
    torch.Tensor
        A tensor equal to ``zq``, in ``zq``'s dtype.

    Raises
    ------
    TypeError
        If ``z`` or ``zq`` is not a floating torch tensor.
    ValueError
        If the shapes differ (nothing is broadcast), the devices differ, the
        tensors have no vector axis, or either holds NaN or inf.

    Examples
    --------
    >>> z = torch.tensor([[1.0, 0.0]], requires_grad=True)
    >>> out = rotation_trick(z, torch.tensor([[0.0, 2.0]]))
    >>> out.detach()
    tensor([[0., 2.]])
    >>> out.backward(torch.tensor([[0.0, 1.0]])); z.grad  # lambda = 2, R = rotation by 90 deg
    tensor([[2., 0.]])
    """
    _check_pair(z, zq)
    if z.ndim < 1:
        raise ValueError("z must have shape (..., D) with at least one axis, got a scalar")
    check_finite(z, "z")
    check_finite(zq, "zq")
    return _rotation(z, zq)


def _rotation(z: torch.Tensor, zq: torch.Tensor) -> torch.Tensor:
    """:func:`rotation_trick` without its checks (for callers that validated both)."""
    return _RotationTrick.apply(z, zq.detach())
