"""Tests of rvqlib.reference: EnCodec's quantizer re-implemented operation for operation.

The claims the book makes about EnCodec's code (chapters 5 and 9) are tested here on
the re-implementation: dead-code replacement is lost in the same call, the k-means
initialisation divides the first EMA step by the counts, and stages after the first
send no commitment gradient to the input. When the real ``encodec`` package can be
imported (it cannot be installed in the book's environment, see the module
docstring), the re-implementation is compared with it bit for bit.
"""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest
import torch

from rvqlib.nn import VectorQuantizer
from rvqlib.reference import EncodecStyleCodebook, EncodecStyleRVQ, EncodecStyleVQ
from rvqlib.rvq import rvq_encode
from rvqlib.vq import nearest

torch.set_num_threads(1)


def _far_start_run(make, steps: int = 100) -> tuple[torch.Tensor, torch.Tensor, torch.nn.Module]:
    """Train on a blob at (3, 3) after pushing half the codebook far away.

    Returns the held-out usage of each code, the final codebook and the module.
    """
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    cb = make()
    cb(3 + 0.2 * torch.randn(256, 2, generator=g))  # k-means initialisation
    with torch.no_grad():
        cb.embed[4:] = torch.tensor([-40.0, -40.0])
        if isinstance(cb, VectorQuantizer):
            cb.embed_sum[4:] = cb.embed[4:] * cb._smoothed_sizes()[4:, None]
        else:
            cb.embed_avg[4:] = cb.embed[4:] * cb.cluster_size[4:, None].clamp(min=1e-5)
    for _ in range(steps):
        cb(3 + 0.2 * torch.randn(256, 2, generator=g))
    test = 3 + 0.2 * torch.randn(4000, 2, generator=g)
    cb.eval()
    idx = cb(test)[1] if isinstance(cb, VectorQuantizer) else cb.encode(test)
    return torch.bincount(idx, minlength=8), cb.embed.clone(), cb


def _encodec_style(threshold: float, **kw) -> EncodecStyleCodebook:
    return EncodecStyleCodebook(
        2, 8, kmeans_init=True, decay=0.9, threshold_ema_dead_code=threshold, **kw
    )


# ----------------------------------------------------------------- dead codes
def test_encodec_dead_code_replacement_is_lost() -> None:
    usage0, book0, cb0 = _far_start_run(lambda: _encodec_style(0))
    usage2, book2, cb2 = _far_start_run(lambda: _encodec_style(2))
    assert cb0.n_expired == 0 and cb2.n_expired > 100  # it did replace, many times
    assert torch.equal(book0, book2)  # ... and the codebooks are bit-identical
    assert torch.equal(usage0, usage2)
    assert int((usage2 > 0).sum()) <= 2  # most codes stay dead


def test_restarting_the_statistics_keeps_the_replacement() -> None:
    usage, _, cb = _far_start_run(lambda: _encodec_style(2, restart_stats_on_replace=True))
    assert cb.n_expired > 0 and bool((usage > 0).all())


def test_vector_quantizer_keeps_the_replacement() -> None:
    usage, _, vq = _far_start_run(lambda: VectorQuantizer(2, 8, decay=0.9, dead_code_threshold=2.0))
    assert int(vq.n_replaced) > 0 and bool((usage > 0).all())


def test_replaced_rows_are_overwritten_in_the_same_call() -> None:
    torch.manual_seed(0)
    cb = _encodec_style(2)
    x = 3 + 0.2 * torch.randn(256, 2)
    cb(x)
    with torch.no_grad():
        cb.cluster_size[5] = 0.0  # code 5 is now "dead"
    avg, size = cb.embed_avg.clone(), cb.cluster_size.clone()
    q, idx = cb(x)
    assert bool(cb.last_expired[5])
    onehot = torch.nn.functional.one_hot(idx, 8).float()
    size = 0.9 * size + 0.1 * onehot.sum(0)
    avg = 0.9 * avg + 0.1 * (x.t() @ onehot).t()
    n = size.sum()
    expected = avg / ((size + 1e-5) / (n + 8e-5) * n)[:, None]
    assert torch.allclose(cb.embed, expected)  # nothing of the replacement is left


# ----------------------------------------------------------------- initialisation
def test_kmeans_initialisation_divides_the_first_step_by_the_counts() -> None:
    torch.manual_seed(0)
    x = 3 + 0.3 * torch.randn(512, 2)
    cb = EncodecStyleCodebook(2, 4, kmeans_init=True, threshold_ema_dead_code=0)
    cb.init_embed_(x)
    before, counts = cb.embed.norm(dim=1).clone(), cb.cluster_size.clone()
    cb(x)
    after = cb.embed.norm(dim=1)
    assert bool((before > 3).all()) and bool((after < 0.2).all())
    # e_new = (gamma e + (1 - gamma) s_i) / N_i with s_i ~ N_i e: a factor of about
    # (gamma + (1 - gamma) N_i) / N_i instead of 1
    factor = (0.99 + 0.01 * counts) / counts
    assert torch.allclose(after, before * factor, rtol=0.05)

    torch.manual_seed(0)
    fixed = EncodecStyleCodebook(
        2, 4, kmeans_init=True, threshold_ema_dead_code=0, init_sums_from_counts=True
    )
    fixed.init_embed_(x)
    start = fixed.embed.norm(dim=1).clone()
    fixed(x)
    assert torch.allclose(fixed.embed.norm(dim=1), start, rtol=0.05)  # stays put


def test_first_call_initialises_even_in_eval_mode_and_eval_does_not_update() -> None:
    torch.manual_seed(0)
    cb = EncodecStyleCodebook(2, 4, kmeans_init=True).eval()
    x = torch.randn(100, 2)
    cb(x)
    assert bool(cb.inited) and cb.embed.abs().sum() > 0  # as the original: init in any mode
    state = {k: v.clone() for k, v in cb.state_dict().items()}
    cb(torch.randn(100, 2))
    assert all(torch.equal(state[k], v) for k, v in cb.state_dict().items())


def test_codebook_quantizes_like_rvqlib_with_ties_to_the_lowest_index() -> None:
    torch.manual_seed(0)
    cb = EncodecStyleCodebook(2, 5)
    grid = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    cb.embed.copy_(grid)
    x = torch.cat([torch.tensor([[0.5, 0.5], [0.5, 0.0], [1.5, 0.0]]), 3 * torch.rand(200, 2)])
    assert torch.equal(cb.encode(x), nearest(x, grid))
    assert torch.equal(cb.decode(cb.encode(x)), grid[nearest(x, grid)])


# ----------------------------------------------------------------- residual stack
def _trained_rvq(**kw) -> EncodecStyleRVQ:
    torch.manual_seed(0)
    rvq = EncodecStyleRVQ(num_quantizers=3, dim=4, codebook_size=8, kmeans_iters=5, **kw)
    rvq(torch.randn(256, 4))  # initialise every stage
    return rvq


def test_later_commitment_losses_send_no_gradient_issue_25() -> None:
    rvq = _trained_rvq()
    x = torch.randn(64, 4, requires_grad=True)
    out, codes, losses = rvq(x)
    assert codes.shape == (64, 3) and losses.shape == (3,)
    g1 = torch.autograd.grad(losses[0], x, retain_graph=True)[0]
    g_late = torch.autograd.grad(losses[1:].sum(), x, retain_graph=True)[0]
    g_out = torch.autograd.grad(out.sum(), x)[0]
    assert g1.abs().sum() > 0
    assert torch.equal(g_late, torch.zeros_like(x))  # stages 2 and 3: exactly zero
    assert torch.equal(g_out, torch.ones_like(x))  # the output's gradient is the identity


def test_detached_residual_fix_restores_the_gradient_and_scales_the_output() -> None:
    rvq = _trained_rvq(detach_residual=True)
    x = torch.randn(64, 4, requires_grad=True)
    out, _, losses = rvq(x)
    g_late = torch.autograd.grad(losses[1:].sum(), x, retain_graph=True)[0]
    g_out = torch.autograd.grad(out.sum(), x)[0]
    assert g_late.abs().sum() > 0
    assert torch.allclose(g_out, torch.full_like(x, 3.0))  # n_q times the identity


def test_rvq_eval_codes_are_rvq_encode_and_decode_sums_codewords() -> None:
    rvq = _trained_rvq().eval()
    x = torch.randn(50, 4)
    out, codes, losses = rvq(x)
    books = [layer.codebook for layer in rvq.layers]
    assert torch.equal(codes, rvq_encode(x, books))
    assert torch.equal(rvq.encode(x), codes) and bool((losses == 0).all())
    assert torch.allclose(rvq.decode(codes), out)
    assert torch.allclose(rvq.decode(codes[:, :2]), rvq(x, n_q=2)[0])


def test_vq_straight_through_and_loss() -> None:
    torch.manual_seed(0)
    vq = EncodecStyleVQ(2, 4, commitment_weight=0.5)
    vq(torch.randn(256, 2))  # k-means initialisation
    x = torch.randn(32, 2, requires_grad=True)
    before = vq.codebook.clone()
    q, idx, loss = vq(x)
    assert torch.allclose(q, before[idx])  # the codewords chosen before this call's update
    expected = 0.5 * ((q.detach() - x.detach()) ** 2).mean()
    assert torch.allclose(loss, expected.reshape(1))
    (g,) = torch.autograd.grad(q.sum(), x)
    assert torch.equal(g, torch.ones_like(x))


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"dim": 0, "codebook_size": 4}, ValueError, "dim"),
        ({"dim": 2, "codebook_size": 4, "decay": 1.0}, ValueError, "decay"),
        ({"dim": 2, "codebook_size": 4, "epsilon": 0.0}, ValueError, "epsilon"),
        ({"dim": 2, "codebook_size": 4, "kmeans_init": 1}, TypeError, "kmeans_init"),
        ({"dim": 2, "codebook_size": 4, "threshold_ema_dead_code": -1}, ValueError, "threshold"),
    ],
)
def test_bad_construction(kwargs, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        EncodecStyleCodebook(**kwargs)


def test_bad_input() -> None:
    cb = EncodecStyleCodebook(2, 4)
    with pytest.raises(TypeError, match="torch.Tensor"):
        cb(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        cb(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="NaN"):
        cb(torch.full((3, 2), float("nan")))
    rvq = EncodecStyleRVQ(num_quantizers=2, dim=2, codebook_size=4)
    with pytest.raises(ValueError, match="n_q"):
        rvq(torch.zeros(3, 2), n_q=3)
    with pytest.raises(TypeError, match="integer"):
        rvq.decode(torch.zeros(3, 2))


# ----------------------------------------------------------------- the real thing
def _import_encodec_core_vq():
    """EnCodec's core_vq module, if the package is importable (torchaudio stubbed)."""
    stub_needed = importlib.util.find_spec("torchaudio") is None
    if importlib.util.find_spec("encodec") is None:
        pytest.skip("encodec is not installed (it cannot be, next to the pinned torch)")
    if stub_needed:
        sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    return importlib.import_module("encodec.quantization.core_vq")


def test_bit_identical_to_encodec_when_it_is_importable() -> None:
    core_vq = _import_encodec_core_vq()
    for threshold in (0, 2):
        runs = []
        for cls in (core_vq.EuclideanCodebook, EncodecStyleCodebook):
            torch.manual_seed(0)
            g = torch.Generator().manual_seed(1)
            cb = cls(
                dim=2,
                codebook_size=8,
                kmeans_init=True,
                decay=0.9,
                threshold_ema_dead_code=threshold,
            )
            trace = []
            for t in range(40):
                if t == 1:
                    with torch.no_grad():
                        cb.embed[4:] = -40.0
                q, i = cb(3 + 0.2 * torch.randn(64, 2, generator=g))
                trace += [q.clone(), i.clone(), cb.embed.clone(), cb.embed_avg.clone()]
            runs.append(trace)
        assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True)), threshold
