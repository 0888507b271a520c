"""A circuit breaker per database alias: once the database is shown to be down, refuse at once
for a few seconds.

Without it, every page request during an outage waits out MongoDB's server selection on one of
gunicorn's few threads, and the probes queue behind them. It opens only on evidence of an
outage: a server-selection timeout (no member answered in time), or
MARVELSITE_DB_BREAKER_FAILURES failures in a row. One dropped connection is not evidence: when
a member dies, every read in flight on it fails at once, and each is retried on another member
before it is recorded (marvelsite/middleware.py). While open, requests for that alias are
answered 503 for MARVELSITE_DB_BREAKER_SECONDS without touching the database; then one request
at a time is let through as a trial. Any success closes the breaker; a failure while it is open
or half open opens it again. State is per process and per alias (an election that stops the
admin's writes does not stop public pages reading from a secondary).

Written here rather than taken from a library: pybreaker holds its lock for the whole guarded
call (it would serialise a worker's requests) and circuitbreaker lets every request through
once the timeout has passed (each of them then waits out server selection).
"""

import threading
import time

from django.conf import settings


class CircuitBreaker:
    def __init__(self):
        self._lock = threading.Lock()
        self._open_until = 0.0  # monotonic time; 0: closed
        self._trial_running = False
        self._failures_in_a_row = 0

    def refusal(self) -> float:
        """Seconds to tell the client to wait, or 0 to let this request reach the database.

        A request let through while the breaker is half open is the trial: it must be followed
        by `record()`, like every request let through.
        """
        seconds = settings.DB_BREAKER_SECONDS
        with self._lock:
            if not seconds or not self._open_until:
                return 0.0
            remaining = self._open_until - time.monotonic()
            if remaining > 0:
                return remaining
            if self._trial_running:
                return 1.0  # another request is finding out right now
            self._trial_running = True
            return 0.0

    def record(self, *, failed: bool, outage: bool = False) -> None:
        """The outcome of a request let through. `outage`: the failure itself proves the
        database unreachable (server selection timed out), so the breaker opens at once."""
        seconds = settings.DB_BREAKER_SECONDS
        with self._lock:
            if not failed:
                # The database answered: whatever failed before, it works now.
                self._open_until, self._trial_running, self._failures_in_a_row = 0.0, False, 0
                return
            self._failures_in_a_row += 1
            proven = outage or self._failures_in_a_row >= settings.DB_BREAKER_FAILURES
            if seconds and (proven or self._open_until):
                self._open_until = time.monotonic() + seconds
                self._trial_running = False

    @property
    def is_open(self) -> bool:
        return bool(self._open_until)


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(alias: str) -> CircuitBreaker:
    with _breakers_lock:
        return _breakers.setdefault(alias, CircuitBreaker())


def reset_all() -> None:
    """Close every breaker (tests)."""
    with _breakers_lock:
        _breakers.clear()
