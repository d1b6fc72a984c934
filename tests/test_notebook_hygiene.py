"""Notebooks are stored without outputs, and every exercise has a solution."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXERCISE = re.compile(r"```+\{exercise\}[^\n]*\n:label:\s*(\S+)")
SOLUTION = re.compile(r"```+\{solution(?:-start)?\}\s*(\S+)")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


def test_notebooks_are_listed_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    missing = [nb.stem for nb in NOTEBOOKS if f"notebooks/{nb.stem}" not in toc]
    assert not missing, f"notebooks not in _toc.yml: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = json.loads(path.read_text())
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} store outputs or execution counts (nbstripout)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_solution(path: Path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    exercises = EXERCISE.findall(text)
    solutions = set(SOLUTION.findall(text))
    assert len(exercises) >= 4, f"{path.name}: {len(exercises)} exercises, at least 4 expected"
    missing = [label for label in exercises if label not in solutions]
    assert not missing, f"{path.name}: exercises without a solution: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_opens_with_objectives_and_has_summary(path: Path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "Learning objectives" in text, f"{path.name}: no learning-objectives admonition"
    for heading in ("## Summary", "## Exercises", "## Further reading"):
        assert heading in text, f"{path.name}: no '{heading}' section"
    assert "{cite" in text, f"{path.name}: cites nothing from references.bib"
