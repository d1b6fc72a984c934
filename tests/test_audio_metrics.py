"""rvqlib.audio_metrics: SI-SNR, mel filterbank and distance, band SNR/energy, the mel loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rvqlib.audio_metrics import (
    DEFAULT_BANDS,
    band_energy_db,
    band_snr_db,
    log_mel_spectrogram,
    mel_distance,
    mel_filterbank,
    multiscale_mel_loss,
    si_snr_db,
    spectrogram_db,
    stft,
)
from rvqlib.metrics import snr_db

SR = 16_000
RNG = np.random.default_rng(0)
NOISE = RNG.normal(size=SR) * 0.1


def tone(freq, seconds=1.0, amp=0.5):
    t = np.arange(int(seconds * SR)) / SR
    return amp * np.sin(2 * np.pi * freq * t)


def test_si_snr_ignores_gain_and_matches_snr_for_white_error():
    x = NOISE
    assert si_snr_db(x, 0.3 * x) > 200  # inf up to rounding
    e = RNG.normal(size=x.shape) * 0.01
    assert si_snr_db(x, x + e) == pytest.approx(snr_db(x, x + e), abs=0.1)
    assert si_snr_db(x, 2 * (x + e)) == pytest.approx(si_snr_db(x, x + e))
    assert si_snr_db(torch.tensor(x), torch.tensor(x + e)) == pytest.approx(si_snr_db(x, x + e))
    batch = si_snr_db(np.stack([x, x]), np.stack([x + e, x + 2 * e]))
    assert batch.shape == (2,) and batch[0] == pytest.approx(batch[1] + 20 * np.log10(2), abs=0.1)
    with pytest.raises(ValueError, match="constant"):
        si_snr_db(np.ones(10), np.arange(10.0))
    with pytest.raises(ValueError, match="same shape"):
        si_snr_db(x, x[:-1])
    with pytest.raises(TypeError):
        si_snr_db(["a", "b"], ["a", "b"])


def test_stft_is_linear_and_shaped():
    a, b = NOISE[:4000], tone(1000)[:4000]
    s = stft(a - b, 512)
    assert s.shape == (257, 4000 // 128 + 1) and s.is_complex()
    assert torch.allclose(s, stft(a, 512) - stft(b, 512))
    assert stft(np.zeros((3, 2, 100)), 64).shape[:2] == (3, 2)


def test_mel_distance_remembers_originals_by_their_samples():
    from rvqlib import audio_metrics

    def fresh(x, y, **kw):
        audio_metrics._REFERENCE_MELS.clear()
        return mel_distance(x, y, SR, **kw)

    x = NOISE.copy()
    y = x + 0.05 * RNG.normal(size=x.shape)
    first = mel_distance(x, y, SR)
    assert mel_distance(x, y, SR) == first == fresh(x, y)  # from the memo, the same
    assert mel_distance(x.astype(np.float32), y, SR) == pytest.approx(first, abs=1e-4)
    assert mel_distance(x, y, SR, n_fft=512) == fresh(x, y, n_fft=512) != first
    x[:4000] = 0.0  # changed in place: its digest changes, so does the distance
    changed = mel_distance(x, y, SR)
    assert changed != first and changed == fresh(x, y)
    for _ in range(3 * audio_metrics._REFERENCE_MELS_MAX):  # bounded
        mel_distance(RNG.normal(size=2048), RNG.normal(size=2048), SR)
    assert len(audio_metrics._REFERENCE_MELS) == audio_metrics._REFERENCE_MELS_MAX
    t = torch.tensor(NOISE, requires_grad=True)  # a metric: no gradient, the same number
    assert mel_distance(t, y, SR) == pytest.approx(mel_distance(NOISE, y, SR), abs=1e-12)


def test_metrics_of_tensors_that_require_grad_warn_nothing_and_record_no_graph():
    import warnings

    from rvqlib.audio_metrics import band_energy_db, band_snr_db, si_snr_db

    x = torch.tensor(NOISE, requires_grad=True)
    y = torch.tensor(NOISE + 0.05 * RNG.normal(size=NOISE.shape), requires_grad=True)
    bands = [(0.0, 1000.0), (1000.0, 4000.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when a grad tensor becomes a float
        values = [
            mel_distance(x, y, SR),
            si_snr_db(x, y),
            *band_snr_db(x, y, SR, bands),
            *band_energy_db(x, y, SR, bands),
        ]
    plain = [
        mel_distance(x.detach(), y.detach(), SR),
        si_snr_db(x.detach(), y.detach()),
        *band_snr_db(x.detach(), y.detach(), SR, bands),
        *band_energy_db(x.detach(), y.detach(), SR, bands),
    ]
    assert values == plain
    assert all(isinstance(v, float) for v in values)
    assert x.grad is None and y.grad is None


def test_mel_filterbank():
    fb = mel_filterbank(SR, 512, 40)
    assert fb.shape == (40, 257) and fb.min() >= 0 and fb.max() <= 1
    assert np.all(fb.sum(axis=1) > 0)
    centres = fb.argmax(axis=1)
    assert np.all(np.diff(centres) >= 0) and centres[-1] > 200
    # filters narrower than a bin still get their nearest bin
    assert np.all(mel_filterbank(SR, 64, 40).sum(axis=1) > 0)
    with pytest.raises(ValueError, match="fmax"):
        mel_filterbank(SR, 512, 40, fmax=9000)
    with pytest.raises(TypeError, match="n_mels"):
        mel_filterbank(SR, 512, 40.0)


def test_mel_distance():
    x = NOISE
    assert mel_distance(x, x, SR) == pytest.approx(0.0, abs=1e-9)
    # a gain of 1/2 lowers every mel bin by 6.02 dB
    assert mel_distance(x, 0.5 * x, SR) == pytest.approx(20 * np.log10(2), abs=1e-6)
    # silence is at most the dynamic range away (the original's quieter bins, less)
    silent = mel_distance(x, np.zeros_like(x), SR)
    assert 60 < silent <= 80
    assert mel_distance(x, np.zeros_like(x), SR, dynamic_range_db=60) == pytest.approx(silent - 20)
    # a low-passed copy is far from the original, a noisy full-band one much nearer
    low = np.fft.irfft(np.fft.rfft(x) * (np.fft.rfftfreq(SR, 1 / SR) < 2000), SR)
    noisy = x + 0.05 * RNG.normal(size=x.shape)
    assert mel_distance(x, noisy, SR) < mel_distance(x, low, SR) / 3
    with pytest.raises(ValueError, match="silent"):
        mel_distance(np.zeros(1000), np.zeros(1000), SR)
    with pytest.raises(ValueError, match="1-D"):
        mel_distance(np.ones((2, 1000)), np.ones((2, 1000)), SR)


def test_band_snr_and_energy_see_a_low_pass():
    x = tone(300) + tone(5000, amp=0.1)
    y = tone(300)
    snr = band_snr_db(x, y, SR)
    energy = band_energy_db(x, y, SR)
    assert snr.shape == energy.shape == (len(DEFAULT_BANDS),)
    assert snr[0] > 60 and abs(snr[-1]) < 0.01
    assert abs(energy[0]) < 0.01 and energy[-1] < -40
    # a reconstruction with the right energy but an unrelated waveform: energy kept, SNR <= 0
    other = x.copy()
    other[SR // 2 :] = -other[SR // 2 :]
    assert abs(band_energy_db(x, other, SR)[-1]) < 0.1 and band_snr_db(x, other, SR)[-1] < 0
    assert band_snr_db(x, x, SR)[2] == math.inf
    with pytest.raises(ValueError, match="band"):
        band_snr_db(x, y, SR, bands=[(0, 9000)])
    with pytest.raises(ValueError, match="no energy"):
        band_energy_db(np.zeros(1000), np.zeros(1000), SR)


def test_spectrogram_scale_and_log_mel():
    freqs, times, db = spectrogram_db(tone(1000, amp=1.0), SR, n_fft=512, hop=128)
    assert db.shape == (257, len(times)) and freqs[-1] == SR / 2
    assert db[:, 10:-10].max() == pytest.approx(0.0, abs=1.0)
    lm = log_mel_spectrogram(NOISE, SR, n_fft=1024, n_mels=64)
    assert lm.shape == (64, SR // 256 + 1)


def test_multiscale_mel_loss():
    x = torch.tensor(NOISE[None, :8192], dtype=torch.float32)
    assert float(multiscale_mel_loss(x, x, SR)) == 0.0
    y = (0.5 * x).requires_grad_(True)
    loss = multiscale_mel_loss(x, y, SR)
    assert float(loss.detach()) > 0.2  # about log10(2) per mel bin, less where eps dominates
    loss.backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="shape"):
        multiscale_mel_loss(x, x[:, :-1], SR)
    with pytest.raises(TypeError, match="torch"):
        multiscale_mel_loss(NOISE, NOISE, SR)


def test_si_snr_of_a_constant_reconstruction_is_undefined_not_perfect():
    """A silent or constant x_hat used to score inf, the best SI-SNR there is."""
    x = NOISE[:200]
    for y in (np.zeros(200), np.full(200, 3.0), np.full(200, 0.1)):
        with pytest.raises(ValueError, match=r"x_hat is constant \(all zeros after removing"):
            si_snr_db(x, y)
        with pytest.raises(ValueError, match="x_hat is constant"):
            si_snr_db(torch.tensor(x), torch.tensor(y))
    with pytest.raises(ValueError, match=r"x_hat is constant at batch index \(1,\)"):
        si_snr_db(np.stack([x, x]), np.stack([x, np.zeros(200)]))
    with pytest.raises(ValueError, match=r"x is constant \(all zeros after removing"):
        si_snr_db(np.full(200, 0.1), x)  # a constant that is not a float64 sum of its mean
    assert si_snr_db(x, -x) > 200  # a gain of -1 is still a gain


@pytest.mark.parametrize(("sx", "sy"), [(1e200, 1e200), (1e-200, 1e-200), (1e300, 1e-300)])
def test_si_snr_is_scale_invariant_across_float64(sx, sy):
    x = NOISE[:200]
    y = 0.7 * x + 0.1 * x**2
    assert si_snr_db(x * sx, y * sy) == pytest.approx(si_snr_db(x, y), abs=1e-9)
    assert si_snr_db(torch.tensor(x * sx), torch.tensor(y * sy)) == pytest.approx(
        si_snr_db(x, y), abs=1e-9
    )


def test_stft_checks_tensors_and_window_sizes():
    with pytest.raises(ValueError, match="x holds NaN or inf"):
        stft(torch.tensor([1.0, float("nan")] * 50), 64)
    with pytest.raises(ValueError, match="x holds NaN or inf"):
        stft(torch.tensor([1.0, float("inf")] * 50, requires_grad=True), 64)
    for n_fft in (1, 2, 3):
        with pytest.raises(ValueError, match="n_fft must be at least 4"):
            stft(NOISE[:100], n_fft)
        assert stft(NOISE[:100], n_fft, hop=1).shape == (n_fft // 2 + 1, 101 - n_fft % 2)
    for n_fft, hop in ((64, None), (63, 5)):  # an empty batch: the shape of a full one
        full = stft(torch.zeros(2, 100), n_fft, hop).shape
        assert stft(torch.zeros(0, 100), n_fft, hop).shape == (0, *full[1:])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_stft_of_half_precision_tensors_runs_in_float32(dtype):
    x = torch.tensor(NOISE[:1000], dtype=torch.float32).to(dtype).requires_grad_(True)
    s = stft(x, 64)
    assert s.dtype == torch.complex64
    assert torch.equal(s, stft(x.detach().float(), 64))
    s.abs().sum().backward()
    assert x.grad is not None and x.grad.dtype == dtype and bool(torch.isfinite(x.grad).all())
    assert log_mel_spectrogram(x.detach(), SR, n_fft=256).dtype == torch.float32


def test_multiscale_mel_loss_checks_its_input():
    x = torch.tensor(NOISE[None, :4000], dtype=torch.float32)
    y = 0.5 * x
    for eps in (-1.0, 0.0, float("nan")):
        with pytest.raises(ValueError, match="eps must be a positive"):
            multiscale_mel_loss(x, y, SR, eps=eps)
    with pytest.raises(ValueError, match="x holds NaN or inf"):
        multiscale_mel_loss(torch.full_like(x, float("nan")), y, SR)
    with pytest.raises(ValueError, match="x_hat holds NaN or inf"):
        multiscale_mel_loss(x, y.clone().fill_(float("inf")).requires_grad_(True), SR)
    with pytest.raises(ValueError, match="n_ffts entries must be at least 4"):
        multiscale_mel_loss(x, y, SR, n_ffts=(2,), n_mels=(2,))
    with pytest.raises(TypeError, match="sample_rate"):
        multiscale_mel_loss(x, y, "16000")
    with pytest.raises(TypeError, match="n_ffts must be a sequence"):
        multiscale_mel_loss(x, y, SR, n_ffts=256, n_mels=32)


def test_multiscale_mel_loss_of_integer_and_half_tensors():
    pcm = torch.tensor(np.round(NOISE[None, :4000] * 3000), dtype=torch.long)
    loss = multiscale_mel_loss(pcm, pcm // 2, SR)  # converted to float64, as stft does
    assert loss.dtype == torch.float64
    assert float(loss) == float(multiscale_mel_loss(pcm.double(), (pcm // 2).double(), SR))
    x = torch.tensor(NOISE[None, :4000], dtype=torch.float32)
    y = (0.5 * x).half().requires_grad_(True)
    half = multiscale_mel_loss(x.half(), y, SR)
    assert half.dtype == torch.float16
    assert float(half.detach()) == pytest.approx(
        float(multiscale_mel_loss(x, 0.5 * x, SR)), rel=1e-2
    )
    half.backward()
    assert y.grad is not None and bool(torch.isfinite(y.grad).all())


@pytest.mark.parametrize("scale", [1e300, 1e-300, 2.0**-1000])
def test_band_measures_hold_at_the_ends_of_float64(scale):
    # regression: the squares of the spectra overflowed (and a - b near 1e308), so finite
    # input was refused as "holds NaN or inf", or underflowed to a band without energy
    rng = np.random.default_rng(3)
    x = rng.normal(size=4000)
    y = x + 0.1 * rng.normal(size=4000)
    # powers of two scale exactly; 1e300 and 1e-300 through the same rounding as x * scale
    xs, ys = x * scale, y * scale
    ref_snr = band_snr_db(xs / scale, ys / scale, 16000)
    ref_energy = band_energy_db(xs / scale, ys / scale, 16000)
    np.testing.assert_allclose(band_snr_db(xs, ys, 16000), ref_snr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(band_energy_db(xs, ys, 16000), ref_energy, rtol=1e-12, atol=1e-12)


def test_band_snr_of_opposite_signals_near_the_float64_limit():
    # a - b overflowed to inf for finite x = -x_hat = 1e308
    x = np.where(np.random.default_rng(4).normal(size=4000) > 0, 1e308, -1e308)
    np.testing.assert_allclose(band_snr_db(x, -x, 16000), -20 * np.log10(2), atol=1e-9)


# torch warns that vmap has no batching rule for stft (it loops): not ours to fix
@pytest.mark.filterwarnings("ignore:There is a performance drop:UserWarning")
def test_stft_and_mel_loss_work_inside_torch_func_transforms():
    # regression: the NaN check read tensors with numpy, which torch.func's wrapped
    # tensors do not allow ("Cannot access data pointer of Tensor that doesn't have storage")
    x = torch.randn(4000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = x + 0.05 * torch.randn(4000, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    g = torch.func.grad(lambda v: multiscale_mel_loss(x, v, 16000))(y)
    y_req = y.clone().requires_grad_(True)
    multiscale_mel_loss(x, y_req, 16000).backward()
    torch.testing.assert_close(g, y_req.grad)
    out = torch.vmap(lambda v: stft(v, 64).abs().sum())(torch.stack([x, y]))
    expected = torch.stack([stft(v, 64).abs().sum() for v in (x, y)])
    torch.testing.assert_close(out, expected)


def test_stft_and_mel_loss_take_tensors_with_a_lazy_negation():
    # regression: x.conj().imag is a float tensor with the negative bit set, which
    # numpy cannot read ("Can't call numpy() on Tensor that has negative bit set")
    xi = torch.randn(4000, dtype=torch.complex64, generator=torch.Generator().manual_seed(2))
    xi = xi.conj().imag
    assert xi.is_neg()
    plain = xi.resolve_neg()
    torch.testing.assert_close(stft(xi, 256), stft(plain, 256))
    torch.testing.assert_close(
        multiscale_mel_loss(xi, xi * 0.9, 16000), multiscale_mel_loss(plain, plain * 0.9, 16000)
    )


def test_stft_refuses_sparse_and_meta_tensors_clearly():
    with pytest.raises(TypeError, match="x must be a dense"):
        stft(torch.randn(400).to_sparse(), 64)
    with pytest.raises(ValueError, match="x is a meta tensor"):
        stft(torch.empty(400, device="meta"), 64)


def test_mel_loss_of_an_empty_batch_is_an_error_not_nan():
    # regression: an empty batch gave tensor(nan), a silent wrong loss
    with pytest.raises(ValueError, match="hold no signals"):
        multiscale_mel_loss(torch.zeros(0, 4000), torch.zeros(0, 4000), 16000)
