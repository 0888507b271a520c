"""The import's history: seed() records each run that writes (ImportRun), failed or not; the
admin shows it read-only, newest first, and its index the last run's outcome."""

import json
import os
import socket
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from characters.ingest.history import prune
from characters.ingest.records import to_milliseconds
from characters.ingest.seed import SeedError, SeedOptions, seed
from characters.models import ImportLock, ImportRun
from tests.support.manage import run_manage

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_file(records_file):
    return records_file(12)


def test_a_run_is_recorded_with_its_counters(small_file):
    now = timezone.now()
    # BSON dates keep milliseconds: compare with the start truncated the same way.
    before = to_milliseconds(now)
    stats = seed(SeedOptions(source="file", path=small_file, page_size=5))
    run = ImportRun.objects.get()
    assert run.outcome == ImportRun.SUCCEEDED
    assert before <= run.started_at <= run.finished_at <= timezone.now()
    assert run.counters == stats.as_dict()
    assert run.counters["characters_created"] == 12
    assert run.errors == 0
    assert run.error == ""
    assert run.local_edits_kept == stats.local_edits_kept
    assert (run.host, run.pid) == (socket.gethostname(), os.getpid())
    assert run.source == str(small_file)
    assert run.options["page_size"] == 5
    assert run.options["path"] == str(small_file)
    assert len(run.lock_token) == 32
    assert not ImportLock.objects.exists()  # released: the run shows no heartbeat


def test_a_failed_run_is_recorded_as_failed_without_its_keys():
    options = SeedOptions(
        source="api",
        public_key="pub-key-1234",
        private_key="private-key-5678",
        base_url="http://127.0.0.1:9/v1/public",  # discard port: refused
        retries=0,
        timeout=2.0,
    )
    with pytest.raises(SeedError) as failed:
        seed(options)
    run = ImportRun.objects.get()
    assert run.outcome == ImportRun.FAILED
    assert run.finished_at is not None
    assert run.errors == 1
    assert run.error == str(failed.value)
    stored = json.dumps(run.options) + run.error + run.source
    assert "private-key-5678" not in stored
    assert "pub-key-1234" not in stored
    assert "public_key" not in run.options


def test_a_dry_run_and_bad_options_leave_no_record(small_file):
    seed(SeedOptions(source="file", path=small_file, dry_run=True))
    with pytest.raises(SeedError):
        seed(SeedOptions(source="file", path=small_file, page_size=0))
    assert not ImportRun.objects.exists()


def test_old_runs_are_pruned_by_the_import(small_file, settings):
    settings.IMPORT_HISTORY_DAYS = 30
    now = timezone.now()
    old = ImportRun.objects.create(started_at=now - timedelta(days=31), source="x", host="h", pid=1)
    recent = ImportRun.objects.create(
        started_at=now - timedelta(days=29), source="x", host="h", pid=1
    )
    seed(SeedOptions(source="file", path=small_file))
    kept = set(ImportRun.objects.values_list("pk", flat=True))
    assert old.pk not in kept
    assert recent.pk in kept
    assert len(kept) == 2
    assert prune() == 0


def test_the_admin_lists_runs_newest_first_read_only(admin_client):
    now = timezone.now()
    older = ImportRun.objects.create(
        started_at=now - timedelta(hours=2),
        finished_at=now - timedelta(hours=2) + timedelta(seconds=3),
        outcome=ImportRun.SUCCEEDED,
        source="the bundled data set",
        counters={"characters_created": 41},
        host="job-a",
        pid=11,
    )
    running = ImportRun.objects.create(
        started_at=now - timedelta(minutes=1),
        source="api",
        host="job-b",
        pid=22,
        lock_token="t" * 32,
    )
    ImportLock.objects.create(
        token="t" * 32,
        host="job-b",
        pid=22,
        started_at=running.started_at,
        heartbeat_at=now - timedelta(seconds=7),
    )
    page = admin_client.get(reverse("admin:characters_importrun_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("job-b") < html.index("job-a")
    assert "7s ago" in html or "8s ago" in html
    assert "41" in html
    assert "3.0s" in html
    assert reverse("admin:characters_importrun_add") not in html
    detail = admin_client.get(reverse("admin:characters_importrun_change", args=[older.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    gone = admin_client.post(reverse("admin:characters_importrun_delete", args=[older.pk]))
    assert gone.status_code == 403
    assert ImportRun.objects.filter(pk=older.pk).exists()


def test_a_running_import_without_its_lock_is_shown_stopped(admin_client):
    ImportRun.objects.create(
        started_at=timezone.now(), source="api", host="job-c", pid=3, lock_token="gone"
    )
    html = admin_client.get(reverse("admin:characters_importrun_changelist")).content.decode()
    assert "stopped without finishing" in html


def test_the_admin_index_shows_the_last_import(admin_client):
    assert "No import has run yet." in admin_client.get(reverse("admin:index")).content.decode()
    now = timezone.now()
    ImportRun.objects.create(
        started_at=now - timedelta(days=1),
        outcome=ImportRun.SUCCEEDED,
        source="s",
        host="h",
        pid=1,
    )
    ImportRun.objects.create(
        started_at=now,
        outcome=ImportRun.FAILED,
        error="the API said 500",
        source="s",
        host="h",
        pid=1,
    )
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "Last import:" in html
    assert "failed" in html
    assert "the API said 500" in html
    assert "marvelsite administration" in html


READ_RUNS = (
    "import json; from characters.models import ImportRun; print(json.dumps(["
    "[r.outcome, r.counters, r.errors, r.error, r.pid, r.source] "
    "for r in ImportRun.objects.all()]))"
)


@pytest.mark.slow
def test_real_seed_marvel_runs_are_recorded_newest_first(tmp_path, database):
    done = run_manage(
        "seed_marvel",
        "--json",
        "--max-offset",
        "20",
        "--page-size",
        "10",
        "-v",
        "0",
        data_dir=tmp_path,
        **database,
    )
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout.strip().splitlines()[-1])
    keys = {"MARVEL_PUBLIC_KEY": "pub-key-1234", "MARVEL_PRIVATE_KEY": "private-key-5678"}
    failed = run_manage(
        "seed_marvel",
        "--base-url",
        "http://127.0.0.1:9/v1/public",
        "--retries",
        "0",
        "-v",
        "0",
        data_dir=tmp_path,
        **database,
        **keys,
    )
    assert failed.returncode != 0
    runs = run_manage("shell", "-c", READ_RUNS, data_dir=tmp_path, **database)
    assert runs.returncode == 0, runs.stderr
    (outcome, _, errors, error, _, source), (first, counters, _, _, _, _) = json.loads(
        runs.stdout.splitlines()[-1]
    )
    assert first == "succeeded"
    assert counters == {k: v for k, v in line.items() if k != "error"}
    assert counters["characters_created"] == 20
    assert outcome == "failed"
    assert errors == 1
    assert error in failed.stderr
    assert "private-key-5678" not in error + source
