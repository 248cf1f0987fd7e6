"""The book's citation style (``scripts/sphinx_author_year.py``) and bibliography wiring."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from pybtex.database import parse_string
from pybtex.richtext import Text
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.basic_author_year import (
    BasicAuthorYearParentheticalReferenceStyle,
    BasicAuthorYearTextualReferenceStyle,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import sphinx_author_year as say  # noqa: E402

BIB = r"""
@inproceedings{he2016deep, author = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun,
  Jian}, title = {Deep Residual Learning for Image Recognition}, year = {2016}}
@inproceedings{he2016identity, author = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and
  Sun, Jian}, title = {Identity Mappings in Deep Residual Networks}, year = {2016}}
@inproceedings{wu2018group, author = {Wu, Yuxin and He, Kaiming}, title = {Group
  Normalization}, year = {2018}}
@inproceedings{ioffe2017batch, author = {Ioffe, Sergey}, title = {Batch Renormalization},
  year = {2017}}
@inproceedings{rabanser2019failing, author = {Rabanser, Stephan and G{\"u}nnemann, Stephan},
  title = {Failing Loudly}, year = {2019}}
"""


@pytest.fixture(scope="module")
def labels() -> dict[str, str]:
    entries = list(parse_string(BIB, "bibtex").entries.values())
    style = say.AuthorYearPlainStyle()
    ordered = list(style.sort(entries))
    return {e.key: label for e, label in zip(ordered, style.format_labels(ordered), strict=True)}


def test_same_authors_same_year_get_suffixes_in_title_order(labels) -> None:
    assert labels["he2016deep"] == "He et al., 2016a"  # "Deep ..." sorts before "Identity ..."
    assert labels["he2016identity"] == "He et al., 2016b"


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("wu2018group", "Wu and He, 2018"),
        ("ioffe2017batch", "Ioffe, 2017"),
        ("rabanser2019failing", "Rabanser and Günnemann, 2019"),  # LaTeX accent resolved
    ],
)
def test_unique_works_get_no_suffix(labels, key: str, label: str) -> None:
    assert labels[key] == label


class _Formatted:
    def __init__(self, label: str) -> None:
        self.label = label


@pytest.mark.parametrize(
    ("label", "year"), [("He et al., 2016b", "2016b"), ("Ioffe, 2017", "2017")]
)
def test_the_cited_year_is_the_labels_year(label: str, year: str) -> None:
    assert say.labelled_year.format_data({"formatted_entry": _Formatted(label)}) == Text(year)


def test_reference_style_replaces_every_year_role() -> None:
    style = say.AuthorYearSuffixReferenceStyle()
    for role in ("p", "t", "ps", "ts", "ct", "year", "yearpar"):
        replaced = style.role_style[role]
        assert type(replaced).__module__ == say.__name__, role
    # The replacements keep the configured brackets and separators.
    assert isinstance(style.role_style["p"], BasicAuthorYearParentheticalReferenceStyle)
    assert isinstance(style.role_style["t"], BasicAuthorYearTextualReferenceStyle)
    assert style.role_style["p"].bracket == BracketStyle()


def test_config_selects_the_styles() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    sphinx = config["sphinx"]
    assert sphinx["local_extensions"]["sphinx_author_year"] == "scripts"
    assert sphinx["config"]["bibtex_default_style"] == "author_year_plain"
    assert sphinx["config"]["bibtex_reference_style"] == "author_year_suffix"


def test_bibliography_lists_cited_works_only() -> None:
    page = (ROOT / "book" / "bibliography.md").read_text(encoding="utf-8")
    directive = re.search(r"```\{bibliography\}\n(.*?)```", page, re.S)
    assert directive is not None
    assert ":all:" not in directive.group(1) and ":notcited:" not in directive.group(1)


def test_reference_keys_are_unique() -> None:
    text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,\s]+),", text, re.M)
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
