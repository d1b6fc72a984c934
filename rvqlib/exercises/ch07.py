"""Checkers for the exercises of chapter 7, "Bitrate arithmetic".

Every expected value is computed here with :mod:`rvqlib.bitrate` from the
exercise's configuration (the module-level constants below, which the chapter
also prints), so the checkers cannot drift from the library. A wrong answer is
told which slip produces it when the slip is a common one (bits instead of
kilobits, ``K`` instead of ``log2 K``, natural logarithm, integer division, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rvqlib.bitrate import bitrate, empirical_entropy, frame_rate
from rvqlib.exercises._check import (
    CheckResult,
    _is_placeholder,
    _to_float,
    _wrong,
    check_choice,
    check_close,
    check_function,
    never_raises,
)

__all__ = [
    "BUDGET_CONFIG",
    "BY_HAND_CONFIG",
    "DAC_CONFIG",
    "ENTROPY_CODES",
    "ENTROPY_K",
    "PREDICT_CONFIG",
    "check_bitrate_by_hand",
    "check_dac_explain",
    "check_double_k_or_nq",
    "check_entropy_by_hand",
    "check_entropy_saving",
    "check_my_bitrate",
    "check_quantizers_for_budget",
]

#: Exercise ch07-ex-by-hand: a 16 kHz codec with hop 320 and 12 stages of 1024 codewords.
BY_HAND_CONFIG: dict[str, int] = {
    "sample_rate": 16_000,
    "hop": 320,
    "n_q": 12,
    "codebook_size": 1024,
}

#: Exercise ch07-ex-predict: the notes' 6 kbps configuration, before doubling K or n_q.
PREDICT_CONFIG: dict[str, int] = {
    "sample_rate": 24_000,
    "hop": 320,
    "n_q": 8,
    "codebook_size": 1024,
}

#: Exercise ch07-ex-dac: DAC at 44.1 kHz as the DAC paper describes it (Kumar et al., 2023).
DAC_CONFIG: dict[str, int] = {
    "sample_rate": 44_100,
    "hop": 512,
    "n_q": 9,
    "codebook_size": 1024,
}

#: Exercise ch07-ex-budget: EnCodec's 24 kHz frame rate and codebook size, and a channel budget.
BUDGET_CONFIG: dict[str, float] = {
    "sample_rate": 24_000,
    "hop": 320,
    "codebook_size": 1024,
    "budget_kbps": 10.0,
}

#: Exercise ch07-ex-entropy: eight codes from a codebook of ``ENTROPY_K`` entries.
ENTROPY_CODES: tuple[int, ...] = (0, 0, 0, 0, 1, 1, 2, 3)
ENTROPY_K: int = 4


def _kbps(cfg: dict[str, Any], **override: Any) -> float:
    c = {**cfg, **override}
    return bitrate(c["sample_rate"], c["hop"], c["n_q"], c["codebook_size"]) / 1000.0


@never_raises
def check_bitrate_by_hand(answer: Any) -> CheckResult:
    """Check exercise ``ch07-ex-by-hand``: the bitrate, in kbps, of :data:`BY_HAND_CONFIG`.

    Parameters
    ----------
    answer : number
        The reader's bitrate in kilobits per second.

    Returns
    -------
    CheckResult
    """
    c = BY_HAND_CONFIG
    fps = frame_rate(c["sample_rate"], c["hop"])
    bits = math.log2(c["codebook_size"])
    expected = _kbps(c)
    mistakes = {
        "you gave bits per second: divide by 1000 for kbps": expected * 1000.0,
        "you divided by 1024 (kibibits): codec papers use 1 kbps = 1000 bit/s": expected
        * 1000.0
        / 1024.0,
        "you multiplied by K instead of log2 K (an index needs log2 K bits, not K)": fps
        * c["n_q"]
        * c["codebook_size"]
        / 1000.0,
        "you used the natural logarithm: bits need log base 2": fps
        * c["n_q"]
        * math.log(c["codebook_size"])
        / 1000.0,
        "you forgot to multiply by the number of quantizers n_q": fps * bits / 1000.0,
        "you gave the bits per frame (n_q log2 K); multiply by the frame rate": c["n_q"] * bits,
        "you gave the frame rate (frames per second); multiply by the bits per frame": fps,
        "you kept the notes' 24 kHz sample rate: this codec runs at 16 kHz": _kbps(
            c, sample_rate=24_000
        ),
        "you kept the notes' 8 quantizers: this codec uses 12": _kbps(c, n_q=8),
    }
    return check_close(
        answer,
        expected,
        name="the bitrate in kbps",
        rtol=1e-6,
        mistakes=mistakes,
        hint="frame rate = sample_rate / hop; bits per frame = n_q * log2(K); multiply them",
    )


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> float | None:
    try:
        return _to_float(fn(*args))
    except Exception:  # the reader's code may raise anything; check_function reports it
        return None


#: Relative tolerance for an implemented bitrate: a float32 implementation is
#: exact to about 1e-7, so 1e-6 accepts it and still rejects every slip below
#: (the closest, integer division of 44100 / 512, is 0.15 % off).
IMPLEMENT_RTOL = 1e-6


@never_raises
def check_my_bitrate(fn: Any) -> CheckResult:
    """Check exercise ``ch07-ex-implement``: ``my_bitrate(sample_rate, hop, n_q, codebook_size)``.

    The reader's function must return bits per second as a float, with an exact
    (not integer-divided) frame rate and ``log2 K`` bits per stage, not rounded.
    Results are compared with a relative tolerance of :data:`IMPLEMENT_RTOL`,
    so a float32 implementation passes.

    Parameters
    ----------
    fn : callable
        The reader's ``my_bitrate``.

    Returns
    -------
    CheckResult
        A wrong implementation is told the first failing case, and the slip
        when it is a common one (kbps, integer division, ``log2 K`` rounded
        up, the natural logarithm).
    """
    name = "my_bitrate"
    cases_args = [
        (24_000, 320, 8, 1024),
        (24_000, 320, 4, 1024),
        (16_000, 320, 12, 1024),
        (44_100, 512, 9, 1024),
        (24_000, 1920, 8, 2048),
        (16_000, 320, 1, 1000),
    ]
    cases = [(args, bitrate(*args)) for args in cases_args]

    def near(got: float | None, want: float) -> bool:
        return got is not None and math.isclose(got, want, rel_tol=IMPLEMENT_RTOL)

    if not _is_placeholder(fn) and callable(fn):
        try:
            first = fn(*cases_args[0])
        except Exception:  # reported by check_function below
            first = 0.0
        if first is None or first is Ellipsis:
            return _wrong(
                name,
                "no answer yet (the function returns None)",
                "write the function's body, ending with a return",
            )
        dac = (44_100, 512, 9, 1024)
        got = _call(fn, dac)
        want = bitrate(*dac)
        if near(got, want / 1000.0):
            return _wrong(name, "it returns kbps; return bits per second", None)
        if near(got, (44_100 // 512) * 9 * 10):
            return _wrong(
                name,
                f"my_bitrate{dac} returned {got:g}: the frame rate was rounded down by "
                "integer division (44100 // 512 = 86, but 44100 / 512 = 86.13)",
                "use true division, sample_rate / hop",
            )
        if near(got, frame_rate(44_100, 512) * 9 * math.log(1024)):
            return _wrong(
                name,
                f"my_bitrate{dac} returned {got:g}: that is the natural logarithm of K "
                f"(ln 1024 = {math.log(1024):.3f}); bits need log base 2 "
                "(log2 1024 = 10)",
                "use math.log2(codebook_size)",
            )
        odd = (16_000, 320, 1, 1000)
        got = _call(fn, odd)
        if near(got, 50.0 * math.ceil(math.log2(1000))):
            return _wrong(
                name,
                f"my_bitrate{odd} returned {got:g}: log2(K) was rounded up to a whole number "
                "of bits; the formula uses log2(K) itself (9.97 bits for K = 1000)",
                None,
            )
    return check_function(
        fn,
        cases,
        name=name,
        compare=lambda got, want: near(_to_float(got), want),
        hint="return (sample_rate / hop) * n_q * log2(codebook_size)",
    )


@never_raises
def check_double_k_or_nq(choice: Any) -> CheckResult:
    """Check exercise ``ch07-ex-predict``: doubling ``K`` against doubling ``n_q``.

    Options: ``"K"`` (doubling the codebook size costs more bits per second),
    ``"n_q"`` (doubling the number of quantizers costs more) and ``"same"``.

    Parameters
    ----------
    choice : str
        The reader's prediction.

    Returns
    -------
    CheckResult
    """
    c = PREDICT_CONFIG
    base = _kbps(c)
    more_k = _kbps(c, codebook_size=2 * c["codebook_size"])
    more_q = _kbps(c, n_q=2 * c["n_q"])
    explanations = {
        "K": (
            f"doubling K adds only one bit per stage (log2 {2 * c['codebook_size']} = "
            f"{math.log2(2 * c['codebook_size']):g}): {base:g} -> {more_k:g} kbps, "
            f"while doubling n_q gives {more_q:g} kbps"
        ),
        "n_q": (
            f"bits per frame are n_q * log2 K, linear in n_q but logarithmic in K: "
            f"doubling n_q gives {base:g} -> {more_q:g} kbps, doubling K only {more_k:g} kbps"
        ),
        "same": (
            f"the formula n_q * log2 K treats them differently: {more_q:g} kbps "
            f"with 2 n_q against {more_k:g} kbps with 2 K"
        ),
    }
    expected = "n_q" if more_q > more_k else ("K" if more_k > more_q else "same")
    return check_choice(
        choice,
        expected,
        name="which doubling costs more bits per second",
        options=list(explanations),
        explanations=explanations,
    )


@never_raises
def check_dac_explain(choice: Any) -> CheckResult:
    """Check exercise ``ch07-ex-dac``: why DAC 44.1 kHz computes to 7.75 kbps, not 8.

    Options ``"a"`` to ``"d"`` as printed in the chapter.

    Parameters
    ----------
    choice : str
        The reader's option letter.

    Returns
    -------
    CheckResult
    """
    c = DAC_CONFIG
    fps = frame_rate(c["sample_rate"], c["hop"])
    kbps = _kbps(c)
    explanations = {
        "a": (
            "the formula counts fixed-length indices and no entropy coding; entropy coding "
            f"would make the stream smaller than {kbps:.2f} kbps, so it cannot explain a "
            "larger quoted figure"
        ),
        "b": (
            f"{c['sample_rate']} / {c['hop']} = {fps:.2f} frames per second is not a round "
            f"number; {fps:.2f} * {c['n_q']} * log2 {c['codebook_size']} = {kbps:.3f} kbps, "
            f"which the paper rounds to {round(kbps):d} kbps"
        ),
        "c": (
            f"DAC's codebooks have {c['codebook_size']} entries, a power of two, so each "
            f"index costs exactly {math.log2(c['codebook_size']):g} bits"
        ),
        "d": (
            "quantizer dropout is a training trick; at inference all the stages are sent "
            "and the bitrate is fixed"
        ),
    }
    return check_choice(
        choice,
        "b",
        name="why DAC's bitrate is 7.75 kbps",
        options=list(explanations),
        explanations=explanations,
    )


@never_raises
def check_quantizers_for_budget(n_q: Any) -> CheckResult:
    """Check exercise ``ch07-ex-budget``: the most quantizers that fit a channel budget.

    For :data:`BUDGET_CONFIG`, the answer is the largest whole ``n_q`` whose
    bitrate does not exceed ``budget_kbps``.

    Parameters
    ----------
    n_q : int
        The reader's number of quantizers.

    Returns
    -------
    CheckResult
    """
    c = BUDGET_CONFIG
    name = "the number of quantizers"
    per_stage = _kbps(c, n_q=1)
    exact = c["budget_kbps"] / per_stage
    expected = math.floor(exact + 1e-9)
    if _is_placeholder(n_q):
        return check_close(n_q, expected, name=name)
    got = _to_float(n_q)
    if got is not None and not float(got).is_integer():
        return _wrong(
            name,
            f"{got:g} is not a whole number: a frame sends a whole number of indices",
            f"each stage costs {per_stage:g} kbps; round the ratio so the budget is not exceeded",
        )
    if got is not None and got > expected:
        return _wrong(
            name,
            f"{got:g} stages need {got * per_stage:g} kbps, more than the "
            f"{c['budget_kbps']:g} kbps budget (you rounded up)",
            "round down",
        )
    return check_close(
        n_q,
        expected,
        name=name,
        hint=f"each stage costs {per_stage:g} kbps; how many fit in {c['budget_kbps']:g} kbps?",
    )


@never_raises
def check_entropy_by_hand(answer: Any) -> CheckResult:
    """Check exercise ``ch07-ex-entropy``: the empirical entropy of :data:`ENTROPY_CODES`.

    Parameters
    ----------
    answer : number
        The reader's entropy in bits per code.

    Returns
    -------
    CheckResult
    """
    import numpy as np

    codes = np.asarray(ENTROPY_CODES, dtype=np.int64)
    expected = float(empirical_entropy(codes, ENTROPY_K))
    counts = np.bincount(codes, minlength=ENTROPY_K)
    p = counts[counts > 0] / codes.size
    mistakes = {
        "you used the natural logarithm (that is nats, not bits)": float(-(p * np.log(p)).sum()),
        "you used log base 10": float(-(p * np.log10(p)).sum()),
        f"you gave log2 K, the fixed-length cost, not the entropy of these {codes.size} codes": (
            math.log2(ENTROPY_K)
        ),
        "you gave the saving per code, log2 K - H; the question asks for H itself": (
            math.log2(ENTROPY_K) - expected
        ),
        f"you gave the total for all {codes.size} codes; divide by {codes.size} (bits per code)": (
            codes.size * expected
        ),
    }
    return check_close(
        answer,
        expected,
        name="the empirical entropy in bits per code",
        mistakes=mistakes,
        hint="count each code, divide by the number of codes, then H = -sum p log2 p",
    )


@never_raises
def check_entropy_saving(answer: Any) -> CheckResult:
    """Check exercise ``ch07-ex-entropy``, second part: the bits saved on :data:`ENTROPY_CODES`.

    An ideal entropy coder spends the empirical entropy per code instead of
    ``log2 K`` bits; the saving on all the codes is their number times the gap.

    Parameters
    ----------
    answer : number
        The reader's saving, in bits, on all the codes together.

    Returns
    -------
    CheckResult
    """
    import numpy as np

    codes = np.asarray(ENTROPY_CODES, dtype=np.int64)
    n = int(codes.size)
    fixed = math.log2(ENTROPY_K)
    entropy = float(empirical_entropy(codes, ENTROPY_K))
    expected = n * (fixed - entropy)
    counts = np.bincount(codes, minlength=ENTROPY_K)
    p = counts[counts > 0] / n
    nats = float(-(p * np.log(p)).sum())
    mistakes = {
        f"you gave the saving per code, log2 K - H; multiply by the {n} codes": fixed - entropy,
        f"you gave the bits the entropy coder spends on the {n} codes (n H), not the saving": (
            n * entropy
        ),
        f"you gave the bits of the {n} fixed-length indices (n log2 K), not the saving": n * fixed,
        "you computed H with the natural logarithm (nats) and subtracted it from bits": n
        * (fixed - nats),
        "you gave the saving in nats (natural logarithms throughout); the question asks for bits": (
            n * (math.log(ENTROPY_K) - nats)
        ),
        "you gave the saving as a percentage of the fixed-length bits; give it in bits": 100.0
        * (fixed - entropy)
        / fixed,
    }
    return check_close(
        answer,
        expected,
        name=f"the bits saved on the {n} codes",
        mistakes=mistakes,
        hint=f"saving = number of codes * (log2 K - H), with log2 K = {fixed:g}",
    )
