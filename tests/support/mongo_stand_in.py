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
from mongomock_ng import aggregate, filtering
from mongomock_ng.filtering import filter_applies

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


def _insert_many_with_indexed_unique_checks(original):
    """Gap (speed only; added for seed_marvel's bulk imports): for every inserted document
    mongomock-ng checks each unique index by scanning the whole collection and evaluating the
    index's partialFilterExpression on every document (`Collection._ensure_uniques`), so a bulk
    insert is quadratic (minutes for the bundled data set's 11k comic links). During one
    insert_many, collect each unique index's existing keys in a set once, then check each new
    document against it; a possible duplicate (or an unhashable key) goes to the original scan,
    which raises DuplicateKeyError as before.
    """

    def insert_many(self, documents, *args, **kwargs):
        indexes = [i for i in self._store.indexes.values() if i.get("unique")]
        if not indexes:
            return original(self, documents, *args, **kwargs)
        entries = self._compute_index_entries

        def keys(doc, index):
            partial = index.get("partialFilterExpression")
            if partial is not None and not filter_applies(partial, doc):
                return ()
            return entries(doc, index["key"], index.get("sparse")) or ()

        try:
            seen = [{k for doc in self._store.documents for k in keys(doc, i)} for i in indexes]
        except TypeError:
            return original(self, documents, *args, **kwargs)
        scan = self._ensure_uniques

        def ensure_uniques(new_data):
            try:
                new = [keys(new_data, i) for i in indexes]
                if any(k in known for known, found in zip(seen, new, strict=True) for k in found):
                    return scan(new_data)
            except TypeError:
                return scan(new_data)
            for known, found in zip(seen, new, strict=True):
                known.update(found)

        self._ensure_uniques = ensure_uniques
        try:
            return original(self, documents, *args, **kwargs)
        finally:
            del self._ensure_uniques

    return insert_many


def _in_with_set_lookup(original):
    """Gap (speed only; added for seed_marvel): mongomock-ng's `$in` compares a document's
    value with every listed value in Python (`filtering._in_op`), so matching 6k comics
    against a page's 2k comic ids takes seconds. For a plain int/str value and a list of
    plain ints/strs, look it up in a set instead (same result); anything else goes to the
    original. One cached set, keyed by the (unchanging) list of the query being run.
    """
    cache: list = [None, frozenset()]

    def plain(value) -> bool:  # int (bson Int64 included) or str; bool is not a number here
        return isinstance(value, int | str) and not isinstance(value, bool)

    def in_op(doc_val, search_val):
        if plain(doc_val) and isinstance(search_val, list | tuple):
            if cache[0] is not search_val:
                if not all(plain(value) for value in search_val):
                    return original(doc_val, search_val)
                cache[:] = [search_val, frozenset(search_val)]
            return doc_val in cache[1]
        return original(doc_val, search_val)

    return in_op


def _aggregate_matching_first(original):
    """Gap (speed only; added for seed_marvel): `Collection.aggregate` copies every document
    of the collection (`list(self.find())`) before running the pipeline, so each query costs a
    full copy of the collection. When the pipeline starts with a `$match`, let `find()` apply
    that filter first (the same matcher, `filter_applies`) so only matching documents are
    copied; the rest of the pipeline runs as before.
    """

    def match_then_aggregate(self, pipeline, session=None, **kwargs):
        pipeline = list(pipeline)
        if kwargs or not pipeline or set(pipeline[0]) != {"$match"}:
            return original(self, pipeline, session=session, **kwargs)
        matched = list(self.find(pipeline[0]["$match"]))
        return aggregate.process_pipeline(matched, self.database, pipeline[1:], session)

    return match_then_aggregate


def _iter_documents_with_key_lookup(original):
    """Gap (speed only; added for seed_marvel): mongomock-ng has no indexes; every query runs
    its generic matcher (`filter_applies`) on every document, ~40 ms per query on the bundled
    data set's 11k comic links. For the shape seed_marvel's reads take, `{field: value}` or
    `{field: {"$in": [...]}}` with plain int/str values on a top-level field, compare each
    document's plain value directly; any other document or filter goes to the matcher.
    """

    def plain(value) -> bool:  # int (bson Int64 included) or str; bool is not a number here
        return isinstance(value, int | str) and not isinstance(value, bool)

    def iter_documents(self, filter):  # noqa: A002 - mongomock-ng's name
        if not isinstance(filter, dict) or len(filter) != 1:
            return original(self, filter)
        ((field, condition),) = filter.items()
        if field.startswith("$") or "." in field:
            return original(self, filter)
        if isinstance(condition, dict):
            values = condition.get("$in") if list(condition) == ["$in"] else None
            if not isinstance(values, list | tuple) or not all(plain(v) for v in values):
                return original(self, filter)
            wanted = frozenset(values)
        elif plain(condition):
            wanted = frozenset([condition])
        else:
            return original(self, filter)

        def matches(document) -> bool:
            value = document.get(field)
            if plain(value):
                return value in wanted
            return filter_applies(filter, document)

        return (document for document in list(self._store.documents) if matches(document))

    return iter_documents


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
        mock.patch.object(
            mongomock_ng.collection.Collection,
            "insert_many",
            _insert_many_with_indexed_unique_checks(mongomock_ng.collection.Collection.insert_many),
        ),
        mock.patch.object(
            mongomock_ng.collection.Collection,
            "_iter_documents",
            _iter_documents_with_key_lookup(mongomock_ng.collection.Collection._iter_documents),
        ),
        mock.patch.object(
            mongomock_ng.collection.Collection,
            "aggregate",
            _aggregate_matching_first(mongomock_ng.collection.Collection.aggregate),
        ),
        mock.patch.dict(
            filtering._filterer_inst._operator_map,
            {"$in": _in_with_set_lookup(filtering._in_op)},
        ),
    ]
    for patcher in patchers:
        patcher.start()
    return patchers
