"""Checkers for the exercises of chapter 11, "From codes to bits, and from bits to tokens".

Every expected value is computed here from the exercise's data (the
module-level constants below, which the chapter prints), with a small exact
integer rANS coder (:func:`rans_encode_exact`, :func:`rans_decode_exact`) for
the coding exercises and :func:`rvqlib.tokens.sequence_length` for the layout
one, so the checkers cannot drift from what the chapter teaches. A wrong
answer is told which slip produces it when the slip is a common one (coding in
message order, starting from state 0, the cumulative frequency at the end of
the symbol, forgetting the remainder, ``K`` contexts instead of ``K**2``
entries, bits for bytes, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rvqlib.exercises._check import (
    CheckResult,
    _to_float,
    as_numpy,
    check_choice,
    check_close,
    check_function,
    is_placeholder,
    never_raises,
    right,
    wrong,
)
from rvqlib.tokens import sequence_length

__all__ = [
    "BY_HAND_FREQS",
    "BY_HAND_MESSAGE",
    "BY_HAND_SYMBOLS",
    "LAYOUT_OPTIONS",
    "STEPS_CONFIG",
    "TABLE_COST",
    "check_layout_choice",
    "check_layout_steps",
    "check_my_rans_decode",
    "check_rans_by_hand",
    "check_table_payback",
    "rans_decode_exact",
    "rans_encode_exact",
]

_PLACEHOLDER_HINT = "replace the `...` with your answer and run the cell again"


# ------------------------------------------------------------------ the exact coder
def _check_freqs(freqs: Sequence[int]) -> list[int]:
    f = [int(v) for v in freqs]
    if not f or any(v < 0 for v in f) or sum(f) == 0:
        raise ValueError("freqs must be non-negative integers with a positive sum")
    return f


def rans_encode_exact(
    symbols: Sequence[int], freqs: Sequence[int], state: int = 1, *, forward: bool = False
) -> int:
    """The final state of rANS without renormalisation (the chapter's by-hand coder).

    Symbols are pushed last first, each by ``x <- (x // f_s) * M + c_s + x % f_s``
    with ``M = sum(freqs)`` and ``c_s`` the sum of the frequencies before ``s``.

    Parameters
    ----------
    symbols : sequence of int
        The message, symbol indices into ``freqs``.
    freqs : sequence of int
        Integer frequencies; a symbol that occurs needs a positive one.
    state : int, default 1
        The initial state.
    forward : bool, default False
        Push the symbols first to last instead (a slip the checker names).

    Returns
    -------
    int
    """
    f = _check_freqs(freqs)
    m = sum(f)
    starts = [sum(f[:s]) for s in range(len(f))]
    x = int(state)
    for s in symbols if forward else reversed(list(symbols)):
        s = int(s)
        if not 0 <= s < len(f) or f[s] == 0:
            raise ValueError(f"symbol {s} has no frequency")
        x = (x // f[s]) * m + starts[s] + x % f[s]
    return x


def rans_decode_exact(state: int, n: int, freqs: Sequence[int]) -> list[int]:
    """Pop ``n`` symbols from a state made by :func:`rans_encode_exact` (first symbol first).

    Each step reads the slot ``x % M``, finds the symbol ``s`` with
    ``c_s <= slot < c_s + f_s`` and undoes the push:
    ``x <- f_s * (x // M) + slot - c_s``.
    """
    f = _check_freqs(freqs)
    m = sum(f)
    starts = [sum(f[:s]) for s in range(len(f))]
    x = int(state)
    out = []
    for _ in range(int(n)):
        slot = x % m
        s = max(i for i in range(len(f)) if starts[i] <= slot and f[i] > 0)
        x = f[s] * (x // m) + slot - starts[s]
        out.append(s)
    return out


# ------------------------------------------------------------------ ch11-ex-rans-by-hand
#: The alphabet of the by-hand exercises, in symbol order.
BY_HAND_SYMBOLS: tuple[str, ...] = ("A", "B", "C", "D")
#: Integer frequencies of ``A, B, C, D``; they sum to ``M = 8``.
BY_HAND_FREQS: tuple[int, ...] = (4, 2, 1, 1)
#: The message of exercise ``ch11-ex-rans-by-hand``.
BY_HAND_MESSAGE: str = "ABAC"


def _message_indices(message: str = BY_HAND_MESSAGE) -> list[int]:
    return [BY_HAND_SYMBOLS.index(ch) for ch in message]


def _by_hand_slips() -> dict[str, int]:
    msg, f = _message_indices(), list(BY_HAND_FREQS)
    m = sum(f)
    ends = [sum(f[: s + 1]) for s in range(len(f))]
    x_end = 1
    for s in reversed(msg):  # c_s taken as the cumulative frequency *including* s
        x_end = (x_end // f[s]) * m + ends[s] + x_end % f[s]
    x_swap = 1
    starts = [sum(f[:s]) for s in range(len(f))]
    for s in reversed(msg):  # the decoder's formula used to encode
        x_swap = (x_swap // m) * f[s] + starts[s] + x_swap % m
    x_norem = 1
    for s in reversed(msg):  # the remainder x % f_s forgotten
        x_norem = (x_norem // f[s]) * m + starts[s]
    return {
        "you pushed the symbols in message order; rANS pushes the last symbol first, so "
        "that the decoder pops the first one first": rans_encode_exact(msg, f, forward=True),
        "you started from x = 0; the coder starts from x = 1": rans_encode_exact(msg, f, 0),
        "you used the cumulative frequency up to and including the symbol; c_s is the sum "
        "of the frequencies *before* s (0 for A)": x_end,
        "you used the decoder's step (x // M) * f_s; encoding divides by f_s and "
        "multiplies by M": x_swap,
        "you dropped the remainder x % f_s, which carries what x held": x_norem,
    }


@never_raises
def check_rans_by_hand(answer: Any) -> CheckResult:
    """Exercise ``ch11-ex-rans-by-hand``: the final rANS state of :data:`BY_HAND_MESSAGE`.

    The coder starts from ``x = 1`` and uses :data:`BY_HAND_FREQS`; the answer
    is an integer, so it must be exact.
    """
    name = "the final state x"
    expected = rans_encode_exact(_message_indices(), BY_HAND_FREQS)
    hint = "push C first, then A, B, A: x <- (x // f) * 8 + c + x % f, with c = 0, 4, 6, 7"
    if is_placeholder(answer):
        return wrong(name, "no answer yet", _PLACEHOLDER_HINT)
    if isinstance(answer, int) and not isinstance(answer, bool) and abs(answer) > 2**60:
        return wrong(name, f"got a {answer.bit_length()}-bit number, far too large", hint)
    got = _to_float(answer)
    if got is None:
        kind = "None" if answer is None else type(answer).__name__
        return wrong(name, f"expected a whole number, got {kind}", hint)
    if got == expected:
        bits = math.log2(expected)
        return right(
            name,
            f"= {expected}: log2 {expected} = {bits:.2f} bits, against the ideal "
            f"{_ideal_bits():g} bits and {2 * len(BY_HAND_MESSAGE)} bits at 2 bits a symbol",
        )
    for slip, value in _by_hand_slips().items():
        if got == value:
            return wrong(name, f"{got:g} is what you get if {slip}", hint)
    if not float(got).is_integer():
        return wrong(name, f"{got:g} is not a whole number: every step is integer arithmetic", hint)
    return wrong(
        name, f"got {got:g}, which is {'too large' if got > expected else 'too small'}", hint
    )


def _ideal_bits() -> float:
    f = BY_HAND_FREQS
    m = sum(f)
    return sum(math.log2(m / f[s]) for s in _message_indices())


# ------------------------------------------------------------------ ch11-ex-rans-decode
def _decode_cases() -> list[tuple[tuple[int, int, list[int]], list[int]]]:
    rng = np.random.default_rng(11)
    tables = [[4, 2, 1, 1], [2, 1, 1], [8, 4, 2, 1, 1], [1, 1], [3, 0, 5], [16]]
    cases = []
    msg = _message_indices()
    cases.append(((rans_encode_exact(msg, BY_HAND_FREQS), len(msg), list(BY_HAND_FREQS)), msg))
    for freqs in tables:
        probs = np.asarray(freqs, dtype=float) / sum(freqs)
        for n in (1, 5, 17):
            message = rng.choice(len(freqs), size=n, p=probs).tolist()
            cases.append(((rans_encode_exact(message, freqs), n, list(freqs)), message))
    return cases


def _diagnose_decode(args: tuple[Any, ...], got: Any, want: Any) -> str | None:
    g = as_numpy(got)
    if g is None or g.shape != (len(want),):
        return None
    if g.tolist() == list(reversed(want)) and list(want) != list(reversed(want)):
        return "the symbols come out last first: return them in the order they are popped"
    x, n, freqs = args
    m = sum(freqs)
    starts = [sum(freqs[:s]) for s in range(len(freqs))]
    x2, out = x, []
    for _ in range(n):  # the slip: x // f instead of f * (x // M)
        slot = x2 % m
        s = max(i for i in range(len(freqs)) if starts[i] <= slot and freqs[i] > 0)
        x2 = (x2 // m) + slot - starts[s]
        out.append(s)
    if g.tolist() == out:
        return "after reading the slot, the state must become f_s * (x // M) + slot - c_s"
    return None


@never_raises
def check_my_rans_decode(fn: Any) -> CheckResult:
    """Exercise ``ch11-ex-rans-decode``: ``my_rans_decode(x, n, freqs) -> list of n symbols``.

    Compared with :func:`rans_decode_exact` on the by-hand message and on
    random messages over six frequency tables (one with a zero frequency and
    one with a single symbol); the symbols must be integers.
    """

    def compare(got: Any, want: Any) -> bool:
        g = as_numpy(got)
        if g is None or g.shape != (len(want),):
            return False
        if g.size and not np.issubdtype(g.dtype, np.integer):
            return False
        return g.tolist() == list(want)

    return check_function(
        fn,
        _decode_cases(),
        name="my_rans_decode",
        compare=compare,
        hint="slot = x % M; s is the symbol with c_s <= slot < c_s + f_s; "
        "x = f_s * (x // M) + slot - c_s; repeat n times",
        diagnose=_diagnose_decode,
    )


# ------------------------------------------------------------------ ch11-ex-table-payback
#: Exercise ``ch11-ex-table-payback``: a previous-stage table for one stage, sent with the codes.
TABLE_COST: dict[str, float] = {
    "codebook_size": 256,
    "bits_per_entry": 16,
    "frame_rate": 125.0,
    "saving_bits_per_code": 0.9,
}


@never_raises
def check_table_payback(answer: Any) -> CheckResult:
    """Exercise ``ch11-ex-table-payback``: seconds of audio before sending the table pays off.

    The table holds ``K * K`` entries of ``bits_per_entry`` bits; the model saves
    ``saving_bits_per_code`` bits on each of the stage's ``frame_rate`` codes a
    second. Right to 3 significant figures.
    """
    c = TABLE_COST
    k, b, fr, s = (
        c["codebook_size"],
        c["bits_per_entry"],
        c["frame_rate"],
        c["saving_bits_per_code"],
    )
    table_bits = k * k * b
    expected = table_bits / (fr * s)
    mistakes = {
        "you counted K entries (one row); the table has a row of K entries for each of "
        "the K contexts": k * b / (fr * s),
        "you counted entries, not bits (each entry takes 16 bits)": k * k / (fr * s),
        "you divided the bits by 8: the saving is in bits too": table_bits / 8 / (fr * s),
        "you gave hours; the question asks seconds": expected / 3600,
        "you gave minutes; the question asks seconds": expected / 60,
        "you multiplied by the frame rate instead of dividing by it": table_bits * fr / s,
    }
    return check_close(
        answer,
        expected,
        name="the seconds before the table pays for itself",
        mistakes=mistakes,
        hint="bits of the table = K * K * 16; bits saved per second = 125 * 0.9; divide",
    )


# ------------------------------------------------------------------ ch11-ex-layout-steps
#: Exercise ``ch11-ex-layout-steps``: 10 s of Mimi's codes (12.5 frames/s, 8 codebooks).
STEPS_CONFIG: dict[str, float] = {"frame_rate": 12.5, "n_q": 8, "seconds": 10.0}


def _steps_expected() -> tuple[int, int, int]:
    c = STEPS_CONFIG
    t = round(c["frame_rate"] * c["seconds"])
    n_q = int(c["n_q"])
    moshi = t + 1  # delays (0, 1, ..., 1): the acoustic stages one step behind
    return sequence_length(t, n_q, "flatten"), sequence_length(t, n_q, "delay"), moshi


@never_raises
def check_layout_steps(answer: Any) -> CheckResult:
    """Exercise ``ch11-ex-layout-steps``: sequential steps ``(flatten, delay, moshi)``.

    For :data:`STEPS_CONFIG`: the flattened layout, MusicGen's delay pattern
    (stage ``q`` delayed by ``q``) and Moshi's (the semantic stage first, the
    seven acoustic stages one step behind it). Three exact integers.
    """
    name = "the steps (flatten, delay, Moshi)"
    hint = "T = 12.5 * 10 frames; flatten: T * n_q; delay: T + n_q - 1; Moshi: T + 1"
    if is_placeholder(answer):
        return wrong(name, "no answer yet", _PLACEHOLDER_HINT)
    if isinstance(answer, (str, bytes, dict)) or answer is None:
        return wrong(name, f"expected three whole numbers, got {type(answer).__name__}", hint)
    got = as_numpy(answer)
    if got is None or got.shape != (3,) or not np.issubdtype(got.dtype, np.number):
        return wrong(name, "expected three numbers (flatten, delay, Moshi)", hint)
    if not np.all(np.isfinite(got.astype(float))) or not np.all(np.mod(got, 1) == 0):
        return wrong(name, "steps are whole numbers", hint)
    vals = tuple(int(v) for v in got)
    flat, delay, moshi = _steps_expected()
    t = round(STEPS_CONFIG["frame_rate"] * STEPS_CONFIG["seconds"])
    n_q = int(STEPS_CONFIG["n_q"])
    if vals == (flat, delay, moshi):
        return right(name, f"= {vals}: {flat / delay:.1f}x more steps flattened than delayed")
    problems = []
    if vals[0] != flat:
        problems.append(
            "flatten: one token per step, so T * n_q steps"
            if vals[0] != t
            else f"flatten: {t} is the number of frames; each frame takes n_q = {n_q} steps"
        )
    if vals[1] != delay:
        if vals[1] == t + n_q:
            problems.append("delay: the last stage is n_q - 1 steps late, not n_q")
        elif vals[1] == t:
            problems.append("delay: the delayed stages need n_q - 1 steps after the last frame")
        else:
            problems.append("delay: T + n_q - 1 steps")
    if vals[2] != moshi:
        if vals[2] == delay:
            problems.append("Moshi: every acoustic stage is delayed by one step, not by q")
        elif vals[2] == t:
            problems.append("Moshi: the acoustic stages of the last frame need one more step")
        else:
            problems.append("Moshi: delays (0, 1, ..., 1) give T + 1 steps")
    return wrong(name, "; ".join(problems), hint)


# ------------------------------------------------------------------ ch11-ex-layout-choice
#: The options of exercise ``ch11-ex-layout-choice``, as the notebook prints them.
LAYOUT_OPTIONS: dict[str, str] = {
    "a": "parallel: all stages of a frame in one step",
    "b": "delay: stage q one step after stage q - 1",
    "c": "flatten: one stage per step",
    "d": "none: one step per frame rules it out",
}


@never_raises
def check_layout_choice(answer: Any) -> CheckResult:
    """Exercise ``ch11-ex-layout-choice`` (predict, then run).

    Which layout lets the model that generates stage ``q`` of frame ``t`` see
    stage ``q - 1`` of the same frame, while taking about one step per frame?
    Options ``"a"``..``"d"`` (:data:`LAYOUT_OPTIONS`); the answer is ``"b"``.
    """
    explanations = {
        "a": "the stages of a frame are generated together, so none of them sees another: "
        "the parallel model only sees earlier frames",
        "b": "stage q - 1 of frame t is generated at step t + q - 1, one step before stage q, "
        "and the sequence has T + n_q - 1 steps, about one a frame",
        "c": "flattening does let stage q see stage q - 1, but it takes n_q steps a frame",
        "d": "the delay pattern does it: shifting stage q by q steps puts the coarser stages "
        "of frame t in earlier steps without adding steps per frame",
    }
    return check_choice(
        answer,
        "b",
        name="the layout that sees the previous stage at one step a frame",
        options=list(LAYOUT_OPTIONS),
        explanations=explanations,
        aliases={"delay": "b", "delayed": "b", "parallel": "a", "flatten": "c", "flat": "c"},
    )
