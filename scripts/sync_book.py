"""Keep the chapters' Colab notebooks and setup cells in step with their sources.

The MyST-markdown files in ``book/`` are the source of truth. Colab can only open
``.ipynb``, so each chapter has a paired notebook beside it, committed with its
outputs stripped. Run this after editing a chapter or ``_config.yml``'s repository::

    python scripts/sync_book.py           # rewrite setup cells and paired notebooks
    python scripts/sync_book.py --check   # exit 1 and list what is out of step
    python scripts/sync_book.py book/bn_algorithm.md   # one chapter only

It (1) writes ``_config.yml``'s ``repository.url``/``branch`` into every chapter's
setup cell, so a fork only edits the config, and (2) regenerates each ``.ipynb``.
The tests call the same functions, so they fail when a pair drifts.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
SETUP_URL = re.compile(r'^COURSE_REPOSITORY = "(?P<value>[^"]*)"', re.MULTILINE)
SETUP_BRANCH = re.compile(r'^COURSE_BRANCH = "(?P<value>[^"]*)"', re.MULTILINE)


def repository(root: Path = ROOT) -> tuple[str, str]:
    """The ``(url, branch)`` that ``_config.yml`` names for the course repository."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def toc_files(root: Path = ROOT) -> list[str]:
    """Every file named in ``_toc.yml`` (without suffix), in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    found = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return found


def is_notebook(md: Path) -> bool:
    """True for a Jupytext notebook (front matter with a kernelspec), false for a plain page."""
    text = md.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return False
    header = text.split("\n---", 1)[0]
    return "kernelspec:" in header


def chapters(root: Path = ROOT) -> list[Path]:
    """The notebook chapters in ``book/`` (MyST-markdown files with a kernelspec)."""
    return sorted(p for p in (root / "book").glob("*.md") if is_notebook(p))


def setup_cell(md: Path) -> nbformat.NotebookNode:
    """The chapter's first code cell (its setup cell)."""
    for cell in jupytext.read(md).cells:
        if cell.cell_type == "code":
            return cell
    raise ValueError(f"{md} has no code cell")


def setup_problems(md: Path, url: str, branch: str) -> list[str]:
    """What is wrong with a chapter's setup cell; an empty list when it is right."""
    cell = setup_cell(md)
    source = cell.source
    problems = []
    for pattern, want, name in (
        (SETUP_URL, url, "COURSE_REPOSITORY"),
        (SETUP_BRANCH, branch, "COURSE_BRANCH"),
    ):
        match = pattern.search(source)
        if match is None:
            problems.append(f"{md.name}: setup cell does not set {name}")
        elif match["value"] != want:
            problems.append(f"{md.name}: {name} is {match['value']!r}, _config.yml says {want!r}")
    if "google.colab" not in source:
        problems.append(f"{md.name}: setup cell does not check for Colab")
    if "seed_everything(" not in source:
        problems.append(f"{md.name}: setup cell does not fix the seeds")
    if "configure_display(" not in source:
        problems.append(f"{md.name}: setup cell does not call companion.configure_display()")
    if "remove-cell" not in cell.metadata.get("tags", []):
        problems.append(f"{md.name}: setup cell is not tagged remove-cell")
    return problems


def rewrite_setup(md: Path, url: str, branch: str) -> bool:
    """Write ``url``/``branch`` into the chapter's setup cell; True if the file changed."""
    text = md.read_text(encoding="utf-8")
    new = SETUP_URL.sub(f'COURSE_REPOSITORY = "{url}"', text, count=1)
    new = SETUP_BRANCH.sub(f'COURSE_BRANCH = "{branch}"', new, count=1)
    if new != text:
        md.write_text(new, encoding="utf-8")
    return new != text


def paired_notebook_text(md: Path) -> str:
    """The ``.ipynb`` text that belongs beside ``md``: same cells, no outputs, stable ids."""
    notebook = jupytext.read(md)
    for index, cell in enumerate(notebook.cells):
        digest = hashlib.sha1(f"{index}\n{cell.source}".encode()).hexdigest()[:8]
        cell["id"] = f"c{index:02d}-{digest}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    notebook.metadata.setdefault("colab", {"provenance": []})
    return jupytext.writes(notebook, fmt="ipynb")


def pair_problems(md: Path) -> list[str]:
    """Why ``md``'s paired notebook is missing or stale; empty when in sync."""
    ipynb = md.with_suffix(".ipynb")
    if not ipynb.exists():
        return [f"{ipynb.name} is missing"]
    if ipynb.read_text(encoding="utf-8") != paired_notebook_text(md):
        return [f"{ipynb.name} differs from {md.name}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report problems, change nothing")
    parser.add_argument(
        "only", nargs="*", type=Path, help="chapter .md files to sync (default: every chapter)"
    )
    args = parser.parse_args(argv)
    url, branch = repository()
    problems: list[str] = []
    selected = chapters()
    if args.only:
        wanted = {p.resolve() for p in args.only}
        unknown = wanted - {md.resolve() for md in selected}
        if unknown:
            parser.error(f"not a chapter: {', '.join(sorted(map(str, unknown)))}")
        selected = [md for md in selected if md.resolve() in wanted]
    for md in selected:
        if args.check:
            problems += setup_problems(md, url, branch) + pair_problems(md)
            continue
        if rewrite_setup(md, url, branch):
            print(f"updated setup cell of {md.relative_to(ROOT)}")
        text = paired_notebook_text(md)
        ipynb = md.with_suffix(".ipynb")
        if not ipynb.exists() or ipynb.read_text(encoding="utf-8") != text:
            ipynb.write_text(text, encoding="utf-8")
            print(f"wrote {ipynb.relative_to(ROOT)}")
        problems += setup_problems(md, url, branch)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
