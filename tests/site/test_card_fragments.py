"""A character card on the list and comic pages is rendered once per catalogue version and
process (includes/card_grid.html), for MARVELSITE_COUNT_CACHE_SECONDS, like the kept counts;
the home page's cards keep their comics the same way, never their reload form."""

import pytest
from django.core.cache import cache, caches
from django.core.cache.utils import make_template_fragment_key
from django.db import connection
from django.test.utils import CaptureQueriesContext

from characters.models import Character, Comic
from characters.page_cache import read_catalogue_version
from tests.support.page_data import LINKED_READS, make_character

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cards_kept(settings):
    settings.COUNT_CACHE_SECONDS = 60
    settings.PAGE_CACHE_SECONDS = 0  # pages rendered each time: only the cards are kept
    cache.clear()
    yield
    cache.clear()


def test_a_card_is_kept_per_version(client):
    thor = make_character(7, "Thor", comics=[(1, "Thor #1")])
    assert "Thor #1" in client.get("/characters/").content.decode()
    assert "Thor #1" in client.get("/comics/1/").content.decode()
    # Kept in a cache of their own: cards never push pages out of the page cache.
    key = make_template_fragment_key("card", [7, read_catalogue_version()])
    assert ">Thor</a>" in caches["template_fragments"].get(key)
    assert cache.get(key) is None
    # A write that makes no new version: the kept card stands, on both pages.
    Character.objects.filter(pk=7).update(name="Unversioned")
    assert ">Thor</a>" in client.get("/characters/").content.decode()
    # A save makes a new version: the card is rendered again everywhere.
    thor.refresh_from_db()
    thor.name = "Thor Odinson"
    thor.save()
    for url in ("/characters/", "/comics/1/"):
        assert ">Thor Odinson</a>" in client.get(url).content.decode(), url


def test_without_keeping_every_card_is_rendered(client, settings):
    settings.COUNT_CACHE_SECONDS = 0
    make_character(7, "Thor")
    assert ">Thor</a>" in client.get("/characters/").content.decode()
    Character.objects.filter(pk=7).update(name="Unversioned")
    assert ">Unversioned</a>" in client.get("/characters/").content.decode()


def test_a_kept_card_reads_no_comics(client):
    for n in range(1, 4):
        make_character(n, f"Hero {n}", comics=[(100 + n, f"Comic {n}")])
    first = client.get("/characters/").content.decode()
    with CaptureQueriesContext(connection) as logged:
        second = client.get("/characters/").content.decode()
    assert second == first
    assert not [q["sql"] for q in logged if "character_comics" in q["sql"]]  # links not read
    # A new version: every card is rendered again, all their comics read in one go.
    make_character(4, "Hero 4", comics=[(104, "Comic 4")])
    with CaptureQueriesContext(connection) as logged:
        third = client.get("/characters/").content.decode()
    assert "Comic 4" in third
    assert "Comic 1" in third
    assert len([q["sql"] for q in logged if "character_comics" in q["sql"]]) == 1


def test_the_home_pages_cards_keep_their_comics_not_their_form(client):
    for n in range(1, 8):
        make_character(n, f"Hero {n}", comics=[(100 + n, f"Comic {n}"), (200 + n, f"Other {n}")])
    shown = {"ids": "1,2,3,4,5,6"}

    def links_read(url, query) -> tuple[int, str]:
        with CaptureQueriesContext(connection) as logged:
            html = client.get(url, query).content.decode()
        return len([q for q in logged if "character_comics" in q["sql"]]), html

    reads, first = links_read("/", shown)
    assert reads == 1  # the six's comics, in one go
    assert "Comic 1" in first
    # The list keeps its own cards' HTML, which the home page does not use.
    assert "Comic 1" in client.get("/characters/").content.decode()
    reads, second = links_read("/", shown)
    assert reads == 0
    for n in range(1, 7):
        assert f"Comic {n}" in second
        assert f"Other {n}" in second
        assert f'name="reload" value="{n}"' in second  # each card's own form, not kept
    # A reload draws the one character not shown: only its comics are read, then kept.
    reads, reloaded = links_read("/featured/card/", {**shown, "reload": "3"})
    assert reads == 1
    assert "Comic 7" in reloaded
    assert 'value="1,2,7,4,5,6"' in reloaded
    reads, again = links_read("/", {"ids": "1,2,7,4,5,6"})
    assert reads == 0
    assert "Other 7" in again
    # A new version: the comics are read again, in one go.
    comic = Comic.objects.get(pk=101)
    comic.title = "Renamed 1"
    comic.save()
    reads, third = links_read("/", shown)
    assert reads == 1
    assert "Renamed 1" in third
    assert "Comic 1" not in third


def test_a_home_page_whose_cards_were_shown_reads_only_its_rows(
    client, django_assert_num_queries, on_mongodb
):
    for n in range(1, 7):
        make_character(n, f"Hero {n}", comics=[(100 + n, f"Comic {n}")])
    shown = {"ids": "1,2,3,4,5,6"}
    # The version, the six, their comics; then the six and, on SQLite, the version (MongoDB
    # keeps it in memory once read, from its change stream).
    with django_assert_num_queries(1 + 1 + LINKED_READS):
        assert client.get("/", shown).status_code == 200
    with django_assert_num_queries((0 if on_mongodb else 1) + 1):
        assert client.get("/", shown).status_code == 200
