"""rvqlib.tokens: delay pattern, flattening and sequence lengths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rvqlib.bitrate import CODECS
from rvqlib.tokens import (
    LAYOUTS,
    delay_pattern,
    flatten_codes,
    sequence_length,
    steps_per_second,
    undelay_pattern,
    unflatten_codes,
)

codes_st = st.tuples(st.integers(0, 3), st.integers(0, 12), st.integers(1, 8)).flatmap(
    lambda s: arrays(np.int64, s if s[0] else s[1:], elements=st.integers(0, 1023))
)


@settings(max_examples=80, deadline=None)
@given(codes_st, st.integers(-5, 2000))
def test_undelay_inverts_delay_with_pads_where_expected(codes, pad):
    n_q = codes.shape[-1]
    t = codes.shape[-2]
    tokens = delay_pattern(codes, pad)
    assert tokens.dtype == np.int64
    assert tokens.shape == codes.shape[:-2] + (t + n_q - 1, n_q)
    np.testing.assert_array_equal(undelay_pattern(tokens, n_q, pad=pad), codes)
    for q in range(n_q):
        column = tokens[..., q]
        np.testing.assert_array_equal(column[..., q : q + t], codes[..., q])
        assert (column[..., :q] == pad).all()
        assert (column[..., q + t :] == pad).all()


@settings(max_examples=40, deadline=None)
@given(codes_st, st.data())
def test_custom_delays_round_trip(codes, data):
    n_q = codes.shape[-1]
    delays = data.draw(st.lists(st.integers(0, 4), min_size=n_q, max_size=n_q))
    tokens = delay_pattern(codes, -1, delays=delays)
    assert tokens.shape[-2] == codes.shape[-2] + max(delays)
    np.testing.assert_array_equal(undelay_pattern(tokens, n_q, delays=delays, pad=-1), codes)


def test_delay_pattern_known_layout_and_moshi_delays():
    codes = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(
        delay_pattern(codes, 9), [[1, 9, 9], [4, 2, 9], [9, 5, 3], [9, 9, 6]]
    )
    # semantic stage first, every acoustic stage one step later (Moshi)
    np.testing.assert_array_equal(
        delay_pattern(codes, 9, delays=[0, 1, 1]), [[1, 9, 9], [4, 2, 3], [9, 5, 6]]
    )


def test_torch_and_batch():
    codes = torch.randint(0, 1024, (2, 5, 4))
    tokens = delay_pattern(codes, 1024)
    assert isinstance(tokens, torch.Tensor) and tokens.dtype == torch.long
    assert tokens.shape == (2, 8, 4)
    assert torch.equal(tokens[1], delay_pattern(codes[1], 1024))
    assert torch.equal(undelay_pattern(tokens, 4, pad=1024), codes)
    flat = flatten_codes(codes, codebook_size=1024)
    assert flat.shape == (2, 20)
    assert torch.equal(unflatten_codes(flat, 4, codebook_size=1024), codes)


def test_undelay_checks():
    tokens = delay_pattern([[1, 2, 3]], -1)
    with pytest.raises(ValueError, match="n_q=2 stages"):
        undelay_pattern(tokens, 2)
    with pytest.raises(ValueError, match="padded position"):
        undelay_pattern(np.roll(tokens, 1, axis=0), 3, pad=-1)
    with pytest.raises(ValueError, match="at least max"):
        undelay_pattern(np.zeros((1, 3), dtype=int), 3)
    with pytest.raises(ValueError, match=r"shape \(T, n_q\)"):
        delay_pattern(np.zeros(4, dtype=int), 0)
    with pytest.raises(ValueError, match="one delay per stage"):
        delay_pattern(np.zeros((4, 2), dtype=int), 0, delays=[0])
    with pytest.raises(ValueError, match=r"delays\[1\] must be >= 0"):
        delay_pattern(np.zeros((4, 2), dtype=int), 0, delays=[0, -1])
    with pytest.raises(TypeError, match="pad must be an integer"):
        delay_pattern(np.zeros((4, 2), dtype=int), 0.5)
    with pytest.raises(ValueError, match="codes must hold integer"):
        delay_pattern(np.full((4, 2), 0.5), 0)


@settings(max_examples=50, deadline=None)
@given(codes_st)
def test_flatten_round_trip(codes):
    n_q = codes.shape[-1]
    flat = flatten_codes(codes)
    assert flat.shape == codes.shape[:-2] + (codes.shape[-2] * n_q,)
    np.testing.assert_array_equal(unflatten_codes(flat, n_q), codes)
    offset = flatten_codes(codes, codebook_size=1024)
    np.testing.assert_array_equal(offset % 1024, flat)
    np.testing.assert_array_equal(offset // 1024, np.resize(np.arange(n_q), flat.shape))
    np.testing.assert_array_equal(unflatten_codes(offset, n_q, codebook_size=1024), codes)


def test_flatten_errors():
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 4\)"):
        flatten_codes([[0, 4]], codebook_size=4)
    with pytest.raises(ValueError, match="not a multiple of n_q=3"):
        unflatten_codes([0, 1, 2, 3], 3)
    with pytest.raises(ValueError, match="after removing the per-stage offsets"):
        unflatten_codes([0, 1], 2, codebook_size=4)  # stage 1 tokens start at 4


def test_sequence_lengths_of_real_codecs():
    for name, cfg in CODECS.items():
        rate = cfg.sample_rate / cfg.hop
        n_q = max(cfg.n_q_options)
        frames = int(round(10 * rate))
        lengths = {lay: sequence_length(frames, n_q, lay) for lay in LAYOUTS}
        assert lengths["flatten"] == frames * n_q, name
        assert lengths["parallel"] == frames
        assert lengths["delay"] == frames + n_q - 1
        assert steps_per_second(rate, n_q) == pytest.approx(rate * n_q)
        assert steps_per_second(rate, n_q, "delay") == pytest.approx(rate)
    assert sequence_length(750, 8, "delay") == 757
    with pytest.raises(ValueError, match="layout must be one of"):
        sequence_length(10, 2, "interleaved")
    with pytest.raises(ValueError, match="frame_rate must be a positive"):
        steps_per_second(0.0, 2)
    with pytest.raises(ValueError, match="n_frames must be >= 0"):
        sequence_length(-1, 2)


# ------------------------------------------------------------------ int64 limits
@pytest.mark.parametrize("pad", [2**63, 2**70, -(2**63) - 1])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_pad_outside_int64_is_a_clear_error(pad, backend):
    # regression: numpy and torch raised OverflowError from deep inside np.full/torch.full
    codes = np.zeros((2, 2), np.int64) if backend == "numpy" else torch.zeros(2, 2).long()
    with pytest.raises(ValueError, match="pad must fit in int64"):
        delay_pattern(codes, pad)
    tokens = delay_pattern(codes, 7)
    with pytest.raises(ValueError, match="pad must fit in int64"):
        undelay_pattern(tokens, 2, pad=pad)


def test_the_int64_extremes_are_valid_pads():
    codes = np.zeros((2, 2), np.int64)
    for pad in (2**63 - 1, -(2**63)):
        tokens = delay_pattern(codes, pad)
        assert tokens[0, 1] == pad
        np.testing.assert_array_equal(undelay_pattern(tokens, 2, pad=pad), codes)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_delays_too_large_to_count_are_a_clear_error(backend):
    # regression: torch raised "Storage size calculation overflowed", numpy "array is too big"
    codes = np.zeros((2, 2), np.int64) if backend == "numpy" else torch.zeros(2, 2).long()
    with pytest.raises(ValueError, match="delays: the delayed tokens would have shape"):
        delay_pattern(codes, 5, delays=[0, 2**62])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_vocabulary_beyond_int64_is_a_clear_error(backend):
    # regression: K = 2**62 wrapped the offsets q * K around silently (a negative token),
    # K = 2**63 raised OverflowError from inside numpy
    codes = np.array([[1, 2, 3]]) if backend == "numpy" else torch.tensor([[1, 2, 3]])
    for k in (2**62, 2**63, 2**70):
        with pytest.raises(ValueError, match="n_q \\* codebook_size must fit in int64"):
            flatten_codes(codes, k)
        with pytest.raises(ValueError, match="n_q \\* codebook_size must fit in int64"):
            unflatten_codes(codes[0], 3, k)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_the_largest_vocabulary_that_fits_int64_round_trips(backend):
    k = (2**63 - 1) // 7  # 7 * k == 2**63 - 1 exactly
    codes = np.array([[k - 1] * 7, list(range(7))], np.int64)
    codes = codes if backend == "numpy" else torch.from_numpy(codes)
    flat = flatten_codes(codes, k)
    assert int(flat[6]) == 2**63 - 2 and int(flat.min()) >= 0
    back = unflatten_codes(flat, 7, k)
    assert np.array_equal(np.asarray(back), np.asarray(codes))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("shape", [(0, 3, 2), (0, 0, 2), (2, 0, 3), (0, 2)])
def test_empty_batch_and_time_axes_keep_their_shape(backend, shape):
    # regression: an empty batch raised numpy's "cannot reshape array of size 0 into shape
    # (0,newaxis)" (torch: RuntimeError) in flatten_codes
    codes = np.zeros(shape, np.int64) if backend == "numpy" else torch.zeros(shape).long()
    n_q, t = shape[-1], shape[-2]
    for k in (None, 4):
        flat = flatten_codes(codes, k)
        assert tuple(flat.shape) == shape[:-2] + (t * n_q,)
        assert tuple(unflatten_codes(flat, n_q, k).shape) == shape
    tokens = delay_pattern(codes, 4)
    assert tuple(tokens.shape) == shape[:-2] + (t + n_q - 1, n_q)
    assert tuple(undelay_pattern(tokens, n_q, pad=4).shape) == shape


def test_steps_per_second_that_overflow_float64_are_a_clear_error():
    # regression: steps_per_second(1e308, 8) returned inf
    with pytest.raises(ValueError, match="frame_rate \\* n_q overflows float64"):
        steps_per_second(1e308, 8)
    assert steps_per_second(1e308, 8, "delay") == 1e308  # no product: the exact answer
    assert steps_per_second(1e308, 1) == 1e308


def test_steps_per_second_with_an_integer_n_q_beyond_float64_is_a_clear_error():
    # regression: 75.0 * 10**400 raised OverflowError without naming an argument
    with pytest.raises(ValueError, match="frame_rate \\* n_q overflows float64"):
        steps_per_second(75.0, 10**400)
