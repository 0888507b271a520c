"""Numbered pagination: a deep page is two clicks away, rel=prev/next kept, the page cap said;
a page past the middle, read from the end, has the same rows as read from the start."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from characters.models import Character
from characters.paging import IndexedPaginator
from tests.support.page_data import make_character, make_many

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


@pytest.mark.parametrize(
    "ordering",
    [
        ("sort_name", "id"),
        ("-comics_available", "id"),  # ties on the first key
        ("modified", "-id"),  # unknown dates (null) among them
        ("-modified", "pk"),
    ],
)
def test_a_window_read_from_the_end_has_the_rows_read_from_the_start(ordering):
    for n in range(1, 51):
        modified = None if n % 4 == 0 else dt.datetime(2014, 1, 1 + n % 9, tzinfo=dt.UTC)
        make_character(n, f"Hero {n % 13}", comics_available=n % 5, modified=modified)
    rows = Character.objects.order_by(*ordering)
    everything = [c.id for c in rows]
    for start in range(0, 50, 6):
        stop = min(start + 10, 50)
        assert [c.id for c in rows.window(start, stop, count=50)] == everything[start:stop]


def test_only_an_ordering_that_ends_with_the_key_is_read_from_the_end():
    """With ties left, the reversed order need not be the exact reverse sequence."""
    assert Character.objects.all().ends_with_pk()  # the model's ordering
    assert Character.objects.order_by("-sort_name", "-pk").ends_with_pk()
    assert not Character.objects.order_by("-comics_available").ends_with_pk()
    assert not Character.objects.order_by().ends_with_pk()


@pytest.mark.sqlite("the statement SQLite is sent")
def test_a_window_past_the_middle_is_read_backwards_from_the_end():
    make_many(50)
    rows = Character.objects.order_by("sort_name", "id")
    with CaptureQueriesContext(connection) as sent:
        near_end = rows.window(40, 48, count=50)
        near_start = rows.window(2, 10, count=50)
    backwards, forwards = (query["sql"] for query in sent.captured_queries)
    assert "DESC" in backwards, backwards
    assert "LIMIT 8 OFFSET 2" in backwards, backwards  # 50 - 48, not 40
    assert "DESC" not in forwards, forwards
    assert "LIMIT 8 OFFSET 2" in forwards, forwards
    everything = [c.id for c in rows]
    assert [c.id for c in near_end] == everything[40:48]
    assert [c.id for c in near_start] == everything[2:10]
