"""Bitrate arithmetic of RVQ codecs and the published configurations of real codecs
(chapter 7, "Bitrate arithmetic").

A codec whose encoder turns ``sample_rate`` samples per second into one latent
frame every ``hop`` samples, and codes each frame with ``n_q`` RVQ stages of
``K`` codewords, sends

.. math:: \\text{bitrate} = \\frac{\\text{sample\\_rate}}{\\text{hop}} \\cdot n_q \\log_2 K
          \\quad \\text{bits per second}

when every index is written with a fixed ``log2 K`` bits. :func:`empirical_entropy`
measures how many bits per index an ideal entropy coder would need instead.

:data:`CODECS` lists published codec configurations with their sources; the
"published" bitrates are the numbers the papers and repositories quote, which
are sometimes rounded (DAC's "8 kbps" is 7.75 kbps by the formula).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from rvqlib._validate import as_index, is_torch, make_callable, positive_int

__all__ = [
    "frame_rate",
    "bits_per_frame",
    "bitrate",
    "CodecConfig",
    "CODECS",
    "empirical_entropy",
]


def _positive_real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def frame_rate(sample_rate: float, hop: float) -> float:
    """Latent frames per second: ``sample_rate / hop``.

    Parameters
    ----------
    sample_rate : float
        Audio samples per second (Hz), > 0.
    hop : float
        Audio samples per latent frame (the encoder's total stride), > 0.

    Returns
    -------
    float
        Frames per second.

    Raises
    ------
    TypeError
        Non-numeric arguments.
    ValueError
        Non-positive or non-finite arguments, or a ratio a float cannot hold
        (``frame_rate(1e308, 1e-308)`` overflows, ``frame_rate(1e-308, 1e308)``
        underflows to 0).

    Examples
    --------
    >>> frame_rate(24_000, 320)
    75.0
    """
    rate = _positive_real(sample_rate, "sample_rate") / _positive_real(hop, "hop")
    return _representable(rate, f"frame_rate(sample_rate={sample_rate!r}, hop={hop!r})")


def _representable(value: float, what: str) -> float:
    """``value`` when it is a finite positive float; a ValueError saying how it failed."""
    if math.isinf(value):
        raise ValueError(f"{what} overflows: the result is larger than a float can hold")
    if not value > 0 or value < 2.2250738585072014e-308:  # zero or subnormal
        raise ValueError(
            f"{what} underflows: the result is smaller than a float holds to full precision"
        )
    return value


def bits_per_frame(n_q: int, codebook_size: int) -> float:
    """Bits for one frame with ``n_q`` stages of ``codebook_size`` codewords: ``n_q * log2(K)``.

    Parameters
    ----------
    n_q : int
        Number of RVQ stages, >= 1.
    codebook_size : int
        Codewords per stage ``K``, >= 1.

    Returns
    -------
    float
        Bits per frame (fixed-length indices).

    Raises
    ------
    TypeError
        Non-integer arguments.
    ValueError
        Non-positive arguments.

    Examples
    --------
    >>> bits_per_frame(8, 1024)
    80.0
    """
    n_q = positive_int(n_q, "n_q")
    k = positive_int(codebook_size, "codebook_size")
    return n_q * math.log2(k)


def bitrate(sample_rate: float, hop: float, n_q: int, codebook_size: int) -> float:
    """Bits per second of an RVQ codec: ``frame_rate(sample_rate, hop) * bits_per_frame(n_q, K)``.

    Parameters
    ----------
    sample_rate : float
        Audio samples per second (Hz), > 0.
    hop : float
        Audio samples per latent frame, > 0.
    n_q : int
        Number of RVQ stages, >= 1.
    codebook_size : int
        Codewords per stage, >= 1.

    Returns
    -------
    float
        Bits per second (divide by 1000 for kbps).

    Raises
    ------
    TypeError, ValueError
        As :func:`frame_rate` and :func:`bits_per_frame`, and a product a float
        cannot hold (``bitrate(1e308, 1e-308, 8, 1024)`` overflows).

    Examples
    --------
    >>> bitrate(24_000, 320, 8, 1024)
    6000.0
    """
    bits = bits_per_frame(n_q, codebook_size)
    rate = frame_rate(sample_rate, hop)
    if bits == 0:  # a single codeword carries no information
        return 0.0
    return _representable(
        rate * bits,
        f"bitrate(sample_rate={sample_rate!r}, hop={hop!r}, n_q={n_q!r}, "
        f"codebook_size={codebook_size!r})",
    )


@dataclass(frozen=True)
class CodecConfig:
    """Published configuration of a neural audio codec with an RVQ bottleneck.

    Attributes
    ----------
    name : str
        Human-readable name.
    sample_rate : int
        Audio sample rate (Hz).
    hop : int
        Audio samples per latent frame (product of the encoder strides).
    codebook_size : int
        Codewords per RVQ stage.
    n_q_options : tuple of int
        Numbers of stages the released model is used with.
    published_kbps : tuple of float or None
        The bitrate the source quotes for each entry of ``n_q_options``
        (``None`` where the source quotes none).
    citation : str
        Bibliography key of the source (in ``book/references.bib``).
    source : str
        Where the numbers come from, briefly.
    notes : str
        Anything a reader should know (rounding, stereo, extra side information).
    """

    name: str
    sample_rate: int
    hop: int
    codebook_size: int
    n_q_options: tuple[int, ...]
    published_kbps: tuple[float | None, ...]
    citation: str
    source: str
    notes: str = ""

    def __post_init__(self) -> None:
        positive_int(self.sample_rate, "sample_rate")
        positive_int(self.hop, "hop")
        positive_int(self.codebook_size, "codebook_size")
        if not self.n_q_options:
            raise ValueError("n_q_options must list at least one number of stages")
        for n in self.n_q_options:
            positive_int(n, "n_q_options entry")
        if len(self.published_kbps) != len(self.n_q_options):
            raise ValueError(
                f"published_kbps must have one entry per n_q option: "
                f"{len(self.published_kbps)} != {len(self.n_q_options)}"
            )

    @property
    def frame_rate(self) -> float:
        """Latent frames per second."""
        return frame_rate(self.sample_rate, self.hop)

    def bitrate(self, n_q: int) -> float:
        """Bits per second with ``n_q`` stages (computed, not the published number)."""
        return bitrate(self.sample_rate, self.hop, n_q, self.codebook_size)

    def kbps(self, n_q: int) -> float:
        """Kilobits per second with ``n_q`` stages (computed)."""
        return self.bitrate(n_q) / 1000.0

    def table(self) -> list[tuple[int, float, float | None]]:
        """Rows ``(n_q, computed kbps, published kbps)`` for every shipped ``n_q``."""
        return [
            (n, self.kbps(n), pub)
            for n, pub in zip(self.n_q_options, self.published_kbps, strict=True)
        ]


_CODECS = {
    "encodec_24khz": CodecConfig(
        name="EnCodec 24 kHz",
        sample_rate=24_000,
        hop=320,
        codebook_size=1024,
        n_q_options=(2, 4, 8, 16, 32),
        published_kbps=(1.5, 3.0, 6.0, 12.0, 24.0),
        citation="defossez2023encodec",
        source=(
            "Défossez et al. 2023 and facebookresearch/encodec: encoder strides (8, 5, 4, 2), "
            "1024-entry codebooks, target bandwidths 1.5/3/6/12/24 kbps with 2/4/8/16/32 "
            "codebooks."
        ),
        notes="Mono. Quantizer dropout lets one model serve every bandwidth.",
    ),
    "encodec_48khz": CodecConfig(
        name="EnCodec 48 kHz",
        sample_rate=48_000,
        hop=320,
        codebook_size=1024,
        n_q_options=(2, 4, 8, 16),
        published_kbps=(3.0, 6.0, 12.0, 24.0),
        citation="defossez2023encodec",
        source=(
            "Défossez et al. 2023 and facebookresearch/encodec: same strides at 48 kHz, "
            "150 frames/s, bandwidths 3/6/12/24 kbps (half the codebooks of the 24 kHz "
            "model per bandwidth)."
        ),
        notes=(
            "Stereo, both channels coded in one stream. Audio is processed in 1 s segments "
            "overlapping by 1% (so about 1% more frames are sent than the frame rate "
            "gives), each with a scale sent as side information; neither is counted here."
        ),
    ),
    "soundstream": CodecConfig(
        name="SoundStream",
        sample_rate=24_000,
        hop=320,
        codebook_size=1024,
        n_q_options=(4, 8, 16, 24),
        published_kbps=(3.0, 6.0, 12.0, 18.0),
        citation="zeghidour2021soundstream",
        source=(
            "Zeghidour et al. 2021: 24 kHz audio, encoder strides (2, 4, 5, 8) giving "
            "75 frames/s, 10-bit (1024-entry) codebooks, one bitrate-scalable model from "
            "3 kbps to 18 kbps via quantizer dropout."
        ),
        notes="6 kbps is the paper's worked example: 80 bits per frame as 8 stages of 10 bits.",
    ),
    "dac_44khz": CodecConfig(
        name="DAC 44.1 kHz",
        sample_rate=44_100,
        hop=512,
        codebook_size=1024,
        n_q_options=(9,),
        published_kbps=(8.0,),
        citation="kumar2023dac",
        source=(
            "Kumar et al. 2023 and descriptinc/descript-audio-codec conf/final/44khz.yml: "
            "encoder rates (2, 4, 8, 8), 9 codebooks of 1024 entries; README: 44.1 kHz "
            "audio at 8 kbps."
        ),
        notes="The formula gives 44100/512 * 90 = 7751.95 bit/s: the published 8 kbps is rounded.",
    ),
    "dac_24khz": CodecConfig(
        name="DAC 24 kHz",
        sample_rate=24_000,
        hop=320,
        codebook_size=1024,
        n_q_options=(32,),
        published_kbps=(None,),
        citation="kumar2023dac",
        source=(
            "descriptinc/descript-audio-codec conf/final/24khz.yml: encoder rates "
            "(2, 4, 5, 8), 32 codebooks of 1024 entries."
        ),
        notes="No bitrate is quoted for this model; the configuration implies 24 kbps.",
    ),
    "dac_16khz": CodecConfig(
        name="DAC 16 kHz",
        sample_rate=16_000,
        hop=320,
        codebook_size=1024,
        n_q_options=(12,),
        published_kbps=(None,),
        citation="kumar2023dac",
        source=(
            "descriptinc/descript-audio-codec conf/final/16khz.yml: encoder rates "
            "(2, 4, 5, 8), 12 codebooks of 1024 entries."
        ),
        notes="No bitrate is quoted for this model; the configuration implies 6 kbps.",
    ),
    "mimi": CodecConfig(
        name="Mimi (Moshi)",
        sample_rate=24_000,
        hop=1920,
        codebook_size=2048,
        n_q_options=(8,),
        published_kbps=(1.1,),
        citation="defossez2024moshi",
        source=(
            "Défossez et al. 2024 (Moshi) and kyutai-labs/moshi: 24 kHz audio at 12.5 "
            "frames/s (SEANet strides (8, 6, 5, 4) then a 2x downsampling, so 1920 samples "
            "per frame), 2048-entry codebooks, 8 used by Moshi: 1.1 kbps."
        ),
        notes=(
            "The first codebook is distilled towards semantic (WavLM) features; the released "
            "checkpoint has 32 codebooks, of which Moshi uses 8."
        ),
    ),
    "speechtokenizer": CodecConfig(
        name="SpeechTokenizer",
        sample_rate=16_000,
        hop=320,
        codebook_size=1024,
        n_q_options=(8,),
        published_kbps=(None,),
        citation="zhang2024speechtokenizer",
        source=(
            "Zhang et al. 2024 and the released SpeechTokenizer config: 16 kHz audio, strides "
            "(8, 5, 4, 2) giving 50 frames/s, 8 RVQ stages of 1024 entries."
        ),
        notes=(
            "The first stage is distilled towards HuBERT (semantic) features; no bitrate is "
            "quoted, the configuration implies 4 kbps."
        ),
    ),
}

#: Published codec configurations, keyed by short name (read-only mapping).
CODECS: MappingProxyType[str, CodecConfig] = MappingProxyType(_CODECS)


def empirical_entropy(codes: Any, codebook_size: int) -> float:
    """Entropy, in bits per code, of the empirical distribution of ``codes``.

    ``H = -sum_k p_k log2 p_k`` with ``p_k`` the fraction of entries equal to
    ``k`` (all entries of ``codes`` pooled; pass ``codes[..., s]`` for one
    stage). It is at most ``log2(codebook_size)``, reached when every codeword
    is used equally often; the gap is what entropy coding of the indices could
    save.

    Parameters
    ----------
    codes : array_like or torch.Tensor of int
        Indices in ``[0, codebook_size)``, any shape, at least one entry.
    codebook_size : int
        Number of codewords ``K`` (>= 1).

    Returns
    -------
    float
        Bits per code.

    Raises
    ------
    TypeError
        Non-integer codes or codebook_size.
    ValueError
        Empty codes, codes outside ``[0, codebook_size)``, ``codebook_size < 1``.

    Examples
    --------
    >>> empirical_entropy([0, 1, 2, 3], 4)
    2.0
    >>> empirical_entropy([0, 0, 0, 1], 4)  # doctest: +ELLIPSIS
    0.811...
    """
    k = positive_int(codebook_size, "codebook_size")
    codes = as_index(codes, "codes")
    if is_torch(codes):
        import torch

        flat = codes.reshape(-1)
        if flat.numel() == 0:
            raise ValueError("codes is empty: need at least one code to estimate an entropy")
        lo, hi = int(flat.min()), int(flat.max())
        _check_range(lo, hi, k)
        counts = torch.bincount(flat, minlength=k).double().cpu().numpy()
    else:
        flat = codes.reshape(-1)
        if flat.size == 0:
            raise ValueError("codes is empty: need at least one code to estimate an entropy")
        lo, hi = int(flat.min()), int(flat.max())
        _check_range(lo, hi, k)
        counts = np.bincount(flat, minlength=k).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(max(0.0, -np.sum(p * np.log2(p))))


def _check_range(lo: int, hi: int, k: int) -> None:
    if lo < 0 or hi >= k:
        raise ValueError(
            f"codes must lie in [0, {k}) for codebook_size={k}, got values in [{lo}, {hi}]"
        )


make_callable(__name__)
