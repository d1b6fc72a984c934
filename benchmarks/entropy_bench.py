"""The rANS coder on a minute of codec codes: bits against the ideal, and symbols per second.

Run standalone: ``python -m benchmarks.entropy_bench [--smoke] [--out DIR]``.
Prints a table and writes ``entropy.json`` to ``--out`` (default: a fresh temporary
folder). The published results are part ``entropy`` of :mod:`benchmarks.run`
(``python -m benchmarks.run --parts entropy --update`` reruns it alone), which
calls :func:`run_entropy` and writes its table into ``latest.md``.

The codes: ``frames`` frames of ``n_q`` stages of ``K``-entry codebooks (full
size 75 Hz x 60 s = 4,500 frames, 8 stages, K = 1024: 36,000 codes, a minute of
EnCodec at 6 kbps), from :func:`rvqlib.rvq.rvq_encode` of encoder-like vectors
with codebooks sampled stage by stage (:func:`benchmarks._common.sampled_codebooks`),
so their statistics are those of a residual quantizer rather than uniform
noise. Each model is timed coding all of them (encode, then decode, median of
``repeats`` round-robin runs; the round trip is checked):

- ``static``: one unigram model shared by all 36,000 codes;
- ``per stage``: one unigram model per stage, each stage a stream;
- ``previous frame``: an order-1 model per stage (``contexts="previous"``,
  a ``(K + 1, K)`` table);
- ``previous stage``: stage ``q`` conditioned on stage ``q - 1`` of the same
  frame (``contexts=codes[:, q - 1]``, a ``(K, K)`` table; stage 0 unigram);
- ``per symbol``: a dense ``(n, K)`` model (a language model's predictions),
  here smoothed unigrams with per-symbol noise.

Models are fitted on the codes they code (Krichevsky–Trofimov smoothing); the
table reports the coded bits, the ideal ``sum -log2 p`` under the same model,
their difference, and the nominal ``n log2 K``. A second table draws random
models with every probability at least ``2**-12`` and random or adversarial
streams and reports the worst excess over the ideal against the contract's
``1 % + 64`` bits. As a baseline, the 16-bit codes are also compressed with the
standard library's ``lzma`` and ``zlib``; on these clustered synthetic data
whole frames (all stages together) repeat often, which ``lzma``'s long matches
exploit and none of the models above (one stage at a time, one context at
most) can; even so it comes out longer than every model here (and than the
nominal length), because it codes bytes, not codes, with no model of their
frequencies. The ideal lengths leave out the cost of sending
the fitted models; the sparse context tables are smoothed towards uniform,
which is why ``previous frame`` gains little here. Timings on a shared machine
are noisy.
"""

from __future__ import annotations

import argparse
import json
import lzma
import math
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/entropy_bench.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

import numpy as np  # noqa: E402

from benchmarks._common import (  # noqa: E402
    interleaved_timings,
    latent_split,
    limit_threads,
    machine_info,
    sampled_codebooks,
)

FULL: dict[str, Any] = {
    "frames": 4500,
    "n_q": 8,
    "k": 1024,
    "dim": 64,
    "repeats": 5,
    "bound_trials": 300,
}
SMOKE: dict[str, Any] = {
    "frames": 600,
    "n_q": 4,
    "k": 256,
    "dim": 16,
    "repeats": 2,
    "bound_trials": 30,
}


def codec_codes(frames: int, n_q: int, k: int, dim: int, seed: int) -> np.ndarray:
    """``(frames, n_q)`` RVQ codes of encoder-like vectors (see the module docstring)."""
    import torch

    from rvqlib.rvq import rvq_encode

    # codebooks made from one part of a draw, the coded frames from another
    train, z = latent_split((max(2 * frames, 2 * n_q * k), frames), dim, seed)
    books = sampled_codebooks(train, n_q, k, seed + 1)
    with torch.inference_mode():
        codes = rvq_encode(z, books)
    return codes.numpy().astype(np.int64)


def _streams(codes: np.ndarray, k: int, rng: np.random.Generator) -> dict[str, list[dict]]:
    """For each model: the list of streams ``{symbols, probs, contexts}`` that code all codes."""
    from rvqlib.entropy import frequency_model

    n_q = codes.shape[1]
    flat = codes.reshape(-1)
    models: dict[str, list[dict]] = {}
    models["static"] = [{"symbols": flat, "probs": frequency_model(flat, k), "contexts": None}]
    models["per stage"] = [
        {"symbols": codes[:, q], "probs": frequency_model(codes[:, q], k), "contexts": None}
        for q in range(n_q)
    ]
    models["previous frame"] = [
        {
            "symbols": codes[:, q],
            "probs": frequency_model(codes[:, q], k, contexts="previous"),
            "contexts": "previous",
        }
        for q in range(n_q)
    ]
    prev_stage = [models["per stage"][0]]
    for q in range(1, n_q):
        ctx = codes[:, q - 1]
        prev_stage.append(
            {
                "symbols": codes[:, q],
                "probs": frequency_model(codes[:, q], k, contexts=ctx, n_contexts=k),
                "contexts": ctx,
            }
        )
    models["previous stage"] = prev_stage
    uni = frequency_model(flat, k)
    noise = rng.gamma(20.0, 1 / 20.0, size=(flat.size, k))
    per_symbol = uni * noise
    per_symbol /= per_symbol.sum(axis=1, keepdims=True)
    models["per symbol"] = [{"symbols": flat, "probs": per_symbol, "contexts": None}]
    return models


def run_entropy(
    *,
    frames: int = 4500,
    n_q: int = 8,
    k: int = 1024,
    dim: int = 64,
    repeats: int = 5,
    bound_trials: int = 300,
    seed: int = 0,
    log: Any = print,
) -> dict[str, Any]:
    """Bits, ideal bits and coding speed of each model; the worst excess over the bound."""
    from rvqlib.entropy import entropy_decode, entropy_encode, ideal_length

    rng = np.random.default_rng(seed)
    codes = codec_codes(frames, n_q, k, dim, seed)
    n = codes.size
    nominal = n * math.log2(k)
    results: dict[str, Any] = {
        "n_symbols": n,
        "frames": frames,
        "n_q": n_q,
        "k": k,
        "nominal_bits": nominal,
        "models": {},
    }
    for name, streams in _streams(codes, k, rng).items():
        datas = [entropy_encode(s["symbols"], s["probs"], contexts=s["contexts"]) for s in streams]
        for s, data in zip(streams, datas, strict=True):
            out = entropy_decode(data, s["probs"], len(s["symbols"]), contexts=s["contexts"])
            if not np.array_equal(out, s["symbols"]):
                raise AssertionError(f"{name}: the round trip changed the codes")
        coded = sum(8 * len(d) for d in datas)
        ideal = sum(ideal_length(s["symbols"], s["probs"], contexts=s["contexts"]) for s in streams)

        def encode_all(streams: list[dict] = streams) -> None:
            for s in streams:
                entropy_encode(s["symbols"], s["probs"], contexts=s["contexts"])

        def decode_all(streams: list[dict] = streams, datas: list[bytes] = datas) -> None:
            for s, d in zip(streams, datas, strict=True):
                entropy_decode(d, s["probs"], len(s["symbols"]), contexts=s["contexts"])

        t = interleaved_timings({"encode": encode_all, "decode": decode_all}, repeats, warmup=1)
        results["models"][name] = {
            "streams": len(streams),
            "coded_bits": coded,
            "ideal_bits": ideal,
            "excess_bits": coded - ideal,
            "excess_relative": (coded - ideal) / ideal if ideal else math.nan,
            "bits_per_code": coded / n,
            "ideal_bits_per_code": ideal / n,
            "encode": t["encode"].as_dict(),
            "decode": t["decode"].as_dict(),
            "encode_symbols_per_s": n / t["encode"].median,
            "decode_symbols_per_s": n / t["decode"].median,
        }
        log(f"  {name}: {coded} bits, ideal {ideal:.0f}", flush=True)
    raw = codes.astype("<u2").tobytes()
    results["general_purpose"] = {
        "lzma_bits": 8 * len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)),
        "zlib_bits": 8 * len(zlib.compress(raw, 9)),
        "raw_16bit_bits": 8 * len(raw),
    }
    results["bound"] = _bound_check(bound_trials, rng)
    return results


def _bound_check(trials: int, rng: np.random.Generator) -> dict[str, Any]:
    """Random models with every probability >= 2**-12: the worst excess over the ideal."""
    from rvqlib.entropy import entropy_encode, ideal_length

    worst_slack = -math.inf
    worst_excess = -math.inf
    worst_relative_long = 0.0
    floor = 2.0**-12
    for _ in range(trials):
        k = int(rng.integers(1, 4097))
        n = int(rng.choice([1, 10, 100, 1000, 10_000, 36_000]))
        p = floor + (1 - k * floor) * rng.dirichlet(np.full(k, rng.choice([0.02, 0.3, 3.0])))
        kind = int(rng.integers(3))
        if kind == 0:
            s = rng.choice(k, size=n, p=p)
        else:  # adversarial: the likeliest symbol only, or the rarest only
            s = np.full(n, int(np.argmax(p) if kind == 1 else np.argmin(p)))
        bits = 8 * len(entropy_encode(s, p))
        ideal = ideal_length(s, p)
        worst_slack = max(worst_slack, bits - (1.01 * ideal + 64))
        worst_excess = max(worst_excess, bits - ideal)
        if ideal >= 1e5:
            worst_relative_long = max(worst_relative_long, (bits - ideal) / ideal)
    return {
        "trials": trials,
        "worst_excess_bits": worst_excess,
        "worst_bits_minus_bound": worst_slack,
        "bound_met": worst_slack <= 0,
        "worst_relative_excess_for_ideal_over_1e5_bits": worst_relative_long,
    }


def print_table(results: dict[str, Any], log: Any = print) -> None:
    """The models table, the general-purpose baselines and the bound check."""
    n, nominal = results["n_symbols"], results["nominal_bits"]
    log(
        f"\nEntropy coding {n} codes ({results['frames']} frames x {results['n_q']} stages, "
        f"K = {results['k']}); nominal n log2 K = {nominal:.0f} bits"
    )
    log(
        f"{'model':<16} {'bits':>9} {'ideal':>11} {'excess':>8} {'bits/code':>10} "
        f"{'of nominal':>10} {'enc Msym/s':>10} {'dec Msym/s':>10}"
    )
    for name, m in results["models"].items():
        log(
            f"{name:<16} {m['coded_bits']:>9} {m['ideal_bits']:>11.1f} {m['excess_bits']:>8.1f} "
            f"{m['bits_per_code']:>10.3f} {m['coded_bits'] / nominal:>10.3f} "
            f"{m['encode_symbols_per_s'] / 1e6:>10.3f} {m['decode_symbols_per_s'] / 1e6:>10.3f}"
        )
    gp = results["general_purpose"]
    for name in ("lzma", "zlib"):
        bits = gp[f"{name}_bits"]
        log(
            f"{name + ' (16-bit)':<16} {bits:>9} {'':>11} {'':>8} {bits / n:>10.3f} "
            f"{bits / nominal:>10.3f}"
        )
    b = results["bound"]
    log(
        f"\nContract bound (every p >= 2**-12): {b['trials']} random/adversarial cases, worst "
        f"excess {b['worst_excess_bits']:.1f} bits, worst (bits - (1.01 ideal + 64)) = "
        f"{b['worst_bits_minus_bound']:.1f} bits -> {'met' if b['bound_met'] else 'NOT MET'}"
    )


def markdown(entropy_results: dict[str, Any]) -> str:
    """The coder's table as markdown (no heading), for the benchmarks appendix.

    Parameters
    ----------
    entropy_results : dict
        What :func:`run_entropy` returns (``results["entropy"]`` of ``latest.json``).

    Returns
    -------
    str
        One row per model: coded bits per code against the ideal under the same
        model, the share of the nominal ``log2 K`` bits, and the median encode and
        decode speed in symbols per second; rows for ``lzma`` and ``zlib`` on the
        16-bit codes; then the bound check.
    """
    r = entropy_results
    n, nominal = r["n_symbols"], r["nominal_bits"]
    header = [
        "model",
        "streams",
        "bits / code",
        "ideal bits / code",
        "excess (bits)",
        "of nominal",
        "encode (symbols/s)",
        "decode (symbols/s)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, m in r["models"].items():
        cells = [
            name,
            str(m["streams"]),
            f"{m['bits_per_code']:.3f}",
            f"{m['ideal_bits_per_code']:.3f}",
            f"{m['excess_bits']:.1f}",
            f"{m['coded_bits'] / nominal:.3f}",
            f"{m['encode_symbols_per_s']:,.0f}",
            f"{m['decode_symbols_per_s']:,.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    gp = r["general_purpose"]
    for name in ("lzma", "zlib"):
        bits = gp[f"{name}_bits"]
        cells = [f"{name} (16-bit codes)", "1", f"{bits / n:.3f}", "-", "-"]
        cells += [f"{bits / nominal:.3f}", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    b = r["bound"]
    lines += [
        "",
        f"Bound check: {b['trials']} random and adversarial streams with every probability "
        f"at least 2⁻¹²; worst excess over the ideal {b['worst_excess_bits']:.1f} bits, worst "
        f"bits - (1.01 ideal + 64) = {b['worst_bits_minus_bound']:.1f} bits "
        f"({'met' if b['bound_met'] else 'NOT MET'}).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the tables and write ``entropy.json``; return the results."""
    p = argparse.ArgumentParser(description="rvqlib's rANS coder on a minute of codec codes.")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--out", type=Path, default=None, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (default 1)")
    args = p.parse_args(argv)
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="rvqbench-entropy-"))
    out.mkdir(parents=True, exist_ok=True)
    limit_threads(args.threads)
    cfg = SMOKE if args.smoke else FULL
    t0 = time.perf_counter()
    results = {
        "command": "python -m benchmarks.entropy_bench" + (" --smoke" if args.smoke else ""),
        "smoke": args.smoke,
        "machine": machine_info(),
        "config": cfg,
        "entropy": run_entropy(**cfg, seed=args.seed),
    }
    results["wall_s"] = time.perf_counter() - t0
    print_table(results["entropy"])
    (out / "entropy.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {out / 'entropy.json'} in {results['wall_s']:.1f} s")
    return results


if __name__ == "__main__":
    main()
