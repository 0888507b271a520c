"""Counts kept per catalogue version (characters/page_cache.py): the public list's and the admin
changelist's count is counted once per filter, version and process, then read from the cache;
a write that changes the version (an admin edit, an import page, another process's signal) shows
at once, and without a version row every count is fresh. And the version read itself: one
indexed query, logged and counted as the ORM's are."""

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from characters import catalogue_version
from characters.ingest.importer import Importer
from characters.ingest.records import ParsedPage, parse_results
from characters.models import CatalogueVersion, Character, Comic
from characters.page_cache import kept_count, read_catalogue_version
from tests.support.page_data import LINKED_READS, make_many, rank_reads
from tests.support.query_plans import RECORDER, explain
from tests.support.unreachable import database_unreachable

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def counts_kept(settings, empty_cache):
    settings.COUNT_CACHE_SECONDS = 60
    # Cards are kept for as long (tests/site/test_card_fragments.py), which would spare some
    # pages their comic reads: here every page reads them, so the budgets speak of counts.
    settings.CACHES = {
        **settings.CACHES,
        "template_fragments": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }


def listed(client, url="/characters/") -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["page_obj"].paginator.count


def admin_listed(admin_client, query="") -> int:
    response = admin_client.get(f"/admin/characters/character/{query}")
    assert response.status_code == 200
    changelist = response.context["cl"]
    assert changelist.full_result_count is None  # no second count of every character
    return changelist.result_count


@pytest.fixture
def again(on_mongodb) -> int:
    """Queries to read the version once it was read: none on MongoDB (kept in memory,
    characters/catalogue_version.py), one on SQLite (read inside the test's transaction)."""
    return 0 if on_mongodb else 1


def more_characters(count: int, start_id: int = 1000) -> None:
    """Rows written without a model signal, as another process's bulk write would be."""
    Character.objects.bulk_create(
        [Character(id=start_id + n, name=f"Later {n:03d}") for n in range(count)]
    )


def test_a_filter_is_counted_once_per_version(client, django_assert_num_queries, again):
    make_many(30, comics_each=2)
    CatalogueVersion.bump()
    # The version, the count, the page, the comic titles.
    with django_assert_num_queries(3 + LINKED_READS):
        assert listed(client) == 30
    # Another page or sort of the same filter: its count is kept.
    for url in ["/characters/?page=2", "/characters/?sort=-comics", "/characters/"]:
        with django_assert_num_queries(1 + LINKED_READS + again):  # no count
            assert listed(client, url) == 30, url
    # Another filter has a count of its own; a search one per rank (exact name, name prefix,
    # word prefixes), its page read from the ranks it reaches.
    with django_assert_num_queries(4 + LINKED_READS + again):
        assert listed(client, "/characters/?q=hero 00") == 9
    with django_assert_num_queries(2 + LINKED_READS + again):
        assert listed(client, "/characters/?image=1") == 15
    with django_assert_num_queries(1 + LINKED_READS + again):
        assert listed(client, "/characters/?q=hero 00&page=1") == 9


def test_a_search_page_reads_the_ranks_it_reaches_at_once(client, django_assert_num_queries, again):
    make_many(30, comics_each=1)
    Character.objects.bulk_create(
        [Character(id=100, name="Hero"), Character(id=101, name="Super Hero")]
    )
    CatalogueVersion.bump()
    assert listed(client, "/characters/?q=hero") == 32  # counts kept
    # The exact name, the 23 first names starting with it, and "Super Hero" on page 2.
    for page, ranks in ((1, 2), (2, 2)):
        with django_assert_num_queries(rank_reads(ranks) + LINKED_READS + again):
            response = client.get(f"/characters/?q=hero&page={page}")
        names = [card.character.name for card in response.context["cards"]]
        assert names[0] == ("Hero" if page == 1 else "Hero 024")
        assert names[-1] == ("Hero 023" if page == 1 else "Super Hero")


def test_with_the_page_cache_the_version_is_read_once(
    client, settings, django_assert_num_queries, again
):
    settings.PAGE_CACHE_SECONDS = 60
    make_many(30, comics_each=2)
    CatalogueVersion.bump()
    # The page cache's version read serves the count too.
    with django_assert_num_queries(3 + LINKED_READS):
        assert listed(client) == 30
    # A page not cached yet, its count kept.
    with django_assert_num_queries(1 + LINKED_READS + again):
        assert listed(client, "/characters/?page=2") == 30
    with django_assert_num_queries(again):  # a cached page: the version at most
        assert client.get("/characters/?page=2")["X-Page-Cache"] == "hit"


def test_without_a_version_row_every_count_is_fresh(client, django_assert_num_queries, again):
    make_many(30, comics_each=1)  # bulk writes: nothing has made the version row yet
    assert read_catalogue_version() == ""
    # The version (in `again`), the count, the page, the comic titles.
    with django_assert_num_queries(2 + LINKED_READS + again):
        assert listed(client) == 30
    more_characters(5)
    with django_assert_num_queries(2 + LINKED_READS + again):
        assert listed(client) == 35


def test_a_version_change_made_by_another_process_shows_within_a_second(client):
    make_many(30)
    CatalogueVersion.bump()
    assert listed(client) == 30
    assert listed(client, "/characters/?q=later") == 0
    more_characters(5)  # no signal, no new version: the kept counts stand
    assert listed(client) == 30
    assert listed(client, "/characters/?q=later") == 0
    # What another worker's signal or an import page writes: no signal in this process.
    CatalogueVersion.objects.filter(id=1).update(token="elsewhere")
    catalogue_version.settle(timeout=1.0)  # MongoDB: the change stream has brought it
    assert listed(client) == 35
    assert listed(client, "/characters/?q=later") == 5


def test_an_import_shows_at_once(client):
    make_many(30)
    CatalogueVersion.bump()
    assert listed(client, "/characters/?q=spider") == 0
    raw = {"id": 1009610, "name": "Spider-Man", "comics": {"items": []}}
    records, skipped = parse_results([raw], 0)
    assert not skipped
    Importer().import_page(ParsedPage(0, records, []))  # bulk writes, then a new version
    assert listed(client, "/characters/?q=spider") == 1
    assert listed(client) == 31


def test_an_admin_deletion_shows_at_once_in_both_lists(client, admin_client):
    make_many(30)
    CatalogueVersion.bump()
    assert listed(client) == 30
    assert admin_listed(admin_client) == 30
    assert admin_listed(admin_client, "?q=hero 00") == 9
    response = admin_client.post("/admin/characters/character/7/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert listed(client) == 29
    assert admin_listed(admin_client) == 29
    assert admin_listed(admin_client, "?q=hero 00") == 8


def test_the_admin_counts_once_per_version(admin_client, again):
    make_many(60)  # two pages of 50
    CatalogueVersion.bump()
    url = "/admin/characters/character/?q=hero"
    with CaptureQueriesContext(connection) as first:
        assert admin_client.get(url).context["cl"].result_count == 60
    with CaptureQueriesContext(connection) as second:
        assert admin_client.get(url).context["cl"].result_count == 60
    assert len(second) == len(first) - 1 - (1 - again)  # without its count (and version)
    more_characters(2)
    CatalogueVersion.bump()
    with CaptureQueriesContext(connection) as third:
        assert admin_client.get(url).context["cl"].result_count == 60  # "Later" rows: no match
    assert len(third) == len(first)  # the version read again after the bump, and counted
    assert admin_listed(admin_client) == 62


def test_the_comic_admin_counts_once_per_version(admin_client, again):
    make_many(3, comics_each=60)  # 60 comics: two pages of 50
    CatalogueVersion.bump()
    url = "/admin/characters/comic/?q=comic"
    with CaptureQueriesContext(connection) as first:
        changelist = admin_client.get(url).context["cl"]
    assert (changelist.result_count, changelist.full_result_count) == (60, None)
    with CaptureQueriesContext(connection) as second:
        assert admin_client.get(url).context["cl"].result_count == 60
    assert len(second) == len(first) - 1 - (1 - again)  # without its count (and version)
    Comic.objects.create(id=999_001, title="Comic extra")  # a signal: a new version
    assert admin_client.get(url).context["cl"].result_count == 61


def test_only_counts_with_a_key_are_kept():
    make_many(13, comics_each=3)  # 7 with an image, 6 without: counts that differ
    CatalogueVersion.bump()
    asked = []

    def version():
        asked.append(1)
        return read_catalogue_version()

    # No key, no keeping: whatever the rows are, they are counted at once.
    joined = Character.objects.filter(comics__title="Comic 000")
    assert kept_count(joined, version=version) == 13
    assert kept_count(Character.objects.all().distinct(), version=version) == 13
    assert kept_count(Character.objects.none(), version=version) == 0
    by_subquery = Character.objects.filter(id__in=Character.objects.filter(name="Hero 001"))
    assert kept_count(by_subquery, version=version) == 1
    assert asked == []  # counted, never kept: the version was not even read
    assert kept_count(Character.objects.search("hero 01"), key="q=hero 01", version=version) == 4
    assert kept_count(Character.objects.with_image(), key="image=1", version=version) == 7
    assert kept_count(Character.objects.without_image(), key="image=0", version=version) == 6
    assert kept_count(Character.objects.all(), key="", version=version) == 13
    assert len(asked) == 4


def test_counts_are_not_kept_when_turned_off(settings, django_assert_num_queries):
    settings.COUNT_CACHE_SECONDS = 0
    make_many(3)
    CatalogueVersion.bump()
    for _ in range(2):
        with django_assert_num_queries(1):  # the count; the version is not read
            assert kept_count(Character.objects.all(), key="") == 3


# --- the version read ------------------------------------------------------------------------


def test_the_version_read_is_one_counted_query(django_assert_num_queries):
    with django_assert_num_queries(1):
        assert read_catalogue_version() == ""
    CatalogueVersion.bump()
    token = CatalogueVersion.objects.get().token
    assert len(token) == 32
    with django_assert_num_queries(1):
        assert read_catalogue_version() == token


@pytest.mark.mongodb("what the server is sent, seen by command monitoring")
def test_on_mongodb_the_version_read_is_one_index_served_command():
    CatalogueVersion.bump()
    RECORDER.recording = []
    try:
        with CaptureQueriesContext(connection) as logged:
            read_catalogue_version()
        recorded = RECORDER.recording
    finally:
        RECORDER.recording = None
    assert len(recorded) == len(logged) == 1  # what the query counts see is what was sent
    plan = explain(connection.connection, *recorded[0])
    assert plan.collection == CatalogueVersion._meta.db_table
    assert not plan.scans
    assert plan.docs_examined == 1


def test_a_database_failure_is_a_database_error_with_its_cause(on_mongodb):
    with database_unreachable(on_mongodb), pytest.raises(DatabaseError) as caught:
        read_catalogue_version()
    error = caught.value
    cause = error.__cause__ if on_mongodb else error
    assert "hunter2" in str(cause)  # the driver's own error, kept for the log (masked there)


# --- the keys: the caller's canonical key --------------------------------------------------
# Different rows never share a key, so each pair below would read the other's kept count if
# the key left something out (the list's filter or tier, the changelist's query string).


@pytest.fixture
def heroes():
    # "Hero 001".."Hero 030": the ones made with an even index (Hero 001, 003, ...) have an
    # image; Hero 030 has no known date.
    make_many(30)
    Character.objects.filter(id=30).update(modified=None)
    CatalogueVersion.bump()


def changelist_count(admin_client, model: str, query: str) -> int:
    response = admin_client.get(f"/admin/characters/{model}/?{query}")
    assert response.status_code == 200, query
    return response.context["cl"].result_count


def test_the_list_keys_a_count_by_its_filter_and_tier(client, heroes):
    # One filter, its search ranks: exact name, name prefix, word prefixes.
    assert listed(client, "/characters/?q=hero 001") == 1
    # The same search with an image filter: a key without the image flag would say 1.
    assert listed(client, "/characters/?q=hero 00&image=1") == 5
    assert listed(client, "/characters/?q=hero 00") == 9
    # The same search sorted otherwise: one tier, all it finds (not its exact-name rank).
    assert listed(client, "/characters/?q=hero 00&sort=-name") == 9
    assert listed(client, "/characters/?q=hero 001&sort=-name") == 1
    # The oldest first: the known dates, then the rest (all minus the known ones).
    assert listed(client, "/characters/?sort=modified") == 30
    assert listed(client, "/characters/?image=1&sort=modified") == 15
    assert listed(client, "/characters/?image=1") == 15
    assert listed(client, "/characters/?") == 30
    # A search too long to match lists nothing, under a count of its own.
    assert listed(client, "/characters/?q=" + "x" * 300) == 0
    assert listed(client, "/characters/?q=hero") == 30


def test_the_list_shares_a_count_across_sorts_and_pages(client, heroes):
    assert listed(client, "/characters/?image=1&sort=-name") == 15
    with CaptureQueriesContext(connection) as logged:
        assert listed(client, "/characters/?image=1&sort=comics&page=1") == 15
    counts = [query["sql"] for query in logged if "count" in query["sql"].lower()]
    assert counts == []  # the filter's count, kept under the same key


def test_the_admin_keys_a_count_by_its_query_string(admin_client, heroes):
    assert changelist_count(admin_client, "character", "q=hero 00") == 9
    assert changelist_count(admin_client, "character", "q=hero 00&has_image=yes") == 5
    assert changelist_count(admin_client, "character", "q=hero 00&has_image=no") == 4
    assert changelist_count(admin_client, "character", "has_image=no") == 15
    assert changelist_count(admin_client, "character", "q=hero 00&o=-2") == 9  # ordering: same key
    # Another model's changelist with the same query string.
    assert changelist_count(admin_client, "comic", "q=hero 00") == 0
