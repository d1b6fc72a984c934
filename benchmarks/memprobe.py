"""Peak memory of one RVQ encode, measured in a fresh process.

Run as ``python -m benchmarks.memprobe --impl rvqlib --n 100000`` (used by
:mod:`benchmarks.scaling`); prints one JSON line.

Method: build the input and codebooks, run the *same* encode once (so that
thread pools, per-thread workspaces and the code pages of the matrix kernels
chosen for these shapes are already resident), then reset the kernel's
resident-set high-water mark (``echo 5 > /proc/self/clear_refs``), encode the
full input again, and report ``VmHWM - VmRSS_before``: the extra resident
memory the encode needed at its peak, input and codebooks excluded. A fresh
process per measurement keeps one implementation's freed-but-cached memory
from hiding another's, and :mod:`benchmarks.scaling` runs it with glibc's mmap
threshold fixed (``MALLOC_MMAP_THRESHOLD_``), so every large buffer is mapped
and unmapped with its allocation. Before both measures (a warm-up of 256 rows,
the allocator's default) the figure also counted library code pages faulted in
by the first call with a new shape and depended on what malloc had kept from
earlier frees: repeated runs of the same point differed by tens of MiB, which is
how 0.1's table showed 28.3 MiB at N = 1,000 but 9.7 MiB at N = 10,000.
"""

from __future__ import annotations

import argparse
import gc
import json

import torch

from ._common import N_THREADS, limit_threads, peak_rss_bytes, reset_peak_rss, rss_bytes
from .peers import encodec_encoder, matmul_floor, rvqlib_function_encoder, vqtorch_encoder

FACTORIES = {
    "rvqlib": rvqlib_function_encoder,
    "encodec": encodec_encoder,
    "vqtorch": vqtorch_encoder,
    "floor": matmul_floor,
}


def measure(
    impl: str, n: int, dim: int, k: int, n_q: int, threads: int = N_THREADS, seed: int = 0
) -> dict[str, object]:
    """Peak extra resident memory (bytes) of encoding ``n`` vectors with ``impl``."""
    limit_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    codebooks = [torch.randn(k, dim, generator=gen) * 0.8**i for i in range(n_q)]
    z = torch.randn(n, dim, generator=gen)
    encode = FACTORIES[impl](codebooks)
    if encode is None:
        return {"impl": impl, "n": n, "skipped": "not installed"}
    with torch.inference_mode():
        encode(z)  # the same call once: kernels' code pages, threads, workspaces
        gc.collect()
        before = rss_bytes()
        if not reset_peak_rss():
            return {"impl": impl, "n": n, "skipped": "cannot reset VmHWM (/proc/self/clear_refs)"}
        codes = encode(z)
        peak = peak_rss_bytes()
    return {
        "impl": impl,
        "n": n,
        "dim": dim,
        "k": k,
        "n_q": n_q,
        "peak_extra_bytes": max(0, peak - before),
        "input_bytes": z.numel() * z.element_size(),
        "codes_bytes": codes.numel() * codes.element_size(),
        "distance_matrix_bytes": n * k * 4,
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: print the measurement as one JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", choices=sorted(FACTORIES), required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--k", type=int, default=1024)
    p.add_argument("--n-q", type=int, default=8)
    p.add_argument("--threads", type=int, default=N_THREADS)
    a = p.parse_args(argv)
    print(json.dumps(measure(a.impl, a.n, a.dim, a.k, a.n_q, a.threads)))


if __name__ == "__main__":
    main()
