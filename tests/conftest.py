"""Shared fixtures: the book is built once per test session, from empty."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_book(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess]:
    """Build the whole book into an empty folder, warnings as errors.

    Returns the HTML folder and the finished build process (its output is
    used to report warnings).
    """
    prebuilt = os.environ.get("RVQ_BOOK_HTML")
    if prebuilt:  # developers only: check an existing build instead of building again
        return Path(prebuilt), subprocess.CompletedProcess(["prebuilt"], 0, "", "")
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [
        str(jb),
        "build",
        str(ROOT),
        "--all",
        "-W",
        "-n",
        "--keep-going",
        "--path-output",
        str(out),
    ]
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    html = out / "_build" / "html"
    if proc.returncode != 0 and html.exists():
        shutil.rmtree(html)  # a failed build must not be browsed as if it were good
    return html, proc


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list
) -> None:
    """Run the book's file first: its build is the longest file of ``make test``.

    With ``-n 2 --dist loadfile --no-loadscope-reorder`` files go to the workers
    in collection order, so the build starts at once on one worker while the
    other takes every other file, instead of starting after minutes of them (a
    stable sort: the rest keeps its order). Without ``--no-loadscope-reorder``
    xdist orders the files by their number of tests, and this file, with few
    tests, comes nearly last.
    """
    items.sort(key=lambda item: item.nodeid.split("::")[0] != "tests/test_book.py")
