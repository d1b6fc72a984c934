"""The chapters read properly in JupyterLab, the second way readers use the book.

A JupyterLab server (with jupyterlab-myst, from the requirements) opens copies
of the chapters in headless chromium. Every chapter's prose must render: no
raw MyST fences, roles or option lines, and the solution and check cells are
collapsed. One chapter is run top to bottom, after which its ``{eval}``
values show as numbers. Like the book's browser check, it needs Debian's
chromium; locally it is skipped without it, under ``CI=true`` it must run.
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
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
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
# Text that only appears when MyST is shown raw instead of rendered.
RAW_MYST = re.compile(
    r"```\{|:::\{|\{(?:eval|numref|ref|doc|cite|cite:t|prf:ref|eq|glue:text)\}`"
    r"|^:(?:label|class):|\{solution-(?:start|end)\}",
    re.MULTILINE,
)
RUN_CHAPTER = "07_bitrate.ipynb"  # run top to bottom to check its {eval} values
MARKDOWN_CELL = ".jp-Notebook .jp-Cell.jp-MarkdownCell"  # myst output nests the class

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium not found: install Debian's chromium to run the JupyterLab check")
    work = tmp_path_factory.mktemp("lab")
    for nb in NOTEBOOKS:  # copies: running them must never write into the repository
        shutil.copy(nb, work / nb.name)
    settings = work / ".settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "apputils-extension").mkdir(parents=True)
    # render every cell (no windowing), and no news pop-up over the page
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"})
    )
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port = _free_port()
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
            f"--ServerApp.root_dir={work}",
            f"--LabApp.user_settings_dir={work / '.settings'}",
            f"--LabApp.workspaces_dir={work / '.workspaces'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=work,
        env=dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail("JupyterLab did not start within 90 s")
    try:
        yield url, work
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _open(browser, lab: tuple[str, Path], name: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # a workspace of its own, so notebooks opened by earlier tests are not restored
    workspace = re.sub(r"\W", "", name)
    page.goto(f"{lab[0]}/lab/workspaces/{workspace}/tree/{name}?reset", wait_until="load")
    page.wait_for_selector(".jp-Notebook .jp-MarkdownCell", timeout=60_000)
    # wait until jupyterlab-myst has rendered every markdown cell
    page.wait_for_function(
        """() => {
             const cells = document.querySelectorAll('.jp-Notebook .jp-Cell.jp-MarkdownCell');
             const done = document.querySelectorAll(
               '.jp-Notebook .jp-Cell.jp-MarkdownCell > .jp-Cell-inputWrapper .myst');
             return cells.length > 0 && done.length >= cells.length;
           }""",
        timeout=90_000,
    )
    page.wait_for_timeout(1000)
    return page


def _hidden_cells(path: Path) -> tuple[int, int]:
    """How many code cells the notebook stores collapsed, and how many markdown cells."""
    cells = json.loads(path.read_text())["cells"]
    hidden = sum(
        1
        for c in cells
        if c["cell_type"] == "code"
        and c.get("metadata", {}).get("jupyter", {}).get("source_hidden")
    )
    return hidden, sum(c["cell_type"] == "markdown" for c in cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_prose_renders_and_solutions_are_collapsed(lab, browser, path: Path):
    page = _open(browser, lab, path.name)
    try:
        text = page.inner_text(".jp-Notebook")
        # the rendered markdown only, not the code cells (which may mention roles)
        prose = "\n".join(page.locator(MARKDOWN_CELL + " .myst").all_inner_texts())
        assert len(prose) > 2000, f"{path.name}: JupyterLab rendered no MyST prose"
        raw = sorted(set(RAW_MYST.findall(prose)))
        assert not raw, f"{path.name}: raw MyST shown in JupyterLab: {raw}"
        assert "Learning objectives" in text
        hidden, n_markdown = _hidden_cells(lab[1] / path.name)  # the copy JupyterLab opened
        shown = page.locator(MARKDOWN_CELL).count()
        assert shown == n_markdown, f"{path.name}: {shown} of {n_markdown} markdown cells shown"
        collapsed = page.locator(".jp-Cell .jp-InputPlaceholder").count()
        assert collapsed >= hidden, (
            f"{path.name}: {collapsed} collapsed cells in JupyterLab, {hidden} stored collapsed"
        )
    finally:
        page.close()


def test_eval_values_show_after_running_a_chapter(lab, browser):
    page = _open(browser, lab, RUN_CHAPTER)
    try:
        page.locator(".jp-Notebook").click()
        page.keyboard.press("Escape")
        page.click("text=Run", timeout=10_000)
        page.click("text=Run All Cells", timeout=10_000)
        # wait until the kernel is idle and no cell is still queued ("[*]")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            page.wait_for_timeout(2000)
            busy = page.locator(".jp-InputPrompt:has-text('[*]')").count()
            if busy == 0 and "Idle" in page.inner_text(".jp-StatusBar-Item, #jp-main-statusbar"):
                break
        else:
            pytest.fail(f"{RUN_CHAPTER} did not finish running in JupyterLab within 300 s")
        page.wait_for_timeout(1500)
        errors = page.locator(".jp-OutputArea-output[data-mime-type*='error']").count()
        assert errors == 0, f"{RUN_CHAPTER}: {errors} cells raised in JupyterLab"
        prose = "\n".join(page.locator(MARKDOWN_CELL + " .myst").all_inner_texts())
        assert "{eval}" not in prose
        assert "NameError" not in prose, f"{RUN_CHAPTER}: an {{eval}} name is undefined"
        source = "\n".join(
            "".join(c["source"])
            for c in json.loads((lab[1] / RUN_CHAPTER).read_text())["cells"]
            if c["cell_type"] == "markdown"
        )
        names = set(re.findall(r"\{eval\}`([A-Za-z_][A-Za-z0-9_]*)`", source))
        assert names, f"{RUN_CHAPTER} shows no computed value with {{eval}}"
        unevaluated = sorted(n for n in names if n in prose)
        assert not unevaluated, f"{RUN_CHAPTER}: {{eval}} names shown instead of values"
    finally:
        page.close()
