"""seed_marvel as real processes against a real database (a migrated SQLite file, the MongoDB
replica set): two imports at once, an import killed with SIGKILL at any point, another writer
holding the database, and (MongoDB) the primary killed mid-import on a 3-member replica set.

Every run's result is compared with what a clean import of the same records stores.
"""

import gzip
import json
import random
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from characters.ingest.recordings import BUNDLED_DATASET
from characters.ingest.records import parse_results
from scripts.local_mongo import ReplicaSet
from tests.support.manage import ROOT, clean_env, fresh_database

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ON_MONGODB = connection.vendor == "mongodb"
PAGE = "10"  # small pages: about a hundred transactions, so there is a "mid-import"


@pytest.fixture(scope="module")
def expected():
    """What a clean import of the bundled set stores: each character's comic ids."""
    raw = json.loads(gzip.decompress(BUNDLED_DATASET.read_bytes()))["data"]["results"]
    records, skipped = parse_results(raw, 0)
    assert not skipped
    return {str(r.id): sorted({c.id for c in r.comics}) for r in records}


def database_env(data_dir, uri) -> dict:
    """The environment of a process on a fresh, migrated database on the replica set at `uri`."""
    return clean_env(data_dir, **fresh_database(data_dir, uri))


def start_seed(env, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "seed_marvel", "--page-size", PAGE, "--json", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_page(process, number: int) -> None:
    """Read the process's output until it reports page `number` (one line per page)."""
    for line in process.stdout:
        if line.startswith(f"page {number}:"):
            return
    raise AssertionError(f"the import ended before page {number}: {process.stderr.read()}")


def finish(process, timeout=300) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def dump(env) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.dump_catalogue"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_consistent(stored: dict, expected: dict) -> None:
    """Every stored character has exactly the links of its record (or is absent); no
    duplicates; every linked comic exists."""
    assert stored["character_rows"] == len(stored["characters"]), "duplicate characters"
    wrong = {pk: links for pk, links in stored["characters"].items() if links != expected.get(pk)}
    assert not wrong, f"{len(wrong)} characters with other links than their record's"
    linked = {comic for links in stored["characters"].values() for comic in links}
    assert linked <= set(stored["comics"])


def assert_complete(stored: dict, expected: dict) -> None:
    assert_consistent(stored, expected)
    assert stored["characters"] == expected
    assert len(stored["comics"]) == len({c for links in expected.values() for c in links})
    assert stored["locks"] == 0  # released


# --- two imports at once -------------------------------------------------------------------


def test_a_second_import_waits_for_the_first_and_nothing_is_duplicated(env, expected):
    first = start_seed(env)
    wait_for_page(first, 2)
    second = start_seed(env)
    results = [finish(first), finish(second)]
    for code, _, err in results:
        assert code == 0, err
        assert "IntegrityError" not in err
    waited = results[1][2]
    assert "another import is running since " in waited
    assert "s for it to finish" in waited
    assert last_json(results[0][1])["characters_created"] == len(expected)
    assert last_json(results[1][1])["characters_created"] == 0  # found them all written
    assert_complete(dump(env), expected)


def test_a_second_import_that_will_not_wait_says_who_runs_since_when(env, expected):
    first = start_seed(env)
    wait_for_page(first, 2)
    second = start_seed(env, "--lock-wait", "0")
    code, out, err = finish(second)
    assert code == 1
    assert "another import is running since " in err
    assert "waited 0s (--lock-wait)" in err
    assert last_json(out)["error"].startswith("another import is running since ")
    assert finish(first)[0] == 0
    assert_complete(dump(env), expected)


# --- killed at any point -------------------------------------------------------------------


@pytest.fixture
def short_transaction_lifetime():
    """On MongoDB a killed import's open transaction holds its documents until the server
    aborts it (transactionLifetimeLimitSeconds, 60 s); the next import waits that out, reading
    the parameter. Shortened here so that four kills take seconds, not minutes."""
    if not ON_MONGODB:
        yield
        return
    admin = connection.connection.admin
    before = admin.command("getParameter", 1, transactionLifetimeLimitSeconds=1)
    admin.command("setParameter", 1, transactionLifetimeLimitSeconds=5)
    yield
    admin.command(
        "setParameter", 1, transactionLifetimeLimitSeconds=before["transactionLifetimeLimitSeconds"]
    )


def test_an_import_killed_at_any_point_leaves_whole_pages_and_blocks_nobody(
    env, expected, short_transaction_lifetime
):
    chance = random.Random(9)  # a reproducible choice of moments
    for page in (1, 17, 40, 71):
        process = start_seed(env)
        wait_for_page(process, page)
        time.sleep(chance.uniform(0, 0.08))  # somewhere inside the next page's work
        process.send_signal(signal.SIGKILL)
        process.wait()
        # Every character written has exactly its record's links: no half page.
        assert_consistent(dump(env), expected)
    # The killed import's lock does not hold the next one back (its process is gone).
    code, out, err = finish(start_seed(env, "--lock-wait", "0"))
    assert code == 0, err
    assert "took over the import lock of an import that stopped since " in err
    assert_complete(dump(env), expected)


# --- a transient failure mid-import --------------------------------------------------------


@pytest.mark.sqlite("its own transient failure: a held write lock")
def test_an_import_outlasts_another_writer_holding_sqlite(env, expected, tmp_path):
    # Another process holds SQLite's write lock for longer than the import's busy timeout
    # (20 s): the page fails with "database is locked" and is tried again until it goes through.
    process = start_seed(env)
    wait_for_page(process, 3)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE'); print('held', flush=True); time.sleep(24)\n"
            "db.execute('COMMIT')",
            str(tmp_path / "db.sqlite3"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    code, out, err = finish(process)
    holder.wait(timeout=60)
    assert code == 0, err
    assert "retrying in" in err
    assert "database is locked" in err
    assert_complete(dump(env), expected)


@pytest.mark.mongodb("its write conflicts")
def test_a_page_is_written_around_a_row_another_transaction_holds(env, tmp_path):
    # Another transaction holds the page's last character for longer than the page's tries:
    # the page is written in halves down to that one record, which waits for the holder alone.
    path = tmp_path / "held.json"
    path.write_text(
        json.dumps([{"id": i, "name": f"Held {i}", "description": "old"} for i in range(1, 9)])
    )
    assert finish(start_seed(env, "--path", str(path)))[0] == 0
    path.write_text(
        json.dumps([{"id": i, "name": f"Held {i}", "description": "new"} for i in range(1, 9)])
    )
    from characters.models import Character

    connection.ensure_connection()
    characters = connection.connection[env["MONGODB_NAME"]][Character._meta.db_table]
    with connection.connection.start_session() as holder:
        holder.start_transaction()
        held = characters.update_one(
            {"name": "Held 8"}, {"$set": {"description": "held"}}, session=holder
        )
        assert held.modified_count == 1
        process = start_seed(env, "--path", str(path), "--db-retry", "120")
        try:
            deadline = time.monotonic() + 45  # mongod aborts the holder after 60 s
            while characters.count_documents({"description": "new"}) < 7:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the rest of the page was not written"
                time.sleep(0.2)
            assert process.poll() is None  # still waiting for the held record, not skipping it
        finally:
            holder.abort_transaction()
        code, out, err = finish(process)
    assert code == 0, err
    counters = last_json(out)
    assert (counters["characters_updated"], counters["characters_skipped"]) == (8, 0)
    assert (counters["pages"], counters["errors"]) == (1, 0)
    assert characters.count_documents({"description": "new"}) == 8
    assert "8 records of the page at offset 0 are written as 4 + 4: " in err
    assert "2 records of the page at offset 0 are written as 1 + 1: " in err
    assert "WriteConflict" in err


@pytest.mark.mongodb("a replica set's failover")
def test_an_import_survives_killing_the_primary(tmp_path, expected):
    with ReplicaSet(members=3) as replica_set:
        env = database_env(tmp_path / "failover", replica_set.uri)
        process = start_seed(env)
        wait_for_page(process, 5)
        killed = replica_set.primary_index()
        replica_set.kill(killed, signal.SIGKILL)
        code, out, err = finish(process)
        assert code == 0, err
        assert "retrying in" in err  # it did meet the failover
        assert replica_set.primary_index() not in (None, killed)
        after_failover = dump(env)
        clean_env_ = database_env(tmp_path / "clean", replica_set.uri)
        assert finish(start_seed(clean_env_))[0] == 0
        clean = dump(clean_env_)
    assert after_failover == clean
    assert_complete(after_failover, expected)
    assert last_json(out)["errors"] == 0
