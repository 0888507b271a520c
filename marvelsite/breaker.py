"""A circuit breaker per database alias: after a failure, refuse at once for a few seconds.

Without it, every page request during an outage waits out MongoDB's server selection on one of
gunicorn's few threads, and the probes queue behind them. With it, one failed request opens the
breaker for MARVELSITE_DB_BREAKER_SECONDS; until then requests for that alias are answered 503
without touching the database. Then one request at a time is let through as a trial: success
closes the breaker, failure opens it again. State is per process (each worker learns of an
outage from its own first failure) and per alias (an election that stops the admin's writes
does not stop public pages reading from a secondary).

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

    def record(self, *, failed: bool) -> None:
        """The outcome of a request let through: a database failure opens the breaker."""
        seconds = settings.DB_BREAKER_SECONDS
        with self._lock:
            if failed and seconds:
                self._open_until = time.monotonic() + seconds
                self._trial_running = False
            elif not failed and self._open_until and self._trial_running:
                self._open_until, self._trial_running = 0.0, False

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
