"""How codec papers measure audio, and the spectral losses they train with (chapter 8).

Waveform measures:

- :func:`rvqlib.metrics.snr_db` (chapter 1): error power against signal power.
- :func:`si_snr_db`: the scale-invariant SNR. Both signals are made zero-mean
  and the reconstruction ``y`` is split into its projection on the original,
  ``s = (<y, x> / <x, x>) x``, and the rest ``e = y - s``;
  ``SI-SNR = 10 log10(|s|^2 / |e|^2)``. A reconstruction that is right up to a
  gain scores as well as a perfect one.

Spectral measures, computed on short-time Fourier transforms (Hann window,
centred frames; :func:`stft`):

- :func:`mel_distance`: the mean absolute difference of two log-mel
  spectrograms, in dB. It compares *how much energy* each band holds in each
  frame, and ignores phase: it is what a listener's ear is closer to than the
  SNR is, and the loss that neural codecs train their decoders on.
- :func:`band_snr_db`: the SNR within frequency bands (error and signal energy
  of the STFT bins in each band), and :func:`band_energy_db`: how much of a
  band's energy the reconstruction keeps. Together they show a codec that is a
  low-pass filter (energy gone above some frequency) and one that puts back
  energy of the right level but the wrong waveform (energy kept, band SNR near
  0 dB).
- :func:`multiscale_mel_loss`: a differentiable log-mel L1 loss over several
  window lengths, as in EnCodec and DAC, for training.

Everything here runs on numpy or torch input with torch underneath (no other
dependency), in float64 for the measures and in the input's dtype for the loss.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rvqlib._pow2 import ldexp_, pow2_shift
from rvqlib._validate import check_dense, numpy_readable

__all__ = [
    "DEFAULT_BANDS",
    "band_energy_db",
    "band_snr_db",
    "log_mel_spectrogram",
    "mel_distance",
    "mel_filterbank",
    "multiscale_mel_loss",
    "si_snr_db",
    "spectrogram_db",
    "stft",
]

#: Octave-wide bands (Hz) up to the 8 kHz Nyquist frequency of 16 kHz audio.
DEFAULT_BANDS: tuple[tuple[float, float], ...] = (
    (0.0, 500.0),
    (500.0, 1000.0),
    (1000.0, 2000.0),
    (2000.0, 4000.0),
    (4000.0, 8000.0),
)


# --------------------------------------------------------------------------- helpers
def _signal(
    x: Any, name: str, dtype: torch.dtype | None = torch.float64, *, finite: bool = True
) -> torch.Tensor:
    """A real signal (..., n) as a torch tensor (no copy when it already is one).

    ``dtype=None`` keeps a floating dtype (others become float64);
    ``finite=False`` leaves the NaN/inf check to the caller.
    """
    if isinstance(x, torch.Tensor):
        check_dense(x, name)  # sparse and meta tensors: a clear error, not one from torch
        t = x
    else:
        arr = np.asarray(x)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must be a real array of samples, got {type(x).__name__}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold real samples, got dtype {t.dtype}")
    if t.ndim == 0 or t.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (..., n) with n >= 1, got {tuple(t.shape)}")
    if dtype is None:
        dtype = t.dtype if t.is_floating_point() else torch.float64
    t = t.to(dtype)
    if finite and not _all_finite(t):
        raise ValueError(f"{name} holds NaN or inf")
    return t


def _all_finite(*tensors: torch.Tensor) -> bool:
    """Whether every value is finite, with one device synchronisation for all of them.

    Inside a ``torch.func`` transform (``grad``, ``vmap``, ``jacrev``) the check is
    skipped and True returned: a transformed tensor has no values to look at
    (``vmap``), and a NaN then propagates into the result as torch's own ops do.
    """
    if _functorch_active():
        return True
    ok = None
    for t in tensors:
        t = t.detach()
        if numpy_readable(t):  # as check_finite: numpy on the tensor's memory
            if not bool(np.isfinite(t.numpy()).all()):
                return False
            continue
        flag = torch.isfinite(t).all()
        ok = flag if ok is None else ok & flag
    return ok is None or bool(ok)


def _functorch_active() -> bool:
    """True inside a ``torch.func`` transform (private torch API; False if it is gone)."""
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active()) if active is not None else False


def _pair(x: Any, y: Any, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _signal(x, "x", dtype), _signal(y, "x_hat", dtype)
    if a.shape != b.shape:
        raise ValueError(
            f"x_hat must have the same shape as x, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    # every metric built on a pair returns plain numbers: no autograd graph is recorded
    # (and torch does not warn when a tensor that requires grad becomes a float)
    return a.detach(), b.detach()


def _common_scale(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``a`` and ``b`` times one power of two that keeps their spectra's squares finite.

    Exact, so ratios of band energies are unchanged; a no-op (no copy) for signals in
    the ordinary range, scaled copies for peaks beyond ``2**400`` or below ``2**-400``.
    """
    peak = max(float(a.abs().max()), float(b.abs().max()))
    shift = pow2_shift(peak)
    if not shift:
        return a, b
    return ldexp_(a.clone(), shift), ldexp_(b.clone(), shift)


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__}")
    if not math.isfinite(float(value)) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number, got {value}")
    return float(value)


def _pos_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def _float_out(t: torch.Tensor) -> float | np.ndarray:
    return float(t) if t.ndim == 0 else t.detach().cpu().numpy()


# --------------------------------------------------------------------------- waveform
def si_snr_db(x: Any, x_hat: Any) -> float | np.ndarray:
    """Scale-invariant signal-to-noise ratio, in dB, over the last axis.

    Parameters
    ----------
    x : array_like or torch.Tensor
        The original, shape ``(..., n)``.
    x_hat : array_like or torch.Tensor
        The reconstruction, the same shape.

    Returns
    -------
    float or numpy.ndarray
        A float for 1-D input, else one value per leading index. ``inf`` (or,
        from rounding, a very large number) when ``x_hat`` is a multiple of
        ``x``; ``-inf`` when it is orthogonal to it.

    Raises
    ------
    TypeError
        Non-numeric input.
    ValueError
        Shapes differ, NaN/inf, or ``x`` or ``x_hat`` is constant (all zeros
        after removing its mean): the SI-SNR of a silent or constant
        reconstruction is ``0 / 0``, undefined, not a perfect score.

    Notes
    -----
    Each signal is divided by its largest magnitude before the inner products
    (in float64), so the value is the same at any scale of either signal, from
    ``1e-300`` to ``1e300``.

    Examples
    --------
    >>> x = np.sin(np.arange(100) / 5.0)
    >>> si_snr_db(x, 0.5 * x) > 200  # a gain does not count
    True
    """
    a, b = _pair(x, x_hat)
    # scale invariant: divide by the peaks first, so that nothing overflows or underflows
    # (a constant signal becomes exactly 1s, exactly 0s once its mean is removed)
    a, b = _unit_peak(a), _unit_peak(b)
    a = a - a.mean(dim=-1, keepdim=True)
    b = b - b.mean(dim=-1, keepdim=True)
    energy = (a * a).sum(-1)
    for name, e in (("x", energy), ("x_hat", (b * b).sum(-1))):
        zero = e == 0
        if bool(zero.any()):
            where = ""
            if e.ndim:
                index = np.unravel_index(int(zero.reshape(-1).nonzero()[0, 0]), tuple(e.shape))
                where = f" at batch index {tuple(int(i) for i in index)}"
            raise ValueError(
                f"{name} is constant{where} (all zeros after removing its mean): "
                "the SI-SNR is undefined"
            )
    s = ((a * b).sum(-1) / energy)[..., None] * a
    e = b - s
    s2, e2 = (s * s).sum(-1), (e * e).sum(-1)
    out = torch.where(e2 == 0, torch.full_like(s2, math.inf), 10 * torch.log10(s2 / e2))
    return _float_out(out)


def _unit_peak(t: torch.Tensor) -> torch.Tensor:
    """Each signal (last axis) divided by its largest magnitude; all-zero ones unchanged."""
    peak = t.abs().amax(dim=-1, keepdim=True)
    return t / torch.where(peak > 0, peak, torch.ones_like(peak))


# --------------------------------------------------------------------------- spectra
def stft(x: Any, n_fft: int = 512, hop: int | None = None) -> torch.Tensor:
    """Short-time Fourier transform with a periodic Hann window, centred frames.

    Frames are centred on ``0, hop, 2 hop, ...`` (the signal is padded by
    reflection, or with zeros when it is shorter than ``n_fft // 2 + 1``), so
    that the STFT is linear: ``stft(x - y) == stft(x) - stft(y)``.

    Parameters
    ----------
    x : array_like or torch.Tensor
        Signal ``(..., n)``; a float32 or float64 tensor keeps its precision
        (and gradient), float16 and bfloat16 tensors are transformed in
        float32 (and keep their gradient), anything else is converted to
        float64.
    n_fft : int, default 512
        Window length and FFT size.
    hop : int, optional
        Frame step; default ``n_fft // 4`` (which needs ``n_fft >= 4``).

    Returns
    -------
    torch.Tensor
        Complex, shape ``(..., n_fft // 2 + 1, frames)``: complex128 for
        float64 samples, complex64 otherwise (torch has no complex bfloat16,
        and its CPU FFTs take no float16).

    Raises
    ------
    TypeError
        Non-numeric, complex, boolean or sparse ``x``; non-integer ``n_fft`` or
        ``hop``.
    ValueError
        ``x`` without samples, holding NaN/inf (not checked inside ``torch.func``
        transforms) or on the meta device; ``n_fft`` or ``hop`` below 1,
        or ``n_fft < 4`` without a ``hop``.
    """
    n_fft, hop = _stft_sizes(n_fft, hop)
    keep = isinstance(x, torch.Tensor) and x.is_floating_point()
    return _stft(_signal(x, "x", None if keep else torch.float64), n_fft, hop)


def _stft_sizes(n_fft: Any, hop: Any) -> tuple[int, int]:
    n_fft = _pos_int(n_fft, "n_fft")
    if hop is None:
        if n_fft < 4:
            raise ValueError(
                f"n_fft must be at least 4 for the default hop n_fft // 4, got n_fft={n_fft}; "
                "pass hop for a shorter window"
            )
        return n_fft, n_fft // 4
    return n_fft, _pos_int(hop, "hop")


def _stft(t: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """:func:`stft` of a checked floating signal ``(..., n)`` with checked sizes."""
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.to(torch.float32)
    lead = t.shape[:-1]
    flat = t.reshape(-1, t.shape[-1])
    if flat.shape[0] == 0:  # an empty batch: torch.stft takes none
        frames = (t.shape[-1] + 2 * (n_fft // 2) - n_fft) // hop + 1
        return torch.zeros(
            (*lead, n_fft // 2 + 1, frames), dtype=flat.dtype.to_complex(), device=flat.device
        )
    mode = "reflect" if flat.shape[-1] > n_fft // 2 else "constant"
    window = torch.hann_window(n_fft, dtype=flat.dtype, device=flat.device)
    spec = torch.stft(
        flat, n_fft, hop, window=window, center=True, pad_mode=mode, return_complex=True
    )
    return spec.reshape(*lead, *spec.shape[-2:])


@functools.lru_cache(maxsize=32)
def _mel_fb(sample_rate: float, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(fmin)), hz_to_mel(np.array(fmax)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs[None] - lower) / (centre - lower)
    fall = (upper - freqs[None]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(rise, fall))
    # a filter narrower than the bin spacing would catch no bin: give it its nearest bin
    for i in np.flatnonzero(fb.sum(axis=1) == 0):
        fb[i, int(np.argmin(np.abs(freqs - centre[i, 0])))] = 1.0
    fb.setflags(write=False)
    return fb


@functools.lru_cache(maxsize=32)
def _mel_fb_torch(sample_rate: float, n_fft: int, n_mels: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(np.array(mel_filterbank(sample_rate, n_fft, n_mels)), dtype=dtype)


def mel_filterbank(
    sample_rate: float,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """Triangular mel filters (HTK mel scale ``2595 log10(1 + f / 700)``).

    Filter ``i`` rises from mel-spaced edge ``i`` to edge ``i + 1`` and falls
    to edge ``i + 2`` (peak 1, no area normalisation: in a log-mel distance a
    per-band gain cancels). A filter too narrow to contain an FFT bin gets its
    nearest bin, so every mel band sees some energy.

    Parameters
    ----------
    sample_rate : float
        In Hz.
    n_fft : int
        FFT size; the filters act on its ``n_fft // 2 + 1`` bins.
    n_mels : int
        Number of filters.
    fmin, fmax : float
        Lowest and highest edge in Hz; ``fmax`` defaults to ``sample_rate / 2``.

    Returns
    -------
    numpy.ndarray
        ``(n_mels, n_fft // 2 + 1)``, read-only.

    Raises
    ------
    TypeError, ValueError
        Non-positive sizes or rates, or ``not 0 <= fmin < fmax <= sample_rate / 2``.
    """
    sample_rate = _positive(sample_rate, "sample_rate")
    n_fft = _pos_int(n_fft, "n_fft")
    n_mels = _pos_int(n_mels, "n_mels")
    fmax = sample_rate / 2 if fmax is None else float(fmax)
    fmin = float(fmin)
    if not 0.0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(
            f"need 0 <= fmin < fmax <= sample_rate / 2 = {sample_rate / 2:g}, "
            f"got fmin={fmin:g}, fmax={fmax:g}"
        )
    return _mel_fb(sample_rate, n_fft, n_mels, fmin, fmax)


def log_mel_spectrogram(
    x: Any,
    sample_rate: float,
    *,
    n_fft: int = 1024,
    hop: int | None = None,
    n_mels: int = 64,
    floor: float = 1e-10,
) -> torch.Tensor:
    """Mel power spectrogram in dB: ``10 log10(max(M, floor))``.

    Parameters
    ----------
    x : array_like or torch.Tensor
        Signal ``(..., n)``.
    sample_rate : float
        In Hz.
    n_fft, hop : int
        STFT window and step (default step ``n_fft // 4``).
    n_mels : int
        Mel bands.
    floor : float
        Smallest power kept (an absolute level; 1e-10 is -100 dB re full scale).

    Returns
    -------
    torch.Tensor
        ``(..., n_mels, frames)``.
    """
    spec = stft(x, n_fft, hop)
    power = spec.real**2 + spec.imag**2
    fb = _mel_fb_torch(_positive(sample_rate, "sample_rate"), n_fft, n_mels, power.dtype)
    mel = torch.einsum("mf,...ft->...mt", fb.to(power.device), power)
    return 10 * torch.log10(torch.clamp(mel, min=_positive(floor, "floor")))


def mel_distance(
    x: Any,
    x_hat: Any,
    sample_rate: float,
    *,
    n_fft: int = 1024,
    hop: int = 256,
    n_mels: int = 64,
    dynamic_range_db: float = 80.0,
) -> float:
    """Mean absolute log-mel difference between a signal and its reconstruction, in dB.

    Both mel power spectrograms are floored at ``dynamic_range_db`` below the
    loudest mel bin of ``x`` before taking logs, so that bins far below
    anything audible in the original (silences, the empty band above a low
    sample rate's Nyquist frequency) count at most ``dynamic_range_db`` and
    the distance of two silences is 0.

    Parameters
    ----------
    x, x_hat : array_like or torch.Tensor
        Original and reconstruction, shape ``(n,)`` (the same).
    sample_rate : float
        In Hz.
    n_fft, hop, n_mels : int
        Analysis: 1024-sample windows (64 ms at 16 kHz), a step of 256 and 64
        mel bands by default.
    dynamic_range_db : float
        The floor, in dB below the original's loudest mel bin.

    Returns
    -------
    float
        The distance in dB (0 for identical signals).

    Notes
    -----
    A codec is measured as one original against many reconstructions, so the
    original's mel spectrogram is kept (the last 64, keyed by a SHA-1 digest of
    the samples and the analysis settings) and not computed again.

    Raises
    ------
    TypeError, ValueError
        Bad input (shapes differ, NaN/inf, silent ``x``).
    """
    a, b = _pair(x, x_hat)
    if a.ndim != 1:
        raise ValueError(f"x must be 1-D (one signal), got shape {tuple(a.shape)}")
    args = (
        _positive(sample_rate, "sample_rate"),
        _pos_int(n_fft, "n_fft"),
        _pos_int(hop, "hop"),
        _pos_int(n_mels, "n_mels"),
    )
    mel_x, mel_y = _reference_mel(a, *args), _mel_power(b, *args)
    peak = float(mel_x.max())
    if peak <= 0:
        raise ValueError("x is silent: the mel distance needs an original with some energy")
    floor = peak * 10 ** (-_positive(dynamic_range_db, "dynamic_range_db") / 10)
    db_x = 10 * torch.log10(torch.clamp(mel_x, min=floor))
    db_y = 10 * torch.log10(torch.clamp(mel_y, min=floor))
    return float((db_x - db_y).abs().mean())


def _mel_power(
    t: torch.Tensor, sample_rate: float, n_fft: int, hop: int, n_mels: int
) -> torch.Tensor:
    spec = stft(t, n_fft, hop)
    power = spec.real**2 + spec.imag**2
    return torch.matmul(_mel_fb_torch(sample_rate, n_fft, n_mels, power.dtype), power)


#: The originals' mel spectrograms last measured: a codec is measured as one
#: original against many reconstructions, so the original's is computed once.
_REFERENCE_MELS: OrderedDict[tuple[Any, ...], torch.Tensor] = OrderedDict()
_REFERENCE_MELS_MAX = 64


def _reference_mel(t: torch.Tensor, *args: Any) -> torch.Tensor:
    """:func:`_mel_power` of an original, memoised by a SHA-1 digest of its samples."""
    if t.requires_grad or t.device.type != "cpu":
        return _mel_power(t, *args)
    arr = np.ascontiguousarray(t.numpy())
    key = (hashlib.sha1(memoryview(arr)).digest(), arr.shape, str(arr.dtype), *args)
    mel = _REFERENCE_MELS.get(key)
    if mel is None:
        mel = _mel_power(t, *args)
        _REFERENCE_MELS[key] = mel
        if len(_REFERENCE_MELS) > _REFERENCE_MELS_MAX:
            _REFERENCE_MELS.popitem(last=False)
    else:
        _REFERENCE_MELS.move_to_end(key)
    return mel


def _bands(bands: Sequence[Sequence[float]], sample_rate: float) -> list[tuple[float, float]]:
    out = []
    for band in bands:
        lo, hi = (float(v) for v in band)
        if not 0 <= lo < hi <= sample_rate / 2 + 1e-9:
            raise ValueError(
                f"each band must be (lo, hi) with 0 <= lo < hi <= {sample_rate / 2:g} Hz, "
                f"got {band}"
            )
        out.append((lo, hi))
    if not out:
        raise ValueError("bands is empty")
    return out


def _band_masks(sample_rate: float, n_fft: int, bands: list[tuple[float, float]]) -> list[Any]:
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    last = len(bands) - 1
    # bins on an edge belong to the band above it; the Nyquist bin to the top band
    return [
        (freqs >= lo) & ((freqs < hi) | ((i == last) & (freqs <= hi)))
        for i, (lo, hi) in enumerate(bands)
    ]


def band_snr_db(
    x: Any,
    x_hat: Any,
    sample_rate: float,
    bands: Sequence[Sequence[float]] = DEFAULT_BANDS,
    *,
    n_fft: int = 512,
) -> np.ndarray:
    """SNR within frequency bands: signal over error energy of the STFT bins in each band.

    Parameters
    ----------
    x, x_hat : array_like or torch.Tensor
        Original and reconstruction, the same shape ``(..., n)`` (all pooled).
    sample_rate : float
        In Hz.
    bands : sequence of (lo, hi)
        Band edges in Hz; default :data:`DEFAULT_BANDS`.
    n_fft : int
        STFT window (step ``n_fft // 4``).

    Returns
    -------
    numpy.ndarray
        One SNR in dB per band (``inf`` where the error has no energy).
    """
    a, b = _common_scale(*_pair(x, x_hat))  # a - b and the squares stay finite
    sample_rate = _positive(sample_rate, "sample_rate")
    masks = _band_masks(sample_rate, _pos_int(n_fft, "n_fft"), _bands(bands, sample_rate))
    sig = stft(a, n_fft).abs().square()
    err = stft(a - b, n_fft).abs().square()
    out = []
    for m in masks:
        s, e = float(sig[..., m, :].sum()), float(err[..., m, :].sum())
        out.append(math.inf if e == 0 else (-math.inf if s == 0 else 10 * math.log10(s / e)))
    return np.array(out)


def band_energy_db(
    x: Any,
    x_hat: Any,
    sample_rate: float,
    bands: Sequence[Sequence[float]] = DEFAULT_BANDS,
    *,
    n_fft: int = 512,
) -> np.ndarray:
    """Energy of the reconstruction relative to the original's, per band, in dB.

    0 dB: the band keeps its level; -20 dB: the reconstruction holds a hundredth
    of the band's energy (a low-pass filter gives large negative values above its
    cut-off).

    Parameters
    ----------
    x, x_hat : array_like or torch.Tensor
        Original and reconstruction, the same shape ``(..., n)``.
    sample_rate : float
        In Hz.
    bands : sequence of (lo, hi)
        Band edges in Hz; default :data:`DEFAULT_BANDS`.
    n_fft : int
        STFT window.

    Returns
    -------
    numpy.ndarray
        ``10 log10(E_band(x_hat) / E_band(x))`` per band.
    """
    a, b = _common_scale(*_pair(x, x_hat))  # the squares stay finite
    sample_rate = _positive(sample_rate, "sample_rate")
    masks = _band_masks(sample_rate, _pos_int(n_fft, "n_fft"), _bands(bands, sample_rate))
    pa = stft(a, n_fft).abs().square()
    pb = stft(b, n_fft).abs().square()
    out = []
    for m in masks:
        ea, eb = float(pa[..., m, :].sum()), float(pb[..., m, :].sum())
        if ea == 0:
            raise ValueError(f"x has no energy in a band ({m.sum()} bins): choose other bands")
        out.append(-math.inf if eb == 0 else 10 * math.log10(eb / ea))
    return np.array(out)


def spectrogram_db(
    x: Any, sample_rate: float, *, n_fft: int = 512, hop: int = 128
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A power spectrogram in dB re full scale, for plotting.

    Parameters
    ----------
    x : array_like or torch.Tensor
        Signal ``(n,)``.
    sample_rate : float
        In Hz.
    n_fft, hop : int
        STFT window and step.

    Returns
    -------
    freqs : numpy.ndarray
        Bin frequencies in Hz, ``(n_fft // 2 + 1,)``.
    times : numpy.ndarray
        Frame centres in seconds.
    power_db : numpy.ndarray
        ``10 log10(|X|^2 / sum(w)^2 + 1e-12)``: a full-scale sine peaks near 0 dB.
    """
    sample_rate = _positive(sample_rate, "sample_rate")
    spec = stft(_signal(x, "x"), n_fft, hop)
    if spec.ndim != 2:
        raise ValueError(f"x must be 1-D, got shape {tuple(np.shape(x))}")
    window_sum = float(torch.hann_window(n_fft, dtype=torch.float64).sum())
    power = (spec.abs() ** 2 / (window_sum / 2) ** 2).numpy()
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    times = np.arange(power.shape[1]) * hop / sample_rate
    return freqs, times, 10 * np.log10(power + 1e-12)


# --------------------------------------------------------------------------- loss
def multiscale_mel_loss(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    sample_rate: float,
    *,
    n_ffts: Sequence[int] = (256, 512, 1024),
    n_mels: Sequence[int] = (32, 48, 64),
    eps: float = 1e-5,
) -> torch.Tensor:
    """Differentiable multi-scale log-mel loss (EnCodec, DAC): mean L1 of log10 mels.

    For each window length ``n`` (step ``n // 4``) the mel *magnitude*
    spectrograms (mel filters applied to ``|STFT|``) of both signals are
    compared as ``|log10(M_x + eps) - log10(M_y + eps)|``, averaged over bands
    and frames; the result is the mean over scales. Short windows see
    transients, long ones resolve harmonics.

    Parameters
    ----------
    x, x_hat : torch.Tensor
        Target and reconstruction, ``(batch, n)`` (or ``(n,)``), floating.
    sample_rate : float
        In Hz.
    n_ffts : sequence of int
        Window lengths.
    n_mels : sequence of int
        Mel bands per window length (the same length as ``n_ffts``).
    eps : float
        Added before the log (1e-5, as DAC).

    Returns
    -------
    torch.Tensor
        A scalar in ``x_hat``'s dtype (float64 for an integer ``x_hat``),
        differentiable with respect to ``x_hat``.

    Raises
    ------
    TypeError
        ``x`` or ``x_hat`` not a tensor of real samples (integer tensors are
        converted, as by :func:`stft`), or sparse; non-integer window lengths
        or bands.
    ValueError
        Shapes differ; an empty batch (no signals); ``x`` or ``x_hat`` holds
        NaN or inf, or is a meta tensor; ``sample_rate`` or
        ``eps`` not positive and finite; a window length below 4 (the step is
        ``n // 4``); ``n_ffts`` and ``n_mels`` empty or of different lengths.

    Notes
    -----
    The NaN/inf check of both signals costs one device synchronisation per
    call (none per scale); on CPU it reads the samples with numpy, a few
    microseconds for a batch of short segments. Inside a ``torch.func``
    transform (``grad``, ``vmap``) there are no values to check, and the check
    is skipped: a NaN then gives a NaN loss. float16 and bfloat16 signals are
    transformed in float32 (:func:`stft`) and the loss is cast back.
    """
    if not (isinstance(x, torch.Tensor) and isinstance(x_hat, torch.Tensor)):
        raise TypeError("x and x_hat must be torch tensors")
    if x.shape != x_hat.shape:
        raise ValueError(f"x_hat must have x's shape {tuple(x.shape)}, got {tuple(x_hat.shape)}")
    sample_rate = _positive(sample_rate, "sample_rate")
    eps = _positive(eps, "eps")
    scales = _loss_scales(n_ffts, n_mels)
    out_dtype = x_hat.dtype if x_hat.is_floating_point() else torch.float64
    y = _signal(x_hat, "x_hat", out_dtype, finite=False)
    target = _signal(x, "x", out_dtype, finite=False)
    if y.numel() == 0:  # the mean over no frames would be a silent NaN
        raise ValueError(
            f"x and x_hat hold no signals (shape {tuple(x.shape)}): the loss of an empty "
            "batch is undefined"
        )
    if not _all_finite(target, y):  # one check for both (and one sync on a GPU)
        for name, t in (("x", target), ("x_hat", y)):
            if not _all_finite(t):
                raise ValueError(f"{name} holds NaN or inf")
    total = None
    for n, m in scales:
        # the target's mels carry no gradient: computed apart, autograd skips them
        with torch.no_grad():
            ref_mag = _stft(target, n, n // 4).abs()
            fb = _mel_fb_torch(sample_rate, n, m, ref_mag.dtype).to(ref_mag.device)
            ref = torch.log10(torch.matmul(fb, ref_mag) + eps)
        mel = torch.matmul(fb, _stft(y, n, n // 4).abs())
        term = (ref - torch.log10(mel + eps)).abs().mean()
        total = term if total is None else total + term
    return (total / len(scales)).to(out_dtype)


def _loss_scales(n_ffts: Any, n_mels: Any) -> list[tuple[int, int]]:
    """The (window length, mel bands) pairs of :func:`multiscale_mel_loss`, checked."""
    for name, value in (("n_ffts", n_ffts), ("n_mels", n_mels)):
        if isinstance(value, str | bytes) or not hasattr(value, "__len__"):
            raise TypeError(f"{name} must be a sequence of integers, got {type(value).__name__}")
    if len(n_ffts) != len(n_mels) or not n_ffts:
        raise ValueError("n_ffts and n_mels must be non-empty and of the same length")
    scales = []
    for n, m in zip(n_ffts, n_mels, strict=True):
        n, m = _pos_int(n, "n_ffts entries"), _pos_int(m, "n_mels entries")
        if n < 4:
            raise ValueError(f"n_ffts entries must be at least 4 (the step is n // 4), got {n}")
        scales.append((n, m))
    return scales
