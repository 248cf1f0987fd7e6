"""The instructors' page and its data: every lecture chapter has a measured running time,
and ``scripts/time_chapters.py`` measures, reuses the book build's measurements, and
reports what is missing."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import build_slides  # noqa: E402
import sync_book  # noqa: E402
import time_chapters as tc  # noqa: E402

LECTURES = build_slides.toc_chapters()
CHAPTER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---

# A tiny chapter

```{code-cell} ipython3
total = sum(range(10))
total
```
"""


def test_the_page_is_in_the_toc_and_is_not_a_lecture() -> None:
    assert "book/instructors" in sync_book.toc_files()
    assert "instructors" not in LECTURES and "instructors" in build_slides.NO_DECK


@pytest.mark.parametrize("chapter", LECTURES)
def test_every_lecture_chapter_has_a_measured_running_time(chapter: str) -> None:
    timing = tc.load()["chapters"].get(chapter)
    assert timing is not None, f"run `python scripts/time_chapters.py {chapter}`"
    assert timing["seconds"] > 0 and timing["cpus"] >= 1
    assert timing["method"] and len(timing["measured"]) == len("2026-01-01")
    assert len(timing["source"]) == 16


def test_the_check_passes_and_names_what_is_missing(tmp_path: Path, capsys) -> None:
    assert tc.main(["--check"]) == 0
    partial = tmp_path / "times.json"
    record = tc.load()
    del record["chapters"][LECTURES[-1]]
    partial.write_text(json.dumps(record), encoding="utf-8")
    assert tc.main(["--check", "--data", str(partial)]) == 1
    assert f"{LECTURES[-1]} has no running time" in capsys.readouterr().out
    assert tc.missing({"chapters": {}}, ["a", "b"]) == ["a", "b"]


def test_execute_measures_a_chapter_in_a_fresh_kernel(tmp_path: Path) -> None:
    md = tmp_path / "tiny.md"
    md.write_text(CHAPTER, encoding="utf-8")
    seconds = tc.execute(md, timeout=120)
    assert 0 < seconds < 120
    record = tc.entry(md, seconds, "test")
    assert record["source"] == tc.source_hash(md) and record["seconds"] == round(seconds, 1)


def test_from_cache_takes_the_builds_measurement_for_the_current_source(tmp_path: Path) -> None:
    from jupyter_cache import get_cache

    md = tmp_path / "tiny.md"
    md.write_text(CHAPTER, encoding="utf-8")
    executed = tmp_path / "tiny.ipynb"
    nbformat.write(jupytext.read(md), executed)
    cache = get_cache(tmp_path / "cache")
    cache.cache_notebook_file(
        str(executed), uri=str(md), data={"execution_seconds": 12.5}, check_validity=False
    )
    seconds, day = tc.from_cache(md, tmp_path / "cache")
    assert seconds == 12.5 and day == datetime.date.today()
    md.write_text(CHAPTER.replace("range(10)", "range(11)"), encoding="utf-8")
    assert tc.from_cache(md, tmp_path / "cache") is None  # a changed chapter is re-measured
