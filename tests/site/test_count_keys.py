"""Kept counts are keyed by their caller's canonical key (characters/page_cache.kept_count):
the list's filter and tier, the changelist's query string. Different rows never share a key,
so each pair below would read the other's kept count if the key left something out."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from characters.models import CatalogueVersion, Character
from tests.support.page_data import make_many

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def counts_kept(settings):
    settings.COUNT_CACHE_SECONDS = 60
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def heroes():
    # "Hero 001".."Hero 030": the ones made with an even index (Hero 001, 003, ...) have an
    # image; Hero 030 has no known date.
    make_many(30)
    Character.objects.filter(id=30).update(modified=None)
    CatalogueVersion.bump()


def listed(client, query: str) -> int:
    response = client.get(f"/characters/?{query}")
    assert response.status_code == 200, query
    return response.context["page_obj"].paginator.count


def admin_listed(admin_client, path: str, query: str) -> int:
    response = admin_client.get(f"/admin/characters/{path}/?{query}")
    assert response.status_code == 200, query
    return response.context["cl"].result_count


def test_the_list_keys_a_count_by_its_filter_and_tier(client, heroes):
    # One filter, its search ranks: exact name, name prefix, word prefixes.
    assert listed(client, "q=hero 001") == 1
    # The same search with an image filter: a key without the image flag would say 1.
    assert listed(client, "q=hero 00&image=1") == 5
    assert listed(client, "q=hero 00") == 9
    # The same search sorted otherwise: one tier, all it finds (not its exact-name rank).
    assert listed(client, "q=hero 00&sort=-name") == 9
    assert listed(client, "q=hero 001&sort=-name") == 1
    # The oldest first: the known dates, then the rest (all minus the known ones).
    assert listed(client, "sort=modified") == 30
    assert listed(client, "image=1&sort=modified") == 15
    assert listed(client, "image=1") == 15
    assert listed(client, "") == 30
    # A search too long to match lists nothing; its text is not in the canonical query string.
    assert listed(client, "q=" + "x" * 300) == 0
    assert listed(client, "q=hero") == 30


def test_the_list_shares_a_count_across_sorts_and_pages(client, heroes):
    assert listed(client, "image=1&sort=-name") == 15
    with CaptureQueriesContext(connection) as logged:
        assert listed(client, "image=1&sort=comics&page=1") == 15
    counts = [query["sql"] for query in logged if "count" in query["sql"].lower()]
    assert counts == []  # the filter's count, kept under the same key


def test_the_admin_keys_a_count_by_its_query_string(admin_client, heroes):
    assert admin_listed(admin_client, "character", "q=hero 00") == 9
    assert admin_listed(admin_client, "character", "q=hero 00&has_image=yes") == 5
    assert admin_listed(admin_client, "character", "q=hero 00&has_image=no") == 4
    assert admin_listed(admin_client, "character", "has_image=no") == 15
    assert admin_listed(admin_client, "character", "q=hero 00&o=-2") == 9  # ordering: same key
    # Another model's changelist with the same query string.
    assert admin_listed(admin_client, "comic", "q=hero 00") == 0
