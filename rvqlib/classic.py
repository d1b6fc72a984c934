"""Classic waveform coders, brought to a chosen bitrate (chapter 8's baselines).

A waveform coder sends every sample (at some sample rate ``f_c``) with ``b``
bits, so its bitrate is ``f_c * b`` bits per second. To reach a low bitrate it
can lower the sample rate (losing everything above ``f_c / 2``) or the bits per
sample (more quantization noise). This module codes a signal with three
classic coders at any (sample rate, bits) pair, and searches for the pair that
serves a given bitrate best:

- :func:`pcm`: uniform PCM, ``2**b`` levels on ``[-peak, peak]``
  (:func:`rvqlib.scalar.uniform_quantize`, the midrise quantizer of chapter 1);
- :func:`mu_law`: mu-law PCM (ITU-T G.711's compander, ``mu = 255``): the
  signal is compressed by ``sign(x) ln(1 + mu |x|) / ln(1 + mu)`` before the
  uniform quantizer and expanded after it, so quiet samples get finer steps;
- :func:`adpcm_encode` / :func:`adpcm_decode`: adaptive differential PCM. A
  linear predictor (order 2, its coefficients computed once per signal from its
  autocorrelation and sent as side information) predicts each sample from the
  two reconstructed before it, and only the prediction error is quantized, by a
  ``b``-bit quantizer whose step adapts backward, after every sample, by
  Jayant's multipliers (small codes shrink the step, large ones grow it). With
  ``b = 1`` it is adaptive delta modulation: the step grows by 1.5 when two
  successive signs agree and shrinks by 0.66 when they differ.

:func:`code_at` resamples a signal to the coder's rate with ``soxr``
(:func:`rvqlib.speech.resample`), codes and decodes it, and resamples it back;
:func:`best_pairs` tries every ``b`` with ``f_c = bitrate / b`` and keeps the
best by each metric you choose (:func:`best_pair` for one metric). The side
information (a peak, two predictor coefficients and a first step: a few bytes per
signal) is not counted in the bitrate.

References: Jayant (1973) for the adaptive quantizer and its multipliers;
Rabiner and Schafer, *Digital Processing of Speech Signals* (1978), chapter 5.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rvqlib._pow2 import pow2_shift
from rvqlib._validate import finite_float
from rvqlib.scalar import uniform_quantize

__all__ = [
    "CODERS",
    "ADPCMStream",
    "ClassicResult",
    "adpcm",
    "adpcm_decode",
    "adpcm_encode",
    "best_pair",
    "best_pairs",
    "code_at",
    "jayant_multipliers",
    "mu_law",
    "pcm",
]

MU = 255.0


def _signal(x: Any, name: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real array of samples, got {type(x).__name__}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of samples, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or inf")
    return arr


def _bits(bits: Any, low: int = 1, high: int = 16) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer):
        raise TypeError(f"bits must be an integer, got {type(bits).__name__}")
    if not low <= bits <= high:
        raise ValueError(f"bits must be between {low} and {high}, got {bits}")
    return int(bits)


def _peak(x: np.ndarray, peak: float | None) -> float:
    if peak is None:
        peak = float(np.abs(x).max())
        return peak if peak > 0 else 1.0
    if isinstance(peak, bool) or not isinstance(peak, int | float | np.floating | np.integer):
        raise TypeError(f"peak must be a positive number, got {type(peak).__name__}")
    if not math.isfinite(peak) or peak <= 0:
        raise ValueError(f"peak must be a positive, finite number, got {peak}")
    return float(peak)


# --------------------------------------------------------------------------- PCM
def pcm(x: Any, bits: int, *, peak: float | None = None) -> np.ndarray:
    """Uniform PCM: each sample to the nearest of ``2**bits`` midrise levels on ``[-peak, peak]``.

    Parameters
    ----------
    x : array_like
        Samples, 1-D.
    bits : int
        Bits per sample, 1 to 16.
    peak : float, optional
        The quantizer's range; default ``max |x|`` (side information).

    Returns
    -------
    numpy.ndarray
        The reconstruction, float64.
    """
    x = _signal(x)
    p = _peak(x, peak)
    return uniform_quantize(x, 2 ** _bits(bits), -p, p)[1]


def mu_law(x: Any, bits: int, *, peak: float | None = None, mu: float = MU) -> np.ndarray:
    """mu-law PCM: compress, quantize uniformly with ``2**bits`` levels, expand.

    Parameters
    ----------
    x : array_like
        Samples, 1-D.
    bits : int
        Bits per sample, 1 to 16 (G.711 uses 8 at 8 kHz, 64 kbps).
    peak : float, optional
        Full scale; default ``max |x|``.
    mu : float
        The compander's constant (255 in G.711's North American variant).

    Returns
    -------
    numpy.ndarray
        The reconstruction, float64.

    Raises
    ------
    TypeError
        Non-numeric ``x``, ``peak`` or ``mu``, non-integer ``bits``.
    ValueError
        ``x`` not a non-empty 1-D array of finite samples, ``bits`` outside 1 to 16,
        ``peak`` or ``mu`` not positive and finite.

    Notes
    -----
    The expansion is computed as ``peak * (expm1(|c| ln(1 + mu)) / mu)``, the
    second factor at most 1, so any finite signal (up to ``±1.8e308``) gives a
    finite reconstruction.
    """
    x = _signal(x)
    p = _peak(x, peak)
    if isinstance(mu, bool) or not isinstance(mu, int | float | np.floating | np.integer):
        raise TypeError(f"mu must be a positive number, got {type(mu).__name__}")
    if not (math.isfinite(mu) and mu > 0):
        raise ValueError(f"mu must be a positive, finite number, got {mu}")
    mu = float(mu)
    u = np.clip(x / p, -1.0, 1.0)
    c = np.sign(u) * np.log1p(mu * np.abs(u)) / np.log1p(mu)
    cq = uniform_quantize(c, 2 ** _bits(bits), -1.0, 1.0)[1]
    # expm1(|cq| ln(1 + mu)) / mu <= 1: dividing before the product with p cannot overflow
    return p * (np.sign(cq) * (np.expm1(np.abs(cq) * np.log1p(mu)) / mu))


# --------------------------------------------------------------------------- ADPCM
def jayant_multipliers(bits: int) -> tuple[float, ...]:
    """Step multipliers of the ``bits``-bit adaptive quantizer, one per magnitude level.

    For 2, 3 and 4 bits these are Jayant's (1973) values for speech,
    ``(0.8, 1.6)``, ``(0.9, 0.9, 1.25, 1.75)`` and
    ``(0.9, 0.9, 0.9, 0.9, 1.2, 1.6, 2.0, 2.4)``. For more bits the pattern is
    extended: 0.9 on the inner half of the levels, then rising linearly from 1.2
    to 2.4 on the outer half. (One bit has no magnitude level; see :func:`adpcm_encode`.)

    Parameters
    ----------
    bits : int
        2 to 16.

    Returns
    -------
    tuple of float
        ``2 ** (bits - 1)`` multipliers, smallest magnitude first.
    """
    bits = _bits(bits, 2)
    tables = {
        2: (0.8, 1.6),
        3: (0.9, 0.9, 1.25, 1.75),
        4: (0.9, 0.9, 0.9, 0.9, 1.2, 1.6, 2.0, 2.4),
    }
    if bits in tables:
        return tables[bits]
    half = 2 ** (bits - 2)
    return (0.9,) * half + tuple(float(v) for v in np.linspace(1.2, 2.4, half))


@dataclass(frozen=True)
class ADPCMStream:
    """What an ADPCM encoder sends: the codes and the side information.

    Attributes
    ----------
    codes : numpy.ndarray
        One integer in ``[0, 2**bits)`` per sample (sign bit, then magnitude).
    bits : int
        Bits per code.
    coefficients : tuple of float
        The predictor ``a_1, a_2``: the prediction is ``a_1 y[n-1] + a_2 y[n-2]``.
    first_step : float
        The quantizer's step for the first sample.
    min_step, max_step : float
        Limits on the adapted step.
    """

    codes: np.ndarray
    bits: int
    coefficients: tuple[float, ...]
    first_step: float
    min_step: float
    max_step: float


def _predictor(x: np.ndarray, order: int = 2, expand: float = 0.9) -> tuple[float, ...]:
    """Linear-prediction coefficients by Levinson-Durbin, with bandwidth expansion."""
    shift = pow2_shift(float(np.abs(x).max()))  # the coefficients do not depend on the scale
    if shift:
        x = np.ldexp(x, -shift)
    r = np.array([np.dot(x[: len(x) - k], x[k:]) for k in range(order + 1)])
    if r[0] <= 0:
        return (0.0,) * order
    r[0] *= 1 + 1e-9
    a = np.zeros(order + 1)
    a[0] = 1.0
    err = r[0]
    for i in range(1, order + 1):
        k = -(r[i] + np.dot(a[1:i], r[i - 1 : 0 : -1])) / err
        a[1 : i + 1] = a[1 : i + 1] + k * a[i - 1 :: -1][:i]
        err *= 1 - k * k
    # y[n] ~ -a_1 y[n-1] - a_2 y[n-2]; shrink the poles (bandwidth expansion) for stability
    return tuple(float(-a[i] * expand**i) for i in range(1, order + 1))


def _adpcm_run(x: np.ndarray, bits: int, p: float) -> tuple[ADPCMStream, np.ndarray]:
    """The encoder's loop: the stream, and the reconstruction it tracks (the decoder's output).

    The reconstruction is computed with the same operations in the same order as
    :func:`adpcm_decode`, so it equals the decoder's output exactly.
    """
    if p / 2**15 < sys.float_info.min:
        raise ValueError(
            f"the peak {p!r} is too small for ADPCM: its smallest step, peak / 2**15, would "
            "fall below float64's smallest normal number (the peak must be at least "
            "2**-1007, about 7.3e-304); scale x up"
        )
    a1, a2 = _predictor(x)
    # the loop runs on x / 2**shift (steps below 1) when p is near float64's limit, where
    # (m + 1/2) * step and the predictions would overflow; the results are the same
    shift = pow2_shift(p) if p > 1 else 0
    if shift:
        x = np.ldexp(x, -shift)
        p = math.ldexp(p, -shift)
    scale = pow2_shift(float(np.abs(x).max()))  # the rms without overflow
    rms = math.ldexp(float(np.sqrt(np.mean(np.ldexp(x, -scale) ** 2))), scale)
    first = max(rms / 4, p / 2**15)
    lo, hi = p / 2**15, p
    codes: list[int] = []
    out: list[float] = []
    put_code, put_y = codes.append, out.append
    y1 = y2 = 0.0
    step = first
    if bits == 1:
        last = 0
        for v in x.tolist():
            pred = a1 * y1 + a2 * y2
            if v >= pred:
                s = 1
                y = pred + step
            else:
                s = 0
                y = pred - step
            step *= 1.5 if s == last else 0.66
            if step < lo:
                step = lo
            elif step > hi:
                step = hi
            last = s
            put_code(s)
            put_y(y)
            y2, y1 = y1, y
    else:
        mult = jayant_multipliers(bits)
        top = len(mult) - 1
        sign_bit = 1 << (bits - 1)
        for v in x.tolist():
            pred = a1 * y1 + a2 * y2
            d = v - pred
            if d < 0:
                r = -d / step  # inf for a sample far beyond a tiny peak: the top level
                m = top if r >= top else int(r)
                put_code(sign_bit | m)
                y = pred - (m + 0.5) * step
            else:
                r = d / step
                m = top if r >= top else int(r)
                put_code(m)
                y = pred + (m + 0.5) * step
            step *= mult[m]
            if step < lo:
                step = lo
            elif step > hi:
                step = hi
            put_y(y)
            y2, y1 = y1, y
    y = np.array(out, dtype=np.float64)
    if shift:
        first, lo, hi = (math.ldexp(v, shift) for v in (first, lo, hi))
        with np.errstate(over="ignore"):
            y = np.ldexp(y, shift)
    stream = ADPCMStream(np.array(codes, dtype=np.int64), bits, (a1, a2), first, lo, hi)
    return stream, y


def adpcm_encode(x: Any, bits: int, *, peak: float | None = None) -> ADPCMStream:
    """ADPCM encoder: order-2 fixed prediction, Jayant's backward-adaptive step.

    For every sample the encoder predicts ``p = a_1 y[n-1] + a_2 y[n-2]`` from its
    own reconstruction ``y`` (what the decoder will have), quantizes the
    difference ``d = x[n] - p`` as a sign and a magnitude level
    ``m = min(floor(|d| / step), 2**(bits-1) - 1)`` reconstructed at
    ``(m + 1/2) step``, and multiplies the step by
    ``jayant_multipliers(bits)[m]``. With one bit the code is the sign alone,
    reconstructed at ``step``, and the step grows by 1.5 when the sign repeats
    and shrinks by 0.66 when it flips (adaptive delta modulation).

    Parameters
    ----------
    x : array_like
        Samples, 1-D.
    bits : int
        Bits per sample, 1 to 8.
    peak : float, optional
        Sets the largest step (``peak``) and the smallest (``peak / 2**15``);
        default ``max |x|``.

    Returns
    -------
    ADPCMStream
        Decode it with :func:`adpcm_decode`.
    """
    x = _signal(x)
    bits = _bits(bits, 1, 8)
    return _adpcm_run(x, bits, _peak(x, peak))[0]


def _coefficients(coefficients: Any) -> tuple[float, float]:
    """The predictor ``(a_1, a_2)`` of a stream: two finite real numbers."""
    try:
        n = len(coefficients)
    except TypeError:
        raise TypeError(
            "stream.coefficients must be a pair of real numbers (a_1, a_2), "
            f"got {type(coefficients).__name__}"
        ) from None
    if n != 2:
        raise ValueError(f"stream.coefficients must hold 2 numbers (a_1, a_2), got {n}")
    a1, a2 = (finite_float(c, f"stream.coefficients[{i}]") for i, c in enumerate(coefficients))
    return a1, a2


def _step(value: Any, name: str) -> float:
    value = finite_float(value, f"stream.{name}")
    if not value > 0:
        raise ValueError(f"stream.{name} must be a positive step, got {value}")
    return value


def adpcm_decode(stream: ADPCMStream) -> np.ndarray:
    """ADPCM decoder: rebuild the samples from the codes and the side information alone.

    Parameters
    ----------
    stream : ADPCMStream
        What :func:`adpcm_encode` returned (or the same fields from elsewhere).

    Returns
    -------
    numpy.ndarray
        The reconstruction, float64.

    Raises
    ------
    TypeError
        ``stream`` not an :class:`ADPCMStream`; a non-integer ``bits`` or a
        non-numeric coefficient or step.
    ValueError
        ``codes`` not a 1-D integer array in ``[0, 2**bits)``; ``bits`` outside
        1 to 8; ``coefficients`` not two finite numbers; ``first_step``,
        ``min_step`` or ``max_step`` not positive and finite, or
        ``min_step > max_step``; a reconstruction that overflows float64 (an
        unstable predictor), instead of returning ``inf`` or ``nan``.
    """
    if not isinstance(stream, ADPCMStream):
        raise TypeError(f"stream must be an ADPCMStream, got {type(stream).__name__}")
    bits = _bits(stream.bits, 1, 8)
    codes = np.asarray(stream.codes)
    if codes.ndim != 1 or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError("stream.codes must be a 1-D integer array")
    if codes.size and (codes.min() < 0 or codes.max() >= 2**bits):
        raise ValueError(f"stream.codes must lie in [0, {2**bits}) for {bits} bits")
    a1, a2 = _coefficients(stream.coefficients)
    step = _step(stream.first_step, "first_step")
    lo = _step(stream.min_step, "min_step")
    hi = _step(stream.max_step, "max_step")
    if lo > hi:
        raise ValueError(f"stream.min_step must not exceed stream.max_step, got {lo!r} > {hi!r}")
    # as the encoder: steps near float64's limit are scaled down (exactly) for the loop
    shift = pow2_shift(hi) if hi > 1 else 0
    if shift:
        step, lo, hi = (math.ldexp(v, -shift) for v in (step, lo, hi))
    out: list[float] = []
    put = out.append
    y1 = y2 = 0.0
    if bits == 1:
        last = 0
        for s in codes.tolist():
            y = a1 * y1 + a2 * y2 + (step if s else -step)
            step *= 1.5 if s == last else 0.66
            if step < lo:
                step = lo
            elif step > hi:
                step = hi
            last = s
            put(y)
            y2, y1 = y1, y
    else:
        mult = jayant_multipliers(bits)
        sign_bit = 1 << (bits - 1)
        for c in codes.tolist():
            m = c & (sign_bit - 1)
            q = (m + 0.5) * step
            y = a1 * y1 + a2 * y2 + (-q if c & sign_bit else q)
            step *= mult[m]
            if step < lo:
                step = lo
            elif step > hi:
                step = hi
            put(y)
            y2, y1 = y1, y
    y = np.array(out, dtype=np.float64)
    if shift:
        with np.errstate(over="ignore"):
            y = np.ldexp(y, shift)
    if not np.isfinite(y).all():
        raise ValueError(
            "the decoded samples overflow float64: stream.coefficients "
            f"{(a1, a2)} make the predictor unstable, or the steps are too large"
        )
    return y


def adpcm(x: Any, bits: int, *, peak: float | None = None) -> np.ndarray:
    """Encode and decode with ADPCM: equal to ``adpcm_decode(adpcm_encode(x, bits))``.

    The encoder already tracks the decoder's reconstruction, so it is returned
    without decoding a second time.

    Raises
    ------
    TypeError
        Non-numeric ``x`` or ``peak``, non-integer ``bits``.
    ValueError
        ``x`` not a non-empty 1-D array of finite samples, ``bits`` outside 1 to
        8, ``peak`` not positive and finite, or a reconstruction beyond float64
        (a signal within a step of ``±1.8e308``), as :func:`adpcm_decode` raises.
    """
    x = _signal(x)
    bits = _bits(bits, 1, 8)
    y = _adpcm_run(x, bits, _peak(x, peak))[1]
    if not np.isfinite(y).all():
        raise ValueError(
            "the reconstruction overflows float64 (a reconstructed sample beyond "
            "±1.8e308): scale x down"
        )
    return y


#: The coders by name: ``coder(x, bits) -> reconstruction``.
CODERS: dict[str, Callable[..., np.ndarray]] = {"pcm": pcm, "mu-law": mu_law, "adpcm": adpcm}


# --------------------------------------------------------------------------- bitrates
@dataclass(frozen=True)
class ClassicResult:
    """A classic coder run at one (sample rate, bits) pair.

    Attributes
    ----------
    coder : str
        ``"pcm"``, ``"mu-law"`` or ``"adpcm"``.
    coder_rate : float
        The sample rate the coder ran at, in Hz.
    bits : int
        Bits per sample.
    audio : numpy.ndarray or list of numpy.ndarray
        The reconstruction(s), back at the input's sample rate and length.
    score : float
        The metric :func:`best_pair` ranked by (NaN from :func:`code_at`).
    """

    coder: str
    coder_rate: float
    bits: int
    audio: Any
    score: float = math.nan

    @property
    def kbps(self) -> float:
        """``coder_rate * bits / 1000``."""
        return self.coder_rate * self.bits / 1000


def _coder(coder: Any) -> Callable[..., np.ndarray]:
    if coder not in CODERS:
        raise ValueError(f"coder must be one of {sorted(CODERS)}, got {coder!r}")
    return CODERS[coder]


def code_at(x: Any, sample_rate: float, coder: str, coder_rate: float, bits: int) -> ClassicResult:
    """Run a classic coder at its own sample rate and bring the result back.

    ``x`` is resampled to ``coder_rate`` (soxr's anti-aliasing removes what lies
    above ``coder_rate / 2``), coded with ``bits`` bits per sample, decoded,
    resampled to ``sample_rate`` and cut or zero-padded to ``len(x)``.

    Parameters
    ----------
    x : array_like
        Samples at ``sample_rate``, 1-D.
    sample_rate : float
        In Hz.
    coder : {"pcm", "mu-law", "adpcm"}
        The coder.
    coder_rate : float
        Its sample rate in Hz, at most ``sample_rate``.
    bits : int
        Bits per sample.

    Returns
    -------
    ClassicResult
        Its bitrate is ``coder_rate * bits``.
    """
    from rvqlib.speech import resample

    x = _signal(x)
    fn = _coder(coder)
    if not 0 < coder_rate <= sample_rate:
        raise ValueError(
            f"coder_rate must be in (0, sample_rate={sample_rate:g}], got {coder_rate:g}"
        )
    y = resample(x, sample_rate, coder_rate) if coder_rate != sample_rate else x
    y_hat = fn(y, bits)
    back = resample(y_hat, coder_rate, sample_rate) if coder_rate != sample_rate else y_hat
    out = np.zeros(len(x))
    out[: min(len(x), len(back))] = back[: len(x)]
    return ClassicResult(coder, float(coder_rate), int(bits), out)


def best_pairs(
    x: Any | Sequence[Any],
    sample_rate: float,
    coder: str,
    bitrate: float,
    metrics: Mapping[str, tuple[Callable[[np.ndarray, np.ndarray], float], bool]],
    *,
    bits_options: Sequence[int] = tuple(range(1, 9)),
    min_rate: float = 500.0,
) -> dict[str, ClassicResult]:
    """The best (sample rate, bits) pair for ``bitrate`` by each of several metrics.

    Every ``b`` in ``bits_options`` with ``min_rate <= bitrate / b <= sample_rate``
    is tried once, at ``coder_rate = bitrate / b``; each metric is averaged over
    the clips and each keeps its own best pair (an SNR and a spectral distance
    need not prefer the same one).

    Parameters
    ----------
    x : array_like or sequence of array_like
        One clip, or several (scored by their mean).
    sample_rate : float
        Their sample rate in Hz.
    coder : {"pcm", "mu-law", "adpcm"}
        The coder.
    bitrate : float
        Bits per second.
    metrics : mapping of str to (callable, bool)
        ``name -> (metric, higher_is_better)``, with ``metric(x, x_hat) -> float``
        on one clip (e.g. :func:`rvqlib.audio_metrics.si_snr_db`, ``True``).
    bits_options : sequence of int
        Bits per sample to try.
    min_rate : float
        Lowest coder sample rate considered, in Hz.

    Returns
    -------
    dict of str to ClassicResult
        For each metric, the best pair with its reconstructions (a list when ``x``
        is a list of clips) and its score.

    Raises
    ------
    ValueError
        If no pair fits, or ``metrics`` is empty.
    """
    single = isinstance(x, np.ndarray) and x.ndim == 1
    clips = [x] if single else list(x)
    if not clips:
        raise ValueError("x holds no clip")
    if not metrics:
        raise ValueError("metrics is empty: name at least one (metric, higher_is_better)")
    for name, pair in metrics.items():
        if not (isinstance(pair, tuple) and len(pair) == 2 and callable(pair[0])):
            raise TypeError(f"metrics[{name!r}] must be a (callable, bool) pair")
        if not isinstance(pair[1], bool):
            raise TypeError(f"metrics[{name!r}][1] (higher_is_better) must be True or False")
    originals = [_signal(c, "x") for c in clips]
    best: dict[str, ClassicResult] = {}
    for b in bits_options:
        rate = bitrate / b
        if not min_rate <= rate <= sample_rate:
            continue
        runs = [code_at(c, sample_rate, coder, rate, b).audio for c in originals]
        audio = runs[0] if single else runs
        for name, (metric, higher) in metrics.items():
            score = float(np.mean([metric(c, r) for c, r in zip(originals, runs, strict=True)]))
            old = best.get(name)
            if old is None or (score > old.score if higher else score < old.score):
                best[name] = ClassicResult(coder, rate, int(b), audio, score)
    if not best:
        raise ValueError(
            f"no (sample rate, bits) pair serves {bitrate:g} bit/s with bits in "
            f"{list(bits_options)} and rates in [{min_rate:g}, {sample_rate:g}] Hz"
        )
    return best


def best_pair(
    x: Any | Sequence[Any],
    sample_rate: float,
    coder: str,
    bitrate: float,
    metric: Callable[[np.ndarray, np.ndarray], float],
    *,
    higher_is_better: bool,
    bits_options: Sequence[int] = tuple(range(1, 9)),
    min_rate: float = 500.0,
) -> ClassicResult:
    """The (sample rate, bits) pair that serves ``bitrate`` best by one metric.

    :func:`best_pairs` with a single metric; see it for the search.

    Parameters
    ----------
    x : array_like or sequence of array_like
        One clip, or several (scored by their mean).
    sample_rate : float
        Their sample rate in Hz.
    coder : {"pcm", "mu-law", "adpcm"}
        The coder.
    bitrate : float
        Bits per second.
    metric : callable
        ``metric(x, x_hat) -> float`` on one clip.
    higher_is_better : bool
        True for an SNR, False for a distance.
    bits_options : sequence of int
        Bits per sample to try.
    min_rate : float
        Lowest coder sample rate considered, in Hz.

    Returns
    -------
    ClassicResult
    """
    if not isinstance(higher_is_better, bool):
        raise TypeError("higher_is_better must be True or False")
    return best_pairs(
        x,
        sample_rate,
        coder,
        bitrate,
        {"metric": (metric, higher_is_better)},
        bits_options=bits_options,
        min_rate=min_rate,
    )["metric"]
