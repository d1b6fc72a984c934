"""Tests of the chapter 3 exercise checkers (rvqlib.exercises.ch03).

Each checker: a right answer, a rounded-right answer (by-hand numbers), each
named slip, a wrong type and the placeholder.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
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
    assert_right(ch03.check_one_iteration(np.array([[1.5], [7.0]]), np.float32(23.75)))
    assert_right(ch03.check_one_iteration(torch.tensor([1.5, 7.0]), torch.tensor(23.75)))


def test_by_hand_rounded_right() -> None:
    result = ch03.check_one_iteration([1.5, 7.0], 23.8)
    assert_right(result)
    assert "23.75" in result.message  # the verdict says the exact value
    assert_right(ch03.check_one_iteration([1.50, 7.00], 23.7))


def test_by_hand_placeholder() -> None:
    assert_wrong(ch03.check_one_iteration(..., ...), "no answer yet")
    assert_wrong(ch03.check_one_iteration([1.5, 7.0], ...), "no answer yet")
    assert_wrong(ch03.check_one_iteration(..., 23.75), "no answer yet")


@pytest.mark.parametrize(
    ("inertia", "words"),
    [
        (26.5, ["kept the first assignment"]),
        (63.0, ["starting centroids"]),
        (23.75 / 6, ["divided by N"]),
        (3.96, ["divided by N"]),  # the same slip, rounded to 3 significant figures
        (10.5, ["instead of squared"]),
        (20.0, ["got 20", "too small"]),
    ],
)
def test_by_hand_wrong_inertia(inertia: float, words: list[str]) -> None:
    result = ch03.check_one_iteration([1.5, 7.0], inertia)
    assert_wrong(result, "the inertia", *words)
    assert "Correct: the new centroids" in result.message  # the other part is reported too


@pytest.mark.parametrize(
    ("centroids", "words"),
    [
        ([7.0, 1.5], ["swapped"]),
        ([1.0, 4.0], ["starting centroids"]),
        ([7 / 3, 8.0], ["one step too far"]),
        ([2.33, 8.0], ["one step too far"]),  # rounded: still named
        ([1.5, 6.0], ["expected 7.0"]),
        ([1.5, 7.0, 3.0], ["shape (3,)"]),
        ("1.5, 7", ["expected an array"]),
        (None, ["expected an array"]),
    ],
)
def test_by_hand_wrong_centroids(centroids, words: list[str]) -> None:
    result = ch03.check_one_iteration(centroids, 23.75)
    assert_wrong(result, "the new centroids", *words)
    assert "Correct: the inertia" in result.message


def test_by_hand_both_parts_wrong_are_both_reported() -> None:
    result = ch03.check_one_iteration([7.0, 1.5], 26.5)
    assert_wrong(result, "2 of 2 parts", "swapped", "kept the first assignment")


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

    def euclidean(x, c):  # the distance, not its square: the same argmin
        labels = np.sqrt(((x[:, None, :] - c[None]) ** 2).sum(axis=2)).argmin(axis=1)
        return _good_step(x, c)[0], labels

    assert_right(ch03.check_lloyd_step(euclidean))

    def as_lists(x, c):
        new, labels = _good_step(x, c)
        return new.tolist(), labels.tolist()

    assert_right(ch03.check_lloyd_step(as_lists))


def test_lloyd_step_placeholder() -> None:
    assert_wrong(ch03.check_lloyd_step(...), "no function yet")

    def empty(x, centroids): ...

    assert_wrong(ch03.check_lloyd_step(empty), "no answer yet", "returns None")


def test_lloyd_step_labels_to_new_centroids() -> None:
    """scikit-learn's convention (KMeans(max_iter=1).labels_) is named as such."""

    def sklearn_like(x, c):
        new, _ = _good_step(x, c)
        labels = ((x[:, None, :] - new[None]) ** 2).sum(axis=2).argmin(axis=1)
        return new, labels

    assert_wrong(
        ch03.check_lloyd_step(sklearn_like), "Likely slip", "NEW centroids", "GIVEN centroids"
    )


def test_lloyd_step_reseeds_empty_cluster() -> None:
    def reseed(x, c):
        new, labels = _good_step(x, c)
        empty = np.flatnonzero(np.bincount(labels, minlength=len(c)) == 0)
        far = np.argsort(-((x - new[labels]) ** 2).sum(axis=1), kind="stable")[: len(empty)]
        new[empty] = x[far]
        return new, labels

    assert_wrong(ch03.check_lloyd_step(reseed), "re-seeded the empty cluster", "stays where")

    def moves_empty(x, c):
        new, labels = _good_step(x, c)
        empty = np.bincount(labels, minlength=len(c)) == 0
        new[empty] = 0.5 * new[empty]
        return new, labels

    assert_wrong(ch03.check_lloyd_step(moves_empty), "wins no point moved")


def test_lloyd_step_two_centroid_steps() -> None:
    def twice(x, c):
        new, _ = _good_step(x, c)
        return _good_step(x, new)[0], _good_step(x, c)[1]

    assert_wrong(ch03.check_lloyd_step(twice), "two centroid steps")


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


def test_lloyd_step_ties_to_highest_index() -> None:
    def highest_index_ties(x, c):
        d2 = ((x[:, None, :] - c[None]) ** 2).sum(axis=2)
        labels = len(c) - 1 - d2[:, ::-1].argmin(axis=1)  # ties to the highest index
        new, _ = _good_step(x, c)
        return new, labels

    assert_wrong(ch03.check_lloyd_step(highest_index_ties), "equally close", "lowest index")


def test_lloyd_step_wrong_labels() -> None:
    def l1(x, c):  # L1 distance, median update
        labels = np.abs(x[:, None, :] - c[None]).sum(axis=2).argmin(axis=1)
        new = c.astype(float)
        for k in range(len(c)):
            if np.any(labels == k):
                new[k] = np.median(x[labels == k], axis=0)
        return new, labels

    assert_wrong(ch03.check_lloyd_step(l1), "labels are wrong", "squared distance")


def test_lloyd_step_float_labels() -> None:
    def float_labels(x, c):
        new, labels = _good_step(x, c)
        return new, labels.astype(float)

    assert_wrong(ch03.check_lloyd_step(float_labels), "integers")


def test_lloyd_step_raises() -> None:
    def broken(x, c):
        raise RuntimeError("oops")

    assert_wrong(ch03.check_lloyd_step(broken), "raised RuntimeError")


def test_lloyd_step_not_callable() -> None:
    assert_wrong(ch03.check_lloyd_step(3), "expected a function")
    assert_wrong(ch03.check_lloyd_step(None), "expected a function")


# ----------------------------------------------------------------- choices
@pytest.mark.parametrize(
    ("checker", "right", "wrong", "word"),
    [
        (ch03.check_more_iterations, "lower or equal", "strictly lower", "fixed point"),
        (ch03.check_more_iterations, "Lower or Equal", "could be higher", "can raise"),
        (ch03.check_more_iterations, "<=", "cannot tell", "we can"),
        (ch03.check_k_equals_n, "zero", "depends on the seed", "picked exactly once"),
        (ch03.check_k_equals_n, 0, "small but positive", "its own"),
        (ch03.check_k_equals_n, "Zero.", "undefined: clusters go empty", "no cluster is empty"),
        (ch03.check_local_minimum, "b", "a", "no step size"),
        (ch03.check_local_minimum, "B", "c", "non-empty"),
        (ch03.check_local_minimum, "(b)", "d", "cannot oscillate"),
    ],
)
def test_choices(checker, right, wrong: str, word: str) -> None:
    assert_right(checker(right))
    assert_wrong(checker(wrong), "is not right", word)
    assert_wrong(checker(...), "no answer yet")
    assert_wrong(checker("banana"), "not one of the options")
    assert_wrong(checker({"a": 1}), "not one of the options")


@pytest.mark.parametrize(
    "answer", ["<=", "≤", "non-increasing", "lower or equal.", "'Lower or equal'", "not higher"]
)
def test_more_iterations_synonyms(answer: str) -> None:
    assert_right(ch03.check_more_iterations(answer))


@pytest.mark.parametrize("answer", [0, 0.0, "0", "0.0", "zero", " ZERO ", np.int64(0)])
def test_k_equals_n_zero_in_any_form(answer) -> None:
    assert_right(ch03.check_k_equals_n(answer))


def test_k_equals_n_none_is_an_answer() -> None:
    assert_wrong(ch03.check_k_equals_n(None), "not one of the options")


def options_of(notebook: str, label: str) -> dict[str, str]:
    """The lettered options ("- **a.** ...", continuation lines joined) of an exercise."""
    import json
    from pathlib import Path

    nb = Path(__file__).resolve().parents[1] / "notebooks" / notebook
    cells = json.loads(nb.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    block = text.split(f":label: {label}", 1)[1].split("```", 1)[0]
    options: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        match = re.match(r"- \*\*([a-d])\.?\*\*\.?\s*(.*)", line)
        if match:
            current = match.group(1)
            options[current] = match.group(2)
        elif current and line.startswith("  ") and line.strip():
            options[current] += " " + line.strip()
        else:
            current = None
    return options


def test_local_minimum_right_option_is_not_the_longest() -> None:
    options = options_of("03_kmeans.ipynb", "ch03-ex-local-minimum")
    assert set(options) == {"a", "b", "c", "d"}, options
    assert len(options["b"]) < max(len(v) for v in options.values()), options


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
