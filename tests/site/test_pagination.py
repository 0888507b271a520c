"""Numbered pagination: a deep page is two clicks away, rel=prev/next kept, the page cap said."""

import re

import pytest

from characters.paging import IndexedPaginator
from tests.support.page_data import make_many

pytestmark = pytest.mark.django_db


def nav(response) -> str:
    html = response.content.decode()
    return re.search(r'<nav class="pagination".*?</nav>', html, re.S).group(0)


def numbers(response) -> list[str]:
    """The page links and gaps as shown: "1", "…", "[5]" for the current page."""
    shown = []
    for match in re.finditer(
        r'aria-current="page"[^>]*>(?P<current>\d+)<|aria-label="Page \d+">(?P<link>\d+)<'
        r"|(?P<gap>…)",
        nav(response),
    ):
        if match["current"]:
            shown.append(f"[{match['current']}]")
        else:
            shown.append(match["link"] or match["gap"])
    return shown


def test_an_elided_range_with_both_ends(client):
    make_many(24 * 40)  # 40 pages
    assert numbers(client.get("/characters/")) == ["[1]", "2", "3", "…", "40"]
    middle = client.get("/characters/", {"page": 20})
    assert numbers(middle) == ["1", "…", "18", "19", "[20]", "21", "22", "…", "40"]
    html = nav(middle)
    assert 'rel="prev" href="/characters/?page=19"' in html
    assert 'rel="next" href="/characters/?page=21"' in html
    assert '<a href="/characters/">« First' in html
    assert '<a href="/characters/?page=40">Last' in html
    last = client.get("/characters/", {"page": 40})
    assert numbers(last) == ["1", "…", "38", "39", "[40]"]
    assert "Last" not in nav(last)
    assert 'rel="next"' not in nav(last)


def test_a_deep_page_is_two_clicks_away(client):
    make_many(24 * 40)
    first = client.get("/characters/")
    last_url = re.search(r'<a href="([^"]+)">Last', nav(first)).group(1)
    last = client.get(last_url)
    page_38 = re.search(r'<a href="([^"]+)" aria-label="Page 38">', nav(last)).group(1)
    assert page_38 == "/characters/?page=38"  # the second click
    # The links keep the search and the sort.
    filtered = client.get("/characters/", {"q": "hero", "sort": "-name", "page": 3})
    assert 'href="/characters/?q=hero&amp;sort=-name&amp;page=4"' in nav(filtered)


def test_the_page_cap_is_said_where_it_applies(client, monkeypatch):
    monkeypatch.setattr(IndexedPaginator, "max_pages", 3)
    make_many(100)
    html = nav(client.get("/characters/", {"page": 3}))
    assert "Only the first 3 pages are listed (72 of 100 characters)" in html
    assert numbers(client.get("/characters/", {"page": 3}))[-1] == "[3]"
    searched = client.get("/characters/", {"q": "hero"})  # 100 hero names: the cap applies
    assert "Only the first 3 pages" in nav(searched)
    fewer = client.get("/characters/", {"q": "hero 0"})  # 99 of them: 5 pages, capped too
    assert "(72 of 99 characters)" in nav(fewer)
    assert "Only the first" not in client.get("/characters/", {"q": "hero 00"}).content.decode()
