"""The built-book checks that need no build: figures that did not become images, the
browser test's text rules, and the CJK web font subset."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_build  # noqa: E402
import make_cjk_font  # noqa: E402

# What myst-nb writes for a figure drawn as an image, and for one printed as text.
DRAWN_OUTPUT = """
<div class="cell_output docutils container">
<img alt="../_images/abc.svg" src="../_images/abc.svg" />
</div>"""
TEXT_OUTPUT = """
<div class="cell_output docutils container">
<div class="output text_plain highlight-myst-ansi notranslate"><div class="highlight">
<pre><span></span>&lt;Figure size 600x400 with 1 Axes&gt;</pre></div></div>
</div>"""
GLUED_IMAGE = """
<figure class="align-default" id="fig-ok">
<img alt="../_images/abc.svg" src="../_images/abc.svg" />
<figcaption><p><span class="caption-number">Fig. 1 </span>A plot.</p></figcaption>
</figure>"""
GLUED_TEXT = """
<figure class="align-default" id="fig-broken">
<div class="highlight-none notranslate"><div class="highlight">
<pre>&lt;Figure size 640x480 with 2 Axes&gt;</pre></div></div>
<figcaption><p><span class="caption-number">Fig. 2 </span>A plot.</p></figcaption>
</figure>"""
GLUED_NOTHING = """
<figure class="align-default" id="fig-empty">
<figcaption><p>Only a caption.</p></figcaption>
</figure>"""


def page(*parts: str) -> str:
    return "<html><body><main><article>" + "".join(parts) + "</article></main></body></html>"


@pytest.fixture
def page_dir(tmp_path: Path) -> Path:
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "abc.svg").write_text("<svg/>", encoding="utf-8")
    book = tmp_path / "book"
    book.mkdir()
    return book


def test_drawn_figures_pass(page_dir: Path) -> None:
    assert check_build.figure_problems(page(DRAWN_OUTPUT, GLUED_IMAGE), page_dir) == []


def test_figure_printed_as_text_in_an_output_fails() -> None:
    problems = check_build.figure_problems(page(DRAWN_OUTPUT, TEXT_OUTPUT))
    assert len(problems) == 1
    assert "1 figure(s) printed as text" in problems[0]
    assert "<Figure size 600x400 with 1 Axes>" in problems[0]


def test_glued_figure_without_image_fails() -> None:
    problems = check_build.figure_problems(page(GLUED_IMAGE, GLUED_TEXT, GLUED_NOTHING))
    assert "figure fig-broken has no image" in problems
    assert "figure fig-empty has no image" in problems
    assert "figure fig-ok has no image" not in problems
    assert any("printed as text" in p and "640x480 with 2 Axes" in p for p in problems)


def test_missing_or_empty_image_file_fails(page_dir: Path) -> None:
    (page_dir.parent / "_images" / "empty.png").write_bytes(b"")
    html = page(
        '<img src="../_images/gone.svg"/>', '<img src="../_images/empty.png">', "<img src=''>"
    )
    assert check_build.figure_problems(html, page_dir) == [
        "image ../_images/gone.svg is missing or empty",
        "image ../_images/empty.png is missing or empty",
        "an <img> has no src",
    ]


def test_figure_repr_in_a_script_is_not_page_text() -> None:
    html = page("<script>const s = '<Figure size 1x1 with 1 Axes>';</script>", GLUED_IMAGE)
    assert check_build.figure_problems(html) == []


def test_inline_svg_counts_as_an_image() -> None:
    html = page('<figure id="fig-svg"><svg viewBox="0 0 1 1"><path d="M0 0"/></svg></figure>')
    assert check_build.figure_problems(html) == []


# --- the browser test's text rules (no browser needed) ---------------------------------


@pytest.fixture(scope="module")
def browser_test():
    pytest.importorskip("selenium")
    import browser_test

    return browser_test


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ('Traceback (most recent call last):\n  File "x.py", line 3', "a Python traceback"),
        ("ValueError                Traceback (most recent call last)", "a Python traceback"),
        ("Cell In[12], line 4", "a Python traceback"),
        ("saved to /tmp/tmpab12/model.keras", "a file path of the build machine"),
        ("/work/main/.venv/lib/python3.11/site-packages/keras/x.py:3", "a file path"),
        ("mean: np.float64(0.887)", "a raw NumPy scalar repr"),
        ("np.float32(1.5)", "a raw NumPy scalar repr"),
        (
            "I0000 00:00:1795619758.617970   10740 port.cc:153] oneDNN custom operations",
            "a TensorFlow log line",
        ),
        ("<Figure size 600x400 with 1 Axes>", "a figure printed as text"),
    ],
)
def test_browser_text_rules_catch(browser_test, text: str, what: str) -> None:
    problems = browser_test.text_problems(text)
    assert any(what in p for p in problems), problems


@pytest.mark.parametrize(
    "text",
    [
        "The mean is 0.887 and the accuracy 97.2%.",
        "python3 -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt",
        "See https://github.com/owner/repo/tree/main/book and https://example.org/home/x.",
        "x = np.float32 is a dtype; np.mean(x) is a function.",
        "and/or, input/output, train/test split",
    ],
)
def test_browser_text_rules_let_ordinary_text_pass(browser_test, text: str) -> None:
    assert browser_test.text_problems(text) == []


# --- the CJK web font subset -----------------------------------------------------------


def test_cjk_font_covers_every_chinese_character_of_the_book() -> None:
    wanted = make_cjk_font.book_cjk_characters()
    assert wanted, "book/*.md has no CJK text: drop the font, or this test"
    missing = wanted - make_cjk_font.font_characters()
    assert not missing, (
        f"{make_cjk_font.SUBSET.name} lacks {''.join(sorted(missing))}: "
        f"run `{make_cjk_font.FIX}` (needs Debian's fonts-noto-cjk)"
    )


def test_cjk_font_is_small_and_licensed() -> None:
    assert make_cjk_font.SUBSET.stat().st_size < 100_000
    license_text = make_cjk_font.LICENSE.read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in license_text
    assert "Copyright 2014-2021 Adobe" in license_text


def test_cjk_font_is_renamed_and_used_by_the_css() -> None:
    from fontTools.ttLib import TTFont

    with TTFont(make_cjk_font.SUBSET) as font:
        assert font["name"].getDebugName(1) == make_cjk_font.FAMILY
    css = (ROOT / "book" / "_static" / "course.css").read_text(encoding="utf-8")
    assert f'font-family: "{make_cjk_font.FAMILY}"' in css
    assert f"fonts/{make_cjk_font.SUBSET.name}" in css


@pytest.mark.parametrize(
    ("char", "cjk"), [("标", True), ("。", True), ("Ａ", True), ("a", False), ("é", False)]
)
def test_is_cjk(char: str, cjk: bool) -> None:
    assert make_cjk_font.is_cjk(char) is cjk
