"""Every query a page, the admin or one seed_marvel page sends is served by an index on MongoDB.

The commands are recorded as they are sent (pymongo command monitoring) and explained against
the real server. No stage may scan a whole collection, and the documents examined must not grow
with the catalogue: the same URLs are measured on a catalogue and on one ten times its size.
MongoDB only: SQLite plans its own queries (tests/site/test_views_queries.py bounds their number).
"""

import datetime as dt
import gzip
import json
from functools import partial

import pytest

from characters import ownership
from characters.ingest.importer import Importer
from characters.ingest.lock import import_lock
from characters.ingest.recordings import BUNDLED_DATASET
from characters.ingest.records import ParsedPage, parse_results
from characters.models import Character, Comic, DeletedCharacter, ImportLock
from tests.support.page_data import IMAGE_PATH
from tests.support.query_plans import (
    MOST_DOCS_PER_PAGE,
    SIZES,
    assert_index_served,
    docs_examined,
    make_catalogue,
    plans_of,
    with_plans,
)

pytestmark = [pytest.mark.django_db, pytest.mark.mongodb("query plans")]

FEATURED = "1,2,3,4,5,6"
# What still grows, and why (docs/development.md, "Query plans"): checked for scans, not flatness.
GROWS = {
    "/characters/?image=1": "its count fetches every candidate: a negated regex ($nor) "
    "cannot be answered from the thumbnail_path index's keys alone",
    "/admin/characters/character/?q=5": "a search by name or id counts every match (an $or "
    "of two indexes fetches each match to merge them)",
    # Every name here is "Hero ...": these searches match them all. A search's counts (one
    # per rank) fetch each match to leave out the higher ranks; they are kept per catalogue
    # version, so a page re-reads only its window (tests/database/test_search_plans.py).
    **{
        url: "a search's rank counts fetch each match (kept per catalogue version)"
        for url in (
            "/characters/?q=hero 0",
            "/characters/?q=hero 0&page=2",
            "/characters/?q=hero",
            "/characters/?q=h",
            "/characters/?q=hero 0&sort=-comics",
            # The admin's search is the public one's filter, unranked: an $or of a name
            # prefix and the words, whose matches are merged (fetched) before the sort.
            "/admin/characters/character/?q=hero 0",
        )
    },
}
URLS = [
    "/",
    f"/?ids={FEATURED}&reload=3",
    f"/featured/card/?ids={FEATURED}&reload=3",
    "/characters/",
    "/characters/?page=2",
    "/characters/?page=last",
    "/characters/?q=hero 0",
    "/characters/?q=hero 0&page=2",
    "/characters/?q=hero",
    "/characters/?q=h",
    "/characters/?q=hero 0&sort=-comics",
    "/characters/?image=1",
    *(f"/characters/?sort={sort}&page=2" for sort in ("-name", "modified", "-modified")),
    *(f"/characters/?sort={sort}&page=last" for sort in ("-name", "modified")),
    *(f"/characters/?sort={sort}" for sort in ("comics", "-comics")),
    "/characters/5/hero-0005/",
    "/comics/100002/",
    "/admin/characters/character/",
    "/admin/characters/character/?q=hero 0",
    "/admin/characters/character/?q=5",
    "/admin/characters/character/?p=2",
    "/admin/characters/character/5/change/",
    "/admin/characters/comic/",
    "/admin/characters/comic/?q=comic 00",
    "/admin/characters/comic/100002/change/",
    "/admin/characters/deletedcharacter/",
    "/admin/characters/deletedcharacter/?q=hero 0",
]


@pytest.fixture
def measure(admin_client):
    def measure_all(size):
        make_catalogue(size)
        examined = {}
        for url in URLS:
            shown = url.replace("page=last", f"page={size // 24}")
            response, plans = with_plans(partial(admin_client.get, shown))
            assert response.status_code == 200, url
            assert_index_served(url, plans)
            examined[url] = docs_examined(plans)
        return examined

    return measure_all


def test_pages_and_admin_are_index_served_and_flat(measure, django_db_blocker):
    small = measure(SIZES[0])
    Character.objects.all().delete()
    Comic.objects.all().delete()
    Character.comics.through.objects.all().delete()
    large = measure(SIZES[1])
    for url in (url for url in URLS if url not in GROWS):
        assert large[url] <= MOST_DOCS_PER_PAGE, (url, large[url])
        # Ten times the catalogue, about the same work: not more than the page's own rows.
        assert large[url] <= small[url] + 50, (url, small[url], large[url])


def test_a_page_costs_its_distance_to_the_nearer_end(client):
    """A deep page is read from the end (IndexedQuerySet.window with the count): the last
    pages examine about as many index keys as the first, the middle one the most."""
    make_catalogue(SIZES[1])
    pages = SIZES[1] // 24 + 1

    def keys(page):
        response, plans = with_plans(partial(client.get, f"/characters/?page={page}"))
        assert response.status_code == 200
        windows = [  # the page's rows, not its count
            plan
            for plan in plans
            if plan.collection == "characters_character"
            and any("$sort" in stage for stage in plan.command.get("pipeline", []))
        ]
        assert len(windows) == 1, [plan.command for plan in plans]
        return windows[0].keys_examined

    first, middle, last = keys(1), keys(pages // 2), keys(pages)
    assert keys(pages - 1) <= first + 24, (first, keys(pages - 1))
    assert last <= first + 24, (first, last)
    assert middle > 10 * first, (first, middle)


@pytest.fixture(scope="module")
def seed_page():
    raw = json.loads(gzip.decompress(BUNDLED_DATASET.read_bytes()))["data"]["results"]
    records, skipped = parse_results(raw[:100], 0)
    return ParsedPage(0, records, skipped)


@pytest.mark.parametrize("size", SIZES)
def test_a_seed_page_is_index_served_and_flat(size, seed_page):
    make_catalogue(size)
    importer = Importer()
    first = plans_of(lambda: importer.import_page(seed_page))
    again = plans_of(lambda: Importer().import_page(seed_page))
    assert_index_served("first import", first)
    assert_index_served("no-change re-run", again)
    # Reads for 100 records and their comics and links, whatever is already stored.
    links = sum(len(record.comics) for record in seed_page.records)
    assert docs_examined(first) <= 2 * (100 + links)
    # A no-change re-run reads the page's characters and, once per run, the ids of the comics
    # edited here (none: index keys only); none of their links or comics.
    read = sorted(plan.collection for plan in again)
    assert read == ["characters_character", "characters_comic"], read
    assert docs_examined(again) <= 100


@pytest.mark.parametrize("size", SIZES)
def test_a_seed_page_over_local_edits_is_index_served_and_flat(size, seed_page):
    # Edited characters and comics, tombstones: kept by a re-run, given back by an overwrite.
    make_catalogue(size)
    Importer().import_page(seed_page)
    ids = [record.id for record in seed_page.records]
    Character.objects.filter(id__in=ids[:10]).update(local_edits={"description": "Marvel's"})
    comic_id = seed_page.records[0].comics[0].id
    Comic.objects.filter(id=comic_id).update(title="Ours", local_edits={"title": "Marvel's"})
    ownership.delete_characters(Character.objects.filter(id__in=ids[10:15]))
    Character.objects.filter(id__in=ids[15:20]).update(marvel_digest=None)  # before digests
    links = sum(len(record.comics) for record in seed_page.records)
    for label, importer in (
        ("a re-run keeping local edits", Importer()),
        ("an overwrite", Importer(overwrite_local_edits=True)),
    ):
        plans = plans_of(lambda importer=importer: importer.import_page(seed_page))
        assert_index_served(label, plans)
        assert docs_examined(plans) <= 2 * (100 + links), label
    assert not DeletedCharacter.objects.filter(id__in=ids).exists()


def test_the_catalogue_version_is_index_served(admin_client, settings):
    settings.PAGE_CACHE_SECONDS = 60
    make_catalogue(SIZES[0])
    character = Character.objects.get(pk=5)
    bump = plans_of(character.save)  # the save, and the version bump its signal makes
    assert any(plan.collection == "characters_catalogueversion" for plan in bump)
    assert_index_served("a save", bump)
    read = plans_of(lambda: admin_client.get("/characters/5/hero-0005/"))
    assert any(plan.collection == "characters_catalogueversion" for plan in read)
    assert_index_served("a cached page", read)


@pytest.mark.parametrize("size", SIZES)
def test_admin_adds_are_index_served_and_flat(size, admin_client):
    # A local id is the highest local id + 1: one key read from the id index, whatever the size.
    make_catalogue(size)
    Character.objects.bulk_create(
        [Character(id=1_000_000_000 + n, name=f"L{n}") for n in range(size)]
    )
    for url, form in (
        ("/admin/characters/character/add/", {"name": "Added", "urls": "[]"}),
        ("/admin/characters/comic/add/", {"title": "Added"}),
    ):
        response = None

        def post(url=url, form=form):
            nonlocal response
            response = admin_client.post(url, form)

        plans = plans_of(post)
        assert response.status_code == 302, url
        assert_index_served(url, plans)
        ours = [plan for plan in plans if plan.collection.startswith("characters_")]
        assert docs_examined(ours) <= 5, (url, [plan.command for plan in ours])


@pytest.mark.parametrize("size", SIZES)
def test_admin_ownership_actions_are_index_served_and_flat(size, admin_client):
    # Editing, resetting, deleting (a tombstone) and lifting a tombstone: each reads and writes
    # the rows it names through an index, whatever the size.
    make_catalogue(size)
    edit = {"name": "Hero 0005", "description": "Edited", "comics": ["100003"], "urls": "[]"}
    edit |= {"thumbnail_path": IMAGE_PATH, "thumbnail_extension": "jpg"}
    steps = [
        ("edit", "/admin/characters/character/5/change/", edit),
        (
            "reset",
            "/admin/characters/character/",
            {"action": "reset_to_marvel", "_selected_action": ["5", "6"]},
        ),
        ("delete", "/admin/characters/character/7/delete/", {"post": "yes"}),
        (
            "lift",
            "/admin/characters/deletedcharacter/",
            {"action": "let_imports_recreate", "_selected_action": ["7"]},
        ),
    ]
    for label, url, form in steps:
        response = None

        def post(url=url, form=form):
            nonlocal response
            response = admin_client.post(url, form)

        plans = plans_of(post)
        assert response.status_code == 302, (label, response.content.decode()[:2000])
        assert_index_served(label, plans)
        ours = [plan for plan in plans if plan.collection.startswith("characters_")]
        # An action's POST reads the list page it was sent from first (bounded by the page).
        assert docs_examined(ours) <= MOST_DOCS_PER_PAGE, (label, docs_examined(ours))
    assert Character.objects.get(pk=5).local_edits is None
    assert not DeletedCharacter.objects.filter(pk=7).exists()


def test_the_import_lock_is_index_served():
    # Taken, beaten, taken over from a stopped import, released: each by the id index.
    def take_and_take_over():
        with import_lock(wait=0, heartbeat_seconds=0.01) as held:
            # Another import's lock, stopped long ago (its own token: else this one's
            # heartbeat, every 10 ms, could refresh it before the take-over looks).
            ImportLock.objects.filter(id=1).update(
                token="a-stopped-import",
                host="elsewhere",
                heartbeat_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
            )
            with import_lock(wait=0):  # a stale lock: taken over, else ImportRunning
                pass
            assert held.token

    plans = plans_of(take_and_take_over)
    assert any(plan.collection == "characters_importlock" for plan in plans)
    assert_index_served("the import lock", plans)
