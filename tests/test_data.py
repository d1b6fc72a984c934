"""Tests of rvqlib.data: shapes, determinism, statistics and argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from rvqlib.data import (
    AUDIO_KINDS,
    VOWEL_FORMANTS,
    correlated_gaussian,
    gaussian_blobs,
    latent_like,
    synth_audio,
)

# ------------------------------------------------------------------------ blobs


def test_gaussian_blobs_shapes_and_dtypes():
    x, labels, centers = gaussian_blobs(101, 5, 3, seed=0)
    assert x.shape == (101, 3) and x.dtype == np.float64
    assert labels.shape == (101,) and labels.dtype == np.int64
    assert centers.shape == (5, 3)
    # balanced: every cluster has 20 or 21 points
    counts = np.bincount(labels, minlength=5)
    assert counts.sum() == 101 and counts.min() == 20 and counts.max() == 21


def test_gaussian_blobs_labels_consistent_with_centers():
    x, labels, centers = gaussian_blobs(2000, 4, 2, spread=0.05, seed=1)
    # the points of each cluster scatter around its centre with the requested spread
    for j in range(4):
        pts = x[labels == j]
        np.testing.assert_allclose(pts.mean(axis=0), centers[j], atol=0.02)
        np.testing.assert_allclose(pts.std(axis=0), 0.05, rtol=0.15)
    # with small spread every point is nearest its own centre, unless two centres are close
    d2 = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    gap = np.min([np.linalg.norm(a - b) for i, a in enumerate(centers) for b in centers[i + 1 :]])
    assert gap > 0.5  # this seed has well separated centres
    assert np.array_equal(d2.argmin(axis=1), labels)


def test_gaussian_blobs_zero_spread_is_centres():
    x, labels, centers = gaussian_blobs(10, 3, 4, spread=0.0, box=2.0, seed=1)
    np.testing.assert_array_equal(x, centers[labels])
    assert np.all(np.abs(centers) <= 2.0)


def test_gaussian_blobs_deterministic_and_seed_sensitive():
    a = gaussian_blobs(50, 3, 2, seed=7)
    b = gaussian_blobs(50, 3, 2, seed=7)
    c = gaussian_blobs(50, 3, 2, seed=8)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    # a Generator is accepted and advanced
    rng = np.random.default_rng(7)
    d = gaussian_blobs(50, 3, 2, seed=rng)
    np.testing.assert_array_equal(d[0], a[0])
    e = gaussian_blobs(50, 3, 2, seed=rng)
    assert not np.array_equal(d[0], e[0])


# ------------------------------------------------------------------- correlated


@pytest.mark.parametrize("rho", [-0.8, 0.0, 0.5, 0.95])
def test_correlated_gaussian_statistics(rho):
    x = correlated_gaussian(20000, rho, seed=1)
    assert x.shape == (20000, 2) and x.dtype == np.float64
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=0.03)
    np.testing.assert_allclose(x.var(axis=0), 1.0, atol=0.04)
    assert abs(np.corrcoef(x.T)[0, 1] - rho) < 0.02


def test_correlated_gaussian_extremes_and_determinism():
    x = correlated_gaussian(100, 1.0, seed=2)
    np.testing.assert_allclose(x[:, 0], x[:, 1])
    x = correlated_gaussian(100, -1.0, seed=2)
    np.testing.assert_allclose(x[:, 0], -x[:, 1])
    np.testing.assert_array_equal(correlated_gaussian(30, 0.3), correlated_gaussian(30, 0.3))
    assert not np.array_equal(correlated_gaussian(30, 0.3, seed=1), correlated_gaussian(30, 0.3))


# ------------------------------------------------------------------ latent_like


def test_latent_like_shape_determinism():
    x = latent_like(500, 12, seed=4)
    assert x.shape == (500, 12) and x.dtype == np.float64
    assert np.all(np.isfinite(x))
    np.testing.assert_array_equal(x, latent_like(500, 12, seed=4))
    assert not np.array_equal(x, latent_like(500, 12, seed=5))


def test_latent_like_variance_decays_along_principal_directions():
    x = latent_like(8000, 16, decay=0.7, seed=0)
    ev = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1]
    # the spectrum falls by orders of magnitude: the top quarter of directions holds
    # most of the variance and the last direction a tiny part of the first
    assert ev[:4].sum() / ev.sum() > 0.8
    assert ev[-1] / ev[0] < 1e-3
    # decay=1 spreads the variance over many more directions
    flat = np.linalg.eigvalsh(np.cov(latent_like(8000, 16, decay=1.0, seed=0).T))
    assert flat.min() / flat.max() > 100 * ev[-1] / ev[0]


def test_latent_like_heavy_tails():
    # one cluster, one sub-cluster: what is left is rotated, scaled Student-t noise
    x = latent_like(20000, 4, n_clusters=1, n_subclusters=1, df=3.0, decay=1.0, seed=2)
    xc = x - np.median(x, axis=0)
    kurt = (xc**4).mean(axis=0) / (xc**2).mean(axis=0) ** 2
    assert np.all(kurt > 5.0)  # a Gaussian has 3
    g = latent_like(20000, 4, n_clusters=1, n_subclusters=1, df=1e6, decay=1.0, seed=2)
    gc = g - g.mean(axis=0)
    kurt_g = (gc**4).mean(axis=0) / (gc**2).mean(axis=0) ** 2
    np.testing.assert_allclose(kurt_g, 3.0, atol=0.2)


def test_latent_like_has_clusters():
    # clustered data: k-means with the true number of clusters explains much more
    # variance than on the same data with cluster labels shuffled away
    from rvqlib.kmeans import kmeans

    x = latent_like(3000, 8, n_clusters=6, decay=0.9, seed=1)
    inertia = kmeans(x, 6, n_iter=50, seed=0).inertia
    total = ((x - x.mean(axis=0)) ** 2).sum()
    assert inertia / total < 0.35


def test_latent_like_rvq_stages_learn_finer_detail():
    # the property chapter 6 relies on: each RVQ stage's codebook is on a smaller
    # scale than the one before, and every stage lowers the distortion
    from rvqlib.rvq import rvq_decode, rvq_encode, train_rvq_codebooks

    x = latent_like(2000, 8, seed=0)
    books = train_rvq_codebooks(x, 4, 16, seed=0, n_iter=30)
    scales = [float(np.linalg.norm(b, axis=1).mean()) for b in books]
    assert all(b < a for a, b in zip(scales, scales[1:], strict=False)), scales
    assert scales[1] < 0.5 * scales[0]
    mse = [
        float(((rvq_decode(rvq_encode(x, books, n_q=n), books) - x) ** 2).sum(axis=1).mean())
        for n in range(1, 5)
    ]
    assert all(b < a for a, b in zip(mse, mse[1:], strict=False)), mse
    # one 16-word stage already removes most of the energy: the coarse structure dominates
    assert mse[0] < 0.1 * float((x**2).sum(axis=1).mean())


# ------------------------------------------------------------------------ audio


@pytest.mark.parametrize("kind", AUDIO_KINDS)
def test_synth_audio_range_length_dtype(kind):
    x = synth_audio(kind, 0.25, 16000, seed=3)
    assert x.shape == (4000,) and x.dtype == np.float32
    assert np.all(np.abs(x) <= 1.0) and np.all(np.isfinite(x))
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    assert 0.05 < rms < 0.7  # audible, not clipped flat
    # fades in and out: the first and last samples are (almost) silent
    assert abs(x[0]) < 0.05 and abs(x[-1]) < 0.05
    np.testing.assert_array_equal(x, synth_audio(kind, 0.25, 16000, seed=3))
    assert not np.array_equal(x, synth_audio(kind, 0.25, 16000, seed=4))


def test_synth_audio_length_rounds_and_rates():
    assert synth_audio("tone", 0.1, 24000).shape == (2400,)
    assert synth_audio("noise", 1 / 16000, 16000).shape == (1,)
    assert synth_audio("mix", 0.33333, 8000).shape == (round(0.33333 * 8000),)


def _dominant_frequency(x: np.ndarray, sample_rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sample_rate)[spec.argmax()])


def test_synth_audio_tone_pitch():
    for seed in range(4):
        f = _dominant_frequency(synth_audio("tone", 0.5, 16000, seed=seed), 16000)
        assert 220.0 - 4 <= f <= 660.0 + 4


def test_synth_audio_chirp_rises():
    x = synth_audio("chirp", 1.0, 16000, seed=0).astype(np.float64)
    first = _dominant_frequency(x[2000:4000], 16000)
    last = _dominant_frequency(x[-4000:-2000], 16000)
    assert last > 4 * first


def test_synth_audio_vowel_is_periodic_with_formants():
    sr = 16000
    x = synth_audio("vowel", 0.5, sr, seed=0).astype(np.float64)
    # periodic: the autocorrelation peaks at a lag of one glottal period (100-180 Hz)
    seg = x[2000:6000] - x[2000:6000].mean()
    ac = np.correlate(seg, seg, mode="full")[len(seg) - 1 :]
    lo, hi = sr // 180, sr // 100
    lag = lo + int(ac[lo : hi + 1].argmax())
    assert ac[lag] > 0.5 * ac[0]
    # formants: most energy lies below 4 kHz, as the resonators sit below 3.1 kHz
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    assert spec[freqs < 4000].sum() > 0.9 * spec.sum()
    assert all(max(f) < 4000 for f in VOWEL_FORMANTS.values())


def test_synth_audio_noise_is_white():
    x = synth_audio("noise", 1.0, 16000, seed=0).astype(np.float64)
    assert abs(x.std() - 0.2) < 0.01
    spec = np.abs(np.fft.rfft(x)) ** 2
    half = len(spec) // 2
    assert 0.8 < spec[:half].sum() / spec[half:].sum() < 1.25


# -------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("call", "exc", "name"),
    [
        (lambda: gaussian_blobs(0, 2, 2), ValueError, "n"),
        (lambda: gaussian_blobs(10, 0, 2), ValueError, "k"),
        (lambda: gaussian_blobs(10, 2, 2.5), TypeError, "dim"),
        (lambda: gaussian_blobs(10, 2, 2, spread=-1.0), ValueError, "spread"),
        (lambda: gaussian_blobs(10, 2, 2, box=0.0), ValueError, "box"),
        (lambda: gaussian_blobs(10, 2, 2, seed=-1), ValueError, "seed"),
        (lambda: gaussian_blobs(10, 2, 2, seed="a"), TypeError, "seed"),
        (lambda: correlated_gaussian(10, 1.5), ValueError, "rho"),
        (lambda: correlated_gaussian(10, float("nan")), ValueError, "rho"),
        (lambda: correlated_gaussian(10, "0.5"), TypeError, "rho"),
        (lambda: correlated_gaussian(-1, 0.5), ValueError, "n"),
        (lambda: latent_like(10, 0), ValueError, "dim"),
        (lambda: latent_like(10, 4, decay=1.5), ValueError, "decay"),
        (lambda: latent_like(10, 4, df=0.0), ValueError, "df"),
        (lambda: latent_like(10, 4, n_clusters=0), ValueError, "n_clusters"),
        (lambda: synth_audio("tone", -1.0), ValueError, "seconds"),
        (lambda: synth_audio("tone", float("inf")), ValueError, "seconds"),
        (lambda: synth_audio("tone", 1e-6), ValueError, "seconds"),
        (lambda: synth_audio("tone", 1.0, 4000), ValueError, "sample_rate"),
        (lambda: synth_audio("tone", 1.0, 16000.0), TypeError, "sample_rate"),
        (lambda: synth_audio(3, 1.0), TypeError, "kind"),
    ],
)
def test_bad_arguments_name_the_argument(call, exc, name):
    with pytest.raises(exc, match=rf"\b{name}\b"):
        call()


def test_unknown_kind_lists_valid_kinds():
    with pytest.raises(ValueError, match="kind") as info:
        synth_audio("speech", 1.0)
    for kind in AUDIO_KINDS:
        assert kind in str(info.value)
