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
- The ``codec-table`` directive writes the API page's table of
  ``rvqlib.bitrate.CODECS`` at build time, from the library itself (Sphinx has
  imported rvqlib for the API page anyway), so that page needs no kernel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

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


def codec_table_rows() -> list[str]:
    """The rows of a Markdown table of ``rvqlib.bitrate.CODECS``, one per codec."""
    from rvqlib.bitrate import CODECS

    rows = [
        "| key | sample rate (Hz) | hop | K | n_q | kbps quoted | source |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for key, c in CODECS.items():
        n_q = "/".join(str(n) for n in c.n_q_options)
        quoted = "/".join("n/a" if p is None else f"{p:g}" for p in c.published_kbps)
        rows.append(
            f"| `{key}` | {c.sample_rate} | {c.hop} | {c.codebook_size} "
            f"| {n_q} | {quoted} | {{cite:t}}`{c.citation}` |"
        )
    return rows


class CodecTable(SphinxDirective):
    """``{codec-table}``: the table of :data:`rvqlib.bitrate.CODECS`, parsed as MyST."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        box = nodes.container()
        source = self.get_source_info()[0]
        self.state.nested_parse(StringList(codec_table_rows(), source), self.content_offset, box)
        return list(box.children)


def _add_static(app: Any) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _add_static)
    app.add_css_file("rvqbook.css")
    app.connect("html-page-context", _drop_duplicate_scripts)
    app.add_post_transform(PlainStatusWords)
    app.add_directive("codec-table", CodecTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
