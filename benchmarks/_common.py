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
from collections.abc import Callable
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


def sampled_codebooks(train: torch.Tensor, n_q: int, k: int, seed: int) -> list[torch.Tensor]:
    """RVQ codebooks made by sampling residuals, stage by stage.

    Stage ``i``'s codebook is ``k`` distinct rows of the residual of ``train``
    left by stages ``0 .. i-1`` (the k-means initialisation of a trained RVQ,
    without the Lloyd iterations): codewords shrink stage after stage as in a
    trained RVQ, at a fraction of the cost of training 8 x 1024 centroids. The
    residual is updated with exact nearest neighbours computed in float64.
    """
    if train.shape[0] < k:
        raise ValueError(f"train: need at least k={k} rows, got {train.shape[0]}")
    gen = torch.Generator().manual_seed(seed)
    residual = train.to(torch.float64)
    codebooks = []
    for _ in range(n_q):
        rows = torch.randperm(residual.shape[0], generator=gen)[:k]
        cb = residual[rows].clone()
        codebooks.append(cb.to(torch.float32))
        cb64 = cb.to(torch.float32).to(torch.float64)
        d = torch.cdist(residual, cb64).square_()
        residual = residual - cb64[d.argmin(dim=1)]
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
