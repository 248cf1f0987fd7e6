"""Cut the book's CJK web font: only the Chinese characters that ``book/*.md`` uses.

The glossary and some chapters give Chinese names; a reader without a CJK system font
would see empty boxes. This script subsets Noto Sans CJK SC (SIL Open Font License 1.1,
Debian package ``fonts-noto-cjk``) with fontTools to those characters and writes

- ``book/_static/fonts/course-cjk-subset.woff`` (zlib-compressed WOFF, a few KB),
- ``book/_static/fonts/OFL.txt`` (the font's copyright notice and licence).

``book/_static/course.css`` loads it with ``@font-face`` for CJK code points only.
Run it after adding Chinese text (a test fails until you do)::

    apt-get install fonts-noto-cjk   # once
    python scripts/make_cjk_font.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SOURCE_LICENSE = Path("/usr/share/doc/fonts-noto-cjk/copyright")
SOURCE_FAMILY = "Noto Sans CJK SC"
FONT_DIR = ROOT / "book" / "_static" / "fonts"
SUBSET = FONT_DIR / "course-cjk-subset.woff"
LICENSE = FONT_DIR / "OFL.txt"
#: The family name the CSS uses. A subset is a "Modified Version" under the OFL, so it
#: gets its own name rather than the original's.
FAMILY = "Course CJK"
FIX = "python scripts/make_cjk_font.py"

#: Unicode blocks drawn by the CJK font (the same ranges as the CSS ``unicode-range``).
CJK_RANGES = (
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3400, 0x4DBF),  # CJK unified ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # half- and full-width forms
)


def is_cjk(char: str) -> bool:
    """True when ``char`` lies in one of :data:`CJK_RANGES`."""
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in CJK_RANGES)


def book_cjk_characters(root: Path = ROOT) -> set[str]:
    """Every CJK character in the book's MyST sources (``book/*.md``)."""
    found: set[str] = set()
    for md in sorted((root / "book").glob("*.md")):
        found |= {ch for ch in md.read_text(encoding="utf-8") if is_cjk(ch)}
    return found


def font_characters(path: Path = SUBSET) -> set[str]:
    """The characters a font file maps to glyphs."""
    from fontTools.ttLib import TTFont

    with TTFont(path) as font:
        return {chr(code) for code in font.getBestCmap()}


def _license_text() -> str:
    """The OFL text from Debian's copyright file, with the font's copyright notice."""
    text = SOURCE_LICENSE.read_text(encoding="utf-8")
    start = text.index("License: SIL-1.1\n", text.index("Files: debian/*"))
    body = text[start:].split("\n", 1)[1]
    lines = []
    for line in body.splitlines():
        if not line.startswith(" "):  # the next license paragraph starts
            break
        lines.append("" if line == " ." else line[1:])
    return (
        f"{SUBSET.name}: a subset of {SOURCE_FAMILY} (Noto CJK, "
        "https://github.com/notofonts/noto-cjk), renamed "
        f'"{FAMILY}", cut by scripts/make_cjk_font.py to the characters the book uses.\n\n'
        "Copyright 2014-2021 Adobe (http://www.adobe.com/), with Reserved Font Name "
        "'Source'.\n\n" + "\n".join(lines).strip() + "\n"
    )


def make_subset(characters: set[str], out: Path = SUBSET) -> None:
    """Write a WOFF font with ``characters`` of :data:`SOURCE_FAMILY`, renamed :data:`FAMILY`."""
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    collection = TTCollection(SOURCE_FONT)
    fonts = [f for f in collection.fonts if f["name"].getDebugName(1) == SOURCE_FAMILY]
    if not fonts:
        raise SystemExit(f"{SOURCE_FONT} has no font named {SOURCE_FAMILY!r}")
    font = fonts[0]
    options = subset.Options()
    options.flavor = "woff"  # zlib: no brotli needed
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # keep copyright and licence fields
    options.hinting = False
    options.desubroutinize = True  # smaller after compression
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(characters)))
    subsetter.subset(font)
    new_names = {1: FAMILY, 3: f"{FAMILY} subset", 4: FAMILY, 6: "CourseCJK-Regular", 16: FAMILY}
    names = font["name"]
    for record in list(names.names):
        if record.nameID in new_names:
            ids = (record.platformID, record.platEncID, record.langID)
            names.setName(new_names[record.nameID], record.nameID, *ids)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = ["CourseCJK-Regular"]
        top = cff.topDictIndex[0]
        for key in ("FullName", "FamilyName"):
            if hasattr(top, key):
                setattr(top, key, FAMILY)
    font.recalcTimestamp = False  # same characters, same bytes
    out.parent.mkdir(parents=True, exist_ok=True)
    subset.save_font(font, str(out), options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the shipped subset")
    args = parser.parse_args(argv)
    wanted = book_cjk_characters()
    if args.check:
        missing = wanted - font_characters() if SUBSET.exists() else wanted
        if missing:
            print(f"{SUBSET.name} lacks {''.join(sorted(missing))}: run `{FIX}`", file=sys.stderr)
            return 1
        print(f"{SUBSET.name} covers all {len(wanted)} CJK characters of book/*.md")
        return 0
    if not SOURCE_FONT.exists():
        raise SystemExit(f"{SOURCE_FONT} is missing: apt-get install fonts-noto-cjk")
    make_subset(wanted)
    LICENSE.write_text(_license_text(), encoding="utf-8")
    print(
        f"wrote {SUBSET.relative_to(ROOT)} ({SUBSET.stat().st_size / 1024:.1f} KB, "
        f"{len(wanted)} characters) and {LICENSE.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
