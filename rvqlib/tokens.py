"""Laying RVQ codes out as tokens for a language model (chapter 11).

A codec gives ``n_q`` codes per frame, an array ``(T, n_q)``. An audio language
model reads them as a sequence, and the layout decides the sequence length and
what each step must predict:

- **flattened** (as AudioLM orders its acoustic tokens): :func:`flatten_codes`
  writes frame 0's stages, then frame 1's, ...; one token per step,
  ``T * n_q`` steps.
- **parallel**: the array itself, ``n_q`` tokens per step, ``T`` steps; every
  stage of a frame is predicted at once, without seeing the coarser stages.
- **delayed** (MusicGen, Copet et al. 2023): :func:`delay_pattern` shifts
  stage ``q`` by ``q`` steps, so at step ``t`` the model predicts stage ``q``
  of frame ``t - q`` after stages ``0..q-1`` of that frame were produced at
  earlier steps; ``T + n_q - 1`` steps. Moshi's semantic-then-acoustic layout
  is the same with ``delays=(0, 1, 1, ..., 1)``.

:func:`sequence_length` and :func:`steps_per_second` give the numbers of steps
for each layout. Codes and tokens are ``int64``; numpy in gives numpy out and
torch in gives torch out, and a leading batch axis ``(B, T, n_q)`` is kept.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from rvqlib._validate import as_index, is_torch, positive_int

__all__ = [
    "LAYOUTS",
    "delay_pattern",
    "flatten_codes",
    "sequence_length",
    "steps_per_second",
    "undelay_pattern",
    "unflatten_codes",
]

#: The token layouts :func:`sequence_length` and :func:`steps_per_second` know.
LAYOUTS = ("flatten", "parallel", "delay")


def _check_codes(codes: Any, name: str) -> Any:
    codes = as_index(codes, name)
    if codes.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape (T, n_q) or (B, T, n_q), got shape {tuple(codes.shape)}"
        )
    if codes.shape[-1] == 0:
        raise ValueError(
            f"{name} must have at least one stage (n_q >= 1), got shape {tuple(codes.shape)}"
        )
    return codes


_INT64 = (-(2**63), 2**63 - 1)


def _check_int(value: Any, name: str) -> int:
    """``value`` as a Python int, which must fit the ``int64`` tokens it is written into."""
    if is_torch(value) and value.ndim == 0 and not value.is_floating_point():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(f"{name} must fit in int64 (between -2**63 and 2**63 - 1), got {value}")
    return value


def _check_delays(delays: Sequence[int] | None, n_q: int) -> tuple[int, ...]:
    if delays is None:
        return tuple(range(n_q))
    if is_torch(delays) or isinstance(delays, np.ndarray):
        delays = delays.tolist()
    if isinstance(delays, (str, bytes)) or not isinstance(delays, Sequence):
        raise TypeError(
            f"delays must be a sequence of n_q={n_q} integers, got {type(delays).__name__}"
        )
    if len(delays) != n_q:
        raise ValueError(f"delays must give one delay per stage (n_q={n_q}), got {len(delays)}")
    out = []
    for q, d in enumerate(delays):
        d = _check_int(d, f"delays[{q}]")
        if d < 0:
            raise ValueError(f"delays[{q}] must be >= 0, got {d}")
        out.append(d)
    return tuple(out)


def _full(like: Any, shape: tuple[int, ...], value: int) -> Any:
    if is_torch(like):
        import torch

        return torch.full(shape, value, dtype=torch.long, device=like.device)
    return np.full(shape, value, dtype=np.int64)


def delay_pattern(codes: Any, pad: int, *, delays: Sequence[int] | None = None) -> Any:
    """MusicGen's delay interleaving: stage ``q`` shifted ``q`` steps later.

    ``tokens[t + q, q] = codes[t, q]``, and ``pad`` where a stage has no token
    (the first ``q`` steps of stage ``q`` and the last ``n_q - 1 - q``). With
    ``delays`` the shift of stage ``q`` is ``delays[q]`` instead.

    Parameters
    ----------
    codes : array_like or torch.Tensor of int
        ``(T, n_q)`` codes (frames by stages), or ``(B, T, n_q)``.
    pad : int
        The padding token; usually a value outside every codebook, e.g.
        ``codebook_size`` (a dedicated "no token here" symbol).
    delays : sequence of int, optional
        Non-negative shift of each stage; default ``(0, 1, ..., n_q - 1)``.
        ``(0, 1, 1, ..., 1)`` is Moshi's one-step delay between the semantic
        first stage and the acoustic ones.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``int64`` tokens ``(T + max(delays), n_q)`` (with the batch axis if given).

    Raises
    ------
    TypeError
        Non-integer codes, pad or delays.
    ValueError
        Codes not 2-D or 3-D or without stages; delays of the wrong length or
        negative.

    See Also
    --------
    undelay_pattern : the exact inverse.

    Examples
    --------
    >>> codes = [[1, 2, 3], [4, 5, 6]]  # T = 2 frames, n_q = 3 stages
    >>> delay_pattern(codes, pad=-1)
    array([[ 1, -1, -1],
           [ 4,  2, -1],
           [-1,  5,  3],
           [-1, -1,  6]])
    """
    codes = _check_codes(codes, "codes")
    pad = _check_int(pad, "pad")
    n_q = int(codes.shape[-1])
    d = _check_delays(delays, n_q)
    t = int(codes.shape[-2])
    shape = tuple(codes.shape[:-2]) + (t + max(d), n_q)
    if math.prod(shape) * 8 > _INT64[1]:  # torch's and numpy's sizes overflow beyond
        raise ValueError(
            f"delays: the delayed tokens would have shape {shape}, more bytes than "
            f"int64 can count; the largest delay is {max(d)}"
        )
    tokens = _full(codes, shape, pad)
    for q, shift in enumerate(d):
        tokens[..., shift : shift + t, q] = codes[..., q]
    return tokens


def undelay_pattern(
    tokens: Any, n_q: int, *, delays: Sequence[int] | None = None, pad: int | None = None
) -> Any:
    """Undo :func:`delay_pattern`: ``codes[t, q] = tokens[t + q, q]``.

    Parameters
    ----------
    tokens : array_like or torch.Tensor of int
        ``(T + max(delays), n_q)`` tokens, or with a leading batch axis.
    n_q : int
        Number of stages; must equal ``tokens.shape[-1]``.
    delays : sequence of int, optional
        The delays given to :func:`delay_pattern` (default ``0..n_q-1``).
    pad : int, optional
        If given, check that every padded position holds ``pad`` (a
        ``ValueError`` otherwise), e.g. to catch tokens that were shifted.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``int64`` codes ``(T, n_q)`` (with the batch axis if given).

    Raises
    ------
    TypeError
        Non-integer tokens, n_q, delays or pad.
    ValueError
        ``tokens.shape[-1] != n_q``, fewer than ``max(delays)`` steps, or a
        padded position that does not hold ``pad``.

    Examples
    --------
    >>> tokens = delay_pattern([[1, 2, 3], [4, 5, 6]], pad=-1)
    >>> undelay_pattern(tokens, 3, pad=-1)
    array([[1, 2, 3],
           [4, 5, 6]])
    """
    n_q = positive_int(n_q, "n_q")
    tokens = _check_codes(tokens, "tokens")
    if int(tokens.shape[-1]) != n_q:
        raise ValueError(
            f"tokens must have n_q={n_q} stages on the last axis, got shape {tuple(tokens.shape)}"
        )
    d = _check_delays(delays, n_q)
    steps = int(tokens.shape[-2])
    t = steps - max(d)
    if t < 0:
        raise ValueError(
            f"tokens must have at least max(delays) = {max(d)} steps, got shape "
            f"{tuple(tokens.shape)}"
        )
    codes = _full(tokens, tuple(tokens.shape[:-2]) + (t, n_q), 0)
    for q, shift in enumerate(d):
        codes[..., q] = tokens[..., shift : shift + t, q]
    if pad is not None:
        pad = _check_int(pad, "pad")
        mask = np.ones((steps, n_q), dtype=bool)
        for q, shift in enumerate(d):
            mask[shift : shift + t, q] = False
        padded = tokens[..., _as_mask(mask, tokens) if is_torch(tokens) else mask]
        if bool((padded != pad).any()):
            raise ValueError(
                f"tokens: a padded position does not hold pad={pad}; were the tokens made by "
                f"delay_pattern with these delays?"
            )
    return codes


def _as_mask(mask: np.ndarray, like: Any) -> Any:
    import torch

    return torch.from_numpy(mask).to(like.device)


def flatten_codes(codes: Any, codebook_size: int | None = None) -> Any:
    """Flatten ``(T, n_q)`` codes frame by frame into one token per step.

    ``tokens[t * n_q + q] = codes[t, q]`` (frame 0's stages, then frame 1's,
    ...). With ``codebook_size = K`` each stage gets its own range of token
    values, ``codes[t, q] + q * K``, so a language model can tell stages apart
    from the token alone (a vocabulary of ``n_q * K``, as AudioLM's flattened
    acoustic tokens).

    Parameters
    ----------
    codes : array_like or torch.Tensor of int
        ``(T, n_q)`` or ``(B, T, n_q)``.
    codebook_size : int, optional
        ``K``; when given, codes must lie in ``[0, K)`` and are offset per stage.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``int64`` tokens ``(T * n_q,)`` (or ``(B, T * n_q)``).

    Raises
    ------
    TypeError, ValueError
        Bad codes, codes outside ``[0, codebook_size)``, or ``n_q * codebook_size``
        (the vocabulary) beyond ``int64``.

    Notes
    -----
    An empty batch or time axis is valid: ``(0, T, n_q)`` codes give ``(0, T * n_q)``
    tokens.

    Examples
    --------
    >>> flatten_codes([[1, 2], [3, 0]], codebook_size=4)
    array([1, 6, 3, 4])
    """
    codes = _check_codes(codes, "codes")
    n_q = int(codes.shape[-1])
    if codebook_size is not None:
        k = _check_vocabulary(codebook_size, n_q)
        _check_range(codes, k, "codes")
        offsets = _arange(codes, n_q) * k
        codes = codes + offsets
    # an explicit length: reshape cannot infer -1 when the batch axis is empty
    return codes.reshape(tuple(codes.shape[:-2]) + (int(codes.shape[-2]) * n_q,))


def unflatten_codes(tokens: Any, n_q: int, codebook_size: int | None = None) -> Any:
    """Undo :func:`flatten_codes`: ``(T * n_q,)`` tokens back to ``(T, n_q)`` codes.

    Parameters
    ----------
    tokens : array_like or torch.Tensor of int
        ``(L,)`` or ``(B, L)`` with ``L`` a multiple of ``n_q``.
    n_q : int
        Stages per frame.
    codebook_size : int, optional
        The ``K`` given to :func:`flatten_codes`; the per-stage offsets are
        removed and every token is checked to lie in its stage's range.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``int64`` codes ``(L // n_q, n_q)`` (or ``(B, L // n_q, n_q)``).

    Raises
    ------
    TypeError, ValueError
        Bad tokens, a length that is not a multiple of ``n_q``, a token
        outside its stage's range, or ``n_q * codebook_size`` beyond ``int64``.

    Examples
    --------
    >>> unflatten_codes([1, 6, 3, 4], 2, codebook_size=4)
    array([[1, 2],
           [3, 0]])
    """
    n_q = positive_int(n_q, "n_q")
    tokens = as_index(tokens, "tokens")
    if tokens.ndim not in (1, 2):
        raise ValueError(f"tokens must have shape (L,) or (B, L), got shape {tuple(tokens.shape)}")
    length = int(tokens.shape[-1])
    if length % n_q:
        raise ValueError(
            f"tokens must hold whole frames: length {length} is not a multiple of n_q={n_q}"
        )
    codes = tokens.reshape(tuple(tokens.shape[:-1]) + (length // n_q, n_q))
    if codebook_size is not None:
        k = _check_vocabulary(codebook_size, n_q)
        codes = codes - _arange(codes, n_q) * k
        _check_range(codes, k, "tokens (after removing the per-stage offsets q * codebook_size)")
    return codes


def _check_vocabulary(codebook_size: Any, n_q: int) -> int:
    """``codebook_size`` as an int whose ``n_q * K`` token values (offsets included) fit int64."""
    k = positive_int(codebook_size, "codebook_size")
    if n_q * k > _INT64[1]:
        raise ValueError(
            f"n_q * codebook_size must fit in int64 (at most 2**63 - 1), the range of the "
            f"per-stage tokens; got n_q={n_q}, codebook_size={k}"
        )
    return k


def _arange(like: Any, n: int) -> Any:
    if is_torch(like):
        import torch

        return torch.arange(n, dtype=torch.long, device=like.device)
    return np.arange(n, dtype=np.int64)


def _check_range(codes: Any, k: int, name: str) -> None:
    if codes.numel() if is_torch(codes) else codes.size:
        lo, hi = int(codes.min()), int(codes.max())
        if lo < 0 or hi >= k:
            raise ValueError(
                f"{name} must lie in [0, {k}) for codebook_size={k}, got values in [{lo}, {hi}]"
            )


def _check_layout(layout: Any) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    return layout


def sequence_length(n_frames: int, n_q: int, layout: str = "flatten") -> int:
    """Steps of the token sequence of ``n_frames`` frames of ``n_q`` stages.

    ``"flatten"``: ``n_frames * n_q`` steps of one token; ``"parallel"``:
    ``n_frames`` steps of ``n_q`` tokens; ``"delay"``: ``n_frames + n_q - 1``
    steps of ``n_q`` tokens (padding included, as :func:`delay_pattern`).

    Examples
    --------
    >>> [sequence_length(750, 8, layout) for layout in LAYOUTS]
    [6000, 750, 757]
    """
    n_frames = _check_int(n_frames, "n_frames")
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    n_q = positive_int(n_q, "n_q")
    layout = _check_layout(layout)
    if layout == "flatten":
        return n_frames * n_q
    if layout == "parallel":
        return n_frames
    return n_frames + n_q - 1


def steps_per_second(frame_rate: float, n_q: int, layout: str = "flatten") -> float:
    """Sequence steps a language model takes per second of audio, for a layout.

    ``"flatten"``: ``frame_rate * n_q``; ``"parallel"`` and ``"delay"``:
    ``frame_rate`` (the delay's ``n_q - 1`` extra steps are per sequence, not
    per second). Tokens per second are ``frame_rate * n_q`` in every layout;
    what changes is how many the model emits at each step.

    Raises
    ------
    TypeError
        A ``frame_rate`` that is not a real number, or a non-integer ``n_q``.
    ValueError
        A ``frame_rate`` that is not positive and finite, ``n_q < 1``, an
        unknown layout, or ``frame_rate * n_q`` beyond the largest float64.

    Examples
    --------
    >>> steps_per_second(75.0, 8), steps_per_second(75.0, 8, "delay")
    (600.0, 75.0)
    """
    if isinstance(frame_rate, bool) or not isinstance(frame_rate, numbers.Real):
        raise TypeError(f"frame_rate must be a number, got {type(frame_rate).__name__}")
    frame_rate = float(frame_rate)
    if not np.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate must be a positive finite number, got {frame_rate}")
    n_q = positive_int(n_q, "n_q")
    layout = _check_layout(layout)
    if layout != "flatten":
        return frame_rate
    try:
        steps = frame_rate * n_q
    except OverflowError:  # an int n_q beyond float64 (10**400)
        steps = math.inf
    if not math.isfinite(steps):
        raise ValueError(
            f"frame_rate * n_q overflows float64: frame_rate={frame_rate}, n_q={n_q} "
            f"(at most {sys.float_info.max:.6g} steps per second)"
        )
    return steps
