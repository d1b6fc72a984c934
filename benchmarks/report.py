"""Targets, tables (terminal and markdown) and the scaling figure, from a results dict."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

RVQLIB = ("rvqlib ResidualVQ.encode", "rvqlib rvq_encode")
PEERS = ("EnCodec RVQ", "vector-quantize-pytorch")
FLOOR = "matmul+argmin floor"
SK = "scikit-learn KMeans"
RVQ_KM = "rvqlib kmeans (numpy)"
TRAIN = "rvqlib ResidualVQ"
TRAIN_COMPILED = "rvqlib ResidualVQ (compiled)"

#: Target thresholds of issue 11, compared as ratios measured in the same run.
FLOOR_RATIO_MAX = 1.1
PEER_SPEEDUP_MIN = 1.3
TRAIN_SPEEDUP_MIN = 2.0
INERTIA_REL_MAX = 0.05
#: "Bounded memory": each extra vector may cost a few copies of its own input row and
#: codes (the residual, the gathered codewords), but nothing that grows with K.
MEMORY_ROWS_MAX = 4


def _target(name: str, met: bool | None, value: str, detail: str) -> dict[str, Any]:
    return {"target": name, "met": met, "value": value, "detail": detail}


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Check every target of the issue against one run; ``met`` is None when unmeasurable."""
    out: list[dict[str, Any]] = []
    enc = results.get("encode")
    if enc:
        for run in enc["runs"]:
            n, impls = run["n"], run["impls"]
            thr = {name: v["vectors_per_s"] for name, v in impls.items()}
            peers = {p: thr[p] for p in PEERS if p in thr}
            for name in RVQLIB:
                if peers:
                    best_peer = max(peers, key=peers.get)
                    ratio = thr[name] / peers[best_peer]
                    best = impls[best_peer]["min_s"] / impls[name]["min_s"]
                    out.append(
                        _target(
                            f"{name} >= {PEER_SPEEDUP_MIN:g}x fastest peer, N={n:,}",
                            ratio >= PEER_SPEEDUP_MIN,
                            f"{ratio:.2f}x",
                            f"fastest peer (median): {best_peer}; fastest repeats: {best:.2f}x",
                        )
                    )
                ratio = impls[name]["median_s"] / impls[FLOOR]["median_s"]
                best = impls[name]["min_s"] / impls[FLOOR]["min_s"]
                out.append(
                    _target(
                        f"{name} within {FLOOR_RATIO_MAX}x of floor, N={n:,}",
                        ratio <= FLOOR_RATIO_MAX,
                        f"{ratio:.2f}x floor time",
                        f"ratio of medians; fastest repeats: {best:.2f}x",
                    )
                )
        for run in enc["runs"]:
            for peer, agr in run["agreement"].items():
                out.append(
                    _target(
                        f"codes of {peer} identical to rvqlib except ties, N={run['n']:,}",
                        agr["all_ties"],
                        f"{agr['vectors_differing']} of {agr['vectors']} vectors differ, "
                        f"{agr['ties']} ties",
                        f"max gap {agr['max_gap_units']:.3g} u (tie if <= "
                        f"{agr['tolerance_units']:g} u)",
                    )
                )
    scal = results.get("scaling")
    if scal:
        mem = [m for m in scal["memory"] if m.get("impl") == "rvqlib" and "skipped" not in m]
        if len(mem) >= 2:
            mem.sort(key=lambda m: m["n"])
            a, b = mem[-2], mem[-1]
            slope = (b["peak_extra_bytes"] - a["peak_extra_bytes"]) / (b["n"] - a["n"])
            row = b["distance_matrix_bytes"] / b["n"]
            io_row = (b["input_bytes"] + b["codes_bytes"]) / b["n"]
            out.append(
                _target(
                    "rvqlib peak memory bounded as N grows",
                    slope <= MEMORY_ROWS_MAX * io_row,
                    f"{slope:,.0f} B per extra vector",
                    f"N {a['n']:,} -> {b['n']:,}; bound {MEMORY_ROWS_MAX} x (input + codes row) "
                    f"= {MEMORY_ROWS_MAX * io_row:,.0f} B, independent of K; one distance row "
                    f"is {row:,.0f} B; peak +{b['peak_extra_bytes'] / 2**20:,.1f} MiB "
                    f"at N={b['n']:,}",
                )
            )
    km = results.get("kmeans")
    if km and SK in km["impls"]:
        sk = km["impls"][SK]
        for name in (RVQ_KM, "rvqlib kmeans (torch)"):
            r = km["impls"][name]
            ratio = r["s_per_iter"] / sk["s_per_iter"]
            out.append(
                _target(
                    f"{name} per iteration <= scikit-learn",
                    ratio <= 1.0,
                    f"{ratio:.2f}x sklearn time",
                    f"{r['s_per_iter'] * 1e3:.1f} vs {sk['s_per_iter'] * 1e3:.1f} ms/iter",
                )
            )
            rel = (r["inertia_float64"] - sk["inertia_float64"]) / sk["inertia_float64"]
            out.append(
                _target(
                    f"{name} final inertia within 5% of scikit-learn",
                    abs(rel) <= INERTIA_REL_MAX,
                    f"{rel * 100:+.3f}%",
                    "float64 inertia of the returned centroids",
                )
            )
    seed = results.get("seeding")
    if seed and all("sklearn" in r for r in seed["sets"]):
        ours = sum(r["rvqlib"] for r in seed["sets"])
        theirs = sum(r["sklearn"] for r in seed["sets"])
        runs = seed["seeds"] * seed["n_sets"]
        out.append(
            _target(
                "rvqlib k-means++ poor-minimum rate <= scikit-learn's",
                ours <= theirs,
                f"{ours}/{runs} vs {theirs}/{runs}",
                f"{seed['n_sets']} sets of {seed['k']} well-separated blobs x "
                f"{seed['seeds']} seeds; per set: "
                + ", ".join(f"{r['rvqlib']} vs {r['sklearn']}" for r in seed["sets"]),
            )
        )
    train = results.get("train")
    if train:
        for run in train["runs"]:
            impls = run["impls"]
            for peer in PEERS:
                if peer not in impls:
                    continue
                ratio = impls[peer]["median_s"] / impls[TRAIN]["median_s"]
                best = impls[peer]["min_s"] / impls[TRAIN]["min_s"]
                out.append(
                    _target(
                        f"rvqlib training step >= {TRAIN_SPEEDUP_MIN:g}x {peer}, N={run['n']:,}",
                        ratio >= TRAIN_SPEEDUP_MIN,
                        f"{ratio:.2f}x",
                        f"ratio of medians; fastest repeats: {best:.2f}x",
                    )
                )
            for name, agr in run["agreement"].items():
                out.append(
                    _target(
                        f"first training step's codes of {name} = greedy RVQ except ties, "
                        f"N={run['n']:,}",
                        agr["all_ties"],
                        f"{agr['vectors_differing']} of {agr['vectors']} vectors differ",
                        f"max gap {agr['max_gap_units']:.3g} u (tie if <= "
                        f"{agr['tolerance_units']:g} u)",
                    )
                )
    ent = results.get("entropy")
    if ent:
        b = ent["bound"]
        out.append(
            _target(
                "rANS coded length <= 1.01 x ideal + 64 bits (every p >= 2⁻¹²)",
                b["bound_met"],
                f"worst {b['worst_bits_minus_bound']:+.1f} bits against the bound",
                f"{b['trials']} random and adversarial streams; worst excess over the "
                f"ideal {b['worst_excess_bits']:.1f} bits",
            )
        )
    return out


# ------------------------------------------------------------------ tables
def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def encode_table(enc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per (N, implementation): throughput, speed-up over EnCodec, time over floor.

    Ratios are of medians; in parentheses, the same ratio of the fastest repeats,
    which a busy machine disturbs least.
    """
    header = [
        "N",
        "implementation",
        "vectors/s (median)",
        "vectors/s (best)",
        "x EnCodec",
        "x floor time",
        "codes differing (all ties?)",
    ]
    rows = []
    for run in sorted(enc["runs"], key=lambda r: r["n"]):
        e = run["impls"].get("EnCodec RVQ")
        f = run["impls"][FLOOR]
        for name, v in run["impls"].items():
            if name == FLOOR:
                agree = "not RVQ codes"
            elif name == "rvqlib rvq_encode":
                agree = "reference"
            else:
                a = run["agreement"][name]
                agree = f"{a['vectors_differing']} ({'yes' if a['all_ties'] else 'NO'})"
            rows.append(
                [
                    f"{run['n']:,}",
                    name,
                    f"{v['vectors_per_s']:,.0f}",
                    f"{run['n'] / v['min_s']:,.0f}",
                    f"{e['median_s'] / v['median_s']:.2f} ({e['min_s'] / v['min_s']:.2f})"
                    if e
                    else "n/a",
                    f"{v['median_s'] / f['median_s']:.2f} ({v['min_s'] / f['min_s']:.2f})",
                    agree,
                ]
            )
    return header, rows


def kmeans_table(km: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Rows: implementation; columns: ms/iteration, iterations, inertia."""
    header = ["implementation", "ms / iteration", "iterations", "inertia (float64)", "vs sklearn"]
    sk = km["impls"].get(SK)
    rows = []
    for name, r in km["impls"].items():
        rel = (
            f"{(r['inertia_float64'] / sk['inertia_float64'] - 1) * 100:+.3f}% inertia, "
            f"{r['s_per_iter'] / sk['s_per_iter']:.2f}x time"
            if sk
            else "n/a"
        )
        rows.append(
            [
                name,
                f"{r['s_per_iter'] * 1e3:.1f}",
                str(r["iterations"]),
                f"{r['inertia_float64']:.6g}",
                rel,
            ]
        )
    if "floor_s_per_iter" in km:
        f = km["floor_s_per_iter"]
        rows.append(
            [
                "score products alone (floor)",
                f"{f * 1e3:.1f}",
                "-",
                "-",
                f"{f / sk['s_per_iter']:.2f}x time" if sk else "n/a",
            ]
        )
    return header, rows


def seeding_table(seed: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Rows: blob set; columns: poor minima of rvqlib and scikit-learn out of the seeds."""
    header = ["blob set", "rvqlib poor minima", "scikit-learn poor minima"]
    rows = [
        [str(i), f"{r['rvqlib']} / {seed['seeds']}", f"{r.get('sklearn', 'n/a')} / {seed['seeds']}"]
        for i, r in enumerate(seed["sets"])
    ]
    total = seed["seeds"] * len(seed["sets"])
    rows.append(
        [
            "all",
            f"{sum(r['rvqlib'] for r in seed['sets'])} / {total}",
            f"{sum(r.get('sklearn', 0) for r in seed['sets'])} / {total}",
        ]
    )
    return header, rows


def train_table(train: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per (N, implementation): time per step and speed-ups of rvqlib over it."""
    header = [
        "N",
        "implementation",
        "ms / step (median)",
        "ms / step (best)",
        "rvqlib speed-up",
        "first-step codes differing (all ties?)",
    ]
    rows = []
    for run in sorted(train["runs"], key=lambda r: r["n"]):
        ours = run["impls"][TRAIN]
        for name, v in run["impls"].items():
            agr = run["agreement"][name]
            rows.append(
                [
                    f"{run['n']:,}",
                    name,
                    f"{v['median_s'] * 1e3:,.1f}",
                    f"{v['min_s'] * 1e3:,.1f}",
                    f"{v['median_s'] / ours['median_s']:.2f} ({v['min_s'] / ours['min_s']:.2f})",
                    f"{agr['vectors_differing']} ({'yes' if agr['all_ties'] else 'NO'})",
                ]
            )
    return header, rows


def _mib_runs(m: dict[str, Any]) -> str:
    runs = m.get("peak_extra_runs", [m["peak_extra_bytes"]])
    text = f"{m['peak_extra_bytes'] / 2**20:,.1f}"
    if len(runs) > 1:
        text += f" ({min(runs) / 2**20:,.1f}-{max(runs) / 2**20:,.1f})"
    return text


def memory_table(scal: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Rows: implementation; columns: peak extra MiB per N (range over repeated probes)."""
    mem = [m for m in scal["memory"] if "skipped" not in m]
    ns = sorted({m["n"] for m in mem})
    impls = list(dict.fromkeys(m["impl"] for m in mem))
    header = ["peak extra memory (MiB)"] + [f"N={n:,}" for n in ns]
    rows = []
    for impl in impls:
        by_n = {m["n"]: m for m in mem if m["impl"] == impl}
        rows.append([impl] + [_mib_runs(by_n[n]) if n in by_n else "" for n in ns])
    if mem:
        rows.append(
            ["(N x K float32 distance matrix)"]
            + [f"{n * mem[0]['k'] * 4 / 2**20:,.1f}" for n in ns]
        )
        rows.append(
            ["(input, N x D float32)"] + [f"{n * mem[0]['dim'] * 4 / 2**20:,.1f}" for n in ns]
        )
    return header, rows


def targets_table(targets: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """One row per target."""
    mark = {True: "met", False: "MISSED", None: "n/a"}
    return ["target", "result", "measured", "detail"], [
        [t["target"], mark[t["met"]], t["value"], t["detail"]] for t in targets
    ]


def _load_end(machine: dict[str, Any]) -> str:
    end = machine.get("load_avg_1min_at_end")
    return f" and {end:.1f} at end" if end is not None else ""


#: Names of the parts of :mod:`benchmarks.run` in the runs line of :func:`markdown`.
PART_TITLES = {
    "encode": "RVQ encode",
    "scaling": "scaling and memory",
    "kmeans": "k-means and seeding",
    "train": "training step",
    "fsq": "FSQ/LFQ",
    "entropy": "entropy coder",
}


def _run_line(m: dict[str, Any], smoke: bool, command: str) -> str:
    vers = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    return (
        f"Run of {m['date_utc']}{' (smoke sizes)' if smoke else ''}: "
        f"{m['cpu']}, {m['cpu_count']} logical CPUs, threads per library: {m['threads']}, "
        f"load average {m['load_avg_1min_at_start']:.1f} at start"
        f"{_load_end(m)}; Python {m['python']}; "
        f"{vers}. Command: `{command}`."
    )


def run_lines(results: dict[str, Any]) -> list[str]:
    """One line per run the results come from, naming the parts it measured.

    A ``latest.json`` updated part by part (``benchmarks.run --update``) holds parts
    measured on different days, machines or loads; each group of parts with the same
    provenance gets its own line, so they are never read as one run.
    """
    prov = results.get("provenance")
    if not prov:  # one run
        return [_run_line(results["machine"], results["smoke"], results["command"])]
    groups: list[tuple[dict[str, Any], list[str]]] = []
    for part, p in prov.items():
        for q, names in groups:
            if q == p:
                names.append(part)
                break
        else:
            groups.append((p, [part]))
    if len(groups) == 1:
        p = groups[0][0]
        return [_run_line(p, p.get("smoke", False), p["command"])]
    groups.sort(key=lambda g: g[0]["date_utc"], reverse=True)
    lines = []
    for p, names in groups:
        what = ", ".join(PART_TITLES.get(n, n) for n in names)
        lines.append(
            f"{what[0].upper()}{what[1:]}: " + _run_line(p, p.get("smoke", False), p["command"])
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The results as markdown (no headings, so it can be included anywhere in a page)."""
    from benchmarks import entropy_bench, fsq_bench

    out: list[str] = []
    for line in run_lines(results):
        out += [line, ""]
    enc = results.get("encode")
    if enc:
        out += [
            f"**RVQ encode** (D={enc['dim']}, K={enc['k']}, n_q={enc['n_q']}, float32, "
            f"median of {enc['repeats']} round-robin repeats):",
            "",
            _md_table(*encode_table(enc)),
            "",
        ]
        for name, why in enc["skipped"].items():
            out += [f"Skipped {name}: {why}.", ""]
    km = results.get("kmeans")
    if km:
        out += [
            f"**k-means** ({km['n']:,} x {km['dim']} float32 points, K={km['k']}, at most "
            f"{km['n_iter']} Lloyd iterations from the same k-means++ centroids, tol=0):",
            "",
            _md_table(*kmeans_table(km)),
            "",
        ]
    seed = results.get("seeding")
    if seed:
        out += [
            f"**k-means++ seeding** (poor local minima, inertia above {seed['poor']:g} x the "
            f"blobs' own partition, over {seed['seeds']} seeds on each of {seed['n_sets']} sets "
            f"of {seed['k']} well-separated unit-variance blobs in {seed['dim']}-D, "
            f"{seed['n_per']} points each):",
            "",
            _md_table(*seeding_table(seed)),
            "",
        ]
    train = results.get("train")
    if train:
        out += [
            f"**RVQ training step** (forward + backward, EMA decay {train['decay']}, dead-code "
            f"threshold {train['dead_code_threshold']:g}, D={train['dim']}, K={train['k']}, "
            f"n_q={train['n_q']}, float32, same codebooks and statistics, median of "
            f"{train['repeats']} round-robin repeats after {train['warmup']} warm-up steps"
            + (
                f"; compiled with torch.compile, back end {train['compile_backend']}):"
                if train.get("compile_backend")
                else "):"
            ),
            "",
            _md_table(*train_table(train)),
            "",
        ]
        for name, why in train["skipped"].items():
            out += [f"Skipped {name}: {why}.", ""]
    scal = results.get("scaling")
    if scal:
        probe = next((m for m in scal["memory"] if "skipped" not in m), {"k": "?", "n_q": "?"})
        n_probes = len(probe.get("peak_extra_runs", [0]))
        probes = (
            f"largest of {n_probes} probes with the range in parentheses"
            if n_probes > 1
            else "one probe per point"
        )
        out += [
            "**Peak memory of one encode** (extra resident memory over input and codebooks, "
            f"fresh process per probe, {probes}, "
            f"D={scal['dim']}, K={probe['k']}, n_q={probe['n_q']}):",
            "",
            _md_table(*memory_table(scal)),
            "",
        ]
    fsq = results.get("fsq")
    if fsq:
        cfg = results.get("config", {}).get("fsq", {})
        n = next(iter(fsq["comparisons"].values()))["n_vectors"]
        size = f"{cfg['batch']} x {cfg['frames']:,} = " if "batch" in cfg else ""
        reps = f" {cfg['repeats']}" if "repeats" in cfg else ""
        out += [
            f"**FSQ, LFQ and residual FSQ** against {fsq.get('peer') or 'the peer (skipped)'} "
            f"({size}{n:,} float32 vectors, the same inputs for both, eval mode under "
            f"inference mode unless the row says training, median forward time of{reps} "
            "round-robin repeats; codes compared after matching the conventions as the "
            "benchmarks appendix describes):",
            "",
            fsq_bench.markdown(fsq),
            "",
        ]
    ent = results.get("entropy")
    if ent:
        out += [
            f"**rANS entropy coder** ({ent['n_symbols']:,} RVQ codes: {ent['frames']:,} frames x "
            f"{ent['n_q']} stages, K={ent['k']}; nominal {ent['nominal_bits']:,.0f} bits; "
            f"median of {results.get('config', {}).get('entropy', {}).get('repeats', 'the')} "
            "round-robin repeats coding all codes; every round trip checked):",
            "",
            entropy_bench.markdown(ent),
            "",
        ]
    if results.get("targets"):
        out += ["**Targets**, as ratios measured within each part's run:", ""]
        out += [_md_table(*targets_table(results["targets"])), ""]
    return "\n".join(out)


def print_tables(results: dict[str, Any], log: Any = print) -> None:
    """Print every table as aligned plain text."""

    def show(title: str, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
        log(f"\n{title}")
        log("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        log("  ".join("-" * w for w in widths))
        for r in rows:
            log("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))

    if results.get("encode"):
        show("RVQ encode", *encode_table(results["encode"]))
    if results.get("kmeans"):
        show("k-means", *kmeans_table(results["kmeans"]))
    if results.get("seeding"):
        show("k-means++ seeding", *seeding_table(results["seeding"]))
    if results.get("train"):
        show("RVQ training step", *train_table(results["train"]))
    if results.get("scaling"):
        show("Peak memory", *memory_table(results["scaling"]))
    if results.get("fsq"):
        from benchmarks.fsq_bench import print_table as fsq_table

        fsq_table(results["fsq"], log=log)
    if results.get("entropy"):
        from benchmarks.entropy_bench import print_table as entropy_table

        entropy_table(results["entropy"], log=log)
    if results.get("targets"):
        show("Targets", *targets_table(results["targets"]))


# ------------------------------------------------------------------ figure
def _tick(v: float) -> str:
    """Tick label without exponents: 0.05, 0.2, 1, 20, 1,000."""
    return f"{v:,.0f}" if v >= 1 else f"{v:.2g}"


def scaling_figure(scal: dict[str, Any], path: Path) -> None:
    """Four panels: encode time against N, K and n_q (log-log), peak memory against N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {
        "rvqlib": ("rvqlib rvq_encode", "C0", "o"),
        "floor": ("matmul+argmin floor", "0.4", "s"),
        "encodec": ("EnCodec RVQ", "C3", "^"),
        "vqtorch": ("vector-quantize-pytorch", "C2", "v"),
    }
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def tidy(ax: Any, xs: list[int], ylabel: str) -> None:
        ax.set_xticks(xs, [f"{x:,}" for x in xs])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _tick(v)))
        lo, hi = ax.get_ylim()  # label minor ticks 2x and 5x too when at most 2 decades show
        minor = FuncFormatter(
            lambda v, _: _tick(v) if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else ""
        )
        ax.yaxis.set_minor_formatter(minor if hi / lo < 100 else NullFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), facecolor="white")
    names = {"n": "N", "k": "K", "n_q": "n_q"}
    labels = {"n": "number of vectors N", "k": "codebook size K", "n_q": "number of stages n_q"}
    for ax, axis in zip(axes.flat[:3], ("n", "k", "n_q"), strict=True):
        sweep = scal["sweeps"][axis]
        xs = [p[axis] for p in sweep["points"]]
        key = "min_s" if "min_s" in sweep["points"][0] else "median_s"
        for impl in sweep["points"][0][key]:
            label, color, marker = styles[impl]
            ys = [p[key][impl] for p in sweep["points"]]
            ax.loglog(xs, ys, marker=marker, color=color, label=label)
        fixed = ", ".join(f"{names[k]}={v:,}" for k, v in sweep["base"].items() if k != axis)
        ax.set_title(f"Encode time against {names[axis]} ({fixed})", fontsize=10)
        ax.set_xlabel(labels[axis])
        tidy(ax, xs, "encode time, fastest repeat (s)" if key == "min_s" else "median time (s)")
    ax = axes.flat[3]
    mem = [m for m in scal["memory"] if "skipped" not in m]
    for impl in dict.fromkeys(m["impl"] for m in mem):
        pts = sorted((m["n"], m["peak_extra_bytes"] / 2**20) for m in mem if m["impl"] == impl)
        label, color, marker = styles[impl]
        ax.loglog(*zip(*pts, strict=True), marker=marker, color=color, label=label)
    if mem:
        ns = sorted({m["n"] for m in mem})
        k, n_q, dim = mem[0]["k"], mem[0]["n_q"], mem[0]["dim"]
        ax.loglog(ns, [n * k * 4 / 2**20 for n in ns], "k:", label=f"one N x {k} float32 matrix")
        ax.loglog(ns, [n * dim * 4 / 2**20 for n in ns], "k--", lw=0.8, label="input (N x D)")
        ax.set_title(f"Peak extra memory of one encode (K={k:,}, n_q={n_q})", fontsize=10)
        ax.set_xlabel("number of vectors N")
        tidy(ax, ns, "peak extra resident memory (MiB)")
    fig.suptitle(f"RVQ encode cost, D={scal['dim']}, float32, {scal.get('threads', 2)} threads")
    fig.tight_layout()
    fig.savefig(path, dpi=110, facecolor="white")
    plt.close(fig)
