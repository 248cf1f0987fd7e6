"""Sphinx extension: write each inline ``<script>`` into a page once, not twice.

Sphinx 7.4 puts an inline script (``app.add_js_file(None, body=...)``) that an extension
adds after the builder started into every page twice: once as registered (filename
``None``) and once when the builder re-reads its registry (filename ``''``), and the two
do not compare equal (fixed upstream in Sphinx 8.2, sphinx-doc/sphinx#13402). For
sphinx-thebe's ``const THEBE_JS_URL = ...`` the second copy is a JavaScript error on
every page: ``Identifier 'THEBE_JS_URL' has already been declared``.
``scripts/browser_test.py`` fails on that console error.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _key(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return (
        getattr(script, "filename", script) or "",
        getattr(script, "priority", 500),
        tuple(sorted(attributes.items())),
    )


def drop_repeated_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Keep the first of several identical script entries of a page."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
