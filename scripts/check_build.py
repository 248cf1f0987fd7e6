"""Check the built HTML: every chapter page exists, its Colab button opens the committed
``.ipynb`` on the configured branch of the configured repository, and every figure on it
became an image.

Run after ``jupyter-book build .``::

    python scripts/check_build.py
    python scripts/check_build.py --html /tmp/book/_build/html

A figure that did not become an image shows up as the text ``<Figure size 600x400 with
1 Axes>`` (matplotlib's repr, what a notebook prints when no inline backend drew the
figure, e.g. with ``MPLBACKEND=Agg`` set), or as a ``<figure>`` (``{glue:figure}``) with
no image in it.
"""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import sync_book
from sync_book import ROOT, chapters

#: matplotlib's text repr of a figure, as a cell prints it when no backend drew it.
FIGURE_REPR = re.compile(r"<Figure size [\d.]+x[\d.]+ with \d+ Axes>")
#: Elements that count as an image inside a ``<figure>``.
IMAGE_TAGS = {"img", "svg", "object", "video", "picture"}


def colab_url(md: Path) -> str:
    """The Colab address that the chapter's launch button must carry."""
    return sync_book.colab_url(md.relative_to(ROOT).with_suffix(".ipynb"))


class _FigureScanner(HTMLParser):
    """Collects each ``<figure>`` (id, whether it holds an image), every ``<img>`` source,
    and the page's text outside ``<script>``/``<style>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.figures: list[tuple[str, bool]] = []
        self.images: list[str] = []
        self.text: list[str] = []
        self._open: list[list] = []  # [id, has_image] per open <figure>
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "figure":
            self._open.append([attributes.get("id") or f"#{len(self.figures) + 1}", False])
        if tag in IMAGE_TAGS:
            for figure in self._open:
                figure[1] = True
        if tag == "img":
            self.images.append(attributes.get("src") or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag == "figure" and self._open:
            figure_id, has_image = self._open.pop()
            self.figures.append((figure_id, has_image))

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def figure_problems(html: str, page_dir: Path | None = None) -> list[str]:
    """Why figures on a page did not become images; an empty list when all did.

    Args:
        html: The page's HTML.
        page_dir: The folder the page lies in; when given, every local ``<img>`` source
            must be a non-empty file there.

    Returns:
        One message per problem: a figure printed as text, a ``<figure>`` without an
        image, an image with no source or a missing/empty file.
    """
    scanner = _FigureScanner()
    scanner.feed(html)
    scanner.close()
    problems = []
    reprs = FIGURE_REPR.findall("".join(scanner.text))
    if reprs:
        problems.append(
            f"{len(reprs)} figure(s) printed as text instead of drawn, e.g. {reprs[0]!r}"
        )
    for figure_id, has_image in scanner.figures:
        if not has_image:
            problems.append(f"figure {figure_id} has no image")
    for src in scanner.images:
        if not src:
            problems.append("an <img> has no src")
            continue
        parts = urlsplit(src)
        if parts.scheme or parts.netloc or page_dir is None:
            continue  # data: URIs and absolute URLs are the browser test's business
        target = (page_dir / unquote(parts.path)).resolve()
        if not target.is_file() or target.stat().st_size == 0:
            problems.append(f"image {src} is missing or empty")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--html", type=Path, default=ROOT / "_build" / "html", help="built HTML folder"
    )
    args = parser.parse_args(argv)
    html_dir = args.html.resolve()
    problems = []
    for md in chapters():
        page = html_dir / md.relative_to(ROOT).with_suffix(".html")
        name = md.relative_to(ROOT).with_suffix(".html").as_posix()
        if not page.exists():
            problems.append(f"{page} was not built")
            continue
        html = page.read_text(encoding="utf-8")
        want = colab_url(md)
        page_problems = []
        if want not in html:
            page_problems.append(f"no Colab link to {want}")
        elif not md.with_suffix(".ipynb").exists():
            page_problems.append(f"{md.with_suffix('.ipynb')} is not there for Colab to open")
        page_problems += figure_problems(html, page.parent)
        if page_problems:
            problems += [f"{name}: {p}" for p in page_problems]
        else:
            print(f"ok  {name} -> {want}; every figure is an image")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
