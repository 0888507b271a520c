"""Rows added here (the admin) get local ids without races, on SQLite and the real replica set.

Several processes add characters and comics at the same moment, as concurrent admin requests
on different workers or pods do: every add must land as its own row, none overwritten.
"""

import json
import subprocess
import sys
import time

import pytest
from django.db import connection

from characters.models import LOCAL_ID_START, Character
from tests.support.manage import ROOT, clean_env, run_manage

WRITERS = 4
ADDS_EACH = 15


@pytest.fixture
def database_env(tmp_path, settings):
    """The environment of a process using the database under test (a migrated SQLite file,
    or this test run's MongoDB database)."""
    env = {"DJANGO_DEBUG": "true", "DJANGO_ALLOWED_HOSTS": "testserver"}
    env["MARVELSITE_OTP_REQUIRED"] = "off"  # the writers are superusers logged in by force_login
    if connection.vendor == "mongodb":
        env |= {"MONGODB_URI": settings.DATABASES["default"]["HOST"]}
        env |= {"MONGODB_NAME": connection.settings_dict["NAME"]}
    else:
        migrated = run_manage("migrate", "--noinput", data_dir=tmp_path, **env)
        assert migrated.returncode == 0, migrated.stderr
    return clean_env(tmp_path, **env)


def writer(env, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.local_id_writer", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out.strip().splitlines()[-1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_concurrent_adds_never_overwrite_each_other(database_env, tmp_path):
    start = tmp_path / "start"
    writers = [writer(database_env, str(ADDS_EACH), f"W{n}", str(start)) for n in range(WRITERS)]
    time.sleep(0.5)
    # Every writer has imported Django by now or soon; they all begin on the same signal.
    start.touch()
    given = [json.loads(finish(process)) for process in writers]
    stored = json.loads(finish(writer(database_env, "dump")))

    for kind, label in (("characters", ""), ("comics", " comic")):
        ids = [pk for result in given for pk in result[kind]]
        assert len(set(ids)) == WRITERS * ADDS_EACH, f"{kind}: some adds were given the same id"
        assert min(ids) >= LOCAL_ID_START
        rows = {pk: (name, has_created_at) for pk, name, has_created_at in stored[kind]}
        expected = {
            pk: (f"W{n}{label} {number}", True)
            for n, result in enumerate(given)
            for number, pk in enumerate(result[kind])
        }
        assert rows == expected, f"{kind}: an add was lost or overwritten"


@pytest.mark.django_db
def test_local_ids_follow_the_highest(on_mongodb):
    Character.objects.create(id=LOCAL_ID_START + 41, name="Existing")
    assert Character.objects.create(name="Next").id == LOCAL_ID_START + 42
