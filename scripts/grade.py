"""Grade a submission of the BN assignment, hidden checks included.

::

    python scripts/grade.py SUBMISSION.ipynb [--timeout 60] [--json results.json]

It runs Otter-Grader's local grader (``otter run``, no Docker) on the submission, with the
checks in ``assignments/grading/`` (written by ``make_assignment.py``). Otter executes the
submission from the top in a fresh process, then runs every visible and hidden check. This
script adds what a class needs around it: the whole grading runs in its own process group
with a time limit, so a submission that loops forever or kills its interpreter is stopped
and scored 0 with a message instead of hanging the grader. It prints the feedback of each
part and, last, ``score: X/Y``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRADING = ROOT / "assignments" / "grading"


@dataclass(frozen=True)
class Part:
    """One graded part: its name, points earned, points possible and feedback text."""

    name: str
    score: float
    possible: float
    feedback: str


def possible_points(grading: Path = GRADING) -> dict[str, float]:
    """Each part's points, read from the check files (``points = 4``)."""
    points = {}
    for test in sorted((grading / "tests").glob("*.py")):
        for line in test.read_text(encoding="utf-8").splitlines():
            if line.startswith("points = "):
                points[test.stem] = float(line.removeprefix("points = "))
    if not points:
        raise FileNotFoundError(
            f"no checks in {grading / 'tests'}: run python scripts/make_assignment.py"
        )
    return points


def _autograder_zip(grading: Path, folder: Path) -> Path:
    archive = folder / "autograder.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(grading / "otter_config.json", "otter_config.json")
        for test in sorted((grading / "tests").glob("*.py")):
            zf.write(test, f"tests/{test.name}")
    return archive


def _run(command: list[str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    """Run ``command`` in its own process group; ``(None, output)`` when it timed out."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        return process.returncode, output
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the submission and anything it started
        output, _ = process.communicate()
        return None, output


def grade(
    submission: Path, *, timeout: float = 60.0, grading: Path = GRADING
) -> tuple[list[Part], str | None]:
    """Grade ``submission``; returns the parts and a message when grading was cut short.

    Raises:
        FileNotFoundError: If the submission or the checks are missing.
        ValueError: If ``submission`` is not an ``.ipynb`` file or ``timeout`` is not positive.
    """
    submission = Path(submission)
    if not submission.is_file():
        raise FileNotFoundError(f"submission not found: {submission}")
    if submission.suffix != ".ipynb":
        raise ValueError(f"submission must be an .ipynb notebook, got {submission.name!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
    points = possible_points(grading)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        archive = _autograder_zip(grading, folder)
        out = folder / "out"
        out.mkdir()
        env_python = str(Path(sys.executable))
        command = [env_python, "-m", "otter", "run", "--no-logo", "-a", str(archive)]
        command += ["-o", str(out), str(submission.resolve())]
        code, output = _run(command, cwd=folder, timeout=timeout)
        results = out / "results.json"
        if code is None:
            why = f"grading stopped after {timeout:g} s: the notebook never finished (a loop?)"
        elif not results.exists():
            tail = "\n".join(output.strip().splitlines()[-5:])
            why = f"the notebook crashed the grader (exit status {code}); last lines:\n{tail}"
        else:
            return _parts(json.loads(results.read_text(encoding="utf-8")), points), None
    parts = [Part(name, 0.0, possible, why) for name, possible in points.items()]
    return parts, why


def _parts(results: dict, points: dict[str, float]) -> list[Part]:
    by_name = {test["name"]: test for test in results.get("tests", [])}
    parts = []
    for name, possible in points.items():
        test = by_name.get(name)
        if test is None:
            parts.append(Part(name, 0.0, possible, "not graded: no result for this part"))
            continue
        score = float(test.get("score") or 0.0)
        parts.append(Part(name, score, possible, test.get("output", "").strip()))
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", type=Path, help="the student's .ipynb")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--json", type=Path, help="also write the scores here as JSON")
    args = parser.parse_args(argv)
    try:
        parts, stopped = grade(args.submission, timeout=args.timeout)
    except (FileNotFoundError, ValueError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    if stopped:
        print(stopped)
    for part in parts:
        mark = "ok  " if part.score == part.possible else "FAIL"
        print(f"{mark} {part.name}: {part.score:g}/{part.possible:g}")
        if part.score < part.possible and not stopped:
            print("\n".join(f"       {line}" for line in part.feedback.splitlines()))
    earned = sum(p.score for p in parts)
    possible = sum(p.possible for p in parts)
    if args.json:
        payload = {p.name: {"score": p.score, "possible": p.possible} for p in parts}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"score: {earned:g}/{possible:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
