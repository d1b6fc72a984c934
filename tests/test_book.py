"""The book builds cleanly, and every page of it is clean in a real browser.

These are the slow tests: the build executes every chapter. The browser check
needs Debian's chromium (``apt-get install chromium``) and playwright; locally
it is skipped with a message when chromium is absent, under ``CI=true`` it
must run.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_book_builds_without_warnings(built_book):
    html, proc = built_book
    log = proc.stdout + proc.stderr
    # Sphinx's own warnings and errors ("file:line: WARNING: ..."), not lines
    # such as a kernel's "[IPKernelApp] WARNING | ..." on stderr.
    warnings = [line for line in log.splitlines() if re.search(r"\b(WARNING|ERROR):", line)]
    assert proc.returncode == 0, (
        "book build failed. Warnings:\n"
        + "\n".join(warnings[-40:])
        + "\nEnd of the log:\n"
        + log[-3000:]
    )
    assert (html / "index.html").exists()
    assert not warnings, "build printed warnings:\n" + "\n".join(warnings)


def test_every_toc_page_was_built(built_book):
    html, proc = built_book
    assert proc.returncode == 0, "book build failed; see test_book_builds_without_warnings"
    toc = (Path(__file__).resolve().parents[1] / "_toc.yml").read_text()
    files = re.findall(r"file:\s*(\S+)", toc) + re.findall(r"root:\s*(\S+)", toc)
    missing = [f for f in files if not (html / f"{f}.html").exists()]
    assert not missing, f"pages in _toc.yml that were not built: {missing}"


def _pages(html: Path) -> list[Path]:
    """Every page of the book, without Sphinx's redirect stubs (index.html)."""
    skip = {"_static", "_sources", "_images", "_sphinx_design_static"}
    return sorted(
        p
        for p in html.rglob("*.html")
        if not skip.intersection(p.relative_to(html).parts)
        and 'http-equiv="refresh"' not in p.read_text(errors="ignore")[:2000].lower()
    )


@pytest.fixture(scope="module")
def server(built_book) -> Iterator[str]:
    html, proc = built_book
    if proc.returncode != 0:
        pytest.fail("book build failed; see test_book_builds_without_warnings")
    handler = functools.partial(_QuietHandler, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium not found: install Debian's chromium to run the browser check")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


# Waits until MathJax (if the page loads it) has typeset everything.
_WAIT_MATH = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  return true;
}"""

_PAGE_PROBLEMS = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('.math')) {
    if (!el.querySelector('mjx-container') && !el.closest('mjx-container')) {
      problems.push('un-typeset math: ' + el.textContent.slice(0, 60));
    }
  }
  for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0) {
      problems.push('broken image: ' + img.getAttribute('src'));
    }
  }
  return problems;
}"""

# What a reader at 1280 px would find cut off: a code block, a printed output,
# a table or a display equation wider than its box (the theme gives them a
# horizontal scrollbar). Collapsed cells and solutions are opened first, so
# what a reader can expand is measured too.
VIEWPORT = {"width": 1280, "height": 900}
_OVERFLOW = """() => {
  for (const d of document.querySelectorAll('details')) { d.open = true; }
  const hidden = '.toggle-hidden, .dropdown .toggle-details__container';
  for (const el of document.querySelectorAll(hidden)) {
    el.classList.remove('toggle-hidden');
  }
  const cut = [];
  const wide = (el) => el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1;
  const label = (el) => (el.textContent || '').trim().split('\\n')[0].slice(0, 70);
  const size = (el) => el.scrollWidth + '>' + el.clientWidth + 'px: ';
  const code = 'article div.highlight pre, article .output pre, article .cell_output pre';
  for (const el of document.querySelectorAll(code)) {
    if (wide(el)) cut.push('code/output ' + size(el) + label(el));
  }
  const maths = 'article div.math, article mjx-container[display="true"]';
  for (const el of document.querySelectorAll(maths)) {
    const box = el.closest('div.math') || el.parentElement;
    for (const b of [el, box]) {
      if (wide(b)) { cut.push('equation ' + size(b) + label(box)); break; }
    }
  }
  for (const el of document.querySelectorAll('article table')) {
    const box = el.parentElement;
    if (wide(box)) cut.push('table ' + size(box) + label(el));
  }
  return cut;
}"""


def test_every_page_is_clean_in_a_browser(built_book, server, browser):
    html, _ = built_book
    pages = _pages(html)
    assert len(pages) >= 5, f"too few pages built: {pages}"
    report: dict[str, list[str]] = {}
    for path in pages:
        rel = path.relative_to(html).as_posix()
        problems: list[str] = []
        page = browser.new_page(viewport=VIEWPORT)
        page.on(
            "console",
            lambda msg, p=problems: (
                p.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
            ),
        )
        page.on("pageerror", lambda exc, p=problems: p.append(f"page error: {exc}"))
        page.on(
            "requestfailed",
            lambda req, p=problems: p.append(f"failed request: {req.url} ({req.failure})"),
        )

        def on_response(resp, p=problems):
            if resp.status >= 400:
                p.append(f"HTTP {resp.status}: {resp.url}")

        page.on("response", on_response)

        def on_request(req, p=problems):
            if not req.url.startswith((server, "data:", "blob:", "about:")):
                p.append(f"request leaves the book: {req.url}")

        page.on("request", on_request)
        page.goto(f"{server}/{rel}", wait_until="load")
        page.evaluate(_WAIT_MATH)
        page.wait_for_timeout(200)
        problems += page.evaluate(_PAGE_PROBLEMS)
        problems += page.evaluate(_OVERFLOW)
        page.close()
        if problems:
            report[rel] = problems
    assert not report, "pages with problems:\n" + "\n".join(
        f"{page}:\n  " + "\n  ".join(items) for page, items in report.items()
    )


def test_animations_play_offline(built_book, server, browser):
    """A jshtml animation's Play button advances its frame slider."""
    html, _ = built_book
    with_anim = [p for p in _pages(html) if "anim_step" in p.read_text(errors="ignore")]
    if not with_anim:
        pytest.skip("no page has an animation yet")
    page = browser.new_page()
    page.goto(f"{server}/{with_anim[0].relative_to(html).as_posix()}", wait_until="load")
    slider = page.locator("input.anim-slider").first
    before = slider.input_value()
    page.locator(".anim-buttons button[title='Play']").first.click()
    page.wait_for_timeout(1500)
    assert slider.input_value() != before, "the animation did not advance after Play"
    page.close()


def _page_with(html: Path, marker: str) -> list[Path]:
    return [p for p in _pages(html) if marker in p.read_text(errors="ignore")]


def test_numbers_restart_per_chapter(built_book):
    """Figures and exercises read "Fig. 6.3" and "Exercise 4.2", never a book-wide count."""
    html, proc = built_book
    assert proc.returncode == 0, "book build failed; see test_book_builds_without_warnings"
    for path in sorted((html / "notebooks").glob("0*.html")):
        chapter = int(path.name[:2])
        text = path.read_text(errors="ignore")
        for kind in ("Fig.", "Exercise"):
            numbers = re.findall(rf"{kind}\s*(?:&#160;|\xa0| )?(\d+)\.(\d+)", text)
            assert numbers, f"{path.name}: no '{kind} {chapter}.k' found"
            assert {int(c) for c, _ in numbers} == {chapter}, (path.name, kind, numbers[:5])
        assert "Exercise Exercise" not in text and "Fig. Fig." not in text, path.name


def test_rvq_explorer_responds_offline(built_book, server, browser):
    """The chapter 6 explorer redraws the arrows, indices and bits without a kernel."""
    html, _ = built_book
    pages = _page_with(html, "data-rvq-explorer=")
    assert pages, "no page carries the offline RVQ explorer (data-rvq-explorer)"
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/{pages[0].relative_to(html).as_posix()}", wait_until="load")
    root = page.locator("[data-rvq-explorer]").first
    root.scroll_into_view_if_needed()
    codes = root.locator("[data-role=codes]")
    bits = root.locator("[data-role=bits]")
    before = codes.text_content()

    def set_range(role: str, which: str) -> None:
        root.locator(f"[data-role={role}]").evaluate(
            """(el, which) => {
                 if (el.tagName === 'SELECT') {
                   el.selectedIndex = which === 'min' ? 0 : el.options.length - 1;
                 } else { el.value = which === 'min' ? el.min : el.max; }
                 el.dispatchEvent(new Event('input', {bubbles: true}));
                 el.dispatchEvent(new Event('change', {bubbles: true}));
               }""",
            which,
        )

    set_range("z1", "min")
    set_range("z2", "min")
    assert codes.text_content() != before, "moving the input did not change the indices"
    set_range("nq", "min")
    one_stage = [c for c in (codes.text_content() or "").split(",") if c.strip()]
    bits_one = bits.text_content()
    set_range("nq", "max")
    all_stages = [c for c in (codes.text_content() or "").split(",") if c.strip()]
    assert len(one_stage) == 1 and len(all_stages) > 1, (one_stage, all_stages)
    assert bits.text_content() != bits_one, "the bits did not change with the number of stages"
    assert root.locator("svg").count() >= 1
    assert not errors, errors
    page.close()
