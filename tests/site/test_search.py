"""characters/search.py: folding, sort keys, tokens, query ranks and comic titles (pure)."""

import pytest

from characters.search import (
    ComicTitle,
    Query,
    fold,
    issue_sort_number,
    name_tokens,
    parse_comic_title,
    series_key,
    sort_key,
)


def test_fold_drops_case_accents_and_punctuation():
    assert fold("Araña") == fold("ARANA") == ["arana"]
    assert fold("Spider-Man (Peter Parker)") == ["spider", "man", "peter", "parker"]
    assert fold("  'Mad' Jim Jaspers ") == ["mad", "jim", "jaspers"]
    assert fold("---") == []


def test_sort_key_is_reading_order():
    names = ["Queen Noir", "pug", "'Mad' Jim Jaspers", "Ästhetik", "A-Bomb (HAS)", "Abyss"]
    assert sorted(names, key=sort_key) == [
        "A-Bomb (HAS)",
        "Abyss",
        "Ästhetik",
        "'Mad' Jim Jaspers",
        "pug",
        "Queen Noir",
    ]
    assert sort_key("Spider-Man") == sort_key("spider man") == "spider man"


def test_tokens_are_word_prefixes_across_one_boundary_and_name_prefixes():
    tokens = set(name_tokens("X-Men"))
    assert tokens == {"=xmen", "^x", "^xm", "^xme", "^xmen"} | {"x", "xm", "xme", "xmen"} | {
        "m",
        "me",
        "men",
    }
    spider = set(name_tokens("Spider-Man (Peter Parker)"))
    assert {"spiderman", "spid", "peter", "parker", "^spidermanpeter"} <= spider
    assert "spidermanpeter" not in spider  # word joins span one boundary only
    assert name_tokens("") == []


@pytest.mark.parametrize(
    ("query", "name", "rank"),
    [
        ("spider-man", "Spider-Man", 0),
        ("SPIDERMAN", "Spider-Man", 0),
        ("spider man", "Spider-Man (Peter Parker)", 1),
        ("spiderman", "Spider-Man (Peter Parker)", 1),
        ("peter parker", "Spider-Man (Peter Parker)", 2),
        ("parker peter", "Spider-Man (Peter Parker)", 2),
        ("man", "Spider-Woman", 3),
        ("wolv", "Wolverine", 1),
        ("x men", "Young X-Men", 2),
        ("arana", "Araña", 0),
    ],
)
def test_query_ranks(query, name, rank):
    assert Query.parse(query).rank(name) == rank


def test_a_query_without_words_is_empty():
    assert not Query.parse(" .*?^ ")
    assert Query.parse("Spider Spider man").terms == ("spider", "man")


@pytest.mark.parametrize(
    ("title", "parsed"),
    [
        ("Avengers (1963) #1", ("Avengers", 1963, "1")),
        ("Uncanny X-Men (1963) #362", ("Uncanny X-Men", 1963, "362")),
        ("Thor: God of Thunder (2012) #5 (Ribic Variant)", ("Thor: God of Thunder", 2012, "5")),
        ("Amazing Spider-Man (1999) #558.1", ("Amazing Spider-Man", 1999, "558.1")),
        ("X-Men: Legacy (2008 - 2012) #-1", ("X-Men: Legacy", 2008, "-1")),
        (
            "Marvel Age Spider-Man Vol. 2 (Digest)",
            ("Marvel Age Spider-Man Vol. 2 (Digest)", None, ""),
        ),
        ("Civil War (2006)", ("Civil War", 2006, "")),
    ],
)
def test_comic_titles(title, parsed):
    assert parse_comic_title(title) == ComicTitle(*parsed)


def test_series_key_needs_a_year_and_an_issue():
    assert series_key(parse_comic_title("Avengers (1963) #1")) == "avengers 1963"
    assert series_key(parse_comic_title("AVENGERS (1963) #2")) == "avengers 1963"
    assert series_key(parse_comic_title("Civil War (2006)")) is None
    assert series_key(parse_comic_title("Marvel Age Spider-Man Vol. 2 (Digest)")) is None


@pytest.mark.parametrize(
    ("issue", "number"),
    [("1", 1.0), ("1.5", 1.5), ("-1", -1.0), ("inf", None), ("nan", None), ("1e400", None)],
)
def test_only_plain_issue_numbers_order_by_value(issue, number):
    assert issue_sort_number(issue) == number
