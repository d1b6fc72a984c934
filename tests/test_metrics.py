"""rvqlib.metrics: MSE and SNR, numpy and torch, with clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rvqlib import mse, snr_db


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
