"""The catalogue version (CatalogueVersion's token) kept in memory: what a cached page is keyed
and tagged by, known without asking the database on every request.

- MongoDB replica set: one thread per process watches a change stream on the version's
  collection (`watch()` with `$match` on its namespace): every catalogue write bumps the
  version (the model signals, each import page), so its events say all; the catalogue's own
  collections would send every worker one event per document an import writes. Change
  streams carry majority-committed writes only, and the version document is read with
  majority read concern: a write that is rolled back is never seen. The watcher resumes with
  `start_after`; on any error, an `invalidate` or lost history it forgets the version (the next
  request re-reads the document) and reopens. Requests trust what it holds for LEASE_SECONDS
  after its last answer from the server; past that (a dead or hung watcher) they re-read the
  document themselves, at most every REREAD_SECONDS: an edit shows within a second either way.
  The stream and the document reads use the backend's own MongoClient (one per process and
  alias in django-mongodb-backend), opened after gunicorn forks (pymongo is not fork-safe).
- SQLite: `PRAGMA data_version` (changed by any other connection's commit) and the
  connection's `total_changes` (its own writes) tell when to read the version row again.
- Inside a transaction the row is read on every call, as the transaction sees it.
A bump in this process forgets the kept version at once (models.catalogue_version_bumped).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router

from characters import store
from characters.models import CatalogueVersion
from characters.store.errors import InvalidOperation, OperationFailure, PyMongoError
from marvelsite.routing import READS

if TYPE_CHECKING:  # a type only: the driver stays behind the store
    from characters.store.mongo import ClusterTime

logger = logging.getLogger(__name__)

WAIT_MS = 250  # a getMore waits this long for news, so the watcher answers and stops in time
LEASE_SECONDS = 0.75  # what the watcher holds is trusted this long after its last answer
REREAD_SECONDS = 0.5  # without a live watcher, requests re-read the document this often
RETRY_SECONDS = 1.0  # between attempts to reopen a failed stream


def _token_column() -> str:
    return CatalogueVersion._meta.get_field("token").column


class KeptVersion:
    """The version one process holds, from the watcher or re-read by requests. Each value
    carries the cluster time it is as of, so an older event never replaces a newer read."""

    def __init__(self):
        self.lock = threading.Lock()
        self.token: str | None = None
        self.as_of: ClusterTime | None = None
        self.trusted_until = 0.0
        self.generation = 0  # changes with every forget(), so a read begun before one is dropped
        self.floor: ClusterTime | None = None  # a read older than this misses an event

    def trusted(self) -> str | None:
        token = self.token
        return token if token is not None and time.monotonic() < self.trusted_until else None

    def store(self, token: str, as_of: ClusterTime | None, seconds: float, generation: int):
        """A value read from the document, unless forget() came since the read began."""
        with self.lock:
            if generation != self.generation:
                return
            if as_of is not None and self.as_of is not None and as_of < self.as_of:
                return  # something newer is held already
            if self.floor is not None and (as_of is None or as_of < self.floor):
                return  # an event came since the read began
            self.floor = None
            self.token, self.as_of = token, as_of
            self.trusted_until = max(self.trusted_until, time.monotonic() + seconds)

    def follow(self, token: str, at: ClusterTime | None, seconds: float) -> None:
        """A change event. With nothing held, a read under way may predate it: only a read
        as of its time or later is kept. Dropped when what is held includes it."""
        with self.lock:
            if self.token is None:
                self.floor = at if self.floor is None or (at and at > self.floor) else self.floor
                return
            if at is not None and self.as_of is not None and at <= self.as_of:
                return
            self.token, self.as_of = token, at
            self.trusted_until = time.monotonic() + seconds

    def extend(self, seconds: float) -> None:
        """The watcher heard from the server: what it holds is current."""
        with self.lock:
            if self.token is not None:
                self.trusted_until = time.monotonic() + seconds

    def forget(self) -> None:
        with self.lock:
            self.token, self.as_of, self.trusted_until, self.floor = None, None, 0.0, None
            self.generation += 1


class Watcher(threading.Thread):
    """Follows the catalogue's change stream into `kept` until stop()."""

    def __init__(self, alias: str, kept: KeptVersion):
        super().__init__(name="catalogue-version-watcher", daemon=True)
        self.alias, self.kept = alias, kept
        self.stopping = threading.Event()
        self.resume_token = None
        self.streams = 0  # streams opened: 1 + how often it reopened
        self.quiet_since = 0.0  # when the latest getMore that brought nothing was sent

    def pipeline(self) -> list[dict]:
        table, token = CatalogueVersion._meta.db_table, _token_column()
        return [
            {"$match": {"ns.coll": table}},
            {"$project": {"ns": 1, "clusterTime": 1, "operationType": 1, f"fullDocument.{token}": 1,
                          f"updateDescription.updatedFields.{token}": 1}},
        ]  # fmt: skip

    def run(self) -> None:
        db = store.for_alias(self.alias)  # on this thread's wrapper over the process's client
        try:
            while not self.stopping.is_set():
                try:
                    self.follow(db)
                except InvalidOperation:  # the client was closed: the process is ending
                    return
                except PyMongoError as error:
                    self.kept.forget()  # events may have been missed: everything changed
                    if isinstance(error, OperationFailure):  # e.g. lost history: start afresh
                        self.resume_token = None
                    if not self.stopping.is_set():
                        logger.warning("catalogue version watcher: %s; reopening", error)
                    self.stopping.wait(RETRY_SECONDS)
                except Exception:
                    self.kept.forget()
                    logger.exception("catalogue version watcher failed; reopening")
                    self.stopping.wait(RETRY_SECONDS)
        finally:
            self.kept.forget()

    def follow(self, db) -> None:
        token_field = _token_column()
        with db.watch(
            self.pipeline(), start_after=self.resume_token, max_await_time_ms=WAIT_MS
        ) as stream:
            self.streams += 1
            generation = self.kept.generation
            # Read after the stream opened: nothing written in between is missed.
            token, as_of = db.version_token_as_of(CatalogueVersion)
            self.kept.store(token, as_of, LEASE_SECONDS, generation)
            while stream.alive and not self.stopping.is_set():
                asked = time.monotonic()
                change = stream.try_next()
                if change is None:
                    self.quiet_since = asked
                else:
                    self.apply(change, token_field)
                    if change["operationType"] == "invalidate":
                        self.resume_token = None
                        self.kept.forget()
                        return
                self.resume_token = stream.resume_token
                self.kept.extend(LEASE_SECONDS)

    def apply(self, change: dict, token_field: str) -> None:
        if change["operationType"] == "delete":
            token = ""
        else:
            fields = change.get("updateDescription", {}).get("updatedFields", {})
            token = fields.get(token_field, change.get("fullDocument", {}).get(token_field))
        if token is None:  # a change that does not say the token (a drop): read it again
            self.kept.forget()
        else:
            self.kept.follow(token, change.get("clusterTime"), LEASE_SECONDS)

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.join(timeout)


_kept = KeptVersion()
_watcher: Watcher | None = None
_watcher_pid: int | None = None
_start_lock = threading.Lock()


def watch_alias() -> str:
    """The alias public pages read from (primaryPreferred: the stream resumes on a secondary
    during an election), else the default."""
    return READS if READS in settings.DATABASES else DEFAULT_DB_ALIAS


def start(alias: str | None = None) -> Watcher | None:
    """Start this process's watcher (MongoDB replica sets only); called after gunicorn forks,
    or by the first read. A forked child starts its own: the parent's thread is not there."""
    global _watcher, _watcher_pid
    if _watcher is not None and _watcher_pid == os.getpid() and _watcher.is_alive():
        return _watcher
    alias = alias or watch_alias()
    try:
        if not store.for_alias(alias).has_change_streams():
            return None  # SQLite, or a standalone mongod
    except (DatabaseError, PyMongoError):
        return None  # the server cannot be asked now: the next read tries again
    with _start_lock:
        if _watcher is not None and _watcher_pid == os.getpid() and _watcher.is_alive():
            return _watcher
        _kept.forget()
        _watcher, _watcher_pid = Watcher(alias, _kept), os.getpid()
        _watcher.start()
        return _watcher


def stop() -> None:
    global _watcher
    with _start_lock:
        watcher, _watcher = _watcher, None
    if watcher is not None and _watcher_pid == os.getpid():
        watcher.stop()


def settle(timeout: float = 5.0) -> bool:
    """Wait until this process's watcher has seen everything committed before the call (it
    asked the server for news after it and got none) and holds the version; False without a
    watcher or after `timeout`."""
    called, deadline = time.monotonic(), time.monotonic() + timeout
    watcher = start()
    while watcher is not None and time.monotonic() < deadline:
        if watcher.quiet_since > called:
            current()  # holds a value from here on, if it was forgotten
            return _kept.trusted() is not None
        time.sleep(0.01)
    return False


def forget(**kwargs) -> None:
    """Something in this process changed the version: read it again on the next request."""
    _kept.forget()


def current() -> str:
    """The catalogue version, on the alias the router picks for reads (as the ORM would)."""
    db = store.for_alias(router.db_for_read(CatalogueVersion))
    if db.in_transaction():  # as the transaction sees it
        return db.version_token(CatalogueVersion)
    seen = db.changes_seen()
    if seen is None:
        return _current_watched(db)
    connection = connections[db.alias]
    kept = getattr(connection, "catalogue_version_kept", None)
    if kept is not None and kept[0] == seen:
        return kept[1]
    token = db.version_token(CatalogueVersion)
    connection.catalogue_version_kept = (seen, token)
    return token


def _current_watched(db) -> str:
    if (token := _kept.trusted()) is not None:
        return token
    if start() is None:  # a standalone mongod (no change streams), or the server is down
        return db.version_token(CatalogueVersion)
    with _kept.lock:
        generation = _kept.generation
    if (token := _kept.trusted()) is not None:
        return token
    token, as_of = db.version_token_as_of(CatalogueVersion)
    _kept.store(token, as_of, REREAD_SECONDS, generation)
    return token
