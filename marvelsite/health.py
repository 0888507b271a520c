"""Is the database ready? The liveness (/healthz) and readiness (/readyz) probes, and the
bounded wait the Jobs use before migrating or seeding (the replica set may still be starting).

The probes are answered by a middleware placed first, so a kubelet probe is served whatever
its Host header (a pod IP, not in ALLOWED_HOSTS) and without the HTTPS redirect.
"""

import logging
import random
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.migrations.loader import MigrationLoader
from django.http import JsonResponse

from characters import store
from marvelsite.breaker import breaker_for
from marvelsite.db_errors import DATABASE_ERRORS, describe, is_selection_timeout
from marvelsite.routing import READS

logger = logging.getLogger(__name__)

_expected_migrations: set[tuple[str, str]] | None = None


def expected_migrations() -> set[tuple[str, str]]:
    """Every migration on disk, read once per process (the code does not change under it)."""
    global _expected_migrations
    if _expected_migrations is None:
        _expected_migrations = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    return _expected_migrations


def unapplied_migrations(connection) -> set[tuple[str, str]]:
    """Migrations on disk not yet applied; one query, raising DATABASE_ERRORS when down."""
    return expected_migrations() - store.for_alias(connection.alias).applied_migrations()


def readiness() -> tuple[bool, str]:
    """Whether the database answers the public pages (their alias, marvelsite/routing.py) and
    has every migration applied; with the reason if not. While that alias's circuit breaker is
    open the answer comes at once."""
    alias = READS if READS in settings.DATABASES else DEFAULT_DB_ALIAS
    breaker = breaker_for(alias)
    if breaker.refusal():
        return False, "database unreachable: failed moments ago (circuit breaker open)"
    try:
        missing = unapplied_migrations(connections[alias])
    except DATABASE_ERRORS as exc:
        breaker.record(failed=True, outage=is_selection_timeout(exc))
        return False, f"database unreachable: {describe(exc)}"
    breaker.record(failed=False)
    if missing:
        return False, f"{len(missing)} unapplied migration(s), e.g. {'.'.join(min(missing))}"
    return True, "ok"


class DatabaseNotReady(Exception):
    """The database did not answer, or not with every migration applied, in the time given."""


def wait_for_database(
    seconds: float,
    *,
    migrated: bool,
    on_retry: Callable[[int, float, str], None] = lambda attempt, pause, reason: None,
) -> None:
    """Return once the database answers (and, if `migrated`, has every migration applied).

    Retries with exponential backoff and jitter for up to `seconds`, telling `on_retry`
    (attempt, pause, reason) before each pause; then raises DatabaseNotReady with the reason.
    On MongoDB a missing collection reads as empty and accepts writes, but without the unique
    indexes the migrations create: seed only once migrated.
    """
    deadline = time.monotonic() + seconds
    delay, attempt = 0.5, 0
    while True:
        attempt += 1
        try:
            missing = unapplied_migrations(connection)
        except DATABASE_ERRORS as exc:
            reason = describe(exc)
            connection.close()  # reconnect from scratch next time
        else:
            if not (migrated and missing):
                return
            reason = f"migrations not applied yet: {'.'.join(min(missing))} (run manage.py migrate)"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DatabaseNotReady(
                f"the database is not ready after {seconds:g}s ({attempt} attempts): {reason}"
            )
        pause = min(delay * random.uniform(1.0, 1.5), remaining)  # jitter
        on_retry(attempt, pause, reason)
        time.sleep(pause)
        delay = min(delay * 2, 10.0)


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Says "ok" or "unavailable", nothing more: the probe is public, and the reason (hosts,
    ports, the replica set's state) is for the log."""
    ready, reason = readiness()
    if not ready:
        logger.warning("not ready: %s", reason)
    return JsonResponse({"status": "ok" if ready else "unavailable"}, status=200 if ready else 503)


PROBES = {"/healthz": healthz, "/readyz": readyz}


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
