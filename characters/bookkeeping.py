"""The site's own bookkeeping, beside the catalogue: the catalogue's version (what caches are
kept by), the import lock and the import's history. Models of the characters app, imported by
characters/models.py."""

import contextlib
import threading
import uuid

from django.db import models
from django.dispatch import Signal

from characters import store

# Sent after CatalogueVersion.bump(): this process forgets the version it keeps in memory.
catalogue_version_bumped = Signal()


class CatalogueVersion(models.Model):
    """One row whose token changes whenever the catalogue does: every ORM write to characters,
    comics or their links (signals, in any process: the admin's included) and every import
    page that writes. Pages cache and tag themselves (ETag) with it, on every worker and pod,
    and lists keep their counts by it (characters/page_cache.py, which reads it).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    token = models.CharField(max_length=32, default="")

    class Meta:
        indexes = [store.lookup_index("catalogue_version")]

    def __str__(self):
        return self.token

    @classmethod
    def bump(cls, using: str | None = None) -> None:
        if getattr(_bumps, "pending", None) is not None:
            _bumps.pending = True  # made once, at the end of bumped_once()
            return
        token = uuid.uuid4().hex  # any new value will do: concurrent bumps need no ordering
        versions = cls.objects.db_manager(using)
        if not versions.filter(id=1).update(token=token):
            versions.update_or_create(id=1, defaults={"token": token})
        catalogue_version_bumped.send(sender=cls, using=versions.db)

    @classmethod
    @contextlib.contextmanager
    def bumped_once(cls, using: str | None = None):
        """The bumps of this thread's writes in the block, made once as its last write: inside
        a MongoDB transaction this one row is written by every save, and two transactions
        writing it at once conflict, so it is held for the shortest time."""
        if getattr(_bumps, "pending", None) is not None:
            yield  # an outer block bumps
            return
        _bumps.pending = False
        try:
            yield
            pending, _bumps.pending = _bumps.pending, None
            if pending:
                cls.bump(using)
        finally:
            _bumps.pending = None


_bumps = threading.local()


def _new_run_id() -> str:
    return uuid.uuid4().hex


class ImportLock(models.Model):
    """The import running now (one row while seed_marvel writes; characters/ingest/lock.py).

    Created with a fixed id, so a second import's insert is refused by the primary key's unique
    index on both backends; `heartbeat_at` shows it is alive, so a killed one blocks nobody
    for long.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    token = models.CharField(max_length=32)  # this holding of the lock (pids get reused)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()

    class Meta:
        indexes = [store.lookup_index("import_lock")]

    def __str__(self):
        return f"{self.host} pid {self.pid}"


class ImportRun(models.Model):
    """One seed_marvel run, as the admin shows it (characters/ingest/history.py records it).

    ``lock_token`` is the import lock it held: while that lock row exists the run is alive,
    and its heartbeat says how recently.
    """

    RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
    OUTCOMES = [(RUNNING, "running"), (SUCCEEDED, "succeeded"), (FAILED, "failed")]

    id = models.CharField(primary_key=True, max_length=32, default=_new_run_id, editable=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=OUTCOMES, default=RUNNING)
    source = models.CharField(max_length=500)
    options = models.JSONField(default=dict)  # the run's options, keys left out
    counters = models.JSONField(default=dict)  # the keys of seed_marvel --json
    local_edits_kept = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    lock_token = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        indexes = [
            store.lookup_index("import_run"),
            models.Index(fields=["-started_at"], name="import_run_started"),
        ]

    def __str__(self):
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} UTC, {self.outcome}"
