"""Tests of the chapter 5 exercise checkers (rvqlib.exercises.ch05)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from exercise_asserts import assert_right, assert_wrong

from rvqlib.exercises import ch05
from rvqlib.nn import VectorQuantizer
from rvqlib.vq import nearest


# ----------------------------------------------------------------- reference
def test_reference_matches_vector_quantizer_over_several_batches() -> None:
    torch.manual_seed(3)
    k, d, decay, eps = 6, 3, 0.8, 1e-3
    vq = VectorQuantizer(d, k, decay=decay, eps=eps, kmeans_init=False, dead_code_threshold=0)
    vq = vq.double()
    x = torch.randn(40, d, dtype=torch.float64)
    vq.set_codebook(x[:k])
    vq(x)  # the first batch starts the statistics, then applies one step
    for _ in range(4):
        n_old, m_old, e_old = vq.cluster_size.numpy(), vq.embed_sum.numpy(), vq.codebook.numpy()
        z = torch.randn(30, d, dtype=torch.float64)
        idx = nearest(z.numpy(), e_old)
        counts = np.bincount(idx, minlength=k).astype(float)
        sums = np.zeros((k, d))
        np.add.at(sums, idx, z.numpy())
        want = ch05.reference_ema_update(n_old, m_old, counts, sums, decay, eps)
        vq(z)
        assert np.allclose(vq.cluster_size.numpy(), want[0])
        assert np.allclose(vq.embed_sum.numpy(), want[1])
        assert np.allclose(vq.codebook.numpy(), want[2])


# ----------------------------------------------------------------- by hand
def test_hand_answers_are_the_arithmetic() -> None:
    n, e = ch05.hand_answers()
    assert np.allclose(n, [2.25, 1.75])
    assert np.allclose(e, [[3 / 2.2, 0.75 / 2.2], [0.0, 3.5 / 1.8]])


def test_ema_step_right() -> None:
    assert_right(ch05.check_ema_step([2.25, 1.75], [[3 / 2.2, 0.75 / 2.2], [0.0, 3.5 / 1.8]]))
    assert_right(ch05.check_ema_step(*ch05.hand_answers()))
    assert_right(ch05.check_ema_step(np.array([2.25, 1.75]), [[1.36364, 0.340909], [0.0, 1.94444]]))


def test_ema_step_placeholder() -> None:
    assert_wrong(ch05.check_ema_step(..., ...), "no answer yet")
    assert_wrong(ch05.check_ema_step([2.25, 1.75], None), "no answer yet")


def test_ema_step_slips() -> None:
    n, e = ch05.hand_answers()
    g = ch05.DECAY_HAND
    assert_wrong(ch05.check_ema_step([2.75, 1.25], e), "cluster sizes", "swapped gamma")
    assert_wrong(ch05.check_ema_step([3.0, 1.0], e), "cluster sizes")
    m = g * ch05.M_HAND + (1 - g) * ch05.SUMS_HAND
    assert_wrong(ch05.check_ema_step(n, m / n[:, None]), "codebook", "Laplace smoothing")
    assert_wrong(ch05.check_ema_step(n, [[2.0, 1.0], [0.0, 2.0]]), "codebook", "batch means")
    assert_wrong(ch05.check_ema_step(n, m / (n + 0.5)[:, None]), "codebook", "rescale")
    assert_wrong(ch05.check_ema_step(n, [[1.0, 0.0], [0.0, 2.0]]), "codebook")
    assert_wrong(ch05.check_ema_step(n, [1.0, 2.0]), "codebook")


# ----------------------------------------------------------------- implement
def _right_impl(cluster_size, embed_sum, z, indices, decay, eps):
    k = len(cluster_size)
    counts = np.bincount(indices, minlength=k)
    sums = np.zeros_like(embed_sum)
    np.add.at(sums, indices, z)
    n = decay * cluster_size + (1 - decay) * counts
    m = decay * embed_sum + (1 - decay) * sums
    return n, m, m / ((n + eps) / (n.sum() + k * eps) * n.sum())[:, None]


def test_ema_update_right() -> None:
    assert_right(ch05.check_ema_update(_right_impl))


def test_ema_update_placeholder() -> None:
    def stub(cluster_size, embed_sum, z, indices, decay, eps): ...

    assert_wrong(ch05.check_ema_update(...), "no function yet")
    assert_wrong(ch05.check_ema_update(stub), "three arrays")


def test_ema_update_slips() -> None:
    def no_smoothing(cluster_size, embed_sum, z, indices, decay, eps):
        n, m, _ = _right_impl(cluster_size, embed_sum, z, indices, decay, eps)
        return n, m, m / n[:, None]

    def swapped(cluster_size, embed_sum, z, indices, decay, eps):
        return _right_impl(cluster_size, embed_sum, z, indices, 1 - decay, eps)

    def fancy_index(cluster_size, embed_sum, z, indices, decay, eps):
        k = len(cluster_size)
        counts = np.bincount(indices, minlength=k)
        sums = np.zeros_like(embed_sum)
        sums[indices] += z  # drops repeated indices
        n = decay * cluster_size + (1 - decay) * counts
        m = decay * embed_sum + (1 - decay) * sums
        return n, m, m / ((n + eps) / (n.sum() + k * eps) * n.sum())[:, None]

    def no_minlength(cluster_size, embed_sum, z, indices, decay, eps):
        counts = np.bincount(indices)
        return decay * counts, embed_sum, embed_sum

    def raises(*args):
        raise RuntimeError("boom")

    assert_wrong(ch05.check_ema_update(no_smoothing), "Laplace smoothing")
    assert_wrong(ch05.check_ema_update(swapped), "swapped decay")
    assert_wrong(ch05.check_ema_update(fancy_index), "my_ema_update")
    assert_wrong(ch05.check_ema_update(no_minlength), "minlength")
    assert_wrong(ch05.check_ema_update(raises), "RuntimeError")
    assert_wrong(ch05.check_ema_update(42), "expected a function")


# ----------------------------------------------------------------- choices
@pytest.mark.parametrize("choice", ["b", "c", "d"])
def test_decay_zero_wrong(choice: str) -> None:
    assert_wrong(ch05.check_decay_zero(choice), "gamma")


def test_decay_zero_right_and_placeholder() -> None:
    assert_right(ch05.check_decay_zero("a"))
    assert_wrong(ch05.check_decay_zero(...), "no answer yet")
    assert_wrong(ch05.check_decay_zero("z"))


@pytest.mark.parametrize(
    ("choice", "word"), [("a", "dead-code replacement"), ("c", "speed"), ("d", "bias")]
)
def test_laplace_wrong(choice: str, word: str) -> None:
    assert_wrong(ch05.check_laplace(choice), word)


def test_laplace_right_and_placeholder() -> None:
    assert_right(ch05.check_laplace("b"))
    assert_wrong(ch05.check_laplace(...), "no answer yet")
