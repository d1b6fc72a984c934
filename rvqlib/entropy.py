"""Lossless entropy coding of integer codes with rANS (chapter 11).

A quantizer's codes cost ``log2 K`` bits each only if they are written as
fixed-width integers. An entropy coder spends about ``-log2 p(s)`` bits on a
symbol of probability ``p(s)`` under a model shared by encoder and decoder, so
a stream costs close to its *ideal length* ``sum_i -log2 p_i(s_i)``
(:func:`ideal_length`). This module's coder is range asymmetric numeral
systems (rANS, Duda 2013), chosen because its state update is two integer
operations per symbol, which keeps a pure-Python loop fast.

- :func:`entropy_encode` / :func:`entropy_decode`: the coder, with a static
  model ``(K,)``, a per-symbol model ``(n, K)``, a context table ``(C, K)``
  indexed by known contexts, or an order-1 ("previous symbol") model.
- :func:`ideal_length`: ``sum -log2 p`` under the same models.
- :func:`frequency_model`: smoothed symbol frequencies, optionally per context,
  to build those models from data.

**How the coder works.** Each model row is quantized to integer frequencies
``f_k`` summing to ``M = 2**24`` (every symbol of positive probability gets
``f_k >= 1``; ``c_k`` is the cumulative sum before ``k``). Symbols are encoded
in reverse order into one integer state ``x``:

.. math:: x \\leftarrow \\lfloor x / f_s \\rfloor M + c_s + (x \\bmod f_s),

which multiplies ``x`` by about ``M / f_s = 1 / p_s``, i.e. adds
``-log2 p_s`` bits to it. To keep ``x`` small, whenever the next step would
take it beyond ``2**96`` its low 32 bits are written out first, so ``x`` stays
in ``[2**64, 2**96)`` once it got there. The decoder runs the steps backwards
in forward order: ``x mod M`` falls in ``[c_s, c_s + f_s)``, which names ``s``,
and ``x <- f_s floor(x / M) + (x mod M) - c_s`` undoes the step; a 32-bit
word is read back whenever ``x`` drops below ``2**64``.

**Stream format.** The length of the rest in bytes as a varint (LEB128: 7
bits a byte, so 1 byte up to 127, 3 bytes up to 2 MiB), then the final state
in ``k`` little-endian bytes, then the emitted 32-bit words (little-endian) in
the order the decoder reads them. ``k`` follows from the length: a payload of
at most 12 bytes is a state alone, and a longer one has words, hence a state
in ``[2**64, 2**96)`` of 9 to 12 bytes, the one of those sizes that leaves
whole words. The length prefix makes every truncation detectable, not just
likely to be detected. The state starts at ``M``, not at 1 or ``2**64``: at
``x >= M > f_s`` every push strictly increases the state (the new ``x`` exceeds
the old by ``floor(x / f_s) (M - f_s) + c_s >= 1``), and every pop strictly
decreases it, so the decoder is back in the initial state, with every word
read, after exactly the encoder's ``n`` symbols and never after another
number. A state starting at 1 would leave ``x = 1`` unchanged under a symbol
whose slots begin at 0, so trailing runs of that symbol would cost nothing and
a wrong ``n`` would add or drop them without a trace. (A symbol of
probability 1, the only one its row allows, has ``f_s = M`` and still costs
nothing: how many of those were coded cannot be told.)

**Overhead.** The output exceeds the ideal length by the length prefix (8
bits per 7 bits of the payload's size in bytes: 24 bits up to 2 MiB), at most
7 bits of byte rounding of the state, the ``log2 M = 24`` bits of the initial
state, and the quantization of the probabilities to multiples of ``2**-24`` (a
relative error below ``2**-11`` for every probability of at least ``2**-12``).
The rounding of ``floor(x / f_s)`` costs little: a push gives at most
``x M / f_s + c_s``, a factor ``1 + c_s f_s / (x M) <= 1 + M / (4 x)`` above
the ideal, under a third of a bit at the first push and vanishing as the
state grows (below ``2**-42`` per push once it is past ``2**64``). Hence the
contract's guarantee: when every probability is at least ``2**-12`` the coded
length is at most 1 % plus 64 bits above the ideal. The tests check it on
random and adversarial streams.

**Errors.** A symbol of probability 0, a symbol outside ``[0, K)``, a model
that is not a probability distribution and a truncated stream raise
``ValueError``. The length prefix catches every truncation and every added
byte, and the initial state catches every wrong ``n`` (see above); that the
decoder ends exactly in the initial state with every word used catches nearly
every other corruption and a wrong model, but it is not a checksum.
"""

from __future__ import annotations

import bisect
import math
import numbers
from typing import Any

import numpy as np

from rvqlib._validate import as_index, is_torch, positive_int

__all__ = [
    "PRECISION",
    "entropy_decode",
    "entropy_encode",
    "frequency_model",
    "ideal_length",
]

#: Bits of precision of the quantized probabilities: frequencies sum to ``2**PRECISION``.
PRECISION = 24
_M = 1 << PRECISION
_MASK = _M - 1
_LOW = 1 << 64  # the state lives in [_LOW, _LOW << 32) once it got there
_WORD_BITS = 32
_WORD_MASK = (1 << _WORD_BITS) - 1
_EMIT_SHIFT = 64 - PRECISION + _WORD_BITS  # emit a word when x >= f << _EMIT_SHIFT
_INITIAL_STATE = _M  # see the module docstring: every push then grows x
_MAX_STATE_BYTES = 12  # the state is below 2**96
#: A model row must sum to 1 within this tolerance; it is then divided by its sum.
SUM_TOLERANCE = 1e-3
_MAX_ALPHABET = 1 << 20
_ROW_CHUNK = 256  # rows of a per-symbol model quantized at a time
_LIST_TABLE_MAX = 1 << 21  # decode tables up to this many entries become Python lists


# --------------------------------------------------------------------------- validation
def _as_probs(probs: Any) -> np.ndarray:
    """``probs`` as a float64 array of shape ``(K,)`` or ``(R, K)``, rows summing to 1."""
    if is_torch(probs):
        probs = probs.detach().cpu()
        if probs.is_complex():
            raise TypeError(f"probs must be real probabilities, got dtype {probs.dtype}")
        probs = probs.double().numpy()
    if isinstance(probs, (str, bytes)) or probs is None:
        raise TypeError(f"probs must be an array of probabilities, got {type(probs).__name__}")
    try:
        p = np.asarray(probs)
    except (TypeError, ValueError) as err:
        raise TypeError(f"probs must be an array of probabilities: {err}") from None
    if p.dtype.kind not in "biuf":
        raise TypeError(f"probs must be an array of real probabilities, got dtype {p.dtype}")
    p = p.astype(np.float64, copy=False)
    if p.ndim not in (1, 2):
        raise ValueError(
            f"probs must have shape (K,) (one model for all symbols) or (rows, K) "
            f"(one model per symbol or per context), got shape {p.shape}"
        )
    k = p.shape[-1]
    if k == 0:
        raise ValueError("probs must have at least one symbol (K >= 1), got K = 0")
    if k > _MAX_ALPHABET:
        raise ValueError(f"probs: at most {_MAX_ALPHABET} symbols are supported, got K = {k}")
    if p.ndim == 2 and p.shape[0] == 0:
        raise ValueError("probs has no rows: give one distribution per symbol or per context")
    sums = p.sum(axis=-1)
    if not np.isfinite(sums).all():  # NaN and +inf reach the sums; -inf is negative
        raise ValueError("probs must be finite, but it contains NaN or inf")
    if p.min() < 0:
        where = np.unravel_index(np.argmin(p), p.shape)
        raise ValueError(
            f"probs must be non-negative, got {float(p[where])!r} at index {tuple(map(int, where))}"
        )
    bad = np.abs(sums - 1.0) > SUM_TOLERANCE
    if bad.any():
        row = int(np.argmax(bad)) if p.ndim == 2 else None
        value = float(np.atleast_1d(sums)[row or 0])
        where = "" if row is None else f" (row {row})"
        raise ValueError(
            f"probs must sum to 1 along its last axis (within {SUM_TOLERANCE}), got a sum of "
            f"{value!r}{where}; normalise it, e.g. probs / probs.sum(-1, keepdims=True)"
        )
    return p


def _as_symbols(symbols: Any, k: int) -> np.ndarray:
    s = as_index(symbols, "symbols")
    if is_torch(s):
        s = s.cpu().numpy()
    if s.ndim != 1:
        raise ValueError(
            f"symbols must be a 1-D sequence (flatten codes first, e.g. codes.reshape(-1)), "
            f"got shape {s.shape}"
        )
    if s.size:
        lo, hi = int(s.min()), int(s.max())
        if lo < 0 or hi >= k:
            raise ValueError(
                f"symbols must lie in [0, {k}) for a model of K={k} symbols, "
                f"got values in [{lo}, {hi}]"
            )
    return s


def _rows(symbols: np.ndarray | None, n: int, p: np.ndarray, contexts: Any) -> np.ndarray | None:
    """Which row of ``p`` models each symbol (``None``: the single static row).

    ``symbols`` is needed only for ``contexts="previous"`` at encoding time.
    """
    k = p.shape[-1]
    if contexts is None:
        if p.ndim == 1:
            return None
        if p.shape[0] != n:
            raise ValueError(
                f"probs of shape {p.shape} gives one model per symbol, so it needs {n} rows "
                f"(one per symbol), got {p.shape[0]}; pass contexts= to index a table of models"
            )
        return np.arange(n, dtype=np.int64)
    if p.ndim != 2:
        raise ValueError(
            f"with contexts, probs must be a table of shape (n_contexts, K), got shape {p.shape}"
        )
    if isinstance(contexts, str):
        if contexts != "previous":
            raise ValueError(f'contexts must be None, "previous" or an array, got {contexts!r}')
        if p.shape[0] != k + 1:
            raise ValueError(
                f'contexts="previous" needs probs of shape (K + 1, K) = ({k + 1}, {k}): row j '
                f"models a symbol that follows j, row K the first symbol; got shape {p.shape}"
            )
        if symbols is None:
            return None  # decoder: rows follow the decoded symbols
        rows = np.empty(n, dtype=np.int64)
        if n:
            rows[0] = k
            rows[1:] = symbols[:-1]
        return rows
    ctx = as_index(contexts, "contexts")
    if is_torch(ctx):
        ctx = ctx.cpu().numpy()
    if ctx.shape != (n,):
        raise ValueError(f"contexts must have shape ({n},) (one per symbol), got {ctx.shape}")
    if n:
        lo, hi = int(ctx.min()), int(ctx.max())
        if lo < 0 or hi >= p.shape[0]:
            raise ValueError(
                f"contexts must lie in [0, {p.shape[0]}) (the rows of probs), "
                f"got values in [{lo}, {hi}]"
            )
    return ctx


# --------------------------------------------------------------------------- model quantization
def _ends(p: np.ndarray) -> np.ndarray:
    """Cumulative frequencies at the end of each symbol, ``(R, K)`` float64 integers.

    Each positive probability gets one unit of ``M = 2**PRECISION``; the other
    ``M - n_pos`` units are shared by rounding the scaled cumulative
    distribution, ``end_k = n_pos(<= k) + rint((M - n_pos) * cdf_k)``, computed
    as one running sum of ``p_j (M - n_pos) / sum(p) + [p_j > 0]`` (adding the
    whole units inside the sum changes nothing in the rounding). Frequencies
    ``end_k - end_{k-1}`` therefore differ from ``p_k (M - n_pos)`` by less than
    one unit besides their own unit, sum to ``M`` exactly, and a zero
    probability gets 0. The values are integers below ``2**24``, exact in
    float64, which the decoder searches directly.
    """
    n_pos = np.count_nonzero(p, axis=1)
    scale = (_M - n_pos) / p.sum(axis=1)
    running = p * scale[:, None]
    if n_pos.min() < p.shape[1]:
        running += p > 0
        np.cumsum(running, axis=1, out=running)
    else:  # no zero: the units add 1, 2, ..., K
        np.cumsum(running, axis=1, out=running)
        running += np.arange(1, p.shape[1] + 1)
    np.rint(running, out=running)
    running[:, -1] = _M  # exact already, up to float rounding far below one unit
    return running


def _cumulative(p: np.ndarray) -> np.ndarray:
    """Integer cumulative frequencies ``(R, K + 1)`` (int64): 0, then :func:`_ends`."""
    cum = np.zeros((p.shape[0], p.shape[1] + 1), dtype=np.int64)
    cum[:, 1:] = _ends(p)
    return cum


def _cumulative_table(p: np.ndarray) -> np.ndarray:
    """:func:`_cumulative` of every row, built in chunks, stored as int32."""
    p2 = p.reshape(-1, p.shape[-1])
    out = np.empty((p2.shape[0], p2.shape[1] + 1), dtype=np.int32)
    for start in range(0, p2.shape[0], _ROW_CHUNK):
        out[start : start + _ROW_CHUNK] = _cumulative(p2[start : start + _ROW_CHUNK])
    return out


def _symbol_freqs(
    symbols: np.ndarray, p: np.ndarray, rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and cumulative starts ``(f_i, c_i)`` of each symbol under its row."""
    n = symbols.size
    if rows is None:
        cum = _cumulative(p.reshape(1, -1))[0]
        c = cum[symbols]
        f = cum[symbols + 1] - c
    elif p.shape[0] == n and np.array_equal(rows, np.arange(n)):  # per-symbol model
        c = np.empty(n, dtype=np.int64)
        f = np.empty(n, dtype=np.int64)
        for start in range(0, n, _ROW_CHUNK):
            stop = min(start + _ROW_CHUNK, n)
            ends = _ends(p[start:stop])
            s = symbols[start:stop]
            idx = np.arange(stop - start)
            hi = ends[idx, s]
            lo = np.where(s > 0, ends[idx, np.maximum(s - 1, 0)], 0.0)
            c[start:stop] = lo
            f[start:stop] = hi - lo
    else:  # a table of models indexed by rows: quantize only the rows in use
        used, compact = np.unique(rows, return_inverse=True)
        cum = _cumulative_table(p[used])
        c = cum[compact, symbols].astype(np.int64)
        f = cum[compact, symbols + 1] - c
    zero = np.flatnonzero(f == 0)
    if zero.size:
        i = int(zero[0])
        row = "" if rows is None else f" (model row {int(rows[i])})"
        raise ValueError(
            f"symbols[{i}] = {int(symbols[i])} has probability 0 under probs{row}; every symbol "
            f"that occurs needs a positive probability (smooth the model, e.g. "
            f"frequency_model(..., alpha=0.5))"
        )
    return f, c


# --------------------------------------------------------------------------- coder
def entropy_encode(symbols: Any, probs: Any, *, contexts: Any = None) -> bytes:
    """Entropy-code integer symbols with rANS under a probability model.

    Parameters
    ----------
    symbols : array_like or torch.Tensor of int
        1-D sequence of ``n`` symbols in ``[0, K)`` (flatten codes first).
    probs : array_like or torch.Tensor
        The model, non-negative, each row summing to 1 within
        ``SUM_TOLERANCE = 1e-3`` (rows are then divided by their sums; a row
        off by more is rejected rather than silently rescaled, since it is
        usually counts or a bug):

        - ``(K,)``: one distribution for every symbol (a static model);
        - ``(n, K)``: row ``i`` is the distribution of ``symbols[i]``
          (a per-symbol model, e.g. a language model's predictions);
        - ``(C, K)`` with ``contexts`` an int array ``(n,)``: symbol ``i`` uses
          row ``contexts[i]`` (a context model whose contexts the decoder
          knows, e.g. the previous stage's codes decoded earlier);
        - ``(K + 1, K)`` with ``contexts="previous"``: an order-1 model; symbol
          ``i`` uses row ``symbols[i - 1]``, the first symbol row ``K``.

        ``K`` is at most ``2**20``.
    contexts : None, "previous" or array_like of int, optional
        See ``probs``.

    Returns
    -------
    bytes
        The coded stream; ``8 * len(result)`` is its length in bits.

    Raises
    ------
    TypeError
        Non-integer symbols or contexts, non-numeric probs.
    ValueError
        Symbols not 1-D or outside ``[0, K)``; a symbol of probability 0;
        probs negative, NaN/inf, of the wrong shape or with a row not summing
        to 1; contexts of the wrong shape or out of range.

    See Also
    --------
    entropy_decode, ideal_length, frequency_model

    Examples
    --------
    >>> p = [0.5, 0.25, 0.125, 0.125]
    >>> data = entropy_encode([0, 0, 1, 3, 0, 2], p)
    >>> len(data), ideal_length([0, 0, 1, 3, 0, 2], p)
    (6, 11.0)
    >>> entropy_decode(data, p, 6)
    array([0, 0, 1, 3, 0, 2])
    """
    p = _as_probs(probs)
    s = _as_symbols(symbols, p.shape[-1])
    rows = _rows(s, s.size, p, contexts)
    f, c = _symbol_freqs(s, p, rows)
    return _rans_encode(f.tolist(), c.tolist())


def _rans_encode(freqs: list[int], starts: list[int]) -> bytes:
    x = _INITIAL_STATE
    words: list[int] = []
    emit = words.append
    shift, prec, mask = _EMIT_SHIFT, PRECISION, _WORD_MASK
    for f, c in zip(reversed(freqs), reversed(starts), strict=True):
        if x >= f << shift:
            emit(x & mask)
            x >>= _WORD_BITS
        q, r = divmod(x, f)
        x = (q << prec) + r + c
    n_bytes = (x.bit_length() + 7) // 8  # 9..12 when words were emitted, else 4..12
    words.reverse()
    payload = x.to_bytes(n_bytes, "little") + np.asarray(words, dtype="<u4").tobytes()
    return _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    """LEB128: 7 bits a byte, least significant first, high bit set on all but the last."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes) -> tuple[int, int]:
    """``(value, bytes used)`` of the varint at the start of ``data``."""
    value = 0
    for i, byte in enumerate(data[:10]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise _corrupt("its length prefix is cut off or malformed")


def _corrupt(why: str) -> ValueError:
    return ValueError(
        f"data is truncated or corrupted ({why}), or was coded with another model "
        "or another number of symbols than n"
    )


def entropy_decode(data: bytes, probs: Any, n: int, *, contexts: Any = None) -> Any:
    """Decode ``n`` symbols coded by :func:`entropy_encode` with the same model.

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        The coded stream.
    probs : array_like or torch.Tensor
        The model given to :func:`entropy_encode` (same shape and values).
    n : int
        Number of symbols to decode (the stream does not store it).
    contexts : None, "previous" or array_like of int, optional
        As given to :func:`entropy_encode`.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The ``n`` symbols, ``int64`` (a ``torch.long`` tensor on the device of
        ``probs`` when ``probs`` is a tensor).

    Raises
    ------
    TypeError
        ``data`` not bytes-like, ``n`` not an integer.
    ValueError
        A bad model or contexts (as :func:`entropy_encode`); a stream that is
        truncated, corrupted, has bytes left over, or was coded with another
        model or another ``n`` (detected when the decoder does not end in the
        encoder's initial state with every word used: always for a wrong
        ``n``, unless the symbols in question had probability 1).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes (from entropy_encode), got {type(data).__name__}")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be a non-negative integer, got {type(n).__name__}")
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    device = probs.device if is_torch(probs) else None
    p = _as_probs(probs)
    rows = _rows(None, n, p, contexts)
    previous = isinstance(contexts, str)
    data = bytes(data)
    if len(data) == 0:
        raise _corrupt("it is empty")
    size, used = _read_varint(data)
    if len(data) - used != size:
        raise _corrupt(f"its prefix announces {size} bytes after it, but {len(data) - used} follow")
    data = data[used:]
    if size == 0:
        raise _corrupt("it holds no state")
    if size <= _MAX_STATE_BYTES:  # a state alone
        n_bytes = size
    else:  # a state of 9..12 bytes followed by whole words
        n_bytes = 9 + (size - 9) % 4
    if data[n_bytes - 1] == 0:
        raise _corrupt("its state has a zero top byte, which the encoder never writes")
    x = int.from_bytes(data[:n_bytes], "little")
    words = np.frombuffer(data, dtype="<u4", offset=n_bytes).tolist()
    if words and x < _LOW:
        raise _corrupt("the state is below 2**64 although words follow it")

    if rows is None and not previous:  # static model
        cum_list = _cumulative(p.reshape(1, -1))[0].tolist()
        out, x, pos = _decode_static(x, words, n, cum_list)
    elif previous:
        out, x, pos = _decode_previous(x, words, n, p)
    else:
        out, x, pos = _decode_rows(x, words, n, p, rows)
    if pos != len(words):
        raise _corrupt(f"{len(words) - pos} words were left unread")
    if x != _INITIAL_STATE:
        raise _corrupt("the decoder did not end in the encoder's initial state")
    result = np.asarray(out, dtype=np.int64)
    if device is not None:
        import torch

        return torch.from_numpy(result).to(device)
    return result


def _decode_static(x: int, words: list[int], n: int, cum: list[int]) -> tuple[list[int], int, int]:
    out = [0] * n
    pos, n_words = 0, len(words)
    prec, mask, low = PRECISION, _MASK, _LOW
    freq = [b - a for a, b in zip(cum[:-1], cum[1:], strict=True)]
    search = bisect.bisect_right
    for i in range(n):
        slot = x & mask
        s = search(cum, slot) - 1
        x = freq[s] * (x >> prec) + slot - cum[s]
        if x < low and pos < n_words:
            x = (x << _WORD_BITS) | words[pos]
            pos += 1
        out[i] = s
    return out, x, pos


def _decode_rows(
    x: int, words: list[int], n: int, p: np.ndarray, rows: np.ndarray
) -> tuple[list[int], int, int]:
    """Decode with a known model row per symbol (a per-symbol model or array contexts)."""
    if p.shape[0] == n and np.array_equal(rows, np.arange(n)):
        return _decode_per_symbol(x, words, n, p)
    used, compact = np.unique(rows, return_inverse=True)
    table = _cumulative_table(p[used])  # only the rows in use
    out = [0] * n
    pos, n_words = 0, len(words)
    prec, mask, low = PRECISION, _MASK, _LOW
    row_list = compact.tolist()
    # Python lists + bisect are faster per step; converting pays only for reused rows
    if table.size <= _LIST_TABLE_MAX and 4 * table.shape[0] <= n:
        lists = table.tolist()
        search = bisect.bisect_right
        for i in range(n):
            cum = lists[row_list[i]]
            slot = x & mask
            s = search(cum, slot) - 1
            lo = cum[s]
            x = (cum[s + 1] - lo) * (x >> prec) + slot - lo
            if x < low and pos < n_words:
                x = (x << _WORD_BITS) | words[pos]
                pos += 1
            out[i] = s
        return out, x, pos
    for i in range(n):
        cum_np = table[row_list[i]]
        slot = x & mask
        s = int(cum_np.searchsorted(slot, side="right")) - 1
        lo, hi = int(cum_np[s]), int(cum_np[s + 1])
        x = (hi - lo) * (x >> prec) + slot - lo
        if x < low and pos < n_words:
            x = (x << _WORD_BITS) | words[pos]
            pos += 1
        out[i] = s
    return out, x, pos


def _decode_per_symbol(
    x: int, words: list[int], n: int, p: np.ndarray
) -> tuple[list[int], int, int]:
    """Decode with one model row per symbol, quantizing the rows a chunk at a time.

    Each chunk's table is small enough to stay in cache, and the whole
    ``(n, K)`` table is never held at once.
    """
    out = [0] * n
    pos, n_words = 0, len(words)
    prec, mask, low = PRECISION, _MASK, _LOW
    for start in range(0, n, _ROW_CHUNK):
        ends = _ends(p[start : start + _ROW_CHUNK])
        for j in range(ends.shape[0]):
            row = ends[j]
            slot = x & mask
            s = int(row.searchsorted(slot, side="right"))
            hi = int(row[s])
            lo = int(row[s - 1]) if s else 0
            x = (hi - lo) * (x >> prec) + slot - lo
            if x < low and pos < n_words:
                x = (x << _WORD_BITS) | words[pos]
                pos += 1
            out[start + j] = s
    return out, x, pos


def _decode_previous(x: int, words: list[int], n: int, p: np.ndarray) -> tuple[list[int], int, int]:
    """Decode with the order-1 model: each row quantized when first needed, then cached."""
    out = [0] * n
    pos, n_words = 0, len(words)
    prec, mask, low = PRECISION, _MASK, _LOW
    search = bisect.bisect_right
    cache: dict[int, list[int]] = {}
    prev = p.shape[1]  # the row of the first symbol
    for i in range(n):
        cum = cache.get(prev)
        if cum is None:
            cum = cache[prev] = _cumulative(p[prev : prev + 1])[0].tolist()
        slot = x & mask
        s = search(cum, slot) - 1
        lo = cum[s]
        x = (cum[s + 1] - lo) * (x >> prec) + slot - lo
        if x < low and pos < n_words:
            x = (x << _WORD_BITS) | words[pos]
            pos += 1
        out[i] = s
        prev = s
    return out, x, pos


# --------------------------------------------------------------------------- models
def ideal_length(symbols: Any, probs: Any, *, contexts: Any = None) -> float:
    """The ideal code length ``sum_i -log2 p_i(s_i)`` in bits, under the coder's models.

    The same models as :func:`entropy_encode` (``probs`` rows divided by their
    sums). It is the length an ideal coder would reach; ``8 *
    len(entropy_encode(symbols, probs))`` exceeds it by at most 1 % plus 64
    bits when every probability is at least ``2**-12``.

    Parameters
    ----------
    symbols, probs, contexts
        As in :func:`entropy_encode`.

    Returns
    -------
    float
        Bits (0.0 for an empty stream).

    Raises
    ------
    ValueError
        As :func:`entropy_encode`, including a symbol of probability 0
        (whose ideal length would be infinite).

    Examples
    --------
    >>> ideal_length([0, 1, 1], [0.5, 0.5])
    3.0
    """
    p = _as_probs(probs)
    s = _as_symbols(symbols, p.shape[-1])
    rows = _rows(s, s.size, p, contexts)
    if p.ndim == 1:
        ps = p[s] / p.sum()
    else:
        ps = p[rows, s] / p[rows].sum(axis=-1) if s.size else np.zeros(0)
    zero = np.flatnonzero(ps == 0)
    if zero.size:
        i = int(zero[0])
        raise ValueError(
            f"symbols[{i}] = {int(s[i])} has probability 0 under probs: "
            "its ideal length is infinite"
        )
    return float(-np.log2(ps).sum())


def frequency_model(
    symbols: Any,
    alphabet_size: int,
    *,
    contexts: Any = None,
    n_contexts: int | None = None,
    alpha: float = 0.5,
) -> np.ndarray:
    """Smoothed symbol frequencies: a model for :func:`entropy_encode` fitted to data.

    Each distribution is ``(counts + alpha) / (total + alpha * K)``:
    ``alpha = 0.5`` is the Krichevsky–Trofimov estimator, ``alpha = 1``
    Laplace's rule, ``alpha = 0`` the raw frequencies (symbols never seen get
    probability 0; a context never seen gets the uniform distribution).
    Fitting the model on the very symbols it codes gives the empirical entropy
    as the ideal length, but a decoder needs the model too: what it costs to
    send or share is the other half of the bill (chapter 11).

    Parameters
    ----------
    symbols : array_like or torch.Tensor of int
        1-D symbols in ``[0, alphabet_size)``.
    alphabet_size : int
        ``K``.
    contexts : None, "previous" or array_like of int, optional
        ``None``: one distribution ``(K,)``. An int array ``(n,)``: one row per
        context value, shape ``(n_contexts, K)``. ``"previous"``: the order-1
        table ``(K + 1, K)`` that ``entropy_encode(..., contexts="previous")``
        expects (row ``K`` counts the first symbol).
    n_contexts : int, optional
        Number of rows for array contexts (default ``max(contexts) + 1``).
    alpha : float, default 0.5
        Additive smoothing, ``>= 0``.

    Returns
    -------
    numpy.ndarray
        float64 probabilities, rows summing to 1.

    Raises
    ------
    TypeError, ValueError
        Bad symbols, contexts, sizes or ``alpha``.

    Examples
    --------
    >>> frequency_model([0, 0, 1], 3, alpha=0)
    array([0.66666667, 0.33333333, 0.        ])
    >>> frequency_model([0, 0, 1], 2, contexts="previous", alpha=0).tolist()
    [[0.5, 0.5], [0.5, 0.5], [1.0, 0.0]]
    """
    k = positive_int(alphabet_size, "alphabet_size")
    if k > _MAX_ALPHABET:
        raise ValueError(f"alphabet_size must be at most {_MAX_ALPHABET}, got {k}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number >= 0, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
    s = _as_symbols(symbols, k)
    if contexts is None:
        counts = np.bincount(s, minlength=k).astype(np.float64)[None, :]
    else:
        if isinstance(contexts, str):
            if contexts != "previous":
                raise ValueError(f'contexts must be None, "previous" or an array, got {contexts!r}')
            rows = np.empty(s.size, dtype=np.int64)
            if s.size:
                rows[0] = k
                rows[1:] = s[:-1]
            n_rows = k + 1
        else:
            rows = as_index(contexts, "contexts")
            if is_torch(rows):
                rows = rows.cpu().numpy()
            if rows.shape != s.shape:
                raise ValueError(
                    f"contexts must have the shape of symbols {s.shape}, got {rows.shape}"
                )
            if rows.size and int(rows.min()) < 0:
                raise ValueError(f"contexts must be >= 0, got {int(rows.min())}")
            top = int(rows.max()) + 1 if rows.size else 1
            n_rows = top if n_contexts is None else positive_int(n_contexts, "n_contexts")
            if top > n_rows:
                raise ValueError(f"contexts must lie in [0, {n_rows}), got a value {top - 1}")
        counts = np.zeros((n_rows, k), dtype=np.float64)
        np.add.at(counts, (rows, s), 1.0)
    smoothed = counts + alpha
    totals = smoothed.sum(axis=1, keepdims=True)
    probs = np.where(totals > 0, smoothed / np.where(totals > 0, totals, 1.0), 1.0 / k)
    return probs[0] if contexts is None else probs
