"""The in-process MongoDB stand-in: mongomock-ng patched into django-mongodb-backend.

No mongod can run on the build machines, so `MARVELSITE_TEST_MONGO=stand-in` runs the suite on
the MongoDB code path (django-mongodb-backend's compiler, pymongo-shaped calls) against
mongomock-ng. Each shim below works around one named stand-in gap, not a product bug; with
MONGODB_URI pointing at a real server none of this is installed.
"""

from unittest import mock

import mongomock_ng
from django_mongodb_backend.base import DatabaseWrapper
from django_mongodb_backend.utils import OperationDebugWrapper
from mongomock_ng import aggregate

# One client for the whole run: django-mongodb-backend keeps one pool per alias, and tests
# that open their own pymongo-style client must see the same data.
CLIENT = mongomock_ng.MongoClient()


def _get_field_with_computed_input(original):
    """Gap: `$getField` whose `input` is an expression ({"$arrayElemAt": ...}) returns None.

    mongomock-ng evaluates `input` only when it is a string, so the backend's count()
    pipeline reads a field of an unevaluated dict and counts 0. Evaluate it first.
    """

    def handle(self, operator, values):
        if operator == "$getField" and isinstance(values, dict):
            given = values.get("input")
            if isinstance(given, dict | list):
                values = {**values, "input": self.parse(given)}
        return original(self, operator, values)

    return handle


def _get_collection(self, name, **kwargs):
    """Gap: the backend builds `pymongo.collection.Collection(database, name)` itself, which
    rejects a mongomock-ng database; ask the database for its collection instead."""
    collection = self.database.get_collection(name, **kwargs)
    if self.queries_logged:
        collection = OperationDebugWrapper(self, collection)
    return collection


def install() -> list:
    """Patch the stand-in in; returns the patchers so a caller can stop them."""
    patchers = [
        mock.patch("django_mongodb_backend.base.MongoClient", return_value=CLIENT),
        mock.patch.object(DatabaseWrapper, "get_collection", _get_collection),
        mock.patch.object(
            aggregate._Parser,
            "_handle_field_operator",
            _get_field_with_computed_input(aggregate._Parser._handle_field_operator),
        ),
    ]
    for patcher in patchers:
        patcher.start()
    return patchers
