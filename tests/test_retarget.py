"""``scripts/retarget.py``: a fork points the whole course at itself in one command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import retarget  # noqa: E402
import sync_book  # noqa: E402

FORK = "https://github.com/Teach-Lab/bn-lectures-2027"


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    """The repository's files (tracked and new, not ignored) copied to a temporary folder."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    copy = tmp_path / "course"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return copy


def _run(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(copy / "scripts" / "retarget.py"), *args],
        cwd=copy,
        capture_output=True,
        text=True,
    )


def _mentions(copy: Path, needle: str) -> list[str]:
    return [
        path.relative_to(copy).as_posix()
        for path in retarget.text_files(copy)
        if needle.lower() in path.read_text(encoding="utf-8", errors="replace").lower()
    ]


def test_retarget_leaves_no_trace_of_the_old_address(course_copy: Path) -> None:
    old = retarget.current_target(course_copy)
    result = _run(course_copy, FORK, "--branch", "lectures")
    assert result.returncode == 0, result.stderr
    assert "_config.yml" in result.stdout
    assert _mentions(course_copy, f"{old.owner}/{old.repo}") == []
    assert _mentions(course_copy, f"{old.owner}.github.io") == []
    new = retarget.current_target(course_copy)
    assert (new.url, new.branch) == (FORK, "lectures")
    for md in sync_book.chapters(course_copy):
        assert sync_book.setup_problems(md, FORK, "lectures") == []
        assert sync_book.pair_problems(md) == []
    pages = (course_copy / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8")
    assert "branches: [lectures]" in pages
    assert "https://teach-lab.github.io/bn-lectures-2027" in (course_copy / "README.md").read_text(
        encoding="utf-8"
    )


def test_the_book_checks_pass_in_a_retargeted_copy(course_copy: Path) -> None:
    assert _run(course_copy, FORK).returncode == 0
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_book.py"],
        cwd=course_copy,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]


def test_retarget_twice_is_idempotent(course_copy: Path) -> None:
    assert _run(course_copy, FORK).returncode == 0
    again = _run(course_copy, FORK)
    assert again.returncode == 0
    assert "nothing to change" in again.stdout


@pytest.mark.parametrize(
    "url",
    [
        "github.com/owner/repo",
        "http://github.com/owner/repo",
        "https://gitlab.com/owner/repo",
        "https://github.com/owner",
        "https://github.com/-owner/repo",
        "https://github.com/owner/repo/tree/main",
        "https://github.com/own er/repo",
    ],
)
def test_a_bad_url_is_rejected_and_nothing_changes(course_copy: Path, url: str) -> None:
    before = {p: p.read_bytes() for p in retarget.text_files(course_copy)}
    result = _run(course_copy, url)
    assert result.returncode == 2
    assert repr(url) in result.stderr and "nothing was changed" in result.stderr
    assert {p: p.read_bytes() for p in retarget.text_files(course_copy)} == before


@pytest.mark.parametrize("branch", ["", "a..b", "-x", "has space", "end/", "x.lock", "a~1"])
def test_a_bad_branch_is_rejected(course_copy: Path, branch: str) -> None:
    config = (course_copy / "_config.yml").read_bytes()
    result = _run(course_copy, FORK, "--branch", branch)
    assert result.returncode == 2
    assert "branch" in result.stderr
    assert (course_copy / "_config.yml").read_bytes() == config


@pytest.mark.parametrize(
    ("url", "owner_repo"),
    [
        ("https://github.com/a/b", ("a", "b")),
        ("https://github.com/Some-Org/repo.name_2.git", ("Some-Org", "repo.name_2")),
        ("https://github.com/o/r/", ("o", "r")),
    ],
)
def test_parse_url_accepts_github_repositories(url: str, owner_repo: tuple[str, str]) -> None:
    assert retarget.parse_url(url) == owner_repo
