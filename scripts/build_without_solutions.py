"""Build the book with every exercise solution left out (for instructors' handouts).

Same pages and figures as the normal build, written to ``_build/no-solutions/_build/html``::

    python scripts/build_without_solutions.py

It copies ``_config.yml``, adds the small extension in ``sphinx_no_solutions.py`` that
removes the solutions, and builds with that copy; the normal configuration is not touched.
"""

from __future__ import annotations

import subprocess
import sys

import yaml
from sync_book import ROOT


def main() -> int:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    sphinx = config.setdefault("sphinx", {})
    extensions = sphinx.setdefault("local_extensions", {})
    # The copied config lives in another folder: make the extensions' folders absolute.
    for name, folder in extensions.items():
        extensions[name] = str((ROOT / folder).resolve())
    extensions["sphinx_no_solutions"] = str(ROOT / "scripts")
    config["title"] = f"{config['title']} (exercises without solutions)"
    out = ROOT / "_build" / "no-solutions"
    out.mkdir(parents=True, exist_ok=True)
    variant = out / "_config.yml"
    variant.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "utf-8")
    command = [
        "jupyter-book",
        "build",
        str(ROOT),
        "--config",
        str(variant),
        "--path-output",
        str(out),
        *sys.argv[1:],
    ]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
