"""The book's wiring: table of contents, Colab notebooks and setup cells.

``scripts/sync_book.py`` re-syncs everything these tests check.
"""

from __future__ import annotations

import ast
import shutil
import sys
import tomllib
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import sync_book  # noqa: E402

CHAPTERS = sync_book.chapters()
FIX = "run `python scripts/sync_book.py` to re-sync"


def test_there_are_chapters() -> None:
    assert len(CHAPTERS) >= 1


def test_every_toc_entry_exists() -> None:
    for entry in sync_book.toc_files():
        assert (ROOT / f"{entry}.md").exists(), f"_toc.yml names {entry}, which has no .md"


def test_every_chapter_is_in_the_toc() -> None:
    listed = set(sync_book.toc_files())
    for md in CHAPTERS:
        assert f"book/{md.stem}" in listed, f"{md.name} is not in _toc.yml"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_paired_notebook_in_sync(md: Path) -> None:
    assert sync_book.pair_problems(md) == [], FIX


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_setup_cell_agrees_with_config(md: Path) -> None:
    url, branch = sync_book.repository()
    assert sync_book.setup_problems(md, url, branch) == [], FIX


def test_repository_url_is_a_github_repo() -> None:
    url, branch = sync_book.repository()
    assert url.startswith("https://github.com/") and url.count("/") == 4, url
    assert branch


# What a chapter may import on Colab, where only the package and its dependencies are
# installed: the standard library, the package, its declared dependencies, and IPython
# (present wherever a notebook runs). A module that only requirements.txt installs, such
# as myst_nb, would break the Colab copy of the chapter.
DISTRIBUTION_TO_MODULE = {"scikit-learn": "sklearn"}


def _declared_modules() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = set()
    for requirement in project["dependencies"]:
        dist = requirement.split(">")[0].split("=")[0].split("<")[0].strip()
        names.add(DISTRIBUTION_TO_MODULE.get(dist, dist.replace("-", "_")))
    return names | {"companion", "IPython"}


def _imported_modules(md: Path) -> set[str]:
    found = set()
    for cell in jupytext.read(md).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_imports_only_what_colab_will_have(md: Path) -> None:
    allowed = _declared_modules() | set(sys.stdlib_module_names)
    assert _imported_modules(md) - allowed == set()


@pytest.fixture
def chapter_copy(tmp_path: Path) -> Path:
    md = CHAPTERS[0]
    copy = tmp_path / md.name
    shutil.copy(md, copy)
    shutil.copy(md.with_suffix(".ipynb"), copy.with_suffix(".ipynb"))
    sync_book.student_path(copy).parent.mkdir()
    shutil.copy(sync_book.student_path(md), sync_book.student_path(copy))
    return copy


def test_sync_check_catches_an_edited_chapter(chapter_copy: Path) -> None:
    with chapter_copy.open("a", encoding="utf-8") as f:
        f.write("\nA sentence added after the notebook was written.\n")
    assert sync_book.pair_problems(chapter_copy) == [
        f"{chapter_copy.stem}.ipynb differs from {chapter_copy.name}",
        f"student/{chapter_copy.stem}.ipynb differs from {chapter_copy.name}",
    ]


def test_sync_check_catches_a_missing_notebook(chapter_copy: Path) -> None:
    chapter_copy.with_suffix(".ipynb").unlink()
    assert sync_book.pair_problems(chapter_copy) == [f"{chapter_copy.stem}.ipynb is missing"]


def test_url_check_catches_a_fork_that_was_not_resynced(chapter_copy: Path) -> None:
    url, branch = sync_book.repository()
    fork = "https://github.com/someone-else/bn-course-fork"
    problems = sync_book.setup_problems(chapter_copy, fork, branch)
    assert len(problems) == 1 and "COURSE_REPOSITORY" in problems[0]
    assert sync_book.rewrite_setup(chapter_copy, fork, "lecture-2027")
    assert sync_book.setup_problems(chapter_copy, fork, "lecture-2027") == []


def test_colab_link_that_the_build_check_expects() -> None:
    import check_build

    url, branch = sync_book.repository()
    link = check_build.colab_url(ROOT / "book" / "standardization.md")
    assert link == (
        "https://colab.research.google.com/github/"
        f"{url.removeprefix('https://github.com/')}/blob/{branch}/book/standardization.ipynb"
    )


def test_sync_check_catches_a_missing_student_notebook(chapter_copy: Path) -> None:
    sync_book.student_path(chapter_copy).unlink()
    assert sync_book.pair_problems(chapter_copy) == [
        f"student/{chapter_copy.stem}.ipynb is missing"
    ]


def _solution_code(md: Path) -> list[str]:
    """The source of every code cell inside a solution of ``md``."""
    inside, found = False, []
    for cell in jupytext.read(md).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.split("\n"):
                if sync_book.SOLUTION_START.match(line):
                    inside = True
                elif sync_book.SOLUTION_END.match(line):
                    inside = False
        elif inside:
            found.append(cell.source)
    return found


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_student_notebook_keeps_exercises_and_drops_solutions(md: Path) -> None:
    full = md.read_text(encoding="utf-8")
    student = jupytext.read(sync_book.student_path(md))
    text = "\n".join(cell.source for cell in student.cells)
    assert text.count("{exercise}") == full.count("{exercise}") > 0
    assert "solution-start" not in text and "solution-end" not in text
    code = [cell.source for cell in student.cells if cell.cell_type == "code"]
    assert code.count(sync_book.YOUR_SOLUTION) == full.count("{solution-start}")
    for solution in _solution_code(md):
        assert solution not in code


def test_an_unclosed_solution_is_an_error() -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("```{solution-start} x\n:class: dropdown\n```")]
    )
    with pytest.raises(ValueError, match="solution-start"):
        sync_book.without_solutions(notebook)


def test_chapter_pages_get_a_student_version_link() -> None:
    from types import SimpleNamespace

    import sphinx_student_link

    app = SimpleNamespace(srcdir=str(ROOT))
    md = CHAPTERS[0]
    page = f"book/{md.stem}"
    context = {"body": "<section><h1>Title</h1><p>Text</p></section>"}
    sphinx_student_link.student_link(app, page, "page.html", context, doctree=object())
    want = sync_book.colab_url(Path("book") / "student" / f"{md.stem}.ipynb")
    assert '<h1>Title</h1><p class="student-version">' in context["body"]
    assert f'href="{want}"' in context["body"]
    assert want.endswith(f"/blob/{sync_book.repository()[1]}/book/student/{md.stem}.ipynb")
    plain = {"body": "<h1>Glossary</h1>"}
    sphinx_student_link.student_link(app, "book/glossary", "page.html", plain, doctree=object())
    assert plain["body"] == "<h1>Glossary</h1>"
