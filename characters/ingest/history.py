"""The import's history: each seed_marvel run that writes leaves an :class:`ImportRun` row.

History never stops an import: a database error while recording is left unrecorded (the row
stays "running", and the admin shows its lock is gone). Rows older than
``settings.IMPORT_HISTORY_DAYS`` are pruned by each run as it ends.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from characters.ingest.stats import ImportStats
from characters.models import ImportLock, ImportRun
from marvelsite.db_errors import DATABASE_ERRORS
from marvelsite.redaction import mask_secrets

SECRET_OPTIONS = ("public_key", "private_key")


def shown_options(options) -> dict:
    """The run's options as JSON, without its keys."""
    shown = {}
    for name, value in asdict(options).items():
        if name in SECRET_OPTIONS:
            continue
        shown[name] = mask_secrets(str(value)) if isinstance(value, str | Path) else value
    return shown


class Recorder:
    """The row of one run: made when it starts writing, completed when it ends."""

    def __init__(self) -> None:
        self.run: ImportRun | None = None

    def start(self, options, source_label: str) -> None:
        with contextlib.suppress(*DATABASE_ERRORS):
            self.run = ImportRun.objects.create(
                started_at=timezone.now(),
                source=mask_secrets(source_label)[:500],
                options=shown_options(options),
                host=socket.gethostname(),
                pid=os.getpid(),
            )

    def locked(self, token: str) -> None:
        if self.run is not None:
            with contextlib.suppress(*DATABASE_ERRORS):
                ImportRun.objects.filter(pk=self.run.pk).update(lock_token=token)

    def finish(self, stats: ImportStats | None, error: str = "") -> None:
        if self.run is None:
            return
        stats = stats or ImportStats(errors=1)
        with contextlib.suppress(*DATABASE_ERRORS):
            ImportRun.objects.filter(pk=self.run.pk).update(
                finished_at=timezone.now(),
                outcome=ImportRun.FAILED if error else ImportRun.SUCCEEDED,
                counters=stats.as_dict(),
                local_edits_kept=stats.local_edits_kept,
                errors=stats.errors,
                error=mask_secrets(error)[:5000],
            )
            prune()


def prune() -> int:
    """Delete the runs that started more than IMPORT_HISTORY_DAYS ago; how many."""
    cutoff = timezone.now() - timedelta(days=settings.IMPORT_HISTORY_DAYS)
    return ImportRun.objects.filter(started_at__lt=cutoff).delete()[0]


def heartbeat_age(run: ImportRun) -> timedelta | None:
    """How long ago a running run's import lock last beat; None once it holds no lock."""
    if run.outcome != ImportRun.RUNNING or not run.lock_token:
        return None
    lock = ImportLock.objects.filter(id=1, token=run.lock_token).first()
    return None if lock is None else timezone.now() - lock.heartbeat_at
