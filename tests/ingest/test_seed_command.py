"""``manage.py seed_marvel``: the command-line contract, end to end, on the active backend."""

import gzip
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from characters.ingest.recordings import BUNDLED_DATASET
from characters.management.commands import seed_marvel
from characters.models import Character, Comic
from characters.models import CharacterComic as Link
from marvelsite import health
from tests.support.manage import run_manage
from tests.support.marvel_data import require_shared
from tests.support.replay_server import ReplayServer

pytestmark = pytest.mark.django_db

PUBLIC, PRIVATE = "pub-key-for-tests", "priv-key-for-tests"
JSON_KEYS = [
    "characters_created",
    "characters_updated",
    "characters_unchanged",
    "characters_skipped",
    "comics_created",
    "comics_updated",
    "links_created",
    "links_deleted",
    "local_edits_kept",
    "local_edits_overwritten",
    "pages",
    "errors",
    "seconds",
    "error",
]
FAST = ["--retries", "2", "--backoff", "0.01", "--timeout", "0.5", "--db-wait", "1"]


@pytest.fixture(scope="module")
def raw_characters():
    return json.loads(gzip.decompress(BUNDLED_DATASET.read_bytes()))["data"]["results"]


@pytest.fixture(autouse=True)
def environment(settings):
    """The settings seed_marvel reads the environment through, as if no variable were set."""
    for name in ("MARVEL_PUBLIC_KEY", "MARVEL_PRIVATE_KEY", "MARVEL_API_BASE_URL"):
        setattr(settings, name, "")
    for name in ("MARVEL_RETRIES", "MARVEL_BACKOFF", "MARVEL_TIMEOUT", "SEED_MAX_OFFSET"):
        setattr(settings, name, "")
    return settings


@pytest.fixture
def small_file(tmp_path, raw_characters):
    path = tmp_path / "characters.json"
    path.write_text(json.dumps(raw_characters[:30]))
    return path


@pytest.fixture
def server(raw_characters, environment):
    with ReplayServer(raw_characters[:50], public_key=PUBLIC, private_key=PRIVATE) as replay:
        environment.MARVEL_PUBLIC_KEY = PUBLIC
        environment.MARVEL_PRIVATE_KEY = PRIVATE
        environment.MARVEL_API_BASE_URL = replay.base_url
        yield replay


def seed(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_marvel", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def seed_failing(*args):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("seed_marvel", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), str(caught.value)


def summary(out):
    return json.loads(out.strip().splitlines()[-1])


# --- the bundled data set (the default without API keys) -------------------------------


def test_default_is_the_bundled_data_set_and_a_rerun_changes_nothing():
    out, err = seed("--json", "--db-wait", "1")
    first = summary(out)
    assert list(first) == JSON_KEYS
    assert first["characters_created"] == Character.objects.count() == 1561
    assert first["comics_created"] == Comic.objects.count() == 8723
    assert first["links_created"] == Link.objects.count() == 17023
    assert (first["pages"], first["errors"], first["characters_skipped"]) == (16, 0, 0)
    lines = out.strip().splitlines()
    assert len([line for line in lines if line.startswith("page ")]) == 16  # not a TTY
    assert lines[-2].startswith("Done: 1561 characters created")
    assert "the bundled data set" in lines[-2]
    assert err == ""

    again = summary(seed("--json", "--db-wait", "1")[0])
    assert again["characters_unchanged"] == 1561
    assert [again[k] for k in JSON_KEYS[:10] if k != "characters_unchanged"] == [0] * 9
    assert again["error"] is None


def test_quiet_prints_only_the_json_line(small_file):
    out, err = seed("--path", str(small_file), "--json", "-v", "0")
    assert len(out.strip().splitlines()) == 1
    assert summary(out)["characters_created"] == 30
    assert err == ""


def test_without_json_the_last_line_is_the_human_summary(small_file):
    out, _ = seed("--path", str(small_file), "--page-size", "10")
    lines = out.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["page 1", "page 2", "page 3"]
    assert lines[-1].startswith("Done: 30 characters created, 0 updated, 0 unchanged, 0 skipped")


def test_a_progress_bar_on_a_terminal(small_file, monkeypatch, capsys):
    monkeypatch.setattr(seed_marvel.Command, "_interactive", lambda self: True)
    out, _ = seed("--path", str(small_file), "--page-size", "10")
    assert "page 1" not in out  # the bar replaces the per-page lines
    assert "seed_marvel" in capsys.readouterr().err
    assert out.strip().startswith("Done: 30 characters created")


def test_dry_run_writes_nothing_and_reports_what_would_change(small_file):
    out, _ = seed("--path", str(small_file), "--dry-run", "--json")
    assert summary(out)["characters_created"] == 30
    assert "Dry run, nothing written: would have 30 characters created" in out
    assert Character.objects.count() == Comic.objects.count() == 0


def test_malformed_records_are_skipped_with_a_warning(tmp_path, raw_characters):
    path = tmp_path / "mixed.json"
    path.write_text(
        json.dumps([raw_characters[0], {"id": 77}, {"name": "No id"}, raw_characters[1]])
    )
    out, err = seed("--path", str(path), "--json")
    result = summary(out)
    assert (result["characters_created"], result["characters_skipped"]) == (2, 2)
    assert "record at offset 1 (id=77) skipped: missing name" in err
    assert "record at offset 2 (name='No id') skipped: missing id" in err


def test_a_directory_of_recorded_envelopes(tmp_path, raw_characters):
    for offset in (0, 20):
        body = {
            "code": 200,
            "data": {
                "offset": offset,
                "total": 40,
                "count": 20,
                "results": raw_characters[offset : offset + 20],
            },
        }
        (tmp_path / f"{offset}.json").write_text(json.dumps(body))
    result = summary(seed("--path", str(tmp_path), "--json", "--offset", "10")[0])
    assert (result["characters_created"], result["pages"]) == (30, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--page-size", "0"], "--page-size must be between 1 and 100"),
        (["--page-size", "101"], "--page-size must be between 1 and 100"),
        (["--offset", "-1"], "--offset must not be negative"),
        (["--max-offset", "-5"], "--max-offset must not be negative"),
        (["--db-wait", "-1"], "--db-wait must not be negative"),
        (["--path", "/nonexistent/marvel"], "no such file or directory"),
        (["--source", "api"], "MARVEL_PUBLIC_KEY and MARVEL_PRIVATE_KEY not set"),
        (
            ["--source", "file", "--base-url", "http://127.0.0.1:9/v1/public"],
            "--base-url is for --source api",
        ),
    ],
)
def test_bad_input_is_a_command_error(args, message):
    out, _, error = seed_failing(*args, "--json")
    assert message in error
    assert Character.objects.count() == 0
    assert summary(out) == {
        **dict.fromkeys(JSON_KEYS, 0),
        "errors": 1,
        "seconds": summary(out)["seconds"],
        "error": error,
    }


def test_bad_offset_environment_variable(environment):
    environment.SEED_MAX_OFFSET = "six hundred"
    assert "OFFSET must be a number" in seed_failing()[2]


def test_a_malformed_file_is_a_command_error_naming_it(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"data": {"results": [')
    assert "broken.json: malformed JSON" in seed_failing("--path", str(path))[2]


# --- the API source (replay server) ------------------------------------------------------


def test_the_api_is_the_default_when_keys_are_set(server):
    out, err = seed("--json", "--page-size", "20", *FAST)
    result = summary(out)
    assert (result["characters_created"], result["pages"]) == (50, 3)
    assert [r.params["limit"] for r in server.requests] == ["20"] * 3
    assert server.base_url in out
    assert PUBLIC not in out + err
    assert PRIVATE not in out + err


def test_base_url_option_wins_over_the_environment(server, environment):
    environment.MARVEL_API_BASE_URL = "http://127.0.0.1:9/nothing-here"
    result = summary(seed("--base-url", server.base_url, "--json", *FAST)[0])
    assert result["characters_created"] == 50


def test_offset_env_limits_the_pages_like_the_loader(server, environment):
    environment.SEED_MAX_OFFSET = "20"
    result = summary(seed("--json", "--page-size", "10", *FAST)[0])
    assert (result["characters_created"], result["pages"]) == (20, 2)
    assert [r.params["offset"] for r in server.requests] == ["0", "10"]
    # --max-offset wins over OFFSET; --offset starts later.
    server.clear()
    result = summary(
        seed("--json", "--page-size", "10", "--offset", "20", "--max-offset", "40", *FAST)[0]
    )
    assert (result["characters_created"], result["pages"]) == (20, 2)
    assert [r.params["offset"] for r in server.requests] == ["20", "30"]


def test_quiet_silences_retry_warnings(server, caplog):
    server.fail("503", times=1)
    out, err = seed("--json", "-v", "0", *FAST)
    assert summary(out)["characters_created"] == 50
    assert len(out.strip().splitlines()) == 1
    assert err == ""
    assert "retrying" not in caplog.text
    assert [r.status for r in server.requests][:2] == [503, 200]


def test_transient_faults_are_retried_and_the_run_succeeds(server, caplog):
    server.fail("503", times=1, offset=0)
    server.fail("429", times=1, offset=20, retry_after=0)
    server.fail("truncated", times=1, offset=40)
    server.fail("drop", times=1, offset=40)
    result = summary(seed("--json", "--page-size", "20", *FAST)[0])
    assert (result["characters_created"], result["errors"]) == (50, 0)
    assert "Marvel API: retrying" in caplog.text  # each retry is logged (keys masked)
    assert "apikey=***" in caplog.text
    assert PRIVATE not in caplog.text


def test_a_failure_part_way_keeps_completed_pages_and_offset_resumes(server):
    server.fail("truncated", times=10, offset=20)
    out, _, error = seed_failing("--json", "--page-size", "10", *FAST)
    assert "page at offset 20: malformed JSON after 3 attempts" in error
    assert "re-run with --offset 20 to resume" in error
    result = summary(out)
    assert (result["characters_created"], result["pages"], result["errors"]) == (20, 2, 1)
    assert Character.objects.count() == 20

    server.clear()
    result = summary(seed("--json", "--page-size", "10", "--offset", "20", *FAST)[0])
    assert (result["characters_created"], result["pages"]) == (30, 3)
    assert Character.objects.count() == 50
    assert summary(seed("--json", *FAST)[0])["characters_unchanged"] == 50


def test_bad_keys_fail_clearly_without_leaking_them(server, environment):
    environment.MARVEL_PRIVATE_KEY = "not-the-right-private-key"
    out, err, error = seed_failing("--json", *FAST)
    assert "HTTP 401 InvalidCredentials" in error
    assert "check MARVEL_PUBLIC_KEY and MARVEL_PRIVATE_KEY" in error
    assert summary(out)["errors"] == 1
    assert len(server.requests) == 1
    for secret in (PUBLIC, "not-the-right-private-key", server.requests[0].params["hash"]):
        assert secret not in out + err + error


def test_a_slow_api_times_out_and_fails(server):
    server.fail("slow", times=10, delay=1.0)
    _, _, error = seed_failing(
        "--timeout", "0.2", "--retries", "1", "--backoff", "0", "--db-wait", "1"
    )
    assert "page at offset 0: timed out" in error


# --- waiting for the database -----------------------------------------------------------


def test_waits_for_the_database_then_runs(small_file, monkeypatch):
    attempts = []
    real_check = health.unapplied_migrations

    def check(connection):
        attempts.append(connection)
        if len(attempts) < 3:
            raise OperationalError("connection refused")
        return real_check(connection)

    monkeypatch.setattr(health, "unapplied_migrations", check)
    monkeypatch.setattr(health.time, "sleep", lambda seconds: None)
    out, err = seed("--path", str(small_file), "--json", "--db-wait", "30")
    assert len(attempts) == 3
    assert err.count("Waiting for the database") == 2
    assert summary(out)["characters_created"] == 30


def test_gives_up_on_the_database_after_db_wait(small_file, monkeypatch):
    def check(connection):
        raise OperationalError("connection refused")

    monkeypatch.setattr(health, "unapplied_migrations", check)
    out, _, error = seed_failing("--path", str(small_file), "--db-wait", "0.2", "--json")
    assert "the database is not ready after 0.2s" in error
    assert summary(out)["errors"] == 1
    assert "connection refused" in error


# --- a real process: exit status ---------------------------------------------------------


@pytest.mark.slow
def test_exit_status_of_the_real_command(tmp_path, small_file):
    """manage.py in a subprocess (its own SQLite database): 0 on success, 1 on failure."""

    def manage(*args, **env):
        return run_manage(*args, data_dir=tmp_path, DJANGO_DEBUG="true", **env)

    assert manage("migrate", "-v", "0").returncode == 0
    ok = manage("seed_marvel", "--path", str(small_file), "--json", "--db-wait", "5")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[-1])["characters_created"] == 30
    bad = manage("seed_marvel", "--page-size", "500")
    assert bad.returncode == 1
    assert "CommandError: --page-size must be between 1 and 100" in bad.stderr
    # The environment reaches the command through settings; a bad value fails the seed alone.
    bad_env = manage("seed_marvel", "--path", str(small_file), OFFSET="six hundred")
    assert bad_env.returncode == 1
    assert "CommandError: OFFSET must be a number, got 'six hundred'" in bad_env.stderr
    assert manage("check", OFFSET="six hundred").returncode == 0


def test_waits_for_the_migrations_too(small_file, monkeypatch):
    """Reachable but not migrated (the migrate Job still running): wait, then fail clearly."""
    from django.db.migrations.recorder import MigrationRecorder

    # What both backends read the applied migrations through: an empty django_migrations.
    empty = property(lambda self: self.Migration.objects.using(self.connection.alias).none())
    monkeypatch.setattr(MigrationRecorder, "migration_qs", empty)
    out, err, error = seed_failing("--path", str(small_file), "--db-wait", "0.3", "--json")
    assert "migrations not applied yet: admin.0001_initial" in error
    assert "Waiting for the database" in err
    assert summary(out)["errors"] == 1
    assert Character.objects.count() == 0


def test_a_newer_recording_updates_characters_and_their_links(tmp_path, raw_characters):
    """The 2023 recording of the first 20 characters over the 2022 data set: real changes."""
    shared = require_shared()
    older = tmp_path / "older.json"
    older.write_text(json.dumps(raw_characters[:20]))
    seed("--path", str(older))
    newer = shared / "other" / "characters-offset0-limit20.json"
    result = summary(seed("--path", str(newer), "--json")[0])
    assert result["characters_updated"] > 0
    assert result["characters_created"] == 0
    assert result["links_created"] + result["links_deleted"] > 0
    body = json.loads(newer.read_text())["data"]["results"]
    for character in body:
        linked = set(
            Link.objects.filter(character_id=character["id"]).values_list("comic_id", flat=True)
        )
        assert linked == {
            int(i["resourceURI"].rsplit("/", 1)[1]) for i in character["comics"]["items"]
        }
    again = summary(seed("--path", str(newer), "--json")[0])
    assert again["characters_unchanged"] == 20
    assert again["links_created"] == again["links_deleted"] == again["characters_updated"] == 0


@pytest.fixture
def renames_refused(on_mongodb):
    """The database itself refuses to rename a character: a MongoDB validator, a SQLite
    trigger. A real server-side error, not a transient one."""
    if on_mongodb:
        database = connection.connection[connection.settings_dict["NAME"]]
        rule = {"name": {"$not": {"$regex": "^Renamed"}}}
        database.command("collMod", "characters_character", validator=rule)
        yield "Document failed validation"
        database.command("collMod", "characters_character", validator={})
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TRIGGER no_renames BEFORE UPDATE OF name ON characters_character "
                "WHEN NEW.name LIKE 'Renamed%' BEGIN SELECT RAISE(ABORT, 'renames are frozen'); END"
            )
        yield "renames are frozen"
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER no_renames")


def test_a_database_error_says_what_happened(tmp_path, raw_characters, renames_refused):
    path = tmp_path / "characters.json"
    path.write_text(json.dumps(raw_characters[:10]))
    seed("--path", str(path))
    renamed = [{**raw_characters[0], "name": "Renamed"}, *raw_characters[1:10]]
    path.write_text(json.dumps(renamed))
    out, err, error = seed_failing("--path", str(path), "--json")
    # django-mongodb-backend's DatabaseError has no text: its cause says what happened.
    assert error.startswith("seed_marvel failed: database error: ")
    assert renames_refused in error
    assert summary(out)["error"] == error
    assert Character.objects.get(id=raw_characters[0]["id"]).name == raw_characters[0]["name"]
