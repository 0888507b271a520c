"""``characters.ingest.seed``: the one entry point (the command, the bench and these call it)."""

from types import SimpleNamespace

import pytest

from characters.ingest.seed import Report, SeedError, SeedOptions, seed
from characters.models import Character

pytestmark = pytest.mark.django_db

# The settings SeedOptions.build reads.
SEED_SETTINGS = (
    "MARVEL_PUBLIC_KEY",
    "MARVEL_PRIVATE_KEY",
    "MARVEL_API_BASE_URL",
    "MARVEL_RETRIES",
    "MARVEL_BACKOFF",
    "MARVEL_TIMEOUT",
    "SEED_MAX_OFFSET",
)


@pytest.fixture
def small_file(records_file):
    return records_file(25)


def settings_with(**values):
    """Those settings, each empty unless given."""
    return SimpleNamespace(**{**dict.fromkeys(SEED_SETTINGS, ""), **values})


def test_seed_imports_a_file_and_reports_each_page(small_file):
    seen = []

    class Pages(Report):
        def started(self, source):
            seen.append((source.label, source.total))

        def page(self, page, result, stats):
            seen.append((page.offset, result.characters_created, stats.characters_created))

    stats = seed(SeedOptions(path=small_file, page_size=10), Pages())
    assert (stats.characters_created, stats.pages, stats.errors) == (25, 3, 0)
    assert seen == [(str(small_file), 25), (0, 10, 10), (10, 10, 20), (20, 5, 25)]
    assert Character.objects.count() == 25
    again = seed(SeedOptions(path=small_file, offset=20))
    assert (again.characters_unchanged, again.characters_created, again.pages) == (5, 0, 1)


def test_bad_options_fail_before_anything_is_read(small_file):
    for options, message in [
        (SeedOptions(path=small_file, page_size=0), "--page-size must be between 1 and 100"),
        (SeedOptions(path=small_file, base_url="http://x"), "--base-url is for --source api"),
        (SeedOptions(source="api", path=small_file), "--path is for --source file"),
        (SeedOptions(source="api", public_key="p"), "MARVEL_PRIVATE_KEY not set"),
        (SeedOptions(path=small_file, db_wait=-1), "--db-wait must not be negative"),
    ]:
        with pytest.raises(SeedError, match=message) as caught:
            seed(options)
        assert caught.value.stats is None
    assert Character.objects.count() == 0


def test_options_take_arguments_over_settings():
    settings = settings_with(
        MARVEL_PUBLIC_KEY="pub",
        MARVEL_PRIVATE_KEY="priv",
        MARVEL_API_BASE_URL="http://replay/v1/public",
        MARVEL_RETRIES="7",
        SEED_MAX_OFFSET="300",
    )
    options = SeedOptions.build({"retries": None, "max_offset": 50, "verbosity": 1}, settings)
    assert (options.source, options.public_key, options.base_url) == (
        "api",
        "pub",
        "http://replay/v1/public",
    )
    assert (options.retries, options.max_offset, options.timeout) == (7, 50, 30.0)
    # A path means the file source: the API's settings are not read (nor checked).
    bad_api = settings_with(MARVEL_PUBLIC_KEY="pub", MARVEL_PRIVATE_KEY="priv", MARVEL_TIMEOUT="x")
    options = SeedOptions.build({"path": "here.json"}, bad_api)
    assert (options.source, options.base_url, options.public_key) == ("file", None, "")
    with pytest.raises(SeedError, match="MARVEL_TIMEOUT must be a number, got 'x'"):
        SeedOptions.build({}, bad_api)
    with pytest.raises(SeedError, match="OFFSET must not be negative"):
        SeedOptions.build({}, settings_with(SEED_MAX_OFFSET="-5"))
