"""/healthz and /readyz: cheap, unauthenticated JSON probes."""

import json
import subprocess
import sys
import textwrap
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from tests.support.manage import ROOT, clean_env, run_manage


def test_healthz_needs_no_database(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_when_migrated(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_probes_answer_any_host_and_plain_http(client, settings):
    # The kubelet probes the pod IP over HTTP: neither ALLOWED_HOSTS nor the HTTPS redirect apply.
    settings.SECURE_SSL_REDIRECT = True
    for path in ("/healthz", "/readyz"):
        assert client.get(path, headers={"host": "10.42.0.17:8000"}).status_code == 200
    assert client.get("/admin/login/", headers={"host": "10.42.0.17:8000"}).status_code == 400


@pytest.mark.django_db
def test_readyz_logs_unapplied_migrations_and_tells_the_world_only_unavailable(client, caplog):
    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("characters", "0001_initial")
    try:
        response = client.get("/readyz")
    finally:
        recorder.record_applied("characters", "0001_initial")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert "not ready: 1 unapplied migration(s), e.g. characters.0001_initial" in caplog.text


def probe_with_database_down(database_env, tmp_path):
    """GET the probes and a page in a fresh process whose database cannot be reached; the
    answers, and what the process logged."""
    script = textwrap.dedent(
        """
        import json, django
        django.setup()
        from django.test import Client
        client = Client()
        answers = {p: [r.status_code, r.json()] for p, r in
                   ((p, client.get(p)) for p in ("/healthz", "/readyz"))}
        answers["/characters/"] = [client.get("/characters/").status_code, None]
        print(json.dumps(answers))
        """
    )
    env = clean_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="tests.settings",
        DJANGO_ALLOWED_HOSTS="testserver",
        **database_env,
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    *logs, answers = result.stdout.strip().splitlines()
    return json.loads(answers), "\n".join(logs)


def test_readyz_503_when_sqlite_cannot_be_opened(tmp_path):
    (tmp_path / "db.sqlite3").mkdir()  # a folder where the database file should be
    answers, logs = probe_with_database_down({}, tmp_path)
    cause = "OperationalError: unable to open database file"
    assert answers["/healthz"] == [200, {"status": "ok"}]
    assert answers["/readyz"] == [503, {"status": "unavailable"}]
    assert f"not ready: database unreachable: {cause}" in logs
    # The page is a 503, and the log says why (the page itself does not).
    assert answers["/characters/"] == [503, None]
    assert f"database unavailable on /characters/: {cause}" in logs


def test_readyz_503_when_mongodb_does_not_answer(tmp_path):
    # The real driver against a closed loopback port: a MongoDB that is down. The password in
    # the URI never shows; what went wrong (the refused connection) always does.
    uri = "mongodb://marvel:s3cret-pw@127.0.0.1:9/?serverSelectionTimeoutMS=300"
    answers, logs = probe_with_database_down({"MONGODB_URI": uri}, tmp_path)
    assert answers["/healthz"] == [200, {"status": "ok"}]
    # The world learns nothing of the database's hosts or state; the log says what went wrong.
    assert answers["/readyz"] == [503, {"status": "unavailable"}]
    probe_log = next(line for line in logs.splitlines() if "not ready:" in line)
    # django-mongodb-backend's DatabaseError says nothing by itself: its cause is there.
    assert (
        "not ready: database unreachable: DatabaseError; caused by ServerSelectionTimeoutError: "
        "127.0.0.1:9: " in probe_log
    )
    assert "Connection refused" in probe_log
    assert answers["/characters/"] == [503, None]
    # django-mongodb-backend's DatabaseError says nothing by itself: its cause is logged.
    page_log = next(line for line in logs.splitlines() if "database unavailable on" in line)
    assert "on /characters/: DatabaseError; caused by ServerSelectionTimeoutError: " in page_log
    assert "Connection refused" in page_log
    assert "s3cret-pw" not in logs


@pytest.mark.django_db
def test_wait_for_database_returns_when_ready():
    out = StringIO()
    call_command("wait_for_database", "--migrated", "--timeout", "5", stdout=out)
    assert out.getvalue().strip() == "The database is ready."


def test_wait_for_database_gives_up_clearly(tmp_path):
    # The real driver against a closed loopback port, as in the migrate Job before MongoDB is up.
    down = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"
    result = run_manage(
        "wait_for_database",
        "--timeout",
        "1",
        data_dir=tmp_path,
        DJANGO_DEBUG="true",
        MONGODB_URI=down,
    )
    assert result.returncode == 1
    waiting = (
        "Waiting for the database (attempt 1): DatabaseError; caused by ServerSelectionTimeoutError"
    )
    assert waiting in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("CommandError: the database is not ready after 1s (")
    assert "Connection refused" in last
    assert "Traceback" not in result.stderr
