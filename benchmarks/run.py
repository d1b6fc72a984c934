"""Run the rvqlib benchmarks: ``python -m benchmarks.run [--smoke] [--out DIR]``.

Parts (``--parts``, default all four):

1. ``encode``: RVQ encode throughput of rvqlib against EnCodec's and
   vector-quantize-pytorch's RVQ and a matmul+argmin floor, with a check that
   the codes agree except on float32 ties (:mod:`benchmarks.encode`).
2. ``scaling``: encode time against N, K and n_q, peak memory against N
   (:mod:`benchmarks.scaling`), drawn in ``scaling.png``.
3. ``kmeans``: rvqlib.kmeans against scikit-learn's KMeans, time per Lloyd
   iteration and how often the seeding ends in a poor local minimum
   (:mod:`benchmarks.kmeans_bench`).
4. ``train``: one RVQ training step (forward + backward, EMA codebooks) of
   rvqlib, uncompiled and compiled, against EnCodec and
   vector-quantize-pytorch (:mod:`benchmarks.train_bench`).
5. ``fsq``: FSQ, LFQ and residual FSQ against vector-quantize-pytorch's on the
   same inputs, codes compared, speed ratio (:mod:`benchmarks.fsq_bench`).
6. ``entropy``: the rANS coder on a minute of codec codes, bits against the
   ideal and symbols per second (:mod:`benchmarks.entropy_bench`).

Writes ``latest.json`` (everything), ``latest.md`` (tables for the book's
benchmarks appendix) and ``scaling.png`` to ``--out`` (default
``benchmarks/results``; with ``--smoke``, a fresh temporary folder, so a smoke
run never replaces the published results). ``--smoke`` runs every part at tiny
sizes in well under a minute; missing peer libraries are skipped with a
message. Timing is never asserted here: targets are reported, not enforced.

``--update`` reruns only the parts named in ``--parts`` and keeps the other
parts of the ``latest.json`` already in ``--out``. Every part records the run
it comes from (date, machine, load, threads, command) under ``"provenance"``,
and ``latest.md`` names each run, so results measured on different days or
machines are never presented as one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

from benchmarks import entropy_bench, fsq_bench  # noqa: E402
from benchmarks._common import N_THREADS, limit_threads, machine_info  # noqa: E402
from benchmarks.encode import run_encode  # noqa: E402
from benchmarks.kmeans_bench import run_kmeans, run_seeding  # noqa: E402
from benchmarks.report import evaluate_targets, markdown, print_tables, scaling_figure  # noqa: E402
from benchmarks.scaling import run_scaling  # noqa: E402
from benchmarks.train_bench import run_train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ("encode", "scaling", "kmeans", "train", "fsq", "entropy")
#: Result keys each part writes (``kmeans`` also measures the k-means++ seeding).
PART_KEYS: dict[str, tuple[str, ...]] = {
    "encode": ("encode",),
    "scaling": ("scaling",),
    "kmeans": ("kmeans", "seeding"),
    "train": ("train",),
    "fsq": ("fsq",),
    "entropy": ("entropy",),
}

FULL: dict[str, dict[str, Any]] = {
    "encode": {"ns": (4_500, 45_000), "dim": 128, "k": 1024, "n_q": 8, "repeats": 7},
    "scaling": {
        "ns": (1_000, 3_000, 10_000, 30_000, 100_000),
        "ks": (256, 512, 1024, 2048, 4096),
        "nqs": (1, 2, 4, 8, 16, 32),
        "mem_ns": (1_000, 10_000, 30_000, 100_000),
        "base_n": 10_000,
        "dim": 128,
        "k": 1024,
        "n_q": 8,
        "repeats": 3,
        "mem_runs": 2,
    },
    "kmeans": {"n": 50_000, "dim": 64, "k": 256, "n_iter": 20, "repeats": 3},
    "seeding": {"k": 16, "dim": 2, "n_per": 100, "n_sets": 3, "seeds": 100},
    "train": {"ns": (4_500, 45_000), "dim": 128, "k": 1024, "n_q": 8, "repeats": 5},
    "fsq": dict(fsq_bench.FULL),
    "entropy": dict(entropy_bench.FULL),
}

SMOKE: dict[str, dict[str, Any]] = {
    "encode": {"ns": (300, 1_000), "dim": 32, "k": 64, "n_q": 4, "repeats": 2},
    "scaling": {
        "ns": (200, 800),
        "ks": (16, 64),
        "nqs": (1, 4),
        "mem_ns": (1_000, 4_000),
        "base_n": 500,
        "dim": 32,
        "k": 64,
        "n_q": 4,
        "repeats": 2,
        "mem_impls": ("rvqlib",),
    },
    "kmeans": {"n": 2_000, "dim": 16, "k": 16, "n_iter": 5, "repeats": 2},
    "seeding": {"k": 8, "dim": 2, "n_per": 30, "n_sets": 1, "seeds": 5},
    # no compiled model at smoke sizes (tests/test_compile.py checks compiling)
    "train": {"ns": (300,), "dim": 32, "k": 64, "n_q": 4, "repeats": 2, "compile_backend": None},
    "fsq": dict(fsq_bench.SMOKE),
    "entropy": dict(entropy_bench.SMOKE),
}


def _previous(path: Path) -> dict[str, Any]:
    """The results already in ``path`` (``latest.json``), each part with its provenance.

    Files written before parts carried their provenance get it from their one run.
    """
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    prov = old.setdefault("provenance", {})
    for part, keys in PART_KEYS.items():
        if part not in prov and any(k in old for k in keys):
            prov[part] = {"command": old.get("command", "?"), "smoke": old.get("smoke", False)}
            prov[part] |= old.get("machine", {})
    return old


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the selected parts, print the tables, write the results; return them."""
    p = argparse.ArgumentParser(description="Benchmarks of rvqlib against peer libraries.")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, every part, < ~30 s")
    p.add_argument("--out", type=Path, default=None, help="output folder")
    p.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--update",
        action="store_true",
        help="keep the parts not run now from the latest.json already in --out",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help=f"threads per library (default {N_THREADS}; 1 with --smoke, where tiny operations "
        "on a busy machine would mostly measure thread synchronisation)",
    )
    args = p.parse_args(argv)
    parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        p.error(f"--parts: unknown part(s) {unknown}; expected some of {list(PARTS)}")
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="rvqbench-smoke-")) if args.smoke else RESULTS
    out.mkdir(parents=True, exist_ok=True)

    threads = args.threads or (1 if args.smoke else N_THREADS)
    limit_threads(threads)
    cfg = SMOKE if args.smoke else FULL
    command = "python -m benchmarks.run" + (" --smoke" if args.smoke else "")
    if set(parts) != set(PARTS):
        command += f" --parts {','.join(parts)}"
    if args.threads is not None:
        command += f" --threads {args.threads}"
    if args.update:
        command += " --update"
    previous = _previous(out / "latest.json") if args.update else {}
    if previous and previous.get("smoke", False) != args.smoke:
        p.error("--update: the latest.json in --out is from a run of other sizes (--smoke)")
    results: dict[str, Any] = {
        "command": command,
        "smoke": args.smoke,
        "machine": machine_info(),
        "config": {part: cfg[part] for part in parts}
        | ({"seeding": cfg["seeding"]} if "kmeans" in parts else {}),
    }
    t0 = time.perf_counter()
    if "encode" in parts:
        print("Part 1: RVQ encode throughput", flush=True)
        results["encode"] = run_encode(**cfg["encode"], seed=args.seed)
        print(f"  ({time.perf_counter() - t0:.1f} s so far)", flush=True)
    if "scaling" in parts:
        print("Part 2: scaling in N, K, n_q; peak memory in N", flush=True)
        results["scaling"] = run_scaling(**cfg["scaling"], seed=args.seed)
        results["scaling"]["threads"] = threads
        scaling_figure(results["scaling"], out / "scaling.png")
        print(f"  ({time.perf_counter() - t0:.1f} s so far)", flush=True)
    if "kmeans" in parts:
        print("Part 3: k-means", flush=True)
        results["kmeans"] = run_kmeans(**cfg["kmeans"], seed=args.seed)
        results["seeding"] = run_seeding(**cfg["seeding"])
        print(f"  ({time.perf_counter() - t0:.1f} s so far)", flush=True)
    if "train" in parts:
        print("Part 4: RVQ training step", flush=True)
        results["train"] = run_train(**cfg["train"], seed=args.seed)
        print(f"  ({time.perf_counter() - t0:.1f} s so far)", flush=True)
    if "fsq" in parts:
        print("Part 5: FSQ, LFQ and residual FSQ against vector-quantize-pytorch", flush=True)
        results["fsq"] = fsq_bench.run_fsq(**cfg["fsq"], seed=args.seed)
        print(f"  ({time.perf_counter() - t0:.1f} s so far)", flush=True)
    if "entropy" in parts:
        print("Part 6: rANS entropy coder", flush=True)
        results["entropy"] = entropy_bench.run_entropy(**cfg["entropy"], seed=args.seed)
        print(f"  ({time.perf_counter() - t0:.1f} s so far)", flush=True)
    results["wall_s"] = time.perf_counter() - t0
    results["machine"]["load_avg_1min_at_end"] = os.getloadavg()[0]
    now = {"command": command, "smoke": args.smoke} | results["machine"]
    results["provenance"] = {part: now for part in parts}
    if previous:  # the parts not run now, as they were
        for part, keys in PART_KEYS.items():
            if part in parts or part not in previous["provenance"]:
                continue
            for key in keys:
                if key in previous:
                    results[key] = previous[key]
            results["provenance"][part] = previous["provenance"][part]
            for key in keys:
                if key in previous.get("config", {}):
                    results["config"][key] = previous["config"][key]
    results["targets"] = evaluate_targets(results)

    print_tables(results)
    (out / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "latest.md").write_text(markdown(results))
    print(
        f"\nwrote {out / 'latest.json'}, {out / 'latest.md'}"
        + (f", {out / 'scaling.png'}" if "scaling" in parts else "")
        + f" in {results['wall_s']:.1f} s"
    )
    return results


if __name__ == "__main__":
    main()
