"""Generate the graded BN assignment from its master notebook with Otter Assign.

The master, ``assignments/bn_assignment_master.md`` (a Jupytext MyST notebook in Otter's
format), holds the questions, the reference solution and the tests. This writes::

    assignments/bn_assignment.ipynb            the student notebook (stubs that raise
                                                NotImplementedError, visible checks)
    assignments/solutions/bn_assignment.ipynb  the reference solution
    assignments/grading/tests/q*.py             every check, hidden ones included
    assignments/grading/otter_config.json       what ``scripts/grade.py`` grades with

::

    python scripts/make_assignment.py           # regenerate after editing the master
    python scripts/make_assignment.py --check   # exit 1 when a generated file is stale
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ROOT / "assignments"
MASTER = ASSIGNMENTS / "bn_assignment_master.md"
NAME = "bn_assignment"


def _normalized(path: Path) -> str:
    """A generated notebook without outputs, with stable cell ids and metadata."""
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        digest = hashlib.sha1(f"{index}\n{source}".encode()).hexdigest()[:8]
        cell["id"] = f"c{index:02d}-{digest}"
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "otter": notebook.metadata.get("otter", {}),
        "colab": {"provenance": []},
    }
    return nbformat.writes(notebook) + "\n"


def generate(master: Path = MASTER) -> dict[Path, str]:
    """Run Otter Assign on ``master``; returns every generated file's path and text."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        notebook = work / f"{NAME}.ipynb"
        jupytext.write(jupytext.read(master), notebook)
        result = subprocess.run(
            ["otter", "assign", "--no-pdfs", notebook.name, "dist"],
            cwd=work,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"otter assign failed:\n{result.stdout}\n{result.stderr}")
        dist = work / "dist"
        files = {
            ASSIGNMENTS / f"{NAME}.ipynb": _normalized(dist / "student" / f"{NAME}.ipynb"),
            ASSIGNMENTS / "solutions" / f"{NAME}.ipynb": _normalized(
                dist / "autograder" / f"{NAME}.ipynb"
            ),
        }
        (archive,) = (dist / "autograder").glob("*.zip")
        with zipfile.ZipFile(archive) as zf:
            for name in sorted(zf.namelist()):
                if name == "otter_config.json" or name.startswith("tests/"):
                    text = zf.read(name).decode("utf-8").rstrip("\n") + "\n"
                    files[ASSIGNMENTS / "grading" / name] = text
        return files


def problems(files: dict[Path, str]) -> list[str]:
    """Generated files that are missing or differ from ``files``; empty when in sync."""
    found = []
    for path, text in files.items():
        rel = path.relative_to(ROOT)
        if not path.exists():
            found.append(f"{rel} is missing")
        elif path.read_text(encoding="utf-8") != text:
            found.append(f"{rel} differs from {MASTER.relative_to(ROOT)}")
    tests = ASSIGNMENTS / "grading" / "tests"
    for stale in sorted(tests.glob("*.py")) if tests.exists() else []:
        if stale not in files:
            found.append(f"{stale.relative_to(ROOT)} is no longer generated")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report stale files, change nothing")
    args = parser.parse_args(argv)
    if shutil.which("otter") is None:
        print("otter is not installed: pip install -r requirements.txt", file=sys.stderr)
        return 2
    files = generate()
    if args.check:
        found = problems(files)
        for problem in found:
            print(problem, file=sys.stderr)
        return 1 if found else 0
    tests = ASSIGNMENTS / "grading" / "tests"
    if tests.exists():
        shutil.rmtree(tests)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
