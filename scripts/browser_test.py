"""Open every page of the built book in headless Chromium and check what a reader sees.

Run after ``jupyter-book build .`` (``scripts/install_browser.sh`` installs Debian's
``chromium`` and ``chromium-driver`` when they are missing)::

    python scripts/browser_test.py                      # the book in _build/html
    python scripts/browser_test.py --html /tmp/b/_build/html

The HTML is served from a local HTTP server on 127.0.0.1. For every page in ``_toc.yml``:

- every image has loaded (``naturalWidth > 0``) and every ``<figure>`` shows one; figure
  images have an opaque background, so they stay readable in the theme's dark mode;
- MathJax has finished and no raw TeX or TeX error is left;
- the browser console has no errors and no request left the local server;
- no traceback, build-machine file path, raw ``np.float64(...)`` repr or TensorFlow log
  line in the page's text (code a reader types is not searched);
- a chapter's Colab button opens the chapter's ``.ipynb``;
- the first exercise solution opens when its title is clicked;
- Chinese text uses the book's CJK web font (so it renders without a system CJK font);
- at 1366x900 and at 390x844 (a phone) the page does not scroll sideways.

Then it opens every chapter's lecture deck (``HTML/slides/<chapter>.html``, written by
``scripts/build_slides.py``) and steps through it with ``Reveal.next()``: every slide's
images load, its math is typeset without errors, it fits the slide's height, the last
step reaches the last slide, and again no console error and no request leaves the server.

It saves screenshots (desktop, phone, dark mode; a deck's first slide and first figure)
under ``_build/screenshots/`` (beside the HTML folder), prints one line per page and deck
and a total, and exits 1 on any problem.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from check_build import colab_url
from sync_book import ROOT, chapters, toc_files

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DESKTOP = (1366, 900)
PHONE = (390, 844)
PAGE_TIMEOUT_S = 30

# What must never appear in the text a reader sees (outputs and prose; code inputs excluded).
FORBIDDEN_TEXT = {
    "a Python traceback": re.compile(
        r"Traceback \(most recent call last\)|\w+(?:Error|Exception)\s+Traceback"
        r"|Cell In\[\d+\], line \d+|File \"[^\"]+\", line \d+"
    ),
    "a file path of the build machine": re.compile(
        r"(?<![\w.:/-])(?:/(?:home|root|tmp|work|usr|opt|var|Users|private)/[\w.+-]+"
        r"|[A-Za-z]:\\(?:Users|Windows)\\)"
        r"|site-packages/"
    ),
    "a raw NumPy scalar repr": re.compile(r"\bnp\.(?:float|int|uint|bool|complex|str)\w*\("),
    "a TensorFlow log line": re.compile(
        r"\b[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w/.-]+:\d+\]"
        r"|\btensorflow/[\w/]+\.cc:\d+\]|WARNING:(?:absl|tensorflow)"
        r"|oneDNN custom operations|Could not find cuda drivers"
    ),
    "a figure printed as text": re.compile(r"<Figure size [\d.]+x[\d.]+ with \d+ Axes>"),
}


@dataclass
class PageResult:
    """What one page's checks found."""

    name: str
    problems: list[str] = field(default_factory=list)
    facts: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# JavaScript run in the page
# --------------------------------------------------------------------------------------

WAIT_READY_JS = """
const done = arguments[arguments.length - 1];
const limit = Date.now() + arguments[0] * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  while (document.readyState !== "complete") {
    if (Date.now() > limit) return done({error: "the page did not finish loading"});
    await sleep(25);
  }
  // Images: lazy ones are made eager, then each must end loaded or broken.
  const images = Array.from(document.images);
  images.forEach((img) => { if (img.loading === "lazy") img.loading = "eager"; });
  await Promise.all(images.map((img) => img.complete ? null : new Promise((r) => {
    img.addEventListener("load", r, {once: true});
    img.addEventListener("error", r, {once: true});
  })));
  // MathJax (only on pages that load it): wait for its first typesetting pass.
  let mathjax = false;
  if (document.querySelector('script[src*="mathjax"]')) {
    mathjax = true;
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
      if (Date.now() > limit) return done({error: "MathJax did not start"});
      await sleep(25);
    }
    try { await MathJax.startup.promise; } catch (e) {
      return done({error: "MathJax failed: " + e});
    }
  }
  await document.fonts.ready;
  // No CSS transitions: a sidebar sliding away must not be half-way in a screenshot.
  const still = document.createElement("style");
  still.textContent = "*, *::before, *::after { transition: none !important; " +
    "animation: none !important; }";
  document.head.appendChild(still);
  done({mathjax: mathjax});
})();
"""

INSPECT_JS = r"""
const article = document.querySelector("main article") || document.querySelector("main")
  || document.body;
const out = {};
// Images and figures.
out.broken = Array.from(document.images)
  .filter((img) => !(img.complete && img.naturalWidth > 0))
  .map((img) => img.getAttribute("src"));
const figures = Array.from(article.querySelectorAll("figure"));
out.figures = figures.length;
out.emptyFigures = figures.filter((f) => !f.querySelector("img, svg, object, video"))
  .map((f) => f.id || "(no id)");
// Figure images with a transparent corner: dark text on them vanishes in dark mode.
const plotImages = Array.from(article.querySelectorAll("figure img, .cell_output img"));
out.images = plotImages.length;
out.transparent = [];
for (const img of plotImages) {
  if (!(img.complete && img.naturalWidth > 0)) continue;
  try {
    const c = document.createElement("canvas");
    c.width = 4; c.height = 4;
    const ctx = c.getContext("2d");
    ctx.drawImage(img, 0, 0, img.naturalWidth, img.naturalHeight, 0, 0, 4, 4);
    if (ctx.getImageData(0, 0, 1, 1).data[3] < 250) out.transparent.push(img.getAttribute("src"));
  } catch (e) { /* cross-origin images cannot be read; none are expected */ }
}
// Table cells that pandas cut short ("fit() passes Tr...").
out.cutCells = Array.from(article.querySelectorAll("table td, table th"))
  .map((td) => td.textContent.trim()).filter((t) => /\S\s*(\.\.\.|…)$/.test(t))
  .map((t) => t.slice(-40));
// Math.
out.equations = document.querySelectorAll("mjx-container").length;
out.rawMath = Array.from(document.querySelectorAll(".math"))
  .filter((el) => !el.querySelector("mjx-container")).map((el) => el.textContent.slice(0, 40));
out.mathErrors = Array.from(document.querySelectorAll("mjx-merror"))
  .map((el) => (el.getAttribute("data-mjx-error") || el.textContent).slice(0, 80));
// Text a reader sees: prose and outputs, without code inputs, scripts or MathJax markup.
const copy = article.cloneNode(true);
copy.querySelectorAll(".cell_input, script, style, mjx-container, .headerlink")
  .forEach((el) => el.remove());
out.text = copy.textContent;
// Colab launch links.
out.colab = Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]'))
  .map((a) => a.href);
// CJK text and the web font meant to draw it.
out.cjk = /[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]/.test(document.body.innerText);
out.cjkFont = Array.from(document.fonts).filter((f) => f.family.replace(/"/g, "") === "Course CJK")
  .map((f) => f.status);
return out;
"""

SOLUTION_JS = """
const solution = document.querySelector(".solution.dropdown");
if (!solution) return null;
const title = solution.querySelector(".admonition-title");
if (!title) return "the first solution has no title to click";
title.scrollIntoView({block: "center"});
title.click();
const body = Array.from(solution.children).find((el) => el !== title);
if (solution.classList.contains("toggle-hidden")) return "the first solution stays closed";
if (!body || body.getBoundingClientRect().height === 0) return "the first solution opens empty";
return "";
"""

OVERFLOW_JS = """
const width = arguments[0];
const doc = document.documentElement;
const scroll = Math.max(doc.scrollWidth, document.body.scrollWidth);
if (scroll <= width) return null;
// Name the outermost elements that stick out and are not inside a scrolling box.
const scrolls = (el) => {
  const s = getComputedStyle(el).overflowX;
  return s === "auto" || s === "scroll" || s === "hidden" || s === "clip";
};
const culprits = [];
const walk = (el) => {
  for (const child of el.children) {
    const r = child.getBoundingClientRect();
    if (r.right > width + 1 && r.width > 0 && getComputedStyle(child).position !== "fixed") {
      const inner = scrolls(child) ? [] : (walk(child) || []);
      if (!inner.length) {
        const cls = (child.className && typeof child.className === "string")
          ? "." + child.className.trim().split(/\\s+/).slice(0, 2).join(".") : "";
        culprits.push(child.tagName.toLowerCase() + (child.id ? "#" + child.id : "") + cls);
      }
    } else if (!scrolls(child)) {
      walk(child);
    }
    if (culprits.length >= 3) break;
  }
  return culprits;
};
walk(document.body);
return {scroll: scroll, culprits: culprits};
"""


# --------------------------------------------------------------------------------------
# Server and browser
# --------------------------------------------------------------------------------------


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves the book's folder without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def serve(html_dir: Path) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``html_dir`` on 127.0.0.1 at an ephemeral port; return the server and base URL."""
    handler = functools.partial(QuietHandler, directory=str(html_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def start_browser():
    """Headless Debian Chromium through the system chromedriver; nothing is downloaded."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never go online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            raise SystemExit(f"{path} is missing: run `bash scripts/install_browser.sh`")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--lang=en-US",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--disable-extensions",
        # Any name but the local server fails to resolve: offline, and still logged.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    options.add_experimental_option(
        "perfLoggingPrefs", {"enableNetwork": True, "enablePage": False}
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_script_timeout(PAGE_TIMEOUT_S + 5)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    return driver


SETTLE_JS = """
const [width, done] = [arguments[0], arguments[arguments.length - 1]];
const limit = Date.now() + 5000;
const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
(async () => {
  while (width && window.innerWidth !== width && Date.now() < limit) await frame();
  await frame();
  await frame();  // two frames: the new layout has been painted
  done(window.innerWidth);
})();
"""


def settle(driver, width: int = 0) -> None:
    """Wait until the page is laid out (at ``width``, if given) and painted."""
    driver.execute_async_script(SETTLE_JS, width)


def set_viewport(driver, size: tuple[int, int], mobile: bool) -> None:
    """Emulate a viewport of ``size`` CSS pixels (a phone with ``mobile``) and wait for it."""
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    if driver.execute_script("return document.readyState") == "complete":
        settle(driver, width)


def requests_sent(driver) -> list[str]:
    """URLs the page requested since the last call (from Chrome's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


# --------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------


def text_problems(text: str) -> list[str]:
    """What in a page's visible text must not be there (see :data:`FORBIDDEN_TEXT`)."""
    problems = []
    for what, pattern in FORBIDDEN_TEXT.items():
        hits = pattern.findall(text)
        if hits:
            first = pattern.search(text)
            snippet = text[max(0, first.start() - 20) : first.end() + 20]
            snippet = " ".join(snippet.split())
            problems.append(f"{len(hits)}x {what} (“…{snippet}…”)")
    return problems


def check_page(driver, base: str, entry: str, shots: Path, chapter_stems: set[str]) -> PageResult:
    """Load ``entry`` (a ``_toc.yml`` file name) and run every check on it."""
    result = PageResult(entry)
    problems = result.problems
    slug = entry.replace("/", "-")
    url = f"{base}{entry}.html"

    driver.get_log("browser")  # drop what earlier pages left
    requests_sent(driver)
    set_viewport(driver, DESKTOP, mobile=False)
    driver.get(url)
    state = driver.execute_async_script(WAIT_READY_JS, PAGE_TIMEOUT_S)
    if state.get("error"):
        problems.append(state["error"])
    info = driver.execute_script(INSPECT_JS)

    # Images, figures, math.
    for src in info["broken"]:
        problems.append(f"image did not load: {src}")
    for fig in info["emptyFigures"]:
        problems.append(f"figure {fig} has no image")
    for src in info["transparent"]:
        problems.append(
            f"figure image has a transparent background (unreadable in dark mode): {src}"
        )
    if info["rawMath"]:
        problems.append(
            f"{len(info['rawMath'])} equations not typeset, e.g. {info['rawMath'][0]!r}"
        )
    for err in info["mathErrors"]:
        problems.append(f"TeX error: {err}")
    if info["cutCells"]:
        problems.append(
            f"{len(info['cutCells'])} table cells cut short, e.g. {info['cutCells'][0]!r}"
        )
    problems += text_problems(info["text"])
    result.facts = {"figures": info["figures"], "equations": info["equations"]}

    # Colab button of a chapter.
    stem = entry.rsplit("/", 1)[-1]
    if stem in chapter_stems:
        want = colab_url(ROOT / f"{entry}.md")
        if want not in info["colab"]:
            problems.append(f"Colab link is {info['colab'] or 'missing'}, want {want}")

    # CJK web font.
    if info["cjk"] and "loaded" not in info["cjkFont"]:
        problems.append(f"Chinese text without the book's CJK font (font status {info['cjkFont']})")

    # Sideways scrolling, desktop first.
    overflow = driver.execute_script(OVERFLOW_JS, DESKTOP[0])
    if overflow:
        problems.append(
            f"scrolls sideways at {DESKTOP[0]} px: {overflow['scroll']} px wide "
            f"({', '.join(overflow['culprits']) or 'cause not found'})"
        )
    driver.save_screenshot(str(shots / f"{slug}-desktop.png"))

    # Dark mode, scrolled to the first figure.
    driver.execute_script(
        "document.documentElement.dataset.theme = 'dark';"
        "document.documentElement.dataset.mode = 'dark';"
        "const f = document.querySelector('main figure');"
        "if (f) f.scrollIntoView({block: 'center'}); else window.scrollTo(0, 0);"
    )
    settle(driver)
    driver.save_screenshot(str(shots / f"{slug}-dark.png"))
    driver.execute_script(
        "document.documentElement.dataset.theme = 'light';"
        "document.documentElement.dataset.mode = 'light'; window.scrollTo(0, 0);"
    )

    # Phone.
    set_viewport(driver, PHONE, mobile=True)
    overflow = driver.execute_script(OVERFLOW_JS, PHONE[0])
    if overflow:
        problems.append(
            f"scrolls sideways at {PHONE[0]} px: {overflow['scroll']} px wide "
            f"({', '.join(overflow['culprits']) or 'cause not found'})"
        )
    driver.save_screenshot(str(shots / f"{slug}-phone.png"))
    set_viewport(driver, DESKTOP, mobile=False)

    # The first exercise solution opens.
    toggle = driver.execute_script(SOLUTION_JS)
    if toggle:
        problems.append(toggle)
    result.facts["solution"] = int(toggle is not None)

    # Console errors and requests, collected last so that the clicks above count too.
    for entry_log in driver.get_log("browser"):
        if entry_log["level"] == "SEVERE":
            problems.append(f"console error: {entry_log['message'][:200]}")
    outside = sorted(
        {
            u
            for u in requests_sent(driver)
            if not u.startswith((base, "data:", "blob:", "about:", "chrome:"))
        }
    )
    for u in outside:
        problems.append(f"request left the local server: {u[:120]}")
    return result


DECK_READY_JS = """
const done = arguments[arguments.length - 1];
const limit = Date.now() + arguments[0] * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  while (!(window.Reveal && Reveal.isReady && Reveal.isReady())) {
    if (Date.now() > limit) return done({error: "reveal.js did not start"});
    await sleep(25);
  }
  if (document.querySelector(".math")) {
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
      if (Date.now() > limit) return done({error: "MathJax did not start"});
      await sleep(25);
    }
    try { await MathJax.startup.promise; } catch (e) {
      return done({error: "MathJax failed: " + e});
    }
  }
  await document.fonts.ready;
  Reveal.configure({transition: "none", backgroundTransition: "none"});
  Reveal.slide(0);
  done({total: Reveal.getTotalSlides()});
})();
"""

SLIDE_JS = r"""
const slide = Reveal.getCurrentSlide();
const images = Array.from(slide.querySelectorAll("img"));
return {
  index: Reveal.getIndices().h,
  last: Reveal.isLastSlide(),
  title: (slide.querySelector("h1, h2") || {textContent: ""}).textContent.trim().slice(0, 50),
  broken: images.filter((img) => !(img.complete && img.naturalWidth > 0))
    .map((img) => img.getAttribute("src")),
  images: images.length,
  rawMath: Array.from(slide.querySelectorAll(".math"))
    .filter((el) => !el.querySelector("mjx-container")).map((el) => el.textContent.slice(0, 40)),
  mathErrors: Array.from(slide.querySelectorAll("mjx-merror, [data-mjx-error]"))
    .map((el) => (el.getAttribute("data-mjx-error") || el.textContent).slice(0, 80)),
  equations: slide.querySelectorAll("mjx-container").length,
  height: slide.scrollHeight,
  maxHeight: Reveal.getConfig().height,
  notes: Boolean(slide.querySelector("aside.notes")),
};
"""


def check_deck(driver, base: str, name: str, shots: Path) -> PageResult:
    """Open the deck ``slides/<name>.html`` and step through every slide."""
    result = PageResult(f"slides/{name}")
    problems = result.problems
    driver.get_log("browser")
    requests_sent(driver)
    set_viewport(driver, DESKTOP, mobile=False)
    driver.get(f"{base}slides/{name}.html")
    state = driver.execute_async_script(DECK_READY_JS, PAGE_TIMEOUT_S)
    if state.get("error"):
        problems.append(state["error"])
        return result
    total = state["total"]
    seen, figures, equations, notes, figure_shot = 0, 0, 0, 0, False
    for step in range(total):
        settle(driver)
        info = driver.execute_script(SLIDE_JS)
        where = f"slide {info['index'] + 1} ({info['title']!r})"
        if info["index"] != step:
            problems.append(f"Reveal.next() reached slide {info['index'] + 1}, want {step + 1}")
            break
        seen += 1
        figures += info["images"]
        equations += info["equations"]
        notes += info["notes"]
        problems += [f"{where}: image did not load: {src}" for src in info["broken"]]
        problems += [f"{where}: TeX error: {err}" for err in info["mathErrors"]]
        if info["rawMath"]:
            problems.append(f"{where}: equation not typeset: {info['rawMath'][0]!r}")
        if info["height"] > info["maxHeight"] + 2:
            problems.append(
                f"{where}: {info['height']} px tall, taller than the {info['maxHeight']} px slide"
            )
        if step == 0:
            driver.save_screenshot(str(shots / f"slides-{name}-title.png"))
        elif info["images"] and not figure_shot:
            driver.save_screenshot(str(shots / f"slides-{name}-figure.png"))
            figure_shot = True
        if step < total - 1:
            driver.execute_script("Reveal.next()")
        elif not info["last"]:
            problems.append(f"after {total} steps Reveal is not on the last slide")
    result.facts = {"slides": seen, "figures": figures, "equations": equations, "notes": notes}
    for entry_log in driver.get_log("browser"):
        if entry_log["level"] == "SEVERE":
            problems.append(f"console error: {entry_log['message'][:200]}")
    outside = sorted(
        {
            u
            for u in requests_sent(driver)
            if not u.startswith((base, "data:", "blob:", "about:", "chrome:"))
        }
    )
    problems += [f"request left the local server: {u[:120]}" for u in outside]
    return result


def deck_names() -> list[str]:
    """The chapters in ``_toc.yml`` that have a deck source, ``slides/<chapter>.md``."""
    stems = {md.stem for md in chapters()}
    names = [entry.rsplit("/", 1)[-1] for entry in toc_files()]
    return [n for n in names if n in stems and (ROOT / "slides" / f"{n}.md").exists()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--html", type=Path, default=ROOT / "_build" / "html", help="built HTML folder"
    )
    parser.add_argument(
        "--screenshots", type=Path, help="where to save screenshots (default: HTML/../screenshots)"
    )
    parser.add_argument(
        "--decks",
        nargs="*",
        help="only these chapters' lecture decks (default: every deck; none when pages are named)",
    )
    parser.add_argument("pages", nargs="*", help="only these _toc.yml entries (book/intro ...)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    html_dir = args.html.resolve()
    if not (html_dir / "index.html").exists():
        parser.error(f"{html_dir} has no index.html: build the book first")
    shots = (args.screenshots or html_dir.parent / "screenshots").resolve()
    shots.mkdir(parents=True, exist_ok=True)
    pages = args.pages or toc_files()
    chapter_stems = {md.stem for md in chapters()}
    decks = args.decks if args.decks is not None else ([] if args.pages else deck_names())

    server, base = serve(html_dir)
    driver = start_browser()
    total = 0
    try:
        for entry in pages:
            page_start = time.perf_counter()
            if not (html_dir / f"{entry}.html").exists():
                print(f"FAIL {entry}: page was not built")
                total += 1
                continue
            try:
                result = check_page(driver, base, entry, shots, chapter_stems)
            except Exception as exc:  # a crash on one page must not hide the others
                result = PageResult(entry, [f"check crashed: {type(exc).__name__}: {exc}"])
            seconds = time.perf_counter() - page_start
            facts = ", ".join(f"{v} {k}" for k, v in result.facts.items() if k != "solution")
            if result.facts.get("solution"):
                facts += ", solution opens"
            if result.problems:
                total += len(result.problems)
                print(f"FAIL {entry} ({seconds:.1f} s): " + "; ".join(result.problems))
            else:
                print(f"OK   {entry} ({facts}; {seconds:.1f} s)")
        for name in decks:
            deck_start = time.perf_counter()
            if not (html_dir / "slides" / f"{name}.html").exists():
                print(f"FAIL slides/{name}: deck was not built (python scripts/build_slides.py)")
                total += 1
                continue
            try:
                result = check_deck(driver, base, name, shots)
            except Exception as exc:  # a crash on one deck must not hide the others
                crash = f"check crashed: {type(exc).__name__}: {exc}"
                result = PageResult(f"slides/{name}", [crash])
            seconds = time.perf_counter() - deck_start
            facts = ", ".join(f"{v} {k}" for k, v in result.facts.items())
            if result.problems:
                total += len(result.problems)
                print(f"FAIL {result.name} ({seconds:.1f} s): " + "; ".join(result.problems))
            else:
                print(f"OK   {result.name} ({facts}; {seconds:.1f} s)")
    finally:
        driver.quit()
        server.shutdown()
    seconds = time.perf_counter() - start
    print(
        f"{len(pages)} pages, {len(decks)} decks, {total} problems, {seconds:.1f} s "
        f"(screenshots in {shots})"
    )
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
