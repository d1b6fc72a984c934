"""Tests of the chapter 5 exercise checkers (rvqlib.exercises.ch05)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from exercise_asserts import assert_right, assert_wrong

from rvqlib.exercises import ch05
from rvqlib.nn import VectorQuantizer
from rvqlib.vq import nearest

ROOT = Path(__file__).resolve().parents[1]


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
    assert_right(
        ch05.check_ema_step(torch.tensor([2.25, 1.75]), ((1.36364, 0.340909), (0, 1.94444)))
    )


def test_ema_step_rounded_right() -> None:
    # the solution's own printed values, 3 decimals (4 significant figures) and 3 figures
    assert_right(ch05.check_ema_step([2.25, 1.75], [[1.364, 0.341], [0, 1.944]]))
    assert_right(ch05.check_ema_step([2.25, 1.75], [[1.36, 0.341], [0.0, 1.94]]))
    assert_wrong(ch05.check_ema_step([2.25, 1.75], [[1.4, 0.34], [0.0, 1.9]]), "codebook")


def test_ema_step_placeholder_and_wrong_type() -> None:
    assert_wrong(ch05.check_ema_step(..., ...), "no answer yet")
    assert_wrong(ch05.check_ema_step([2.25, 1.75], ...), "no answer yet")
    assert_wrong(ch05.check_ema_step([2.25, 1.75], None), "codebook", "expected an array")
    assert_wrong(ch05.check_ema_step("2.25, 1.75", [[1, 0], [0, 1]]), "expected an array")
    assert_wrong(ch05.check_ema_step({"N": 1}, [[1, 0], [0, 1]]), "cluster sizes")


@pytest.mark.parametrize(
    ("sizes", "fragment"),
    [
        ([2.75, 1.25], "swapped gamma"),
        ([3.0, 1.0], "batch's counts alone"),
        ([2.2, 1.8], "smoothed sizes"),
        ([5.0, 3.0], "without decaying"),
        ([2.75, 1.3], "2 entries differ"),  # wrong, and no known slip
    ],
)
def test_ema_step_size_slips(sizes, fragment) -> None:
    assert_wrong(ch05.check_ema_step(sizes, ch05.hand_answers()[1]), "cluster sizes", fragment)


def test_ema_step_size_slip_rounded_is_still_named() -> None:
    assert_wrong(ch05.check_ema_step([2.2, 1.8], None), "smoothed sizes")  # exact values
    n_swap = (1 - ch05.DECAY_HAND) * ch05.N_HAND + ch05.DECAY_HAND * ch05.COUNTS_HAND
    assert_wrong(ch05.check_ema_step(np.round(n_swap, 2), None), "swapped gamma")


def test_ema_step_codebook_slips() -> None:
    n, e = ch05.hand_answers()
    _, slips = ch05.hand_slips()
    fragments = {
        "skipped the Laplace": "Laplace smoothing",
        "swapped gamma": "swapped gamma",
        "batch means": "batch means",
        "forgot to rescale": "rescale",
        "old sums": "old sums",
        "new sums m_i;": "new sums",
        "transposed": "transposed",
    }
    for slip, value in slips.items():
        fragment = next(f for key, f in fragments.items() if key in slip)
        assert_wrong(ch05.check_ema_step(n, value), "codebook", fragment)
        # rounded to 3 decimals, the slip is still named
        assert_wrong(ch05.check_ema_step(n, np.round(value, 3)), "codebook", fragment)
    assert_wrong(ch05.check_ema_step(n, [[1.0, 0.0], [0.0, 2.0]]), "codebook", "entries differ")
    assert_wrong(ch05.check_ema_step(n, [1.0, 2.0]), "codebook", "shape")


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

    def as_lists(*args):
        return tuple(a.tolist() for a in _right_impl(*args))

    def as_dict(*args):
        names = ("cluster_size", "embed_sum", "codebook")
        return dict(zip(names, _right_impl(*args), strict=True))

    def as_torch(*args):
        return tuple(torch.tensor(a) for a in _right_impl(*args))

    for fn in (as_lists, as_dict, as_torch):
        assert_right(ch05.check_ema_update(fn))


def test_ema_update_wrong_types() -> None:
    assert_wrong(ch05.check_ema_update(lambda *a: {"N": 1}), "dict with keys")
    assert_wrong(ch05.check_ema_update(lambda *a: "abc"), "three arrays")
    assert_wrong(ch05.check_ema_update(lambda *a: (1, 2)), "three arrays")


def test_ema_update_placeholder() -> None:
    def stub(cluster_size, embed_sum, z, indices, decay, eps): ...

    assert_wrong(ch05.check_ema_update(...), "no function yet")
    assert_wrong(ch05.check_ema_update(stub), "no `return`")


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

    def forgot_n(cluster_size, embed_sum, z, indices, decay, eps):
        n, m, _ = _right_impl(cluster_size, embed_sum, z, indices, decay, eps)
        k = len(n)
        return n, m, m / ((n + eps) / (n.sum() + k * eps))[:, None]

    def keeps_unused(cluster_size, embed_sum, z, indices, decay, eps):
        n, m, _ = _right_impl(cluster_size, embed_sum, z, indices, decay, eps)
        used = np.bincount(indices, minlength=len(n)) > 0
        n = np.where(used, n, cluster_size)
        m = np.where(used[:, None], m, embed_sum)
        k = len(n)
        return n, m, m / ((n + eps) / (n.sum() + k * eps) * n.sum())[:, None]

    assert_wrong(ch05.check_ema_update(no_smoothing), "Laplace smoothing")
    assert_wrong(ch05.check_ema_update(swapped), "swapped decay")
    assert_wrong(ch05.check_ema_update(fancy_index), "np.add.at", "buffers")
    assert_wrong(ch05.check_ema_update(forgot_n), "factor N")
    assert_wrong(ch05.check_ema_update(keeps_unused), "win nothing must decay")
    assert_wrong(ch05.check_ema_update(no_minlength), "minlength")
    assert_wrong(ch05.check_ema_update(raises), "RuntimeError")
    assert_wrong(ch05.check_ema_update(42), "expected a function")


# ----------------------------------------------------------------- choices
@pytest.mark.parametrize(
    ("choice", "word"), [("b", "gamma = 1"), ("c", "close to 1"), ("d", "origin")]
)
def test_decay_zero_wrong(choice: str, word: str) -> None:
    assert_wrong(ch05.check_decay_zero(choice), word)


def test_decay_zero_right_and_placeholder() -> None:
    for answer in ("a", "A", " (a) ", "a."):
        assert_right(ch05.check_decay_zero(answer))
    assert "origin" in ch05.check_decay_zero("a").message  # unused codes: the condition
    assert_wrong(ch05.check_decay_zero(...), "no answer yet")
    assert_wrong(ch05.check_decay_zero("z"), "not one of the options")
    assert_wrong(ch05.check_decay_zero(None), "not one of the options")


@pytest.mark.parametrize(
    ("choice", "word"), [("a", "dead-code replacement"), ("c", "speed"), ("d", "bias")]
)
def test_laplace_wrong(choice: str, word: str) -> None:
    assert_wrong(ch05.check_laplace(choice), word)


def test_laplace_right_and_placeholder() -> None:
    assert_right(ch05.check_laplace("b"))
    assert_right(ch05.check_laplace("[B]"))
    assert_wrong(ch05.check_laplace(...), "no answer yet")
    assert_wrong(ch05.check_laplace(2), "not one of the options")


def test_the_right_options_are_not_the_longest() -> None:
    for options, right in ((ch05.GAMMA_ZERO_OPTIONS, "a"), (ch05.LAPLACE_OPTIONS, "b")):
        assert len(options[right]) < max(len(v) for v in options.values())


def test_options_are_printed_in_the_notebook() -> None:
    nb = json.loads((ROOT / "notebooks" / "05_ema_codebooks.ipynb").read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    text = " ".join(text.split())
    for options in (ch05.GAMMA_ZERO_OPTIONS, ch05.LAPLACE_OPTIONS):
        for key, option in options.items():
            assert f"**{key}** {option}" in text, option
