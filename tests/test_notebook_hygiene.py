"""Notebook hygiene: the conventions of CONTRIBUTING.md, checked on every chapter.

What a reader sees is decided by cell tags and metadata, so these tests read
the stored notebooks and fail on any cell that breaks a rule: outputs stored,
code lines wider than the rendered column, plumbing (asserts) in view,
solutions open in Jupyter, hand-typed chapter numbers, glue instead of eval.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXERCISE = re.compile(r"```+\{exercise\}[^\n]*\n:label:\s*(\S+)")
SOLUTION = re.compile(r"```+\{solution(?:-start)?\}\s*(\S+)")
MAX_LINE = 80
CHECKS_PROMPT = ("Show the checks", "Hide the checks")
PLOT_PROMPT = ("Show the plotting code", "Hide the plotting code")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _markdown(path: Path) -> str:
    return "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown")


def _classify(path: Path) -> list[tuple[int, dict, bool]]:
    """Every cell with its index and whether it sits inside a gated solution."""
    inside = False
    out = []
    for i, cell in enumerate(_cells(path)):
        text = _source(cell)
        if cell["cell_type"] == "markdown":
            if "{solution-end}" in text:
                inside = False
            if "{solution-start}" in text:
                inside = True
        out.append((i, cell, inside))
    return out


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _jupyter(cell: dict) -> dict:
    return cell.get("metadata", {}).get("jupyter", {})


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


def test_notebooks_are_listed_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    missing = [nb.stem for nb in NOTEBOOKS if f"notebooks/{nb.stem}" not in toc]
    assert not missing, f"notebooks not in _toc.yml: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = _cells(path)
    dirty = [
        i
        for i, cell in enumerate(nb)
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} store outputs or execution counts (nbstripout)"
    evaluated = [i for i, c in enumerate(nb) if "user_expressions" in c.get("metadata", {})]
    assert not evaluated, f"{path.name}: cells {evaluated} store evaluated {{eval}} results"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_solution(path: Path):
    text = _markdown(path)
    exercises = EXERCISE.findall(text)
    solutions = set(SOLUTION.findall(text))
    assert len(exercises) >= 4, f"{path.name}: {len(exercises)} exercises, at least 4 expected"
    missing = [label for label in exercises if label not in solutions]
    assert not missing, f"{path.name}: exercises without a solution: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_opens_with_objectives_and_has_summary(path: Path):
    text = _markdown(path)
    assert "Learning objectives" in text, f"{path.name}: no learning-objectives admonition"
    for heading in ("## Summary", "## Exercises", "## Further reading"):
        assert heading in text, f"{path.name}: no '{heading}' section"
    assert "{cite" in text, f"{path.name}: cites nothing from references.bib"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_title_carries_no_hand_typed_number(path: Path):
    first = _source(_cells(path)[0])
    titles = [line for line in first.splitlines() if line.startswith("# ")]
    assert len(titles) == 1, f"{path.name}: the first cell must hold the one '# ' title"
    assert not re.match(r"# \d", titles[0]), (
        f"{path.name}: the TOC numbers chapters; drop the number from {titles[0]!r}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_uses_eval_not_glue_and_no_doubled_names(path: Path):
    text = _markdown(path)
    assert "{glue" not in text, f"{path.name}: use {{eval}}`name` instead of glue roles"
    code = "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "code")
    assert "glue(" not in code, f"{path.name}: glue() calls are not needed with {{eval}}"
    doubled = re.findall(r"(?i)\b(exercise|figure|fig\.|table|equation)\s+\{(?:ref|numref)\}", text)
    assert not doubled, (
        f"{path.name}: {doubled}: {{ref}} and {{numref}} already print 'Exercise 4.2' / "
        "'Fig. 4.2'; do not type the word before them"
    )
    control = sorted({hex(ord(ch)) for ch in text if ord(ch) < 32 and ch not in "\n\t"})
    assert not control, f"{path.name}: control characters {control} in the prose (lost backslash?)"
    evals = re.findall(r"\{eval\}`([^`]*)`", text)
    bad = [e for e in evals if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", e)]
    assert not bad, f"{path.name}: {{eval}} takes a variable name (format it in code): {bad}"


def _bound_names(source: str) -> set[str]:
    """Names a code cell binds in the kernel (assignments, loops, imports, defs).

    Names bound only inside a function, class, lambda or comprehension are not
    bound in the kernel's namespace, so their bodies are not searched.
    """
    import ast

    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    comprehensions = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    names: set[str] = set()
    todo = list(ast.iter_child_nodes(ast.parse(source)))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        if isinstance(node, scopes):
            if not isinstance(node, ast.Lambda):
                names.add(node.name)
            continue  # its body binds names of its own scope
        if isinstance(node, comprehensions):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_eval_name_is_bound_before_its_prose(path: Path):
    """The book renders each markdown cell as it executes: an {eval} name must exist by then."""
    bound: set[str] = set()
    late = []
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code":
            bound |= _bound_names(_source(cell))
            continue
        for name in re.findall(r"\{eval\}`([A-Za-z_][A-Za-z0-9_]*)`", _source(cell)):
            if name not in bound:
                late.append((i, name))
    assert not late, (
        f"{path.name}: (markdown cell, name) shown with {{eval}} before any code cell "
        f"assigns it: {late}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_rendered_column(path: Path):
    long = [
        (i, line)
        for i, cell in enumerate(_cells(path))
        if cell["cell_type"] == "code"
        for line in _source(cell).splitlines()
        if len(line) > MAX_LINE
    ]
    assert not long, (
        f"{path.name}: {len(long)} code lines longer than {MAX_LINE} characters, first: "
        f"cell {long[0][0]}: {long[0][1]!r}"
        if long
        else ""
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_hidden_setup(path: Path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert code, f"{path.name}: no code"
    first = code[0]
    assert "hide-cell" in _tags(first), f"{path.name}: the set-up cell is tagged hide-cell"
    assert re.search(r"\bsetup\(", _source(first)), (
        f"{path.name}: the set-up cell calls rvqlib.book.setup (seeds, style, one torch thread)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_plumbing_is_out_of_the_way(path: Path):
    """Asserts live in collapsed check cells; hidden cells say what they hold."""
    problems = []
    for i, cell, in_solution in _classify(path):
        if cell["cell_type"] != "code":
            continue
        text = _source(cell)
        tags = _tags(cell)
        hidden = tags & {"hide-input", "hide-cell", "remove-input", "remove-cell"}
        has_assert = re.search(r"(?m)^\s*assert\b", text)
        if in_solution:
            jup = _jupyter(cell)
            if not (jup.get("source_hidden") and jup.get("outputs_hidden")):
                problems.append(f"cell {i}: solution code is collapsed in Jupyter too")
            if not text.lstrip().startswith("# Solution"):
                problems.append(f"cell {i}: solution code starts with a '# Solution' comment")
            continue
        if has_assert and not hidden:
            problems.append(f"cell {i}: asserts belong in a collapsed check cell (hide-input)")
        if "hide-input" in tags:
            meta = cell.get("metadata", {}).get("mystnb", {})
            prompts = (meta.get("code_prompt_show"), meta.get("code_prompt_hide"))
            if prompts not in (CHECKS_PROMPT, PLOT_PROMPT):
                problems.append(f"cell {i}: hide-input cell needs the checks or plotting prompts")
            if prompts == CHECKS_PROMPT and not has_assert:
                problems.append(f"cell {i}: a check cell checks something (assert)")
            if not _jupyter(cell).get("source_hidden"):
                problems.append(f"cell {i}: hide-input cells are collapsed in Jupyter too")
            if not text.lstrip().startswith("#"):
                problems.append(
                    f"cell {i}: a collapsed cell starts with a comment (Jupyter shows line 1)"
                )
        if re.search(r"\bch\d\d\.check_\w+\(", text) and "remove-output" not in tags:
            problems.append(f"cell {i}: an answer cell is tagged remove-output (book only)")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
