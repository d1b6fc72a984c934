"""rvqlib.classic: PCM, mu-law and ADPCM, at their own sample rates, and the best-pair search."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from rvqlib.classic import (
    ADPCMStream,
    adpcm,
    adpcm_decode,
    adpcm_encode,
    best_pair,
    best_pairs,
    code_at,
    jayant_multipliers,
    mu_law,
    pcm,
)
from rvqlib.metrics import snr_db

SR = 16_000


def sine(freq=440.0, seconds=0.5, rate=SR, amp=0.8):
    t = np.arange(int(seconds * rate)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def ar2(n=8000, seed=0):
    """A speech-like AR(2) process: a resonance near 500 Hz at 8 kHz."""
    e = np.random.default_rng(seed).normal(size=n)
    r, theta = 0.95, 2 * np.pi * 500 / 8000
    x = signal.lfilter([1.0], [1.0, -2 * r * np.cos(theta), r * r], e)
    return 0.5 * x / np.abs(x).max()


def test_pcm_follows_six_db_per_bit():
    # a signal uniform on [-1, 1] fills the quantizer's range: SNR = 6.02 dB per bit
    x = np.random.default_rng(0).uniform(-1, 1, 20_000)
    x[:2] = -1.0, 1.0
    for bits in (2, 6, 8, 10):
        assert snr_db(x, pcm(x, bits)) == pytest.approx(6.02 * bits, abs=0.2)


def test_mu_law_favours_quiet_signals():
    x = 0.01 * sine()
    x[0] = 1.0  # one loud sample sets the range
    assert snr_db(x, mu_law(x, 8)) > snr_db(x, pcm(x, 8)) + 20
    loud = sine(amp=1.0)
    assert 35 < snr_db(loud, mu_law(loud, 8)) < 40  # G.711's ~38 dB for a full-scale sine


def test_jayant_tables():
    assert jayant_multipliers(2) == (0.8, 1.6)
    assert jayant_multipliers(3) == (0.9, 0.9, 1.25, 1.75)
    assert jayant_multipliers(4) == (0.9, 0.9, 0.9, 0.9, 1.2, 1.6, 2.0, 2.4)
    five = jayant_multipliers(5)
    assert len(five) == 16 and five[:8] == (0.9,) * 8 and five[8] == 1.2 and five[-1] == 2.4
    with pytest.raises(ValueError, match="bits"):
        jayant_multipliers(1)


def test_adpcm_beats_pcm_on_correlated_signals():
    x = ar2()
    for bits in (2, 3, 4):
        assert snr_db(x, adpcm(x, bits)) > snr_db(x, pcm(x, bits)) + 6
    assert snr_db(x, adpcm(x, 4)) > snr_db(x, adpcm(x, 2)) + 6


def test_adpcm_decoder_needs_only_the_stream():
    x = ar2(seed=3)
    for bits in (1, 2, 5, 8):
        stream = adpcm_encode(x, bits)
        assert stream.codes.shape == x.shape and stream.codes.dtype == np.int64
        assert stream.codes.min() >= 0 and stream.codes.max() < 2**bits
        copy = ADPCMStream(
            np.array(stream.codes.tolist()),
            bits,
            tuple(stream.coefficients),
            stream.first_step,
            stream.min_step,
            stream.max_step,
        )
        assert np.array_equal(adpcm_decode(copy), adpcm_decode(stream))
        assert np.array_equal(adpcm(x, bits), adpcm_decode(stream))


def test_one_bit_adpcm_is_delta_modulation():
    x = sine(100.0, rate=16_000)  # heavily oversampled: delta modulation tracks it
    stream = adpcm_encode(x, 1)
    assert set(np.unique(stream.codes)) <= {0, 1}
    assert snr_db(x, adpcm_decode(stream)) > 8


def test_code_at_lowers_the_bandwidth():
    x = sine(3000.0) + sine(300.0)
    low = code_at(x, SR, "pcm", 4000.0, 12)
    assert low.kbps == 48.0 and low.audio.shape == x.shape
    # the 3 kHz tone is above the 2 kHz Nyquist frequency: it is gone, the 300 Hz one stays
    assert snr_db(x, low.audio) == pytest.approx(10 * np.log10(2), abs=0.3)
    assert snr_db(sine(300.0), low.audio) > 25


def test_best_pair_is_the_best_of_the_pairs():
    x = ar2(4000, seed=5)
    x16 = np.repeat(x, 2)  # a 16 kHz signal with little above 4 kHz
    best = best_pair(x16, SR, "adpcm", 8000, snr_db, higher_is_better=True)
    scores = {
        b: snr_db(x16, code_at(x16, SR, "adpcm", 8000 / b, b).audio)
        for b in range(1, 9)
        if 8000 / b >= 500
    }
    assert best.bits == max(scores, key=scores.get)
    assert best.score == pytest.approx(max(scores.values()))
    assert best.kbps == 8.0 and best.coder_rate == 8000 / best.bits
    # a distance is minimised, and several clips are scored by their mean
    two = best_pair([x16, 0.5 * x16], SR, "pcm", 16000, lambda a, b: float(np.mean((a - b) ** 2)),
                    higher_is_better=False)  # fmt: skip
    assert isinstance(two.audio, list) and len(two.audio) == 2


def test_bad_input_is_refused():
    x = sine()
    with pytest.raises(ValueError, match="coder must be one of"):
        code_at(x, SR, "opus", 8000, 2)
    with pytest.raises(ValueError, match="coder_rate"):
        code_at(x, SR, "pcm", 32000, 2)
    with pytest.raises(ValueError, match="bits"):
        pcm(x, 0)
    with pytest.raises(TypeError, match="bits"):
        pcm(x, 2.0)
    with pytest.raises(ValueError, match="1-D"):
        pcm(np.zeros((2, 2)), 2)
    with pytest.raises(ValueError, match="NaN"):
        adpcm([0.0, np.nan], 2)
    with pytest.raises(ValueError, match="no \\(sample rate, bits\\) pair"):
        best_pair(x, SR, "pcm", 100, snr_db, higher_is_better=True)
    with pytest.raises(TypeError, match="ADPCMStream"):
        adpcm_decode([0, 1])


def test_best_pairs_keeps_a_best_pair_per_metric():
    x = ar2(4000, seed=7)
    x16 = np.repeat(x, 2)
    both = best_pairs(
        x16,
        SR,
        "mu-law",
        8000,
        {"snr": (snr_db, True), "neg": (lambda a, b: -snr_db(a, b), False)},
    )
    assert both["snr"].bits == both["neg"].bits and both["snr"].score == -both["neg"].score
    assert both["snr"].audio.shape == x16.shape
    with pytest.raises(ValueError, match="metrics is empty"):
        best_pairs(x16, SR, "pcm", 8000, {})
    with pytest.raises(TypeError, match="higher_is_better"):
        best_pairs(x16, SR, "pcm", 8000, {"m": (snr_db, 1)})


@pytest.mark.parametrize("scale", [1e306, 1.7e308, 1e-300])
def test_mu_law_of_huge_and_tiny_signals_is_finite(scale):
    # was: [inf, -inf] for [1e306, -1e306]: p * expm1(...) overflowed before the / mu
    x = np.array([1.0, -1.0, 0.5, -0.25, 0.01])
    y = mu_law(x * scale, 8)
    assert np.isfinite(y).all()
    # the compander is scale-invariant: the same levels, scaled (to rounding)
    np.testing.assert_allclose(y / scale, mu_law(x, 8), rtol=1e-12)
    assert np.abs(y).max() <= scale * 1.0000001


@pytest.mark.parametrize("mu", [np.inf, np.nan, 0.0, -1.0])
def test_mu_law_refuses_a_bad_mu(mu):
    with pytest.raises(ValueError, match="mu must be a positive, finite number"):
        mu_law([0.1, -0.2], 8, mu=mu)


@pytest.mark.parametrize("mu", ["255", None, True])
def test_mu_law_refuses_a_non_numeric_mu(mu):
    with pytest.raises(TypeError, match="mu must be a positive number"):
        mu_law([0.1, -0.2], 8, mu=mu)


@pytest.mark.parametrize(
    ("field", "value", "error", "match"),
    [
        ("coefficients", (np.nan, 0.0), ValueError, r"stream.coefficients\[0\] must be finite"),
        ("coefficients", (0.5, np.inf), ValueError, r"stream.coefficients\[1\] must be finite"),
        ("coefficients", (0.5,), ValueError, "stream.coefficients must hold 2 numbers"),
        ("coefficients", (0.5, 0.1, 0.0), ValueError, "stream.coefficients must hold 2"),
        ("coefficients", None, TypeError, "stream.coefficients must be a pair"),
        ("coefficients", ("a", 0.1), TypeError, r"stream.coefficients\[0\] must be a real"),
        ("first_step", -0.1, ValueError, "stream.first_step must be a positive step"),
        ("first_step", 0.0, ValueError, "stream.first_step must be a positive step"),
        ("first_step", np.nan, ValueError, "stream.first_step must be finite"),
        ("first_step", "0.1", TypeError, "stream.first_step must be a real number"),
        ("min_step", -1e-5, ValueError, "stream.min_step must be a positive step"),
        ("max_step", np.inf, ValueError, "stream.max_step must be finite"),
        ("min_step", 2.0, ValueError, "stream.min_step must not exceed stream.max_step"),
    ],
)
@pytest.mark.parametrize("bits", [1, 4])
def test_adpcm_decode_refuses_bad_side_information(bits, field, value, error, match):
    # was: NaN coefficients or a negative first_step decoded to NaN or garbage
    import dataclasses

    stream = adpcm_encode(ar2(200, seed=1), bits)
    bad = dataclasses.replace(stream, **{field: value})
    with pytest.raises(error, match=match):
        adpcm_decode(bad)


def test_adpcm_decode_refuses_an_unstable_predictor_instead_of_returning_inf():
    import dataclasses

    stream = adpcm_encode(ar2(2000, seed=1), 4)
    bad = dataclasses.replace(stream, coefficients=(3.0, 0.0))  # a pole at 3: grows as 3**n
    with pytest.raises(ValueError, match="overflow float64"):
        adpcm_decode(bad)


def test_adpcm_decode_accepts_numpy_side_information():
    stream = adpcm_encode(ar2(500, seed=2), 3)
    copy = ADPCMStream(
        stream.codes,
        np.int64(3),
        np.array(stream.coefficients),
        np.float64(stream.first_step),
        np.float64(stream.min_step),
        np.float64(stream.max_step),
    )
    assert np.array_equal(adpcm_decode(copy), adpcm_decode(stream))


@pytest.mark.parametrize("power", [1000, 600, -560, -1000])
@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_adpcm_of_huge_and_tiny_signals_is_the_scaled_coder(power, bits):
    # was: at 2**1000 (1e301) the autocorrelation and the rms overflowed, and the coder
    # stopped on "cannot convert float NaN to integer"; at 2**-560 the autocorrelation
    # underflowed and the predictor changed. A power-of-two scale is exact: the codes are
    # the same and the reconstruction is scaled.
    x = ar2(2000, seed=4)
    ref = adpcm_encode(x, bits)
    big = np.ldexp(x, power)
    stream = adpcm_encode(big, bits)
    np.testing.assert_array_equal(stream.codes, ref.codes)
    assert stream.coefficients == ref.coefficients
    if power > -1000:  # at 2**-1000 the smallest step, peak / 2**15, is subnormal
        assert stream.first_step == np.ldexp(ref.first_step, power)
        np.testing.assert_array_equal(adpcm(big, bits), np.ldexp(adpcm(x, bits), power))
    assert np.array_equal(adpcm_decode(stream), adpcm(big, bits))
    assert np.isfinite(adpcm(big, bits)).all()


def test_adpcm_of_samples_far_beyond_a_tiny_peak_does_not_crash():
    # was: the sample-to-step ratio overflowed (NaN from the predictor), "cannot convert"
    x = np.array([1e300, 1.0, -1e300, 5.0] * 10)
    for bits in (1, 4):
        stream = adpcm_encode(x, bits, peak=1e-300)
        assert np.array_equal(adpcm_decode(stream), adpcm(x, bits, peak=1e-300))
        assert np.isfinite(adpcm_decode(stream)).all()


def test_adpcm_refuses_a_reconstruction_beyond_float64():
    x = np.array([1.7e308, -1.7e308] * 50)  # the mid-level reconstruction overshoots
    with pytest.raises(ValueError, match="reconstruction overflows float64"):
        adpcm(x, 4)
    with pytest.raises(ValueError, match="overflow float64"):
        adpcm_decode(adpcm_encode(x, 4))


def test_adpcm_refuses_a_peak_whose_smallest_step_would_underflow():
    # regression: adpcm_encode wrote min_step = peak / 2**15 = 0.0 for a peak near 1e-320,
    # which adpcm_decode then refused; 5e-324 samples stopped on a ZeroDivisionError
    s = np.random.default_rng(0).standard_normal(200) * 1e-320
    for call in (lambda: adpcm_encode(s, 4), lambda: adpcm(s, 4)):
        with pytest.raises(ValueError, match="too small for ADPCM"):
            call()
    with pytest.raises(ValueError, match="too small for ADPCM"):
        adpcm(np.array([5e-324, -5e-324, 1e-323]), 4)
    # the smallest peak it takes round-trips
    tiny = np.random.default_rng(1).standard_normal(200)
    tiny = tiny / np.abs(tiny).max() * 2.0**-1007
    np.testing.assert_array_equal(adpcm_decode(adpcm_encode(tiny, 4)), adpcm(tiny, 4))
