"""A character card on the list and comic pages is rendered once per catalogue version and
process (includes/card_grid.html), for MARVELSITE_COUNT_CACHE_SECONDS, like the kept counts."""

import pytest
from django.core.cache import cache, caches
from django.core.cache.utils import make_template_fragment_key
from django.db import connection
from django.test.utils import CaptureQueriesContext

from characters.models import Character
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
