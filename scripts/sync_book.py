"""Keep the chapters' Colab notebooks and setup cells in step with their sources.

The MyST-markdown files in ``book/`` are the source of truth. Colab can only open
``.ipynb``, so each chapter has a paired notebook beside it, committed with its
outputs stripped. Run this after editing a chapter or ``_config.yml``'s repository::

    python scripts/sync_book.py           # rewrite setup cells and paired notebooks
    python scripts/sync_book.py --check   # exit 1 and list what is out of step
    python scripts/sync_book.py book/bn_algorithm.md   # one chapter only

It (1) writes ``_config.yml``'s ``repository.url``/``branch`` into every chapter's
setup cell, so a fork only edits the config, (2) regenerates each ``.ipynb`` and (3) the
student version of each, ``book/student/<chapter>.ipynb``: the same notebook with every
exercise solution replaced by an empty cell.
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


def colab_url(notebook: Path, root: Path = ROOT) -> str:
    """The Colab address that opens ``notebook`` (a path relative to ``root``) from GitHub."""
    url, branch = repository(root)
    owner_repo = url.removeprefix("https://github.com/")
    return (
        f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/{notebook.as_posix()}"
    )


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
    return _notebook_text(jupytext.read(md))


def _notebook_text(notebook: nbformat.NotebookNode) -> str:
    for index, cell in enumerate(notebook.cells):
        digest = hashlib.sha1(f"{index}\n{cell.source}".encode()).hexdigest()[:8]
        cell["id"] = f"c{index:02d}-{digest}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    notebook.metadata.setdefault("colab", {"provenance": []})
    return jupytext.writes(notebook, fmt="ipynb")


SOLUTION_START = re.compile(r"^(`{3,}|:{3,})\{solution-start\}")
SOLUTION_END = re.compile(r"^(`{3,}|:{3,})\{solution-end\}")
YOUR_SOLUTION = "# Your solution here."


def student_path(md: Path) -> Path:
    """Where the student version of ``md``'s notebook lives: ``book/student/<name>.ipynb``."""
    return md.parent / "student" / f"{md.stem}.ipynb"


def without_solutions(notebook: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """A copy of ``notebook`` with every ``{solution-start}``...``{solution-end}`` span
    replaced by one empty code cell for the student; returns it and the number removed.

    Exercises stay. A span can begin or end in the middle of a markdown cell (the
    exercise text and the solution's opening often share one): the text outside the span
    is kept.

    Raises:
        ValueError: If a solution is opened and never closed.
    """
    cells: list[nbformat.NotebookNode] = []
    inside = False
    removed = 0
    fence = ""
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            if not inside:
                cells.append(cell)
            continue
        kept: list[str] = []
        lines = cell.source.split("\n")
        i = 0
        while i < len(lines):
            line = lines[i]
            start, end = SOLUTION_START.match(line), SOLUTION_END.match(line)
            if start and not inside:
                inside, fence = True, start.group(1)
            elif end and inside:
                # Skip the directive's closing fence (its body is empty).
                fence = end.group(1)
                i += 1
                while i < len(lines) and lines[i].strip() != fence:
                    i += 1
                inside = False
                removed += 1
                _flush(cells, kept)
                kept = []
                cells.append(nbformat.v4.new_code_cell(YOUR_SOLUTION))
            elif not inside:
                kept.append(line)
            i += 1
        _flush(cells, kept)
    if inside:
        raise ValueError("a {solution-start} has no matching {solution-end}")
    copy = nbformat.from_dict(dict(notebook))
    copy.cells = cells
    return copy, removed


def _flush(cells: list[nbformat.NotebookNode], lines: list[str]) -> None:
    text = "\n".join(lines).strip("\n")
    if text.strip():
        cells.append(nbformat.v4.new_markdown_cell(text))


def student_notebook_text(md: Path) -> str:
    """The student notebook of ``md``: the Colab notebook without the exercise solutions."""
    notebook, _ = without_solutions(jupytext.read(md))
    notebook.metadata["title"] = f"{md.stem} (student version, without solutions)"
    return _notebook_text(notebook)


def generated_files(md: Path) -> dict[Path, str]:
    """Every file generated from ``md``, with the text it must have."""
    return {
        md.with_suffix(".ipynb"): paired_notebook_text(md),
        student_path(md): student_notebook_text(md),
    }


def write_generated(md: Path) -> list[Path]:
    """Write ``md``'s generated notebooks where they are missing or stale; returns those written."""
    written = []
    for path, text in generated_files(md).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def pair_problems(md: Path) -> list[str]:
    """Why ``md``'s generated notebooks are missing or stale; empty when in sync."""
    problems = []
    for path, text in generated_files(md).items():
        name = path.relative_to(md.parent).as_posix()
        if not path.exists():
            problems.append(f"{name} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name} differs from {md.name}")
    return problems


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
        for path in write_generated(md):
            print(f"wrote {path.relative_to(ROOT)}")
        problems += setup_problems(md, url, branch)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
