"""The page cache and HTTP caching (characters/page_cache.py): list, character and comic pages
are kept per canonical URL and per catalogue version, tagged with an ETag, and answered with 304
when the client's copy is current; an edit in the admin or through the ORM shows at once."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from characters import catalogue_version
from characters.models import CatalogueVersion, Character, Comic
from characters.page_cache import read_catalogue_version
from tests.support.page_data import (
    CHARACTER_READS,
    COMIC_READS,
    LINKED_READS,
    make_character,
    make_many,
)
from tests.support.query_plans import RECORDER

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def page_cache_on(settings, empty_cache):
    settings.PAGE_CACHE_SECONDS = 60


@pytest.mark.parametrize(
    ("url", "miss_queries"),
    [
        ("/characters/?page=2", 3 + LINKED_READS),  # version + count + page + titles
        ("/characters/1/hero-001/", 1 + CHARACTER_READS),  # version + character + titles
        ("/comics/100000/", 1 + COMIC_READS + LINKED_READS),  # version + comic + cast + titles
    ],
)
def test_second_request_is_served_from_the_cache(
    client, django_assert_num_queries, url, miss_queries, on_mongodb
):
    make_many(30, comics_each=4)
    with django_assert_num_queries(miss_queries):
        first = client.get(url)
    assert first["X-Page-Cache"] == "miss"
    # The version kept in memory (on SQLite, inside the test's transaction, the row is read).
    with django_assert_num_queries(0 if on_mongodb else 1):
        second = Client().get(url)
    assert second["X-Page-Cache"] == "hit"
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Content-Type"] == "text/html; charset=utf-8"


def test_each_query_string_is_its_own_page(client):
    make_many(30)
    assert client.get("/characters/").content != client.get("/characters/?page=2").content
    assert client.get("/characters/?page=2")["X-Page-Cache"] == "hit"


def test_a_search_too_long_to_match_is_not_the_plain_list(client):
    make_many(30)
    assert client.get("/characters/")["X-Page-Cache"] == "miss"
    too_long = client.get("/characters/?q=" + "x" * 300)
    assert too_long["X-Page-Cache"] == "miss"
    assert "hero-001" not in too_long.content.decode()
    assert client.get("/characters/?q=" + "x" * 250)["X-Page-Cache"] == "hit"  # same first 200
    assert client.get("/characters/")["X-Page-Cache"] == "hit"


def test_an_admin_edit_shows_at_once_on_every_worker(client, admin_client):
    hulk = make_character(1009351, "Hulk", comics=[(40632, "Hulk (2008) #53")])
    assert "Hulk" in client.get("/characters/?q=hulk").content.decode()
    assert client.get("/characters/?q=hulk")["X-Page-Cache"] == "hit"
    before = read_catalogue_version()
    data = {
        "name": "Hulk (Bruce Banner)",
        "description": "",
        "comics": ["40632"],
        "thumbnail_path": "",
        "thumbnail_extension": "",
        "urls": "[]",
        "_save": "Save",
    }
    assert (
        admin_client.post(f"/admin/characters/character/{hulk.pk}/change/", data).status_code == 302
    )
    # The version every worker and pod reads is in the database, not in this process.
    assert CatalogueVersion.objects.get().token != before
    response = client.get("/characters/?q=hulk")
    assert response["X-Page-Cache"] == "miss"
    assert "Hulk (Bruce Banner)" in response.content.decode()


def test_a_version_change_made_by_another_process_shows_within_a_second(client):
    make_character(7, "Thor")
    assert client.get("/characters/7/thor/")["X-Page-Cache"] == "miss"
    assert client.get("/characters/7/thor/")["X-Page-Cache"] == "hit"
    # What another worker's signal or an import page writes: no signal in this process.
    CatalogueVersion.objects.filter(id=1).update(token="elsewhere")
    Character.objects.filter(pk=7).update(description="God of Thunder.")
    catalogue_version.settle(timeout=1.0)  # MongoDB: the change stream has brought it
    response = client.get("/characters/7/thor/")
    assert response["X-Page-Cache"] == "miss"
    assert "God of Thunder." in response.content.decode()


def test_a_deletion_in_the_admin_shows_at_once(client, admin_client):
    make_character(7, "Thor")
    assert client.get("/characters/7/thor/").status_code == 200
    assert client.get("/characters/7/thor/")["X-Page-Cache"] == "hit"
    admin_client.post("/admin/characters/character/7/delete/", {"post": "yes"})
    assert client.get("/characters/7/thor/").status_code == 404


def test_orm_writes_in_this_process_show_at_once(client):
    thor = make_character(7, "Thor", comics=[(1, "Thor #1")])
    assert "Thor #1" in client.get("/characters/7/thor/").content.decode()
    Comic.objects.filter(pk=1).update(title="unchanged page: no signal")
    assert "Thor #1" in client.get("/characters/7/thor/").content.decode()  # cached
    thor.comics.add(Comic.objects.create(id=2, title="Thor #2"))  # m2m_changed
    html = client.get("/characters/7/thor/").content.decode()
    assert "Thor #2" in html
    thor.description = "God of Thunder."
    thor.save()  # post_save
    assert "God of Thunder." in client.get("/characters/7/thor/").content.decode()


def test_not_found_and_redirects_are_not_cached(client):
    assert client.get("/characters/5/x/").status_code == 404
    Character.objects.bulk_create([Character(id=5, name="Late Arrival")])  # no signal
    assert client.get("/characters/5/x/").status_code == 301
    assert client.get("/characters/5/late-arrival/").status_code == 200


def test_the_random_home_page_is_never_cached(client):
    make_many(30)
    response = client.get("/")
    assert "X-Page-Cache" not in response
    assert "no-store" in response["Cache-Control"]
    assert "X-Page-Cache" not in client.get("/featured/card/?ids=1,2,3,4,5,6&reload=2")


def test_unknown_parameters_share_the_canonical_page(client):
    make_many(30)
    assert client.get("/characters/?sort=name&page=1")["X-Page-Cache"] == "miss"
    for url in ["/characters/", "/characters/?utm_source=x&fbclid=1", "/characters/?q=&image=no"]:
        assert client.get(url)["X-Page-Cache"] == "hit", url
    assert client.get("/characters/?page=2&utm_source=x")["X-Page-Cache"] == "miss"
    assert client.get("/characters/7/hero-007/?x=1")["X-Page-Cache"] == "miss"
    assert client.get("/characters/7/hero-007/?y=2")["X-Page-Cache"] == "hit"


@pytest.mark.parametrize(
    "url", ["/characters/?page=2", "/characters/7/hero-007/", "/comics/100000/"]
)
def test_pages_carry_an_etag_and_answer_a_current_one_with_304(client, settings, url):
    make_many(30, comics_each=2)
    first = client.get(url)
    assert first.status_code == 200
    assert first["Cache-Control"] == f"public, max-age={settings.PAGE_CACHE_SECONDS}"
    etag = first["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    again = client.get(url, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert client.get(url, headers={"if-none-match": '"stale"'}).status_code == 200
    Character.objects.get(pk=7).save()  # any edit: a new version, a new ETag
    changed = client.get(url, headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_a_304_costs_no_query(client, django_assert_num_queries, on_mongodb):
    make_many(30, comics_each=2)
    etag = client.get("/characters/?page=2")["ETag"]
    with django_assert_num_queries(0 if on_mongodb else 1):  # SQLite: the test's transaction
        assert client.get("/characters/?page=2", headers={"if-none-match": etag}).status_code == 304


def test_without_the_cache_pages_are_not_marked_public(client, settings):
    settings.PAGE_CACHE_SECONDS = 0
    make_many(3)
    response = client.get("/characters/")
    assert "ETag" not in response
    assert "public" not in response.get("Cache-Control", "")


def test_an_import_shows_at_once(client):
    from characters.ingest.importer import Importer
    from characters.ingest.records import ParsedPage, parse_results

    make_character(1009610, "Spider-Man")
    assert client.get("/characters/?q=spider")["X-Page-Cache"] == "miss"
    assert client.get("/characters/?q=spider")["X-Page-Cache"] == "hit"
    raw = {"id": 1009610, "name": "Spider-Man (Peter Parker)", "comics": {"items": []}}
    records, skipped = parse_results([raw], 0)
    assert not skipped
    Importer().import_page(ParsedPage(0, records, []))  # bulk writes: no model signal
    response = client.get("/characters/?q=spider")
    assert response["X-Page-Cache"] == "miss"
    assert "Spider-Man (Peter Parker)" in response.content.decode()


@pytest.mark.mongodb("what the server is sent, seen by command monitoring")
def test_on_mongodb_a_hit_sends_the_server_no_command(client):
    """The query counts above see what the server is sent: the version is kept in memory by
    the change stream's watcher (whose own getMore is on another thread)."""
    make_many(30, comics_each=2)
    assert client.get("/characters/?page=2")["X-Page-Cache"] == "miss"
    RECORDER.recording = []
    try:
        with CaptureQueriesContext(connection) as logged:
            assert client.get("/characters/?page=2")["X-Page-Cache"] == "hit"
        recorded = RECORDER.recording
    finally:
        RECORDER.recording = None
    assert len(recorded) == len(logged) == 0


def test_a_release_that_changes_the_pages_changes_every_etag(client, settings, tmp_path):
    from characters import page_cache

    make_character(1, "Hulk")
    first = client.get("/characters/")["ETag"]
    assert client.get("/characters/", HTTP_IF_NONE_MATCH=first).status_code == 304
    # A new static manifest (a deploy with new CSS): the same catalogue, a new ETag.
    settings.STATIC_ROOT = tmp_path
    (tmp_path / "staticfiles.json").write_text('{"paths": {"css/site.css": "css/site.1.css"}}')
    page_cache.release.cache_clear()
    try:
        second = client.get("/characters/")["ETag"]
        assert second != first
        assert client.get("/characters/", HTTP_IF_NONE_MATCH=first).status_code == 200
    finally:
        page_cache.release.cache_clear()


def test_a_too_long_search_keeps_its_image_flag_apart(client):
    make_many(30)
    too_long = "/characters/?q=" + "x" * 300
    assert client.get(too_long)["X-Page-Cache"] == "miss"
    with_image = client.get(too_long + "&image=1")
    assert with_image["X-Page-Cache"] == "miss"  # not the page without the flag
    assert with_image["ETag"] != client.get(too_long)["ETag"]


# --- a kept page answered before the rest of the stack (PageCacheMiddleware) ---------------


def without_early_answers(settings):
    """The same site without PageCacheMiddleware: the view answers from the cache itself."""
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith("PageCacheMiddleware")]


@pytest.mark.parametrize(
    "url", ["/characters/?page=2", "/characters/1/hero-001/", "/comics/100000/"]
)
def test_a_kept_page_is_answered_before_the_view(client, monkeypatch, url):
    make_many(30, comics_each=4)
    first = client.get(url)
    assert first["X-Page-Cache"] == "miss"

    def unreachable(*args, **kwargs):
        raise AssertionError("the view was asked for a kept page")

    for view in ("CharacterListView", "CharacterDetailView", "ComicDetailView"):
        monkeypatch.setattr(f"characters.views.{view}.dispatch", unreachable)
    second = Client().get(url)
    assert second["X-Page-Cache"] == "hit"
    assert second.content == first.content
    assert not hasattr(second.wsgi_request, "session")  # the stack below was not run
    etag = second["ETag"]
    assert Client().get(url, headers={"if-none-match": etag}).status_code == 304


def test_an_early_answer_has_the_headers_the_view_gives(client, settings):
    make_many(30, comics_each=4)
    url = "/characters/1/hero-001/"
    client.get(url)
    early = Client().get(url)
    without_early_answers(settings)
    late = Client().get(url)
    assert early["X-Page-Cache"] == late["X-Page-Cache"] == "hit"
    assert dict(early.headers) == dict(late.headers)
    assert early.content == late.content
    assert early["X-Frame-Options"] == "DENY"
    assert int(early["Content-Length"]) == len(early.content)


def test_an_early_answer_is_cleaned_of_control_characters_too(client):
    make_character(7, "Thor\x00", description="God\x07 of thunder.")
    first = client.get("/characters/7/thor/")
    second = Client().get("/characters/7/thor/")
    assert second["X-Page-Cache"] == "hit"
    for response in (first, second):
        assert b"\x00" not in response.content
        assert b"\x07" not in response.content
        assert int(response["Content-Length"]) == len(response.content)


def test_while_the_breaker_is_open_the_stack_answers(client, monkeypatch):
    """A kept page is not answered around the circuit breaker: the stack's 503 stands."""
    make_many(30)
    client.get("/characters/")
    from marvelsite import breaker

    monkeypatch.setattr(breaker.CircuitBreaker, "refusal", lambda self: 5.0)
    response = Client().get("/characters/")
    assert response.status_code == 503
