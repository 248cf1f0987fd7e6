"""The GitHub Actions workflows: linted by actionlint, and doing what the README says."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = shutil.which("actionlint")
needs_actionlint = pytest.mark.skipif(
    ACTIONLINT is None, reason="actionlint is installed by requirements.txt"
)


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(python3 -m venv[^\n]+)\n```", readme)


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def test_requirements_install_actionlint() -> None:
    assert ACTIONLINT is not None, "pip install -r requirements.txt provides actionlint"


@needs_actionlint
def test_actionlint_is_clean() -> None:
    result = subprocess.run(
        [ACTIONLINT, "-no-color"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_actionlint
def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.nonexistent_context_key }}\n"
        "      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [ACTIONLINT, "-no-color", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "no-such-input" in result.stdout


def test_readme_has_the_two_commands() -> None:
    build, test = _readme_commands()
    assert build.endswith("jupyter-book build . -W -n --keep-going")
    assert test.endswith("&& pytest")


def test_ci_workflow_runs_the_readme_test_command_and_the_strict_build() -> None:
    _, test_command = _readme_commands()
    text = (WORKFLOWS / "ci.yml").read_text(encoding="utf-8")
    assert test_command in text
    assert "jupyter-book build . -W -n --keep-going" in text
    triggers = _load("ci.yml")[True]  # YAML 1.1 reads the key `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    steps = _load("ci.yml")["jobs"]["test"]["steps"]
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["cache"] == "pip"
    cached = [s for s in steps if s.get("uses", "").startswith("actions/cache")]
    assert cached and cached[0]["with"]["path"] == "_build/.jupyter_cache"


def test_pages_workflow_deploys_the_built_html_from_the_course_branch() -> None:
    workflow = _load("pages.yml")
    with open(ROOT / "_config.yml", encoding="utf-8") as f:
        branch = yaml.safe_load(f)["repository"]["branch"]
    assert workflow[True]["push"]["branches"] == [branch]
    assert workflow["permissions"]["pages"] == "write"
    assert workflow["permissions"]["id-token"] == "write"
    build = workflow["jobs"]["build"]["steps"]
    upload = next(s for s in build if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert any("jupyter-book build . -W -n --keep-going" in s.get("run", "") for s in build)
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")
