"""Parsing and validation of raw Marvel objects (no database)."""

import json
from datetime import UTC, datetime

import pytest

from characters.ingest.records import (
    LOCAL_ID_START,
    InvalidEnvelope,
    InvalidRecord,
    comic_id_from_uri,
    is_unknown_date,
    parse_character,
    parse_envelope,
    parse_modified,
    parse_results,
)
from tests.support.marvel_data import SHARED_MARVEL, require_shared, shared_files

RAW = {
    "id": 1011334,
    "name": "3-D Man",
    "description": "",
    "modified": "2014-04-29T14:18:17-0400",
    "thumbnail": {
        "path": "http://i.annihil.us/u/prod/marvel/i/mg/c/e0/535fecbbb9784",
        "extension": "jpg",
    },
    "resourceURI": "http://gateway.marvel.com/v1/public/characters/1011334",
    "comics": {
        "available": 12,
        "collectionURI": "http://gateway.marvel.com/v1/public/characters/1011334/comics",
        "items": [
            {
                "resourceURI": "http://gateway.marvel.com/v1/public/comics/21366",
                "name": "Avengers: The Initiative (2007) #14",
            },
            {
                "resourceURI": "http://gateway.marvel.com/v1/public/comics/24571",
                "name": "Avengers: The Initiative (2007) #14 (SPOTLIGHT VARIANT)",
            },
        ],
        "returned": 2,
    },
    "urls": [{"type": "detail", "url": "http://marvel.com/comics/characters/1011334/3-d_man"}],
}


def raw(**changes):
    data = json.loads(json.dumps(RAW))
    data.update(changes)
    return data


def test_a_full_character_becomes_a_typed_record():
    record = parse_character(RAW)
    assert record.id == 1011334
    assert record.name == "3-D Man"
    assert record.modified == datetime(2014, 4, 29, 18, 18, 17, tzinfo=UTC)
    assert record.thumbnail_extension == "jpg"
    assert record.comics_available == 12
    assert [c.id for c in record.comics] == [21366, 24571]
    assert record.comics[1].title.endswith("(SPOTLIGHT VARIANT)")
    assert record.urls_json() == RAW["urls"]
    assert record.warnings == ()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"id": None}, "missing id"),
        ({"id": "abc"}, "id must be an integer"),
        ({"id": True}, "id must be an integer"),
        ({"id": -5}, "id must be positive"),
        ({"id": LOCAL_ID_START}, "local id range"),
        ({"name": None}, "missing name"),
        ({"name": 42}, "name must be a string"),
        ({"name": "   "}, "empty name"),
        ({"name": "x" * 201}, "longer than 200"),
        ({"description": ["not", "text"]}, "description must be a string"),
        ({"thumbnail": "a.jpg"}, "thumbnail must be an object"),
        ({"comics": []}, "comics must be an object"),
        ({"comics": {"available": -1, "items": []}}, "non-negative"),
        ({"urls": "http://x"}, "urls must be a list"),
    ],
)
def test_malformed_characters_are_rejected_with_a_reason(changes, reason):
    with pytest.raises(InvalidRecord, match=reason):
        parse_character(raw(**changes))


def test_missing_id_key_and_non_objects_are_rejected():
    without_id = raw()
    del without_id["id"]
    with pytest.raises(InvalidRecord, match="missing id"):
        parse_character(without_id)
    with pytest.raises(InvalidRecord, match="JSON object"):
        parse_character(["not", "a", "dict"])


def test_optional_parts_may_be_missing_or_null():
    record = parse_character({"id": 7, "name": "Minimal", "description": None, "thumbnail": None})
    assert (record.description, record.thumbnail_path) == ("", "")
    assert (record.comics, record.urls) == ((), ())
    assert record.modified is None
    assert record.comics_available == 0


def test_a_bad_comic_item_is_dropped_with_a_warning_and_duplicates_collapse():
    items = [
        {"resourceURI": "http://gateway.marvel.com/v1/public/comics/1", "name": "One"},
        {"resourceURI": "http://gateway.marvel.com/v1/public/comics/", "name": "No id"},
        {"resourceURI": "http://gateway.marvel.com/v1/public/comics/1", "name": "One again"},
        "junk",
    ]
    record = parse_character(raw(comics={"available": 1, "items": items}))
    assert [(c.id, c.title) for c in record.comics] == [(1, "One")]
    assert len(record.warnings) == 2
    assert record.comics_available == 1


def test_available_is_never_below_the_listed_comics():
    record = parse_character(raw(comics={"available": 0, "items": RAW["comics"]["items"]}))
    assert record.comics_available == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2014-04-29T14:18:17-0400", datetime(2014, 4, 29, 18, 18, 17, tzinfo=UTC)),
        ("2013-09-18T15:54:04+0000", datetime(2013, 9, 18, 15, 54, 4, tzinfo=UTC)),
        ("-0001-11-30T00:00:00-0500", None),  # Marvel's "unknown"
        ("yesterday", None),
        (None, None),
        (12345, None),
    ],
)
def test_modified_dates(value, expected):
    assert parse_modified(value) == expected


def test_comic_ids_come_from_the_resource_uri():
    assert comic_id_from_uri("http://gateway.marvel.com/v1/public/comics/21366") == 21366
    for bad in ("http://gateway.marvel.com/v1/public/series/1945", "comics/abc", None):
        with pytest.raises(InvalidRecord):
            comic_id_from_uri(bad)


def test_parse_results_skips_malformed_records_naming_them():
    results = [RAW, {"id": 5}, "junk", raw(id=6, name="Six")]
    records, skipped = parse_results(results, first_offset=100)
    assert [r.id for r in records] == [1011334, 6]
    assert [(s.offset, s.id, s.reason) for s in skipped] == [
        (101, 5, "missing name"),
        (102, None, "a character must be a JSON object, got str"),
    ]
    assert skipped[0].describe() == "record at offset 101 (id=5) skipped: missing name"


def test_envelopes():
    envelope = parse_envelope(
        {
            "code": 200,
            "data": {"offset": 50, "limit": 50, "total": 1561, "count": 1, "results": [RAW]},
        }
    )
    assert (envelope.offset, envelope.total, envelope.count) == (50, 1561, 1)
    for bad in (
        [],
        {"data": []},
        {"data": {"results": {}}},
        {"data": {"results": [], "total": -1}},
    ):
        with pytest.raises(InvalidEnvelope):
            parse_envelope(bad)


# --- every recorded file in ../shared/marvel-api ----------------------------------------


def test_the_recordings_are_all_there():
    shared = require_shared()
    assert len(list((shared / "characters").glob("*.json"))) == 21
    assert len(list((shared / "characters-full").glob("*.json"))) == 32  # the bundled set
    assert len(list((shared / "other").glob("*.json"))) == 3


@pytest.mark.parametrize(
    "path",
    shared_files() or [None],
    ids=lambda p: p.relative_to(SHARED_MARVEL).as_posix() if p else "absent",
)
def test_every_recorded_file_parses(path):
    require_shared()
    body = json.loads(path.read_text(encoding="utf-8"))
    envelope = parse_envelope(body)
    assert envelope.count == len(envelope.results) > 0
    assert "Marvel" in envelope.attribution
    if "/comics" in envelope.results[0]["resourceURI"]:
        # Full comic objects (/v1/public/comics, /characters/{id}/comics) are not characters:
        # every one is skipped, with a reason, none crashes.
        records, skipped = parse_results(envelope.results, envelope.offset)
        assert records == []
        assert {s.reason for s in skipped} == {"missing name"}
        return
    records, skipped = parse_results(envelope.results, envelope.offset)
    assert skipped == []
    assert len(records) == envelope.count
    for raw_character, record in zip(envelope.results, records, strict=True):
        assert record.id == raw_character["id"]
        assert record.name == raw_character["name"].strip()
        listed = raw_character["comics"]["items"]
        listed_ids = [int(item["resourceURI"].rsplit("/", 1)[1]) for item in listed]
        assert [c.id for c in record.comics] == listed_ids
        assert record.comics_available == raw_character["comics"]["available"]
        assert len(record.comics) <= 20  # the API's cap
        raw_modified = raw_character["modified"]
        if raw_modified.startswith("-") or is_unknown_date(
            datetime.strptime(raw_modified, "%Y-%m-%dT%H:%M:%S%z")
        ):
            assert record.modified is None  # Marvel's "unknown"
        else:
            assert record.modified.tzinfo is UTC


def test_missing_recordings_skip_locally_but_fail_under_ci(monkeypatch, tmp_path):
    from tests.support import marvel_data

    monkeypatch.setattr(marvel_data, "SHARED_CHARACTERS", tmp_path / "absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI it must be there"):
        marvel_data.require_shared()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="is absent"):
        marvel_data.require_shared()
