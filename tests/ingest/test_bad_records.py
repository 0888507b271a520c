"""An import survives bad records: each one is skipped with its reason, its good neighbours
and every later page are imported, the run exits 0 and prints its --json line.

The runs are real seed_marvel processes against a migrated database of the suite's backend
(a SQLite file, or a new database on the MongoDB replica set).
"""

import gzip
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pymongo.errors import BulkWriteError, OperationFailure

from characters.ingest.api import MarvelAPIError, MarvelClient, RetryPolicy
from characters.ingest.recordings import BUNDLED_DATASET
from characters.ingest.records import ParsedPage, parse_character, parse_results
from characters.ingest.seed import SPLIT_AFTER_CONFLICTS, Report, _import_page, is_refused
from characters.ingest.stats import ImportStats
from tests.support.bad_json import nested_too_deeply
from tests.support.manage import manage_in

SURROGATE = "\ud800"


def good_records(count: int) -> list[dict]:
    return json.loads(gzip.decompress(BUNDLED_DATASET.read_bytes()))["data"]["results"][:count]


POISONED = {
    "surrogate": {"id": 900001, "name": "Lone", "description": f"bad {SURROGATE} text"},
    "date": {"id": 900002, "name": "Late", "modified": "9999-12-31T23:59:59-14:00"},
    "integer": {"id": 900003, "name": "Many", "comics": {"available": 2**63}},
    "too large": {"id": 900004, "name": "Huge", "description": "x" * 9_000_000},
    "parser": {"id": "9" * 5000, "name": "Digits"},
    "deep": {"id": 900006, "name": [[[[[[[[[[[]]]]]]]]]]]},
}


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("surrogate", "description cannot be stored: an unpaired surrogate at character 4"),
        ("date", "modified '9999-12-31T23:59:59-14:00' is outside the dates stored"),
        ("integer", f"comics.available {2**63} is past the largest count"),
        ("too large", "over the 16 MiB a MongoDB document holds"),
        ("parser", "cannot be parsed: ValueError"),
        ("deep", "name must be a string, got list"),
    ],
)
def test_each_poisoned_record_is_skipped_with_its_reason(kind, reason):
    records, skipped = parse_results([{"id": 1, "name": "Good"}, POISONED[kind]], 40)
    assert [r.id for r in records] == [1]
    assert [s.offset for s in skipped] == [41]
    assert reason in skipped[0].reason
    skipped[0].describe().encode("utf-8")  # printable: no surrogate reaches the output


def test_control_characters_and_other_schemes_are_removed():
    record = parse_character(
        {
            "id": 7,
            "name": "Nul\x00l\x1b",
            "description": "line\x00 one\x07\nline two\x9b",
            "thumbnail": {"path": "javascript:alert(1)", "extension": "jpg"},
            "resourceURI": "data:text/html,hi",
            "urls": [
                {"type": "detail", "url": "vbscript:msgbox"},
                {"type": "wiki", "url": "HTTPS://marvel.com/w\x00"},
            ],
            "comics": {
                "items": [{"resourceURI": "ftp://x/v1/public/comics/5", "name": "T\x00itle"}]
            },
        }
    )
    assert (record.name, record.description) == ("Null", "line one\nline two")
    assert (record.thumbnail_path, record.resource_uri) == ("", "")
    assert record.urls == (("wiki", "HTTPS://marvel.com/w"),)
    assert [(c.id, c.title, c.resource_uri) for c in record.comics] == [(5, "Title", "")]
    assert len(record.warnings) == 3


def test_dates_inside_the_range_are_kept():
    record = parse_character({"id": 1, "name": "A", "modified": "9999-12-29T00:00:00-0000"})
    assert record.modified.year == 9999
    assert parse_character({"id": 1, "name": "A", "modified": "junk"}).modified is None


def test_refused_means_the_same_content_fails_every_time():
    too_big = BulkWriteError({"writeErrors": [{"index": 3, "code": 388, "errmsg": "too large"}]})
    assert is_refused(too_big)
    assert is_refused(OperationFailure("x", code=10334))
    assert is_refused(OverflowError("MongoDB can only handle up to 8-byte ints"))
    assert not is_refused(OperationFailure("x", code=112))  # WriteConflict: try again
    assert not is_refused(ValueError("a bug is not a bad record"))


class RefusingImporter:
    """Refuses pages of more than two records and, alone, record 5 (as a server would)."""

    def __init__(self):
        self.stats = ImportStats()
        self.written: list[int] = []

    def import_page(self, page):
        ids = [r.id for r in page.records]
        if len(ids) > 2 or 5 in ids:
            raise BulkWriteError({"writeErrors": [{"index": 0, "code": 388, "errmsg": "big"}]})
        self.written += ids
        result = ImportStats(pages=1, characters_created=len(ids))
        result.characters_skipped = len(page.skipped)
        self.stats.add(result)
        return result


def test_a_refused_page_is_written_in_halves_and_a_refused_record_skipped():
    records, skipped = parse_results(
        [{"id": i, "name": f"C{i}"} for i in range(1, 8)] + [{"id": "x"}], 100
    )
    page = ParsedPage(100, records, skipped)
    importer = RefusingImporter()
    result = _import_page(importer, page, time.monotonic(), Report())  # no time to retry
    assert sorted(importer.written) == [1, 2, 3, 4, 6, 7]
    assert (result.characters_created, result.characters_skipped, result.pages) == (6, 2, 1)
    assert (importer.stats.pages, importer.stats.characters_skipped) == (1, 2)
    assert page.size == 8  # the resume offset is unchanged
    assert [s.id for s in page.skipped] == ["x", 5]
    assert "the database refused it" in page.skipped[1].reason


class DeepJSON(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"[" * 100_000
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_api_answer_nested_too_deeply_is_a_clear_error():
    server = ThreadingHTTPServer(("127.0.0.1", 0), DeepJSON)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1/public"
        client = MarvelClient("pub", "priv", url, policy=RetryPolicy(retries=1, backoff=0))
        with pytest.raises(MarvelAPIError, match="page at offset 0: malformed JSON after 2"):
            client.fetch_characters(0, 10)
    finally:
        server.shutdown()
        server.server_close()


class ConflictingImporter(RefusingImporter):
    """Meets a write conflict on every page with record 5 in it (a row another transaction
    holds), and on the tries listed in `conflicts` or `elections` (1-based) whatever the page."""

    def __init__(self, *, conflicts=(), elections=()):
        super().__init__()
        self.tries, self.conflicts, self.elections = 0, set(conflicts), set(elections)
        self.pages: list[list[int]] = []

    def import_page(self, page):
        self.tries += 1
        ids = [r.id for r in page.records]
        self.pages.append(ids)
        if self.tries in self.elections:
            raise OperationFailure("not primary", code=10107)
        if 5 in ids or self.tries in self.conflicts:
            raise OperationFailure("WriteConflict error", code=112)
        self.written += ids
        result = ImportStats(pages=1, characters_created=len(ids))
        self.stats.add(result)
        return result


@pytest.fixture
def no_backoff(monkeypatch):
    from tenacity import wait_none

    monkeypatch.setattr("characters.ingest.seed.wait_exponential_jitter", lambda **_: wait_none())


def eight_records():
    return ParsedPage(0, parse_results([{"id": i, "name": f"C{i}"} for i in range(1, 9)], 0)[0], [])


def test_conflicts_in_a_row_split_a_page_until_one_record_waits_alone(no_backoff):
    importer, page = ConflictingImporter(), eight_records()
    with pytest.raises(OperationFailure, match="WriteConflict"):
        _import_page(importer, page, time.monotonic() + 0.5, Report())
    assert importer.written == [1, 2, 3, 4]  # then 5-8, 5-6, 5 alone until the deadline
    assert importer.pages[:6] == [[1, 2, 3, 4, 5, 6, 7, 8]] * 4 + [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert importer.pages[-1] == [5]
    assert len([ids for ids in importer.pages if ids == [5]]) > SPLIT_AFTER_CONFLICTS
    assert page.skipped == []  # never skipped for another writer's sake


def test_conflicts_not_in_a_row_or_past_the_deadline_split_nothing(no_backoff):
    # Three conflicts, an election, three more: never SPLIT_AFTER_CONFLICTS in a row.
    importer = ConflictingImporter(conflicts={1, 2, 3, 5, 6, 7}, elections={4})
    page = eight_records()
    page.records = [r for r in page.records if r.id != 5]
    result = _import_page(importer, page, time.monotonic() + 30, Report())
    assert importer.pages == [[1, 2, 3, 4, 6, 7, 8]] * 8
    assert (result.pages, result.characters_created) == (1, 7)
    # The deadline ends the tries first: the page fails whole rather than split past it.
    importer = ConflictingImporter(conflicts=range(1, 100))
    with pytest.raises(OperationFailure, match="WriteConflict"):
        _import_page(importer, eight_records(), time.monotonic(), Report())
    assert importer.pages == [[1, 2, 3, 4, 5, 6, 7, 8]]


# --- real seed_marvel runs ------------------------------------------------------------------


def seed(env, *args) -> tuple[subprocess.CompletedProcess, dict]:
    done = manage_in(env, "seed_marvel", "--json", *args, timeout=300)
    last = done.stdout.strip().splitlines()[-1]
    return done, json.loads(last)


def stored(env, *fields) -> dict:
    """Each stored character's `fields`, read by a fresh process of the same settings."""
    code = (
        "import json; from characters.models import Character; "
        f"print(json.dumps({{c['id']: c for c in Character.objects.values('id', *{fields!r})}}))"
    )
    shell = manage_in(env, "shell", "-c", code)
    assert shell.returncode == 0, shell.stderr
    rows = json.loads(shell.stdout.strip().splitlines()[-1])
    return {int(pk): row for pk, row in rows.items()}


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_poisoned_records_among_good_ones(env, tmp_path):
    good = good_records(30)
    cleaned = {
        "id": 900010,
        "name": "Clean\x00ed",
        "description": "a\x00b\x1bc",
        "thumbnail": {"path": "javascript:alert(1)", "extension": "jpg"},
        "urls": [{"type": "x", "url": "data:text/html,1"}, {"type": "y", "url": "https://m.x"}],
    }
    before, after = [*good[:3], *POISONED.values()], [*good[3:25], cleaned, *good[25:]]
    # \ud800 is written as an escape, as Marvel would; the record nested too deeply for the
    # decoder is only text (json.dumps cannot write it either).
    records = [*map(json.dumps, before), nested_too_deeply(), *map(json.dumps, after)]
    path = tmp_path / "poisoned.json"
    path.write_text(f"[{', '.join(records)}]")

    done, counters = seed(env, "--path", str(path), "--page-size", "10")

    assert done.returncode == 0, done.stderr
    assert counters["error"] is None
    assert counters["characters_created"] == len(good) + 1
    assert (counters["characters_skipped"], counters["pages"]) == (len(POISONED) + 1, 4)
    assert done.stderr.count("skipped:") == len(POISONED) + 1
    assert "nested too deeply to read" in done.stderr
    rows = stored(env, "name", "description", "thumbnail_path", "urls")
    assert set(rows) == {r["id"] for r in good} | {900010}
    assert rows[900010] == {
        "id": 900010,
        "name": "Cleaned",
        "description": "abc",
        "thumbnail_path": "",
        "urls": [{"type": "y", "url": "https://m.x"}],
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_page_too_large_for_one_transaction_is_imported(env, tmp_path):
    # 8 x 7 MB: past what one transaction may hold in the test server's 256 MB cache.
    raw = [
        {"id": i, "name": f"Big {i}", "description": chr(97 + i) * 7_000_000} for i in range(1, 9)
    ]
    path = tmp_path / "big.json"
    path.write_text(json.dumps(raw))
    del raw

    done, counters = seed(env, "--path", str(path))

    assert done.returncode == 0, done.stderr
    assert (counters["characters_created"], counters["pages"]) == (8, 1)
    rows = stored(env, "description")
    assert {pk: len(row["description"]) for pk, row in rows.items()} == dict.fromkeys(
        range(1, 9), 7_000_000
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000, "malformed JSON: nested too deeply"),
        ('{"code": 200, "data": ', "malformed JSON: Expecting value"),
    ],
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_bad_file_is_one_line_of_error(env, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)

    done, counters = seed(env, "--path", str(path))

    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"CommandError: {path}: ")
    assert message in line
    assert counters["errors"] == 1
    assert message in counters["error"]
