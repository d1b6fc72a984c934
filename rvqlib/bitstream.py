"""Fixed-width packing of codec codes into bytes, with a tiny header (chapters 8 and 11).

A codec's stream is a sequence of frames, each holding ``n_q`` codes of a
codebook of ``K`` entries. With fixed-width codes every code takes
``b = ceil(log2 K)`` bits, so ``n_frames`` frames take
``n_frames * n_q * b`` bits: exactly the nominal bitrate times the duration
when ``K`` is a power of two. :func:`pack_codes` writes them frame after frame
(stage 1 first within a frame), most significant bit first, and pads the last
byte with zero bits. A header of :data:`HEADER_BYTES` bytes in front says how
to read them back, so :func:`unpack_codes` needs nothing but the bytes.

Header layout (little-endian, 20 bytes)::

    offset  size  field
    0       4     magic b"RVQC"
    4       1     format version (1)
    5       1     n_q, stages per frame (1..255)
    6       2     reserved, 0
    8       4     codebook size K (2..2**24)
    12      4     n_frames
    16      2     hop (samples per frame, 1..65535)
    18      2     sample rate in units of 10 Hz (16 kHz -> 1600)

Chapter 11 replaces the fixed-width payload by an entropy coder; the header
and the frame order stay.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "HEADER_BYTES",
    "MAGIC",
    "PackedCodes",
    "pack_codes",
    "packed_size",
    "read_codes",
    "unpack_codes",
    "write_codes",
]

MAGIC: bytes = b"RVQC"
_VERSION = 1
_HEADER = struct.Struct("<4sBBHIIHH")
#: Size of the header in bytes.
HEADER_BYTES: int = _HEADER.size
_MAX_K = 2**24  # the largest codebook size of the format


@dataclass(frozen=True)
class PackedCodes:
    """What :func:`unpack_codes` reads from a stream.

    Attributes
    ----------
    codes : numpy.ndarray
        ``(n_frames, n_q)`` int64 codes.
    codebook_size : int
        ``K``.
    hop : int
        Samples per frame.
    sample_rate : int
        In Hz.
    """

    codes: np.ndarray
    codebook_size: int
    hop: int
    sample_rate: int

    @property
    def bits_per_code(self) -> int:
        """``ceil(log2 K)``."""
        return _width(self.codebook_size)

    @property
    def kbps(self) -> float:
        """Nominal bitrate of the payload in kbps: frame rate times bits per frame."""
        return self.sample_rate / self.hop * self.codes.shape[1] * self.bits_per_code / 1000


def _width(k: int) -> int:
    return max(1, math.ceil(math.log2(k)))


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return int(value)


def packed_size(n_frames: int, n_q: int, codebook_size: int) -> int:
    """Bytes of a packed stream: header plus ``ceil(n_frames * n_q * ceil(log2 K) / 8)``.

    Parameters
    ----------
    n_frames, n_q, codebook_size : int
        Frames, stages per frame and codebook size.

    Returns
    -------
    int
    """
    n_frames = _int(n_frames, "n_frames", 0, 2**32 - 1)
    n_q = _int(n_q, "n_q", 1, 255)
    k = _int(codebook_size, "codebook_size", 2, _MAX_K)
    return HEADER_BYTES + math.ceil(n_frames * n_q * _width(k) / 8)


def pack_codes(codes: Any, codebook_size: int, *, hop: int, sample_rate: int) -> bytes:
    """Pack ``(n_frames, n_q)`` integer codes into bytes: header, then fixed-width codes.

    Parameters
    ----------
    codes : array_like or torch.Tensor of int
        ``(n_frames, n_q)`` codes in ``[0, codebook_size)`` (a 1-D array is one stage).
    codebook_size : int
        ``K`` (2 to 2**24); each code takes ``ceil(log2 K)`` bits.
    hop : int
        Samples per frame (1 to 65535), stored so the decoder knows the timing.
    sample_rate : int
        In Hz, a multiple of 10 up to 655350.

    Returns
    -------
    bytes
        ``packed_size(n_frames, n_q, K)`` bytes.

    Raises
    ------
    TypeError
        Non-integer codes (float codes are refused, even integral ones).
    ValueError
        Wrong shape, codes out of range, or header fields out of range.

    Examples
    --------
    >>> data = pack_codes([[1, 2], [3, 0]], 4, hop=128, sample_rate=16000)
    >>> len(data), data[HEADER_BYTES:].hex()  # 01 10 11 00
    (21, '6c')
    """
    if hasattr(codes, "detach"):
        codes = codes.detach().cpu().numpy()
    arr = np.asarray(codes)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"codes must be integers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"codes must have shape (n_frames, n_q), got {arr.shape}")
    k = _int(codebook_size, "codebook_size", 2, _MAX_K)
    n_frames, n_q = arr.shape
    _int(n_q, "n_q (codes.shape[1])", 1, 255)
    _int(n_frames, "n_frames (codes.shape[0])", 0, 2**32 - 1)
    hop = _int(hop, "hop", 1, 65535)
    sample_rate = _int(sample_rate, "sample_rate", 10, 655350)
    if sample_rate % 10:
        raise ValueError(f"sample_rate must be a multiple of 10 Hz, got {sample_rate}")
    if arr.size and (arr.min() < 0 or arr.max() >= k):
        raise ValueError(
            f"codes must lie in [0, {k}) for codebook_size={k}, "
            f"got values in [{arr.min()}, {arr.max()}]"
        )
    width = _width(k)
    header = _HEADER.pack(MAGIC, _VERSION, n_q, 0, k, n_frames, hop, sample_rate // 10)
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    bits = ((arr.astype(np.int64).reshape(-1, 1) >> shifts) & 1).astype(np.uint8).reshape(-1)
    return header + np.packbits(bits).tobytes()


def unpack_codes(data: bytes | bytearray | memoryview) -> PackedCodes:
    """Read a stream written by :func:`pack_codes` from its bytes alone.

    Parameters
    ----------
    data : bytes-like
        The whole stream, header first.

    Returns
    -------
    PackedCodes

    Raises
    ------
    TypeError
        If ``data`` is not bytes-like.
    ValueError
        If it is not such a stream: too short, wrong magic or version, a
        header field outside the format's range (``K`` outside 2 to ``2**24``,
        a zero ``n_q``, hop or sample rate), a length that disagrees with the
        header, nonzero padding bits, or a code out of range (a damaged
        stream).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < HEADER_BYTES:
        raise ValueError(f"stream too short for its {HEADER_BYTES}-byte header: {len(data)} bytes")
    magic, version, n_q, _reserved, k, n_frames, hop, rate10 = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError(f"not a packed-codes stream (magic {magic!r}, expected {MAGIC!r})")
    if version != _VERSION:
        raise ValueError(f"unsupported stream version {version} (this reader knows {_VERSION})")
    if n_q < 1 or k < 2 or hop < 1 or rate10 < 1:
        raise ValueError("damaged header: n_q, codebook size, hop and sample rate must be positive")
    if k > _MAX_K:
        raise ValueError(
            f"damaged header: codebook size K = {k} is outside the format's 2..2**24 "
            "(pack_codes writes no larger K)"
        )
    width = _width(k)
    n_bits = n_frames * n_q * width
    expected = HEADER_BYTES + math.ceil(n_bits / 8)
    if len(data) != expected:
        raise ValueError(
            f"stream has {len(data)} bytes but its header announces {n_frames} frames of "
            f"{n_q} x {width} bits, i.e. {expected} bytes"
        )
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8, offset=HEADER_BYTES))
    if bits[n_bits:].any():
        raise ValueError("damaged stream: the padding bits of the last byte are not zero")
    weights = 1 << np.arange(width - 1, -1, -1, dtype=np.int64)
    codes = (bits[:n_bits].reshape(-1, width).astype(np.int64) @ weights).reshape(n_frames, n_q)
    if codes.size and codes.max() >= k:
        raise ValueError(f"damaged stream: a code is >= the codebook size {k}")
    return PackedCodes(codes, int(k), int(hop), int(rate10) * 10)


def write_codes(
    path: str | Path, codes: Any, codebook_size: int, *, hop: int, sample_rate: int
) -> int:
    """:func:`pack_codes` and write the bytes to ``path``; returns the file size in bytes."""
    data = pack_codes(codes, codebook_size, hop=hop, sample_rate=sample_rate)
    Path(path).write_bytes(data)
    return len(data)


def read_codes(path: str | Path) -> PackedCodes:
    """Read a file written by :func:`write_codes` (:func:`unpack_codes` of its bytes)."""
    return unpack_codes(Path(path).read_bytes())
