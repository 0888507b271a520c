"""Query budgets: every page runs a fixed number of queries (at most 5), whatever the page size
and however many comics each character has. django-mongodb-backend has no prefetch_related, so
the cards read a page's comics through the links, whatever the number of cards
(Comic.objects.titles_by_character): on SQLite the links by character, then the titles by comic
id; on MongoDB one command that gathers the links and reads their titles with one $lookup (a
join instead runs a $lookup per link there)."""

import pytest

from characters import models
from tests.support.page_data import (
    CHARACTER_READS,
    COMIC_READS,
    LINKED_READS,
    WRAPPED_SAMPLE_READS,
    make_many,
)

pytestmark = pytest.mark.django_db

# (url, queries). Home: the random sample reads a window of random_key from a random point and
# wraps around at the end (1 or 2 queries on SQLite, pinned to the 2-query case below; one
# command on MongoDB) + the comics.
# A reload: the five kept (in_bulk) + the sample + the comics. List: count + page + comics.
# Comic: the comic and its cast (its links, then the characters) + the cast's comics.
PAGES = [
    ("/", WRAPPED_SAMPLE_READS + LINKED_READS),
    ("/?ids=1,2,3,4,5,6&reload=3", 1 + WRAPPED_SAMPLE_READS + LINKED_READS),
    ("/featured/card/?ids=1,2,3,4,5,6&reload=3", 1 + WRAPPED_SAMPLE_READS + LINKED_READS),
    ("/characters/", 2 + LINKED_READS),
    ("/characters/?page=2&sort=-comics", 2 + LINKED_READS),
    ("/characters/?q=hero&image=1&sort=-modified", 2 + LINKED_READS),
    ("/characters/1/hero-001/", CHARACTER_READS),
    ("/comics/100000/", COMIC_READS + LINKED_READS),
]


@pytest.fixture(autouse=True)
def sample_wraps_around(monkeypatch):
    """Start the random window near the end of random_key's range, so it always wraps."""
    monkeypatch.setattr(models, "new_random_key", lambda: 0.999_999)


@pytest.fixture(params=["small", "large"])
def catalogue(request):
    if request.param == "small":
        make_many(8, comics_each=1)  # part of one page, one comic each
    else:
        make_many(30, comics_each=22)  # a full page, more comics than the API ever lists
    return request.param


def test_query_budget_is_constant(client, catalogue, django_assert_num_queries):
    # One catalogue per run of all the pages (building the large one is the slow part).
    for url, queries in PAGES:
        assert queries <= 5
        with django_assert_num_queries(queries):
            response = client.get(url)
        assert response.status_code == 200, url
    if catalogue == "large":
        html = client.get("/characters/").content.decode()
        assert html.count('class="card"') == 24  # a full page costs what a short one does


def test_sampling_needs_one_query_when_the_window_does_not_wrap(
    client, monkeypatch, django_assert_num_queries
):
    make_many(30, comics_each=3)
    monkeypatch.setattr(models, "new_random_key", lambda: 0.0)
    with django_assert_num_queries(1 + LINKED_READS):  # the sample + the comics
        assert client.get("/").status_code == 200


def test_admin_changelist_budget_is_constant(admin_client, django_assert_max_num_queries):
    make_many(30, comics_each=5)
    # session + user + count + filtered count + page (comics linked is an annotated Count)
    with django_assert_max_num_queries(8):
        assert admin_client.get("/admin/characters/character/").status_code == 200


def test_reload_with_nobody_else_left_stays_within_budget(client, django_assert_num_queries):
    make_many(6, comics_each=2)
    # The six (one query) + the empty sample.
    with django_assert_num_queries(1 + WRAPPED_SAMPLE_READS + LINKED_READS):
        response = client.get("/", {"ids": "1,2,3,4,5,6", "reload": "4"})
    assert response.content.decode().count('class="card"') == 6
