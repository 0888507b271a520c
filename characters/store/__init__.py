"""The one door to backend specifics: every read, write or check that depends on which database
an alias is (docs/development.md, "Backend seam").

`for_alias(using)` (or `of(queryset)`) gives the alias's store, chosen once by the connection's
vendor: `sql.SQLStore` (SQLite) or `mongo.MongoStore`; both implement `base.Store`. `errors`
names the driver's errors for code that catches them; `gridfs` is the uploads' Storage.
Outside this package no code imports pymongo, bson or django_mongodb_backend (ruff TID251).

mongo.py carries workarounds for bugs of UPSTREAM (and `lookup_index` below); each has a test in
tests/database/test_upstream_workarounds.py that fails once upstream fixes it, naming what to
delete then.
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connections, models

from characters.store.base import Store

UPSTREAM = "django-mongodb-backend 5.2.4"

_stores: dict[str, Store] = {}


def for_alias(using: str) -> Store:
    """The store of the database alias `using`."""
    store = _stores.get(using)
    if store is None:
        vendor = connections[using].vendor
        if vendor == "mongodb":
            from characters.store.mongo import MongoStore as implementation
        elif vendor == "sqlite":
            from characters.store.sql import SQLStore as implementation
        else:
            raise ImproperlyConfigured(f"no store for the {vendor} backend ({using!r})")
        store = _stores[using] = implementation(using)
    return store


def of(rows) -> Store:
    """The store of the alias a queryset reads from."""
    return for_alias(rows.db)


def _forget(setting, **kwargs) -> None:
    if setting == "DATABASES":
        _stores.clear()


setting_changed.connect(_forget, dispatch_uid="store-forget")


def lookup_index(table: str) -> models.Index:
    """A plain index on the primary key, for MongoDB's planner.

    UPSTREAM creates the primary key's unique index as a *partial* index
    ({id: {$type: "long"}}), which an equality match or a $lookup on `id` cannot use: without
    this one every primary-key lookup and every join to this collection is a COLLSCAN. On
    SQLite it duplicates the primary key's own index, a small cost for one migrations set.
    """
    return models.Index(fields=["id"], name=f"{table}_id_lookup")
