"""Part 1: RVQ encode throughput, rvqlib against EnCodec, vector-quantize-pytorch and a floor.

Every implementation gets the same ``n_q`` codebooks and the same float32
input, runs under :func:`torch.inference_mode` with the same number of
threads, and is timed round-robin (see
:func:`benchmarks._common.interleaved_timings`); the median of the repeats is
reported.

The codes must agree. Greedy RVQ is deterministic, so two correct encoders can
only disagree where two codewords are at the same distance from a residual up
to float32 rounding (each library forms the distances with a different order
of operations). :func:`explain_differences` finds, for each vector whose codes
differ, the first stage where they part, recomputes that stage's residual and
both candidates' squared distances in float64, and checks that the two
distances are equal within the rounding error bound of a float32 distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ._common import interleaved_timings, latent_split, sampled_codebooks
from .peers import build_encoders

#: Unit roundoff of float32 (half the spacing of floats in [1, 2)).
U32: float = 2.0**-24

#: The implementation every other one's codes are compared with.
REFERENCE = "rvqlib rvq_encode"
FLOOR = "matmul+argmin floor"


def tie_tolerance_units(dim: int) -> float:
    """Tie threshold, in units of :data:`U32` times ``||r||^2 + ||e||^2``.

    A float32 squared distance ``||r||^2 - 2 r.e + ||e||^2`` with ``D`` terms
    per dot product is off by at most ``gamma_{D+2} (||r||^2 + 2|r.e| + ||e||^2)
    <= 2 (D + 2) u (||r||^2 + ||e||^2)`` (standard floating-point error bound,
    ``gamma_n = n u / (1 - n u)``), so two candidates whose exact distances are
    closer than that can be ordered either way by a correct float32 encoder.
    """
    return 2.0 * (dim + 2)


def explain_differences(
    z: torch.Tensor,
    codebooks: Sequence[torch.Tensor],
    ref: torch.Tensor,
    other: torch.Tensor,
    *,
    max_listed: int = 20,
) -> dict[str, Any]:
    """Check that every vector where ``other`` differs from ``ref`` is a float32 tie.

    Parameters
    ----------
    z : torch.Tensor
        ``(N, D)`` float32 input.
    codebooks : sequence of torch.Tensor
        The ``n_q`` float32 ``(K, D)`` codebooks both encoders used.
    ref, other : torch.Tensor
        ``(N, n_q)`` int64 codes.
    max_listed : int
        How many differences to list one by one.

    Returns
    -------
    dict
        ``vectors_differing`` (rows with any differing code), ``codes_differing``
        (entries), ``ties`` (rows whose first difference is a tie), ``all_ties``,
        ``max_gap_units`` (largest ``|d_a - d_b| / (u (||r||^2 + ||e||^2))``),
        ``tolerance_units``, ``ref_exactly_nearer`` (rows where ``ref``'s
        codeword is strictly nearer in float64), and ``listed`` (stage, both
        codes, both float64 distances and the gap in units, per difference).
    """
    ref = ref.reshape(ref.shape[0], -1)
    other = other.reshape(other.shape[0], -1)
    diff = ref != other
    rows = diff.any(dim=1).nonzero().flatten()
    tol = tie_tolerance_units(z.shape[-1])
    out: dict[str, Any] = {
        "vectors": int(ref.shape[0]),
        "vectors_differing": int(rows.numel()),
        "codes_differing": int(diff.sum()),
        "tolerance_units": tol,
    }
    if rows.numel() == 0:
        out.update(ties=0, all_ties=True, max_gap_units=0.0, ref_exactly_nearer=0, listed=[])
        return out
    stage = diff[rows].to(torch.int8).argmax(dim=1)  # first stage where the codes part
    books = torch.stack([cb.to(torch.float64) for cb in codebooks])  # (n_q, K, D)
    residual = z[rows].to(torch.float64)
    for j in range(books.shape[0]):
        before = (j < stage).unsqueeze(1)
        residual = residual - torch.where(before, books[j][ref[rows, j]], 0.0)
    a = ref[rows, stage]
    b = other[rows, stage]
    e_a, e_b = books[stage, a], books[stage, b]
    d_a = (residual - e_a).square().sum(dim=1)
    d_b = (residual - e_b).square().sum(dim=1)
    scale = residual.square().sum(dim=1) + torch.maximum(
        e_a.square().sum(dim=1), e_b.square().sum(dim=1)
    )
    gap = (d_a - d_b).abs() / (U32 * scale)
    is_tie = gap <= tol
    out.update(
        ties=int(is_tie.sum()),
        all_ties=bool(is_tie.all()),
        max_gap_units=float(gap.max()),
        ref_exactly_nearer=int((d_a < d_b).sum()),
        listed=[
            {
                "vector": int(rows[i]),
                "stage": int(stage[i]),
                "code_ref": int(a[i]),
                "code_other": int(b[i]),
                "dist_ref": float(d_a[i]),
                "dist_other": float(d_b[i]),
                "gap_units": float(gap[i]),
                "tie": bool(is_tie[i]),
            }
            for i in range(min(max_listed, rows.numel()))
        ],
    )
    return out


def run_encode(
    ns: Sequence[int],
    *,
    dim: int = 128,
    k: int = 1024,
    n_q: int = 8,
    repeats: int = 5,
    seed: int = 0,
    log: Any = print,
) -> dict[str, Any]:
    """Throughput of every available encoder at each ``N`` in ``ns``, and code agreement."""
    # codebooks made from one part of a draw, the vectors encoded from another
    train, z_all = latent_split((max(4 * k, 2 * n_q * k), max(ns)), dim, seed)
    codebooks = sampled_codebooks(train, n_q, k, seed + 1)
    encoders, skipped = build_encoders(codebooks)
    for name, why in skipped.items():
        log(f"  [skip] {name}: {why}")
    runs = []
    with torch.inference_mode():
        for n in ns:
            z = z_all[:n].contiguous()
            codes = {name: enc(z) for name, enc in encoders.items()}  # also warms up
            agreement = {
                name: explain_differences(z, codebooks, codes[REFERENCE], c)
                for name, c in codes.items()
                if name not in (REFERENCE, FLOOR)
            }
            timings = interleaved_timings(
                {name: (lambda enc=enc, z=z: enc(z)) for name, enc in encoders.items()},
                repeats=repeats,
                warmup=0,
            )
            impls = {
                name: {**t.as_dict(), "vectors_per_s": n / t.median} for name, t in timings.items()
            }
            runs.append({"n": n, "impls": impls, "agreement": agreement})
            log(
                f"  N={n}: "
                + ", ".join(f"{name} {v['vectors_per_s']:,.0f}/s" for name, v in impls.items())
            )
    return {
        "dim": dim,
        "k": k,
        "n_q": n_q,
        "repeats": repeats,
        "seed": seed,
        "skipped": skipped,
        "runs": runs,
    }
