"""FSQ, LFQ and residual FSQ: rvqlib against vector-quantize-pytorch, same inputs.

Run standalone: ``python -m benchmarks.fsq_bench [--smoke] [--out DIR] [--threads N]``.
Prints a table and writes ``fsq.json`` to ``--out`` (default: a fresh temporary
folder). The published results are part ``fsq`` of :mod:`benchmarks.run`
(``python -m benchmarks.run --parts fsq --update`` reruns it alone), which
calls :func:`run_fsq` and writes its table into ``latest.md``.

Each comparison quantizes the *same* float32 tensor ``(B, T, D)`` with both
libraries, in ``eval()`` mode under ``torch.inference_mode()`` (no gradients,
no dropout), and reports

- **code agreement**: the fraction of vectors whose codes are equal after the
  conventions are matched (below), and the largest difference of the
  quantized values;
- **speed**: median wall time of the forward pass of each, timed round-robin,
  and the ratio peer time / rvqlib time (> 1: rvqlib is faster).

Matching the conventions (vector-quantize-pytorch 1.32.0):

- ``FSQ``: rvqlib's bound is the symmetric one, ``L`` values from -1 to 1
  (:func:`rvqlib.fsq.fsq`); the peer's ``FSQ(levels, preserve_symmetry=True)``
  computes the same values (``floor((L-1)(tanh(z)+1)/2 + 1/2)``), and both
  number codes mixed-radix with coordinate 0 least significant, so codes are
  compared as they are; they can differ only where a bounded value falls
  exactly on a cell edge (a tie, which the two round differently) or within
  float32 rounding of it. The peer's *default* bound
  (Mentzer et al.'s ``round(tanh(z) * (1 + 1e-3)(L-1)/2)`` for odd ``L``) has
  the same values for odd levels but cell edges moved by the factor
  ``1 + 1e-3``; it is reported with odd levels to show that difference. For even
  levels the default values ``{-L/2, ..., L/2 - 1} / (L/2)`` are a different
  set, so no mapping exists.
- ``LFQ``: both quantize to ``+-1`` by sign; the peer maps 0 to ``-1`` (rvqlib
  to ``+1``: a tie of probability 0 for continuous inputs) and makes
  coordinate 0 the *most* significant bit, so rvqlib's codes are bit-reversed
  before comparing. The entropy terms are compared too: the peer's
  ``inv_temperature`` is ``1 / temperature``; it clamps probabilities at
  ``1e-5`` inside the logarithm, rvqlib computes the per-sample entropy
  exactly from the factorised bits, so small differences remain.
- ``ResidualFSQ``: both scale stage ``i`` by ``levels ** -i`` and round the
  clamped residual symmetrically. Both soft-clamp the input first,
  ``tanh(x / c) * c``, the peer with ``c = 1 + 1/(L-1)`` whatever the number
  of stages, rvqlib with ``kappa = 1 + 1/L + ... + L**(1 - n_q)`` (the
  outermost value of its grid; :meth:`rvqlib.fsq.ResidualFSQ.bound_scale`);
  the peer is therefore fed ``c * atanh(t / c)`` with rvqlib's bounded value
  ``t = kappa * tanh(z / kappa)``, so that its first stage sees the same
  ``t``. Codes are compared stage by stage; they can differ where the
  round trip through ``atanh`` moves ``t`` across a cell edge of a fine stage.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/fsq_bench.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

import torch  # noqa: E402

from benchmarks._common import interleaved_timings, limit_threads, machine_info  # noqa: E402

PEER = "vector-quantize-pytorch"

FULL: dict[str, Any] = {
    "batch": 16,
    "frames": 4096,
    "fsq_levels": [8, 5, 5, 5],
    "fsq_odd_levels": [7, 5, 5, 5],
    "lfq_dim": 10,
    "rfsq_levels": [8, 5, 5, 5],
    "rfsq_n_q": 4,
    "repeats": 9,
}
SMOKE: dict[str, Any] = {**FULL, "batch": 2, "frames": 256, "repeats": 2}


def _peer() -> Any:
    try:
        import vector_quantize_pytorch as vqp
    except ImportError:
        return None
    return vqp


def _bit_reverse(codes: torch.Tensor, dim: int) -> torch.Tensor:
    out = torch.zeros_like(codes)
    for d in range(dim):
        out |= ((codes >> d) & 1) << (dim - 1 - d)
    return out


def _compare(
    name: str,
    fns: dict[str, Any],
    repeats: int,
    agreement: dict[str, Any],
    n_vectors: int,
) -> dict[str, Any]:
    timings = interleaved_timings(fns, repeats=repeats, warmup=1)
    entry: dict[str, Any] = {
        "n_vectors": n_vectors,
        "agreement": agreement,
        "timings": {impl: t.as_dict() for impl, t in timings.items()},
    }
    names = list(fns)
    if len(names) == 2:
        ours, peer = names
        entry["speed_ratio_peer_over_rvqlib"] = timings[peer].median / timings[ours].median
    return entry


def run_fsq(
    *,
    batch: int = 16,
    frames: int = 4096,
    fsq_levels: list[int] | None = None,
    fsq_odd_levels: list[int] | None = None,
    lfq_dim: int = 10,
    rfsq_levels: list[int] | None = None,
    rfsq_n_q: int = 4,
    repeats: int = 9,
    seed: int = 0,
    log: Any = print,
) -> dict[str, Any]:
    """Codes compared and forward passes timed, for FSQ, LFQ and residual FSQ."""
    from rvqlib.fsq import FSQ, LFQ, ResidualFSQ, fsq, lfq

    fsq_levels = fsq_levels or FULL["fsq_levels"]
    fsq_odd_levels = fsq_odd_levels or FULL["fsq_odd_levels"]
    rfsq_levels = rfsq_levels or FULL["rfsq_levels"]
    vqp = _peer()
    results: dict[str, Any] = {"peer": PEER if vqp else None, "comparisons": {}}
    if vqp is None:
        log(f"  [skip] {PEER}: not installed (pip install -r benchmarks/requirements.txt)")
    gen = torch.Generator().manual_seed(seed)
    n = batch * frames
    comps = results["comparisons"]

    with torch.inference_mode():
        # ------------------------------------------------------------ FSQ
        for label, levels, symmetric in (
            ("FSQ", fsq_levels, True),
            ("FSQ (peer default bound, odd levels)", fsq_odd_levels, False),
        ):
            z = 2.0 * torch.randn(batch, frames, len(levels), generator=gen)
            ours = FSQ(levels).eval()
            zq, codes, _ = ours(z)
            fns: dict[str, Any] = {"rvqlib FSQ": lambda m=ours, z=z: m(z)}
            agreement: dict[str, Any] = {"levels": levels}
            if vqp is not None:
                peer = vqp.FSQ(levels, preserve_symmetry=symmetric).eval()
                p_zq, p_codes = peer(z)
                agreement["codes_equal_fraction"] = float((p_codes.long() == codes).double().mean())
                agreement["vectors_differing"] = int((p_codes.long() != codes).sum())
                if symmetric:
                    agreement["max_abs_value_difference"] = float((p_zq - zq).abs().max())
                agreement["peer_options"] = f"preserve_symmetry={symmetric}"
                fns[f"{PEER} FSQ"] = lambda m=peer, z=z: m(z)
            # the functional form on numpy input, for reference
            z_np = z.numpy()
            fns_np = {"rvqlib fsq (numpy)": lambda z=z_np, lv=levels: fsq(z, lv)}
            entry = _compare(label, fns, repeats, agreement, n)
            entry["timings"].update(
                {k: v.as_dict() for k, v in interleaved_timings(fns_np, repeats, 1).items()}
            )
            comps[label] = entry

        # ------------------------------------------------------------ LFQ
        z = torch.randn(batch, frames, lfq_dim, generator=gen)
        ours_l = LFQ(lfq_dim, commitment_weight=0.0)
        codes, zq = lfq(z)
        # quantization alone: rvqlib's function against the peer's eval() forward, which
        # skips its entropy terms (rvqlib's module computes them in both modes)
        fns = {"rvqlib lfq": lambda z=z: lfq(z)}
        agreement = {"dim": lfq_dim}
        if vqp is not None:
            peer_l = vqp.LFQ(dim=lfq_dim, entropy_loss_weight=0.1, commitment_loss_weight=0.0)
            peer_l.train()  # the peer computes its entropy terms in training mode only
            (p_zq, p_codes, _), breakdown = peer_l(z, return_loss_breakdown=True)
            mapped = _bit_reverse(codes, lfq_dim)
            agreement["codes_equal_fraction_after_bit_reversal"] = float(
                (p_codes.long() == mapped).double().mean()
            )
            agreement["values_equal"] = bool(torch.equal(p_zq, zq))
            ent = {}
            for temperature in (0.01, 1.0):
                (_, _, _), br = peer_l(
                    z, inv_temperature=1 / temperature, return_loss_breakdown=True
                )
                mine = LFQ(lfq_dim, temperature=temperature).entropies(z)
                ent[f"temperature={temperature}"] = {
                    "rvqlib_per_sample": float(mine["per_sample"]),
                    "peer_per_sample": float(br.per_sample_entropy),
                    "rvqlib_codebook": float(mine["codebook"]),
                    "peer_codebook": float(br.batch_entropy),
                }
            agreement["entropy_terms_nats"] = ent
            del breakdown
            peer_l.eval()
            fns[f"{PEER} LFQ (eval)"] = lambda m=peer_l, z=z: m(z)
        comps["LFQ"] = _compare("LFQ", fns, repeats, agreement, n)
        # the training-mode forward with the entropy terms (what a training step pays)
        train_fns = {"rvqlib LFQ (train, entropy terms)": lambda m=ours_l, z=z: m.train()(z)}
        if vqp is not None:
            train_fns[f"{PEER} LFQ (train, entropy terms)"] = lambda m=peer_l, z=z: m.train()(z)
        comps["LFQ, training forward"] = _compare(
            "LFQ, training forward", train_fns, repeats, {"dim": lfq_dim}, n
        )

        # ------------------------------------------------------------ ResidualFSQ
        z = 2.0 * torch.randn(batch, frames, len(rfsq_levels), generator=gen)
        ours_r = ResidualFSQ(rfsq_levels, rfsq_n_q).eval()
        zq, codes, _ = ours_r(z)
        fns = {"rvqlib ResidualFSQ": lambda m=ours_r, z=z: m(z)}
        agreement = {"levels": rfsq_levels, "n_q": rfsq_n_q}
        if vqp is not None:
            peer_r = vqp.ResidualFSQ(
                levels=rfsq_levels, num_quantizers=rfsq_n_q, dim=len(rfsq_levels)
            ).eval()
            c = 1 + 1 / (torch.tensor(rfsq_levels, dtype=torch.float32) - 1)
            kappa = ours_r.bound_scale(torch.float32)
            z_peer = c * torch.atanh(kappa * torch.tanh(z / kappa) / c)
            p_zq, p_codes = peer_r(z_peer)
            agreement["codes_equal_fraction_per_stage"] = [
                float((p_codes[..., i].long() == codes[..., i]).double().mean())
                for i in range(rfsq_n_q)
            ]
            agreement["max_abs_value_difference"] = float((p_zq - zq).abs().max())
            agreement["peer_input"] = (
                "c * atanh(kappa * tanh(z / kappa) / c), c = 1 + 1/(L-1), "
                "kappa = 1 + 1/L + ... + L**(1 - n_q)"
            )
            fns[f"{PEER} ResidualFSQ"] = lambda m=peer_r, z=z_peer: m(z)
        comps["ResidualFSQ"] = _compare("ResidualFSQ", fns, repeats, agreement, n)
    return results


def print_table(results: dict[str, Any], log: Any = print) -> None:
    """One line per implementation: median time, vectors/s, and agreement per comparison."""
    log("\nFSQ / LFQ / ResidualFSQ against vector-quantize-pytorch (same float32 inputs)")
    log(f"{'comparison':<40} {'implementation':<44} {'median ms':>10} {'Mvec/s':>8}")
    for name, entry in results["comparisons"].items():
        n = entry["n_vectors"]
        for impl, t in entry["timings"].items():
            med = t["median_s"]
            log(f"{name:<40} {impl:<44} {1e3 * med:>10.2f} {n / med / 1e6:>8.2f}")
        ratio = entry.get("speed_ratio_peer_over_rvqlib")
        if ratio is not None:
            log(f"{'':<40} {'peer time / rvqlib time':<44} {ratio:>10.2f}")
        agr = entry["agreement"]
        for key in (
            "codes_equal_fraction",
            "codes_equal_fraction_after_bit_reversal",
            "codes_equal_fraction_per_stage",
            "max_abs_value_difference",
        ):
            if key in agr:
                log(f"{'':<40} {key:<44} {agr[key]!s:>10}")
        for temp, ent in agr.get("entropy_terms_nats", {}).items():
            log(
                f"{'':<40} entropies at {temp}: per-sample {ent['rvqlib_per_sample']:.5f} vs "
                f"{ent['peer_per_sample']:.5f}, codebook {ent['rvqlib_codebook']:.5f} vs "
                f"{ent['peer_codebook']:.5f}"
            )


def _agreement_text(agr: dict[str, Any]) -> str:
    """The code agreement of one comparison, in words, for a table cell."""
    if "codes_equal_fraction" in agr:
        text = f"{100 * agr['codes_equal_fraction']:.2f} % equal codes"
        if "max_abs_value_difference" in agr:
            text += f", values within {agr['max_abs_value_difference']:.1e}"
        return text
    if "codes_equal_fraction_after_bit_reversal" in agr:
        text = f"{100 * agr['codes_equal_fraction_after_bit_reversal']:.2f} % equal codes"
        text += " (bits reversed)"
        if agr.get("values_equal"):
            text += ", equal values"
        return text
    if "codes_equal_fraction_per_stage" in agr:
        stages = ", ".join(f"{100 * f:.3f}" for f in agr["codes_equal_fraction_per_stage"])
        return f"equal codes per stage (%): {stages}"
    return "speed only"


def markdown(fsq_results: dict[str, Any]) -> str:
    """The comparison as a markdown table (no heading), for the benchmarks appendix.

    Parameters
    ----------
    fsq_results : dict
        What :func:`run_fsq` returns (``results["fsq"]`` of ``fsq.json``).

    Returns
    -------
    str
        One row per comparison: rvqlib's and the peer's median time, the
        speed ratio and the agreement of the codes; then the LFQ entropy
        terms at both temperatures.
    """
    peer = fsq_results.get("peer")
    header = ["comparison", "rvqlib (ms)", f"{peer or 'peer'} (ms)", "peer / rvqlib", "codes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, entry in fsq_results["comparisons"].items():
        times = {impl: t["median_s"] for impl, t in entry["timings"].items()}
        ours = next((t for impl, t in times.items() if impl.startswith("rvqlib")), None)
        theirs = next((t for impl, t in times.items() if peer and impl.startswith(peer)), None)
        ratio = entry.get("speed_ratio_peer_over_rvqlib")
        cells = [
            name,
            f"{1e3 * ours:.2f}" if ours is not None else "-",
            f"{1e3 * theirs:.2f}" if theirs is not None else "skipped",
            f"{ratio:.2f}" if ratio is not None else "-",
            _agreement_text(entry["agreement"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    out = "\n".join(lines)
    lfq = fsq_results["comparisons"].get("LFQ", {}).get("agreement", {})
    ent = lfq.get("entropy_terms_nats")
    if ent:
        parts = [
            f"{temp.replace('temperature=', 'τ = ')}: per-sample {e['rvqlib_per_sample']:.4f} "
            f"vs {e['peer_per_sample']:.4f}, codebook {e['rvqlib_codebook']:.4f} "
            f"vs {e['peer_codebook']:.4f}"
            for temp, e in ent.items()
        ]
        out += "\n\nLFQ entropy terms in nats (rvqlib vs peer): " + "; ".join(parts) + "."
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison, print the table and write ``fsq.json``; return the results."""
    p = argparse.ArgumentParser(description="rvqlib FSQ/LFQ against vector-quantize-pytorch.")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--out", type=Path, default=None, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="rvqbench-fsq-"))
    out.mkdir(parents=True, exist_ok=True)
    limit_threads(args.threads)
    cfg = SMOKE if args.smoke else FULL
    t0 = time.perf_counter()
    results = {
        "command": "python -m benchmarks.fsq_bench" + (" --smoke" if args.smoke else ""),
        "smoke": args.smoke,
        "machine": machine_info(),
        "config": cfg,
        "fsq": run_fsq(**cfg, seed=args.seed),
    }
    results["wall_s"] = time.perf_counter() - t0
    print_table(results["fsq"])
    (out / "fsq.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {out / 'fsq.json'} in {results['wall_s']:.1f} s")
    return results


if __name__ == "__main__":
    main()
