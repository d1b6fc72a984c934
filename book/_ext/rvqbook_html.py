"""Small HTML fixes for the book, as a local Sphinx extension.

sphinx-thebe (loaded by Jupyter Book 1 by default) registers its inline
configuration script twice under Sphinx 7.4 (sphinx-togglebutton's selector
too), so every page declares ``const THEBE_JS_URL`` twice and the browser logs
a SyntaxError. This drops exact duplicate scripts from each page.
"""

from __future__ import annotations

from typing import Any


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


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
