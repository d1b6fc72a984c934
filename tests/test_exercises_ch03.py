"""Tests of the chapter 3 exercise checkers (rvqlib.exercises.ch03)."""

from __future__ import annotations

import numpy as np
import pytest
from exercise_asserts import assert_right, assert_wrong

from rvqlib.exercises import ch03
from rvqlib.kmeans import kmeans


# ----------------------------------------------------------------- by hand
def test_by_hand_right_answer_matches_rvqlib() -> None:
    res = kmeans(ch03.X_HAND, 2, init=ch03.INIT_HAND, n_iter=1)
    assert np.allclose(res.centroids.ravel(), [1.5, 7.0])
    assert res.history[0] == 23.75
    assert_right(ch03.check_one_iteration(res.centroids, res.history[0]))
    assert_right(ch03.check_one_iteration([1.5, 7.0], 23.75))


def test_by_hand_placeholder() -> None:
    assert_wrong(ch03.check_one_iteration(..., ...), "no answer yet")
    assert_wrong(ch03.check_one_iteration([1.5, 7.0], ...), "no answer yet")


@pytest.mark.parametrize(
    ("inertia", "words"),
    [
        (26.5, ["kept the first assignment"]),
        (63.0, ["starting centroids"]),
        (23.75 / 6, ["divided by N"]),
        (10.5, ["instead of squared"]),
        (20.0, ["got 20", "too small"]),
    ],
)
def test_by_hand_wrong_inertia(inertia: float, words: list[str]) -> None:
    assert_wrong(ch03.check_one_iteration([1.5, 7.0], inertia), *words)


def test_by_hand_wrong_centroids() -> None:
    assert_wrong(ch03.check_one_iteration([7.0, 1.5], 23.75), "wrong order")
    assert_wrong(ch03.check_one_iteration([1.0, 4.0], 23.75), "initial centroids")
    assert_wrong(ch03.check_one_iteration([1.5, 6.0], 23.75), "new centroids", "expected 7.0")
    assert_wrong(ch03.check_one_iteration([1.5, 7.0, 3.0], 23.75), "two numbers")


# ----------------------------------------------------------------- implement
def _good_step(x, centroids):
    labels = ((x[:, None, :] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
    new = centroids.astype(float)
    for k in range(len(centroids)):
        if np.any(labels == k):
            new[k] = x[labels == k].mean(axis=0)
    return new, labels


def test_lloyd_step_right() -> None:
    assert_right(ch03.check_lloyd_step(_good_step))
    assert_right(ch03.check_lloyd_step(ch03.reference_lloyd_step))


def test_lloyd_step_placeholder() -> None:
    assert_wrong(ch03.check_lloyd_step(...), "no function yet")

    def empty(x, centroids): ...

    assert_wrong(ch03.check_lloyd_step(empty), "no answer yet", "returns None")


def test_lloyd_step_nan_for_empty_cluster() -> None:
    def nan_step(x, centroids):
        labels = ((x[:, None, :] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            new = np.array(
                [x[labels == k].sum(0) / (labels == k).sum() for k in range(len(centroids))]
            )
        return new, labels

    assert_wrong(ch03.check_lloyd_step(nan_step), "Likely slip", "NaN", "leave such a centroid")


def test_lloyd_step_swapped_outputs() -> None:
    assert_wrong(ch03.check_lloyd_step(lambda x, c: _good_step(x, c)[::-1]), "swapped")


def test_lloyd_step_old_centroids() -> None:
    assert_wrong(
        ch03.check_lloyd_step(lambda x, c: (c, _good_step(x, c)[1])), "returned the old centroids"
    )


def test_lloyd_step_wrong_labels() -> None:
    def highest_index_ties(x, c):
        d2 = ((x[:, None, :] - c[None]) ** 2).sum(axis=2)
        labels = len(c) - 1 - d2[:, ::-1].argmin(axis=1)  # ties to the highest index
        new = _good_step(x, c)[0]
        return new, labels

    assert_wrong(ch03.check_lloyd_step(highest_index_ties), "labels are wrong", "lowest index")


def test_lloyd_step_raises() -> None:
    def broken(x, c):
        raise RuntimeError("oops")

    assert_wrong(ch03.check_lloyd_step(broken), "raised RuntimeError")


def test_lloyd_step_not_callable() -> None:
    assert_wrong(ch03.check_lloyd_step(3), "expected a function")


# ----------------------------------------------------------------- choices
@pytest.mark.parametrize(
    ("checker", "right", "wrong", "word"),
    [
        (ch03.check_more_iterations, "lower or equal", "strictly lower", "fixed point"),
        (ch03.check_more_iterations, "Lower or Equal", "could be higher", "can raise"),
        (ch03.check_k_equals_n, "zero", "depends on the seed", "picked exactly once"),
        (ch03.check_k_equals_n, "zero", "the same as with k = 1", "mean of all points"),
        (ch03.check_local_minimum, "a", "c", "not convex"),
        (ch03.check_local_minimum, "A", "d", "non-empty"),
    ],
)
def test_choices(checker, right: str, wrong: str, word: str) -> None:
    assert_right(checker(right))
    assert_wrong(checker(wrong), "is not right", word)
    assert_wrong(checker(...), "no answer yet")
    assert_wrong(checker("banana"), "not one of the options")


def test_k_equals_n_claim_holds() -> None:
    x = np.random.default_rng(0).normal(size=(30, 2))
    for s in range(3):
        assert kmeans(x, 30, seed=s).inertia == 0.0


def test_more_iterations_claim_holds() -> None:
    x = np.random.default_rng(1).normal(size=(200, 2))
    for s in range(5):
        start = x[np.random.default_rng(s).choice(200, 6, replace=False)]
        assert (
            kmeans(x, 6, init=start, n_iter=30).inertia
            <= kmeans(x, 6, init=start, n_iter=3).inertia
        )


def test_by_hand_one_step_too_far() -> None:
    second, _ = ch03.reference_lloyd_step(ch03.X_HAND, np.array([[1.5], [7.0]]))
    assert np.allclose(second.ravel(), [7 / 3, 8.0])
    assert_wrong(
        ch03.check_one_iteration(second.ravel(), 23.75), "one step too far", "re-assignment"
    )
