"""The lecture decks: ``scripts/build_slides.py`` on a tiny fake executed notebook (no book
build needed), the real deck sources against their chapters, the chapter-page link, the
publish workflow, and a built deck stepped through in Chromium."""

from __future__ import annotations

import base64
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import build_slides as bs  # noqa: E402
import sphinx_slides_link as link  # noqa: E402

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="80" height="50">'
    '<rect width="80" height="50" fill="white"/><circle cx="40" cy="25" r="9"/></svg>'
)
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4f40000000049454e44ae426082"
    )
).decode()
PREFIX = "application/papermill.record/"


def glued(name: str, data: dict[str, str], prefix: str = PREFIX) -> dict:
    """A display output as myst-nb's ``glue`` writes it into an executed notebook."""
    return {
        "output_type": "display_data",
        "data": {prefix + mime: value for mime, value in data.items()},
        "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}},
    }


def fake_build(tmp_path: Path, chapter: str = "fake") -> Path:
    """A ``_build`` folder with one executed notebook that glued two numbers and two figures."""
    folder = tmp_path / "_build" / "jupyter_execute" / "book"
    folder.mkdir(parents=True)
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# Fake"},
        {
            "cell_type": "code",
            "metadata": {"tags": ["remove-cell"]},
            "source": 'glue("fk-kappa", kappa)',
            "execution_count": 1,
            "outputs": [
                glued("fk-kappa", {"text/plain": "26919116.346937455"}),
                glued("fk-share", {"text/plain": "0.0052"}),
                {"output_type": "stream", "name": "stdout", "text": "not glued\n"},
            ],
        },
        {
            "cell_type": "code",
            "metadata": {},
            "source": "fig",
            "execution_count": 2,
            "outputs": [
                glued("fk-fig-svg", {"image/svg+xml": SVG, "text/plain": "<Figure>"}),
                glued("fk-fig-png", {"image/png": PNG, "text/plain": "<Figure>"}),
            ],
        },
    ]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (folder / f"{chapter}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return tmp_path / "_build"


def deck_text(slides: int = 10, extra: str = "") -> str:
    """A deck source with ``slides`` slides, every one with speaker notes."""
    first = (
        "# Fake chapter\n\n$\\kappa =$ {{glue:fk-kappa:,.0f}}, share {{glue:fk-share:.1%}}\n\n"
        "{{figure:fk-fig-svg}}\n\nNote:\nSay {{glue:fk-kappa:.2e}} out loud.\n"
    )
    second = (
        "## Code and a PNG\n\n{{source:scripts/build_slides.py:Slide}}\n\n"
        "{{figure:fk-fig-png:200}}\n\n$$\\hat{x}_i = \\frac{x_i - \\mu_B}{\\sigma_B}$$\n\n"
        "Note:\nThe second slide.\n"
    )
    rest = [f"## Slide {i}\n\n- point {i}\n\nNote:\nNotes {i}.\n" for i in range(3, slides + 1)]
    return "---\ntitle: Fake chapter\n---\n\n" + "\n---\n\n".join([first, second, *rest]) + extra


class Tags(HTMLParser):
    """Collects every tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def tags(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture
def built(tmp_path: Path) -> tuple[bs.BuiltDeck, Path]:
    build = fake_build(tmp_path)
    decks = tmp_path / "slides"
    decks.mkdir()
    (decks / "fake.md").write_text(deck_text(), encoding="utf-8")
    out = tmp_path / "out"
    bs.copy_static(out)
    return bs.build_deck("fake", build, out, decks=decks), out


# --------------------------------------------------------------------------------------
# Parsing and placeholders
# --------------------------------------------------------------------------------------


def test_parse_deck_splits_slides_and_notes_outside_code_fences() -> None:
    text = (
        "---\ntitle: T\n---\n\n# One\n\nNote:\nfirst notes\nNote: stays in the notes\n"
        "---\n\n## Two\n\n```python\nx = 1\n---\nNote:\n```\n\ntext\n"
    )
    deck = bs.parse_deck(text, "t")
    assert deck.title == "T"
    assert [s.body.splitlines()[0] for s in deck.slides] == ["# One", "## Two"]
    assert deck.slides[0].notes == "first notes\nNote: stays in the notes"
    assert "---\nNote:\n```" in deck.slides[1].body and deck.slides[1].notes == ""


@pytest.mark.parametrize("text", ["# no front matter\n", "---\nauthor: x\n---\n# One\n"])
def test_parse_deck_wants_a_title(text: str) -> None:
    with pytest.raises(bs.SlideError, match="deck t: .*(front matter|title)"):
        bs.parse_deck(text, "t")


def test_load_glue_reads_scrapbook_outputs_of_the_executed_notebook(tmp_path: Path) -> None:
    values = bs.load_glue(fake_build(tmp_path), "fake")
    assert set(values) == {"fk-kappa", "fk-share", "fk-fig-svg", "fk-fig-png"}
    assert values["fk-kappa"] == {"text/plain": "26919116.346937455"}
    assert values["fk-fig-svg"]["image/svg+xml"] == SVG


def test_load_glue_reads_myst_nbs_glue_json_too(tmp_path: Path) -> None:
    build = fake_build(tmp_path)
    folder = build / "jupyter_execute" / "book"
    (folder / "fake.ipynb").unlink()
    (folder / "fake.glue.json").write_text(
        json.dumps({"fk-n": glued("fk-n", {"text/plain": "133"})}), encoding="utf-8"
    )
    assert bs.load_glue(build, "fake") == {"fk-n": {"text/plain": "133"}}


def test_load_glue_says_to_build_the_book_first(tmp_path: Path) -> None:
    with pytest.raises(bs.SlideError, match="chapter nope .*build the book first"):
        bs.load_glue(tmp_path, "nope")


def resolver(tmp_path: Path) -> bs.Resolver:
    return bs.Resolver("fake", bs.load_glue(fake_build(tmp_path), "fake"), tmp_path / "f", "f")


@pytest.mark.parametrize(
    ("placeholder", "expected"),
    [
        ("{{glue:fk-kappa:,.0f}}", "26,919,116"),
        ("{{glue:fk-kappa:.2e}}", "2.69e+07"),
        ("{{glue:fk-share:.1%}}", "0.5%"),
        ("{{glue:fk-share}}", "0.0052"),
    ],
)
def test_glue_placeholders_format_like_the_books_glue_role(
    tmp_path: Path, placeholder: str, expected: str
) -> None:
    from myst_nb.core.variables import format_plain_text

    resolve = resolver(tmp_path)
    assert resolve(f"a {placeholder} b") == f"a {expected} b"
    key, _, spec = placeholder.strip("{}").removeprefix("glue:").partition(":")
    assert expected == format_plain_text(resolve.glue[key]["text/plain"], spec)


def test_figure_placeholders_write_the_glued_image(tmp_path: Path) -> None:
    resolve = resolver(tmp_path)
    tag = resolve("{{figure:fk-fig-svg}} {{figure:fk-fig-png:300}}")
    assert 'src="f/fk-fig-svg.svg"' in tag and 'src="f/fk-fig-png.png"' in tag
    assert 'style="height: 300px"' in tag
    assert (tmp_path / "f" / "fk-fig-svg.svg").read_text(encoding="utf-8") == SVG
    assert (tmp_path / "f" / "fk-fig-png.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("placeholder", "message"),
    [
        ("{{glue:fk-kapa}}", "deck fake: glue key 'fk-kapa' is not glued.*fk-kappa"),
        ("{{figure:fk-fig-gone}}", "deck fake: figure 'fk-fig-gone' is not glued"),
        ("{{figure:fk-kappa}}", "deck fake: glue key 'fk-kappa' is not a figure"),
        ("{{figure:fk-fig-svg:big}}", "height must be pixels, not 'big'"),
        ("{{glue:fk-fig-svg:.2f}}", "deck fake: glue key 'fk-fig-svg' cannot be formatted"),
        ("{{source:companion/nothing.py:f}}", "source file 'companion/nothing.py' does not"),
        ("{{source:scripts/build_slides.py:nope}}", "has no function or class 'nope'"),
        ("{{glue:fk-kappa:.2f} }", "malformed placeholder"),
        ("{{ glue:fk-kappa }}", "malformed placeholder"),
    ],
)
def test_a_missing_key_is_an_error_naming_the_deck_and_the_key(
    tmp_path: Path, placeholder: str, message: str
) -> None:
    with pytest.raises(bs.SlideError, match=message):
        resolver(tmp_path)(f"text {placeholder} text")


def test_source_placeholders_show_the_code_without_its_docstring(tmp_path: Path) -> None:
    code = resolver(tmp_path)("{{source:scripts/build_slides.py:Resolver._glue}}")
    assert code.startswith("```python\ndef _glue(self, args: str) -> str:\n    key, _, spec")
    assert code.endswith("\n```") and '"""' not in code


def test_cell_placeholders_show_the_chapters_own_code(tmp_path: Path) -> None:
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "fake.md").write_text(
        "---\nkernelspec: {display_name: Python 3, language: python, name: python3}\n"
        "---\n\n# Fake\n\n"
        "```{code-cell} ipython3\nx = 1\n```\n\n"
        "```{code-cell} ipython3\nmodel = f(x)\nmodel\n```\n",
        encoding="utf-8",
    )
    resolve = resolver(tmp_path)
    resolve.root = tmp_path
    assert resolve("{{cell:model = f}}") == "```python\nmodel = f(x)\nmodel\n```"
    with pytest.raises(bs.SlideError, match="deck fake: no code cell of the chapter contains 'y"):
        resolve("{{cell:y =}}")


def test_object_source_finds_nested_objects_and_keeps_decorators() -> None:
    source = (
        "import x\n\n\n@dataclass\nclass A:\n"
        '    """Doc."""\n\n    n: int\n\n    def f(self):\n        """Doc\n        more."""\n'
        "        return 1\n"
    )
    assert (
        bs.object_source(source, "A")
        == "@dataclass\nclass A:\n    n: int\n\n    def f(self):\n        return 1"
    )
    assert bs.object_source(source, "A.f") == "def f(self):\n    return 1"
    assert bs.object_source(source, "A.g") is None


# --------------------------------------------------------------------------------------
# A whole deck, built from the fake notebook
# --------------------------------------------------------------------------------------


def test_a_built_deck_has_its_slides_figures_notes_and_math(built) -> None:
    deck, out = built
    html = deck.html.read_text(encoding="utf-8")
    assert deck.slides == html.count("<section>") == 10
    assert html.count('<aside class="notes">') == 10
    assert "26,919,116" in html and "0.5%" in html and "2.69e+07" in html
    assert '<span class="math">\\(\\kappa =\\)</span>' in html
    assert "\\[\\hat{x}_i = \\frac{x_i - \\mu_B}{\\sigma_B}\\]" in html
    assert '<code class="language-python">@dataclass\nclass Slide:' in html
    assert "{{" not in html
    assert sorted(p.name for p in deck.figures) == ["fk-fig-png.png", "fk-fig-svg.svg"]
    for figure in deck.figures:
        assert figure.parent == out / "fake" and figure.stat().st_size > 0


def test_a_built_deck_loads_nothing_from_outside(built) -> None:
    deck, out = built
    loaded = [
        (tag, attrs.get("src") or attrs.get("href"))
        for tag, attrs in tags(deck.html.read_text(encoding="utf-8"))
        if tag in {"script", "img", "link", "iframe", "source"} and set(attrs) & {"src", "href"}
    ]
    assert {tag for tag, _ in loaded} >= {"script", "img", "link"}
    for tag, url in loaded:
        assert url and not re.match(r"(https?:)?//", url), f"<{tag}> loads {url}"
        if not url.startswith("data:"):
            assert (out / url).is_file() and (out / url).stat().st_size > 0, url
    style = (out / "_static" / "reveal" / "dist" / "theme" / "white.css").read_text()
    for url in re.findall(r"url\(([^)]+)\)", style):
        assert not re.match(r"['\"]?(https?:)?//", url), url
    config = re.search(r"mathjax:\s*\"([^\"]+)\"", deck.html.read_text(encoding="utf-8"))
    assert config and (out / config.group(1)).is_file()


@pytest.mark.parametrize("slides", [9, 26])
def test_a_deck_needs_10_to_25_slides(tmp_path: Path, slides: int) -> None:
    build = fake_build(tmp_path)
    decks = tmp_path / "slides"
    decks.mkdir()
    (decks / "fake.md").write_text(deck_text(slides), encoding="utf-8")
    with pytest.raises(bs.SlideError, match=f"deck fake: {slides} slides, want 10 to 25"):
        bs.build_deck("fake", build, tmp_path / "out", decks=decks)


def test_a_chapter_without_a_deck_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(bs.SlideError, match="chapter fake has no deck: write slides/fake.md"):
        bs.build_deck("fake", fake_build(tmp_path), tmp_path / "out", decks=tmp_path / "slides")


# --------------------------------------------------------------------------------------
# The course's own decks, checked against their chapters' sources (no build needed)
# --------------------------------------------------------------------------------------

CHAPTERS = bs.toc_chapters()
# Every deck, also one whose chapter is not in _toc.yml yet (its build then skips it).
DECKS = sorted({p.stem for p in (ROOT / "slides").glob("*.md") if p.name[0] != "_"} | set(CHAPTERS))
PLACEHOLDERS = re.compile(r"\{\{(glue|figure|source|cell):([^{}]+)\}\}")


def glued_names(chapter: str) -> list[re.Pattern]:
    """What the chapter's code glues: literal names, and f-string names as patterns."""
    source = (ROOT / "book" / f"{chapter}.md").read_text(encoding="utf-8")
    names = re.findall(r"\bglue\(\s*(f?)\"([^\"]+)\"", source)
    return [
        re.compile(re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(name)) if f else re.escape(name))
        for f, name in names
    ]


def test_every_chapter_in_the_toc_is_known_to_the_slides_build() -> None:
    toc = {entry.rsplit("/", 1)[-1] for entry in bs.toc_files()}
    assert set(CHAPTERS) == ({md.stem for md in bs.chapters()} & toc) - bs.NO_DECK
    assert CHAPTERS and "instructors" not in CHAPTERS


@pytest.mark.parametrize("chapter", DECKS)
def test_each_chapter_has_a_deck_of_10_to_25_slides_with_notes_and_figures(chapter: str) -> None:
    source = ROOT / "slides" / f"{chapter}.md"
    assert source.exists(), f"write slides/{chapter}.md"
    deck = bs.parse_deck(source.read_text(encoding="utf-8"), chapter)
    assert 10 <= len(deck.slides) <= 25
    assert all(slide.notes.strip() for slide in deck.slides), "every slide has speaker notes"
    text = source.read_text(encoding="utf-8")
    kinds = [kind for kind, _ in PLACEHOLDERS.findall(text)]
    assert kinds.count("figure") >= 1 and kinds.count("glue") >= 5
    assert "```python" in text or {"source", "cell"} & set(kinds), "one or two code snippets"
    assert "$$" in text, "key equations"


@pytest.mark.parametrize("chapter", DECKS)
def test_each_deck_uses_only_what_its_chapter_glues(chapter: str) -> None:
    source = ROOT / "slides" / f"{chapter}.md"
    patterns = glued_names(chapter)
    cells = [c.source for c in jupytext.read(ROOT / "book" / f"{chapter}.md").cells]
    for kind, args in PLACEHOLDERS.findall(source.read_text(encoding="utf-8")):
        if kind == "cell":
            assert any(args in cell for cell in cells), f"no cell of {chapter} has {args!r}"
            continue
        if kind == "source":
            path, _, name = args.rpartition(":")
            code = (ROOT / path).read_text(encoding="utf-8")
            assert bs.object_source(code, name) is not None, args
            continue
        key = args.partition(":")[0]
        assert any(p.fullmatch(key) for p in patterns), f"{chapter} does not glue {key!r}"


@pytest.mark.parametrize("chapter", DECKS)
def test_each_decks_code_snippets_are_python(chapter: str) -> None:
    text = (ROOT / "slides" / f"{chapter}.md").read_text(encoding="utf-8")
    for code in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
        compile(code, f"slides/{chapter}.md", "exec")


def test_no_deck_lacks_a_chapter() -> None:
    assert set(DECKS) <= {md.stem for md in bs.chapters()} - bs.NO_DECK


def test_every_reveal_file_ships_in_the_installed_wheel(tmp_path: Path) -> None:
    bs.copy_static(tmp_path)
    for name in bs.REVEAL_FILES:
        assert (tmp_path / "_static" / "reveal" / name).exists(), name
    assert (tmp_path / "_static" / "mathjax" / bs.MATHJAX_FILE).stat().st_size > 1_000_000


# --------------------------------------------------------------------------------------
# The link on each chapter page, the workflow, the pinned package
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "href"),
    [("book/bn_algorithm", "../slides/bn_algorithm.html"), ("intro", "slides/intro.html")],
)
def test_deck_href_is_relative_to_the_page(page: str, href: str) -> None:
    assert link.deck_href(page) == href


def test_the_slides_link_follows_the_student_line_or_the_title() -> None:
    student = '<p class="student-version">Student <a href="x">version</a></p>'
    body = f"<h1>Title</h1>{student}<p>Text</p>"
    new = link.add_slides_link(body, "../slides/t.html")
    assert new.startswith(f'<h1>Title</h1>{student}<p class="lecture-slides">')
    assert 'href="../slides/t.html">open the deck</a>' in new and new.endswith("<p>Text</p>")
    alone = link.add_slides_link("<h1>Title</h1><p>Text</p>", "s.html")
    assert alone.startswith('<h1>Title</h1><p class="lecture-slides">')
    assert link.add_slides_link("<p>no title</p>", "s.html") == "<p>no title</p>"


def test_the_book_loads_the_slides_link_extension() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["local_extensions"]["sphinx_slides_link"] == "scripts"


def test_the_publish_workflow_builds_the_slides_into_the_site() -> None:
    workflow = yaml.safe_load(
        (ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8")
    )
    steps = workflow["jobs"]["build"]["steps"]
    runs = [s.get("run", "") for s in steps]
    book = next(i for i, r in enumerate(runs) if "jupyter-book build" in r)
    slides = next(i for i, r in enumerate(runs) if "python scripts/build_slides.py" in r)
    upload = next(
        i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/upload-pages")
    )
    assert book < slides < upload
    assert steps[upload]["with"]["path"] == "_build/html"


def test_requirements_pin_the_package_that_ships_reveal_js() -> None:
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^sphinx-revealjs==\d", requirements, flags=re.MULTILINE)


# --------------------------------------------------------------------------------------
# In a browser
# --------------------------------------------------------------------------------------


def browser():
    """The browser test's module, or a skip where Chromium or Selenium is missing."""
    pytest.importorskip("selenium")
    import browser_test

    if not (browser_test.CHROMIUM.exists() and browser_test.CHROMEDRIVER.exists()):
        pytest.skip("Debian's chromium/chromedriver are not installed")
    return browser_test


def test_the_browser_test_steps_through_a_built_deck(built, tmp_path: Path) -> None:
    bt = browser()
    deck, out = built
    site = tmp_path / "site"
    (site / "slides").mkdir(parents=True)
    import shutil

    shutil.copytree(out, site / "slides", dirs_exist_ok=True)
    # A broken copy: one slide far too tall, one image missing, one TeX error.
    html = deck.html.read_text(encoding="utf-8")
    broken = html.replace("<h2>Slide 5</h2>", "<h2>Slide 5</h2>" + "<p>line</p>" * 40, 1)
    broken = broken.replace("fake/fk-fig-png.png", "fake/gone.png").replace(
        "\\(\\kappa =\\)", "\\(\\frac{1}\\)"
    )
    (site / "slides" / "broken.html").write_text(broken, encoding="utf-8")
    shots = tmp_path / "shots"
    shots.mkdir()
    server, base = bt.serve(site)
    driver = bt.start_browser()
    try:
        good = bt.check_deck(driver, base, "fake", shots)
        bad = bt.check_deck(driver, base, "broken", shots)
    finally:
        driver.quit()
        server.shutdown()
    assert good.problems == []
    assert good.facts["slides"] == 10 and good.facts["notes"] == 10
    assert good.facts["figures"] == 2 and good.facts["equations"] >= 2
    assert (shots / "slides-fake-title.png").stat().st_size > 0
    report = "\n".join(bad.problems)
    for expected in [
        "slide 2 ('Code and a PNG'): image did not load: fake/gone.png",
        "slide 1 ('Fake chapter'): TeX error",
        "slide 5 ('Slide 5'): ",
        "taller than the 720 px slide",
    ]:
        assert expected in report, f"{expected!r} not in:\n{report}"
