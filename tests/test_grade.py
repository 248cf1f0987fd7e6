"""The graded assignment: generated files in sync, and the grader's verdicts.

Submissions are the reference solution, the untouched student notebook, the solution with
one classic BN bug each, one that loops forever and one that kills its interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import grade  # noqa: E402
import make_assignment  # noqa: E402

SOLUTION = ROOT / "assignments" / "solutions" / "bn_assignment.ipynb"
STUDENT = ROOT / "assignments" / "bn_assignment.ipynb"
PARTS = ["q1", "q2", "q3", "q4"]

# Each classic bug, written into the reference solution, and the one part it must cost.
BUGS = {
    "unbiased variance in training": (
        "q1",
        "    var = x.var(axis=0)\n    x_hat",
        "    var = x.var(axis=0, ddof=1)\n    x_hat",
    ),
    "epsilon outside the square root": (
        "q1",
        "x_hat = (x - mean) / np.sqrt(var + eps)",
        "x_hat = (x - mean) / (np.sqrt(var) + eps)",
    ),
    "momentum convention reversed": (
        "q3",
        "self.moving_mean = m * self.moving_mean + (1 - m) * mean\n"
        "            self.moving_var = m * self.moving_var + (1 - m) * var",
        "self.moving_mean = (1 - m) * self.moving_mean + m * mean\n"
        "            self.moving_var = (1 - m) * self.moving_var + m * var",
    ),
    "moving statistics updated at inference": (
        "q3",
        "        if training:\n"
        "            mean, var = x.mean(axis=0), x.var(axis=0)\n"
        "            m = self.momentum\n"
        "            self.moving_mean = m * self.moving_mean + (1 - m) * mean\n"
        "            self.moving_var = m * self.moving_var + (1 - m) * var\n"
        "        else:\n",
        "        mean, var = x.mean(axis=0), x.var(axis=0)\n"
        "        m = self.momentum\n"
        "        self.moving_mean = m * self.moving_mean + (1 - m) * mean\n"
        "        self.moving_var = m * self.moving_var + (1 - m) * var\n"
        "        if not training:\n",
    ),
}


def _with_bug(old: str, new: str, folder: Path, name: str) -> Path:
    notebook = nbformat.read(SOLUTION, as_version=4)
    hits = [cell for cell in notebook.cells if old in cell.source]
    assert len(hits) == 1, f"the bug's target must occur once in the solution: {old!r}"
    hits[0].source = hits[0].source.replace(old, new)
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def _with_extra_cell(code: str, folder: Path, name: str) -> Path:
    notebook = nbformat.read(SOLUTION, as_version=4)
    notebook.cells.insert(3, nbformat.v4.new_code_cell(code))
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory) -> dict[str, tuple[dict[str, float], str | None]]:
    """Every submission graded once, two at a time (the machine has two cores)."""
    folder = tmp_path_factory.mktemp("submissions")
    jobs = {"reference": (SOLUTION, 120.0), "blank": (STUDENT, 120.0)}
    for bug, (_, old, new) in BUGS.items():
        jobs[bug] = (_with_bug(old, new, folder, bug.replace(" ", "_")), 120.0)
    jobs["endless loop"] = (_with_extra_cell("while True:\n    pass", folder, "loop"), 10.0)
    jobs["crash"] = (_with_extra_cell("import os\nos._exit(3)", folder, "crash"), 120.0)

    def run(item):
        name, (path, timeout) = item
        parts, stopped = grade.grade(path, timeout=timeout)
        return name, ({p.name: p.score for p in parts}, stopped)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, jobs.items()))


def test_generated_assignment_files_are_in_sync() -> None:
    assert make_assignment.problems(make_assignment.generate()) == [], (
        "run `python scripts/make_assignment.py`"
    )


def test_student_notebook_has_stubs_and_no_solution() -> None:
    code = "\n".join(
        c.source for c in nbformat.read(STUDENT, as_version=4).cells if c.cell_type == "code"
    )
    assert code.count("raise NotImplementedError") == 6
    assert "np.sqrt(var + eps)" not in code and "# HIDDEN" not in code
    assert "test_forward_matches_the_reference" not in code


def test_reference_solution_scores_full_marks(verdicts) -> None:
    scores, stopped = verdicts["reference"]
    assert stopped is None and scores == {part: 4.0 for part in PARTS}


def test_untouched_student_notebook_scores_zero(verdicts) -> None:
    scores, stopped = verdicts["blank"]
    assert stopped is None and scores == {part: 0.0 for part in PARTS}


@pytest.mark.parametrize("bug", list(BUGS))
def test_a_classic_bug_loses_exactly_its_part(verdicts, bug: str) -> None:
    scores, stopped = verdicts[bug]
    lost = BUGS[bug][0]
    assert stopped is None
    assert scores == {part: 0.0 if part == lost else 4.0 for part in PARTS}


def test_an_endless_loop_is_stopped_and_scored(verdicts) -> None:
    scores, stopped = verdicts["endless loop"]
    assert stopped is not None and "stopped after 10 s" in stopped
    assert scores == {part: 0.0 for part in PARTS}


def test_a_crashing_submission_is_scored(verdicts) -> None:
    scores, stopped = verdicts["crash"]
    assert stopped is not None and "crashed" in stopped
    assert scores == {part: 0.0 for part in PARTS}


def test_the_command_prints_feedback_and_the_score_last(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "grade.py"), str(STUDENT)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "score: 0/16"
    assert "NotImplementedError: Part 1: write batchnorm_forward" in result.stdout


@pytest.mark.parametrize(
    ("name", "error"), [("missing.ipynb", FileNotFoundError), ("notes.txt", ValueError)]
)
def test_bad_submissions_get_a_clear_error(tmp_path: Path, name: str, error) -> None:
    path = tmp_path / name
    if name.endswith(".txt"):
        path.write_text("not a notebook", encoding="utf-8")
    with pytest.raises(error, match=name):
        grade.grade(path)
