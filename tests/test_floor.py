"""The floor stack: pyproject.toml's floors, constraints/floor.txt and requirements.txt agree.

``constraints/floor.txt`` holds the oldest versions the course supports (Colab's 2025
stack); ``scripts/floor_check.sh`` runs the tests and chapters on exactly those.
``pyproject.toml`` must declare the same numbers as ``>=`` floors, and every pin in
``requirements.txt`` must be at or above its floor.
"""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
FLOOR_FILE = ROOT / "constraints" / "floor.txt"

#: What Google Colab shipped in 2025 (Python 3.12): no floor may be a newer release series.
COLAB_2025 = {
    "tensorflow": "2.19",
    "keras": "3.10",
    "numpy": "2.0.2",
    "scipy": "1.15",
    "scikit-learn": "1.6",
    "matplotlib": "3.10",
    "pandas": "2.2",
}


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text("utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def _exact_pins(path: Path) -> dict[str, Version]:
    """``name==version`` lines of a requirements-style file, by canonical name."""
    pins = {}
    for line in _requirement_lines(path):
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one specifier ...
        assert spec.operator == "==", f"{path.name}: {line!r} is not an exact '==' pin"
        pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def floors() -> dict[str, Version]:
    """constraints/floor.txt as ``{canonical name: version}``."""
    return _exact_pins(FLOOR_FILE)


def declared_floors() -> dict[str, Version]:
    """pyproject.toml's ``[project].dependencies`` as ``{canonical name: floor}``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    declared = {}
    for line in project["dependencies"]:
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == ">=", (
            f"pyproject.toml: {line!r} must be a plain '>=' floor (no upper bound: the "
            "package must install beside whatever newer TensorFlow a reader has)"
        )
        declared[canonicalize_name(req.name)] = Version(specs[0].version)
    return declared


def test_floor_file_pins_every_package_exactly() -> None:
    assert len(floors()) >= 8  # _exact_pins asserts the '==' form line by line


def test_pyproject_declares_exactly_the_floor_file() -> None:
    assert declared_floors() == floors(), (
        "pyproject.toml's dependencies and constraints/floor.txt disagree: change both"
    )


def test_requirements_pins_are_at_or_above_the_floors() -> None:
    pins = _exact_pins(ROOT / "requirements.txt")
    for name, floor in floors().items():
        assert name in pins, f"requirements.txt pins no {name} (floor {floor})"
        assert pins[name] >= floor, f"requirements.txt pins {name}=={pins[name]} < floor {floor}"


@pytest.mark.parametrize(("name", "colab"), sorted(COLAB_2025.items()))
def test_floors_are_no_newer_than_colab(name: str, colab: str) -> None:
    floor = floors()[canonicalize_name(name)]
    width = len(Version(colab).release)
    assert floor.release[:width] <= Version(colab).release, (
        f"floor {name}=={floor} is newer than Colab's {colab}: a Colab reader's install "
        "would upgrade it"
    )


@pytest.mark.parametrize("name", sorted(floors()))
def test_installed_stack_is_at_or_above_the_floor(name: str) -> None:
    try:
        installed = Version(version(name))
    except PackageNotFoundError:
        pytest.skip(f"{name} is not installed here")
    assert installed >= floors()[name], f"{name} {installed} is older than its floor"


def test_floor_check_installs_test_tools_that_requirements_pin() -> None:
    script = (ROOT / "scripts" / "floor_check.sh").read_text("utf-8")
    match = re.search(r'^TOOLS="([^"]+)"', script, re.MULTILINE)
    assert match, "scripts/floor_check.sh defines no TOOLS list"
    pins = _exact_pins(ROOT / "requirements.txt")
    tools = {canonicalize_name(tool) for tool in shlex.split(match[1])}
    assert tools <= set(pins), f"not pinned in requirements.txt: {tools - set(pins)}"
    # Colab has no MyST-NB: the floor run checks that the chapters do without it.
    assert "myst-nb" not in tools


def test_run_notebooks_reports_a_failing_cell_and_allows_a_deliberate_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import nbformat

    sys.path.insert(0, str(ROOT / "scripts"))
    import run_notebooks

    deliberate = nbformat.v4.new_code_cell("1 / 0", metadata={"tags": ["raises-exception"]})
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[deliberate]), good)
    failing = nbformat.v4.new_code_cell("x = 1\nassert x == 2, 'x is not two'")
    nbformat.write(nbformat.v4.new_notebook(cells=[deliberate, failing]), bad)

    assert run_notebooks.main([str(good)]) == 0
    assert run_notebooks.main([str(good), str(bad), "--jobs", "2"]) == 1
    out, err = capsys.readouterr()
    assert "ok      " in out and "FAILED  " in out and "1/2 notebooks passed" in out
    assert "assert x == 2" in err and "AssertionError: x is not two" in err
    assert "\x1b[" not in err  # no terminal colour codes in the log


def test_run_notebooks_runs_every_chapter_notebook() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import run_notebooks
    import sync_book

    want = [md.with_suffix(".ipynb") for md in sync_book.chapters()]
    assert run_notebooks.notebooks() == want and len(want) >= 5
