"""Synthetic data for the chapters and the tests.

Every generator here is deterministic: it takes a ``seed`` (an ``int`` or a
:class:`numpy.random.Generator`) and returns numpy arrays, so a chapter that
calls it twice with the same seed shows the same numbers and figures.

- :func:`gaussian_blobs`: well separated clusters, where k-means and VQ have an
  obvious right answer (chapters 2, 3, 4 and 5).
- :func:`correlated_gaussian`: a 2-D Gaussian with correlation ``rho``, where
  vector quantization beats per-coordinate scalar quantization (chapters 1 and 2).
- :func:`latent_like`: heavy-tailed, clustered vectors whose variance decays
  along principal directions, standing in for a neural encoder's outputs; RVQ
  stages trained on them learn finer and finer detail (chapters 6 and 7).
- :func:`synth_audio`: tones, chirps, vowel-like formant sounds, noise and a mix
  of them, for the tiny codec of chapter 8.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from rvqlib._validate import as_generator, nonnegative_float, positive_int

__all__ = [
    "AUDIO_KINDS",
    "VOWEL_FORMANTS",
    "correlated_gaussian",
    "gaussian_blobs",
    "latent_like",
    "synth_audio",
]

SeedLike = int | np.random.Generator

#: The kinds of sound :func:`synth_audio` can make.
AUDIO_KINDS: tuple[str, ...] = ("tone", "chirp", "vowel", "noise", "mix")

#: First three formant frequencies (Hz) of five vowels spoken by adult men, the
#: averages measured by Peterson and Barney (1952), with the formant bandwidths
#: (Hz) used for every vowel. :func:`synth_audio` picks one vowel per seed.
VOWEL_FORMANTS: dict[str, tuple[float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (270.0, 2290.0, 3010.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (300.0, 870.0, 2240.0),
}
_FORMANT_BANDWIDTHS: tuple[float, float, float] = (90.0, 110.0, 170.0)


# --------------------------------------------------------------------------- checks
def _positive_float(value: object, name: str) -> float:
    value = nonnegative_float(value, name)
    if value == 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


# --------------------------------------------------------------------------- vectors
def gaussian_blobs(
    n: int,
    k: int,
    dim: int,
    *,
    spread: float = 0.1,
    box: float = 1.0,
    seed: SeedLike = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters around random centres.

    The centres are drawn uniformly in the cube ``[-box, box]^dim``; point ``i``
    belongs to cluster ``labels[i]`` and equals its centre plus Gaussian noise
    of standard deviation ``spread`` per coordinate. Labels are balanced (each
    cluster gets ``n // k`` or ``n // k + 1`` points) and shuffled, so every
    cluster is non-empty when ``n >= k``.

    Used by chapters 2-5 (VQ, k-means, codebook losses, EMA updates), where the
    right codebook is known: the cluster means.

    Parameters
    ----------
    n : int
        Number of points (>= 1).
    k : int
        Number of clusters (>= 1).
    dim : int
        Dimension of each point (>= 1).
    spread : float, default 0.1
        Standard deviation of each cluster along every coordinate (>= 0).
    box : float, default 1.0
        Half-width of the cube the centres are drawn in (> 0).
    seed : int or numpy.random.Generator, default 0
        Seed of the random numbers; the same seed gives the same data.

    Returns
    -------
    x : numpy.ndarray
        ``(n, dim)`` float64 points.
    labels : numpy.ndarray
        ``(n,)`` int64 cluster of each point, in ``0..k-1``.
    centers : numpy.ndarray
        ``(k, dim)`` float64 cluster centres.

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or is out of range.
    """
    n = positive_int(n, "n")
    k = positive_int(k, "k")
    dim = positive_int(dim, "dim")
    spread = nonnegative_float(spread, "spread")
    box = _positive_float(box, "box")
    rng = as_generator(seed)
    centers = rng.uniform(-box, box, size=(k, dim))
    labels = rng.permutation(np.arange(n, dtype=np.int64) % k)
    x = centers[labels] + spread * rng.standard_normal((n, dim))
    return x, labels, centers


def correlated_gaussian(n: int, rho: float, *, seed: SeedLike = 0) -> np.ndarray:
    """Samples of a 2-D Gaussian with unit variances and correlation ``rho``.

    Built as ``x1 = w1`` and ``x2 = rho * w1 + sqrt(1 - rho**2) * w2`` from two
    independent standard normals, so ``E[x1 x2] = rho`` exactly in distribution.

    Used by chapters 1 and 2: scalar quantization of each coordinate ignores the
    correlation that a vector quantizer exploits.

    Parameters
    ----------
    n : int
        Number of samples (>= 1).
    rho : float
        Correlation coefficient, in ``[-1, 1]``.
    seed : int or numpy.random.Generator, default 0
        Seed of the random numbers.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float64 samples.

    Raises
    ------
    TypeError, ValueError
        If ``n`` is not a positive int or ``rho`` is not a number in ``[-1, 1]``.
    """
    n = positive_int(n, "n")
    if isinstance(rho, bool) or not isinstance(rho, Real):
        raise TypeError(f"rho must be a real number, got {type(rho).__name__}")
    rho = float(rho)
    if not -1.0 <= rho <= 1.0:  # also rejects NaN
        raise ValueError(f"rho must be a correlation in [-1, 1], got {rho}")
    rng = as_generator(seed)
    w = rng.standard_normal((n, 2))
    x2 = rho * w[:, 0] + math.sqrt(1.0 - rho * rho) * w[:, 1]
    return np.stack([w[:, 0], x2], axis=1)


def latent_like(
    n: int,
    dim: int,
    *,
    n_clusters: int = 8,
    n_subclusters: int = 4,
    decay: float = 0.8,
    df: float = 3.0,
    seed: SeedLike = 0,
) -> np.ndarray:
    """Structured, heavy-tailed vectors that look like a neural encoder's outputs.

    The vectors have structure at three scales, each finer than the one before,
    expressed in a random orthonormal basis ``Q`` and stretched by per-direction
    scales ``s_j = decay**j`` (so the variance decays along principal
    directions ``j = 0, 1, ..., dim-1``)::

        y = c[cluster] + 0.35 * c_sub[cluster, sub] + 0.1 * t,   x = Q @ (s * y)

    where ``c`` are ``n_clusters`` coarse centres (standard normal), ``c_sub``
    are ``n_subclusters`` sub-centres per cluster (standard normal) and ``t``
    is Student-t noise with ``df`` degrees of freedom (heavy tails: some vectors
    lie far from every centre). Clusters and sub-clusters are picked with
    unequal (Dirichlet) probabilities, as real code usage is unequal.

    A first RVQ stage learns the coarse clusters along the leading directions,
    later stages the sub-clusters and then the noise: each stage's codebook is
    on a smaller scale than the one before. Used by chapters 6 and 7.

    Parameters
    ----------
    n : int
        Number of vectors (>= 1).
    dim : int
        Dimension (>= 1).
    n_clusters : int, default 8
        Number of coarse clusters (>= 1).
    n_subclusters : int, default 4
        Number of sub-clusters inside each cluster (>= 1).
    decay : float, default 0.8
        Ratio of successive per-direction scales, in ``(0, 1]``.
    df : float, default 3.0
        Degrees of freedom of the Student-t noise (> 0; smaller is heavier).
    seed : int or numpy.random.Generator, default 0
        Seed of the random numbers.

    Returns
    -------
    numpy.ndarray
        ``(n, dim)`` float64 vectors.

    Raises
    ------
    TypeError, ValueError
        If an argument has the wrong type or is out of range.
    """
    n = positive_int(n, "n")
    dim = positive_int(dim, "dim")
    n_clusters = positive_int(n_clusters, "n_clusters")
    n_subclusters = positive_int(n_subclusters, "n_subclusters")
    decay = _positive_float(decay, "decay")
    if decay > 1.0:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    df = _positive_float(df, "df")
    rng = as_generator(seed)

    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))  # a uniformly random rotation (Haar measure)
    scales = decay ** np.arange(dim, dtype=np.float64)

    centers = rng.standard_normal((n_clusters, dim))
    sub_centers = rng.standard_normal((n_clusters, n_subclusters, dim))
    p_cluster = rng.dirichlet(np.full(n_clusters, 2.0))
    p_sub = rng.dirichlet(np.full(n_subclusters, 2.0), size=n_clusters)

    cluster = rng.choice(n_clusters, size=n, p=p_cluster)
    # inverse-CDF draw of each vector's sub-cluster from its cluster's probabilities
    cdf = np.cumsum(p_sub, axis=1)[cluster]
    sub = (rng.random(n)[:, None] > cdf).sum(axis=1).clip(max=n_subclusters - 1)
    noise = rng.standard_t(df, size=(n, dim))

    y = centers[cluster] + 0.35 * sub_centers[cluster, sub] + 0.1 * noise
    return (y * scales) @ q.T


# --------------------------------------------------------------------------- audio
def _fade(x: np.ndarray, sample_rate: int, seconds: float = 0.01) -> np.ndarray:
    """Raised-cosine fade-in and fade-out, so clips start and end without clicks."""
    m = min(int(seconds * sample_rate), len(x) // 2)
    if m > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(m) + 0.5) / m)
        x[:m] *= ramp
        x[-m:] *= ramp[::-1]
    return x


def _peak_normalize(x: np.ndarray, peak: float) -> np.ndarray:
    top = np.max(np.abs(x))
    return x * (peak / top) if top > 0 else x


def _tone(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(220.0, 660.0)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    # a fundamental with two weaker harmonics: a soft, organ-like tone
    x = sum(
        a * np.sin(2 * np.pi * h * f0 * t + p)
        for a, h, p in zip((1.0, 0.4, 0.2), (1, 2, 3), phase, strict=True)
    )
    return 0.5 * x / 1.6


def _chirp(t: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    from scipy import signal  # imported here: `import rvqlib` must not pay for scipy

    f_start = rng.uniform(100.0, 200.0)
    f_end = 0.4 * sample_rate
    duration = max(float(t[-1]), 1.0 / sample_rate)
    return 0.5 * signal.chirp(t, f0=f_start, t1=duration, f1=f_end, method="logarithmic")


def _vowel(t: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    from scipy import signal  # imported here: `import rvqlib` must not pay for scipy

    name = list(VOWEL_FORMANTS)[rng.integers(len(VOWEL_FORMANTS))]
    f0 = rng.uniform(100.0, 180.0)
    # pitch with a slow 5 Hz vibrato of 2 %: the glottal pulse train's phase
    pitch = f0 * (1.0 + 0.02 * np.sin(2 * np.pi * 5.0 * t + rng.uniform(0, 2 * np.pi)))
    cycles = np.cumsum(pitch) / sample_rate
    pulses = np.diff(np.floor(cycles), prepend=0.0)  # 1 at the start of each period
    # glottal source: a two-pole low-pass (about -12 dB/octave) shapes each pulse
    pole = math.exp(-2 * np.pi * 100.0 / sample_rate)
    source = signal.lfilter([1.0], [1.0, -2 * pole, pole * pole], pulses)
    out = source
    for freq, bw in zip(VOWEL_FORMANTS[name], _FORMANT_BANDWIDTHS, strict=True):
        if freq >= 0.45 * sample_rate:
            continue
        # second-order resonator with unit gain at DC (Klatt 1980)
        r = math.exp(-np.pi * bw / sample_rate)
        a1, a2 = -2 * r * math.cos(2 * np.pi * freq / sample_rate), r * r
        out = signal.lfilter([1.0 + a1 + a2], [1.0, a1, a2], out)
    out = np.diff(out, prepend=0.0)  # radiation at the lips: +6 dB/octave
    # fade before scaling, so the filters' start-up transient does not set the level
    return _peak_normalize(_fade(out, sample_rate), 0.7)


def synth_audio(
    kind: str,
    seconds: float,
    sample_rate: int = 16000,
    *,
    seed: SeedLike = 0,
) -> np.ndarray:
    """A short synthetic sound, for the tiny neural codec of chapter 8.

    Kinds (the seed picks each kind's free parameters):

    ``"tone"``
        A fundamental between 220 and 660 Hz with two weaker harmonics.
    ``"chirp"``
        A logarithmic sweep from 100-200 Hz up to ``0.4 * sample_rate``.
    ``"vowel"``
        A vowel-like sound: a glottal pulse train (100-180 Hz, with vibrato)
        through three formant resonators (:data:`VOWEL_FORMANTS`, second-order
        IIR filters applied with :func:`scipy.signal.lfilter`) and lip
        radiation.
    ``"noise"``
        White Gaussian noise of standard deviation 0.2 (clipped to ``[-1, 1]``).
    ``"mix"``
        The sum of a tone, a vowel, a quieter chirp and quieter noise, scaled to
        a peak of 0.9.

    Every clip fades in and out over 10 ms.

    Parameters
    ----------
    kind : str
        One of :data:`AUDIO_KINDS`.
    seconds : float
        Duration (> 0); the clip has ``round(seconds * sample_rate)`` samples.
    sample_rate : int, default 16000
        Samples per second (>= 8000, so the formants fit below Nyquist).
    seed : int or numpy.random.Generator, default 0
        Seed of the random numbers.

    Returns
    -------
    numpy.ndarray
        ``(round(seconds * sample_rate),)`` float32 samples in ``[-1, 1]``.

    Raises
    ------
    TypeError, ValueError
        If ``kind`` is unknown (the message lists the valid kinds) or another
        argument has the wrong type or is out of range.
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a str, one of {AUDIO_KINDS}, got {type(kind).__name__}")
    if kind not in AUDIO_KINDS:
        raise ValueError(f"kind must be one of {', '.join(AUDIO_KINDS)}; got {kind!r}")
    seconds = _positive_float(seconds, "seconds")
    sample_rate = positive_int(sample_rate, "sample_rate", minimum=8000)
    n = round(seconds * sample_rate)
    if n < 1:
        raise ValueError(
            f"seconds={seconds} at sample_rate={sample_rate} gives no samples; "
            f"seconds must be at least 1 / sample_rate"
        )
    rng = as_generator(seed)
    t = np.arange(n, dtype=np.float64) / sample_rate

    if kind == "tone":
        x = _tone(t, rng)
    elif kind == "chirp":
        x = _chirp(t, sample_rate, rng)
    elif kind == "vowel":
        x = _vowel(t, sample_rate, rng)
    elif kind == "noise":
        x = 0.2 * rng.standard_normal(n)
    else:  # mix
        x = (
            _tone(t, rng)
            + _vowel(t, sample_rate, rng)
            + 0.3 * _chirp(t, sample_rate, rng)
            + 0.05 * rng.standard_normal(n)
        )
        x = _peak_normalize(x, 0.9)
    x = _fade(np.clip(x, -1.0, 1.0), sample_rate)
    return x.astype(np.float32)
