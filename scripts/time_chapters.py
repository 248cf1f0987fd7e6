"""Measure how long each lecture chapter takes to run, for the instructors' page.

The page ``book/instructors.md`` plans lectures and a lab from each chapter's reading time
(computed on the page from its words) and running time (measured here, never typed)::

    python scripts/time_chapters.py                       # execute every lecture chapter
    python scripts/time_chapters.py --from-cache _build/.jupyter_cache
    python scripts/time_chapters.py --check               # exit 1 if an entry is missing
    python scripts/time_chapters.py bn_algorithm          # re-measure one chapter

It executes a chapter's MyST source top to bottom in a fresh kernel, in ``book/`` (as the
book build does), and records the wall-clock seconds, the machine's CPU count, the date
and a hash of the source in ``book/_data/run_times.json``. ``--from-cache`` takes the
seconds the book build itself measured (``jupyter-cache`` keeps them with each executed
notebook) for the chapters whose current source the cache holds, and executes the rest.
Lecture chapters are the notebook chapters of ``_toc.yml`` that have a deck
(``build_slides.toc_chapters``).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import jupytext
from build_slides import toc_chapters
from sync_book import ROOT

DATA = ROOT / "book" / "_data" / "run_times.json"
ABOUT = (
    "Seconds to execute each lecture chapter top to bottom in a fresh kernel, written by "
    "scripts/time_chapters.py (read by book/instructors.md). Timings depend on the machine "
    "and its load: see cpus and measured."
)


def source_hash(md: Path) -> str:
    """A short hash of a chapter's source, to tell which version was measured."""
    return hashlib.sha256(md.read_bytes()).hexdigest()[:16]


def load(path: Path = DATA) -> dict:
    """The recorded timings (an empty record when the file does not exist yet)."""
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"about": ABOUT, "chapters": {}}


def entry(md: Path, seconds: float, method: str, day: datetime.date | None = None) -> dict:
    """One chapter's record (measured on ``day``, default today)."""
    return {
        "seconds": round(seconds, 1),
        "method": method,
        "source": source_hash(md),
        "measured": (day or datetime.date.today()).isoformat(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def execute(md: Path, timeout: int = 900) -> float:
    """Execute the chapter ``md`` in a fresh kernel from ``book/``; its wall-clock seconds."""
    from nbclient import NotebookClient

    notebook = jupytext.read(md)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(md.parent)}},
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def from_cache(md: Path, cache_dir: Path) -> tuple[float, datetime.date] | None:
    """The seconds the book build measured for the current ``md`` and the day it ran, if
    the build's cache holds this version of the chapter."""
    from jupyter_cache import get_cache

    try:
        record = get_cache(cache_dir).match_cache_notebook(jupytext.read(md))
    except KeyError:
        return None
    seconds = (record.data or {}).get("execution_seconds")
    return (float(seconds), record.created.date()) if seconds else None


def missing(record: dict, names: list[str]) -> list[str]:
    """The lecture chapters without a timing."""
    return [n for n in names if n not in record.get("chapters", {})]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report missing entries only")
    parser.add_argument(
        "--from-cache", type=Path, help="a book build's .jupyter_cache folder to take timings from"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the JSON file to write")
    parser.add_argument("only", nargs="*", help="chapter names (default: every lecture chapter)")
    args = parser.parse_args(argv)
    names = toc_chapters()
    record = load(args.data)
    if args.check:
        gaps = missing(record, names)
        for name in gaps:
            print(f"{name} has no running time: python scripts/time_chapters.py {name}")
        return 1 if gaps else 0
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        parser.error(f"not a lecture chapter in _toc.yml: {', '.join(unknown)}")
    failed = []
    for name in args.only or names:
        md = ROOT / "book" / f"{name}.md"
        cached = from_cache(md, args.from_cache) if args.from_cache else None
        if cached is not None:
            (seconds, day), method = cached, "the book build (jupyter-cache)"
        else:
            try:
                seconds, day = execute(md), None
            except Exception as exc:  # one failing chapter must not stop the others
                failed.append(name)
                print(f"{name}: not measured, it failed to run ({type(exc).__name__})")
                continue
            method = "scripts/time_chapters.py (nbclient)"
        record["chapters"][name] = entry(md, seconds, method, day)
        print(f"{name}: {seconds:.1f} s ({method})")
        save(record, names, args.data)  # keep what is measured so far
    save(record, names, args.data)
    return 1 if failed else 0


def save(record: dict, names: list[str], path: Path) -> None:
    """Write the record, chapters in reading order."""
    record["about"] = ABOUT
    record["chapters"] = {n: record["chapters"][n] for n in names if n in record["chapters"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
