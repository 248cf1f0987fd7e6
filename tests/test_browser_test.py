"""scripts/browser_test.py on two tiny hand-made pages: it passes a clean page and names
every problem planted in a broken one. Skipped where Chromium or Selenium is missing
(``bash scripts/install_browser.sh``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

pytest.importorskip("selenium")
import browser_test  # noqa: E402

if not (browser_test.CHROMIUM.exists() and browser_test.CHROMEDRIVER.exists()):
    pytest.skip("Debian's chromium/chromedriver are not installed", allow_module_level=True)

OPAQUE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="60" height="40">'
    '<rect width="60" height="40" fill="white"/><circle cx="30" cy="20" r="9"/></svg>'
)
TRANSPARENT_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="60" height="40">'
    '<circle cx="30" cy="20" r="9"/></svg>'
)
HEAD = '<!DOCTYPE html><html><head><meta charset="utf-8">{}</head><body><main><article>'
TAIL = "</article></main></body></html>"

GOOD = (
    HEAD.format('<meta name="viewport" content="width=device-width, initial-scale=1">')
    + "<h1>A clean page</h1><p>The mean is 0.887.</p>"
    + '<figure id="fig-a"><img src="opaque.svg" alt="plot"><figcaption>A plot.</figcaption>'
    + "</figure>"
    + '<div class="solution dropdown"><p class="admonition-title">Solution</p>'
    + "<section><p>The answer.</p></section></div>"
    + '<div class="cell_input"><pre>x = np.float64(1.0)  # code a reader types</pre></div>'
    + TAIL
)
BAD = (
    HEAD.format("<script>const A = 1;</script><script>const A = 2;</script>")
    + '<figure id="fig-text"><pre>&lt;Figure size 600x400 with 1 Axes&gt;</pre></figure>'
    + '<figure id="fig-gone"><img src="gone.png" alt="missing"></figure>'
    + '<figure id="fig-clear"><img src="transparent.svg" alt="clear"></figure>'
    + '<img src="http://example.com/pixel.png" alt="remote">'
    + '<p>accuracy np.float64(0.91)</p><span class="math">\\(x^2\\)</span>'
    + '<pre>Traceback (most recent call last):\n  File "/home/ci/x.py", line 1</pre>'
    + '<div class="solution dropdown"><p class="admonition-title">Solution</p></div>'
    + '<div style="width: 1600px">too wide</div>'
    + "<table><tr><td>fit() passes Tr...</td><td>...</td></tr></table>"
    + TAIL
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("site")
    (root / "opaque.svg").write_text(OPAQUE_SVG, encoding="utf-8")
    (root / "transparent.svg").write_text(TRANSPARENT_SVG, encoding="utf-8")
    (root / "good.html").write_text(GOOD, encoding="utf-8")
    (root / "bad.html").write_text(BAD, encoding="utf-8")
    (root / "favicon.ico").write_bytes(b"\0")
    server, base = browser_test.serve(root)
    driver = browser_test.start_browser()
    yield driver, base, tmp_path_factory.mktemp("shots")
    driver.quit()
    server.shutdown()


def test_clean_page_passes(site) -> None:
    driver, base, shots = site
    result = browser_test.check_page(driver, base, "good", shots, chapter_stems=set())
    assert result.problems == []
    assert result.facts == {"figures": 1, "equations": 0, "solution": 1}
    assert {p.name for p in shots.iterdir()} >= {
        "good-desktop.png",
        "good-phone.png",
        "good-dark.png",
    }


def test_broken_page_names_every_problem(site) -> None:
    driver, base, shots = site
    problems = browser_test.check_page(driver, base, "bad", shots, chapter_stems=set()).problems
    report = "\n".join(problems)
    for expected in [
        "image did not load: gone.png",
        "image did not load: http://example.com/pixel.png",
        "figure fig-text has no image",
        "transparent background (unreadable in dark mode): transparent.svg",
        "1 equations not typeset",
        "a Python traceback",
        "a file path of the build machine",
        "a raw NumPy scalar repr",
        "a figure printed as text",
        "scrolls sideways at 1366 px",
        "scrolls sideways at 390 px",
        "the first solution opens empty",
        "1 table cells cut short, e.g. 'fit() passes Tr...'",
        "Identifier 'A' has already been declared",
        "request left the local server: http://example.com/pixel.png",
    ]:
        assert expected in report, f"{expected!r} not in:\n{report}"
