"""One import at a time: a lock row that a second seed_marvel waits for, then gives up on.

Two imports at once (two Jobs, or a Job and a person) would each read a page, find the same
characters missing and insert them: the loser's page fails on the unique index. So an import
holds `ImportLock` (one row, fixed id) while it writes. Another one waits for it, saying who
holds it and since when, up to `wait` seconds, then stops with "another import is running
since …". The holder's heartbeat (a thread, every HEARTBEAT_SECONDS) shows it is alive: a
lock whose heartbeat is older than STALE_SECONDS, or whose holder is a dead process on this
host, is taken over, so a killed import blocks the next one for a minute at most.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone

from characters.models import ImportLock
from marvelsite.db_errors import DATABASE_ERRORS

HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0
POLL_SECONDS = 2.0


class ImportRunning(Exception):
    """Another import held the lock for longer than we were willing to wait."""


class ImportLockLost(Exception):
    """Our lock was taken over (our heartbeat stalled for STALE_SECONDS): stop writing."""


def describe_holder(lock: ImportLock, now: datetime) -> str:
    age = (now - lock.heartbeat_at).total_seconds()
    return (
        f"since {lock.started_at:%Y-%m-%d %H:%M:%S} UTC ({lock.host}, pid {lock.pid}; "
        f"last heartbeat {age:.0f}s ago)"
    )


class HeldLock:
    """The lock while we hold it; `check()` raises ImportLockLost once it was taken over.

    `replaced` is the last heartbeat of the stopped import whose lock we took over, if any: its
    unfinished transaction may hold documents a while longer (seed.py waits it out).
    """

    def __init__(
        self, token: str, using: str, heartbeat_seconds: float, replaced: datetime | None
    ) -> None:
        self.token = token
        self.using = using
        self.replaced = replaced
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(heartbeat_seconds,), name="import-lock-heartbeat", daemon=True
        )

    def check(self) -> None:
        if self._lost.is_set():
            raise ImportLockLost(
                "the import lock was taken over by another import (this one stalled for "
                f"{STALE_SECONDS:g}s): stopping; every page before this one is fully written"
            )

    def _beat(self, every: float) -> None:
        try:
            while not self._stop.wait(every):
                with contextlib.suppress(*DATABASE_ERRORS):  # an election: beat again later
                    held = (
                        ImportLock.objects.using(self.using)
                        .filter(id=1, token=self.token)
                        .update(heartbeat_at=timezone.now())
                    )
                    if not held:
                        self._lost.set()
                        return
        finally:
            connections.close_all()  # this thread's own connections

    def release(self) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(*DATABASE_ERRORS):  # left to go stale if the database is gone
            ImportLock.objects.using(self.using).filter(id=1, token=self.token).delete()


def _stale(lock: ImportLock, now: datetime, stale_seconds: float) -> bool:
    if now - lock.heartbeat_at > timedelta(seconds=stale_seconds):
        return True
    if lock.host == socket.gethostname() and lock.pid != os.getpid():
        try:
            os.kill(lock.pid, 0)  # signal 0: does the process exist?
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists, as another user
            return False
    return False


def _try_take(token: str, using: str, stale_seconds: float) -> tuple[ImportLock | None, bool]:
    """Take the lock: (None, whether it was taken over from a stopped import), else (the
    holder's row, False)."""
    locks = ImportLock.objects.using(using)
    now = timezone.now()
    mine = {"token": token, "host": socket.gethostname(), "pid": os.getpid()}
    mine |= {"started_at": now, "heartbeat_at": now}
    try:
        with transaction.atomic(using=using):  # a savepoint on SQLite; one insert on MongoDB
            locks.create(id=1, **mine)
        return None, False
    except IntegrityError:
        pass
    holder = locks.filter(id=1).first()
    if holder is None:  # released meanwhile: try again at once
        return _try_take(token, using, stale_seconds)
    if _stale(holder, now, stale_seconds):
        # Only if nobody else took it over first (same token, same heartbeat).
        taken = locks.filter(id=1, token=holder.token, heartbeat_at=holder.heartbeat_at)
        if taken.update(**mine):
            return holder, True
        return locks.filter(id=1).first() or holder, False
    return holder, False


def acquire_import_lock(
    *,
    wait: float,
    using: str = DEFAULT_DB_ALIAS,
    on_wait: Callable[[str], None] = lambda message: None,
    stale_seconds: float = STALE_SECONDS,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> HeldLock:
    """Take the import lock, waiting up to `wait` seconds for another import (telling
    `on_wait` who holds it), else raise ImportRunning. Database errors are raised as they come
    (the caller retries the transient ones). Release the lock with `HeldLock.release()`."""
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    told = None
    while True:
        holder, taken_over = _try_take(token, using, stale_seconds)
        if holder is None or taken_over:
            break
        left = deadline - time.monotonic()
        running = f"another import is running {describe_holder(holder, timezone.now())}"
        if left <= 0:
            raise ImportRunning(f"{running}; waited {wait:g}s (--lock-wait)")
        if holder.token != told:
            on_wait(f"{running}: waiting up to {left:.0f}s for it to finish")
            told = holder.token
        time.sleep(min(POLL_SECONDS, left))
    replaced = None
    if taken_over:
        on_wait(
            f"took over the import lock of an import that stopped "
            f"{describe_holder(holder, timezone.now())}"
        )
        replaced = holder.heartbeat_at
    held = HeldLock(token, using, heartbeat_seconds, replaced)
    held._thread.start()
    return held


@contextlib.contextmanager
def import_lock(**options) -> Iterator[HeldLock]:
    """`acquire_import_lock(**options)` for the block."""
    held = acquire_import_lock(**options)
    try:
        yield held
    finally:
        held.release()


__all__ = ["HeldLock", "ImportLockLost", "ImportRunning", "acquire_import_lock", "import_lock"]
