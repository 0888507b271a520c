"""The one way in: :func:`seed` loads a source into the database and returns its counters.

``manage.py seed_marvel``, ``bench/bench_seed.py`` and the tests all call it with a
:class:`SeedOptions`. Each option is checked once, by the step below that uses it, and a bad
one raises :class:`SeedError` before anything is read or written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from characters.ingest.api import (
    DEFAULT_BASE_URL,
    MAX_PAGE_SIZE,
    MarvelAPIError,
    MarvelClient,
    RetryPolicy,
)
from characters.ingest.importer import Importer, ImportStats
from characters.ingest.masking import mask_secrets
from characters.ingest.recordings import BUNDLED_DATASET, RecordingError, RecordingSource
from characters.ingest.records import ParsedPage
from marvelsite.db_errors import describe
from marvelsite.health import DATABASE_ERRORS, DatabaseNotReady, wait_for_database


class SeedError(Exception):
    """The run did not start or did not finish; the message says why (secrets masked).

    ``stats`` holds what was done before a failure part way (``errors`` counts it), or is None
    when nothing was read.
    """

    def __init__(self, message: str, stats: ImportStats | None = None) -> None:
        super().__init__(mask_secrets(message))
        self.stats = stats


@dataclass(frozen=True, slots=True)
class SeedOptions:
    """One run: ``manage.py seed_marvel``'s options over the settings' (environment) defaults."""

    source: Literal["api", "file"] = "file"
    path: Path | None = None  # file: None is the bundled data set
    offset: int = 0
    max_offset: int | None = None
    page_size: int = MAX_PAGE_SIZE
    dry_run: bool = False
    overwrite_local_edits: bool = False  # Marvel's data wins over edits made here
    db_wait: float | None = None  # wait up to this long for the migrated database; None: no check
    public_key: str = ""
    private_key: str = ""
    base_url: str | None = None  # api: None is Marvel's; given for a file, it is refused
    retries: int = 5
    backoff: float = 1.0
    timeout: float = 30.0

    @classmethod
    def build(cls, arguments: Mapping[str, Any], settings: Any) -> SeedOptions:
        """Options from ``arguments`` (None: not given), the rest from ``settings``. Without
        ``source``: api when both keys are set and no ``path`` is given, else file."""
        names = {f.name for f in fields(cls)}
        given = {k: v for k, v in arguments.items() if k in names and v is not None}
        keys = (settings.MARVEL_PUBLIC_KEY, settings.MARVEL_PRIVATE_KEY)
        given.setdefault("source", "api" if all(keys) and "path" not in given else "file")
        # Read only when used: a bad variable for the other source stops nothing.
        defaults = {"max_offset": lambda: _number("OFFSET", settings.SEED_MAX_OFFSET, int)}
        if given["source"] == "api":
            defaults |= {
                "public_key": lambda: keys[0],
                "private_key": lambda: keys[1],
                "base_url": lambda: settings.MARVEL_API_BASE_URL or None,
                "retries": lambda: _number("MARVEL_RETRIES", settings.MARVEL_RETRIES, int),
                "backoff": lambda: _number("MARVEL_BACKOFF", settings.MARVEL_BACKOFF, float),
                "timeout": lambda: _number("MARVEL_TIMEOUT", settings.MARVEL_TIMEOUT, float),
            }
        for name, read in defaults.items():
            if name not in given and (value := read()) is not None:
                given[name] = value
        return cls(**given)


def _number(name: str, text: str, kind: type) -> int | float | None:
    """A setting's number; "" is unset."""
    if not text.strip():
        return None
    try:
        number = kind(text)
    except ValueError:
        raise SeedError(f"{name} must be a number, got {text!r}") from None
    if number < 0:
        raise SeedError(f"{name} must not be negative, got {text!r}")
    return number


@dataclass(slots=True)
class Source:
    """Parsed pages from the options' offset on, and what to call them in messages."""

    pages: Iterable[ParsedPage]
    label: str  # the file, "the bundled data set" or the API's URL (keys masked)
    total: int | None  # records from the offset on, when known before reading
    close: Callable[[], None] = lambda: None


class Report:
    """What :func:`seed` tells its caller as it goes; the command prints it, others need not."""

    def waiting(self, attempt: int, pause: float, reason: str) -> None:
        """The database is not ready yet (``reason`` masked); another try follows."""

    def started(self, source: Source) -> None:
        """The database is ready; the pages of ``source`` follow."""

    def page(self, page: ParsedPage, result: ImportStats, stats: ImportStats) -> None:
        """One page imported: its own counters and the run's so far."""


def open_source(options: SeedOptions) -> Source:
    if not 1 <= options.page_size <= MAX_PAGE_SIZE:
        # A page is one transaction; files are cut like the API's pages, so both import alike.
        raise SeedError(
            f"--page-size must be between 1 and {MAX_PAGE_SIZE}, got {options.page_size}"
        )
    if options.offset < 0:
        raise SeedError(f"--offset must not be negative, got {options.offset}")
    if options.max_offset is not None and options.max_offset < 0:
        raise SeedError(f"--max-offset must not be negative, got {options.max_offset}")
    where = {"offset": options.offset, "max_offset": options.max_offset}
    if options.source == "file":
        if options.base_url is not None:
            raise SeedError("--base-url is for --source api")
        try:
            reader = RecordingSource(
                options.path or BUNDLED_DATASET, page_size=options.page_size, **where
            )
        except RecordingError as exc:
            raise SeedError(str(exc)) from None
        label = "the bundled data set" if options.path is None else str(options.path)
        return Source(reader, label, max(reader.total - options.offset, 0))

    if options.path is not None:
        raise SeedError("--path is for --source file")
    keys = {"MARVEL_PUBLIC_KEY": options.public_key, "MARVEL_PRIVATE_KEY": options.private_key}
    if missing := [name for name, value in keys.items() if not value]:
        raise SeedError(
            f"--source api needs the API keys in the environment: {' and '.join(missing)} not set"
        )
    base_url = options.base_url or DEFAULT_BASE_URL
    if not base_url.startswith(("http://", "https://")):
        raise SeedError(f"--base-url must be an http(s) URL, got {base_url!r}")
    if options.retries < 0 or options.backoff < 0 or options.timeout <= 0:
        raise SeedError("--retries and --backoff must be >= 0 and --timeout > 0")
    policy = RetryPolicy(
        retries=options.retries,
        backoff=options.backoff,
        connect_timeout=min(options.timeout, 10.0),
        read_timeout=options.timeout,
    )
    client = MarvelClient(options.public_key, options.private_key, base_url, policy=policy)
    pages = client.pages(page_size=options.page_size, **where)
    return Source(pages, mask_secrets(client.characters_url), None, client.close)


def seed(options: SeedOptions, report: Report | None = None) -> ImportStats:
    """Import every page of the options' source; the run's counters.

    Raises :class:`SeedError` for bad options, a database that is not ready within
    ``db_wait``, or a page that cannot be read or written; every page before that one is
    fully written, and its ``stats`` say so.
    """
    started = time.monotonic()
    report = report or Report()
    if options.db_wait is not None and options.db_wait < 0:
        raise SeedError(f"--db-wait must not be negative, got {options.db_wait:g}")
    if options.dry_run and options.overwrite_local_edits:
        raise SeedError("--overwrite-local-edits writes: it cannot go with --dry-run")
    source = open_source(options)
    importer = Importer(
        dry_run=options.dry_run, overwrite_local_edits=options.overwrite_local_edits
    )
    next_offset, failure = options.offset, ""
    try:
        if options.db_wait is not None:
            wait_for_database(
                options.db_wait,
                migrated=True,
                on_retry=lambda n, pause, why: report.waiting(n, pause, mask_secrets(why)[:300]),
            )
        report.started(source)
        for page in source.pages:
            result = importer.import_page(page)
            next_offset = page.offset + page.size
            report.page(page, result, importer.stats)
    except DatabaseNotReady as exc:
        raise SeedError(mask_secrets(str(exc))[:500]) from None
    except (MarvelAPIError, RecordingError) as exc:
        failure = str(exc)
    except DATABASE_ERRORS as exc:
        failure = f"database error: {describe(exc, longest=500)}"
    finally:
        source.close()

    stats = importer.stats
    stats.seconds = time.monotonic() - started
    if failure:
        stats.errors += 1
        if stats.pages and not options.dry_run:
            failure += (
                f"; every page before offset {next_offset} is fully written: re-run with "
                f"--offset {next_offset} to resume"
            )
        raise SeedError(f"seed_marvel failed: {failure}", stats)
    return stats
