"""Assertions shared by the exercise-checker tests (tests/test_exercises_chNN.py)."""

from __future__ import annotations

from rvqlib.exercises import CheckResult


def assert_right(result: CheckResult) -> None:
    """The checker accepted the answer and said so."""
    assert result.ok and bool(result)
    assert result.message.startswith("Correct"), result.message


def assert_wrong(result: CheckResult, *fragments: str) -> None:
    """The checker rejected the answer, and its message contains every fragment."""
    assert not result.ok and not bool(result)
    assert result.message.startswith("Not yet"), result.message
    for fragment in fragments:
        assert fragment in result.message, (fragment, result.message)
