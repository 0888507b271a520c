"""The page cache (characters/page_cache.py): list, character and comic pages are kept per URL
and per catalogue version; an edit in the admin or through the ORM shows at once."""

import pytest
from django.core.cache import cache
from django.test import Client

from characters import page_cache
from characters.models import Character, Comic
from tests.support.page_data import make_character, make_many

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def page_cache_on(settings):
    settings.PAGE_CACHE_SECONDS = 60
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize(
    ("url", "miss_queries"),
    [
        ("/characters/?page=2", 4),  # version + count + page + comics
        ("/characters/1/hero-001/", 3),  # version + character + comics
        ("/comics/100000/", 4),  # version + comic + characters + their comics
    ],
)
def test_second_request_is_served_from_the_cache(
    client, django_assert_num_queries, url, miss_queries
):
    make_many(30, comics_each=4)
    with django_assert_num_queries(miss_queries):
        first = client.get(url)
    assert first["X-Page-Cache"] == "miss"
    with django_assert_num_queries(1):  # the catalogue version only
        second = Client().get(url)
    assert second["X-Page-Cache"] == "hit"
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Content-Type"] == "text/html; charset=utf-8"


def test_each_query_string_is_its_own_page(client):
    make_many(30)
    assert client.get("/characters/").content != client.get("/characters/?page=2").content
    assert client.get("/characters/?page=2")["X-Page-Cache"] == "hit"


def test_an_admin_edit_shows_at_once_on_every_worker(client, admin_client, monkeypatch):
    hulk = make_character(1009351, "Hulk", comics=[(40632, "Hulk (2008) #53")])
    Character.objects.filter(pk=hulk.pk).update(name="Hulk")  # no signal: only the admin's log
    assert "Hulk" in client.get("/characters/?q=hulk").content.decode()
    assert client.get("/characters/?q=hulk")["X-Page-Cache"] == "hit"
    data = {
        "name": "Hulk (Bruce Banner)",
        "description": "",
        "comics": ["40632"],
        "thumbnail_path": "",
        "thumbnail_extension": "",
        "urls": "[]",
        "_save": "Save",
    }
    before = page_cache._generation
    assert (
        admin_client.post(f"/admin/characters/character/{hulk.pk}/change/", data).status_code == 302
    )
    # Another worker saw no signal: only the admin's LogEntry tells it the catalogue changed.
    monkeypatch.setattr(page_cache, "_generation", before)
    response = client.get("/characters/?q=hulk")
    assert response["X-Page-Cache"] == "miss"
    assert "Hulk (Bruce Banner)" in response.content.decode()


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
