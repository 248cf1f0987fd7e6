"""pytest wiring for the book: nbval runs every chapter straight from its MyST source.

Chapters are Jupytext MyST-markdown notebooks. nbval reads notebooks with
``nbformat.read``; here it reads them through Jupytext instead, so the tests always
execute the ``.md`` source (the committed ``.ipynb`` copies are only for Colab and
are checked against the sources by ``tests/test_book.py``). The run ends with each
chapter's execution time.
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
_wall_start = time.perf_counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".md"):
        _chapter_seconds[path] += report.duration
        if report.failed:
            _chapter_failed.add(path)


def pytest_terminal_summary(terminalreporter) -> None:
    if not _chapter_seconds:
        return
    terminalreporter.section("chapter execution times (nbval)")
    for path, seconds in sorted(_chapter_seconds.items()):
        status = "FAILED" if path in _chapter_failed else "ok"
        terminalreporter.write_line(f"{seconds:7.1f} s  {status:6s}  {path}")
    total = time.perf_counter() - _wall_start
    terminalreporter.write_line(f"whole test run so far: {total:.1f} s")
