"""Which alias a request reads from (marvelsite/routing.py), on both backends: public GETs read
through "reads" (primaryPreferred on MongoDB), the admin and every write through "default".
The alias itself is exercised against a real 3-member replica set whose primary is killed, by a
real gunicorn: tests/database/test_outage.py."""

import pytest
from django.db import DEFAULT_DB_ALIAS
from django.test import RequestFactory
from django.urls import set_script_prefix

from characters.models import Character
from marvelsite.db_config import database_settings, public_reads_settings
from marvelsite.routing import READS, PublicReadsRouter, is_public_read, reading_from
from tests.support.manage import ROOT

ROUTER = PublicReadsRouter()


@pytest.mark.parametrize(
    ("method", "path", "public"),
    [
        ("GET", "/", True),
        ("HEAD", "/characters/", True),
        ("GET", "/characters/1009351/hulk/", True),
        ("GET", "/featured/card/", True),
        ("GET", "/admin/", False),
        ("GET", "/admin/characters/character/", False),
        ("POST", "/admin/login/", False),
        ("POST", "/characters/", False),
    ],
)
def test_public_reads_are_gets_outside_the_admin(method, path, public):
    assert is_public_read(RequestFactory().generic(method, path)) is public


def test_the_admin_is_told_apart_under_a_script_prefix_too():
    """Served under /marvel: request.path_info is "/admin/...", reverse() "/marvel/admin/"."""
    set_script_prefix("/marvel/")
    try:
        admin = RequestFactory().get("/admin/characters/character/", SCRIPT_NAME="/marvel")
        public = RequestFactory().get("/characters/", SCRIPT_NAME="/marvel")
        assert is_public_read(admin) is False
        assert is_public_read(public) is True
    finally:
        set_script_prefix("/")


def test_the_router_reads_where_the_request_says_and_writes_to_the_primary():
    assert ROUTER.db_for_read(Character) == DEFAULT_DB_ALIAS
    with reading_from(READS):
        assert ROUTER.db_for_read(Character) == READS
        assert ROUTER.db_for_write(Character) == DEFAULT_DB_ALIAS
        with reading_from(DEFAULT_DB_ALIAS):
            assert ROUTER.db_for_read(Character) == DEFAULT_DB_ALIAS
        assert ROUTER.db_for_read(Character) == READS
    assert ROUTER.db_for_read(Character) == DEFAULT_DB_ALIAS
    assert ROUTER.allow_migrate(READS, "characters") is False
    assert ROUTER.allow_migrate(DEFAULT_DB_ALIAS, "characters") is None


def test_the_reads_alias_is_the_same_database_read_from_any_member():
    default = database_settings({"MONGODB_URI": "mongodb://a,b,c/?replicaSet=rs0"}, ROOT)
    reads = public_reads_settings(default)
    assert (reads["HOST"], reads["NAME"]) == (default["HOST"], default["NAME"])
    assert reads["ENGINE"] == "marvelsite.mongodb_reads"  # django-mongodb-backend, see there
    assert default["OPTIONS"] == {
        "serverSelectionTimeoutMS": 5000,
        "connectTimeoutMS": 2000,
        "readPreference": "primary",
    }
    assert reads["OPTIONS"] == {
        "serverSelectionTimeoutMS": 2000,
        "connectTimeoutMS": 2000,
        "socketTimeoutMS": 5000,
        "readPreference": "primaryPreferred",
    }


def test_the_uri_keeps_its_timeouts_but_not_its_read_preference():
    uri = "mongodb://a,b/?replicaSet=rs0&readPreference=secondary&socketTimeoutMS=900"
    default = database_settings({"MONGODB_URI": uri}, ROOT)
    reads = public_reads_settings(default)
    assert default["OPTIONS"]["readPreference"] == "primary"
    assert reads["OPTIONS"]["readPreference"] == "primaryPreferred"
    assert "socketTimeoutMS" not in reads["OPTIONS"]


def test_settings_define_the_alias_and_router_on_mongodb_only(tmp_path):
    from tests.support.manage import run_manage

    code = (
        "from django.conf import settings; "
        "print(sorted(settings.DATABASES), getattr(settings, 'DATABASE_ROUTERS', []))"
    )
    sqlite = run_manage("shell", "-c", code, data_dir=tmp_path, DJANGO_DEBUG="true")
    assert sqlite.returncode == 0, sqlite.stderr
    assert sqlite.stdout.strip().splitlines()[-1] == "['default'] []"
    mongodb = run_manage(
        "shell",
        "-c",
        code,
        data_dir=tmp_path,
        DJANGO_DEBUG="true",
        MONGODB_URI="mongodb://127.0.0.1:9/?replicaSet=rs0",
    )
    assert mongodb.returncode == 0, mongodb.stderr
    assert mongodb.stdout.strip().splitlines()[-1] == (
        "['default', 'reads'] ['marvelsite.routing.PublicReadsRouter']"
    )
