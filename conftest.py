"""pytest wiring for the book: nbval runs every chapter straight from its MyST source.

Chapters are Jupytext MyST-markdown notebooks. nbval reads notebooks with
``nbformat.read``; here it reads them through Jupytext instead, so the tests always
execute the ``.md`` source (the committed ``.ipynb`` copies are only for Colab and
are checked against the sources by ``tests/test_book.py``). The run ends with each
chapter's execution time.

A chapter that nbval executed from its first cell to its last without a failure is also
stored in the book's execution cache (``_build/.jupyter_cache``, jupyter-cache, keyed like
MyST-NB keys it: by the code cells and the kernelspec). The strict book build that follows
(``execute_notebooks: cache``) then renders those outputs instead of executing the chapter a
second time; a chapter edited since, or one whose run failed, is executed by the build.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import jupytext
import nbformat
import nbval.plugin
import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))

from sync_book import is_notebook  # noqa: E402  (one definition of "a chapter")

# The paired .ipynb files are Colab copies of the .md chapters: never run them twice.
collect_ignore_glob = ["book/*.ipynb", "book/student/*", "_build/*"]


class _JupytextReader:
    """Stands in for the ``nbformat`` module inside nbval: reads ``.md`` via Jupytext."""

    def __getattr__(self, name: str):
        return getattr(nbformat, name)

    @staticmethod
    def read(path, as_version=4, **kwargs):
        return jupytext.read(path, as_version=as_version, **kwargs)


nbval.plugin.nbformat = _JupytextReader()


def _is_chapter(path: Path) -> bool:
    return path.suffix == ".md" and path.parent == ROOT / "book" and is_notebook(path)


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and _is_chapter(file_path):
        return nbval.plugin.IPyNbFile.from_parent(parent, path=file_path)
    return None


_chapter_seconds: dict[str, float] = defaultdict(float)
_chapter_failed: set[str] = set()
_cell_passed: set[str] = set()
BOOK_CACHE = ROOT / "_build" / ".jupyter_cache"
_wall_start = time.perf_counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".md"):
        _chapter_seconds[path] += report.duration
        if report.failed:
            _chapter_failed.add(path)
        elif report.when == "call" and report.passed:
            _cell_passed.add(report.nodeid)


def _executed_notebook(chapter: nbval.plugin.IPyNbFile, cells: list[pytest.Item]):
    """The chapter's notebook with the outputs nbval collected, or None if incomplete."""
    notebook = getattr(chapter, "nb", None)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"] if notebook else []
    if not code or len(cells) != len(code):
        return None
    for count, (item, cell) in enumerate(zip(cells, code, strict=True), start=1):
        if item.nodeid not in _cell_passed or item.cell is not cell or item.test_outputs is None:
            return None
        cell.outputs = item.test_outputs
        cell.execution_count = count
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = count
    return notebook


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Store every chapter that ran completely and passed in the book's execution cache."""
    by_chapter: dict[nbval.plugin.IPyNbFile, list[pytest.Item]] = defaultdict(list)
    for item in session.items:
        if isinstance(item, nbval.plugin.IPyNbCell):
            by_chapter[item.parent].append(item)
    if not by_chapter:
        return
    try:
        from jupyter_cache import get_cache
        from jupyter_cache.base import CacheBundleIn
    except ImportError:  # the floor environment has no book tooling
        return
    cache = None
    for chapter, cells in by_chapter.items():
        notebook = _executed_notebook(chapter, cells)
        if notebook is None:
            continue
        cache = cache or get_cache(str(BOOK_CACHE))
        seconds = _chapter_seconds.get(cells[0].nodeid.split("::", 1)[0], 0.0)
        cache.cache_notebook_bundle(
            CacheBundleIn(notebook, str(chapter.path), data={"execution_seconds": seconds}),
            check_validity=True,
            overwrite=True,
        )


def pytest_terminal_summary(terminalreporter) -> None:
    if not _chapter_seconds:
        return
    terminalreporter.section("chapter execution times (nbval)")
    for path, seconds in sorted(_chapter_seconds.items()):
        status = "FAILED" if path in _chapter_failed else "ok"
        terminalreporter.write_line(f"{seconds:7.1f} s  {status:6s}  {path}")
    total = time.perf_counter() - _wall_start
    terminalreporter.write_line(f"whole test run so far: {total:.1f} s")
