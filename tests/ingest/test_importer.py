"""The importer on the active backend (SQLite, or the MongoDB replica set at MONGODB_URI)."""

import copy
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.db.models.query import QuerySet
from django.test.utils import CaptureQueriesContext

from characters.ingest import importer as importer_module
from characters.ingest.importer import Importer
from characters.models import Character, Comic
from characters.models import CharacterComic as Link
from tests.support.importer_runs import links_of, page, pages, raw_characters, reads, run, writes

__all__ = ["raw_characters"]  # the module fixture

pytestmark = pytest.mark.django_db


def test_import_creates_characters_comics_and_links(raw_characters):
    raw = raw_characters[:40]
    stats = run(*pages(raw, 20))
    comic_ids = {int(i["resourceURI"].rsplit("/", 1)[1]) for r in raw for i in r["comics"]["items"]}
    link_count = sum(len(r["comics"]["items"]) for r in raw)
    assert (stats.characters_created, stats.comics_created, stats.links_created) == (
        40,
        len(comic_ids),
        link_count,
    )
    assert stats.pages == 2
    assert Character.objects.count() == 40
    assert Comic.objects.count() == len(comic_ids)
    assert Link.objects.count() == link_count
    man = Character.objects.get(id=1011334)
    assert man.name == "3-D Man"
    assert man.thumbnail_extension == "jpg"
    assert man.modified.isoformat() == "2014-04-29T18:18:17+00:00"
    assert man.comics_available == 12
    assert man.urls[0]["type"] == "detail"
    assert 21366 in links_of(man.id)
    assert Comic.objects.get(id=21366).title == "Avengers: The Initiative (2007) #14"


def test_the_same_input_twice_writes_nothing(raw_characters):
    batches = pages(raw_characters[:40], 20)
    run(*batches)
    before = dict(Character.objects.values_list("id", "updated_at"))
    with CaptureQueriesContext(connection) as queries:
        stats = run(*batches)
    assert stats.characters_unchanged == 40
    assert stats.writes == 0
    assert writes(queries.captured_queries) == []
    # Per page: characters, comics, links at most; nothing else (no transaction either).
    assert len(reads(queries.captured_queries)) == len(queries.captured_queries) <= 3 * 2
    assert dict(Character.objects.values_list("id", "updated_at")) == before


def test_a_changed_record_is_updated(raw_characters):
    raw = copy.deepcopy(raw_characters[:5])
    run(page(raw))
    created = Character.objects.get(id=raw[0]["id"])
    raw[0]["name"] = "Renamed"
    raw[0]["modified"] = "2020-01-02T03:04:05-0500"
    raw[1]["description"] = "Changed text, same modified date"
    raw[2]["urls"] = [{"type": "wiki", "url": "http://marvel.com/universe/Changed"}]
    raw[2]["thumbnail"] = None
    raw[2]["comics"]["available"] = 999
    stats = run(page(raw))
    assert (stats.characters_updated, stats.characters_unchanged) == (3, 2)
    assert stats.writes == 3
    changed = Character.objects.get(id=raw[0]["id"])
    assert changed.name == "Renamed"
    assert changed.modified.isoformat() == "2020-01-02T08:04:05+00:00"
    assert changed.created_at == created.created_at
    assert changed.updated_at > created.updated_at
    assert Character.objects.get(id=raw[1]["id"]).description.startswith("Changed text")
    third = Character.objects.get(id=raw[2]["id"])
    assert third.urls == raw[2]["urls"]
    assert (third.thumbnail_path, third.thumbnail_extension) == ("", "")
    assert third.comics_available == 999
    assert Character.objects.get(id=raw[3]["id"]).urls == raw[3]["urls"]  # others untouched
    assert run(page(raw)).writes == 0


def test_links_follow_the_latest_input(raw_characters):
    raw = copy.deepcopy(raw_characters[:1])
    run(page(raw))
    items = raw[0]["comics"]["items"]
    gone = int(items.pop(0)["resourceURI"].rsplit("/", 1)[1])
    new_uri = "http://gateway.marvel.com/v1/public/comics/999001"
    items.append({"resourceURI": new_uri, "name": "New #1"})
    stats = run(page(raw))
    assert (stats.links_deleted, stats.links_created, stats.comics_created) == (1, 1, 1)
    wanted = {int(i["resourceURI"].rsplit("/", 1)[1]) for i in items}
    assert links_of(raw[0]["id"]) == wanted
    assert gone not in wanted
    assert Comic.objects.filter(id=gone).exists()  # the comic stays; only the link went
    raw[0]["comics"]["items"] = []
    assert run(page(raw)).links_deleted == len(wanted)
    assert links_of(raw[0]["id"]) == set()


def test_a_comic_title_change_updates_the_comic(raw_characters):
    raw = copy.deepcopy(raw_characters[:1])
    run(page(raw))
    raw[0]["comics"]["items"][0]["name"] = "Retitled"
    stats = run(page(raw))
    assert (stats.comics_updated, stats.characters_unchanged, stats.writes) == (1, 1, 1)
    assert Comic.objects.get(id=21366).title == "Retitled"


def test_malformed_records_are_skipped_and_the_rest_imported(raw_characters):
    raw = [raw_characters[0], {"id": 5}, {"name": "no id"}, raw_characters[1]]
    stats = run(page(raw))
    assert (stats.characters_created, stats.characters_skipped) == (2, 2)
    assert Character.objects.count() == 2


def test_the_last_duplicate_in_a_page_wins(raw_characters):
    first = copy.deepcopy(raw_characters[0])
    second = {**copy.deepcopy(first), "name": "Second"}
    stats = run(page([first, second]))
    assert stats.characters_created == 1
    assert Character.objects.get(id=first["id"]).name == "Second"


def test_a_dry_run_counts_what_would_change_and_writes_nothing(raw_characters):
    raw = raw_characters[:40]
    with CaptureQueriesContext(connection) as queries:
        dry = run(*pages(raw, 10), dry_run=True)
    assert writes(queries.captured_queries) == []
    assert Character.objects.count() == Comic.objects.count() == Link.objects.count() == 0
    real = run(*pages(raw, 10))
    # Comics shared by pages are counted once, as the real run creates them once.
    assert dry == real
    changed = copy.deepcopy(raw)
    changed[3]["name"] = "Changed"
    dry = run(*pages(changed, 10), dry_run=True)
    assert (dry.characters_updated, dry.characters_unchanged, dry.writes) == (1, 39, 1)
    assert Character.objects.get(id=raw[3]["id"]).name == raw[3]["name"]


def test_round_trips_grow_with_pages_not_records(raw_characters):
    with CaptureQueriesContext(connection) as small:
        run(page(raw_characters[:5]))
    with CaptureQueriesContext(connection) as large:
        run(page(raw_characters[100:200]))
    # One page of 100 records (about 1,000 comics and links) costs a handful of queries
    # more at most (the backend's own batch-size limits), not 20x.
    assert len(large.captured_queries) <= len(small.captured_queries) + 10
    with CaptureQueriesContext(connection) as full:
        stats = run(*pages(raw_characters[200:600], 100))
    assert stats.characters_created == 400
    assert len(full.captured_queries) <= 4 * len(large.captured_queries)


def test_a_failed_page_leaves_nothing_and_a_rerun_completes_it(raw_characters, monkeypatch):
    batches = pages(raw_characters[:30], 10)
    original = QuerySet.bulk_create
    calls = {"links": 0}

    def failing_bulk_create(self, objs, *args, **kwargs):
        if self.model is Link:
            calls["links"] += 1
            if calls["links"] == 2:  # the second page's links
                raise DatabaseError("disk full")
        return original(self, objs, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "bulk_create", failing_bulk_create)
    importer = Importer()
    importer.import_page(batches[0])
    with pytest.raises(DatabaseError):
        importer.import_page(batches[1])
    monkeypatch.undo()

    # The failed page was rolled back whole (a MongoDB transaction on the replica set): its
    # comics and characters had been written before its links failed.
    first = batches[0].records
    assert set(Character.objects.values_list("id", flat=True)) == {r.id for r in first}
    first_comics = {c.id for r in first for c in r.comics}
    assert set(Comic.objects.values_list("id", flat=True)) == first_comics
    assert all(links_of(r.id) == {c.id for c in r.comics} for r in first)
    assert Link.objects.count() == sum(len(r.comics) for r in first)
    # A re-run from the failed page (seed_marvel --offset 10) writes it whole.
    stats = run(*batches[1:])
    assert Character.objects.count() == 30
    for record in batches[1].records + batches[2].records:
        assert links_of(record.id) == {c.id for c in record.comics}
    assert stats.characters_created == 20
    assert stats.links_created == sum(len(r.comics) for b in batches[1:] for r in b.records)
    assert run(*batches).writes == 0


def test_local_characters_are_left_alone(raw_characters):
    local = Character.objects.create(name="Made here")
    assert local.id >= 1_000_000_000
    run(page(raw_characters[:3]))
    local.refresh_from_db()
    assert local.name == "Made here"
    assert Character.objects.count() == 4


def test_updated_rows_get_a_new_updated_at(raw_characters):
    raw = copy.deepcopy(raw_characters[:1])
    run(page(raw))
    old = Character.objects.get(id=raw[0]["id"]).updated_at
    Character.objects.filter(id=raw[0]["id"]).update(updated_at=old - timedelta(days=1))
    raw[0]["description"] = "New"
    run(page(raw))
    assert Character.objects.get(id=raw[0]["id"]).updated_at > old - timedelta(seconds=1)


def test_parsing_limits_match_the_models():
    """records.py repeats a few model facts (to stay free of Django): keep them in step."""
    from characters import models
    from characters.ingest import records

    assert records.LOCAL_ID_START == models.LOCAL_ID_START
    assert Character._meta.get_field("name").max_length == records.NAME_MAX
    assert Comic._meta.get_field("title").max_length == records.TITLE_MAX
    assert Character._meta.get_field("thumbnail_extension").max_length == records.EXTENSION_MAX
    for field in ("thumbnail_path", "resource_uri"):
        assert Character._meta.get_field(field).max_length == records.URL_MAX
    assert Comic._meta.get_field("resource_uri").max_length == records.URL_MAX


def test_comics_seen_on_an_earlier_page_are_not_read_again(raw_characters):
    first = copy.deepcopy(raw_characters[0])
    twin = {**copy.deepcopy(first), "id": 1, "name": "Twin"}  # the same comics
    run(page([first]), page([twin]))
    twin["comics"]["items"][0]["name"] = "Retitled on a later page"
    first["description"] = "Changed: compared in full, so its comics are read"
    importer = Importer()
    importer.import_page(page([first]))
    with CaptureQueriesContext(connection) as queries:
        result = importer.import_page(page([twin], 1))
    # Characters and links: no comics read; then, in the write transaction, the versions of
    # the character and the comic written (conditional writes).
    assert len(reads(queries.captured_queries)) == 2 + 2
    assert (result.comics_updated, result.characters_unchanged) == (1, 1)
    assert Comic.objects.get(id=21366).title == "Retitled on a later page"


def test_an_import_remembers_the_most_recently_seen_comics_only(raw_characters, monkeypatch):
    monkeypatch.setattr(importer_module, "KNOWN_COMICS", 25)
    listing = [c for c in raw_characters if len(c["comics"]["items"]) == 20][:3]
    importer = Importer()
    for offset, character in enumerate(listing):
        importer.import_page(page([character], offset))
    comic_ids = [
        [int(item["resourceURI"].rsplit("/", 1)[1]) for item in c["comics"]["items"]]
        for c in listing
    ]
    known = list(importer._known_comics)
    assert len(known) == 25  # memory bounded, whatever the catalogue
    assert set(known) >= set(comic_ids[2])  # the latest page's comics are all kept
    # The first page's comics are read again when a later page lists them (one changed, so
    # compared in full).
    changed = {**listing[0], "description": "Changed"}
    with CaptureQueriesContext(connection) as queries:
        again = importer.import_page(page([changed], 0))
    assert len(reads(queries.captured_queries)) == 3 + 1  # and the character's version check
    assert (again.writes, again.characters_updated, again.comics_updated) == (1, 1, 0)
