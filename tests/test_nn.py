"""Tests of rvqlib.nn: straight-through estimator, VectorQuantizer and ResidualVQ."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rvqlib.data import gaussian_blobs, latent_like
from rvqlib.nn import ResidualVQ, VectorQuantizer, straight_through
from rvqlib.rvq import rvq_decode, rvq_encode
from rvqlib.vq import nearest


def blobs(n: int = 512, k: int = 4, dim: int = 2, *, spread: float = 0.1, seed: int = 0):
    """Well separated blobs as float32 tensors: (x, labels, centers)."""
    x, labels, centers = gaussian_blobs(n, k, dim, spread=spread, box=5.0, seed=seed)
    return (
        torch.tensor(x, dtype=torch.float32),
        torch.tensor(labels),
        torch.tensor(centers, dtype=torch.float32),
    )


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ------------------------------------------------------------- straight-through


def test_straight_through_forward_value_and_identity_gradient():
    z = torch.tensor([[0.3, 1.7], [-2.2, 0.49]], requires_grad=True)
    zq = torch.round(z.detach()).requires_grad_(True)
    out = straight_through(z, zq)
    torch.testing.assert_close(out, zq, rtol=0, atol=1e-6)
    upstream = torch.tensor([[1.0, -2.0], [3.0, 0.5]])
    out.backward(upstream)
    torch.testing.assert_close(z.grad, upstream, rtol=0, atol=0)  # identity in z
    assert zq.grad is None  # no gradient reaches zq


def test_straight_through_versus_argmin_gradient():
    # rounding has zero gradient almost everywhere; the estimator passes it through
    z = torch.linspace(-1, 1, 7, requires_grad=True)
    torch.round(z).sum().backward()
    assert torch.count_nonzero(z.grad) == 0
    z.grad = None
    straight_through(z, torch.round(z)).pow(2).sum().backward()
    torch.testing.assert_close(z.grad, 2 * torch.round(z.detach()))


def test_straight_through_validates():
    z = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="zq"):
        straight_through(z, torch.zeros(3, 1))
    with pytest.raises(TypeError, match="zq"):
        straight_through(z, np.zeros((3, 2)))
    with pytest.raises(TypeError, match="z "):
        straight_through(torch.zeros(3, 2, dtype=torch.long), z)


# ------------------------------------------------------- VectorQuantizer basics


@pytest.mark.parametrize("ema", [True, False])
def test_vq_shapes_values_and_losses(ema):
    torch.manual_seed(0)
    vq = VectorQuantizer(3, 8, ema=ema, commitment_weight=0.5)
    z = torch.randn(4, 5, 3, requires_grad=True)
    zq, idx, losses = vq(z)
    assert zq.shape == z.shape and zq.dtype == z.dtype
    assert idx.shape == (4, 5) and idx.dtype == torch.long
    cb = vq.codebook
    assert cb.shape == (8, 3)
    assert torch.equal(idx, nearest(z.detach(), cb))
    torch.testing.assert_close(zq, cb[idx], rtol=0, atol=1e-6)
    assert set(losses) == ({"commitment"} if ema else {"commitment", "codebook"})
    # the commitment loss is weighted: beta * mean((z - e)^2), e the codeword used
    # (the codeword before this step's codebook update: compare to the returned zq)
    expected = 0.5 * F.mse_loss(z.detach(), zq.detach())
    torch.testing.assert_close(losses["commitment"], expected, rtol=1e-5, atol=1e-7)
    if not ema:
        torch.testing.assert_close(losses["codebook"], expected / 0.5, rtol=1e-5, atol=1e-7)


def test_vq_gradients_match_hand_derived_formulas():
    torch.manual_seed(1)
    vq = VectorQuantizer(2, 4, ema=False, kmeans_init=False, commitment_weight=0.25).eval()
    z = torch.randn(16, 2, requires_grad=True)
    zq, idx, losses = vq(z)
    e = vq.codebook[idx]
    # straight-through: a loss on zq sends its gradient unchanged to z
    w = torch.randn(16, 2)
    (g_st,) = torch.autograd.grad((zq * w).sum(), z, retain_graph=True)
    torch.testing.assert_close(g_st, w)
    # commitment: d/dz beta * mean((z - sg e)^2) = 2 beta (z - e) / numel
    (g_c,) = torch.autograd.grad(losses["commitment"], z, retain_graph=True)
    torch.testing.assert_close(g_c, 2 * 0.25 * (z.detach() - e) / z.numel())
    # codebook: d/de_k mean((sg z - e)^2) = 2 sum_{i: idx_i = k} (e_k - z_i) / numel
    vq.embed.grad = None
    losses["codebook"].backward()
    expected = torch.zeros(4, 2).index_add_(0, idx, 2 * (e - z.detach()) / z.numel())
    torch.testing.assert_close(vq.embed.grad, expected)
    assert z.grad is None or torch.count_nonzero(z.grad) == 0  # codebook loss stops at z


def test_vq_kmeans_init_finds_blob_centres_and_is_reproducible():
    x, _, centers = blobs(512, 4, seed=0)
    codebooks = []
    for _ in range(2):
        torch.manual_seed(0)
        vq = VectorQuantizer(2, 4, kmeans_iters=10)
        assert not bool(vq.initialized)
        vq(x)
        assert bool(vq.initialized)
        codebooks.append(vq.codebook)
    assert torch.equal(codebooks[0], codebooks[1])
    # every true centre has a codeword next to it (up to the noise of 128-point means)
    d = torch.cdist(centers, codebooks[0])
    assert d.min(dim=1).values.max() < 0.05


def test_vq_init_with_fewer_vectors_than_codes():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 8, decay=0.9, dead_code_threshold=0.5)
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    _, idx, _ = vq(x)
    assert torch.equal(idx, torch.tensor([0, 1, 2]))
    cb = vq.codebook
    torch.testing.assert_close(cb[:3], x)  # the batch itself, EMA toward the same means
    # the padding codes are copies of batch vectors (then decayed by gamma): they won nothing
    assert torch.equal(vq.last_counts, torch.tensor([1.0, 1, 1, 0, 0, 0, 0, 0]))
    assert torch.equal(vq.dead_codes, torch.tensor([False] * 3 + [True] * 5))
    # the next batch re-seeds the five dead codes with its vectors
    x2 = torch.randn(64, 2)
    vq(x2)
    assert int(vq.n_replaced) == 5
    assert (vq.last_counts[3:] > 0).all()  # batch vectors win at least themselves


def test_vq_set_codebook_marks_initialised_and_validates():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 3, decay=0.99)
    new = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    vq.set_codebook(new)
    assert bool(vq.initialized) and torch.equal(vq.codebook, new)
    x = new.repeat(20, 1) + 0.01 * torch.randn(60, 2)
    vq(x)  # no k-means: the codebook only takes one EMA step toward the batch means
    torch.testing.assert_close(vq.codebook, new, atol=2e-3, rtol=0)
    vq.set_codebook(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))  # numpy is accepted
    assert vq.codebook.dtype == torch.float32
    assert float(vq.usage.sum()) == 0.0  # statistics restart
    with pytest.raises(ValueError, match="codebook"):
        vq.set_codebook(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="codebook"):
        vq.set_codebook(torch.full((3, 2), float("nan")))


def test_vq_codebook_property_is_a_snapshot():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 4)
    x, _, _ = blobs(256, 4)
    vq(x)
    before = vq.codebook
    vq(x + 0.5)
    assert not torch.equal(before, vq.codebook)


# -------------------------------------------------------------------------- EMA


def test_ema_moves_codewords_to_the_means_of_the_data_they_win():
    x, labels, centers = blobs(600, 4, spread=0.2, seed=2)
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 4, decay=0.9, dead_code_threshold=0.0)
    vq.set_codebook(centers + 0.3)  # offset, but each blob is still nearest its own codeword
    means = torch.stack([x[labels == j].mean(dim=0) for j in range(4)])
    start_error = (vq.codebook - means).norm(dim=1).max()
    for _ in range(150):
        _, idx, _ = vq(x)
        assert torch.equal(idx, labels)  # fixed assignments
    error = (vq.codebook - means).norm(dim=1).max()
    assert start_error > 0.3 and error < 1e-3
    # the counts converge to the cluster sizes
    torch.testing.assert_close(vq.usage, torch.bincount(labels).float(), rtol=1e-4, atol=0)


def test_ema_on_a_stream_of_batches_tracks_the_true_centres():
    _, _, centers = blobs(8, 4, seed=3)
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 4, decay=0.9, dead_code_threshold=0.0)
    vq.set_codebook(centers - 0.25)
    for _ in range(100):
        labels = torch.arange(256) % 4
        x = centers[labels] + 0.1 * torch.randn(256, 2)
        vq(x)
    assert (vq.codebook - centers).norm(dim=1).max() < 0.02


def test_ema_laplace_smoothing_formula_one_step():
    torch.manual_seed(0)
    vq = VectorQuantizer(1, 3, decay=0.5, eps=0.1, dead_code_threshold=0.0)
    vq.set_codebook(torch.tensor([[0.0], [10.0], [20.0]]))
    vq(torch.tensor([[1.0], [-1.0], [0.5], [11.0]]))  # first batch seeds the statistics
    # step 1: counts (3, 1, 0) seed N = (3, 1, 0); S_i = N~_i e_i; then EMA with the same counts
    n = torch.tensor([3.0, 1.0, 0.0])
    smoothed = (n + 0.1) / (4 + 0.3) * 4
    s = 0.5 * torch.tensor([0.0, 10.0, 20.0]) * smoothed + 0.5 * torch.tensor([0.5, 11.0, 0.0])
    torch.testing.assert_close(vq.embed_sum[:, 0], s)
    torch.testing.assert_close(vq.codebook[:, 0], s / smoothed)
    # the unused code shrinks toward 0 by the factor gamma
    torch.testing.assert_close(vq.codebook[2, 0], torch.tensor(10.0))


# -------------------------------------------------------------------- eval mode


@pytest.mark.parametrize("ema", [True, False])
def test_eval_mode_never_changes_anything(ema):
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 8, ema=ema)
    x, _, _ = blobs(256, 4)
    vq.eval()
    before = state(vq)
    with pytest.raises(RuntimeError, match="never been initialised"):
        vq(x)  # no k-means initialisation in eval mode, and no silent all-zero codebook
    assert_same_state(before, state(vq))
    vq.train()
    for _ in range(3):
        vq(x)
    vq.eval()
    before = state(vq)
    for shift in (0.0, 3.0, -50.0):
        vq(x + shift)
    assert_same_state(before, state(vq))


def test_state_dict_round_trip():
    x, _, _ = blobs(256, 4)
    for ema in (True, False):
        torch.manual_seed(0)
        vq = VectorQuantizer(2, 8, ema=ema)
        for _ in range(3):
            vq(x)
        keys = set(vq.state_dict())
        assert {"embed", "cluster_size", "last_counts", "initialized", "n_replaced"} <= keys
        assert ("embed_sum" in keys) == ema
        clone = VectorQuantizer(2, 8, ema=ema)
        clone.load_state_dict(vq.state_dict())
        assert_same_state(state(vq), state(clone))
        vq.eval()
        clone.eval()
        assert torch.equal(vq(x)[1], clone(x)[1])
        # the loaded module is initialised: training it does not rerun k-means
        clone.train()
        cb = clone.codebook
        clone(x)
        assert (clone.codebook - cb).abs().max() < 0.05


# ---------------------------------------------------------------- gradient mode


def test_gradient_mode_reduces_the_codebook_loss():
    torch.manual_seed(0)
    x, _, _ = blobs(512, 4, spread=0.2)
    vq = VectorQuantizer(2, 4, ema=False, kmeans_init=False, dead_code_threshold=0.0)
    assert isinstance(vq.embed, torch.nn.Parameter)
    opt = torch.optim.Adam(vq.parameters(), lr=0.1)
    history = []
    for _ in range(150):
        _, _, losses = vq(x)
        opt.zero_grad()
        losses["codebook"].backward()
        opt.step()
        history.append(float(losses["codebook"].detach()))
    assert history[-1] < 0.2 * history[0]
    assert min(history[-10:]) <= min(history[:10])


# --------------------------------------------------------- dead codes and usage


def test_dead_codes_far_from_the_data_are_revived():
    torch.manual_seed(0)
    x, _, centers = blobs(512, 4, seed=1)
    far = torch.full((4, 2), 100.0) + torch.arange(4.0)[:, None]
    vq = VectorQuantizer(2, 8, decay=0.9, dead_code_threshold=2.0)
    vq.set_codebook(torch.cat([centers, far]))
    vq(x)  # seeds the statistics: the far codes won nothing
    assert torch.equal(vq.last_counts[4:], torch.zeros(4))
    assert vq.dead_codes[4:].all()
    vq(x)  # replaces them by vectors of this batch before quantizing it
    assert int(vq.n_replaced) == 4
    assert (vq.last_counts[4:] > 0).all()  # revived: they win vectors at once
    assert vq.codebook.abs().max() < 10
    # control: with replacement switched off they stay dead and far
    torch.manual_seed(0)
    off = VectorQuantizer(2, 8, decay=0.9, dead_code_threshold=0.0)
    off.set_codebook(torch.cat([centers, far]))
    for _ in range(3):
        off(x)
    assert torch.equal(off.last_counts[4:], torch.zeros(4)) and int(off.n_replaced) == 0


def test_dead_code_replacement_is_deterministic_given_torch_seed():
    x, _, centers = blobs(512, 4, seed=1)
    results = []
    for _ in range(2):
        torch.manual_seed(5)
        vq = VectorQuantizer(2, 8, decay=0.9)
        vq.set_codebook(torch.cat([centers, torch.full((4, 2), 100.0)]))
        vq(x)
        vq(x)
        results.append(vq.codebook)
    assert torch.equal(results[0], results[1])


def test_no_dead_code_replacement_in_eval_mode():
    x, _, centers = blobs(512, 4, seed=1)
    vq = VectorQuantizer(2, 8, decay=0.9)
    vq.set_codebook(torch.cat([centers, torch.full((4, 2), 100.0)]))
    vq(x)  # the far codes won nothing: they shrink by gamma and are dead
    assert vq.dead_codes[4:].all()
    before = vq.codebook
    vq.eval()
    vq(x)
    assert int(vq.n_replaced) == 0 and torch.equal(vq.codebook, before)
    assert vq.codebook[4:].min() == pytest.approx(90.0)


def test_usage_and_perplexity():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 4, decay=0.5, dead_code_threshold=0.0)
    assert math.isnan(vq.perplexity())  # nothing measured yet
    assert vq.perplexity(torch.tensor([0, 1, 2, 3])) == pytest.approx(4.0)
    assert vq.perplexity(torch.tensor([2, 2, 2])) == pytest.approx(1.0)
    assert vq.perplexity(torch.tensor([[0, 0], [1, 1]])) == pytest.approx(2.0)
    p = np.array([0.5, 0.25, 0.25])
    assert vq.perplexity(torch.tensor([0, 0, 1, 2])) == pytest.approx(
        np.exp(-(p * np.log(p)).sum())
    )
    vq.set_codebook(torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [99.0, 99.0]]))
    x = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]).repeat(10, 1)
    for _ in range(20):
        vq(x)
    assert torch.equal(vq.last_counts, torch.tensor([10.0, 10, 10, 0]))
    torch.testing.assert_close(vq.usage, torch.tensor([10.0, 10, 10, 0]))
    assert vq.perplexity() == pytest.approx(3.0, rel=1e-6)
    with pytest.raises(ValueError, match="indices"):
        vq.perplexity(torch.tensor([0, 4]))
    with pytest.raises(TypeError, match="indices"):
        vq.perplexity([0, 1])


# -------------------------------------------------------- dtype, device, checks


def test_dtypes():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 4)
    x64 = blobs(128, 4)[0].double()
    zq, _, losses = vq(x64)  # float64 input, float32 module
    assert zq.dtype == torch.float64 and vq.codebook.dtype == torch.float32
    vq64 = VectorQuantizer(2, 4).double()
    vq64(x64)
    assert vq64.codebook.dtype == torch.float64 and vq64.embed_sum.dtype == torch.float64
    zq16, _, _ = vq(x64.half())
    assert zq16.dtype == torch.float16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_device():
    torch.manual_seed(0)
    x = blobs(256, 4)[0].cuda()
    rvq = ResidualVQ(2, 3, 8).cuda()
    zq, codes, _ = rvq(x)
    assert zq.device == x.device and codes.device == x.device
    rvq.eval()
    assert torch.equal(rvq.encode(x), rvq_encode(x, rvq.codebooks))
    with pytest.raises(ValueError, match="device"):
        rvq(x.cpu())


def test_vq_input_and_argument_checks():
    vq = VectorQuantizer(3, 4)
    with pytest.raises(ValueError, match=r"\bz\b"):
        vq(torch.zeros(5, 2))
    with pytest.raises(TypeError, match=r"\bz\b"):
        vq(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"\bz\b"):
        vq(torch.full((5, 3), float("nan")))
    zq, idx, losses = vq(torch.zeros(0, 3))  # an empty batch: empty outputs, zero losses
    assert zq.shape == (0, 3) and idx.shape == (0,) and float(losses["commitment"]) == 0.0
    bad = [
        (dict(dim=0, codebook_size=4), ValueError, "dim"),
        (dict(dim=2, codebook_size=0), ValueError, "codebook_size"),
        (dict(dim=2, codebook_size=4, decay=1.0), ValueError, "decay"),
        (dict(dim=2, codebook_size=4, decay=-0.1), ValueError, "decay"),
        (dict(dim=2, codebook_size=4, eps=0.0), ValueError, "eps"),
        (dict(dim=2, codebook_size=4, commitment_weight=-1.0), ValueError, "commitment_weight"),
        (dict(dim=2, codebook_size=4, kmeans_iters=0), ValueError, "kmeans_iters"),
        (dict(dim=2, codebook_size=4, dead_code_threshold=-1.0), ValueError, "dead_code"),
        (dict(dim=2, codebook_size=4, ema="yes"), TypeError, "ema"),
        (dict(dim=2.0, codebook_size=4), TypeError, "dim"),
    ]
    for kwargs, exc, name in bad:
        with pytest.raises(exc, match=name):
            VectorQuantizer(**kwargs)


# ------------------------------------------------------------------- ResidualVQ


def trained_rvq(
    n_q: int = 4, k: int = 16, steps: int = 20, **kwargs
) -> tuple[ResidualVQ, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.tensor(latent_like(1024, 8, seed=0), dtype=torch.float32)
    rvq = ResidualVQ(8, n_q, k, decay=0.8, **kwargs)
    for _ in range(steps):
        rvq(x)
    return rvq.eval(), x


def test_rvq_forward_shapes_and_eval_codes_match_rvq_encode():
    rvq, x = trained_rvq()
    z = x[:300].reshape(10, 30, 8)
    zq, codes, losses = rvq(z)
    assert zq.shape == z.shape and codes.shape == (10, 30, 4) and codes.dtype == torch.long
    assert set(losses) == {"commitment"}
    reference = rvq_encode(z, rvq.codebooks)
    assert torch.equal(codes, reference)
    assert torch.equal(rvq.encode(z), reference)
    assert torch.equal(rvq.encode(z, n_q=2), rvq_encode(z, rvq.codebooks, n_q=2))
    decoded = rvq.decode(codes)
    assert torch.equal(decoded, rvq_decode(reference, rvq.codebooks))
    torch.testing.assert_close(zq, decoded, rtol=0, atol=1e-5)


def test_rvq_decode_of_first_stages_is_the_truncated_sum():
    rvq, x = trained_rvq()
    codes = rvq.encode(x)
    cbs = rvq.codebooks
    for n in range(1, 5):
        truncated = sum(cbs[i][codes[:, i]] for i in range(n))
        torch.testing.assert_close(rvq.decode(codes[:, :n]), truncated, rtol=0, atol=1e-6)
        zq, codes_n, _ = rvq(x, n_q=n)
        assert torch.equal(codes_n, codes[:, :n])  # greedy: a prefix of the full codes
        torch.testing.assert_close(zq, truncated, rtol=0, atol=1e-5)


def test_rvq_error_decreases_with_stages_and_stages_get_finer():
    rvq, x = trained_rvq(steps=25)
    errors = [float(((rvq.decode(rvq.encode(x, n_q=n)) - x) ** 2).mean()) for n in range(1, 5)]
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 0.5 * errors[0]
    # later stages quantize smaller residuals: their codewords are smaller
    scales = [float(cb.norm(dim=1).mean()) for cb in rvq.codebooks]
    assert scales[-1] < scales[0]


def test_rvq_losses_and_gradients():
    rvq, x = trained_rvq(n_q=3, commitment_weight=0.25)
    z = x[:64].clone().requires_grad_(True)
    zq, codes, losses = rvq(z)
    # the commitment losses are summed over the stages: beta * mean(r_i - q_i)^2 per stage
    cbs, residual, expected = rvq.codebooks, z.detach(), 0.0
    for i in range(3):
        q = cbs[i][codes[:, i]]
        expected = expected + 0.25 * F.mse_loss(residual, q)
        residual = residual - q
    torch.testing.assert_close(losses["commitment"], expected, rtol=1e-5, atol=1e-7)
    # straight-through: identity gradient from zq to z
    w = torch.randn_like(z)
    (g,) = torch.autograd.grad((zq * w).sum(), z)
    torch.testing.assert_close(g, w)


def test_rvq_gradient_mode_has_codebook_loss_per_stage():
    torch.manual_seed(0)
    rvq = ResidualVQ(2, 2, 4, ema=False)
    x = blobs(128, 4)[0]
    _, _, losses = rvq(x)
    assert set(losses) == {"commitment", "codebook"}
    losses["codebook"].backward()
    for layer in rvq.layers:
        assert layer.embed.grad is not None and layer.embed.grad.abs().sum() > 0


def test_quantizer_dropout_varies_stages_in_training_only():
    torch.manual_seed(0)
    x = torch.tensor(latent_like(256, 4, seed=1), dtype=torch.float32)
    rvq = ResidualVQ(4, 4, 8, quantizer_dropout=True)
    used = [rvq(x)[1].shape[-1] for _ in range(40)]
    assert set(used) == {1, 2, 3, 4}
    assert rvq(x, n_q=3)[1].shape[-1] == 3  # an explicit n_q wins over dropout
    rvq.eval()
    assert {rvq(x)[1].shape[-1] for _ in range(5)} == {4}
    assert rvq(x, n_q=2)[1].shape[-1] == 2
    # reproducible given torch's seed
    torch.manual_seed(0)
    again = ResidualVQ(4, 4, 8, quantizer_dropout=True)
    assert [again(x)[1].shape[-1] for _ in range(40)] == used


def test_quantizer_dropout_trains_only_the_stages_used():
    torch.manual_seed(0)
    x = blobs(256, 4)[0]
    rvq = ResidualVQ(2, 3, 4)
    rvq(x, n_q=1)
    assert [bool(layer.initialized) for layer in rvq.layers] == [True, False, False]


def test_rvq_eval_mode_never_changes_anything():
    torch.manual_seed(0)
    x = blobs(256, 4)[0]
    rvq = ResidualVQ(2, 3, 8, quantizer_dropout=True)
    rvq(x)
    rvq.eval()
    before = state(rvq)
    rvq(x)
    rvq(x * 3, n_q=2)
    rvq.encode(x)
    assert_same_state(before, state(rvq))


def test_rvq_set_codebooks_and_state_dict():
    torch.manual_seed(0)
    rvq = ResidualVQ(2, 2, 3)
    cbs = [torch.randn(3, 2), np.random.default_rng(0).normal(size=(3, 2))]
    rvq.set_codebooks(cbs)
    assert torch.equal(rvq.codebooks[0], cbs[0])
    torch.testing.assert_close(rvq.codebooks[1], torch.tensor(cbs[1], dtype=torch.float32))
    assert all(bool(layer.initialized) for layer in rvq.layers)
    clone = ResidualVQ(2, 2, 3)
    clone.load_state_dict(rvq.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(clone.codebooks, rvq.codebooks, strict=True))
    with pytest.raises(ValueError, match="codebooks"):
        rvq.set_codebooks(cbs[:1])
    with pytest.raises(ValueError, match=r"codebooks\[1\]"):
        rvq.set_codebooks([cbs[0], torch.zeros(4, 2)])
    with pytest.raises(TypeError, match="codebooks"):
        rvq.set_codebooks(torch.zeros(3, 2))


def test_rvq_n_q_and_codes_checks():
    rvq = ResidualVQ(2, 3, 4).eval()
    z = torch.zeros(5, 2)
    for bad in (0, 4, -1):
        with pytest.raises(ValueError, match="n_q"):
            rvq(z, n_q=bad)
        with pytest.raises(ValueError, match="n_q"):
            rvq.encode(z, n_q=bad)
    with pytest.raises(TypeError, match="n_q"):
        rvq(z, n_q=1.5)
    with pytest.raises(ValueError, match="codes"):
        rvq.decode(torch.zeros(5, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="codes"):
        rvq.decode(np.zeros((5, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\bz\b"):
        rvq(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="n_q"):
        ResidualVQ(2, 0, 4)
    with pytest.raises(TypeError, match="quantizer_dropout"):
        ResidualVQ(2, 2, 4, quantizer_dropout=1)
