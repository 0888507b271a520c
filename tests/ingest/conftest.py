"""Databases for real manage.py processes (seed_marvel runs), and the bundled records as a file."""

import gzip
import json

import pytest

from characters.ingest.recordings import BUNDLED_DATASET
from tests.support.manage import clean_env, fresh_database


@pytest.fixture
def database(tmp_path, settings):
    """The variables naming a fresh, migrated database of the suite's backend (a SQLite file in
    tmp_path, or a new database on the suite's replica set, dropped after the test)."""
    from django.db import connection

    uri = settings.DATABASES["default"]["HOST"] if settings.ON_MONGODB else None
    variables = fresh_database(tmp_path, uri)
    yield variables
    if "MONGODB_NAME" in variables:
        connection.ensure_connection()
        connection.connection.drop_database(variables["MONGODB_NAME"])


@pytest.fixture
def env(tmp_path, database):
    """The whole environment of a process on that database."""
    return clean_env(tmp_path, **database)


@pytest.fixture
def records_file(tmp_path):
    """Writes the bundled data set's first `count` records to a file: its path."""

    def write(count: int):
        raw = json.loads(gzip.decompress(BUNDLED_DATASET.read_bytes()))["data"]["results"]
        path = tmp_path / "characters.json"
        path.write_text(json.dumps(raw[:count]))
        return path

    return write
