"""Tests for rvqlib.rvq: greedy encoding, decoding, training, properties and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rvqlib.rvq import rvq_decode, rvq_encode, train_rvq_codebooks

# the learner's worked example (two stages of two codewords in 2-D)
NOTES_Z = np.array([5.8, 2.4])
NOTES_BOOKS = [np.array([[5.0, 2.0], [6.0, 3.0]]), np.array([[-0.2, -0.6], [0.9, 0.5]])]


def reference_encode(z: np.ndarray, books: list[np.ndarray]) -> np.ndarray:
    """Plain stage-by-stage argmin of explicit squared differences."""
    r = z.reshape(-1, z.shape[-1]).copy()
    codes = []
    for cb in books:
        d = ((r[:, None, :] - cb[None]) ** 2).sum(-1)
        idx = d.argmin(1)
        codes.append(idx)
        r = r - cb[idx]
    return np.stack(codes, -1).reshape(z.shape[:-1] + (len(books),))


def random_books(rng: np.random.Generator, sizes: list[int], d: int, scales=None):
    scales = scales or [0.5**s for s in range(len(sizes))]
    return [s * rng.normal(size=(k, d)) for k, s in zip(sizes, scales, strict=True)]


def test_notes_worked_example():
    codes = rvq_encode(NOTES_Z, NOTES_BOOKS)
    assert codes.tolist() == [1, 0]  # e_{1,2} then e_{2,1}
    zhat = rvq_decode(codes, NOTES_BOOKS)
    np.testing.assert_allclose(zhat, [5.8, 2.4], atol=1e-12)
    # the residual after stage 1 is (-0.2, -0.6); one stage leaves squared error 0.40
    one = rvq_decode(rvq_encode(NOTES_Z, NOTES_BOOKS, n_q=1), NOTES_BOOKS)
    np.testing.assert_allclose(NOTES_Z - one, [-0.2, -0.6], atol=1e-12)
    assert float(((NOTES_Z - one) ** 2).sum()) == pytest.approx(0.40)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(1, 9), min_size=1, max_size=5),
    st.integers(1, 4),
)
def test_encode_equals_reference_numpy_and_torch(seed, sizes, d):
    rng = np.random.default_rng(seed)
    books = random_books(rng, sizes, d)
    z = rng.normal(size=(3, 7, d))
    expected = reference_encode(z, books)
    codes = rvq_encode(z, books)
    assert codes.shape == (3, 7, len(sizes)) and codes.dtype == np.int64
    np.testing.assert_array_equal(codes, expected)
    tcodes = rvq_encode(torch.from_numpy(z), [torch.from_numpy(b) for b in books])
    assert tcodes.dtype == torch.long
    np.testing.assert_array_equal(tcodes.numpy(), expected)
    # indices always in range of their stage's codebook
    for s, k in enumerate(sizes):
        assert codes[..., s].min() >= 0 and codes[..., s].max() < k


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 6), min_size=1, max_size=4))
def test_decode_is_sum_of_chosen_codewords(seed, sizes):
    rng = np.random.default_rng(seed)
    books = random_books(rng, sizes, 3)
    z = rng.normal(size=(11, 3))
    codes = rvq_encode(z, books)
    manual = sum(books[s][codes[:, s]] for s in range(len(books)))
    np.testing.assert_allclose(rvq_decode(codes, books), manual, rtol=0, atol=1e-12)
    # and z - zhat is the last residual of the greedy recursion
    r = z.copy()
    for s, cb in enumerate(books):
        r = r - cb[codes[:, s]]
    np.testing.assert_allclose(z - rvq_decode(codes, books), r, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(1, 6), min_size=1, max_size=5),
    st.booleans(),
)
def test_adding_a_stage_never_increases_error_with_zero_codeword(seed, sizes, integer):
    rng = np.random.default_rng(seed)
    if integer:  # exact arithmetic: the inequality must hold exactly
        books = [rng.integers(-4, 5, size=(k, 2)).astype(float) for k in sizes]
        z = rng.integers(-9, 10, size=(25, 2)).astype(float)
    else:
        books = random_books(rng, sizes, 2)
        z = rng.normal(size=(25, 2))
    books = [np.insert(cb, rng.integers(0, len(cb) + 1), 0.0, axis=0) for cb in books]
    errors = []
    for n in range(1, len(books) + 1):
        zhat = rvq_decode(rvq_encode(z, books, n_q=n), books)
        errors.append(((z - zhat) ** 2).sum(-1))
    errors = np.array([((z) ** 2).sum(-1)] + errors)
    slack = 0.0 if integer else 1e-12
    assert np.all(np.diff(errors, axis=0) <= slack)


def test_n_q_uses_the_first_stages():
    rng = np.random.default_rng(0)
    books = random_books(rng, [4, 8, 2], 5)
    z = rng.normal(size=(20, 5))
    full = rvq_encode(z, books)
    for n in (1, 2, 3):
        np.testing.assert_array_equal(rvq_encode(z, books, n_q=n), full[:, :n])
    # decoding a prefix of the codes uses the first codebooks
    np.testing.assert_allclose(
        rvq_decode(full[:, :2], books), books[0][full[:, 0]] + books[1][full[:, 1]]
    )


def test_stacked_codebook_array_and_array_likes():
    rng = np.random.default_rng(1)
    stacked = rng.normal(size=(3, 4, 2))
    z = rng.normal(size=(6, 2))
    np.testing.assert_array_equal(rvq_encode(z, stacked), rvq_encode(z, list(stacked)))
    lists = [cb.tolist() for cb in stacked]
    np.testing.assert_array_equal(rvq_encode(z.tolist(), lists), rvq_encode(z, stacked))
    zt = torch.from_numpy(z)
    np.testing.assert_array_equal(
        rvq_encode(zt, torch.from_numpy(stacked)).numpy(), rvq_encode(z, stacked)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out(dtype):
    g = torch.Generator().manual_seed(0)
    books = [torch.randn(5, 3, generator=g, dtype=dtype) for _ in range(3)]
    z = torch.randn(2, 4, 3, generator=g, dtype=dtype)
    codes = rvq_encode(z, books)
    assert codes.dtype == torch.long and codes.shape == (2, 4, 3)
    zhat = rvq_decode(codes, books)
    assert isinstance(zhat, torch.Tensor) and zhat.dtype == dtype and zhat.shape == z.shape
    assert zhat.device == z.device


def test_numpy_dtype_kept():
    books = [np.eye(2, dtype=np.float32)]
    zhat = rvq_decode(rvq_encode(np.ones((3, 2), np.float32), books), books)
    assert zhat.dtype == np.float32


def test_train_rvq_codebooks():
    rng = np.random.default_rng(2)
    x = rng.standard_t(df=4, size=(600, 4))
    books = train_rvq_codebooks(x, 4, 8, seed=0, n_iter=20)
    assert len(books) == 4 and all(cb.shape == (8, 4) for cb in books)
    mse = [
        float(((x - rvq_decode(rvq_encode(x, books, n_q=n), books)) ** 2).mean())
        for n in range(1, 5)
    ]
    assert np.all(np.diff(mse) < 0)
    assert mse[0] < float((x**2).mean())
    again = train_rvq_codebooks(x, 4, 8, seed=0, n_iter=20)
    for a, b in zip(books, again, strict=True):
        np.testing.assert_array_equal(a, b)
    sizes = train_rvq_codebooks(x, 3, [16, 4, 2], seed=1, n_iter=5)
    assert [cb.shape[0] for cb in sizes] == [16, 4, 2]
    tb = train_rvq_codebooks(torch.from_numpy(x).float(), 2, 4, seed=0, n_iter=5)
    assert all(isinstance(cb, torch.Tensor) and cb.dtype == torch.float32 for cb in tb)


def test_training_is_stage_by_stage_kmeans_on_residuals():
    from rvqlib.kmeans import kmeans

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 3))
    books = train_rvq_codebooks(x, 2, 5, seed=4, n_iter=15)
    gen = np.random.default_rng(4)
    first = kmeans(x, 5, n_iter=15, seed=gen)
    np.testing.assert_array_equal(books[0], first.centroids)
    second = kmeans(x - first.centroids[first.labels], 5, n_iter=15, seed=gen)
    np.testing.assert_array_equal(books[1], second.centroids)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (
            lambda: rvq_encode(np.zeros((2, 2)), NOTES_BOOKS, n_q=3),
            ValueError,
            r"n_q=3 is larger than the number of stages \(2\)",
        ),
        (
            lambda: rvq_encode(np.zeros((2, 2)), NOTES_BOOKS, n_q=0),
            ValueError,
            "n_q must be positive",
        ),
        (lambda: rvq_encode(np.zeros((2, 3)), NOTES_BOOKS), ValueError, "dimension mismatch: z"),
        (
            lambda: rvq_encode(np.zeros((2, 2)), [np.zeros((2, 2)), np.zeros((2, 3))]),
            ValueError,
            r"dimension mismatch: codebooks\[1\]",
        ),
        (lambda: rvq_encode(np.zeros((2, 2)), []), ValueError, "codebooks is empty"),
        (
            lambda: rvq_encode(np.zeros((2, 2)), [np.zeros((0, 2))]),
            ValueError,
            r"codebooks\[0\] is empty",
        ),
        (
            lambda: rvq_encode(np.zeros((2, 2)), [np.full((2, 2), np.nan)]),
            ValueError,
            r"codebooks\[0\] must be finite",
        ),
        (lambda: rvq_encode(np.full((2, 2), np.inf), NOTES_BOOKS), ValueError, "z must be finite"),
        (lambda: rvq_encode(np.zeros((2, 2)), 3), TypeError, "codebooks must be a sequence"),
        (
            lambda: rvq_encode(np.zeros((2, 2)), np.zeros((2, 2))),
            ValueError,
            "codebooks must be a sequence",
        ),
        (lambda: rvq_encode(torch.zeros(2, 2), NOTES_BOOKS), TypeError, "cannot mix torch"),
        (
            lambda: rvq_encode(np.zeros((2, 2)), [torch.zeros(2, 2), np.zeros((2, 2))]),
            TypeError,
            r"codebooks\[0\] is a torch.Tensor",
        ),
        (
            lambda: rvq_decode([[2, 0]], NOTES_BOOKS),
            ValueError,
            r"codes\[\.\.\., 0\] must lie in \[0, 2\)",
        ),
        (
            lambda: rvq_decode([[0, -1]], NOTES_BOOKS),
            ValueError,
            r"codes\[\.\.\., 1\] must lie in \[0, 2\)",
        ),
        (
            lambda: rvq_decode([[0, 0, 0]], NOTES_BOOKS),
            ValueError,
            "codes has 3 stages on its last axis but codebooks has only 2",
        ),
        (
            lambda: rvq_decode(np.zeros((2, 0), int), NOTES_BOOKS),
            ValueError,
            "codes must hold at least one stage",
        ),
        (lambda: rvq_decode(np.int64(0), NOTES_BOOKS), ValueError, "codes must have shape"),
        (lambda: rvq_decode([[0.5, 0]], NOTES_BOOKS), ValueError, "codes must hold integer"),
        (
            lambda: rvq_decode(torch.zeros(1, 2, dtype=torch.long), NOTES_BOOKS),
            TypeError,
            "cannot mix torch",
        ),
        (
            lambda: train_rvq_codebooks(np.zeros((5, 2)), 2, 6),
            ValueError,
            "k=6 is larger than the number of training vectors N=5",
        ),
        (
            lambda: train_rvq_codebooks(np.zeros((5, 2)), 2, [2, 2, 2]),
            ValueError,
            "k must give one size per stage",
        ),
        (lambda: train_rvq_codebooks(np.zeros((5, 2)), 0, 2), ValueError, "n_q must be positive"),
        (
            lambda: train_rvq_codebooks(np.zeros((5, 2)), 2, [2, 0]),
            ValueError,
            r"k\[1\] must be positive",
        ),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize(
    ("codes", "shown"),
    [
        (np.array([[np.inf]]), "inf"),
        (np.array([[-np.inf]]), "-inf"),
        (np.array([[1e30]]), "1e+30"),
        (np.array([[-(2.0**63)]]), "-9.223372036854776e+18"),
        (np.array([[2**64 - 1]], dtype=np.uint64), "18446744073709551615"),
        (np.array([[2**63]], dtype=np.uint64), "9223372036854775808"),
        (torch.tensor([[float("inf")]]), "inf"),
        (torch.tensor([[1e30]], dtype=torch.float64), "1e+30"),
        (torch.tensor([[2**64 - 1]], dtype=torch.uint64), "18446744073709551615"),
    ],
)
def test_decode_reports_the_offending_code_not_a_wrapped_one(codes, shown):
    # was: "got values in [-9223372036854775808, ...]", the int64 wrap-around of the value
    books = [torch.eye(3)] if isinstance(codes, torch.Tensor) else [np.eye(3)]
    with pytest.raises(ValueError, match=r"^codes .*int64 range, got the value ") as err:
        rvq_decode(codes, books)
    assert str(err.value).endswith(" " + shown)
    assert "9223372036854775808" not in str(err.value).replace(shown, "")


def test_decode_names_a_non_integral_code_and_keeps_in_range_checks():
    with pytest.raises(ValueError, match=r"non-integral floats \(for example 2\.5\)"):
        rvq_decode(np.array([[1.0], [2.5]]), [np.eye(3)])
    with pytest.raises(ValueError, match=r"non-integral floats \(for example -0\.25\)"):
        rvq_decode(torch.tensor([[-0.25]]), [torch.eye(3)])
    # values that int64 holds keep the range message with the real extremes
    with pytest.raises(ValueError, match=r"got values in \[-5, 2\]"):
        rvq_decode(np.array([[-5.0], [2.0]]), [np.eye(3)])
    big = np.array([[2**62]], dtype=np.uint64)
    with pytest.raises(ValueError, match=r"got values in \[4611686018427387904, "):
        rvq_decode(big, [np.eye(3)])
