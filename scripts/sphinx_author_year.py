"""Sphinx extension: author-year citations that tell same-author, same-year works apart.

sphinxcontrib-bibtex's ``author_year`` referencing style prints the ``year`` field as it
is, so two works by the same authors in the same year both read "He et al., 2016". This
extension registers two plugins that give them year suffixes, "2016a" and "2016b", as
author-year bibliographies do:

- the pybtex formatting style ``author_year_plain``: pybtex's ``plain`` style, whose
  labels are "Authors, Year" with a suffix letter when two cited works share authors and
  year (suffixes follow the bibliography's order: authors, year, title);
- the referencing style ``author_year_suffix``: sphinxcontrib-bibtex's ``author_year``,
  whose year is read from that label, so the text and the bibliography agree.

``_config.yml`` selects them with ``bibtex_default_style: author_year_plain`` and
``bibtex_reference_style: author_year_suffix``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pybtex.plugin
from pybtex.database import Entry, Person
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx
from sphinxcontrib.bibtex.plugin import register_plugin
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
from sphinxcontrib.bibtex.style.referencing.basic_author_year import (
    BasicAuthorYearParentheticalReferenceStyle,
    BasicAuthorYearTextualReferenceStyle,
)
from sphinxcontrib.bibtex.style.referencing.extra_year import ExtraYearReferenceStyle
from sphinxcontrib.bibtex.style.template import (
    join,
    join2,
    node,
    post_text,
    pre_text,
    reference,
)

#: Between the authors and the year in a label: "He et al., 2016a".
LABEL_SEPARATOR = ", "


def _last_name(person: Person) -> str:
    """A person's last name as plain text (LaTeX accents and braces resolved)."""
    return Text.from_latex(" ".join(person.last_names)).render_as("text")


def author_label(entry: Entry) -> str:
    """The authors as the text cites them: "Ioffe", "Ioffe and Szegedy", "He et al."."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(person) for person in persons]
    if not names:
        return Text.from_latex(entry.fields.get("title", entry.key)).render_as("text")
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} et al."


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Authors, Year", with "a", "b", ... when authors and year coincide."""

    def format_label(self, entry: Entry) -> str:
        return f"{author_label(entry)}{LABEL_SEPARATOR}{entry.fields.get('year', 'n.d.')}"

    def format_labels(self, sorted_entries: Iterable[Entry]) -> Iterator[str]:
        labels = [self.format_label(entry) for entry in sorted_entries]
        total, seen = Counter(labels), Counter()
        for label in labels:
            if total[label] == 1:
                yield label
            else:
                yield label + chr(ord("a") + seen[label])
                seen[label] += 1


class AuthorYearPlainStyle(PlainStyle):
    """pybtex's ``plain`` formatting (sorted by author, year, title) with author-year labels."""

    default_label_style = AuthorYearLabelStyle


@node
def labelled_year(children, data) -> Text:
    """The year with its suffix, taken from the entry's label ("2016a")."""
    assert not children
    return Text(data["formatted_entry"].label.rpartition(LABEL_SEPARATOR)[2])


@dataclass
class _Parenthetical(BasicAuthorYearParentheticalReferenceStyle):
    def inner(self, role_name: str):
        return join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
            pre_text,
            reference[
                join(sep=self.author_year_sep)[
                    self.person.author_or_editor_or_title(full="s" in role_name),
                    labelled_year,
                ]
            ],
            post_text,
        ]


@dataclass
class _Textual(BasicAuthorYearTextualReferenceStyle):
    def inner(self, role_name: str):
        return join(sep=self.text_reference_sep)[
            self.person.author_or_editor_or_title(full="s" in role_name),
            join[
                self.bracket.left,
                join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
                    pre_text, reference[labelled_year], post_text
                ],
                self.bracket.right,
            ],
        ]


@dataclass
class _Year(ExtraYearReferenceStyle):
    def inner(self, role_name: str):
        return reference[labelled_year]


_REPLACEMENTS = {
    BasicAuthorYearParentheticalReferenceStyle: _Parenthetical,
    BasicAuthorYearTextualReferenceStyle: _Textual,
    ExtraYearReferenceStyle: _Year,
}


@dataclass
class AuthorYearSuffixReferenceStyle(AuthorYearReferenceStyle):
    """sphinxcontrib-bibtex's ``author_year`` style, with the year read from the label."""

    def __post_init__(self):
        super().__post_init__()
        self.styles[:] = [
            _REPLACEMENTS[type(style)](**vars(style)) if type(style) in _REPLACEMENTS else style
            for style in self.styles
        ]
        self.role_style.update(
            (role_name, style) for style in self.styles for role_name in style.role_names()
        )


def setup(app: Sphinx) -> dict[str, bool]:
    pybtex.plugin.register_plugin(
        "pybtex.style.formatting", "author_year_plain", AuthorYearPlainStyle, force=True
    )
    register_plugin(
        "sphinxcontrib.bibtex.style.referencing",
        "author_year_suffix",
        AuthorYearSuffixReferenceStyle,
        force=True,
    )
    return {"parallel_read_safe": True, "parallel_write_safe": True}
