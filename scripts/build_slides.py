"""Build one reveal.js lecture deck per chapter, from the numbers and figures the book computed.

Run it after the book build::

    jupyter-book build .
    python scripts/build_slides.py                       # every chapter in _toc.yml
    python scripts/build_slides.py --build-dir /tmp/b/_build bn_algorithm

A deck is written by hand in ``slides/<chapter>.md``: YAML front matter with a ``title``,
slides separated by a line ``---``, speaker notes after a line ``Note:``, Markdown with
``$...$``/``$$...$$`` math. It never types a number or pastes a figure. Placeholders take
them from what the chapter's own code glued when the book was built
(``_build/jupyter_execute/book/<chapter>.glue.json``, or the display outputs of the
executed ``<chapter>.ipynb`` whose metadata has ``scrapbook: {name: ...}``):

- ``{{glue:KEY}}`` or ``{{glue:KEY:FORMAT}}``: a glued value, formatted exactly as the
  book's ``{glue:text}`KEY:FORMAT``` role formats it (``{{glue:ch1-kappa-raw:,.0f}}``);
- ``{{figure:KEY}}`` or ``{{figure:KEY:HEIGHT}}``: a glued figure (SVG or PNG), saved
  beside the deck, ``HEIGHT`` in pixels of the 1280x720 slide;
- ``{{source:companion/numpy_bn.py:batch_norm_forward}}``: the source of a function,
  class or ``Class.method`` of the package, without its docstring, as a code block;
- ``{{cell:TEXT}}``: the chapter's first code cell that contains ``TEXT``, as a code block
  (the code a reader of the chapter runs, so a snippet cannot drift from it).

A missing key, figure or object is an error that names the deck and the key. The output,
``_build/slides/<chapter>.html`` with its figures and ``_build/slides/_static`` (reveal.js
from the ``sphinx-revealjs`` wheel, MathJax from ``sphinx-mathjax-offline``), loads nothing
from outside. When the book's HTML is there too, the decks are also copied into
``_build/html/slides/``, where each chapter page links to its deck (``sphinx_slides_link``).
"""

from __future__ import annotations

import argparse
import ast
import base64
import difflib
import html
import importlib.util
import json
import re
import shutil
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin
from myst_nb.core.variables import format_plain_text
from sync_book import ROOT, chapters, toc_files

DECKS = ROOT / "slides"
TEMPLATE = DECKS / "_template.html"
STYLE = DECKS / "_deck.css"
MIN_SLIDES, MAX_SLIDES = 10, 25
#: Notebook pages in _toc.yml that are not lectures, so have no deck.
NO_DECK = {"instructors"}

PLACEHOLDER = re.compile(r"\{\{(?P<kind>glue|figure|source|cell):(?P<args>[^{}]+)\}\}")
LEFTOVER = re.compile(r"\{\{[^\n]{0,40}")
FENCE = re.compile(r"^(`{3,}|~{3,})")
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
FIGURE_TYPES = {"image/svg+xml": "svg", "image/png": "png"}

# What a deck needs from the two packages, relative to their folders.
REVEAL_FILES = [
    "LICENSE",
    "dist/reset.css",
    "dist/reveal.css",
    "dist/reveal.js",
    "dist/theme/white.css",
    "dist/theme/fonts/source-sans-pro",
    "plugin/notes/notes.js",
    "plugin/math/math.js",
    "plugin/highlight/highlight.js",
    "plugin/highlight/monokai.css",
]
MATHJAX_FILE = "tex-svg-full.js"  # every TeX extension inside: nothing is loaded later


class SlideError(Exception):
    """A deck that cannot be built: a missing glue key, figure, object or source file."""


@dataclass
class Slide:
    """One slide: its Markdown body and its speaker notes (Markdown, may be empty)."""

    body: str
    notes: str = ""


@dataclass
class Deck:
    """A parsed deck source."""

    name: str
    title: str
    slides: list[Slide] = field(default_factory=list)


@dataclass
class BuiltDeck:
    """What building one deck produced."""

    name: str
    html: Path
    slides: int
    figures: list[Path]
    seconds: float


# --------------------------------------------------------------------------------------
# Reading decks and glued values
# --------------------------------------------------------------------------------------


def parse_deck(text: str, name: str) -> Deck:
    """Split a deck source into its title and slides.

    Raises:
        SlideError: If the front matter or its ``title`` is missing.
    """
    if not text.startswith("---\n"):
        raise SlideError(f"deck {name}: must start with front matter (---, title: ..., ---)")
    header, _, rest = text[4:].partition("\n---\n")
    meta = yaml.safe_load(header) or {}
    if not isinstance(meta, dict) or not meta.get("title"):
        raise SlideError(f"deck {name}: the front matter has no title")
    slides = []
    for chunk in _split_outside_fences(rest, lambda line: line.strip() == "---"):
        if not chunk.strip():
            continue
        parts = _split_outside_fences(chunk, lambda line: line.strip() == "Note:", first=True)
        body = parts[0].strip("\n")
        notes = parts[1].strip("\n") if len(parts) > 1 else ""
        slides.append(Slide(body, notes))
    return Deck(name, str(meta["title"]), slides)


def _split_outside_fences(text: str, is_separator, first: bool = False) -> list[str]:
    """Split ``text`` at separator lines that are not inside a fenced code block."""
    chunks: list[list[str]] = [[]]
    fence = ""
    for line in text.split("\n"):
        match = FENCE.match(line.strip())
        if match and not fence:
            fence = match.group(1)
        elif fence and line.strip().startswith(fence):
            fence = ""
        elif not fence and is_separator(line) and not (first and len(chunks) > 1):
            chunks.append([])
            continue
        chunks[-1].append(line)
    return ["\n".join(chunk) for chunk in chunks]


def load_glue(build_dir: Path, chapter: str) -> dict[str, dict]:
    """The glued outputs of a built chapter, by key: ``{key: {mime type: data}}``.

    Reads ``<build>/jupyter_execute/book/<chapter>.glue.json`` (where myst-nb keeps them)
    and the display outputs of the executed ``<chapter>.ipynb`` that carry
    ``scrapbook`` metadata (where an executed notebook keeps them).

    Raises:
        SlideError: If the chapter has not been built (neither file exists).
    """
    folder = build_dir / "jupyter_execute" / "book"
    notebook, glue_json = folder / f"{chapter}.ipynb", folder / f"{chapter}.glue.json"
    if not notebook.exists() and not glue_json.exists():
        raise SlideError(
            f"chapter {chapter} has no executed notebook in {folder}: build the book first "
            "(jupyter-book build .), or pass --build-dir BUILD/_build"
        )
    values: dict[str, dict] = {}
    if notebook.exists():
        for cell in json.loads(notebook.read_text(encoding="utf-8")).get("cells", []):
            for output in cell.get("outputs", []):
                _add_glued(values, output)
    if glue_json.exists():
        for output in json.loads(glue_json.read_text(encoding="utf-8")).values():
            _add_glued(values, output)
    return values


def _add_glued(values: dict[str, dict], output: dict) -> None:
    scrapbook = (output.get("metadata") or {}).get("scrapbook")
    if not scrapbook or "name" not in scrapbook:
        return
    prefix = scrapbook.get("mime_prefix", "")
    data = {
        mime.removeprefix(prefix): "".join(value) if isinstance(value, list) else value
        for mime, value in (output.get("data") or {}).items()
    }
    values[scrapbook["name"]] = data


# --------------------------------------------------------------------------------------
# Placeholders
# --------------------------------------------------------------------------------------


@dataclass
class Resolver:
    """Replaces a deck's placeholders with glued values, figure files and source code."""

    deck: str
    glue: dict[str, dict]
    figure_dir: Path  # where figures are written
    figure_href: str  # the same folder as the deck's HTML refers to it
    root: Path = ROOT
    figures: list[Path] = field(default_factory=list)

    def __call__(self, text: str) -> str:
        left = LEFTOVER.search(PLACEHOLDER.sub("", text))
        if left:
            raise SlideError(f"deck {self.deck}: malformed placeholder {left.group(0)!r}")
        return PLACEHOLDER.sub(self._replace, text)

    def _replace(self, match: re.Match) -> str:
        kind, args = match["kind"], match["args"].strip()
        return getattr(self, f"_{kind}")(args)

    def _value(self, key: str, kind: str) -> dict:
        if key not in self.glue:
            near = difflib.get_close_matches(key, list(self.glue), n=4, cutoff=0.6)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise SlideError(f"deck {self.deck}: {kind} {key!r} is not glued by the chapter{hint}")
        return self.glue[key]

    def _glue(self, args: str) -> str:
        key, _, spec = args.partition(":")
        data = self._value(key, "glue key")
        if "text/plain" not in data:
            raise SlideError(f"deck {self.deck}: glue key {key!r} has no text value")
        try:
            return format_plain_text(data["text/plain"], spec)
        except (TypeError, ValueError) as exc:
            raise SlideError(
                f"deck {self.deck}: glue key {key!r} cannot be formatted with {spec!r}: {exc}"
            ) from exc

    def _figure(self, args: str) -> str:
        key, _, height = args.partition(":")
        data = self._value(key, "figure")
        mime = next((m for m in FIGURE_TYPES if data.get(m)), None)
        if mime is None:
            raise SlideError(f"deck {self.deck}: glue key {key!r} is not a figure (no image)")
        if height and not height.isdigit():
            raise SlideError(
                f"deck {self.deck}: figure {key!r} height must be pixels, not {height!r}"
            )
        self.figure_dir.mkdir(parents=True, exist_ok=True)
        path = self.figure_dir / f"{key}.{FIGURE_TYPES[mime]}"
        if mime == "image/png":
            path.write_bytes(base64.b64decode(data[mime]))
        else:
            path.write_text(data[mime], encoding="utf-8")
        self.figures.append(path)
        style = f' style="height: {height}px"' if height else ""
        return (
            f'<img class="figure" src="{self.figure_href}/{path.name}" '
            f'alt="figure {html.escape(key)}"{style}>'
        )

    def _cell(self, args: str) -> str:
        chapter = self.root / "book" / f"{self.deck}.md"
        if not chapter.is_file():
            raise SlideError(f"deck {self.deck}: no chapter source {chapter.name}")
        for cell in jupytext.read(chapter).cells:
            if cell.cell_type == "code" and args in cell.source:
                return f"```python\n{cell.source.rstrip()}\n```"
        raise SlideError(f"deck {self.deck}: no code cell of the chapter contains {args!r}")

    def _source(self, args: str) -> str:
        path, _, name = args.rpartition(":")
        file = self.root / path
        if not path or not file.is_file():
            raise SlideError(f"deck {self.deck}: source file {path!r} does not exist")
        code = object_source(file.read_text(encoding="utf-8"), name)
        if code is None:
            raise SlideError(f"deck {self.deck}: {path} has no function or class {name!r}")
        return f"```python\n{code}\n```"


def object_source(source: str, name: str) -> str | None:
    """The source of function/class ``name`` (or ``Class.method``) without docstrings."""
    tree = ast.parse(source)
    node: ast.AST | None = tree
    for part in name.split("."):
        node = next(
            (
                child
                for child in getattr(node, "body", [])
                if isinstance(child, DEFINITIONS) and child.name == part
            ),
            None,
        )
        if node is None:
            return None
    lines = source.splitlines()
    start = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
    drop: set[int] = set()
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if not isinstance(inner, DEFINITIONS) or not body:
            continue
        first = body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            if isinstance(first.value.value, str):
                drop.update(range(first.lineno - 1, first.end_lineno))
                # ... and the blank lines that separated it from the code.
                after = first.end_lineno
                while after < len(lines) and not lines[after].strip():
                    drop.add(after)
                    after += 1
    keep = [i for i in range(start, node.end_lineno) if i not in drop]
    return textwrap.dedent("\n".join(lines[i] for i in keep)).rstrip()


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------


def markdown() -> MarkdownIt:
    """CommonMark with tables, raw HTML and ``$`` math passed to MathJax as ``\\(..\\)``."""
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    dollarmath_plugin(md, double_inline=True)

    def inline(self, tokens, idx, options, env):
        return f'<span class="math">\\({html.escape(tokens[idx].content)}\\)</span>'

    def block(self, tokens, idx, options, env):
        return f'<div class="math">\\[{html.escape(tokens[idx].content)}\\]</div>\n'

    md.add_render_rule("math_inline", inline)
    md.add_render_rule("math_inline_double", block)
    md.add_render_rule("math_block", block)
    md.add_render_rule("math_block_label", block)
    return md


def render_deck(deck: Deck, resolve: Resolver, chapter_href: str) -> str:
    """The deck's HTML page."""
    md = markdown()
    sections = []
    for slide in deck.slides:
        body = md.render(resolve(slide.body))
        notes = md.render(resolve(slide.notes)) if slide.notes else ""
        aside = f'<aside class="notes">\n{notes}</aside>\n' if notes else ""
        sections.append(f"<section>\n{body}{aside}</section>")
    template = TEMPLATE.read_text(encoding="utf-8")
    return (
        template.replace("{{title}}", html.escape(deck.title))
        .replace("{{chapter_href}}", html.escape(chapter_href))
        .replace("{{slides}}", "\n".join(sections))
    )


def copy_static(out: Path) -> None:
    """Copy reveal.js, MathJax and the deck style sheet into ``out/_static``."""
    import sphinx_revealjs

    reveal = Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise SlideError("sphinx-mathjax-offline is not installed: pip install -r requirements.txt")
    mathjax = Path(spec.submodule_search_locations[0]) / "static" / "mathjax"
    static = out / "_static"
    for name in REVEAL_FILES:
        source, target = reveal / name, static / "reveal" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    (static / "mathjax").mkdir(parents=True, exist_ok=True)
    shutil.copy2(mathjax / MATHJAX_FILE, static / "mathjax" / MATHJAX_FILE)
    shutil.copy2(STYLE, static / "deck.css")


def toc_chapters(root: Path = ROOT) -> list[str]:
    """The lecture chapters: the notebook chapters of ``_toc.yml`` in reading order (file
    stems), without the pages that are not lectures (:data:`NO_DECK`)."""
    notebooks = {md.relative_to(root).with_suffix("").as_posix() for md in chapters(root)}
    stems = [entry.rsplit("/", 1)[-1] for entry in toc_files(root) if entry in notebooks]
    return [stem for stem in stems if stem not in NO_DECK]


def build_deck(name: str, build_dir: Path, out: Path, decks: Path = DECKS) -> BuiltDeck:
    """Build ``out/<name>.html`` from ``decks/<name>.md`` and the chapter's glued values."""
    start = time.perf_counter()
    source = decks / f"{name}.md"
    if not source.exists():
        raise SlideError(f"chapter {name} has no deck: write {source.relative_to(decks.parent)}")
    deck = parse_deck(source.read_text(encoding="utf-8"), name)
    if not MIN_SLIDES <= len(deck.slides) <= MAX_SLIDES:
        raise SlideError(
            f"deck {name}: {len(deck.slides)} slides, want {MIN_SLIDES} to {MAX_SLIDES}"
        )
    figure_dir = out / name
    if figure_dir.exists():
        shutil.rmtree(figure_dir)
    resolve = Resolver(name, load_glue(build_dir, name), figure_dir, name)
    page = render_deck(deck, resolve, f"../book/{name}.html")
    target = out / f"{name}.html"
    target.write_text(page, encoding="utf-8")
    return BuiltDeck(name, target, len(deck.slides), resolve.figures, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--build-dir",
        type=Path,
        default=ROOT / "_build",
        help="the book's build folder, with jupyter_execute/ (default: _build)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write the decks (default: BUILD_DIR/slides, then copied into "
        "BUILD_DIR/html/slides when the book's HTML is there)",
    )
    parser.add_argument("only", nargs="*", help="chapter names (default: every toc chapter)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    build_dir = args.build_dir.resolve()
    out = (args.out or build_dir / "slides").resolve()
    names = toc_chapters()
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        parser.error(f"not a chapter in _toc.yml: {', '.join(unknown)}")
    errors = []
    for deck in sorted(DECKS.glob("*.md")):
        if deck.name.startswith("_") or deck.stem in names:
            continue
        if (ROOT / "book" / deck.name).exists():  # a chapter on its way into the book
            print(f"skipped slides/{deck.name}: book/{deck.name} is not in _toc.yml yet")
        else:
            errors.append(f"slides/{deck.name} belongs to no chapter")
    out.mkdir(parents=True, exist_ok=True)
    copy_static(out)
    built = []
    for name in args.only or names:
        try:
            deck = build_deck(name, build_dir, out)
        except SlideError as exc:
            errors.append(str(exc))
            continue
        built.append(deck)
        print(
            f"{deck.name}: {deck.slides} slides, {len(deck.figures)} figures "
            f"({deck.seconds:.1f} s) -> {deck.html.relative_to(out.parent)}"
        )
    html_dir = build_dir / "html"
    if args.out is None and built and (html_dir / "index.html").exists():
        shutil.copytree(out, html_dir / "slides", dirs_exist_ok=True)
        print(f"copied the decks into {html_dir / 'slides'}")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"{len(built)} decks in {time.perf_counter() - start:.1f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
