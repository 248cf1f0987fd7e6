"""Execute the chapters' committed Colab notebooks (``book/*.ipynb``), each in a fresh kernel.

The kernel runs on the Python that runs this script, so a virtual environment's Python
checks the chapters against that environment's packages (``scripts/floor_check.sh`` uses
it for the floor stack)::

    .venv-floor/bin/python scripts/run_notebooks.py                    # every chapter
    .venv-floor/bin/python scripts/run_notebooks.py book/bn_algorithm.ipynb

It prints one line per chapter with its seconds (``--jobs 2`` runs two at a time). A cell
tagged ``raises-exception`` may fail on purpose; any other error prints the failing cell and
the error, and the script exits 1 after trying the remaining chapters. Nothing is written
back to the notebooks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_book import ROOT, chapters  # noqa: E402  (one definition of "a chapter")

KERNEL_NAME = "course-this-python"
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def notebooks(root: Path = ROOT) -> list[Path]:
    """The paired notebook of every chapter, in the order of :func:`sync_book.chapters`."""
    return [md.with_suffix(".ipynb") for md in chapters(root)]


def install_kernelspec(folder: Path) -> None:
    """Register a kernel that runs on ``sys.executable``, whatever else is installed.

    A user-wide ``python3`` kernelspec may point at another Python; this one, found first
    through ``JUPYTER_PATH``, cannot.
    """
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python (this environment)", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(folder), *filter(None, [os.environ.get("JUPYTER_PATH")])]
    )


def run_notebook(path: Path, timeout: int, log: Path) -> tuple[float, str | None]:
    """Execute ``path`` in a fresh kernel, in its own folder.

    The kernel process's own output (TensorFlow's start-up log) goes to ``log``; the end
    of it is part of the error when the kernel dies.

    Returns:
        ``(seconds, error)``: ``error`` is None on success, else the failing cell and its
        error as text.
    """
    start = time.perf_counter()
    try:
        client = NotebookClient(
            nbformat.read(path, as_version=4),
            timeout=timeout,
            kernel_name=KERNEL_NAME,
            resources={"metadata": {"path": str(path.parent)}},
        )
        with log.open("w", encoding="utf-8") as kernel_output:
            client.execute(stdout=kernel_output, stderr=kernel_output)
    except (CellExecutionError, CellTimeoutError) as error:
        return time.perf_counter() - start, ANSI_COLOUR.sub("", str(error))
    except DeadKernelError as error:
        tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-30:])
        return time.perf_counter() - start, f"{error}\nthe kernel's last output:\n{tail}"
    except Exception as error:  # a kernel that does not start, an unreadable notebook, ...
        return time.perf_counter() - start, f"{type(error).__name__}: {error}"
    return time.perf_counter() - start, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "only", nargs="*", type=Path, help="notebooks to run (default: every chapter's)"
    )
    parser.add_argument(
        "--timeout", type=int, default=900, help="seconds one cell may take (default 900)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="notebooks run at the same time (default 1)"
    )
    args = parser.parse_args(argv)
    selected = [p.resolve() for p in args.only] or notebooks()
    missing = [p for p in selected if not p.exists()]
    if missing:
        parser.error(f"no such notebook: {', '.join(map(str, missing))}")
    if not selected:
        print("no chapter notebooks found in book/", file=sys.stderr)
        return 1
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")

    failures = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as folder:
        install_kernelspec(Path(folder))
        logs = [Path(folder) / f"kernel-{i}.log" for i in range(len(selected))]
        # Separate processes: each notebook has its own client and kernel.
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            runs = {
                pool.submit(run_notebook, path, args.timeout, log): path
                for path, log in zip(selected, logs, strict=True)
            }
            for run in as_completed(runs):
                path = runs[run]
                seconds, error = run.result()
                name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                status = "ok" if error is None else "FAILED"
                print(f"{seconds:7.1f} s  {status:6s}  {name}", flush=True)
                if error is not None:
                    failures.append((name, error))
    passed = len(selected) - len(failures)
    wall = time.perf_counter() - start
    print(
        f"{wall:7.1f} s  in all ({args.jobs} at a time), {passed}/{len(selected)} notebooks passed"
    )
    for name, error in failures:
        print(f"\n===== {name} failed =====\n{error}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
