"""rvqlib.metrics: MSE, SNR, code usage and perplexity, numpy and torch, with clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rvqlib import mse, snr_db
from rvqlib.bitrate import empirical_entropy
from rvqlib.metrics import code_perplexity, code_usage


def test_known_values():
    assert mse([1.0, 2.0], [1.0, 3.0]) == 0.5
    assert snr_db([1.0, -1.0], [0.9, -1.1]) == pytest.approx(20.0)
    assert snr_db([1.0, 2.0], [1.0, 2.0]) == math.inf


def test_torch_matches_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert mse(torch.tensor(x), torch.tensor(y)) == pytest.approx(mse(x, y))
    assert snr_db(torch.tensor(x), torch.tensor(y)) == pytest.approx(snr_db(x, y))


@given(
    arrays(np.float64, 20, elements=st.floats(-100, 100).filter(lambda v: v == 0 or abs(v) > 1e-3)),
    st.floats(0.01, 10),
)
def test_snr_of_scaled_error(x, scale):
    """Scaling the error by s lowers the SNR by 20 log10(s) dB."""
    if not np.any(x):
        return
    noise = np.linspace(-1, 1, x.size)
    base = snr_db(x, x + noise)
    assert snr_db(x, x + scale * noise) == pytest.approx(base - 20 * math.log10(scale), abs=1e-6)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="x_hat must have the same shape"):
        mse(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="x is empty"):
        mse(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="x_hat must be finite"):
        snr_db(np.ones(2), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="all zeros"):
        snr_db(np.zeros(2), np.ones(2))
    with pytest.raises(TypeError, match="cannot mix torch and numpy"):
        mse(torch.zeros(2), np.zeros(2))
    with pytest.raises(TypeError, match="x"):
        mse("abc", "abd")


def test_code_usage_and_perplexity_known_values():
    counts = code_usage([0, 2, 2, 3], 5)
    assert counts.dtype == np.int64 and counts.shape == (5,)
    np.testing.assert_array_equal(counts, [1, 0, 2, 1, 0])
    assert code_perplexity([0, 1, 2, 3], 8) == pytest.approx(4.0)
    assert code_perplexity([5, 5, 5], 8) == 1.0
    # a 2-D array of residual codes pools all stages; one stage is a column
    codes = np.array([[0, 1], [0, 2], [1, 3]])
    np.testing.assert_array_equal(code_usage(codes, 4), [2, 2, 1, 1])
    np.testing.assert_array_equal(code_usage(codes[:, 1], 4), [0, 1, 1, 1])
    np.testing.assert_array_equal(code_usage(np.zeros(0, dtype=int), 3), [0, 0, 0])


@given(arrays(np.int64, st.integers(1, 200), elements=st.integers(0, 15)))
def test_perplexity_is_exp_entropy_between_1_and_k(codes):
    counts = code_usage(codes, 16)
    assert counts.sum() == codes.size
    ppl = code_perplexity(codes, 16)
    assert 1.0 <= ppl <= min(16, np.count_nonzero(counts)) + 1e-9
    assert ppl == pytest.approx(2.0 ** empirical_entropy(codes, 16))


def test_code_usage_torch():
    codes = torch.tensor([[1, 1], [3, 0]])
    counts = code_usage(codes, 4)
    assert isinstance(counts, torch.Tensor) and counts.dtype == torch.long
    assert counts.tolist() == [1, 2, 0, 1]
    assert code_perplexity(codes, 4) == pytest.approx(code_perplexity(codes.numpy(), 4))


def test_code_usage_errors():
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 4\)"):
        code_usage([0, 4], 4)
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 4\)"):
        code_usage(torch.tensor([-1]), 4)
    with pytest.raises(ValueError, match="codebook_size must be positive"):
        code_usage([0], 0)
    with pytest.raises(TypeError, match="codebook_size must be an integer"):
        code_usage([0], 4.0)
    with pytest.raises(ValueError, match="codes must hold integer"):
        code_usage([0.5], 4)
    with pytest.raises(ValueError, match="codes is empty"):
        code_perplexity([], 4)


@pytest.mark.parametrize("backend", [np.asarray, torch.from_numpy])
def test_low_precision_input_is_measured_in_float64(backend):
    """float16/float32 input used to be squared in its own dtype: inf, 0 or nan."""

    def f(values, dtype):
        return backend(np.array(values, dtype=dtype))

    assert mse(f([300.0], np.float16), f([0.0], np.float16)) == 90000.0
    small, near = np.float16(1e-3), np.float16(1.1e-3)
    assert mse(f([small], np.float16), f([near], np.float16)) == pytest.approx(
        (float(small) - float(near)) ** 2, rel=1e-12
    )
    big = [1e20, -1e20]
    assert snr_db(f(big, np.float32), f([5e19, -5e19], np.float32)) == pytest.approx(
        20 * math.log10(2), abs=1e-9
    )
    assert mse(f(big, np.float32), f([0.0, 0.0], np.float32)) == pytest.approx(
        float(np.float32(1e20)) ** 2, rel=1e-12
    )
    tiny = float(np.finfo(np.float32).tiny) * 4
    assert snr_db(f([tiny, -tiny], np.float32), f([tiny / 2, -tiny / 2], np.float32)) == (
        pytest.approx(20 * math.log10(2), abs=1e-9)
    )


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e200, 1e300, 2.0**1020])
def test_snr_and_mse_hold_across_the_float64_range(scale):
    x = np.array([1.0, -1.0, 0.25])
    y = np.array([0.5, -0.5, 0.25])
    assert snr_db(x * scale, y * scale) == pytest.approx(snr_db(x, y), abs=1e-9)
    assert snr_db(torch.tensor(x * scale), torch.tensor(y * scale)) == pytest.approx(
        snr_db(x, y), abs=1e-9
    )
    expected = mse(x, y) * scale * scale  # may be 0.0 or inf: the float64 rounding of the truth
    got = mse(x * scale, y * scale)
    assert got == pytest.approx(expected, rel=1e-12) or (got == expected == 0.0)


def test_mse_near_the_ends_of_float64():
    assert mse([1e154], [0.0]) == pytest.approx(1e308, rel=1e-12)
    assert mse([1.7e308], [-1.7e308]) == math.inf  # the MSE itself is beyond float64
    assert mse([1e-160, 1e-160], [0.0, 0.0]) == pytest.approx(1e-320, rel=1e-3)  # subnormal
    assert snr_db([1.7e308, -1.7e308], [-1.7e308, 1.7e308]) == pytest.approx(
        -20 * math.log10(2), abs=1e-9
    )
    assert snr_db([5e-324, 0.0], [0.0, 5e-324]) == pytest.approx(-10 * math.log10(2), abs=1e-9)
    assert snr_db([1e-200], [1e200]) == pytest.approx(-8000.0, abs=1e-9)  # ratio beyond float64


def test_float64_results_are_unchanged_and_inputs_untouched():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=1000), rng.normal(size=1000)
    x0, y0 = x.copy(), y.copy()
    assert mse(x, y) == float(np.mean((x - y) ** 2))
    assert snr_db(x, y) == 10 * math.log10(float(np.sum(x * x)) / float(np.sum((x - y) ** 2)))
    assert np.array_equal(x, x0) and np.array_equal(y, y0)
    t = torch.ones(3, requires_grad=True)
    assert mse(t, torch.zeros(3)) == 1.0 and isinstance(mse(t, torch.zeros(3)), float)
    assert mse(3.0, 1.0) == 4.0
