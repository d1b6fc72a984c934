"""Small HTML fixes for the book, as a local Sphinx extension.

- sphinx-thebe (loaded by Jupyter Book 1 by default) registers its inline
  configuration script twice under Sphinx 7.4 (sphinx-togglebutton's selector
  too), so every page declares ``const THEBE_JS_URL`` twice and the browser
  logs a SyntaxError. This drops exact duplicate scripts from each page.
- ``static/rvqbook.css``: code and printed output at 12 px, so that the book's
  80-column code fits the column at 1280 px, inside solution dropdowns too.
- myst-nb's execution table (the status page) marks each notebook with the
  emoji ✅ or ❌, which shows as an empty box where no emoji font is
  installed. They become the words "ok" and "failed".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

_STATUS_WORDS = {"\u2705": "ok", "\u274c": "failed"}


def _drop_duplicate_scripts(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {}) or {}
        # the two copies differ only in filename None vs "" (an inline script)
        key = (getattr(script, "filename", None) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


class PlainStatusWords(SphinxPostTransform):
    """Replace the execution table's emoji with plain words (after myst-nb builds it)."""

    default_priority = 20  # myst-nb's ExecutionStatsPostTransform runs at 8

    def run(self, **kwargs: Any) -> None:
        for text in list(self.document.findall(nodes.Text)):
            if text.astext() in _STATUS_WORDS:
                text.parent.replace(text, nodes.Text(_STATUS_WORDS[text.astext()]))


def _add_static(app: Any) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _add_static)
    app.add_css_file("rvqbook.css")
    app.connect("html-page-context", _drop_duplicate_scripts)
    app.add_post_transform(PlainStatusWords)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
