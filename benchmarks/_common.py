"""Shared pieces of the benchmarks: thread limits, timing, data, memory, machine info.

Nothing here is imported by :mod:`rvqlib`; the benchmarks only call rvqlib's
public API and compare it with other libraries.
"""

from __future__ import annotations

import datetime as _dt
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import torch

#: Threads every implementation may use (torch intra-op pool, BLAS, OpenMP).
N_THREADS: int = 2


def limit_threads(n_threads: int = N_THREADS) -> None:
    """Give every library the same number of threads.

    torch's intra-op pool is set with :func:`torch.set_num_threads`; numpy's
    BLAS and scikit-learn's OpenMP loops are limited with ``threadpoolctl``
    when it is installed (scikit-learn depends on it). The environment
    variables are set too, for subprocesses started afterwards.
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n_threads)
    torch.set_num_threads(n_threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn not installed: numpy keeps its own default
        return
    threadpool_limits(limits=n_threads)


@dataclass(frozen=True)
class Timing:
    """Wall-clock times (seconds) of repeated calls of one function."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median time in seconds: robust to a noisy, shared machine."""
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        """Fastest repeat in seconds."""
        return min(self.times)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"median_s": self.median, "min_s": self.best, "times_s": list(self.times)}


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> Timing:
    """Time ``repeats`` calls of ``fn`` after ``warmup`` untimed calls.

    The garbage collector is run before and disabled during each timed call,
    so a collection triggered by another part of the program does not land in
    one implementation's measurement.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return Timing(tuple(times))


def interleaved_timings(
    fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> dict[str, Timing]:
    """Time several functions round-robin (A B C A B C ...), not one after another.

    On a machine shared with other jobs the load changes over seconds; taking
    turns spreads those changes evenly over the implementations, so their
    *ratios* stay meaningful even when the absolute times drift.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
            finally:
                gc.enable()
    return {name: Timing(tuple(t)) for name, t in times.items()}


def latent_vectors(n: int, dim: int, seed: int) -> torch.Tensor:
    """``(n, dim)`` float32 encoder-like vectors from :func:`rvqlib.data.latent_like`.

    ``decay=0.97`` keeps every direction's variance within a factor of ~50 of
    the largest, so all ``dim`` coordinates matter to the distances.
    """
    from rvqlib.data import latent_like

    x = latent_like(n, dim, decay=0.97, seed=seed)
    return torch.from_numpy(x.astype(np.float32))


def latent_split(sizes: Sequence[int], dim: int, seed: int) -> list[torch.Tensor]:
    """Disjoint ``(size, dim)`` sets of :func:`latent_vectors` from one distribution.

    :func:`rvqlib.data.latent_like` draws its cluster centres and basis from the
    seed, so two seeds give two *different* distributions: codebooks trained on
    one seed's vectors and used on another's quantize data they were not made
    for (residuals then grow, stage after stage, and most codes go unused).
    Training sets, batches and held-out vectors are therefore split from a
    single draw.
    """
    x = latent_vectors(sum(sizes), dim, seed)
    return [part.contiguous() for part in torch.split(x, list(sizes))]


def sampled_codebooks(
    train: torch.Tensor, n_q: int, k: int, seed: int, lloyd_iters: int = 4
) -> list[torch.Tensor]:
    """RVQ codebooks made stage by stage from the residuals of ``train``.

    Stage ``i`` starts from the residual, left by stages ``0 .. i-1``, of ``k``
    rows of ``train`` that no earlier stage drew from, whose residual is not
    zero and equal to no other's, and refines it by
    ``lloyd_iters`` Lloyd iterations on all the residuals (a cluster left empty
    keeps its codeword): a short k-means, as a trained RVQ's codebooks start,
    so that codewords and residuals shrink stage after stage, at a fraction of
    the cost of training 8 x 1024 centroids to convergence. Everything is
    computed in float64 with exact nearest neighbours; codebooks are returned
    in float32.

    Drawing every stage from fresh rows matters. Earlier versions drew each
    stage from all rows: a row drawn at stage ``i`` is its own nearest codeword
    there, so its residual is exactly zero from then on, and later stages held
    many all-zero codewords (91 of 1,024 at stage 8 from 20,000 rows, 606 from
    8,192). Those repeats made every stage's real codebook smaller than ``k``
    for an implementation that removes repeated codewords (rvqlib does), which
    flattered its encode times against the matrix-product floor; in training
    they became hundreds of near-zero codewords, all within rounding of each
    other. Every codebook returned here has ``k`` distinct rows (checked).
    """
    if train.shape[0] < n_q * k:
        raise ValueError(
            f"train: need at least n_q * k = {n_q * k} rows (fresh rows for every "
            f"stage), got {train.shape[0]}"
        )
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(train.shape[0], generator=gen)
    residual = train.to(torch.float64)
    drawn = torch.zeros(train.shape[0], dtype=torch.bool)
    codebooks = []
    for i in range(n_q):
        # fresh rows whose residual is not zero (a row alone in its cluster is
        # its own codeword: its residual is zero from then on)
        free = order[~drawn[order] & (residual[order].abs().amax(dim=1) > 0)]
        # and only the first of rows whose residuals are equal
        _, inv = torch.unique(residual[free].to(torch.float32), dim=0, return_inverse=True)
        firsts = torch.full((int(inv.max()) + 1,), free.numel()).scatter_reduce(
            0, inv, torch.arange(free.numel()), reduce="amin"
        )
        free = free[torch.sort(firsts).values]
        if free.numel() < k:
            raise ValueError(f"train: too few rows for stage {i} ({free.numel()} left, need {k})")
        drawn[free[:k]] = True
        cb = residual[free[:k]].clone()
        for _ in range(lloyd_iters):
            labels = torch.cdist(residual, cb).argmin(dim=1)
            counts = torch.bincount(labels, minlength=k)
            sums = torch.zeros_like(cb).index_add_(0, labels, residual)
            used = counts > 0
            cb[used] = sums[used] / counts[used, None].to(cb.dtype)
        cb32 = cb.to(torch.float32)
        if torch.unique(cb32, dim=0).shape[0] != k:
            raise RuntimeError(f"stage {i}: the codebook has repeated rows")
        codebooks.append(cb32)
        cb64 = cb32.to(torch.float64)
        residual = residual - cb64[torch.cdist(residual, cb64).argmin(dim=1)]
    return codebooks


# ---------------------------------------------------------------- process memory
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def rss_bytes() -> int:
    """Current resident set size of this process (bytes), from ``/proc/self/status``."""
    return _status_kib("VmRSS") * 1024


def peak_rss_bytes() -> int:
    """High-water mark of the resident set size (bytes), ``VmHWM``."""
    return _status_kib("VmHWM") * 1024


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); return whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


# ---------------------------------------------------------------- machine and versions
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Where and with what the benchmark ran: CPU, cores, threads, library versions, date."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return {
        "date_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_avg_1min_at_start": load,
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in (
                "rvqlib",
                "torch",
                "numpy",
                "encodec",
                "vector-quantize-pytorch",
                "scikit-learn",
            )
        },
    }
