"""Held-out cases from an adversarial read of rvqlib 0.2 (each failed before its fix).

1. ``codebook_dim`` with an input dtype other than the module's crashed in ``F.linear``.
2. A float16 module's EMA statistics overflowed or underflowed to NaN/inf codebooks.
3. A float16/bfloat16 ``ResidualVQ``'s eval ``forward`` rounded residuals to 16 bits,
   so its codes differed from ``encode`` and the float64 reference.
4. ``rotation_trick`` fell back to straight-through where float32 norms overflow.
5. ``rotation_trick`` accepted NaN/inf.
6. ``code_usage`` with a huge ``codebook_size`` raised ``OverflowError``.
7. ``set_codebook`` stored a codebook that overflows the module's dtype, accepted
   booleans; a boolean tensor passed as ``n_q``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rvqlib import code_perplexity, code_usage, rotation_trick, rvq_encode
from rvqlib.nn import ResidualVQ, VectorQuantizer

HALF = [torch.float16, torch.bfloat16]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_factorized_codes_take_any_input_dtype(dtype):
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 8, codebook_dim=2)
    z = torch.randn(16, 4).to(dtype).requires_grad_(True)
    zq, idx, losses = vq(z)
    assert zq.dtype == dtype and idx.shape == (16,)
    zq.float().sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad.float()).all()
    vq.eval()
    assert vq(z.detach())[1].shape == (16,)
    rvq = ResidualVQ(4, 2, 8, codebook_dim=2)
    rvq(torch.randn(16, 4).to(dtype))
    rvq.eval()
    codes = rvq.encode(torch.randn(16, 4).to(dtype))
    assert codes.shape == (16, 2)


def test_a_float16_module_takes_a_float32_batch_through_its_projection():
    rvq = ResidualVQ(4, 2, 8, codebook_dim=2).half()
    zq, codes, _ = rvq(torch.randn(16, 4))
    assert zq.dtype == torch.float32 and codes.shape == (16, 2)


@pytest.mark.parametrize(
    "batch",
    [
        lambda: torch.rand(512, 2),  # code 1 wins nothing: its size underflowed
        lambda: torch.randn(4000, 2) + 100,  # sums N_i x beyond 65,504
        lambda: torch.rand(70000, 2) * 0.01,  # the cluster sizes' sum beyond 65,504
    ],
    ids=["idle-code", "large-sums", "large-batch"],
)
@pytest.mark.parametrize("dtype", HALF)
def test_half_precision_codebooks_stay_finite_and_match_float32(batch, dtype):
    torch.manual_seed(0)
    data = [batch().to(dtype) for _ in range(3)]
    books = {}
    for module_dtype in (dtype, torch.float32):
        torch.manual_seed(1)
        vq = VectorQuantizer(2, 2).to(module_dtype)
        vq.set_codebook(torch.tensor([[0.0, 0.0], [5.0, 5.0]]))
        for x in data:
            vq(x.to(module_dtype))
        assert torch.isfinite(vq.codebook.float()).all(), vq.codebook
        books[module_dtype] = vq.codebook.float()
    assert vq.cluster_size.dtype == torch.float32
    tol = 1e-2 if dtype == torch.float16 else 6e-2  # the codebooks' own resolution
    scale = books[torch.float32].abs().max()
    assert torch.allclose(books[dtype], books[torch.float32], atol=tol * scale)


@pytest.mark.parametrize("dtype", HALF)
def test_a_half_module_keeps_its_statistics_in_float32_and_its_codebook_in_its_dtype(dtype):
    vq = VectorQuantizer(3, 4).to(dtype)
    assert vq.embed.dtype == dtype
    assert vq.embed_sum.dtype == vq.cluster_size.dtype == vq.last_counts.dtype == torch.float32
    assert VectorQuantizer(3, 4).double().cluster_size.dtype == torch.float64
    rvq = ResidualVQ(3, 2, 4).to(dtype)
    assert all(layer.cluster_size.dtype == torch.float32 for layer in rvq.layers)
    state = rvq.state_dict()
    fresh = ResidualVQ(3, 2, 4)
    fresh.load_state_dict(state)  # loads into a float32 module too


@pytest.mark.parametrize("dtype", HALF)
def test_eval_forward_of_a_half_residual_stack_gives_the_reference_codes(dtype):
    torch.manual_seed(0)
    rvq = ResidualVQ(8, 4, 64, channel_dim=1).to(dtype)
    for _ in range(3):
        rvq(torch.randn(4, 8, 50).to(dtype))
    rvq.eval()
    z = (torch.randn(4, 8, 50) * 3).to(dtype)
    books = [c.double() for c in rvq.codebooks]
    ref = rvq_encode(z.double().movedim(1, -1), books).movedim(-1, 1)
    assert torch.equal(rvq.encode(z), ref)
    zq, codes, _ = rvq(z)
    assert torch.equal(codes, ref)
    assert zq.dtype == dtype


@pytest.mark.parametrize("scale", [1e-25, 1e-12, 1.0, 1e12, 1e19, 1e20, 1e30])
def test_rotation_trick_rotates_at_every_float32_magnitude(scale):
    g = torch.tensor([[1.0, 1.0], [0.3, -2.0]])
    z0 = torch.tensor([[1.0, 1.0], [2.0, 0.5]])
    zq0 = torch.tensor([[1.0, -1.0], [-0.5, 1.5]])
    z = (z0 * scale).requires_grad_(True)
    rotation_trick(z, zq0 * scale).backward(g)
    z64 = (z0.double() * scale).requires_grad_(True)
    rotation_trick(z64, zq0.double() * scale).backward(g.double())
    assert torch.allclose(z.grad.double(), z64.grad, rtol=1e-5, atol=0)
    assert not torch.allclose(z.grad, g)  # a rotation, not the straight-through copy


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_rotation_trick_rejects_non_finite_input_by_name(bad):
    ok = torch.tensor([[1.0, 1.0]])
    with pytest.raises(ValueError, match="^z must be finite"):
        rotation_trick(torch.tensor([[bad, 1.0]], requires_grad=True), ok)
    with pytest.raises(ValueError, match="^zq must be finite"):
        rotation_trick(ok.clone().requires_grad_(True), torch.tensor([[bad, 1.0]]))


@pytest.mark.parametrize("k", [2**40 + 1, 10**20, np.int64(2**62)])
def test_code_counts_reject_a_huge_codebook_size_by_name(k):
    for fn in (code_usage, code_perplexity):
        for codes in ([0, 1], torch.tensor([0, 1]), np.array([0, 1])):
            with pytest.raises(ValueError, match="codebook_size"):
                fn(codes, k)
    assert code_usage([0, 1, 1], 2**20).sum() == 3  # large but countable: fine


def test_set_codebook_rejects_what_the_module_cannot_hold():
    half = VectorQuantizer(4, 8).half()
    with pytest.raises(ValueError, match=r"codebook: .*overflow.*float16"):
        half.set_codebook(torch.full((8, 4), 1e6))
    assert not bool(half.initialized)  # nothing was stored
    vq = VectorQuantizer(4, 8)
    for bad in (torch.ones(8, 4, dtype=torch.bool), np.ones((8, 4), dtype=bool)):
        with pytest.raises(TypeError, match="codebook"):
            vq.set_codebook(bad)


def test_a_boolean_tensor_is_not_a_number_of_stages():
    rvq = ResidualVQ(2, 3, 4)
    z = torch.randn(8, 2)
    for bad in (True, torch.tensor(True), torch.tensor(False)):
        with pytest.raises(TypeError, match="n_q"):
            rvq(z, n_q=bad)
    assert rvq(z, n_q=torch.tensor(2))[1].shape == (8, 2)  # an integer tensor is fine


def test_finiteness_checks_read_tensors_with_a_lazy_negation():
    # regression: check_finite and finite_max_abs called .numpy() on x.conj().imag,
    # which torch refuses ("Can't call numpy() on Tensor that has negative bit set")
    from rvqlib._validate import check_finite, finite_max_abs

    xi = torch.tensor([1.0 + 2.0j, -3.0 - 0.5j], dtype=torch.complex64).conj().imag
    assert xi.is_neg()
    check_finite(xi, "x")
    assert finite_max_abs(xi, "x") == 2.0
    bad = torch.tensor([1.0 + float("nan") * 1j], dtype=torch.complex64).conj().imag
    with pytest.raises(ValueError, match="x must be finite"):
        check_finite(bad, "x")
    with pytest.raises(ValueError, match="x must be finite"):
        finite_max_abs(bad, "x")
