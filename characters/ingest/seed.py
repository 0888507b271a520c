"""The one way in: :func:`seed` loads a source into the database and returns its counters.

``manage.py seed_marvel``, ``python -m bench.seed`` and the tests all call it with a
:class:`SeedOptions`. Each option is checked once, by the step below that uses it, and a bad
one raises :class:`SeedError` before anything is read or written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from django.db import IntegrityError
from django.utils import timezone
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from characters.ingest.api import (
    DEFAULT_BASE_URL,
    MAX_PAGE_SIZE,
    MarvelAPIError,
    MarvelClient,
    RetryPolicy,
)
from characters.ingest.history import Recorder
from characters.ingest.importer import Importer, ImportStats
from characters.ingest.lock import (
    HEARTBEAT_SECONDS,
    ImportLockLost,
    ImportRunning,
    acquire_import_lock,
)
from characters.ingest.recordings import (
    BUNDLED_DATASET,
    DEFAULT_MAX_BYTES,
    RecordingError,
    RecordingSource,
)
from characters.ingest.records import ParsedPage, Skipped
from characters.models import RowChanged
from characters.store.errors import BulkWriteError, InvalidDocument, OperationFailure
from marvelsite.db_errors import (
    DATABASE_ERRORS,
    chain,
    describe,
    is_transient,
    is_write_conflict,
)
from marvelsite.health import DatabaseNotReady, wait_for_database
from marvelsite.redaction import mask_secrets
from marvelsite.transactions import transaction_lifetime

# A page that meets a transient database error (an election, the network) is tried again for
# this long: an unplanned failover takes 10-12 s to elect a primary.
DB_RETRY_SECONDS = 60.0
SETTLE_MARGIN = 5.0  # seconds, for clocks of other hosts
CONFLICT_ATTEMPTS = 3
# A page of several records meeting write conflicts this many tries in a row is written in
# halves: a smaller transaction is what relieves cache pressure (mongod 6.0 reports it as a
# WriteConflict, not TransactionTooLargeForCache, while other writes hold the cache) and what
# gets the rest of a page past a row another transaction holds.
SPLIT_AFTER_CONFLICTS = 4
LOCK_WAIT_SECONDS = 300.0
# What the server refuses for a page's size or one record's content, whenever it is tried:
# the page is written in halves, and a record refused alone is skipped.
REFUSED_CODE_NAMES = {"BSONObjectTooLarge", "TransactionTooLarge", "TransactionTooLargeForCache"}
REFUSED_CODES = {257, 388, 10334}  # TransactionTooLarge, ...ForCache, BSONObjectTooLarge


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
    db_retry: float = DB_RETRY_SECONDS  # retry a page's transient database errors this long
    lock_wait: float = LOCK_WAIT_SECONDS  # wait this long for another import to finish
    public_key: str = ""
    private_key: str = ""
    base_url: str | None = None  # api: None is Marvel's; given for a file, it is refused
    retries: int = 5
    backoff: float = 1.0
    timeout: float = 30.0
    max_recording_bytes: int = DEFAULT_MAX_BYTES  # file: JSON a file may hold, decompressed

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
        if given["source"] == "file":
            defaults["max_recording_bytes"] = lambda: _number(
                "MARVELSITE_MAX_RECORDING_BYTES", getattr(settings, "MAX_RECORDING_BYTES", ""), int
            )
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

    def lock_notice(self, message: str) -> None:
        """Another import holds the lock (``message``: whose, since when, how long we wait), or
        held it and stopped (we took it over)."""

    def retrying(self, page: ParsedPage | None, attempt: int, pause: float, reason: str) -> None:
        """A page (None: taking the import lock) met a transient database error (``reason``);
        it is tried again after ``pause`` seconds."""

    def splitting(self, page: ParsedPage, halves: tuple[int, int], reason: str) -> None:
        """A page the database refused, or whose write conflicts outlasted its tries
        (``reason``), is written in two transactions of ``halves`` records."""


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
        if options.max_recording_bytes <= 0:
            raise SeedError("MARVELSITE_MAX_RECORDING_BYTES must be positive")
        try:
            reader = RecordingSource(
                options.path or BUNDLED_DATASET,
                page_size=options.page_size,
                max_bytes=options.max_recording_bytes,
                **where,
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
    fully written, and its ``stats`` say so. A run that writes is recorded (history.py),
    failed or not.
    """
    recorder = Recorder()
    try:
        stats = _seed(options, report or Report(), recorder)
    except SeedError as exc:
        recorder.finish(exc.stats, str(exc))
        raise
    except BaseException as exc:  # an interrupt, a bug: still not "running" forever
        recorder.finish(None, f"seed_marvel failed: {describe(exc, longest=500)}")
        raise
    recorder.finish(stats)
    return stats


def _seed(options: SeedOptions, report: Report, recorder: Recorder) -> ImportStats:
    started = time.monotonic()
    for name in ("db_wait", "db_retry", "lock_wait"):
        if (value := getattr(options, name)) is not None and value < 0:
            raise SeedError(f"--{name.replace('_', '-')} must not be negative, got {value:g}")
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
        if not options.dry_run:  # a dry run writes nothing, history included
            recorder.start(options, source.label)
        lock = _lock(options, report)
        recorder.locked(getattr(lock, "token", ""))
        settled = _settled(lock, importer.using)
        try:
            report.started(source)
            for page in source.pages:
                lock.check()
                budget = max(options.db_retry, settled - time.monotonic())
                result = _import_page(importer, page, time.monotonic() + budget, report)
                next_offset = page.offset + page.size
                report.page(page, result, importer.stats)
        finally:
            lock.release()
    except DatabaseNotReady as exc:
        raise SeedError(mask_secrets(str(exc))[:500]) from None
    except ImportRunning as exc:
        raise SeedError(str(exc)) from None
    except (MarvelAPIError, RecordingError, ImportLockLost) as exc:
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


class _NoLock:
    """What a dry run holds: it writes nothing, so it needs no lock."""

    replaced = None

    def check(self) -> None:
        pass

    def release(self) -> None:
        pass


def _lock(options: SeedOptions, report: Report):
    if options.dry_run:
        return _NoLock()

    def acquire(_page):
        return acquire_import_lock(wait=options.lock_wait, on_wait=report.lock_notice)

    return _with_retries(acquire, None, options.db_retry, report)


def _settled(lock, using: str) -> float:
    """When (time.monotonic()) a stopped import we took the lock over from can no longer hold
    documents: its last transaction began before its next heartbeat, expires after the server's
    transaction lifetime, and is aborted by a periodic job that may come up to half a lifetime
    later (docs/benchmarks.md, "Figures the other pages point to").
    Until then a page's tries (its halves' too) go on whatever --db-retry says."""
    if lock.replaced is None:
        return 0.0
    lifetime = transaction_lifetime(using)
    if not lifetime:
        return 0.0
    ends = lock.replaced + timedelta(seconds=HEARTBEAT_SECONDS + 2 * lifetime + SETTLE_MARGIN)
    return time.monotonic() + (ends - timezone.now()).total_seconds()


def is_refused(error: BaseException) -> bool:
    """Whether the database refuses this content whenever it is tried: too large for a
    document or a transaction, or a value it cannot encode."""
    for link in chain(error):
        if isinstance(link, InvalidDocument | OverflowError | UnicodeError):
            return True
        if isinstance(link, BulkWriteError):
            errors = (link.details or {}).get("writeErrors", [])
            if any(item.get("code") in REFUSED_CODES for item in errors):
                return True
        elif isinstance(link, OperationFailure) and (
            link.code in REFUSED_CODES or (link.details or {}).get("codeName") in REFUSED_CODE_NAMES
        ):
            return True
    return False


def _import_page(importer: Importer, page: ParsedPage, deadline: float, report: Report):
    """Import ``page`` in one transaction, retried until ``deadline`` (time.monotonic()). One
    the database refuses, or one of several records whose write conflicts last
    SPLIT_AFTER_CONFLICTS tries in a row, is imported in halves, down to single records, within
    the same deadline; a record refused alone moves to ``page.skipped`` with the reason (the
    page keeps its size, so the resume offset stays right). A single record meeting conflicts
    is tried until the deadline: it is never skipped for another writer's sake."""
    budget = max(deadline - time.monotonic(), 0.0)
    try:
        return _with_retries(importer.import_page, page, budget, report)
    except _SplitPage as split:
        error = split.__cause__
    except Exception as exc:
        if not (page.records and is_refused(exc)):
            raise
        error = exc
    if len(page.records) == 1:
        record = page.records.pop()
        reason = f"the database refused it: {describe(error, longest=300)}"
        page.skipped.append(Skipped(None, record.id, record.name, reason))
        return importer.import_page(page)  # counts the skips, writes nothing
    middle = len(page.records) // 2
    report.splitting(page, (middle, len(page.records) - middle), describe(error, longest=300))
    first = replace(page, records=page.records[:middle])  # counts page.skipped once
    second = replace(page, records=page.records[middle:], skipped=[])
    result = ImportStats()
    for half in (first, second):
        result.add(_import_page(importer, half, deadline, report))
    page.records = first.records + second.records
    page.skipped.extend(second.skipped)
    # One page read, however many transactions wrote it.
    importer.stats.pages -= result.pages - 1
    result.pages = 1
    return result


def _retryable(error: BaseException) -> bool:
    # IntegrityError: another writer inserted a row this page was about to (an import that
    # bypassed the lock, an admin add): read the page again and it finds the row.
    # RowChanged: editors kept saving the page's rows while it was planned again.
    if is_refused(error):
        return False
    return isinstance(error, IntegrityError | RowChanged) or is_transient(error)


def _conflicts_persist(state) -> bool:
    """Stop after CONFLICT_ATTEMPTS tries that met an IntegrityError: a row another writer
    made is found on the next read; one that still conflicts is a real error."""
    error = state.outcome.exception()
    return isinstance(error, IntegrityError) and state.attempt_number >= CONFLICT_ATTEMPTS


class _SplitPage(Exception):
    """Raised from a page's last write conflict once SPLIT_AFTER_CONFLICTS tries in a row met
    one: the page is written in halves."""


class _ConflictsInARow:
    """A tenacity stop for a page of several records whose tries met write conflicts
    SPLIT_AFTER_CONFLICTS times in a row, and what is raised when the tries stop."""

    def __init__(self, page: ParsedPage | None) -> None:
        self.page, self.count = page, 0

    def __call__(self, state) -> bool:
        self.count = self.count + 1 if is_write_conflict(state.outcome.exception()) else 0
        return self.splits()

    def splits(self) -> bool:
        return (
            self.page is not None
            and len(self.page.records) > 1
            and self.count >= SPLIT_AFTER_CONFLICTS
        )

    def give_up(self, state):
        """_SplitPage if this stop ended the tries, else the last error as it was."""
        if self.splits():
            raise _SplitPage from state.outcome.exception()
        return state.outcome.result()  # raises the last try's error


def _with_retries(work, page: ParsedPage | None, seconds: float, report: Report):
    """`work(page)`, tried again while it meets transient database errors, with exponential
    backoff and jitter, for up to `seconds`. A page's import is idempotent (read, compare,
    write), so trying it again is safe."""

    def before_sleep(state) -> None:
        reason = describe(state.outcome.exception(), longest=300)
        report.retrying(page, state.attempt_number, state.upcoming_sleep, reason)

    # The time limit first: when it ends the tries, the page is not split past it.
    conflicts = _ConflictsInARow(page)
    retrying = Retrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_delay(seconds) | _conflicts_persist | conflicts,
        wait=wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5),
        before_sleep=before_sleep,
        retry_error_callback=conflicts.give_up,
    )
    return retrying(work, page)
