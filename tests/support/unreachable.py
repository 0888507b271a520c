"""A database that cannot be reached, for the error pages, counts and the circuit breaker."""

from contextlib import contextmanager

from django.db import OperationalError, connections
from pymongo.errors import ServerSelectionTimeoutError

_MISSING = object()


class Unreachable:
    """A MongoDB database handle whose server is gone."""

    def __getattr__(self, name):
        raise ServerSelectionTimeoutError("db.invalid:27017: timed out (password=hunter2)")

    def __getitem__(self, name):
        return self.__getattr__(name)


@contextmanager
def database_unreachable(on_mongodb):
    """Every query fails as when the database server is gone; restored on exit."""
    real = connections["default"]
    if on_mongodb:
        name, broken = "database", Unreachable()
    else:

        def broken():
            raise OperationalError("unable to open database file (password=hunter2)")

        name = "ensure_connection"
    saved = real.__dict__.get(name, _MISSING)
    if on_mongodb:
        real.database  # noqa: B018 - connect first, so the saved handle is the real one
        saved = real.__dict__["database"]
    real.__dict__[name] = broken
    try:
        yield
    finally:
        if saved is _MISSING:
            del real.__dict__[name]
        else:
            real.__dict__[name] = saved
