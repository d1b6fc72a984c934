"""Tests of rvqlib.explorer: the kernel-free RVQ explorer of chapter 6.

The widget's JavaScript encoder is compared with rvqlib.rvq.rvq_encode on the book's
grid codebooks (with node, when it is installed), and the whole widget is driven in
headless chromium (when it is installed, as for the book's browser test): the DOM
contract, re-rendering on every input event, two widgets on one page, the 700 px
column and the self-check that refuses a wrong encoder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from rvqlib.explorer import (
    GREEDY_RVQ_JS,
    book_grid_codebooks,
    explorer_html,
    grid_codebook,
    rvq_explorer,
)
from rvqlib.rvq import rvq_encode

NODE = shutil.which("node") or shutil.which("nodejs")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RANGE = ((1.5, 10.5), (1.5, 10.5))


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        self.elements.append((tag, d))
        self._open.append(d.get("data-role"))

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        if self._open and self._open[-1]:
            self.text[self._open[-1]] = self.text.get(self._open[-1], "") + data


def _parse(html: str) -> _Elements:
    p = _Elements()
    p.feed(html)
    return p


# ----------------------------------------------------------------- codebooks
def test_grid_codebooks_are_the_chapters() -> None:
    books = book_grid_codebooks()
    assert [b.shape for b in books] == [(25, 2)] * 4
    assert any(np.allclose(e, [8, 6]) for e in books[0])
    assert any(np.allclose(e, [0.5, 0.5]) for e in books[1])
    assert np.allclose(np.diff(np.unique(books[2][:, 0])), 0.125)
    assert np.array_equal(grid_codebook(1.0, size=3)[:3], [[-1, -1], [-1, 0], [-1, 1]])
    for bad in ({"spacing": 0}, {"spacing": 1, "size": 4}, {"spacing": 1, "center": (1, 2, 3)}):
        with pytest.raises(ValueError):
            grid_codebook(**bad)


# ----------------------------------------------------------------- the HTML
def test_dom_contract_and_prefilled_readout() -> None:
    books = book_grid_codebooks()
    html = explorer_html(books, z=(8.37, 6.41), n_q=2, z_range=RANGE)
    p = _parse(html)
    roots = [a for t, a in p.elements if "data-rvq-explorer" in a]
    assert len(roots) == 1 and roots[0].get("id")
    ranges = {a["data-role"]: a for t, a in p.elements if t == "input" and a.get("type") == "range"}
    assert set(ranges) == {"z1", "z2", "nq"}
    assert ranges["nq"]["min"] == "1" and ranges["nq"]["max"] == "4"
    assert float(ranges["z1"]["value"]) == 8.37 and float(ranges["z2"]["min"]) == 1.5
    assert sum(t == "svg" for t, _ in p.elements) >= 1
    want = rvq_encode(np.array([8.37, 6.41]), books, n_q=2).tolist()
    assert p.text["codes"] == ", ".join(map(str, want)) == "17, 18"
    assert "9.29 bits" in p.text["bits"] and "2 \u00d7 log\u2082 25" in p.text["bits"]
    four = _parse(explorer_html(books, n_q=4, z_range=RANGE)).text["bits"]
    assert "18.6 bits" in four


def test_ids_are_unique_within_and_across_calls() -> None:
    books = book_grid_codebooks()
    a, b = explorer_html(books), explorer_html(books)
    ids_a = re.findall(r'\bid="([^"]+)"', a)
    ids_b = re.findall(r'\bid="([^"]+)"', b)
    assert len(ids_a) == len(set(ids_a)) and not set(ids_a) & set(ids_b)


def test_self_contained_no_network_no_math() -> None:
    html = explorer_html(book_grid_codebooks())
    scripts = "".join(re.findall(r"<script[^>]*>(.*?)</script>", html, re.S))
    outside = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)
    assert re.findall(r"https?://[^\"]*", scripts) == ["http://www.w3.org/2000/svg"]
    assert "http" not in outside and "<link" not in html and " src=" not in html
    assert "$" not in outside and "\\(" not in outside  # nothing for MathJax to typeset
    data = json.loads(re.search(r'type="application/json"[^>]*>(.*?)</script>', html, re.S)[1])
    assert data["books"] == [b.tolist() for b in book_grid_codebooks()]  # exact floats
    assert len(data["check"]["points"]) >= 40


def test_rvq_explorer_returns_an_ipython_html_object() -> None:
    widget = rvq_explorer(book_grid_codebooks(), n_q=3)
    assert type(widget).__name__ == "HTML" and "data-rvq-explorer" in widget.data


def test_different_codebook_sizes_and_bits() -> None:
    rng = np.random.default_rng(0)
    books = [rng.normal(size=(16, 2)), 0.3 * rng.normal(size=(8, 2))]
    text = _parse(explorer_html(books, z=(0.0, 0.0), n_q=2)).text["bits"]
    assert "log\u2082 16 + log\u2082 8 = 7 bits" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"codebooks": []}, TypeError, "non-empty list"),
        ({"codebooks": [np.zeros((4, 3))]}, ValueError, r"\(K, 2\)"),
        ({"codebooks": [np.full((4, 2), np.nan)]}, ValueError, "NaN"),
        ({"n_q": 5}, ValueError, "n_q"),
        ({"n_q": 2.0}, TypeError, "n_q"),
        ({"z": (20.0, 6.0), "z_range": RANGE}, ValueError, "outside"),
        ({"step": 0}, ValueError, "step"),
        ({"z_range": ((3, 1), (1, 3)), "z": (2, 2)}, ValueError, "lo < hi"),
    ],
)
def test_bad_input(kwargs, error, fragment) -> None:
    kwargs = {"codebooks": book_grid_codebooks(), **kwargs}
    with pytest.raises(error, match=fragment):
        explorer_html(**kwargs)


# ----------------------------------------------------------------- the JS encoder
def _grid_test_points() -> np.ndarray:
    rng = np.random.default_rng(1)
    ticks = np.round(np.arange(1.5, 10.5 + 1e-9, 0.05), 2)  # slider values
    a, b = np.meshgrid(ticks, ticks)
    ties = np.array([[7.0, 7.0], [7.0, 6.25], [8.25, 6.5], [3.0, 9.0], [5.0, 5.125]])
    return np.vstack(
        [np.column_stack([a.ravel(), b.ravel()]), ties, rng.uniform(1.5, 10.5, (3000, 2))]
    )


def _exact_greedy(z: np.ndarray, books: list[np.ndarray], n_q: int) -> list[int]:
    """Greedy RVQ in exact rational arithmetic on the float values: true ties to index 0."""
    r = [Fraction(float(v)) for v in z]
    codes = []
    for cb in books[:n_q]:
        exact = [[Fraction(float(v)) for v in e] for e in cb]
        d = [(r[0] - e[0]) ** 2 + (r[1] - e[1]) ** 2 for e in exact]
        k = d.index(min(d))  # the first of the smallest: ties to the lowest index
        codes.append(k)
        r = [r[0] - exact[k][0], r[1] - exact[k][1]]
    return codes


def _near_ties(points: np.ndarray, books: list[np.ndarray]) -> np.ndarray:
    """Points where some stage's two smallest distances agree to 1e-9 (on the direct path)."""
    flagged = np.zeros(len(points), dtype=bool)
    r = points.copy()
    for cb in books:
        d = ((r[:, None, :] - cb[None]) ** 2).sum(-1)
        two = np.sort(d, axis=1)[:, :2]
        flagged |= two[:, 1] - two[:, 0] <= 1e-9 * np.maximum(two[:, 1], 1e-300)
        r = r - cb[d.argmin(1)]
    return flagged


def _js_codes(tmp_path, books, points) -> list[np.ndarray]:
    script = tmp_path / "run.js"
    script.write_text(
        GREEDY_RVQ_JS
        + """
const data = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = [];
for (let nq = 1; nq <= data.books.length; nq++) {
  out.push(data.points.map((z) => rvqEncode(z, data.books, nq)));
}
process.stdout.write(JSON.stringify(out));
"""
    )
    payload = json.dumps({"books": [b.tolist() for b in books], "points": points.tolist()})
    res = subprocess.run(
        [NODE, str(script)], input=payload, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    return [np.array(c) for c in json.loads(res.stdout)]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_javascript_encoder_agrees_with_rvq_encode(tmp_path) -> None:
    """Everywhere but at exact ties rvq_encode and the JS agree; at ties the JS is exact."""
    books = book_grid_codebooks()
    points = _grid_test_points()
    ties = _near_ties(points, books)
    assert 0 < ties.sum() < 0.3 * len(points)  # plenty of ties, not only ties
    js_all = _js_codes(tmp_path, books, points)
    for nq, js in enumerate(js_all, start=1):
        py = rvq_encode(points, books, n_q=nq)
        assert np.array_equal(js[~ties], py[~ties]), nq
        assert np.array_equal(js, js_all[-1][:, :nq])  # greedy codes are prefixes
    # at ties: every point where the two disagree, and a sample of the others
    differ = np.flatnonzero((js_all[-1] != rvq_encode(points, books)).any(axis=1))
    assert set(differ) <= set(np.flatnonzero(ties))
    for i in np.union1d(differ, np.flatnonzero(ties)[::20]):
        assert js_all[-1][i].tolist() == _exact_greedy(points[i], books, 4), points[i]


def test_rvq_encode_keeps_exact_ties_on_the_grid() -> None:
    books = book_grid_codebooks()
    points = _grid_test_points()
    for i in np.flatnonzero(_near_ties(points, books))[:300]:
        got = rvq_encode(points[i], books).tolist()
        assert got == _exact_greedy(points[i], books, 4), points[i]


# ----------------------------------------------------------------- in a browser
@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium not found: install Debian's chromium to run the browser check")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _page(browser, html: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request {req.url}"))
    page.set_content(f"<html><body><main style='width:730px'>{html}</main></body></html>")
    return page, errors


def _set(root, role: str, value) -> None:
    root.locator(f"[data-role={role}]").evaluate(
        """(el, v) => { el.value = String(v);
                       el.dispatchEvent(new Event('input', {bubbles: true})); }""",
        value,
    )


def test_widget_renders_and_follows_every_input(browser) -> None:
    books = book_grid_codebooks()
    html = explorer_html(books, z=(8.37, 6.41), n_q=2, z_range=RANGE)
    page, errors = _page(browser, html + explorer_html(books, n_q=1, z_range=RANGE))
    first, second = (
        page.locator("[data-rvq-explorer]").nth(0),
        page.locator("[data-rvq-explorer]").nth(1),
    )
    codes = first.locator("[data-role=codes]")
    assert codes.text_content() == "17, 18"
    assert first.locator("svg line").count() > 10  # drawn: grid lines and arrows
    for z1, z2, nq in [(1.5, 1.5, 1), (7.0, 7.0, 2), (10.5, 3.33, 4), (5.55, 9.99, 3)]:
        _set(first, "z1", z1)
        _set(first, "z2", z2)
        _set(first, "nq", nq)
        want = rvq_encode(np.array([z1, z2]), books, n_q=nq).tolist()
        assert codes.text_content() == ", ".join(map(str, want)), (z1, z2, nq)
        assert f"{nq} \u00d7 log\u2082 25" in first.locator("[data-role=bits]").text_content()
    assert second.locator("[data-role=codes]").text_content() == "17"  # untouched
    assert first.evaluate("el => el.getBoundingClientRect().width") <= 700
    sizes = first.evaluate(
        """el => Array.from(el.querySelectorAll('svg text')).map(
               t => parseFloat(getComputedStyle(t).fontSize) *
                    t.ownerSVGElement.getBoundingClientRect().width / 340)"""
    )
    assert min(sizes) >= 12  # rendered size in px, at least as large as the static figures
    assert first.locator("[data-role=status]").text_content() == ""
    assert not errors, errors
    page.close()


def test_widget_refuses_an_encoder_that_disagrees(browser) -> None:
    html = explorer_html(book_grid_codebooks(), z_range=RANGE)
    tampered = re.sub(r'("codes": \[\[)(\d+)', lambda m: m[1] + str(int(m[2]) + 1), html, count=1)
    assert tampered != html
    page, errors = _page(browser, tampered)
    root = page.locator("[data-rvq-explorer]")
    assert "disagrees with rvq_encode" in root.locator("[data-role=status]").text_content()
    assert any("disagrees" in e for e in errors)
    page.close()


# ----------------------------------------------------------------- in JupyterLab
@pytest.mark.browser
def test_widget_works_in_jupyterlab_twice_on_one_page(browser, tmp_path) -> None:
    """Run a notebook with two explorers in JupyterLab: both draw and follow their inputs."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell{i}",
                "metadata": {},
                "outputs": [],
                "source": "from rvqlib.explorer import book_grid_codebooks, rvq_explorer\n"
                f"rvq_explorer(book_grid_codebooks(), n_q={i + 1})",
            }
            for i in range(2)
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "two.ipynb").write_text(json.dumps(nb))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.Popen(
        [
            str(jupyter),
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            "--allow-root",
            f"--ServerApp.root_dir={tmp_path}",
            f"--LabApp.user_settings_dir={tmp_path / '.settings'}",
            f"--LabApp.workspaces_dir={tmp_path / '.workspaces'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1"),
    )
    page = None
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not start within 90 s"
                time.sleep(0.5)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"http://127.0.0.1:{port}/lab/tree/two.ipynb?reset", wait_until="load")
        page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
        page.wait_for_timeout(1500)
        page.locator(".jp-Notebook").click()
        page.click("text=Run", timeout=10_000)
        page.click("text=Run All Cells", timeout=10_000)
        page.wait_for_function(
            """() => document.querySelectorAll('[data-rvq-explorer][data-rvqx-ready]')
                        .length === 2""",
            timeout=120_000,
        )
        roots = page.locator("[data-rvq-explorer]")
        first, second = roots.nth(0), roots.nth(1)
        assert first.locator("[data-role=codes]").text_content() == "17"
        assert second.locator("[data-role=codes]").text_content() == "17, 18"
        _set(second, "nq", 4)
        assert second.locator("[data-role=codes]").text_content() == "17, 18, 6, 13"
        assert "18.6 bits" in second.locator("[data-role=bits]").text_content()
        assert first.locator("[data-role=codes]").text_content() == "17"  # untouched
        assert first.locator("svg line").count() > 10
        assert not errors, errors
    finally:
        if page is not None:
            page.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
