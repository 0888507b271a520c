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
from tests.support.page_data import make_character

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
    assert "Comic 1" in client.get("/characters/").content.decode()  # the grid's cards kept
    shown = {"ids": "1,2,3,4,5,6"}
    first = client.get("/", shown).content.decode()
    assert "Comic 1" in first
    with CaptureQueriesContext(connection) as logged:
        second = client.get("/", shown).content.decode()
    assert not [q["sql"] for q in logged if "character_comics" in q["sql"]]  # links not read
    for n in range(1, 7):
        assert f"Comic {n}" in second
        assert f"Other {n}" in second
        assert f'name="reload" value="{n}"' in second  # each card's own form, not kept
    # A reload draws the one character not shown, whose comics the list kept.
    with CaptureQueriesContext(connection) as logged:
        reloaded = client.get("/featured/card/", {**shown, "reload": "3"}).content.decode()
    assert "Comic 7" in reloaded
    assert 'value="1,2,7,4,5,6"' in reloaded
    assert not [q["sql"] for q in logged if "character_comics" in q["sql"]]
    with CaptureQueriesContext(connection) as logged:
        again = client.get("/", {"ids": "1,2,7,4,5,6"}).content.decode()
    assert not [q["sql"] for q in logged if "character_comics" in q["sql"]]
    assert "Other 7" in again
    # A new version: the comics are read again, in one go.
    comic = Comic.objects.get(pk=101)
    comic.title = "Renamed 1"
    comic.save()
    with CaptureQueriesContext(connection) as logged:
        third = client.get("/", shown).content.decode()
    assert "Renamed 1" in third
    assert "Comic 1" not in third
    assert len([q["sql"] for q in logged if "character_comics" in q["sql"]]) == 1
