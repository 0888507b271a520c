"""The import plan on its own: Stored built by hand, no database (these tests have no
django_db mark, so any query would fail them)."""

from datetime import UTC, datetime, timedelta, timezone

from characters.ingest.plan import (
    CHARACTER_FIELDS,
    DELETED_HERE,
    KeptLocal,
    Policy,
    Restored,
    RowState,
    Stored,
    StoredCharacter,
    StoredComic,
    character_row,
    plan,
    record_digest,
)
from characters.ingest.records import CharacterRecord, ComicRef, to_milliseconds
from characters.models import Character, Comic

NOW = datetime(2026, 12, 4, 17, 0, 0, 123456, tzinfo=UTC)
HULK = CharacterRecord(
    id=1009351,
    name="Hulk",
    description="Green.",
    modified=datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC),
    comics=(ComicRef(1, "Hulk #1", "http://m/comics/1"), ComicRef(2, "Hulk #2")),
)
THOR = CharacterRecord(id=1009664, name="Thor", comics=(ComicRef(2, "Hulk #2"),))
KEEP = Policy(overwrite_local_edits=False)
OVERWRITE = Policy(overwrite_local_edits=True)


def stored_as(record, *, version=1, local_edits=None, digest=None, **values):
    """A character stored as an import of `record` leaves it, but for `values`."""
    row = character_row(record, NOW)
    return StoredCharacter(
        version=version,
        local_edits=local_edits,
        marvel_digest=record_digest(record) if digest is None else digest,
        values={name: getattr(row, name) for name in CHARACTER_FIELDS} | values,
    )


def comics_of(record, version=1):
    return {c.id: StoredComic(c.title, c.resource_uri, None, version) for c in record.comics}


def links_of(record):
    return {record.id: {comic.id: f"link-{comic.id}" for comic in record.comics}}


def test_a_new_character_plans_its_row_comics_and_links():
    done = plan([HULK], Stored(NOW, {}), KEEP)
    assert [row.id for row in done.characters_new] == [HULK.id]
    assert done.characters_new[0].marvel_digest == record_digest(HULK)
    assert [(row.id, row.title) for row in done.comics_new] == [(1, "Hulk #1"), (2, "Hulk #2")]
    assert done.links_new == [(HULK.id, 1), (HULK.id, 2)]
    assert done.comics == {
        1: StoredComic("Hulk #1", "http://m/comics/1", None, 1),
        2: StoredComic("Hulk #2", "", None, 1),
    }
    counts = done.counts()
    assert (counts.characters_created, counts.comics_created, counts.links_created) == (1, 2, 2)
    assert counts.writes == 5
    assert done.has_writes


def test_a_character_stored_with_its_digest_is_not_compared():
    stored = Stored(NOW, {HULK.id: stored_as(HULK, description="changed behind our back")})
    done = plan([HULK], stored, KEEP)
    assert done.characters_unchanged == [HULK.id]
    assert not done.has_writes
    assert not done.digests
    assert not done.comics
    # Without trusting digests (no transactions) it is compared in full, and repaired.
    untrusted = Policy(trust_digests=False)
    full = Stored(NOW, stored.characters, comics=comics_of(HULK), links=links_of(HULK))
    repaired = plan([HULK], full, untrusted)
    assert [row.description for row in repaired.characters_changed] == ["Green."]
    assert repaired.character_fields == ["description"]
    assert repaired.character_versions == {HULK.id: 1}
    assert repaired.characters_changed[0].version == 2


def test_an_unchanged_character_compared_in_full_writes_nothing():
    stored = Stored(
        NOW,
        {HULK.id: stored_as(HULK)},
        comics=comics_of(HULK),
        links=links_of(HULK),
    )
    done = plan([HULK], stored, Policy(trust_digests=False))
    assert done.characters_unchanged == [HULK.id]
    assert not done.has_writes
    assert not done.digests
    assert done.counts().characters_unchanged == 1


def test_changed_links_are_a_new_version_of_the_character():
    fewer = CharacterRecord(id=HULK.id, name="Hulk", comics=HULK.comics[1:])
    stored = Stored(
        NOW,
        {HULK.id: stored_as(fewer, version=4, digest="old", description="Green.")},
        comics=comics_of(HULK),
        links={HULK.id: {1: "link-1"}},
    )
    more = CharacterRecord(id=HULK.id, name="Hulk", description="Green.", comics=HULK.comics)
    done = plan([more], stored, KEEP)
    assert done.links_new == [(HULK.id, 2)]
    assert done.links_gone == []
    assert not done.characters_changed
    assert list(done.digests) == [HULK.id]
    assert (done.digests[HULK.id].version, done.character_versions) == (5, {HULK.id: 4})
    assert done.written() == {
        Character: {HULK.id: RowState(5, None, record_digest(more))},
        Comic: {},
    }


def test_an_edit_here_is_kept_and_marvels_value_noted():
    edits = {"description": "Green."}
    stored = Stored(
        NOW,
        {HULK.id: stored_as(HULK, version=2, local_edits=edits, description="Local text")},
        comics=comics_of(HULK),
        links=links_of(HULK),
    )
    newer = CharacterRecord(**{**_fields(HULK), "description": "Marvel's newer text"})
    done = plan([newer], stored, KEEP)
    (row,) = done.characters_changed
    assert (row.description, row.local_edits) == ("Local text", {"description": newer.description})
    assert done.kept_local == [KeptLocal(Character, HULK.id, "description")]
    assert done.character_fields == ["local_edits", "marvel_digest"]
    assert (done.counts().local_edits_kept, done.counts().characters_updated) == (1, 1)

    overwritten = plan([newer], stored, OVERWRITE)
    (row,) = overwritten.characters_changed
    assert (row.description, row.local_edits) == (newer.description, None)
    assert overwritten.restored == [Restored(Character, HULK.id, "Hulk", ["description"])]
    assert overwritten.counts().local_edits_overwritten == 1
    assert overwritten.kept_local == []


def test_a_comic_edited_here_is_compared_whoever_lists_it():
    edited = StoredComic("Local title", "http://m/comics/1", {"title": "Hulk #1"}, 3)
    retitled = CharacterRecord(
        **{**_fields(HULK), "comics": (ComicRef(1, "Hulk #1 (new)", "http://m/comics/1"),)}
    )
    stored = Stored(
        NOW,
        {HULK.id: stored_as(retitled)},  # as stored: its comics are not compared...
        comics={1: edited},
        edited_comics=frozenset({1}),
    )
    done = plan([retitled], stored, KEEP)
    assert done.characters_unchanged == [HULK.id]
    # ... but for the one edited here, whose newer Marvel title is noted and held back.
    (row,) = done.comics_changed
    assert (row.title, row.local_edits, row.version) == (
        "Local title",
        {"title": "Hulk #1 (new)"},
        4,
    )
    assert done.comic_versions == {1: 3}
    assert done.kept_local == [KeptLocal(Comic, 1, "title")]


def test_a_character_deleted_here_stays_deleted_unless_overwriting():
    stored = Stored(NOW, {}, deleted_here=frozenset({THOR.id}))
    done = plan([THOR], stored, KEEP)
    assert done.characters_unchanged == [THOR.id]
    assert done.kept_local == [KeptLocal(Character, THOR.id, DELETED_HERE)]
    assert not done.characters_new
    assert not done.links_new

    restored = plan([THOR], stored, OVERWRITE)
    assert [row.id for row in restored.characters_new] == [THOR.id]
    assert restored.tombstones_lifted == [THOR.id]
    assert restored.restored == [Restored(Character, THOR.id, "Thor", [DELETED_HERE], True)]
    assert restored.counts().local_edits_overwritten == 1


def test_the_rows_a_plan_writes_carry_its_read_time_at_stored_precision():
    done = plan([THOR], Stored(NOW, {}), KEEP)
    written = done.written()
    assert written[Character][THOR.id] == RowState(1, to_milliseconds(NOW), record_digest(THOR))
    assert written[Comic][2].updated_at.microsecond == 123000


def test_one_millisecond_rounding_for_naive_and_aware_datetimes():
    naive = datetime(2026, 1, 1, 12, 0, 0, 999999)
    assert to_milliseconds(naive) == datetime(2026, 1, 1, 12, 0, 0, 999000, tzinfo=UTC)
    paris = datetime(2026, 1, 1, 13, 0, 0, 1500, tzinfo=timezone(timedelta(hours=1)))
    assert to_milliseconds(paris) == datetime(2026, 1, 1, 12, 0, 0, 1000, tzinfo=UTC)
    assert to_milliseconds(None) is None


def _fields(record):
    return {name: getattr(record, name) for name in record.__dataclass_fields__}
