"""Sphinx extension: a "lecture slides" link under each chapter's title.

Every chapter in ``_toc.yml`` has a reveal.js deck, written by ``build_slides.py`` from
``slides/<chapter>.md`` into ``_build/slides/`` and copied into ``_build/html/slides/``
(the publish workflow builds it after the book). This links each chapter page to its deck
by a relative address, so the link works on any host and in any fork. It goes right after
the "student version" line of ``sphinx_student_link`` (or after the H1 without one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sync_book import is_notebook

STUDENT_LINE = '<p class="student-version">'


def deck_href(pagename: str) -> str:
    """The deck's address relative to the page ``pagename`` (``book/x`` -> ``../slides/x.html``)."""
    depth = pagename.count("/")
    return "../" * depth + f"slides/{pagename.rsplit('/', 1)[-1]}.html"


def add_slides_link(body: str, href: str) -> str:
    """``body`` with the slides link inserted after the student line, or after the H1."""
    link = (
        '<p class="lecture-slides">Lecture slides for this chapter: '
        f'<a class="reference internal" href="{href}">open the deck</a> '
        "(reveal.js; press S for the speaker notes).</p>"
    )
    start = body.find(STUDENT_LINE)
    if start != -1:
        end = body.find("</p>", start)
        if end != -1:
            return body[: end + 4] + link + body[end + 4 :]
    end = body.find("</h1>")
    if end == -1:
        return body
    return body[: end + 5] + link + body[end + 5 :]


def slides_link(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any):
    """Insert the link into a chapter page's body (``html-page-context`` handler)."""
    source = Path(app.srcdir) / f"{pagename}.md"
    deck = Path(app.srcdir) / "slides" / f"{source.stem}.md"
    body = context.get("body")
    if doctree is None or not body or not source.exists() or not deck.exists():
        return
    if not is_notebook(source):
        return
    context["body"] = add_slides_link(body, deck_href(pagename))


def setup(app: Sphinx) -> dict[str, Any]:
    # After sphinx_student_link (priority 500), so that its line is already there.
    app.connect("html-page-context", slides_link, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
