"""Names and titles as readers type and file them: pure text functions, no Django.

- fold(): case- and accent-folded words ("Araña" and "arana", "Spider-Man" and "spider man").
- sort_key(): the stored key names are listed by (reading order, punctuation ignored).
- name_tokens(): the stored search tokens of a name; query_terms() / Query: what a search
  looks up. Every search is equality on tokens, which an index serves on both backends.
- parse_comic_title(): "Avengers (1963) #1" -> series, year, issue number.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Token kinds, told apart by a leading mark: a name's exact folded form, its prefixes, and
# the prefixes of its words (plain).
EXACT = "="
NAME_PREFIX = "^"
# Word prefixes also run across one word boundary, so "spiderman" finds "Spider-Man".
JOINED_WORDS = 2
SORT_KEY_MAX = 200


def fold(text: str) -> list[str]:
    """The words of `text`: accents dropped, case folded, anything not a letter or a digit a
    separator."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return "".join(ch if ch.isalnum() else " " for ch in plain).split()


def sort_key(name: str) -> str:
    """The key a name is listed by: its folded words, one space apart ("pug" before "Queen
    Noir", "'Mad' Jim Jaspers" under M)."""
    return " ".join(fold(name))[:SORT_KEY_MAX]


def _prefixes(word: str, start: int = 1) -> list[str]:
    return [word[:end] for end in range(start, len(word) + 1)]


def name_tokens(name: str) -> list[str]:
    """The tokens a name is found by, sorted and distinct:
    "=spidermanpeterparker", "^s", "^sp", ... and "s", "sp", ..., "spiderm", "spiderman", "m",
    ..."""
    words = fold(name)
    compact = "".join(words)
    tokens = {EXACT + compact} if compact else set()
    tokens.update(NAME_PREFIX + prefix for prefix in _prefixes(compact))
    for i, word in enumerate(words):
        tokens.update(_prefixes(word))
        joined = "".join(words[i : i + JOINED_WORDS])
        tokens.update(_prefixes(joined, len(word) + 1))
    return sorted(tokens)


@dataclass(frozen=True)
class Query:
    """What a search looks up, tier by tier (a character is ranked in the first tier it is in):
    its exact folded name, a name starting with it, then every term a word prefix."""

    terms: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        return cls(tuple(dict.fromkeys(fold(text))))

    def __bool__(self) -> bool:
        return bool(self.terms)

    @property
    def exact(self) -> str:
        return EXACT + "".join(self.terms)

    @property
    def name_prefix(self) -> str:
        return NAME_PREFIX + "".join(self.terms)

    def rank(self, name: str) -> int:
        """The tier a name is in (0 exact, 1 name prefix, 2 word prefixes), 3 if no match."""
        tokens = set(name_tokens(name))
        if self.exact in tokens:
            return 0
        if self.name_prefix in tokens:
            return 1
        return 2 if tokens.issuperset(self.terms) else 3


TITLE = re.compile(
    r"""^(?P<series>.*?)
        (?:\s*\((?P<year>\d{4})(?:\s*-\s*(?:\d{4})?)?\))?   # (1963) or (1998 - 2004)
        (?:\s*\#(?P<issue>[0-9][0-9.]*[A-Za-z]?|[A-Za-z0-9.\-]+))?  # #1, #1.5, #-1
        (?P<rest>\s*(?:\(.*\))?)$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class ComicTitle:
    series: str
    year: int | None
    issue: str


def parse_comic_title(title: str) -> ComicTitle:
    """Marvel's comic title split into series, its year and the issue number:
    "Avengers (1963) #1" -> ("Avengers", 1963, "1"); "Thor: God of Thunder (2012) #5 (Ribic
    Variant)" -> ("Thor: God of Thunder", 2012, "5"). A title without a year or issue keeps
    it all as the series."""
    title = " ".join(title.split())
    match = TITLE.match(title)
    if not match or not (match["year"] or match["issue"]) or not match["series"].strip():
        return ComicTitle(title, None, "")
    year = int(match["year"]) if match["year"] else None
    return ComicTitle(match["series"].strip(), year, match["issue"] or "")


def series_key(title: ComicTitle) -> str | None:
    """What issues of one series share: the folded series title and its year (None for a
    title that names no year or issue: a collection, a one-shot)."""
    if title.year is None or not title.issue:
        return None
    return f"{sort_key(title.series)[:190]} {title.year}"


ISSUE_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def issue_sort_number(issue: str) -> float | None:
    """An issue number as a number for ordering ("1.5" -> 1.5), None when it is not one (not
    float()'s "inf" or "nan" either: they order differently on the two backends)."""
    return float(issue) if ISSUE_NUMBER.fullmatch(issue) else None
