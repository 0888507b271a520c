"""Which database alias a request reads from: public pages survive a MongoDB election.

On MongoDB, settings define a second alias, "reads": the same database through a client whose
read preference is primaryPreferred, so while the replica set elects a new primary the public
pages keep reading from a secondary. The admin, every write and anything that is not a GET or
HEAD stay on "default" (primary). The choice is made per request by the middleware
(marvelsite.middleware) through a context variable, so views and models need not know.
Without the alias (SQLite, or the test settings) everything uses "default".
"""

import contextlib
import contextvars
import functools

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS
from django.urls import get_script_prefix, reverse

READS = "reads"

_reading_publicly = contextvars.ContextVar("reading_publicly", default=False)


@functools.cache
def admin_path_info() -> str:
    """Where the admin's paths start after the script prefix (request.path_info): reversed
    once per URLconf, as reverse() costs a cached page's hit more than its middleware."""
    return "/" + reverse("admin:index").removeprefix(get_script_prefix())


def _forget_admin_path(setting, **kwargs) -> None:
    if setting == "ROOT_URLCONF":
        admin_path_info.cache_clear()


setting_changed.connect(_forget_admin_path, dispatch_uid="routing-forget-admin-path")


def is_public_read(request) -> bool:
    """A GET or HEAD of anything but the admin."""
    return request.method in ("GET", "HEAD") and not request.path_info.startswith(admin_path_info())


def alias_for(request) -> str:
    """The alias this request reads from."""
    if READS in settings.DATABASES and is_public_read(request):
        return READS
    return DEFAULT_DB_ALIAS


@contextlib.contextmanager
def reading_from(alias: str):
    """Route this thread's reads to `alias` inside the block."""
    token = _reading_publicly.set(alias == READS)
    try:
        yield
    finally:
        _reading_publicly.reset(token)


class PublicReadsRouter:
    """Reads go to "reads" inside a public request, else to "default"; writes to "default"."""

    def db_for_read(self, model, **hints):
        # Explicit either way: Django would otherwise follow the instance's own alias.
        return READS if _reading_publicly.get() else DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # both aliases are the same database

    def allow_migrate(self, db, app_label, **hints):
        return False if db == READS else None
