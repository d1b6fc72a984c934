"""Part 2: how encode cost grows with N, K and n_q, and how peak memory grows with N.

Times: ``rvq_encode`` (rvqlib) and the matmul+argmin floor in every sweep, and
EnCodec's RVQ (when installed) in the N sweep, each the median and the fastest
of a few round-robin repeats (the figure shows the fastest: on a shared
machine it is the least disturbed estimate of the cost itself). Codebooks are
Gaussian with a scale shrinking by 0.8 per stage (only the sizes matter for
time). Memory: one fresh process per point
(:mod:`benchmarks.memprobe`), peak extra resident memory of one encode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ._common import interleaved_timings, latent_vectors
from .peers import encodec_encoder, matmul_floor, rvqlib_function_encoder

ROOT = Path(__file__).resolve().parent.parent


def _codebooks(n_q: int, k: int, dim: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(k, dim, generator=gen) * 0.8**i for i in range(n_q)]


def _time_point(
    z: torch.Tensor, n_q: int, k: int, repeats: int, seed: int, with_encodec: bool
) -> tuple[dict[str, float], dict[str, float]]:
    cbs = _codebooks(n_q, k, z.shape[1], seed)
    fns = {"rvqlib": rvqlib_function_encoder(cbs), "floor": matmul_floor(cbs)}
    if with_encodec:
        enc = encodec_encoder(cbs)
        if enc is not None:
            fns["encodec"] = enc
    with torch.inference_mode():
        timings = interleaved_timings(
            {name: (lambda f=f: f(z)) for name, f in fns.items()}, repeats=repeats, warmup=1
        )
    return {name: t.median for name, t in timings.items()}, {
        name: t.best for name, t in timings.items()
    }


def _sweep(
    axis: str,
    values: Sequence[int],
    base: dict[str, int],
    z_all: torch.Tensor,
    repeats: int,
    seed: int,
    log: Any,
) -> dict[str, Any]:
    points = []
    for v in values:
        cfg = {**base, axis: v}
        z = z_all[: cfg["n"]].contiguous()
        med, best = _time_point(z, cfg["n_q"], cfg["k"], repeats, seed, with_encodec=axis == "n")
        points.append({**cfg, "median_s": med, "min_s": best})
        log(f"  {axis}={v}: " + ", ".join(f"{name} {s * 1e3:.1f} ms" for name, s in med.items()))
    return {"axis": axis, "base": base, "points": points}


#: glibc's malloc otherwise raises its mmap threshold after the first large free, and
#: later buffers of that size come from (and stay in) the heap: whether a buffer counts
#: as new resident memory would depend on what the process freed before. With a fixed
#: threshold every buffer of 64 KiB or more is mapped when allocated and unmapped when
#: freed, so the high-water mark of the measured call is its own peak of live buffers.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def probe_memory(impl: str, n: int, dim: int, k: int, n_q: int, runs: int = 1) -> dict[str, Any]:
    """Run :mod:`benchmarks.memprobe` ``runs`` times, each in a fresh interpreter.

    Returns the first run's JSON fields with ``peak_extra_bytes`` the largest of the
    runs and ``peak_extra_runs`` all of them (their spread shows how reproducible the
    figure is).
    """
    cmd = [sys.executable, "-m", "benchmarks.memprobe", "--impl", impl, "--n", str(n)]
    cmd += ["--dim", str(dim), "--k", str(k), "--n-q", str(n_q)]
    cmd += ["--threads", str(torch.get_num_threads())]
    env = {**os.environ, **MALLOC_ENV}
    results = []
    for _ in range(runs):
        res = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False, env=env
        )
        if res.returncode != 0:
            return {"impl": impl, "n": n, "skipped": f"probe failed: {res.stderr.strip()[-300:]}"}
        results.append(json.loads(res.stdout.strip().splitlines()[-1]))
    if "skipped" in results[0]:
        return results[0]
    peaks = [r["peak_extra_bytes"] for r in results]
    return {**results[0], "peak_extra_bytes": max(peaks), "peak_extra_runs": peaks}


def run_scaling(
    *,
    ns: Sequence[int],
    ks: Sequence[int],
    nqs: Sequence[int],
    mem_ns: Sequence[int],
    base_n: int,
    dim: int = 128,
    k: int = 1024,
    n_q: int = 8,
    repeats: int = 3,
    seed: int = 0,
    mem_impls: Sequence[str] = ("rvqlib", "encodec", "vqtorch"),
    mem_runs: int = 1,
    log: Any = print,
) -> dict[str, Any]:
    """All three time sweeps and the memory sweep, as JSON-ready dicts."""
    z_all = latent_vectors(max(*ns, base_n), dim, seed + 3)
    sweeps = {
        "n": _sweep("n", ns, {"n": base_n, "k": k, "n_q": n_q}, z_all, repeats, seed, log),
        "k": _sweep("k", ks, {"n": base_n, "k": k, "n_q": n_q}, z_all, repeats, seed, log),
        "n_q": _sweep("n_q", nqs, {"n": base_n, "k": k, "n_q": n_q}, z_all, repeats, seed, log),
    }
    memory = []
    for impl in mem_impls:
        for n in mem_ns:
            m = probe_memory(impl, n, dim, k, n_q, runs=mem_runs)
            memory.append(m)
            if "skipped" in m:
                log(f"  memory {impl} N={n}: skipped ({m['skipped']})")
                break
            runs = ", ".join(f"{b / 2**20:.1f}" for b in m["peak_extra_runs"])
            log(f"  memory {impl} N={n}: +{m['peak_extra_bytes'] / 2**20:.1f} MiB (runs: {runs})")
    return {"dim": dim, "repeats": repeats, "sweeps": sweeps, "memory": memory}
