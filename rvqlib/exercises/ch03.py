"""Checkers for the exercises of chapter 3, "Learning a codebook with k-means".

One function per exercise, each returning a :class:`~rvqlib.exercises._check.CheckResult`
and never raising, whatever it is passed:

- :func:`check_one_iteration` -- one Lloyd iteration by hand on six 1-D points.
- :func:`check_lloyd_step` -- implement ``my_lloyd_step(x, centroids)``.
- :func:`check_more_iterations` -- predict what more iterations do to the inertia.
- :func:`check_k_equals_n` -- predict the inertia when every point gets a codeword.
- :func:`check_local_minimum` -- explain why k-means can get stuck.

Expected values are computed here with :func:`rvqlib.vq.nearest` and per-cluster
means, never typed in. Numbers worked out by hand are right to 3 significant
figures, and the named slips are recognised with the same tolerance.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from rvqlib.exercises._check import (
    CheckResult,
    all_parts,
    as_numpy,
    check_array,
    check_choice,
    check_close,
    check_function,
    is_placeholder,
    never_raises,
    wrong,
)
from rvqlib.vq import nearest

__all__ = [
    "INIT_HAND",
    "X_HAND",
    "check_k_equals_n",
    "check_local_minimum",
    "check_lloyd_step",
    "check_more_iterations",
    "check_one_iteration",
    "reference_lloyd_step",
]

#: The six 1-D points of the by-hand exercise (shape ``(6, 1)``).
X_HAND: np.ndarray = np.array([[1.0], [2.0], [4.0], [5.0], [9.0], [10.0]])
#: The two initial centroids of the by-hand exercise (shape ``(2, 1)``).
INIT_HAND: np.ndarray = np.array([[1.0], [4.0]])


def reference_lloyd_step(x: Any, centroids: Any) -> tuple[np.ndarray, np.ndarray]:
    """One Lloyd iteration, the way the exercises define it.

    Assignment step to the **given** centroids (nearest centroid, squared
    distance, ties to the lowest index, by :func:`rvqlib.vq.nearest`), then
    centroid step (mean of the points assigned to each centroid; a centroid
    that wins no point stays where it is: no re-seeding).

    Parameters
    ----------
    x : array_like, shape (N, D)
        The data.
    centroids : array_like, shape (K, D)
        The current centroids.

    Returns
    -------
    new_centroids : numpy.ndarray, shape (K, D)
        The centroids after the centroid step.
    labels : numpy.ndarray, shape (N,)
        ``int64`` index of the given centroid each point was assigned to (the
        assignment the new centroids were computed from).
    """
    x = np.asarray(x, dtype=np.float64)
    centroids = np.asarray(centroids, dtype=np.float64)
    labels = nearest(x, centroids)
    new = centroids.copy()
    for j in range(len(centroids)):
        members = x[labels == j]
        if len(members):
            new[j] = members.mean(axis=0)
    return new, labels


def _inertia(x: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> float:
    return float(((x - centroids[labels]) ** 2).sum())


@never_raises
def check_one_iteration(new_centroids: Any, inertia: Any) -> CheckResult:
    """Checker for exercise ``ch03-ex-by-hand``: one Lloyd iteration by hand.

    Both parts are checked and reported at once. Each number is right when it
    agrees with the exact value to 3 significant figures; the common slips
    (centroids in the wrong order, the starting centroids, one step too far;
    the inertia before the re-assignment, divided by N, ...) are named with
    the same tolerance.

    Parameters
    ----------
    new_centroids : array_like
        The two centroids after one assignment step and one centroid step,
        starting from :data:`INIT_HAND` on :data:`X_HAND` (a list of two
        numbers, or shape ``(2, 1)``).
    inertia : float
        The inertia after the iteration: the new centroids, with every vector
        re-assigned to its nearest new centroid (what ``kmeans(...).history[0]``
        records).

    Returns
    -------
    CheckResult
    """
    if is_placeholder(new_centroids) and is_placeholder(inertia):
        return wrong("one Lloyd iteration", "no answer yet", "fill in both answers")
    want_c, labels = reference_lloyd_step(X_HAND, INIT_HAND)
    too_far, _ = reference_lloyd_step(X_HAND, want_c)
    got_c = as_numpy(new_centroids)
    if got_c is not None and got_c.size == want_c.size:
        got_c = got_c.reshape(-1)
    else:
        got_c = new_centroids  # check_array names what is wrong with it
    res_c = check_array(
        got_c,
        want_c.ravel(),
        name="the new centroids",
        sig_figs=3,
        mistakes={
            "you swapped them: centroid 0 started at 1 and is listed first": want_c.ravel()[::-1],
            "you gave the starting centroids: move each to the mean of its points": (
                INIT_HAND.ravel()
            ),
            "you went one step too far: these are the means after the re-assignment, the "
            "centroid step of the second iteration": too_far.ravel(),
        },
        hint="assign every point to its nearest starting centroid, then average each group",
    )
    if res_c.ok:
        res_c = CheckResult(True, f"Correct: the new centroids = {want_c.ravel().tolist()}.")
    _, relabels = reference_lloyd_step(X_HAND, want_c)
    expected = _inertia(X_HAND, want_c, relabels)
    res_j = check_close(
        inertia,
        expected,
        name="the inertia",
        mistakes={
            "you kept the first assignment: with the new centroids one vector is now "
            "closer to the other centroid, re-assign before summing": _inertia(
                X_HAND, want_c, labels
            ),
            "you used the starting centroids (the inertia before the iteration)": _inertia(
                X_HAND, INIT_HAND, labels
            ),
            "you divided by N (that is the mean squared error, not the inertia)": expected
            / len(X_HAND),
            "you summed distances instead of squared distances": float(
                np.abs(X_HAND - want_c[relabels]).sum()
            ),
        },
        hint="re-assign every vector to its nearest new centroid, then sum the squared distances",
    )
    return all_parts([res_c, res_j], "one Lloyd iteration")


def _lloyd_step_cases() -> list[
    tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
]:
    rng = np.random.default_rng(3)
    inputs = [
        # the by-hand exercise: the vector 4 changes cluster after the centroid step, so
        # labels of the given and of the new centroids differ
        (X_HAND, INIT_HAND),
        (rng.normal(size=(40, 2)), rng.normal(size=(4, 2))),  # generic 2-D
        # a tie: 1.0 is as close to 0.0 as to 2.0, so it goes to centroid 0
        (np.array([[0.0], [1.0], [2.0], [5.0]]), np.array([[0.0], [2.0]])),
        # an empty cluster: nothing is near (50, 50), so that centroid stays put
        (
            np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [4.0, 4.0]]),
            np.array([[0.0, 0.0], [50.0, 50.0], [4.0, 3.0]]),
        ),
    ]
    return [((x, c), reference_lloyd_step(x, c)) for x, c in inputs]


def _same_step(got: Any, want: tuple[np.ndarray, np.ndarray]) -> bool:
    if not isinstance(got, tuple | list) or len(got) != 2:
        return False
    c, lab = as_numpy(got[0]), as_numpy(got[1])
    if c is None or lab is None or c.shape != want[0].shape or lab.shape != want[1].shape:
        return False
    if not (np.issubdtype(lab.dtype, np.integer) and np.issubdtype(c.dtype, np.number)):
        return False
    return bool(np.allclose(c, want[0]) and np.array_equal(lab, want[1]))


def _diagnose_labels(x: np.ndarray, c: np.ndarray, gl: np.ndarray, want_l: np.ndarray) -> str:
    """Why the labels differ from the assignment to the given centroids."""
    new_c, _ = reference_lloyd_step(x, c)
    if np.array_equal(gl, nearest(x, new_c)):
        return (
            "your labels are the assignment to the NEW centroids (scikit-learn's convention: "
            "KMeans(max_iter=1).labels_); this exercise asks for the assignment to the GIVEN "
            "centroids, the one you averaged to compute new_centroids"
        )
    d2 = ((x[:, None, :] - c[None]) ** 2).sum(axis=2)
    ties = (d2 == d2.min(axis=1, keepdims=True)).sum(axis=1) > 1
    differ = gl != want_l
    if differ.any() and ties[differ].all():
        return (
            "the labels differ only for points that are equally close to two centroids: "
            "a tie goes to the lowest index (what np.argmin does)"
        )
    return (
        "the labels are wrong: each point goes to its nearest given centroid (smallest "
        "squared distance; a tie goes to the lowest index)"
    )


def _diagnose_step(fn: Any) -> str | None:
    """Name the likely slip of a wrong ``my_lloyd_step``, or None."""
    for (x, c), (want_c, want_l) in _lloyd_step_cases():
        try:
            got = fn(x.copy(), c.copy())
        except Exception:
            return None
        if not isinstance(got, tuple | list) or len(got) != 2:
            return "return a tuple (new_centroids, labels)"
        gc, gl = as_numpy(got[0]), as_numpy(got[1])
        if gc is None or gl is None:
            return "return two arrays: (new_centroids, labels)"
        if gc.shape == want_l.shape and gl.shape == want_c.shape:
            return "the order is (new_centroids, labels), you returned them swapped"
        if gc.shape != want_c.shape:
            return f"new_centroids must have shape {want_c.shape} (K, D), got {gc.shape}"
        if gl.shape != want_l.shape:
            return f"labels must have shape {want_l.shape} (N,), got {gl.shape}"
        if not np.issubdtype(gl.dtype, np.integer):
            if np.array_equal(gl, want_l):
                return (
                    f"the labels are right but they are {gl.dtype} numbers: indices are "
                    "integers (argmin returns them; do not convert to float)"
                )
            return f"labels must be integer indices, got dtype {gl.dtype}"
        if not np.array_equal(gl, want_l):
            return _diagnose_labels(x, c, gl, want_l)
        if np.isnan(gc).any():
            return (
                "a centroid that wins no point became NaN (the mean of an empty set): "
                "leave such a centroid where it was"
            )
        if np.allclose(gc, c) and not np.allclose(want_c, c):
            return "you returned the old centroids: move each to the mean of its points"
        if not np.allclose(gc, want_c):
            counts = np.bincount(want_l, minlength=len(c))
            rows_ok = np.isclose(gc, want_c).all(axis=1)
            empty = counts == 0
            if empty.any() and rows_ok[~empty].all():
                moved = gc[empty & ~rows_ok]
                if all((np.isclose(x, row).all(axis=1)).any() for row in moved):
                    return (
                        "you re-seeded the empty cluster's centroid on a data point (what "
                        "rvqlib.kmeans does); in this exercise a centroid that wins no point "
                        "stays where it is (as in EnCodec's k-means)"
                    )
                return (
                    "a centroid that wins no point moved; in this exercise it stays where it "
                    "is (no re-seeding)"
                )
            if np.allclose(gc, reference_lloyd_step(x, want_c)[0]):
                return (
                    "you did two centroid steps: new_centroids is the mean of each cluster of "
                    "the labels to the GIVEN centroids, computed once"
                )
            return "the labels are right but the centroids are not: each is the mean of its points"
    return None


@never_raises
def check_lloyd_step(my_lloyd_step: Any) -> CheckResult:
    """Checker for exercise ``ch03-ex-lloyd-step``: implement one Lloyd iteration.

    Parameters
    ----------
    my_lloyd_step : callable
        ``my_lloyd_step(x, centroids) -> (new_centroids, labels)`` for ``x`` of
        shape ``(N, D)`` and ``centroids`` of shape ``(K, D)``: ``labels`` are
        the integer assignment of every point to its nearest **given**
        centroid (ties to the lowest index) and ``new_centroids`` the means of
        those clusters; a centroid that wins no point keeps its position.

    Returns
    -------
    CheckResult
        Wrong implementations are told the first failing case and, where it can
        be recognised, the slip (labels to the new centroids, ties, re-seeding
        an empty cluster, NaN for an empty cluster, wrong order, ...).
    """
    res = check_function(
        my_lloyd_step,
        _lloyd_step_cases(),
        name="my_lloyd_step",
        compare=_same_step,
        hint="assign to the given centroids with squared distances, then average each cluster",
    )
    if res or is_placeholder(my_lloyd_step) or not callable(my_lloyd_step):
        return res
    (x0, c0), _ = _lloyd_step_cases()[0]
    try:
        first = my_lloyd_step(x0.copy(), c0.copy())
    except Exception:
        first = False
    if first is None:
        return wrong(
            "my_lloyd_step",
            "no answer yet: the function returns None",
            "write its body and return (new_centroids, labels)",
        )
    with warnings.catch_warnings():  # the reader's code already warned once above
        warnings.simplefilter("ignore", RuntimeWarning)
        why = _diagnose_step(my_lloyd_step)
    return CheckResult(False, res.message + (f"\nLikely slip: {why}" if why else ""))


_MORE_OPTIONS = ("lower or equal", "strictly lower", "could be higher", "cannot tell")
_MORE_ALIASES = {
    "<=": "lower or equal",
    "≤": "lower or equal",
    "=<": "lower or equal",
    "non-increasing": "lower or equal",
    "nonincreasing": "lower or equal",
    "not higher": "lower or equal",
    "no higher": "lower or equal",
    "never higher": "lower or equal",
    "lower or the same": "lower or equal",
    "equal or lower": "lower or equal",
    "less or equal": "lower or equal",
    "less than or equal": "lower or equal",
    "smaller or equal": "lower or equal",
    "lower than or equal": "lower or equal",
    "<": "strictly lower",
    ">": "could be higher",
    "don't know": "cannot tell",
    "can't tell": "cannot tell",
}


@never_raises
def check_more_iterations(answer: Any) -> CheckResult:
    """Checker for exercise ``ch03-ex-more-iterations`` (predict, then run).

    Parameters
    ----------
    answer : str
        How the inertia after 30 iterations compares with the inertia after 3
        iterations of the same run (same data, same initial centroids), one of
        ``"lower or equal"`` (also ``"<="``, ``"non-increasing"``, ...),
        ``"strictly lower"``, ``"could be higher"``, ``"cannot tell"``.

    Returns
    -------
    CheckResult
    """
    return check_choice(
        answer,
        "lower or equal",
        name="inertia after 30 iterations vs after 3",
        options=_MORE_OPTIONS,
        aliases=_MORE_ALIASES,
        explanations={
            "lower or equal": (
                "the first 3 iterations are the same in both runs, and no later "
                "iteration can raise the inertia (the monotonicity theorem)"
            ),
            "strictly lower": (
                "not always: once Lloyd's algorithm reaches a fixed point, further "
                "iterations change nothing and the inertia stays equal"
            ),
            "could be higher": (
                "no iteration can raise the inertia: the assignment step and the "
                "centroid step each minimise it over their own variable"
            ),
            "cannot tell": (
                "we can: both runs share their first 3 iterations (same init), "
                "and inertia never increases afterwards"
            ),
        },
    )


_KN_OPTIONS = ("zero", "small but positive", "depends on the seed", "undefined: clusters go empty")
_KN_ALIASES = {
    "0.0": "zero",
    "0.": "zero",
    "j = 0": "zero",
    "j=0": "zero",
    "nothing": "zero",
    "positive": "small but positive",
    "seed": "depends on the seed",
    "undefined": "undefined: clusters go empty",
    "nan": "undefined: clusters go empty",
}


@never_raises
def check_k_equals_n(answer: Any) -> CheckResult:
    """Checker for exercise ``ch03-ex-k-equals-n`` (predict, then run).

    Parameters
    ----------
    answer : str or number
        The final inertia of k-means (k-means++ seeding) with ``k = N`` on
        ``N`` distinct points, one of ``"zero"`` (also ``0``, ``0.0``, ``"0"``),
        ``"small but positive"``, ``"depends on the seed"``,
        ``"undefined: clusters go empty"``.

    Returns
    -------
    CheckResult
    """
    return check_choice(
        answer,
        "zero",
        name="inertia with k = N",
        options=_KN_OPTIONS,
        aliases=_KN_ALIASES,
        explanations={
            "zero": (
                "k-means++ never picks a point twice (its squared distance to the "
                "chosen centroid is 0, so its probability is 0), so every point "
                "becomes its own centroid and is reproduced exactly: a codebook as "
                "large as the data memorises it and compresses nothing"
            ),
            "small but positive": (
                "that would need two points to share a centroid, but k-means++ gives "
                "every distinct point its own: its D^2 is 0 once it is chosen"
            ),
            "depends on the seed": (
                "the seed changes which point k-means++ picks first, but every "
                "distinct point is picked exactly once whatever the order"
            ),
            "undefined: clusters go empty": (
                "no cluster is empty: each centroid sits on a point, which is its "
                "own nearest centroid, so every cluster owns exactly one point"
            ),
        },
    )


_LOCAL_OPTIONS = ("a", "b", "c", "d")


@never_raises
def check_local_minimum(answer: Any) -> CheckResult:
    """Checker for exercise ``ch03-ex-local-minimum`` (explain, multiple choice).

    Parameters
    ----------
    answer : str
        One of ``"a"``, ``"b"``, ``"c"``, ``"d"`` (the options are stated in the
        chapter's exercise).

    Returns
    -------
    CheckResult
    """
    return check_choice(
        answer,
        "b",
        name="why k-means gets stuck",
        options=_LOCAL_OPTIONS,
        explanations={
            "a": (
                "Lloyd's algorithm has no step size: each half-step jumps straight to "
                "the best value of its own variables, and a run that has stopped "
                "changing stays where it is however many iterations follow"
            ),
            "b": (
                "each half-step is already optimal with the other variables held "
                "fixed, so a configuration such as two centroids sharing one blob "
                "while one centroid sits between two blobs is a fixed point of both, "
                "although moving several centroids at once would lower the inertia"
            ),
            "c": (
                "k-means gets stuck with every cluster non-empty too, e.g. with one "
                "centroid covering two blobs; the stuck run of the solution has no "
                "empty cluster"
            ),
            "d": (
                "the inertia never increases (the monotonicity theorem), so it cannot "
                "oscillate: the run settles at a fixed point"
            ),
        },
    )
