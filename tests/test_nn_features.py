"""Tests for the rvqlib 0.2 features of rvqlib.nn: layouts, masks, dropout, projections,
normalized codes, the rotation trick and the diagnostics (data-parallel training is in
test_distributed.py, torch.compile in test_compile.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rvqlib import ResidualVQ, VectorQuantizer, nearest, rotation_trick
from rvqlib.data import latent_like


def latents(n: int, d: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.tensor(latent_like(n, d, seed=seed), dtype=torch.float32)


def buffers(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    out = {k: v.detach().clone() for k, v in module.state_dict().items()}
    out.update({f"diag.{k}": v.clone() for k, v in module.named_buffers() if "code_counts" in k})
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ---------------------------------------------------------------- channel_dim
@pytest.mark.parametrize("ema", [True, False])
def test_channel_dim_one_is_the_transposed_channel_last_layout(ema):
    """(B, D, T) with T == D: never guessed, the same training as (B, T, D)."""
    x = latents(4 * 6, 6).reshape(4, 6, 6)  # (B, T, D) with T == D
    runs = {}
    for channel_dim, z in ((-1, x), (1, x.transpose(1, 2))):
        torch.manual_seed(0)
        rvq = ResidualVQ(6, 3, 8, channel_dim=channel_dim, ema=ema, kmeans_iters=3)
        outs = [rvq(z) for _ in range(3)]
        runs[channel_dim] = (rvq, z, outs)
    (a, za, oa), (b, zb, ob) = runs[-1], runs[1]
    assert_same(buffers(a), buffers(b))
    for (zq_a, codes_a, loss_a), (zq_b, codes_b, loss_b) in zip(oa, ob, strict=True):
        assert zq_b.shape == zb.shape and codes_b.shape == (4, 3, 6)  # stage axis at axis 1
        torch.testing.assert_close(zq_b, zq_a.transpose(1, 2), rtol=0, atol=0)
        assert torch.equal(codes_b, codes_a.transpose(1, 2))
        assert loss_a.keys() == loss_b.keys()
    a.eval(), b.eval()
    assert torch.equal(b.encode(zb), a.encode(za).transpose(1, 2))
    assert torch.equal(b.decode(b.encode(zb)), a.decode(a.encode(za)).transpose(1, 2))
    vq = VectorQuantizer(6, 8, channel_dim=1)
    zq, idx, _ = vq(zb)
    assert zq.shape == zb.shape and idx.shape == (4, 6)


def test_channel_dim_checks():
    with pytest.raises(ValueError, match="channel_dim=3 is not an axis"):
        ResidualVQ(4, 2, 8, channel_dim=3)(torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match=r"4 channels \(dim\) on axis 1"):
        ResidualVQ(4, 2, 8, channel_dim=1)(torch.zeros(2, 5, 4))
    with pytest.raises(TypeError, match="channel_dim"):
        VectorQuantizer(4, 8, channel_dim=1.0)
    with pytest.raises(TypeError, match="channel_dim"):
        ResidualVQ(4, 2, 8, channel_dim=None)


# ---------------------------------------------------------------- masks
@pytest.mark.parametrize("ema", [True, False])
def test_masked_frames_change_nothing_but_are_quantized(ema):
    """Training on padded batches with a mask equals training on the valid frames alone."""
    gen = torch.Generator().manual_seed(1)
    x = latents(3 * 40, 6).reshape(3, 40, 6)
    lengths = [40, 25, 11]
    mask = torch.arange(40)[None, :] < torch.tensor(lengths)[:, None]
    padded = torch.where(mask[..., None], x, 100 * torch.randn(3, 40, 6, generator=gen))
    kw = dict(ema=ema, kmeans_iters=4, dead_code_threshold=3.0, decay=0.8)

    def run(masked: bool):
        torch.manual_seed(0)  # the same random draws (k-means seeds, dead-code picks)
        rvq = ResidualVQ(6, 3, 16, **kw)
        outs = [rvq(padded, mask=mask) if masked else rvq(x[mask]) for _ in range(4)]
        return rvq, outs

    masked, outs_m = run(True)
    plain, outs_p = run(False)
    for (zq_m, codes_m, loss_m), (zq_p, codes_p, loss_p) in zip(outs_m, outs_p, strict=True):
        # every frame is quantized; the valid ones exactly as without padding
        assert codes_m.shape == (3, 40, 3)
        assert torch.equal(codes_m[mask], codes_p)
        torch.testing.assert_close(zq_m[mask], zq_p, rtol=0, atol=0)
        for key in loss_p:
            torch.testing.assert_close(loss_m[key], loss_p[key], rtol=1e-6, atol=0)
    assert_same(buffers(masked), buffers(plain))  # k-means, EMA, dead codes, counts
    assert int(masked.replaced_counts.sum()) > 0  # the dead-code path ran
    # padded frames are quantized with the codebooks as they were
    masked.eval()
    assert torch.equal(masked(padded, mask=mask)[1], masked.encode(padded))


def test_a_batch_of_padding_only_changes_nothing_and_has_zero_losses():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 8)
    x = torch.randn(2, 10, 4)
    none = torch.zeros(2, 10, dtype=torch.bool)
    before = buffers(vq)
    zq, idx, losses = vq(x, mask=none)  # not initialised yet: nothing to learn from
    assert_same(before, buffers(vq)) and float(losses["commitment"]) == 0
    vq(x)
    before = buffers(vq)
    vq(x, mask=none)
    assert_same(before, buffers(vq))


def test_mask_checks():
    vq = VectorQuantizer(4, 8)
    with pytest.raises(ValueError, match="mask must have the shape"):
        vq(torch.zeros(2, 5, 4), mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be a boolean"):
        vq(torch.zeros(2, 5, 4), mask=torch.ones(2, 5))
    with pytest.raises(TypeError, match="mask must be a boolean torch.Tensor"):
        vq(torch.zeros(2, 5, 4), mask=np.ones((2, 5), bool))


# ---------------------------------------------------------------- quantizer dropout
def test_per_example_dropout_follows_dac():
    torch.manual_seed(0)
    rvq = ResidualVQ(
        6, 4, 16, quantizer_dropout="example", quantizer_dropout_prob=0.5, dead_code_threshold=0
    )
    x = latents(8 * 20, 6).reshape(8, 20, 6)
    rvq.train()
    rvq(x)  # k-means initialisation of the stages on the first batch
    seen = []
    for _ in range(30):
        books = rvq.codebooks  # the codebooks this forward quantizes with
        zq, codes, _ = rvq(x)
        n_b = rvq.last_n_q
        assert codes.shape == (8, 20, 4) and n_b.shape == (8,)
        assert bool((n_b[4:] == 4).all())  # DAC: only the first int(B * p) examples draw
        seen.extend(n_b[:4].tolist())
        # every example's output is the sum of its own first n_b stages
        for b in range(8):
            n = int(n_b[b])
            want = sum(books[s][codes[b, :, s]] for s in range(n))
            torch.testing.assert_close(zq[b], want, rtol=0, atol=1e-5)
    assert set(seen) == {1, 2, 3, 4}


def test_per_example_dropout_trains_each_stage_on_its_examples_only():
    torch.manual_seed(0)
    rvq = ResidualVQ(6, 3, 8, quantizer_dropout="example", kmeans_iters=2)
    x = latents(6 * 10, 6).reshape(6, 10, 6)
    for _ in range(5):
        rvq(x)
        n_b = rvq.last_n_q
        frames_used = [(n_b > s).sum().item() * 10 for s in range(3)]
        for s, layer in enumerate(rvq.layers):
            if frames_used[s]:  # a stage no example used keeps its last counts
                assert int(layer.last_counts.sum()) == frames_used[s]


def test_batch_dropout_probability_and_true_is_batch():
    assert ResidualVQ(2, 3, 4, quantizer_dropout=True).quantizer_dropout == "batch"
    torch.manual_seed(0)
    rvq = ResidualVQ(2, 4, 4, quantizer_dropout="batch", quantizer_dropout_prob=0.25)
    x = torch.randn(64, 2)
    counts = [rvq(x)[1].shape[-1] for _ in range(400)]
    full = np.mean([c == 4 for c in counts])
    # all four stages unless a draw happens (p = 0.25), and then 4 with probability 1/4
    assert full == pytest.approx(0.75 + 0.25 / 4, abs=0.07)
    with pytest.raises(ValueError, match="quantizer_dropout_prob"):
        ResidualVQ(2, 3, 4, quantizer_dropout_prob=1.5)
    with pytest.raises(ValueError, match="quantizer_dropout must be"):
        ResidualVQ(2, 3, 4, quantizer_dropout="frame")
    with pytest.raises(TypeError, match="quantizer_dropout_prob=0.5 here"):
        ResidualVQ(2, 3, 4, quantizer_dropout=0.5)


# ---------------------------------------------------------------- projections and normalize
def test_factorized_codes_search_the_projected_space():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 16, codebook_dim=3, ema=False)
    assert vq.codebook.shape == (16, 3) and vq.project_in.in_features == 8
    z = torch.randn(50, 8, requires_grad=True)
    zq, idx, losses = vq(z)
    h = vq.project_in(z).detach()
    assert torch.equal(idx, nearest(h, vq.codebook))
    torch.testing.assert_close(zq, vq.project_out(vq.codebook[idx]), rtol=0, atol=1e-6)
    (zq.sum() + losses["commitment"] + losses["codebook"]).backward()
    for p in (vq.project_in.weight, vq.project_out.weight, vq.embed, z):
        assert p.grad is not None and float(p.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match=r"\(codebook_size, codebook_dim\) = \(16, 3\)"):
        vq.set_codebook(torch.zeros(16, 8))


def test_normalized_codes_pick_the_largest_cosine_similarity():
    torch.manual_seed(0)
    vq = VectorQuantizer(5, 12, normalize=True, kmeans_init=False).eval()
    z = torch.randn(200, 5)
    zq, idx, _ = vq(z)
    cos = F.normalize(z, dim=1) @ F.normalize(vq.codebook, dim=1).T
    assert torch.equal(idx, cos.argmax(dim=1))
    torch.testing.assert_close(zq, vq.codebook[idx])  # the codeword itself, as DAC


@pytest.mark.parametrize(
    "kw", [dict(codebook_dim=3), dict(normalize=True), dict(codebook_dim=3, normalize=True)]
)
def test_projected_residual_stack_encodes_and_decodes_its_forward(kw):
    torch.manual_seed(0)
    rvq = ResidualVQ(6, 3, 16, channel_dim=1, **kw)
    z = latents(4 * 30, 6).reshape(4, 30, 6).transpose(1, 2)
    for _ in range(3):
        rvq(z)
    rvq.eval()
    zq, codes, _ = rvq(z)
    assert codes.shape == (4, 3, 30)
    assert torch.equal(rvq.encode(z), codes)
    torch.testing.assert_close(rvq.decode(codes), zq, rtol=0, atol=1e-5)
    # the residual of each stage is what the next stage searches
    r = z.transpose(1, 2).reshape(-1, 6)
    for s, layer in enumerate(rvq.layers):
        h = layer.project_in(r) if layer.project_in is not None else r
        book = layer.codebook
        if layer.normalize:
            h, book = F.normalize(h, dim=1), F.normalize(book, dim=1)
        idx = nearest(h.detach(), book)
        assert torch.equal(idx, codes.transpose(1, 2).reshape(-1, 3)[:, s])
        r = r - layer._decode_rows(idx)


# ---------------------------------------------------------------- rotation trick
def test_rotation_gradient_in_the_modules():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 8, gradient="rotation", kmeans_init=False).eval()
    z = torch.randn(30, 4, requires_grad=True)
    zq, idx, _ = vq(z)
    g = torch.randn(30, 4)
    zq.backward(g)
    z2 = z.detach().clone().requires_grad_(True)
    rotation_trick(z2, vq.codebook[idx]).backward(g)
    torch.testing.assert_close(z.grad, z2.grad)
    assert not torch.allclose(z.grad, g)  # not straight-through
    # a residual stack applies it from z to the sum of its stages
    rvq = ResidualVQ(4, 2, 8, gradient="rotation", kmeans_init=False).eval()
    z = torch.randn(30, 4, requires_grad=True)
    zq, codes, _ = rvq(z)
    zq.backward(g)
    z2 = z.detach().clone().requires_grad_(True)
    rotation_trick(z2, rvq.decode(codes)).backward(g)
    torch.testing.assert_close(z.grad, z2.grad)
    with pytest.raises(ValueError, match="gradient must be one of"):
        VectorQuantizer(4, 8, gradient="gumbel")


# ---------------------------------------------------------------- diagnostics
def test_per_stage_diagnostics():
    torch.manual_seed(0)
    rvq = ResidualVQ(6, 3, 16, dead_code_threshold=4.0, decay=0.5)
    x = latents(500, 6)
    mask = torch.rand(500) < 0.8
    assert all(np.isnan(v) for v in rvq.residual_norms)
    for _ in range(4):
        rvq(x, mask=mask)
    n_valid = int(mask.sum())
    assert rvq.usage_counts.shape == (3, 16)
    assert rvq.usage_counts.sum(dim=1).tolist() == [4 * n_valid] * 3
    assert rvq.replaced_counts.tolist() == [int(layer.n_replaced) for layer in rvq.layers]
    assert int(rvq.replaced_counts.sum()) > 0
    # residual norms of the last forward, stage by stage, from the codes it returned
    zq, codes, _ = rvq.eval()(x, mask=mask)
    r = x[mask]
    for s, layer in enumerate(rvq.layers):
        assert rvq.residual_norms[s] == pytest.approx(float(r.norm(dim=1).mean()), rel=1e-5)
        r = r - layer.codebook[codes[mask][:, s]]
    assert rvq.residual_norms[0] > rvq.residual_norms[1] > rvq.residual_norms[2]
    rvq(x, n_q=1)
    assert np.isnan(rvq.residual_norms[1]) and np.isnan(rvq.residual_norms[2])
    before = rvq.usage_counts
    rvq(x)  # eval: no counting
    assert torch.equal(before, rvq.usage_counts)
    rvq.reset_diagnostics()
    assert int(rvq.usage_counts.sum()) == 0 and int(rvq.replaced_counts.sum()) == 0
    assert float(rvq.layers[0].cluster_size.sum()) > 0  # training statistics untouched


def test_new_arguments_are_checked():
    bad = [
        (dict(codebook_dim=0), ValueError, "codebook_dim"),
        (dict(codebook_dim=2.5), TypeError, "codebook_dim"),
        (dict(normalize="yes"), TypeError, "normalize"),
        (dict(gradient=1), ValueError, "gradient"),
    ]
    for kwargs, exc, name in bad:
        with pytest.raises(exc, match=name):
            VectorQuantizer(4, 8, **kwargs)
        with pytest.raises(exc, match=name):
            ResidualVQ(4, 2, 8, **kwargs)
