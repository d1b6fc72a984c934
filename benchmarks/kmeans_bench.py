"""Part 3: rvqlib.kmeans against scikit-learn's KMeans (Lloyd), same start, same iterations.

Both start from the *same* centroids (one greedy k-means++ draw by
:func:`rvqlib.kmeans.kmeans_plusplus`, passed to both as an explicit init, so
seeding time is excluded), run at most ``n_iter`` Lloyd iterations with
``tol=0`` (stop early only if the labels stop changing), on the same float32
data and the same number of threads. Reported: time per iteration (total
time / iterations run, median over repeats) and final inertia, both as each
library reports it and recomputed in float64 from the returned centroids (each
point to its nearest centroid), so the two are compared on the same footing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._common import interleaved_timings, latent_vectors


def inertia64(x: np.ndarray, centroids: np.ndarray) -> float:
    """Sum of squared distances from each row of ``x`` to its nearest centroid, in float64."""
    from rvqlib.vq import nearest

    x64 = np.asarray(x, dtype=np.float64)
    c64 = np.asarray(centroids, dtype=np.float64)
    diff = x64 - c64[nearest(x64, c64)]
    return float(np.einsum("nd,nd->", diff, diff))


def run_kmeans(
    *,
    n: int = 50_000,
    dim: int = 64,
    k: int = 256,
    n_iter: int = 20,
    repeats: int = 3,
    seed: int = 0,
    log: Any = print,
) -> dict[str, Any]:
    """Time and inertia of rvqlib (numpy and torch input) and scikit-learn (when installed)."""
    from rvqlib.kmeans import kmeans, kmeans_plusplus

    x_t = latent_vectors(n, dim, seed + 4)
    x = x_t.numpy()
    init = kmeans_plusplus(x, k, np.random.default_rng(seed))
    init_t = torch.from_numpy(init)
    results: dict[str, Any] = {}
    fns = {
        "rvqlib kmeans (numpy)": lambda: kmeans(x, k, n_iter=n_iter, init=init, tol=0.0),
        "rvqlib kmeans (torch)": lambda: kmeans(x_t, k, n_iter=n_iter, init=init_t, tol=0.0),
    }
    skipped: dict[str, str] = {}
    try:
        from sklearn.cluster import KMeans as SkKMeans
    except ImportError:
        skipped["scikit-learn KMeans"] = "not installed (pip install scikit-learn)"
        log("  [skip] scikit-learn KMeans: not installed")
    else:

        def sk() -> Any:
            return SkKMeans(
                n_clusters=k, init=init, n_init=1, max_iter=n_iter, tol=0.0, algorithm="lloyd"
            ).fit(x)

        fns["scikit-learn KMeans"] = sk

    floor = score_floor(x_t, init_t, n_iter)
    with torch.inference_mode():
        outs = {name: fn() for name, fn in fns.items()}  # also the warm-up
        floor()
        timings = interleaved_timings({**fns, FLOOR: floor}, repeats=repeats, warmup=0)
    floor_t = timings.pop(FLOOR)
    for name, out in outs.items():
        if name.startswith("scikit-learn"):
            iters, reported, centroids = int(out.n_iter_), float(out.inertia_), out.cluster_centers_
        else:
            iters, reported = len(out.history), float(out.inertia)
            centroids = np.asarray(out.centroids)
        t = timings[name]
        results[name] = {
            **t.as_dict(),
            "iterations": iters,
            "s_per_iter": t.median / iters,
            "inertia_reported": reported,
            "inertia_float64": inertia64(x, centroids),
        }
        log(
            f"  {name}: {results[name]['s_per_iter'] * 1e3:.1f} ms/iter x {iters}, "
            f"inertia {results[name]['inertia_float64']:.6g}"
        )
    floor_ms = floor_t.median / n_iter * 1e3
    log(f"  {FLOOR}: {floor_ms:.1f} ms/iter")
    return {
        "n": n,
        "dim": dim,
        "k": k,
        "n_iter": n_iter,
        "repeats": repeats,
        "impls": results,
        "floor_s_per_iter": floor_t.median / n_iter,
        "skipped": skipped,
    }


FLOOR = "score products alone (floor)"


def score_floor(x: torch.Tensor, centroids: torch.Tensor, n_iter: int) -> Any:
    """``n_iter`` passes of the assignment step's matrix products and nothing else.

    Each pass scores every row of ``x`` against ``centroids`` with one
    ``addmm`` per block of 2,048 rows (rvqlib's block: 2 MiB of scores at
    K = 256) into a reused buffer, with the benchmark's torch threads: the part
    of a Lloyd iteration that no implementation can skip. The rest of an
    iteration (argmin, checking near-ties, the inertia, the new means) is the
    gap between this floor and each implementation's time.
    """
    rows = 2048
    norms = (centroids * centroids).sum(dim=1)
    m2t = (-2.0 * centroids).T.contiguous()
    buf = torch.empty(rows, centroids.shape[0], dtype=x.dtype)

    def run() -> torch.Tensor:
        for _ in range(n_iter):
            for s in range(0, x.shape[0], rows):
                xc = x[s : s + rows]
                torch.addmm(norms, xc, m2t, out=buf[: xc.shape[0]])
        return buf

    return run


def separated_blobs(
    k: int, dim: int, n_per: int, seed: int, *, gap: float = 8.0
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` isotropic unit-variance blobs whose centres are at least ``gap`` apart.

    Centres are drawn uniformly in a cube sized for ``k`` such centres and
    redrawn while two are closer than ``gap`` standard deviations, so every
    blob is well separated from every other: the partition into blobs is the
    global minimum of k-means, and a run that ends with two centroids in one
    blob and one centroid on two blobs is in a poor local minimum.
    """
    rng = np.random.default_rng(seed)
    side = gap * k ** (1.0 / dim) * 1.5
    centres: list[np.ndarray] = []
    while len(centres) < k:
        c = rng.uniform(0.0, side, size=dim)
        if all(np.linalg.norm(c - o) >= gap for o in centres):
            centres.append(c)
    labels = np.repeat(np.arange(k), n_per)
    x = np.stack(centres)[labels] + rng.normal(size=(k * n_per, dim))
    return x.astype(np.float32), labels


def run_seeding(
    *,
    k: int = 16,
    dim: int = 2,
    n_per: int = 100,
    n_sets: int = 3,
    seeds: int = 100,
    poor: float = 1.1,
    log: Any = print,
) -> dict[str, Any]:
    """How often greedy k-means++ then Lloyd ends in a poor local minimum, rvqlib vs sklearn.

    On ``n_sets`` sets of well-separated blobs (:func:`separated_blobs`), each
    library runs k-means from its own greedy k-means++ seeding (``2 + floor(ln
    k)`` candidates per centre in both) for ``seeds`` seeds: rvqlib's
    ``kmeans(x, k, seed=s)`` and scikit-learn's ``KMeans(k, n_init=1,
    algorithm="lloyd", random_state=s)``. A run is in a poor minimum when its
    inertia exceeds ``poor`` times that of the blobs' own partition (a merged
    pair of blobs costs far more than 10%). The two libraries draw different
    random numbers, so the counts are two samples of the same kind of event:
    with rates near ``p`` over ``n`` runs their standard deviation is about
    ``sqrt(n p (1 - p))`` each.
    """
    from rvqlib.kmeans import kmeans

    try:
        from sklearn.cluster import KMeans as SkKMeans
    except ImportError:
        log("  [skip] scikit-learn KMeans: not installed")
        SkKMeans = None  # noqa: N806
    sets = []
    for s in range(n_sets):
        x, labels = separated_blobs(k, dim, n_per, seed=100 + s)
        x64 = x.astype(np.float64)
        centres = np.stack([x64[labels == j].mean(axis=0) for j in range(k)])
        truth = float(((x64 - centres[labels]) ** 2).sum())
        ours = [kmeans(x, k, seed=i).inertia for i in range(seeds)]
        row: dict[str, Any] = {
            "truth_inertia": truth,
            "rvqlib": int(sum(v > poor * truth for v in ours)),
        }
        if SkKMeans is not None:
            theirs = [
                float(SkKMeans(k, n_init=1, algorithm="lloyd", random_state=i).fit(x).inertia_)
                for i in range(seeds)
            ]
            row["sklearn"] = int(sum(v > poor * truth for v in theirs))
        sets.append(row)
        log(
            f"  seeding set {s}: poor minima rvqlib {row['rvqlib']}/{seeds}"
            + (f", scikit-learn {row['sklearn']}/{seeds}" if "sklearn" in row else "")
        )
    return {
        "k": k,
        "dim": dim,
        "n_per": n_per,
        "n_sets": n_sets,
        "seeds": seeds,
        "poor": poor,
        "sets": sets,
        "skipped": {} if SkKMeans is not None else {"scikit-learn KMeans": "not installed"},
    }
