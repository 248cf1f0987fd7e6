"""Point a fork of the course at its own repository, in one command.

::

    python scripts/retarget.py https://github.com/OWNER/REPO [--branch BRANCH]

It rewrites ``_config.yml``'s ``repository.url``/``branch``, every chapter's Colab setup
cell and paired ``.ipynb`` (through ``sync_book``), and every other mention of the old
address in the repository's text files (README, CONTRIBUTING, workflows, ...): the
GitHub address, the GitHub Pages address and Colab links. It prints what it changed.
A malformed URL or branch name is rejected before any file is touched.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import sync_book

#: Folders that hold no source of the course (build output, environments, caches).
SKIP_DIRS = {".git", "_build", ".venv", ".venv-floor", "venv", "node_modules", "__pycache__"}
#: Files read as text; everything else (images, fonts) is left alone.
TEXT_SUFFIXES = {
    ".md",
    ".ipynb",
    ".py",
    ".yml",
    ".yaml",
    ".toml",
    ".txt",
    ".cfg",
    ".sh",
    ".html",
    ".bib",
    ".json",
    ".css",
    ".js",
}
TEXT_NAMES = {"run", "LICENSE", ".gitignore"}

_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
_REPO = r"[A-Za-z0-9._-]{1,100}"
GITHUB_URL = re.compile(
    rf"^https://github\.com/(?P<owner>{_OWNER})/(?P<repo>{_REPO}?)(?:\.git)?/?$"
)


@dataclass(frozen=True)
class Target:
    """A GitHub repository and the branch the course is published from."""

    owner: str
    repo: str
    branch: str

    @property
    def url(self) -> str:
        return f"https://github.com/{self.owner}/{self.repo}"

    @property
    def pages(self) -> str:
        """The GitHub Pages address of a project site."""
        return f"https://{self.owner.lower()}.github.io/{self.repo}"


def parse_url(url: str) -> tuple[str, str]:
    """``https://github.com/OWNER/REPO`` -> ``(OWNER, REPO)``.

    Raises:
        ValueError: If ``url`` is not the https address of a GitHub repository.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}: {url!r}")
    match = GITHUB_URL.match(url.strip())
    if match is None or match["repo"] in {".", ".."}:
        raise ValueError(
            f"url must look like https://github.com/OWNER/REPO, got {url!r} "
            "(OWNER: letters, digits and single hyphens; REPO: letters, digits, '.', '_', '-')"
        )
    return match["owner"], match["repo"]


def check_branch(branch: str) -> str:
    """Return ``branch`` if git would accept it as a branch name, else raise ValueError."""
    bad = (
        not branch
        or branch.startswith(("-", "/"))
        or branch.endswith(("/", ".", ".lock"))
        or ".." in branch
        or "//" in branch
        or "@{" in branch
        or branch == "@"
        or re.search(r"[\x00-\x20\x7f~^:?*\[\\]", branch) is not None
    )
    if bad:
        raise ValueError(f"branch is not a valid git branch name: {branch!r}")
    return branch


def current_target(root: Path) -> Target:
    """The repository and branch that ``root``'s ``_config.yml`` names now."""
    url, branch = sync_book.repository(root)
    owner, repo = parse_url(url)
    return Target(owner, repo, branch)


def text_files(root: Path) -> list[Path]:
    """The course's text files under ``root``, skipping build output and environments."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES):
            found.append(path)
    return found


def replacements(old: Target, new: Target) -> list[tuple[re.Pattern[str], str]]:
    """Patterns for every form of the old address, most specific first."""
    owner, repo = re.escape(old.owner), re.escape(old.repo)
    pairs = [
        # Colab links name the branch: .../github/OWNER/REPO/blob/BRANCH/...
        (
            rf"colab\.research\.google\.com/github/{owner}/{repo}/blob/{re.escape(old.branch)}/",
            f"colab.research.google.com/github/{new.owner}/{new.repo}/blob/{new.branch}/",
        ),
        (rf"colab\.research\.google\.com/github/{owner}/{repo}/", None),
        (rf"https://github\.com/{owner}/{repo}(?![A-Za-z0-9._-])", new.url),
        (rf"https://{re.escape(old.owner.lower())}\.github\.io/{repo}", new.pages),
        (rf"github\.com/{owner}/{repo}(?![A-Za-z0-9._-])", f"github.com/{new.owner}/{new.repo}"),
    ]
    out = []
    for pattern, repl in pairs:
        if repl is None:
            repl = f"colab.research.google.com/github/{new.owner}/{new.repo}/"
        out.append((re.compile(pattern, re.IGNORECASE), repl))
    return out


def retarget(root: Path, url: str, branch: str | None = None) -> dict[str, int]:
    """Point the course in ``root`` at ``url`` (and ``branch``); returns changes per file.

    Raises:
        ValueError: If ``url`` or ``branch`` is malformed; no file is changed then.
    """
    owner, repo = parse_url(url)
    old = current_target(root)
    new = Target(owner, repo, check_branch(branch) if branch is not None else old.branch)
    changed: dict[str, int] = {}

    config = root / "_config.yml"
    text = config.read_text(encoding="utf-8")
    new_text, n_url = re.subn(r"(?m)^(\s+url:\s*)\S+\s*$", rf"\g<1>{new.url}", text, count=1)
    new_text, n_branch = re.subn(
        r"(?m)^(\s+branch:\s*)\S+\s*$", rf"\g<1>{new.branch}", new_text, count=1
    )
    if new_text != text:
        config.write_text(new_text, encoding="utf-8")
        changed["_config.yml"] = n_url + n_branch

    patterns = replacements(old, new)
    for path in text_files(root):
        if path == config:
            continue
        original = path.read_text(encoding="utf-8", errors="surrogateescape")
        text, total = original, 0
        for pattern, repl in patterns:
            text, n = pattern.subn(repl, text)
            total += n
        if new.branch != old.branch and path.parent.name == "workflows":
            # The publish workflow deploys from the course branch.
            text, n = re.subn(
                rf"(branches:\s*\[\s*){re.escape(old.branch)}(\s*\])", rf"\g<1>{new.branch}\2", text
            )
            total += n
        if text != original:
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
            changed[path.relative_to(root).as_posix()] = total

    # Setup cells carry the branch too; sync_book rewrites them and the paired notebooks.
    for md in sync_book.chapters(root):
        if sync_book.rewrite_setup(md, new.url, new.branch):
            key = md.relative_to(root).as_posix()
            changed[key] = changed.get(key, 0) + 1
        for path in sync_book.write_generated(md):
            key = path.relative_to(root).as_posix()
            changed[key] = changed.get(key, 0) + 1
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the fork's address, https://github.com/OWNER/REPO")
    parser.add_argument("--branch", help="the branch to publish from (default: keep the current)")
    args = parser.parse_args(argv)
    try:
        old = current_target(sync_book.ROOT)
        changed = retarget(sync_book.ROOT, args.url, args.branch)
    except ValueError as error:
        print(f"retarget: {error}; nothing was changed", file=sys.stderr)
        return 2
    new = current_target(sync_book.ROOT)
    print(f"retargeted {old.url} ({old.branch}) -> {new.url} ({new.branch})")
    for name, count in sorted(changed.items()):
        print(f"  {name}: {count} change(s)")
    if not changed:
        print("  nothing to change")
    print(f"site: {new.pages}/  (after the publish workflow runs on {new.branch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
