import os

import pytest

USING_STAND_IN = os.environ.get("MARVELSITE_TEST_MONGO") == "stand-in"


def pytest_configure(config):
    if USING_STAND_IN:
        # Before pytest-django creates the test database: every connection is the stand-in.
        from tests.support import mongo_stand_in

        mongo_stand_in.install()


def pytest_report_header(config):
    from django.conf import settings

    database = settings.DATABASES["default"]
    where = "mongomock-ng stand-in" if USING_STAND_IN else database.get("HOST") or database["NAME"]
    return f"marvelsite database: {database['ENGINE']} ({where})"


@pytest.fixture
def on_mongodb(settings):
    return settings.ON_MONGODB
