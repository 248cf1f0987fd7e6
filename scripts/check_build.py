"""Check the built HTML: every chapter page exists and its Colab button opens the
committed ``.ipynb`` on the configured branch of the configured repository.

Run after ``jupyter-book build .``::

    python scripts/check_build.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from sync_book import ROOT, chapters, repository


def colab_url(md: Path) -> str:
    """The Colab address that the chapter's launch button must carry."""
    url, branch = repository()
    owner_repo = url.removeprefix("https://github.com/")
    rel = md.relative_to(ROOT).with_suffix(".ipynb").as_posix()
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/{rel}"


def main() -> int:
    html_dir = ROOT / "_build" / "html"
    problems = []
    for md in chapters():
        page = html_dir / md.relative_to(ROOT).with_suffix(".html")
        if not page.exists():
            problems.append(f"{page} was not built")
            continue
        want = colab_url(md)
        if want not in page.read_text(encoding="utf-8"):
            problems.append(f"{page.name}: no Colab link to {want}")
        elif not md.with_suffix(".ipynb").exists():
            problems.append(f"{md.with_suffix('.ipynb')} is not there for Colab to open")
        else:
            print(f"ok  {page.relative_to(ROOT)} -> {want}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
