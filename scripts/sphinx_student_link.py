"""Sphinx extension: a "student version" Colab link under each chapter's title.

Every chapter has a student notebook without the exercise solutions
(``book/student/<chapter>.ipynb``, written by ``sync_book.py``). This puts a link that opens
it in Colab right below the chapter's H1, built from ``_config.yml``'s repository, so a fork
retargeted with ``retarget.py`` links to its own copy.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sync_book import colab_url, student_path


def student_link(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any):
    """Insert the link into a chapter page's body (``html-page-context`` handler)."""
    md = Path(app.srcdir) / f"{pagename}.md"
    notebook = student_path(md)
    body = context.get("body")
    if doctree is None or not body or not notebook.exists():
        return
    url = colab_url(notebook.relative_to(app.srcdir), root=Path(app.srcdir))
    link = (
        '<p class="student-version">Teaching with this chapter? '
        f'<a class="reference external" href="{html.escape(url)}">Open the student version in '
        "Colab</a>: the same notebook with the exercise solutions left out.</p>"
    )
    end = body.find("</h1>")
    if end != -1:
        context["body"] = body[: end + 5] + link + body[end + 5 :]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", student_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
