import pytest

# The browser tests' fixtures (chromium_path, shots).
pytest_plugins = ["tests.support.browser"]


def pytest_report_header(config):
    from django.conf import settings

    database = settings.DATABASES["default"]
    return f"marvelsite database: {database['ENGINE']} ({database.get('HOST') or database['NAME']})"


@pytest.fixture
def on_mongodb(settings):
    return settings.ON_MONGODB


BACKENDS = {"mongodb": "MongoDB", "sqlite": "SQLite"}


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.mongodb("why")` and `@pytest.mark.sqlite("why")`: the one way to say a test
    runs on one backend. Elsewhere it is skipped, and the skip says why."""
    from django.conf import settings

    running = "mongodb" if settings.ON_MONGODB else "sqlite"
    for item in items:
        for mark in item.iter_markers():
            if mark.name not in BACKENDS:
                continue
            if len(mark.args) != 1 or not isinstance(mark.args[0], str) or mark.kwargs:
                raise pytest.UsageError(
                    f'{item.nodeid}: write @pytest.mark.{mark.name}("why it needs '
                    f'{BACKENDS[mark.name]}")'
                )
            if mark.name != running:
                reason = f"{BACKENDS[mark.name]} only: {mark.args[0]}"
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_configure(config):
    # Before Django opens its first MongoDB connection: clients take listeners when created.
    from pymongo import monitoring

    from tests.support.query_plans import RECORDER

    monitoring.register(RECORDER)


@pytest.fixture(autouse=True)
def catalogue_version_forgotten(monkeypatch):
    """Each test starts with no version, card or upload kept in memory, so what it sees and its
    query counts do not depend on the test before; the watcher's lease is long, so they do not
    depend on the machine's load either (tests/database/test_version_watcher.py sets its own)."""
    from django.core.cache import caches
    from django.core.files.storage import default_storage

    from characters import catalogue_version

    caches["template_fragments"].clear()
    if (uploads_kept := getattr(default_storage, "cache", None)) is not None:  # GridFS
        uploads_kept.clear()

    monkeypatch.setattr(catalogue_version, "LEASE_SECONDS", 60.0)
    catalogue_version.forget()
