import pytest


def pytest_report_header(config):
    from django.conf import settings

    database = settings.DATABASES["default"]
    return f"marvelsite database: {database['ENGINE']} ({database.get('HOST') or database['NAME']})"


@pytest.fixture
def on_mongodb(settings):
    return settings.ON_MONGODB


def pytest_configure(config):
    # Before Django opens its first MongoDB connection: clients take listeners when created.
    from pymongo import monitoring

    from tests.support.query_plans import RECORDER

    monitoring.register(RECORDER)
