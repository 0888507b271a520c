"""A re-run skips the characters whose Marvel record has not changed (Character.marvel_digest),
on the active backend: one read per page and no writes, while every change is still picked
up and what editors own still holds (characters/ownership.py)."""

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from characters import ownership
from characters.ingest.importer import Importer, record_digest
from characters.models import Character, Comic
from characters.models import CharacterComic as Link
from characters.page_cache import read_catalogue_version
from tests.support.importer_runs import links_of, page, pages, raw_characters, reads, run, writes

__all__ = ["raw_characters"]  # the module fixture, shared

pytestmark = pytest.mark.django_db

NEW_COMIC = {"resourceURI": "http://gateway.marvel.com/v1/public/comics/999001", "name": "New #1"}


def comic_id(item):
    return int(item["resourceURI"].rsplit("/", 1)[1])


def digests():
    return dict(Character.objects.values_list("id", "marvel_digest"))


def expected_digests(batches):
    return {record.id: record_digest(record) for batch in batches for record in batch.records}


def rerun(*batches, **options):
    """Import again; the run's counters and the queries it sent."""
    importer = Importer(**options)
    with CaptureQueriesContext(connection) as queries:
        for batch in batches:
            importer.import_page(batch)
    return importer.stats, queries.captured_queries


def test_a_rerun_reads_each_page_once_and_writes_nothing(raw_characters):
    batches = pages(raw_characters[:40], 20)
    run(*batches)
    assert digests() == expected_digests(batches)  # written with the characters
    version = read_catalogue_version()
    stats, queries = rerun(*batches)
    assert (stats.characters_unchanged, stats.writes) == (40, 0)
    assert writes(queries) == []
    # Each page's characters, and once per run the ids of the comics edited here: no links,
    # no comics.
    assert len(queries) == len(reads(queries)) == len(batches) + 1
    assert read_catalogue_version() == version


@pytest.mark.parametrize(
    "change",
    ["description", "comic added", "comic removed", "comic retitled", "comic moved"],
)
def test_a_changed_record_is_picked_up(raw_characters, change):
    raw = copy.deepcopy(raw_characters[:20])
    run(page(raw))
    record = raw[4]
    items = record["comics"]["items"]
    assert len(items) >= 2
    if change == "description":
        record["description"] = "Marvel's new description."
    elif change == "comic added":
        items.append(NEW_COMIC)
    elif change == "comic removed":
        items.pop(0)
    elif change == "comic retitled":
        items[0]["name"] = "Retitled at Marvel"
    else:  # the same comic id at a new address
        items[0]["resourceURI"] = items[0]["resourceURI"].replace("http:", "https:")
    stats = run(page(raw))

    character = Character.objects.get(pk=record["id"])
    assert character.description == (record["description"] or "")
    assert links_of(record["id"]) == {comic_id(item) for item in items}
    first = Comic.objects.get(pk=comic_id(items[0]))
    assert (first.title, first.resource_uri) == (items[0]["name"], items[0]["resourceURI"])
    assert stats.characters_unchanged == 20 - stats.characters_updated
    assert stats.writes >= 1
    assert digests()[record["id"]] == expected_digests([page(raw)])[record["id"]]
    # The record is stored as it now is: the next run skips it.
    again, queries = rerun(page(raw))
    assert (again.characters_unchanged, again.writes, writes(queries)) == (20, 0, [])


def test_a_comic_retitled_at_marvel_is_picked_up_from_every_record_listing_it(raw_characters):
    raw = copy.deepcopy(raw_characters[:40])
    listing = raw[3], raw[25]  # on both pages of 20
    for record in listing:
        record["comics"]["items"].append(dict(NEW_COMIC))
    run(*pages(raw, 20))
    for record in listing:
        record["comics"]["items"][-1]["name"] = "Retitled at Marvel"
    stats = run(*pages(raw, 20))
    assert Comic.objects.get(pk=comic_id(NEW_COMIC)).title == "Retitled at Marvel"
    # One comic written; the characters' own values did not change (only their digests).
    assert (stats.comics_updated, stats.characters_updated, stats.writes) == (1, 0, 1)
    assert digests() == expected_digests(pages(raw, 20))
    assert rerun(*pages(raw, 20))[0].writes == 0


def test_characters_imported_before_digests_get_them_once(raw_characters):
    batches = pages(raw_characters[:40], 20)
    run(*batches)
    Character.objects.update(marvel_digest=None)  # as migration 0006 leaves them
    before = dict(Character.objects.values_list("id", "updated_at"))
    version = read_catalogue_version()

    dry, queries = rerun(*batches, dry_run=True)
    assert (dry.characters_unchanged, writes(queries)) == (40, [])
    assert set(digests().values()) == {None}

    stats, queries = rerun(*batches)
    # Compared in full (characters, comics, links) and the digests written, nothing else:
    # not counted as updates, no new updated_at, no new catalogue version.
    assert (stats.characters_unchanged, stats.characters_updated, stats.writes) == (40, 0, 0)
    assert len(writes(queries)) >= 1
    assert digests() == expected_digests(batches)
    assert dict(Character.objects.values_list("id", "updated_at")) == before
    assert read_catalogue_version() == version

    stats, queries = rerun(*batches)
    assert (stats.characters_unchanged, writes(queries)) == (40, [])
    assert len(reads(queries)) == len(batches) + 1


def test_local_edits_and_tombstones_still_hold_on_a_rerun(raw_characters):
    raw = copy.deepcopy(raw_characters[:20])
    run(page(raw))
    edited, deleted, listed = raw[2], raw[3], raw[5]
    character = Character.objects.get(pk=edited["id"])
    before = {"description": character.description, "comics": character.comic_ids()}
    character.description = "Ours."
    ownership.note_edits(character, before, {**before, "description": "Ours."})
    character.save()
    character.set_comic_ids(before["comics"][1:])  # a link removed here: an edit too
    ownership.note_edits(character, before, {"description": "Ours.", "comics": []})
    character.save()
    ownership.delete_characters(Character.objects.filter(pk=deleted["id"]))
    comic = Comic.objects.get(pk=comic_id(listed["comics"]["items"][0]))
    comic.title = "Our title"
    ownership.note_edits(comic, {"title": listed["comics"]["items"][0]["name"]}, {"title": "Ours"})
    comic.save()

    stats, queries = rerun(page(raw))
    assert writes(queries) == []
    # The description, the links, the tombstone, the comic's title: each held back.
    assert (stats.local_edits_kept, stats.writes) == (4, 0)
    assert Character.objects.get(pk=edited["id"]).description == "Ours."
    assert links_of(edited["id"]) == set(before["comics"][1:])
    assert not Character.objects.filter(pk=deleted["id"]).exists()
    assert Comic.objects.get(pk=comic.pk).title == "Our title"

    overwritten, _ = rerun(page(raw), overwrite_local_edits=True)
    assert overwritten.local_edits_overwritten == 3
    assert Character.objects.get(pk=edited["id"]).description == (edited["description"] or "")
    assert links_of(edited["id"]) == set(before["comics"])
    assert Character.objects.filter(pk=deleted["id"]).exists()
    assert Comic.objects.get(pk=comic.pk).title == listed["comics"]["items"][0]["name"]
    assert digests() == expected_digests([page(raw)])
    assert rerun(page(raw))[0].writes == 0


def test_a_row_changed_behind_the_admins_back_is_repaired_by_an_overwrite(raw_characters):
    raw = copy.deepcopy(raw_characters[:20])
    run(page(raw))
    target = raw[7]
    Character.objects.filter(pk=target["id"]).update(name="Changed in a shell")
    Link.objects.filter(character_id=target["id"]).delete()
    # Its record has not changed and nothing is noted as edited here: a re-run trusts the
    # digest and reads nothing more (the point), ...
    stats, queries = rerun(page(raw))
    assert (stats.writes, writes(queries)) == (0, [])
    assert Character.objects.get(pk=target["id"]).name == "Changed in a shell"
    # ... and --overwrite-local-edits compares every character in full.
    repaired, _ = rerun(page(raw), overwrite_local_edits=True)
    assert (repaired.characters_updated, repaired.links_created) == (
        1,
        len(target["comics"]["items"]),
    )
    assert Character.objects.get(pk=target["id"]).name == target["name"]


def test_without_transactions_digests_are_not_trusted(raw_characters, monkeypatch):
    # A standalone mongod has no transactions: a page killed after writing its characters
    # leaves their digests over missing links. There a re-run compares every character in
    # full and repairs them, as before digests.
    raw = raw_characters[:20]
    run(page(raw))
    target = next(record for record in raw if record["comics"]["items"])
    Link.objects.filter(character_id=target["id"]).delete()  # as a page killed mid-write
    monkeypatch.setattr("characters.ingest.importer.has_transactions", lambda using: False)
    stats, _ = rerun(page(raw))
    assert stats.links_created == len(target["comics"]["items"]) > 0
    assert sorted(links_of(target["id"])) == sorted(comic_id(c) for c in target["comics"]["items"])
