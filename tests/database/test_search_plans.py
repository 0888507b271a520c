"""A search on MongoDB reads the name tokens' multikey index with point bounds, never a whole
collection, and once its counts are kept a page reads about its own rows whatever the size; on
SQLite a search page reads the token table's index in name order, sorting nothing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from characters.models import SERIES_ISSUES_SHOWN, CatalogueVersion, Character, Comic
from characters.search_index import MONGO_TOKEN_INDEX
from tests.support.query_plans import RECORDER, explain

pytestmark = pytest.mark.django_db

SEARCHES = ["spiderman", "spider man", "Spider-Man", "hero 0", "x men", "h"]


def make(size: int) -> None:
    names = [f"Hero {n:04d}" for n in range(size)] + ["Spider-Man", "X-Men", "Young X-Men"]
    Character.objects.bulk_create([Character(id=n + 1, name=name) for n, name in enumerate(names)])


def recorded(action) -> list[tuple[str, dict]]:
    RECORDER.recording = []
    try:
        action()
        return RECORDER.recording
    finally:
        RECORDER.recording = None


def index_scans(node, found=None) -> list[dict]:
    found = [] if found is None else found
    if isinstance(node, dict):
        if node.get("stage") in {"IXSCAN", "COUNT_SCAN"}:
            found.append(node)
        for key, value in node.items():
            if key != "rejectedPlans":
                index_scans(value, found)
    elif isinstance(node, list):
        for value in node:
            index_scans(value, found)
    return found


@pytest.mark.mongodb("query plans")
def test_a_search_is_point_bounds_of_the_token_index(client):
    make(300)
    client_ = connection.connection
    for q in SEARCHES:
        commands = recorded(lambda q=q: client.get("/characters/", {"q": q}))
        ours = [(db, c) for db, c in commands if next(iter(c.values())) == "characters_character"]
        assert ours, q
        for database, command in ours:
            assert not explain(client_, database, command).scans, (q, command)
            result = client_[database].command(
                "explain", {**command, "cursor": {}}, verbosity="queryPlanner"
            )
            scans = index_scans(result)
            assert scans, (q, command)
            for scan in scans:
                assert scan["indexName"] == MONGO_TOKEN_INDEX, (q, scan)
                if scan["stage"] == "IXSCAN":
                    bounds = scan["indexBounds"]["name_tokens"]
                    assert len(bounds) == 1, (q, bounds)
                    low, high = bounds[0].strip("[]").split(", ")
                    assert low == high, (q, bounds)  # one token: a point
                else:  # a count from the keys alone
                    start, end = scan["indexBounds"]["startKey"], scan["indexBounds"]["endKey"]
                    assert start["name_tokens"] == end["name_tokens"], (q, scan["indexBounds"])


@pytest.mark.mongodb("query plans")
def test_with_kept_counts_a_search_page_reads_its_own_rows(client, settings):
    settings.COUNT_CACHE_SECONDS = 60
    examined = {}
    for size in (150, 1500):
        Character.objects.all().delete()
        make(size)
        CatalogueVersion.bump()
        url = "/characters/?q=hero 0&page=2"
        client.get(url)  # counts kept for this version
        commands = recorded(lambda url=url: client.get(url))
        plans = [explain(connection.connection, db, command) for db, command in commands]
        examined[size] = sum(plan.docs_examined for plan in plans)
    assert examined[1500] <= examined[150] + 50, examined


@pytest.mark.mongodb("query plans")
def test_a_comic_page_reads_a_bounded_range_of_its_series(client):
    examined = {}
    for size in (100, 1000):
        Comic.objects.all().delete()
        Comic.objects.bulk_create(
            [Comic(id=n + 1, title=f"Avengers (1963) #{n + 1}") for n in range(size)]
        )
        commands = recorded(lambda: client.get("/comics/50/"))
        series = [(db, c) for db, c in commands if c.get("aggregate") == "characters_comic"]
        plans = [explain(connection.connection, db, command) for db, command in series]
        assert plans
        assert not any(plan.scans for plan in plans), [plan.command for plan in plans]
        examined[size] = sum(plan.docs_examined for plan in plans)
    # This comic by id, and one more than the issues shown: whatever the series' length.
    assert examined[1000] == examined[100] <= SERIES_ISSUES_SHOWN + 2, examined


@pytest.mark.sqlite("query plans")
@pytest.mark.parametrize("q", ["man", "spider man", "x men"])
def test_on_sqlite_a_search_page_reads_the_token_index_in_name_order(client, q):
    Character.objects.bulk_create(
        [Character(id=n + 1, name=f"Hero {n:04d} Man") for n in range(300)]
        + [Character(id=1000, name="Spider-Man"), Character(id=1001, name="X-Men")]
    )
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/characters/", {"q": q}).status_code == 200
    pages = [
        query["sql"] for query in queries if "characters_character_token t JOIN" in query["sql"]
    ]
    assert pages, q
    with connection.cursor() as cursor:
        for sql in pages:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " | ".join(row[-1] for row in cursor.fetchall())
            assert "TEMP B-TREE" not in plan, plan  # no sort of every match
            assert "characters_character_token_token" in plan, plan
